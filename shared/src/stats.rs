//! The four DORA keys of a service from its release history (pure): deployment frequency, lead
//! time for changes, change failure rate and time to restore, over a window of days.
//!
//! Definitions (what the records can tell):
//! - a **deployment** is a release whose own execution SUCCEEDED, finished in the window;
//! - its **lead time** runs from its manifest (the release record's creation; for a push, seconds
//!   after the push) to the end of that execution;
//! - a **failed change** is a release whose own execution ended FAILED or STOPPED in the window,
//!   or a deployment that a rollback execution (a redeploy of an earlier release) moved away from
//!   before the next deployment; the **change failure rate** is failed changes over deployments
//!   plus failed executions;
//! - **time to restore** a failed change runs from its failure (the end of the failed execution,
//!   or the start of the rollback) to the end of the service's next successful execution (a
//!   release or a rollback).
//!
//! Beside the keys, the migrations of the releases whose own execution finished in the window:
//! the median seconds of the migrations and of the post migrations (contract steps) that
//! succeeded, and how many post migrations failed (their releases' code live, the contract step
//! not run).

use serde::Serialize;

use crate::record::{MigrationRecord, ReleaseRecord, ReleaseStatus, parse_timestamp};

/// The keys, with the counts behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keys {
    pub days: u32,
    pub from: i64,
    pub to: i64,
    pub deployments: usize,
    pub deployments_per_day: f64,
    pub lead_time_median_seconds: Option<i64>,
    /// Failed executions plus rolled-back deployments.
    pub failed_changes: usize,
    pub failed_executions: usize,
    pub rolled_back: usize,
    pub change_failure_rate: Option<f64>,
    pub restored: usize,
    pub time_to_restore_median_seconds: Option<i64>,
    /// Migrations (before the deployment) that succeeded, and their median seconds.
    pub migrations: usize,
    pub migration_median_seconds: Option<i64>,
    /// Post migrations (after the deployment) that succeeded, their median seconds, and those
    /// that failed.
    pub post_migrations: usize,
    pub post_migration_median_seconds: Option<i64>,
    pub post_migrations_failed: usize,
}

/// Of the releases finished in the window: the seconds of their migrations and of their post
/// migrations that succeeded, and how many post migrations failed.
fn migrations<'a>(
    finished: impl Iterator<Item = &'a ReleaseRecord> + Clone,
) -> (Vec<i64>, Vec<i64>, usize) {
    let pre = succeeded_seconds(finished.clone(), |r| r.migration.as_ref());
    let post = succeeded_seconds(finished.clone(), |r| r.post_migration.as_ref());
    let failed = finished
        .filter(|r| crate::migration::post::failed(r))
        .count();
    (pre, post, failed)
}

/// The seconds of each migration that succeeded, of `pick`'s section of the records.
fn succeeded_seconds<'a>(
    records: impl Iterator<Item = &'a ReleaseRecord>,
    pick: fn(&ReleaseRecord) -> Option<&MigrationRecord>,
) -> Vec<i64> {
    records
        .filter_map(pick)
        .filter(|m| m.outcome == "succeeded")
        .filter_map(|m| m.seconds)
        .map(|s| s as i64)
        .collect()
}

/// One execution of the service: (start, end, succeeded).
#[derive(Debug, Clone, Copy)]
struct Run {
    start: i64,
    end: i64,
    ok: bool,
}

fn runs(records: &[ReleaseRecord]) -> (Vec<(Run, &ReleaseRecord)>, Vec<Run>) {
    let mut own = Vec::new();
    let mut redeploys = Vec::new();
    for r in records {
        let start = parse_timestamp(&r.created_at);
        let end = r.finished_at.as_deref().and_then(parse_timestamp);
        if let (Some(start), Some(end)) = (start, end) {
            let ok = r.status == ReleaseStatus::Succeeded;
            if ok || matches!(r.status, ReleaseStatus::Failed | ReleaseStatus::Stopped) {
                own.push((Run { start, end, ok }, r));
            }
        }
        for d in &r.redeployments {
            let start = parse_timestamp(&d.started_at);
            let end = d.finished_at.as_deref().and_then(parse_timestamp);
            if let (Some(start), Some(end)) = (start, end) {
                let ok = d.status == Some(ReleaseStatus::Succeeded);
                redeploys.push(Run { start, end, ok });
            }
        }
    }
    own.sort_by_key(|(run, _)| run.end);
    (own, redeploys)
}

