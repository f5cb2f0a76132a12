//! The release record, `releases/<service>/<release>.json` (docs/design/contract.md §4): one
//! document per release that every function updates with conditional writes.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

mod guards;

pub use guards::{Action, CheckResult, Intervention, Verdict, Verification, keep_newest};

use crate::manifest::MigrationPlan;
use crate::render::ManifestSource;
use crate::scan::ScanSummary;
use crate::service_deployment::DeployKind;

pub const RECORD_SCHEMA: &str = "berth/release-record/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleaseStatus {
    /// Claimed by on-manifest; artifact and pipeline start still to come.
    Rendering,
    InProgress,
    Succeeded,
    Failed,
    Stopped,
    Superseded,
}

impl ReleaseStatus {
    /// The name as records and the contract spell it (`IN_PROGRESS`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Rendering => "RENDERING",
            Self::InProgress => "IN_PROGRESS",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Stopped => "STOPPED",
            Self::Superseded => "SUPERSEDED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Stopped | Self::Superseded
        )
    }
}

/// What the migration step did for this release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationRecord {
    /// `starting` (task definition registered, task being started), `running`, `skipped`,
    /// `succeeded`, `failed`, or `stopped` (its pipeline execution ended while it ran).
    pub outcome: String,
    #[serde(default)]
    pub job_id: Option<String>,
    /// The pipeline execution the Migrate action ran in, when the action names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    /// When the action was first invoked for this job: the migration deadline counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_invoked_epoch: Option<u64>,
    #[serde(default)]
    pub task_definition_arn: Option<String>,
    #[serde(default)]
    pub task_arn: Option<String>,
    #[serde(default)]
    pub seconds: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub schema: String,
    pub service: String,
    pub release: String,
    pub status: ReleaseStatus,
    pub manifest: ManifestSource,
    pub pipeline: String,
    pub task_family: String,
    /// The ECS cluster and service the release deploys to (from the registry when it was
    /// rendered): what runs there is never deregistered. Absent in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_service: Option<String>,
    /// Container → `<repo uri>@sha256:<digest>`.
    pub images: BTreeMap<String, String>,
    pub migration_plan: Option<MigrationPlan>,
    #[serde(default)]
    pub migration: Option<MigrationRecord>,
    /// The post-deployment migration (the contract step) the release asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_migration_plan: Option<MigrationPlan>,
    /// What the PostMigrate action (or `berth post-migration`) did about it: as `migration`,
    /// with `not_run` (the deployment did not finish for good) and `skipped` by an operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_migration: Option<MigrationRecord>,
    #[serde(default)]
    pub rollback_of: Option<String>,
    /// Where a promoted release came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<crate::manifest::PromotedFrom>,
    /// The release group this release is a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(default)]
    pub artifact_version_id: Option<String>,
    #[serde(default)]
    pub pipeline_execution_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default)]
    pub pipeline_started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// While set and in the future, the invocation that wrote it owns the release; a crashed
    /// invocation's claim lapses at its Lambda deadline, and a retry takes over.
    #[serde(default)]
    pub lease_until_epoch: Option<u64>,
    /// Rollback executions of this release's artifact (newest last).
    #[serde(default)]
    pub redeployments: Vec<Redeployment>,
    /// The `verify` hook's verdicts on this release's deployments (newest last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verifications: Vec<Verification>,
    /// Promotes, finishes and traffic rollbacks of this release's deployments (newest last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interventions: Vec<Intervention>,
    /// What the Scan action found (services with a scan policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanSummary>,
    /// The task definition revisions deregistered after the release failed or was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistration: Option<Deregistration>,
    /// What the release deployed: rendered by the Migrate action when the release reached its
    /// Release stage, from the task definition the service ran then (`images` above is what
    /// was pinned when the manifest was uploaded). Absent until then, and in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployed: Option<DeployedRecord>,
    /// What the deploy action did, for a service ECS deploys itself (controller `ECS`): the
    /// service deployment it started and how it ended. Absent for CODE_DEPLOY services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
}

