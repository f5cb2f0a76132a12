//! Release history (pure core): what a pipeline execution's state means for a release record,
//! and which release a rollback returns to.

use serde::{Deserialize, Serialize};

use crate::index::{List, millis};
use crate::record::{
    DeploymentRecord, Redeployment, ReleaseRecord, ReleaseStatus, epoch_seconds, instant,
};
use crate::service_deployment::is_active;

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
        let status = own_status(record, status);
        if !advances(Some(record.status), status) {
            return Applied::Stale;
        }
        record.status = status;
        if finished.is_some() {
            record.finished_at = finished;
            unfollow(&mut record.deployment, execution_id, status, at);
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
                unfollow(&mut r.deployment, execution_id, status, at);
            }
        }
        None => record.redeployments.push(Redeployment {
            pipeline_execution_id: execution_id.to_owned(),
            started_at: at.to_owned(),
            status: Some(status),
            finished_at: finished,
            migration: None,
            by: None,
            deployment: None,
        }),
    }
    Applied::Redeployment
}

/// An execution that failed in its PostMigrate action after the deployment finished for good
/// leaves the release's code live: the release SUCCEEDED, and its `post_migration` section says
/// the contract step failed (what the next release is held behind).
fn own_status(r: &ReleaseRecord, status: ReleaseStatus) -> ReleaseStatus {
    if status == ReleaseStatus::Failed && crate::migration::post::failed(r) {
        ReleaseStatus::Succeeded
    } else {
        status
    }
}

/// The `deployment` status of a service deployment the deploy action no longer follows
/// because its pipeline execution ended first.
pub const ABANDONED: &str = "ABANDONED";

/// An execution that ended while its deploy action still followed (or waited to start) a
/// service deployment — "Stop and abandon" stops an execution "without waiting for in-progress
/// actions to complete" (CodePipeline User Guide), so nothing invokes the action again — leaves
/// that `deployment` section saying `ABANDONED` instead of a status no one will update. The
/// service deployment's ARN stays: ECS goes on with it, and `berth status` still finds it.
fn unfollow(
    deployment: &mut Option<DeploymentRecord>,
    execution_id: &str,
    status: ReleaseStatus,
    at: &str,
) {
    let Some(d) = deployment.as_mut() else {
        return;
    };
    let followed = matches!(d.status.as_str(), "WAITING" | "STARTING") || is_active(&d.status);
    if !followed
        || d.pipeline_execution_id
            .as_deref()
            .is_some_and(|e| e != execution_id)
    {
        return;
    }
    let what = match &d.service_deployment_arn {
        Some(arn) => format!("ECS service deployment {arn} goes on by itself"),
        None => "no service deployment was recorded as started".to_owned(),
    };
    d.reason = Some(format!(
        "pipeline execution {execution_id} ended {} while the Deploy action followed the deployment (it was {}): {what}; berth no longer follows it. Watch it with `berth status`; take it back with `berth rollback`",
        status.name(),
        d.status
    ));
    d.status = ABANDONED.to_owned();
    d.updated_at = at.to_owned();
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
mod tests;
