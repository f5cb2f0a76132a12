//! The lost-push sweep's rotation (pure core). One sweep run reads at most [`PAGES_PER_RUN`]
//! pages of the registry, continuing where the previous run stopped (SSM's `NextToken`, kept in
//! the release bucket at [`CURSOR_KEY`]), and looks at the recent pushes of those entries'
//! trigger repositories only. A pass over the whole registry, a *cycle*, then takes several
//! runs, and a service is looked at once per cycle, so the window of pushes a run considers
//! must reach back to the service's previous visit: [`Cursor::window_start_ms`].
//!
//! What that window is: every entry read in this run was read in the previous cycle, so no
//! earlier than that cycle's start. A page boundary that shifts while a cycle is under way
//! (entries added or removed) can skip an entry once, so the window reaches back to the start
//! of the cycle before that, plus [`MARGIN_MS`]; never less than the configured lookback, never
//! more than [`MAX_LOOKBACK_MS`]. Measured starts, not the schedule's rate times the number of
//! runs: the function does not know its schedule, and a run that failed or was delayed moves
//! the real visits, which the measured starts follow.

use serde::{Deserialize, Serialize};

/// Where the sweep keeps its [`Cursor`] in the release bucket.
pub const CURSOR_KEY: &str = "sweep/cursor.json";

/// Registry pages one run reads. `GetParametersByPath` answers at most 10 entries a page
/// ("MaxResults ... Valid Range: Minimum value of 1. Maximum value of 10."), so a run looks at
/// up to 100 services.
pub const PAGES_PER_RUN: usize = 10;

/// Entries in one registry page at most.
pub const ENTRIES_PER_PAGE: u64 = 10;

/// Added to the window: the time a run takes between its start and its reads, and clock skew
/// between the function and ECR's `imagePushedAt`.
pub const MARGIN_MS: u64 = 2 * 60 * 1000;

/// The window never reaches back further than the largest configurable lookback (7 days): a
/// sweep that was off for a week does not release week-old pushes when it comes back.
pub const MAX_LOOKBACK_MS: u64 = 10_080 * 60 * 1000;

/// Where the sweep is in its rotation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// SSM's `NextToken` for the page the next run reads; none: the next run starts a cycle.
    #[serde(default)]
    pub next_token: Option<String>,
    /// When the current cycle started (epoch ms); none before the first run.
    #[serde(default)]
    pub cycle_started_ms: Option<u64>,
    /// When the (at most two) cycles before it started, newest first.
    #[serde(default)]
    pub earlier_cycles_ms: Vec<u64>,
    /// Pages, entries and runs of the current cycle so far.
    #[serde(default)]
    pub pages: u64,
    #[serde(default)]
    pub entries: u64,
    #[serde(default)]
    pub runs: u64,
    /// The last complete cycle, for operators (logged with every run).
    #[serde(default)]
    pub last_cycle: Option<Cycle>,
}

/// One complete pass over the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    pub pages: u64,
    pub entries: u64,
    pub runs: u64,
    pub duration_ms: u64,
}

impl Cursor {
    /// Called when a run starts: a cursor without a token starts a new cycle now.
    pub fn start(&mut self, now_ms: u64) {
        if self.next_token.is_some() {
            return;
        }
        if let Some(started) = self.cycle_started_ms.take() {
            self.earlier_cycles_ms.insert(0, started);
            self.earlier_cycles_ms.truncate(2);
        }
        self.cycle_started_ms = Some(now_ms);
        (self.pages, self.entries, self.runs) = (0, 0, 0);
    }

    /// SSM refused the saved token (expired or invalid): a new cycle starts from the first page.
    pub fn restart(&mut self, now_ms: u64) {
        self.next_token = None;
        self.start(now_ms);
    }

    /// Called when a run has read `pages` pages holding `entries` entries; `next_token` is SSM's
    /// token after the last of them (none: the cycle is complete).
    pub fn advance(&mut self, next_token: Option<String>, pages: u64, entries: u64, now_ms: u64) {
        self.pages += pages;
        self.entries += entries;
        self.runs += 1;
        self.next_token = next_token;
        if self.next_token.is_none() {
            self.last_cycle = Some(Cycle {
                pages: self.pages,
                entries: self.entries,
                runs: self.runs,
                duration_ms: now_ms.saturating_sub(self.cycle_started_ms.unwrap_or(now_ms)),
            });
        }
    }

    /// The oldest push (epoch ms) this run considers: see the module documentation.
    pub fn window_start_ms(&self, now_ms: u64, configured_ms: u64) -> u64 {
        let configured = now_ms.saturating_sub(configured_ms);
        let floor = now_ms.saturating_sub(MAX_LOOKBACK_MS.max(configured_ms));
        match self.earlier_cycles_ms.last() {
            Some(oldest) => configured.min(oldest.saturating_sub(MARGIN_MS)).max(floor),
            None => configured,
        }
    }
}

