//! Release history (pure core): what a pipeline execution's state means for a release record,
//! and which release a rollback returns to.

use serde::{Deserialize, Serialize};

use crate::index::{List, millis};
use crate::record::{Redeployment, ReleaseRecord, ReleaseStatus, epoch_seconds, instant};

/// `detail` of the EventBridge "CodePipeline Pipeline Execution State Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PipelineStateChange {
    pub pipeline: String,
    pub execution_id: String,
    pub state: String,
}

/// The release status an execution state means; `None` for states that change nothing
/// (`STOPPING`).
pub fn status_of(state: &str) -> Option<ReleaseStatus> {
    match state {
        "STARTED" | "RESUMED" => Some(ReleaseStatus::InProgress),
        "SUCCEEDED" => Some(ReleaseStatus::Succeeded),
        "FAILED" => Some(ReleaseStatus::Failed),
        "STOPPED" | "CANCELED" => Some(ReleaseStatus::Stopped),
        "SUPERSEDED" => Some(ReleaseStatus::Superseded),
        _ => None,
    }
}

/// Which of the release's executions a state change was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The release's own execution.
    Own,
    /// A rollback execution that redeployed this release's artifact.
    Redeployment,
    /// A late or repeated event: the record already says this, or already holds a final
    /// status that a non-final one must not undo. Nothing was changed.
    Stale,
    /// Neither execution: nothing was changed.
    Unrelated,
}

/// Whether a state change may replace `current`. CodePipeline's events reach EventBridge
/// "best effort" and may arrive late or more than once, so a non-final status (a late
/// `STARTED`) never replaces a final one, and the same final status twice changes nothing (no
/// second notification). A final status may follow another one (a failed stage retried until
/// the execution succeeds).
fn advances(current: Option<ReleaseStatus>, new: ReleaseStatus) -> bool {
    match current {
        Some(c) if c.is_final() => new.is_final() && new != c,
        _ => true,
    }
}

/// Applies execution `execution_id`'s new `status` (at time `at`) to the record.
pub fn apply(
    record: &mut ReleaseRecord,
    execution_id: &str,
    status: ReleaseStatus,
    rollback: bool,
    at: &str,
) -> Applied {
    let finished = status.is_final().then(|| at.to_owned());
    if record.pipeline_execution_id.as_deref() == Some(execution_id) {
        if !advances(Some(record.status), status) {
            return Applied::Stale;
        }
        record.status = status;
        if finished.is_some() {
            record.finished_at = finished;
        }
        return Applied::Own;
    }
    if !rollback {
        return Applied::Unrelated;
    }
    match record
        .redeployments
        .iter_mut()
        .find(|r| r.pipeline_execution_id == execution_id)
    {
        Some(r) if !advances(r.status, status) => return Applied::Stale,
        Some(r) => {
            r.status = Some(status);
            if finished.is_some() {
                r.finished_at = finished;
            }
        }
        None => record.redeployments.push(Redeployment {
            pipeline_execution_id: execution_id.to_owned(),
            started_at: at.to_owned(),
            status: Some(status),
            finished_at: finished,
            migration: None,
            by: None,
        }),
    }
    Applied::Redeployment
}

/// The index entries a successful execution `execution_id` of this release calls for: the
/// release's own success lists it as succeeded (by its claim time) and as deployed (by the
/// execution's start); a rollback to it lists it as deployed again.
pub fn index_entries(r: &ReleaseRecord, execution_id: &str) -> Vec<(List, u64)> {
    let own = r.pipeline_execution_id.as_deref() == Some(execution_id);
    if own && r.status == ReleaseStatus::Succeeded {
        let created = millis(&r.created_at);
        let started = r
            .pipeline_started_at
            .as_deref()
            .and_then(millis)
            .or(created);
        return created
            .map(|c| (List::Succeeded, c))
            .into_iter()
            .chain(started.map(|s| (List::Deployed, s)))
            .collect();
    }
    r.redeployments
        .iter()
        .filter(|d| d.pipeline_execution_id == execution_id)
        .filter(|d| d.status == Some(ReleaseStatus::Succeeded))
        .filter_map(|d| millis(&d.started_at))
        .map(|at| (List::Deployed, at))
        .collect()
}

/// Every index entry a record calls for (indexing records written before the index existed).
pub fn all_index_entries(r: &ReleaseRecord) -> Vec<(List, u64)> {
    let mut entries: Vec<(List, u64)> = millis(&r.created_at)
        .map(|c| (List::Releases, c))
        .into_iter()
        .collect();
    if let Some(own) = &r.pipeline_execution_id {
        entries.extend(index_entries(r, own));
    }
    for d in &r.redeployments {
        entries.extend(index_entries(r, &d.pipeline_execution_id));
    }
    entries
}