fn median(mut v: Vec<i64>) -> Option<i64> {
    v.sort_unstable();
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2),
    }
}

/// When a rollback execution moved away from the deployment `run` before the next deployment
/// (`later`: the service's own executions after it).
fn rolled_back_at(later: &[(Run, &ReleaseRecord)], run: Run, redeploys: &[Run]) -> Option<i64> {
    let next = later.iter().find(|(r, _)| r.ok).map(|(r, _)| r.end);
    redeploys
        .iter()
        .filter(|d| d.start > run.end && next.is_none_or(|n| d.start < n))
        .map(|d| d.start)
        .min()
}

/// Seconds from a failure at `failed_at` to the end of the next successful execution.
fn restored_after(successes: &[i64], failed_at: i64) -> Option<i64> {
    successes
        .iter()
        .filter(|&&e| e > failed_at)
        .min()
        .map(|e| e - failed_at)
}

/// When each successful execution (a release's own or a rollback) ended.
fn successes(own: &[(Run, &ReleaseRecord)], redeploys: &[Run]) -> Vec<i64> {
    own.iter()
        .map(|(r, _)| *r)
        .chain(redeploys.iter().copied())
        .filter(|r| r.ok)
        .map(|r| r.end)
        .collect()
}

/// The keys over the `days` before `to` (epoch seconds).
pub fn keys(records: &[ReleaseRecord], days: u32, to: i64) -> Keys {
    let from = to - i64::from(days) * 86_400;
    let (own, redeploys) = runs(records);
    let in_window = |t: i64| t >= from && t <= to;
    let all_ok = successes(&own, &redeploys);
    let mut lead = Vec::new();
    let mut failures: Vec<i64> = Vec::new();
    let (mut deployments, mut failed_executions, mut rolled_back) = (0, 0, 0);
    for (i, (run, _)) in own
        .iter()
        .enumerate()
        .filter(|(_, (r, _))| in_window(r.end))
    {
        if !run.ok {
            failed_executions += 1;
            failures.push(run.end);
            continue;
        }
        deployments += 1;
        lead.push(run.end - run.start);
        if let Some(at) = rolled_back_at(&own[i + 1..], *run, &redeploys) {
            rolled_back += 1;
            failures.push(at);
        }
    }
    let restores: Vec<i64> = failures
        .iter()
        .filter_map(|&t| restored_after(&all_ok, t))
        .collect();
    let changes = deployments + failed_executions;
    let finished = own
        .iter()
        .filter(|(r, _)| in_window(r.end))
        .map(|(_, record)| *record);
    let (pre, post, post_failed) = migrations(finished);
    Keys {
        days,
        from,
        to,
        deployments,
        deployments_per_day: deployments as f64 / f64::from(days.max(1)),
        lead_time_median_seconds: median(lead),
        failed_changes: failures.len(),
        failed_executions,
        rolled_back,
        change_failure_rate: (changes > 0).then(|| failures.len() as f64 / changes as f64),
        restored: restores.len(),
        time_to_restore_median_seconds: median(restores),
        migrations: pre.len(),
        migration_median_seconds: median(pre),
        post_migrations: post.len(),
        post_migration_median_seconds: median(post),
        post_migrations_failed: post_failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Redeployment;
    use berth_core::fixtures::record;

    const DAY: i64 = 86_400;
    /// 2026-11-01T00:00:00Z
    const T0: i64 = 1_793_491_200;

    fn at(t: i64) -> String {
        crate::record::timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t as u64))
    }

    fn release(name: &str, status: ReleaseStatus, created: i64, seconds: i64) -> ReleaseRecord {
        let mut r = record(name, status);
        r.created_at = at(created);
        r.finished_at = Some(at(created + seconds));
        r
    }

    #[test]
    fn the_four_keys_of_a_known_history() {
        // Day 1 v1 ok (10 min); day 2 v2 fails (5 min); day 3 v3 ok (20 min), rolled back to v1
        // one hour later, the rollback done 4 min after; day 4 v4 ok (30 min).
        let mut v1 = release("v1", ReleaseStatus::Succeeded, T0 + DAY, 600);
        let v2 = release("v2", ReleaseStatus::Failed, T0 + 2 * DAY, 300);
        let v3 = release("v3", ReleaseStatus::Succeeded, T0 + 3 * DAY, 1200);
        let v4 = release("v4", ReleaseStatus::Succeeded, T0 + 4 * DAY, 1800);
        let rollback_start = T0 + 3 * DAY + 1200 + 3600;
        v1.redeployments.push(Redeployment {
            pipeline_execution_id: "r1".into(),
            started_at: at(rollback_start),
            status: Some(ReleaseStatus::Succeeded),
            finished_at: Some(at(rollback_start + 240)),
            migration: None,
            by: None,
            deployment: None,
        });
        let history = [v4, v3, v2, v1];
        let k = keys(&history, 30, T0 + 10 * DAY);
        assert_eq!(k.deployments, 3);
        assert!((k.deployments_per_day - 0.1).abs() < 1e-9);
        assert_eq!(k.lead_time_median_seconds, Some(1200));
        assert_eq!(
            (k.failed_executions, k.rolled_back, k.failed_changes),
            (1, 1, 2)
        );
        assert_eq!(k.change_failure_rate, Some(0.5));
        // v2 failed at day 2 + 300 s; restored by v3 at day 3 + 1200 s. v3's rollback restored
        // in 240 s. Median of (86_400 + 900, 240).
        assert_eq!(k.restored, 2);
        assert_eq!(k.time_to_restore_median_seconds, Some((87_300 + 240) / 2));

        let narrow = keys(&history, 1, T0 + 4 * DAY + 1800);
        assert_eq!((narrow.deployments, narrow.failed_changes), (1, 0));
        assert_eq!(narrow.change_failure_rate, Some(0.0));
        let empty = keys(&[], 30, T0);
        assert_eq!(
            (empty.change_failure_rate, empty.lead_time_median_seconds),
            (None, None)
        );
    }

    fn migration(outcome: &str, seconds: u64) -> Option<MigrationRecord> {
        Some(MigrationRecord {
            outcome: outcome.into(),
            job_id: None,
            pipeline_execution_id: None,
            first_invoked_epoch: None,
            task_definition_arn: None,
            task_arn: None,
            seconds: Some(seconds),
            message: None,
            updated_at: at(T0),
        })
    }

    /// Both migrations of the releases finished in the window: the medians count only those
    /// that succeeded; a failed contract step is counted (its release still SUCCEEDED).
    #[test]
    fn the_migrations_and_post_migrations_of_the_window() {
        let mut v1 = release("v1", ReleaseStatus::Succeeded, T0 + DAY, 600);
        v1.migration = migration("succeeded", 40);
        v1.post_migration = migration("succeeded", 300);
        let mut v2 = release("v2", ReleaseStatus::Succeeded, T0 + 2 * DAY, 600);
        v2.migration = migration("succeeded", 60);
        v2.post_migration = migration("failed", 900);
        let mut v3 = release("v3", ReleaseStatus::Failed, T0 + 3 * DAY, 600);
        v3.migration = migration("failed", 5);
        let mut old = release("v0", ReleaseStatus::Succeeded, T0 - 40 * DAY, 600);
        old.migration = migration("succeeded", 1000);
        old.post_migration = migration("failed", 1);
        let k = keys(&[v3, v2, v1, old], 30, T0 + 10 * DAY);
        assert_eq!((k.migrations, k.migration_median_seconds), (2, Some(50)));
        assert_eq!(
            (k.post_migrations, k.post_migration_median_seconds),
            (1, Some(300))
        );
        assert_eq!(k.post_migrations_failed, 1);
        let none = keys(&[], 30, T0);
        assert_eq!(
            (none.migration_median_seconds, none.post_migrations_failed),
            (None, 0)
        );
    }
}
