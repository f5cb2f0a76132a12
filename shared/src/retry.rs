//! Named retry policies: one per kind of retry, used everywhere that kind happens, each with
//! a message that says what was waited for when it gives up.
//!
//! These cover berth's own optimistic-concurrency loops (conditional writes that lost a race, and
//! S3's 409 ConditionalRequestConflict, which the SDK does not retry).
//! The AWS SDK retries throttling and 5xx itself; a Lambda never sleeps waiting for AWS to
//! finish work (continuation tokens and re-invocation do that).
//!
//! The pauses between attempts are capped exponential backoff with full jitter, as the AWS
//! Architecture Blog's "Exponential Backoff And Jitter" gives it:
//! `sleep = random_between(0, min(cap, base * 2 ** attempt))`. Writers that lost the same race
//! at the same moment would, with the same fixed pauses, meet again at every attempt; drawn at
//! random, their next attempts fall apart. The delay is a pure function of the attempt and a
//! random draw ([`Policy::delay_before`]); [`Jitter`] makes the draws.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// What is being retried, for the give-up message.
    pub what: &'static str,
    pub attempts: u32,
    /// The blog's `base`: the ceiling of the first pause, doubling at each attempt after.
    pub min_delay: Duration,
    /// The blog's `cap`: no pause is longer.
    pub max_delay: Duration,
}

/// Read-modify-write of a release record with `If-Match`: another function updating the same
/// record at the same moment makes the write fail, and reading it again resolves it.
pub const RECORD_UPDATE: Policy = Policy {
    what: "updating the release record (it kept changing under this invocation)",
    attempts: 5,
    min_delay: Duration::from_millis(25),
    max_delay: Duration::from_millis(400),
};

/// A conditional PutObject that S3 answered `409 ConditionalRequestConflict`: a concurrent
/// operation on the key won the moment, nothing was written and the condition was not decided,
/// so the same conditional write is sent again ("On a 409 failure you should retry the upload",
/// PutObject API reference).
pub const CONDITIONAL_CONFLICT: Policy = Policy {
    what: "writing the object (S3 kept answering 409 ConditionalRequestConflict)",
    attempts: 4,
    min_delay: Duration::from_millis(25),
    max_delay: Duration::from_millis(400),
};

impl Policy {
    /// The longest pause before attempt `n` (1-based; attempt 1 has none): doubling from
    /// `min_delay`, capped at `max_delay` — the blog's `min(cap, base * 2 ** attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (attempt - 2).min(16);
        self.min_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The pause before attempt `n` for the random draw `draw` (uniform over `u64`): uniform
    /// between zero and [`Policy::ceiling`], whole microseconds (full jitter).
    pub fn delay_before(&self, attempt: u32, draw: u64) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(draw % ceiling.saturating_add(1))
    }

    /// Sleeps before attempt `n` (not before the first).
    pub async fn pause_before(&self, attempt: u32, jitter: &mut Jitter) {
        let delay = self.delay_before(attempt, jitter.draw());
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// The message when every attempt was used.
    pub fn gave_up(&self) -> String {
        format!("gave up {} after {} attempts", self.what, self.attempts)
    }

    /// Runs `attempt` until it returns `Some`, at most `attempts` times, pausing between.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Option<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let mut jitter = Jitter::new();
        for n in 1..=self.attempts {
            self.pause_before(n, &mut jitter).await;
            if let Some(done) = attempt(n).await {
                return Some(done);
            }
        }
        None
    }
}

/// The random draws of one retry loop. Seeded from the process's random state (fastrand's,
/// from the OS through std's `RandomState`), so two functions racing for the same object draw
/// different pauses.
#[derive(Debug, Clone)]
pub struct Jitter(fastrand::Rng);

impl Jitter {
    pub fn new() -> Self {
        Self(fastrand::Rng::new())
    }

    /// Draws from a fixed seed: the same pauses every time (tests).
    pub fn with_seed(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed))
    }

    /// A draw, uniform over `u64`.
    pub fn draw(&mut self) -> u64 {
        self.0.u64(..)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_the_base_and_stop_at_the_cap() {
        let p = RECORD_UPDATE;
        assert_eq!(p.ceiling(1), Duration::ZERO);
        assert_eq!(p.ceiling(2), Duration::from_millis(25));
        assert_eq!(p.ceiling(3), Duration::from_millis(50));
        assert_eq!(p.ceiling(5), Duration::from_millis(200));
        assert_eq!(p.ceiling(40), Duration::from_millis(400));
        assert!(p.gave_up().contains("after 5 attempts"));
    }

    /// Full jitter: "sleep = random_between(0, min(cap, base * 2 ** attempt))" (AWS Architecture
    /// Blog, "Exponential Backoff And Jitter").
    #[test]
    fn a_pause_is_anywhere_from_zero_to_its_ceiling() {
        let p = RECORD_UPDATE;
        for attempt in 2..=p.attempts {
            let ceiling = p.ceiling(attempt);
            assert_eq!(p.delay_before(attempt, 0), Duration::ZERO);
            assert_eq!(p.delay_before(attempt, ceiling.as_micros() as u64), ceiling);
            assert_eq!(
                p.delay_before(attempt, ceiling.as_micros() as u64 + 1),
                Duration::ZERO
            );
            let mut jitter = Jitter::with_seed(7);
            let pauses: Vec<Duration> = (0..1000)
                .map(|_| p.delay_before(attempt, jitter.draw()))
                .collect();
            assert!(pauses.iter().all(|d| *d <= ceiling), "attempt {attempt}");
            let low = pauses.iter().filter(|d| **d < ceiling / 2).count();
            assert!(
                (350..=650).contains(&low),
                "attempt {attempt}: {low} of 1000 in the lower half"
            );
        }
        assert_eq!(
            p.delay_before(1, u64::MAX),
            Duration::ZERO,
            "none before the first"
        );
    }

    /// Two writers that lost the same race at the same moment: with fixed pauses they would
    /// retry together at every attempt; their draws differ, so their pauses do.
    #[test]
    fn two_writers_pause_differently() {
        let pauses = |mut jitter: Jitter| -> Vec<Duration> {
            (2..=RECORD_UPDATE.attempts)
                .map(|n| RECORD_UPDATE.delay_before(n, jitter.draw()))
                .collect()
        };
        assert_ne!(pauses(Jitter::new()), pauses(Jitter::new()));
        assert_eq!(pauses(Jitter::with_seed(3)), pauses(Jitter::with_seed(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn run_stops_at_the_first_success_or_after_the_last_attempt() {
        let mut calls = 0;
        let got = RECORD_UPDATE
            .run(|n| {
                calls += 1;
                async move { (n == 3).then_some(n) }
            })
            .await;
        assert_eq!((got, calls), (Some(3), 3));
        let mut calls = 0;
        let none: Option<()> = RECORD_UPDATE
            .run(|_| {
                calls += 1;
                async { None }
            })
            .await;
        assert_eq!((none, calls), (None, 5));
    }
}