/// When the release's own execution (or the given redeployment) started, in epoch seconds.
pub fn started_epoch(r: &ReleaseRecord, execution_id: &str) -> Option<u64> {
    let at = if r.pipeline_execution_id.as_deref() == Some(execution_id) {
        r.pipeline_started_at.as_deref()
    } else {
        r.redeployments
            .iter()
            .find(|d| d.pipeline_execution_id == execution_id)
            .map(|d| d.started_at.as_str())
    }?;
    crate::record::parse_timestamp(at).and_then(|s| u64::try_from(s).ok())
}

/// Seconds from the execution's start to `now`, when its start is recorded.
pub fn seconds_since_start(
    r: &ReleaseRecord,
    execution_id: &str,
    now: std::time::SystemTime,
) -> Option<u64> {
    started_epoch(r, execution_id).map(|s| epoch_seconds(now).saturating_sub(s))
}

/// The instant a release started (its pipeline start, else its claim).
pub fn started(r: &ReleaseRecord) -> Option<(i64, u32)> {
    instant(r.pipeline_started_at.as_deref().unwrap_or(&r.created_at))
}

/// When a release last became what runs: its own successful execution or a successful
/// redeployment (rollback) of it, whichever is newer.
fn last_success(r: &ReleaseRecord) -> Option<(i64, u32)> {
    let own = (r.status == ReleaseStatus::Succeeded)
        .then(|| started(r))
        .flatten();
    let redeployed = r
        .redeployments
        .iter()
        .filter(|d| d.status == Some(ReleaseStatus::Succeeded))
        .filter_map(|d| instant(&d.started_at))
        .max();
    own.into_iter().chain(redeployed).max()
}