/// Runs in one cycle over `entries` registry entries at `pages_per_run` pages a run.
pub fn runs_per_cycle(entries: u64, pages_per_run: u64) -> u64 {
    let pages = entries.div_ceil(ENTRIES_PER_PAGE).max(1);
    pages.div_ceil(pages_per_run.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60 * 1000;

    #[test]
    fn a_cycle_takes_the_runs_its_pages_need() {
        // (entries, pages per run, runs per cycle)
        let cases = [
            (0, 10, 1),
            (1, 10, 1),
            (100, 10, 1),
            (101, 10, 2),
            (1_000, 10, 10),
            (1_000, 5, 20),
            (10_000, 10, 100),
        ];
        for (entries, per_run, runs) in cases {
            assert_eq!(
                runs_per_cycle(entries, per_run),
                runs,
                "{entries}/{per_run}"
            );
        }
    }

    #[test]
    fn the_cursor_counts_a_cycle_over_several_runs() {
        let mut c = Cursor::default();
        c.start(0);
        assert_eq!(
            (c.cycle_started_ms, c.earlier_cycles_ms.len()),
            (Some(0), 0)
        );
        c.advance(Some("t1".into()), 10, 100, MIN);
        c.start(5 * MIN);
        assert_eq!(c.cycle_started_ms, Some(0), "a token continues the cycle");
        c.advance(None, 3, 25, 5 * MIN + 1);
        let done = Cycle {
            pages: 13,
            entries: 125,
            runs: 2,
            duration_ms: 5 * MIN + 1,
        };
        assert_eq!(c.last_cycle, Some(done));
        c.start(10 * MIN);
        assert_eq!(c.cycle_started_ms, Some(10 * MIN));
        assert_eq!(c.earlier_cycles_ms, [0]);
        assert_eq!((c.pages, c.entries, c.runs), (0, 0, 0));
        c.advance(None, 13, 125, 10 * MIN);
        c.start(15 * MIN);
        c.advance(None, 13, 125, 15 * MIN);
        c.start(20 * MIN);
        assert_eq!(c.earlier_cycles_ms, [15 * MIN, 10 * MIN], "two kept");
        assert_eq!(c.last_cycle.map(|l| l.duration_ms), Some(0));
    }

    #[test]
    fn a_refused_token_restarts_the_cycle() {
        let mut c = Cursor::default();
        c.start(0);
        c.advance(Some("stale".into()), 10, 100, 0);
        c.restart(5 * MIN);
        assert_eq!(c.next_token, None);
        assert_eq!(c.cycle_started_ms, Some(5 * MIN));
        assert_eq!(c.earlier_cycles_ms, [0]);
    }

    #[test]
    fn the_window_reaches_back_to_the_cycle_before_the_previous_one() {
        let hour = 60 * MIN;
        let now = 1_000 * hour;
        let with = |earlier: &[u64]| Cursor {
            earlier_cycles_ms: earlier.to_vec(),
            ..Cursor::default()
        };
        // (earlier cycle starts, configured lookback, window start)
        let cases: [(&[u64], u64, u64); 6] = [
            // No cycle before: the configured window.
            (&[], hour, now - hour),
            // Short cycles: the configured window is longer.
            (&[now - 10 * MIN, now - 20 * MIN], hour, now - hour),
            // 1,000 services at 10 pages a run, a run every 5 minutes: 50-minute cycles.
            (
                &[now - 50 * MIN, now - 100 * MIN],
                hour,
                now - 100 * MIN - MARGIN_MS,
            ),
            // Only one cycle before: back to its start.
            (&[now - 50 * MIN], 10 * MIN, now - 50 * MIN - MARGIN_MS),
            // A sweep that was off for weeks: capped at 7 days.
            (&[now - 900 * hour], hour, now - MAX_LOOKBACK_MS),
            // A configured lookback of 7 days stays 7 days.
            (&[now - 10 * MIN], MAX_LOOKBACK_MS, now - MAX_LOOKBACK_MS),
        ];
        for (earlier, configured, start) in cases {
            assert_eq!(
                with(earlier).window_start_ms(now, configured),
                start,
                "{earlier:?} {configured}"
            );
        }
        assert_eq!(with(&[]).window_start_ms(5, hour), 0, "no underflow");
    }

    #[test]
    fn the_cursor_reads_back_what_older_versions_left_out() {
        let c: Cursor = serde_json::from_str(r#"{"next_token":"t"}"#).unwrap();
        assert_eq!(c.next_token.as_deref(), Some("t"));
        assert_eq!(c.cycle_started_ms, None);
        let round: Cursor = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(round, c);
    }
}