/// The ECS service deployment a release (or a rollback execution of it) started through the
/// deploy action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRecord {
    /// `ROLLING`, `BLUE_GREEN`, `LINEAR`, `CANARY` or `TASK`.
    pub kind: DeployKind,
    /// The deploy action's first job.
    pub job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_deployment_arn: Option<String>,
    /// The revision the deploy action registered (or the migration's, registered from the
    /// same document in the same execution) and UpdateService deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    /// `WAITING` (for another deployment), `STARTING`, then the service deployment's own
    /// status (`IN_PROGRESS`, `SUCCESSFUL`, `ROLLBACK_SUCCESSFUL`, ...), or `SUPERSEDED`,
    /// `GONE` (the service was deleted) or `UNFOLLOWED` (the action's time ran out while the
    /// deployment went on).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When UpdateService was called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    pub updated_at: String,
    /// A task target's (`kind` TASK): each schedule and rule target the job repointed, with
    /// the revision it ran before and the one it runs now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<crate::task_target::Repointed>,
}

/// The deployed artifact of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployedRecord {
    /// `artifacts/<service>/deployed/<release>.zip` in the release bucket.
    pub artifact: String,
    /// Container → image, for every registry container of the deployed task definition.
    pub images: BTreeMap<String, String>,
}

/// What on-pipeline-event deregistered when the release ended FAILED or STOPPED. It never
/// changes the release's status; `error` says why it stopped short, if it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deregistration {
    /// Revision ARNs deregistered.
    #[serde(default)]
    pub deregistered: Vec<String>,
    /// Revisions of the release that were kept, each `<arn>: <why>`.
    #[serde(default)]
    pub kept: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: String,
}

/// A later pipeline execution that redeployed this release's exact artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redeployment {
    pub pipeline_execution_id: String,
    pub started_at: String,
    #[serde(default)]
    pub status: Option<ReleaseStatus>,
    #[serde(default)]
    pub finished_at: Option<String>,
    /// What the Migrate action did in this execution (`skipped`: a rollback never migrates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<String>,
    /// The caller identity (ARN) that asked for the rollback, when the CLI could tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The ECS service deployment this execution's deploy action started (services ECS deploys
    /// itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentRecord>,
}

/// RFC 3339 UTC time, the format of every timestamp berth writes.
pub fn timestamp(at: SystemTime) -> String {
    crate::time::timestamp(at)
}

/// Seconds since the epoch of a timestamp berth wrote (see [`timestamp`]).
pub fn parse_timestamp(s: &str) -> Option<i64> {
    crate::time::parse(s).map(|(secs, _)| secs)
}

/// A timestamp as a sortable instant (seconds, nanoseconds). Timestamps carry fractions, so
/// comparing them as strings would misorder `…:56.5Z` and `…:56Z`.
pub fn instant(s: &str) -> Option<(i64, u32)> {
    crate::time::parse(s)
}

pub fn epoch_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    pub(crate) use crate::fixtures::record;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        assert_eq!(timestamp(t), "2026-11-18T11:06:40Z");
        assert_eq!(epoch_seconds(t), 1_795_000_000);
        assert_eq!(parse_timestamp(&timestamp(t)), Some(1_795_000_000));
        let later = timestamp(t + Duration::from_millis(500));
        assert!(instant(&later) > instant(&timestamp(t)), "{later}");
        assert!(later < timestamp(t), "as strings the order would be wrong");
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn statuses_serialize_as_the_contract_names_them() {
        let names: Vec<String> = [
            ReleaseStatus::InProgress,
            ReleaseStatus::Succeeded,
            ReleaseStatus::Superseded,
        ]
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
        assert_eq!(
            names,
            ["\"IN_PROGRESS\"", "\"SUCCEEDED\"", "\"SUPERSEDED\""]
        );
        assert!(ReleaseStatus::Stopped.is_final() && !ReleaseStatus::Rendering.is_final());
        for s in [
            ReleaseStatus::Rendering,
            ReleaseStatus::InProgress,
            ReleaseStatus::Succeeded,
            ReleaseStatus::Failed,
            ReleaseStatus::Stopped,
            ReleaseStatus::Superseded,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.name());
        }
    }
}