/// The rollback target: the current release is the one that most recently succeeded (its
/// own deployment or a rollback to it); the target is the newest release older than it whose
/// own deployment succeeded. Failed, stopped and superseded releases are never targets.
pub fn last_known_good(records: &[ReleaseRecord]) -> Result<&ReleaseRecord, String> {
    let current = records
        .iter()
        .filter_map(|r| last_success(r).map(|at| (at, r)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
        .ok_or_else(|| "no release has succeeded yet, so nothing is known good".to_owned())?;
    records
        .iter()
        .filter(|r| r.status == ReleaseStatus::Succeeded && r.artifact_version_id.is_some())
        .filter(|r| started(r) < started(current))
        .max_by_key(|r| started(r))
        .ok_or_else(|| {
            format!(
                "no succeeded release is older than the current one ({}); nothing to roll back to",
                current.release
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Redeployment;
    use crate::record::tests::record;

    fn rec(release: &str, started: &str, status: ReleaseStatus) -> ReleaseRecord {
        let mut r = record(release, status);
        r.artifact_version_id = Some(format!("a-{release}"));
        r.pipeline_execution_id = Some(format!("e-{release}"));
        r.created_at = started.into();
        r.updated_at = started.into();
        r.pipeline_started_at = Some(started.into());
        r
    }

    use ReleaseStatus::*;

    #[test]
    fn last_known_good_is_not_simply_the_previous_revision() {
        let cases: Vec<(&str, Vec<ReleaseRecord>, Result<&str, &str>)> = vec![
            (
                "previous succeeded",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                    rec("v2", "2026-01-02T00:00:00Z", Succeeded),
                ],
                Ok("v1"),
            ),
            (
                "failed releases are skipped",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                    rec("v2", "2026-01-02T00:00:00Z", Failed),
                    rec("v3", "2026-01-03T00:00:00Z", Succeeded),
                ],
                Ok("v1"),
            ),
            (
                "a failed newest release leaves the current one in place",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                    rec("v2", "2026-01-02T00:00:00Z", Succeeded),
                    rec("v3", "2026-01-03T00:00:00Z", Failed),
                ],
                Ok("v1"),
            ),
            (
                "stopped and superseded are not good",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Stopped),
                    rec("v2", "2026-01-02T00:00:00Z", Superseded),
                    rec("v3", "2026-01-03T00:00:00Z", Succeeded),
                ],
                Err("no succeeded release is older"),
            ),
            (
                "fractions of a second order releases started in the same second",
                vec![
                    rec("v1", "2026-01-01T00:00:00.25Z", Succeeded),
                    rec("v2", "2026-01-01T00:00:00.5Z", Succeeded),
                    rec("v3", "2026-01-01T00:00:00.75Z", Succeeded),
                ],
                Ok("v2"),
            ),
            (
                "nothing succeeded",
                vec![rec("v1", "2026-01-01T00:00:00Z", Failed)],
                Err("no release has succeeded"),
            ),
            ("empty", vec![], Err("no release has succeeded")),
        ];
        for (name, records, want) in cases {
            let got = last_known_good(&records).map(|r| r.release.as_str());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{name}: {g}"),
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn after_a_rollback_the_next_one_goes_further_back() {
        let v1 = rec("v1", "2026-01-01T00:00:00Z", Succeeded);
        let mut v2 = rec("v2", "2026-01-02T00:00:00Z", Succeeded);
        let v3 = rec("v3", "2026-01-03T00:00:00Z", Succeeded);
        v2.redeployments.push(Redeployment {
            pipeline_execution_id: "r1".into(),
            started_at: "2026-01-04T00:00:00Z".into(),
            status: Some(Succeeded),
            finished_at: None,
            migration: None,
            by: None,
        });
        let records = [v1, v2, v3];
        assert_eq!(last_known_good(&records).unwrap().release, "v1");
    }

    #[test]
    fn state_changes_apply_to_the_own_execution_or_a_redeployment() {
        let at = "2026-01-05T00:00:00Z";
        let mut r = rec("v1", "2026-01-01T00:00:00Z", InProgress);
        assert_eq!(apply(&mut r, "e-v1", Succeeded, false, at), Applied::Own);
        assert_eq!((r.status, r.finished_at.as_deref()), (Succeeded, Some(at)));
        assert_eq!(
            apply(&mut r, "other", Failed, false, at),
            Applied::Unrelated
        );
        assert_eq!(r.status, Succeeded);
        assert_eq!(
            apply(&mut r, "r1", InProgress, true, at),
            Applied::Redeployment
        );
        assert_eq!(r.redeployments[0].started_at, at);
        assert_eq!(r.redeployments[0].finished_at, None);
        let later = "2026-01-05T00:10:00Z";
        assert_eq!(
            apply(&mut r, "r1", Succeeded, true, later),
            Applied::Redeployment
        );
        assert_eq!(r.redeployments.len(), 1);
        assert_eq!(r.redeployments[0].finished_at.as_deref(), Some(later));
        assert_eq!(r.status, Succeeded, "the release's own status is untouched");
        assert_eq!(started_epoch(&r, "r1"), Some(1_767_571_200));
    }

    #[test]
    fn successes_are_indexed_by_claim_and_by_execution_start() {
        let mut r = rec("v1", "2026-01-01T00:00:00Z", Succeeded);
        r.created_at = "2025-12-31T23:59:59Z".into();
        r.redeployments.push(Redeployment {
            pipeline_execution_id: "r1".into(),
            started_at: "2026-01-05T00:00:00Z".into(),
            status: Some(Succeeded),
            finished_at: None,
            migration: None,
            by: None,
        });
        r.redeployments.push(Redeployment {
            pipeline_execution_id: "r2".into(),
            started_at: "2026-01-06T00:00:00Z".into(),
            status: Some(Failed),
            finished_at: None,
            migration: None,
            by: None,
        });
        let created = 1_767_225_599_000;
        assert_eq!(
            index_entries(&r, "e-v1"),
            [
                (List::Succeeded, created),
                (List::Deployed, 1_767_225_600_000)
            ]
        );
        assert_eq!(
            index_entries(&r, "r1"),
            [(List::Deployed, 1_767_571_200_000)]
        );
        assert!(
            index_entries(&r, "r2").is_empty(),
            "a failed rollback deploys nothing"
        );
        assert_eq!(all_index_entries(&r).len(), 4);
        r.status = Failed;
        assert_eq!(
            all_index_entries(&r),
            [
                (List::Releases, created),
                (List::Deployed, 1_767_571_200_000)
            ]
        );
    }

    /// Pipeline events arrive late and more than once.
    #[test]
    fn late_and_repeated_events_change_nothing() {
        let at = "2026-01-05T00:00:00Z";
        let mut r = rec("v1", "2026-01-01T00:00:00Z", InProgress);
        assert_eq!(apply(&mut r, "e-v1", Succeeded, false, at), Applied::Own);
        let done = r.clone();
        for late in [InProgress, Succeeded] {
            assert_eq!(
                apply(&mut r, "e-v1", late, false, "2026-01-06T00:00:00Z"),
                Applied::Stale
            );
            assert_eq!(r, done, "{late:?} after SUCCEEDED");
        }
        // A failed stage retried: FAILED, then RESUMED (ignored), then SUCCEEDED.
        let mut f = rec("v2", "2026-01-01T00:00:00Z", Failed);
        assert_eq!(apply(&mut f, "e-v2", InProgress, false, at), Applied::Stale);
        assert_eq!(apply(&mut f, "e-v2", Succeeded, false, at), Applied::Own);
        assert_eq!(f.status, Succeeded);
        // The same for a rollback's redeployment.
        assert_eq!(
            apply(&mut r, "r1", Succeeded, true, at),
            Applied::Redeployment
        );
        assert_eq!(apply(&mut r, "r1", InProgress, true, at), Applied::Stale);
        assert_eq!(apply(&mut r, "r1", Succeeded, true, at), Applied::Stale);
        assert_eq!(r.redeployments[0].status, Some(Succeeded));
    }

    #[test]
    fn execution_states() {
        assert_eq!(status_of("STARTED"), Some(InProgress));
        assert_eq!(status_of("SUCCEEDED"), Some(Succeeded));
        assert_eq!(status_of("FAILED"), Some(Failed));
        assert_eq!(status_of("STOPPED"), Some(Stopped));
        assert_eq!(status_of("CANCELED"), Some(Stopped));
        assert_eq!(status_of("SUPERSEDED"), Some(Superseded));
        assert_eq!(status_of("STOPPING"), None);
    }
}
