//! Named retry policies: one per kind of retry, used everywhere that kind happens, each with
//! a message that says what was waited for when it gives up.
//!
//! These cover berth's own optimistic-concurrency loops (conditional writes that lost a race, and
//! S3's 409 ConditionalRequestConflict, which the SDK does not retry).
//! The AWS SDK retries throttling and 5xx itself; a Lambda never sleeps waiting for AWS to
//! finish work (continuation tokens and re-invocation do that).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// What is being retried, for the give-up message.
    pub what: &'static str,
    pub attempts: u32,
    pub min_delay: Duration,
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
    /// Delay before attempt `n` (1-based; attempt 1 has none): doubling from `min_delay`,
    /// capped at `max_delay`.
    pub fn delay_before(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let factor = 1u32 << (attempt - 2).min(16);
        self.min_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The message when every attempt was used.
    pub fn gave_up(&self) -> String {
        format!("gave up {} after {} attempts", self.what, self.attempts)
    }

    /// Runs `attempt` until it returns `Some`, at most `attempts` times, sleeping between.
    pub async fn run<T, F, Fut>(&self, mut attempt: F) -> Option<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        for n in 1..=self.attempts {
            let delay = self.delay_before(n);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some(done) = attempt(n).await {
                return Some(done);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_are_capped() {
        let p = RECORD_UPDATE;
        assert_eq!(p.delay_before(1), Duration::ZERO);
        assert_eq!(p.delay_before(2), Duration::from_millis(25));
        assert_eq!(p.delay_before(3), Duration::from_millis(50));
        assert_eq!(p.delay_before(5), Duration::from_millis(200));
        assert_eq!(p.delay_before(40), Duration::from_millis(400));
        assert!(p.gave_up().contains("after 5 attempts"));
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
