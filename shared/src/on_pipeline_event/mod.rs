//! `on-pipeline-event`: CodePipeline "Pipeline Execution State Change" → the release record's
//! status (decisions in [`crate::history`]), one `release finished` log line and an optional
//! notification per finished release; a migration task left running by an execution that
//! ended is stopped (`abandoned`), and the task definition revisions of a release that ended
//! FAILED or STOPPED are deregistered (`cleanup`); a release group's record follows its
//! members' own executions and announces the group once all have ended (`group`).

mod abandoned;
mod cleanup;
mod group;

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::aws::Clients;
use crate::error::Result;
use crate::groups::GroupRecords;
use crate::history::{self, Applied, PipelineStateChange};
use crate::index::Index;
use crate::invocation::event_of;
use crate::notify::{self, Notifier};
use crate::pipeline::{self, Started as Execution};
use crate::record::{ReleaseRecord, ReleaseStatus, timestamp};
use crate::records::{Change, Records, Updated};
use crate::settings::Settings;
use crate::store::Bucket;

/// Everything `on-pipeline-event` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub records: Records,
    pub groups: GroupRecords,
    pub index: Index,
    pub notifier: Notifier,
}

/// What a state change did. Every variant is a success for Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Output {
    Recorded {
        service: String,
        release: String,
        status: ReleaseStatus,
        rollback: bool,
        migration: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        post_migration: Option<String>,
        duration_seconds: Option<u64>,
        images: BTreeMap<String, String>,
        notified: bool,
        /// Task definition revisions deregistered (a release that ended FAILED or STOPPED).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        deregistered: Vec<String>,
    },
    Ignored {
        reason: String,
    },
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        let clients = Clients::for_lambda(&[])?;
        let notifier = Notifier::from_env(&clients).await?;
        Ok(Self::new(&clients, &settings, notifier))
    }

    pub fn new(clients: &Clients, settings: &Settings, notifier: Notifier) -> Self {
        let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
        Self {
            codepipeline: clients.codepipeline.clone(),
            ecs: clients.ecs.clone(),
            records: Records::new(bucket.clone()),
            groups: GroupRecords::new(bucket.clone()),
            index: Index::new(bucket),
            notifier,
        }
    }

    /// The Lambda handler.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Output> {
        match event_of::<EventBridgeEvent<Value>>(event.payload, "an EventBridge event") {
            Ok(e) => self.on_event(e, SystemTime::now()).await,
            Err(reason) => Ok(Output::Ignored { reason }),
        }
    }

    pub async fn on_event(
        &self,
        event: EventBridgeEvent<Value>,
        now: SystemTime,
    ) -> Result<Output> {
        if event.source != "aws.codepipeline"
            || event.detail_type != "CodePipeline Pipeline Execution State Change"
        {
            return Ok(ignored(format!(
                "not a pipeline execution state change ({} / {})",
                event.source, event.detail_type
            )));
        }
        let change: PipelineStateChange = match serde_json::from_value(event.detail) {
            Ok(c) => c,
            Err(e) => return Ok(ignored(format!("unreadable state change detail: {e}"))),
        };
        let Some(status) = history::status_of(&change.state) else {
            return Ok(ignored(format!(
                "state {} changes no release status",
                change.state
            )));
        };
        let Some(exec) =
            pipeline::berth_execution(&self.codepipeline, &change.pipeline, &change.execution_id)
                .await?
        else {
            return Ok(ignored(format!(
                "execution {} of {} was not started by berth",
                change.execution_id, change.pipeline
            )));
        };
        self.record(&change, &exec, status, now).await
    }

    /// Applies the new status to the release record, then logs and notifies a finished one.
    async fn record(
        &self,
        change: &PipelineStateChange,
        exec: &Execution,
        status: ReleaseStatus,
        now: SystemTime,
    ) -> Result<Output> {
        let execution_id = change.execution_id.as_str();
        let at = timestamp(now);
        let updated = self
            .records
            .update(&exec.service, &exec.release, now, |r| {
                apply(r, execution_id, status, exec.rollback, &at, now)
            })
            .await?;
        let ((applied, seconds), record) = match updated {
            Updated::Written { value, record } => (value, record),
            Updated::Kept {
                value: (applied, _),
                record,
            } => return self.kept(change, exec, status, applied, &record, now).await,
            Updated::Missing => {
                return Ok(ignored(format!(
                    "no release record for {}/{}",
                    exec.service, exec.release
                )));
            }
        };
        let mut record = *record;
        let status = applied_status(applied, &record, status);
        let (deregistered, notified) = self
            .after_change(
                &mut record,
                exec,
                execution_id,
                status,
                applied,
                seconds,
                now,
            )
            .await?;
        Ok(Output::Recorded {
            service: exec.service.clone(),
            release: exec.release.clone(),
            status,
            rollback: exec.rollback,
            migration: outcome(record.migration.as_ref()),
            post_migration: outcome(record.post_migration.as_ref()),
            duration_seconds: seconds.filter(|_| status.is_final()),
            images: record.images,
            notified,
            deregistered,
        })
    }

    /// What follows a recorded change: index entries of a success, the migration an ended
    /// execution left running, the metrics, the revisions of a failed or stopped release
    /// (returned), the notification of a finished one (whether delivered), and its group's record.
    #[allow(clippy::too_many_arguments)]
    async fn after_change(
        &self,
        record: &mut ReleaseRecord,
        exec: &Execution,
        execution_id: &str,
        status: ReleaseStatus,
        applied: Applied,
        seconds: Option<u64>,
        now: SystemTime,
    ) -> Result<(Vec<String>, bool)> {
        if status == ReleaseStatus::Succeeded {
            self.index_success(record, execution_id).await?;
        }
        let own = applied == Applied::Own;
        if own && status.is_final() && status != ReleaseStatus::Succeeded {
            self.stop_abandoned_migration(record, execution_id, status, now)
                .await;
        }
        let metrics = crate::metrics::finished(record, execution_id, own, status, seconds, now);
        crate::metrics::emit(&exec.service, now, &metrics);
        let mut deregistered = Vec::new();
        if own && matches!(status, ReleaseStatus::Failed | ReleaseStatus::Stopped) {
            deregistered = self.deregister_failed(record, now).await;
        }
        if !status.is_final() {
            return Ok((deregistered, false));
        }
        let notified = self
            .finished(exec, status, seconds, record, execution_id)
            .await;
        if own && !exec.rollback {
            self.member_finished(record, execution_id, status, seconds, now)
                .await?;
        }
        Ok((deregistered, notified))
    }

    /// An event the record already reflects (a late or repeated one) or that is not about the
    /// execution it records: nothing changes, but a repeated success completes its index
    /// entries, which an earlier invocation may not have written.
    async fn kept(
        &self,
        change: &PipelineStateChange,
        exec: &Execution,
        status: ReleaseStatus,
        applied: Applied,
        record: &ReleaseRecord,
        now: SystemTime,
    ) -> Result<Output> {
        let execution_id = change.execution_id.as_str();
        if applied == Applied::Stale && status == ReleaseStatus::Succeeded {
            self.index_success(record, execution_id).await?;
        }
        let own = record.pipeline_execution_id.as_deref() == Some(execution_id);
        if applied == Applied::Stale && own && status.is_final() && !exec.rollback {
            let seconds = group::recorded_seconds(record);
            self.member_finished(record, execution_id, status, seconds, now)
                .await?;
        }
        let reason = match applied {
            Applied::Stale => format!(
                "late or repeated {} of execution {execution_id}: {}/{} already recorded it",
                change.state, exec.service, exec.release
            ),
            _ => format!(
                "execution {execution_id} is not the one recorded for {}/{}",
                exec.service, exec.release
            ),
        };
        Ok(ignored(reason))
    }

    /// Lists a successful execution in the index (what `berth status` and `berth rollback`
    /// read). Written after the record, and again on a repeated event, so an invocation that
    /// failed in between is completed by Lambda's retry.
    async fn index_success(&self, record: &ReleaseRecord, execution_id: &str) -> Result<()> {
        for (list, at) in history::index_entries(record, execution_id) {
            self.index
                .put(&record.service, list, at, &record.release)
                .await?;
        }
        Ok(())
    }

    /// Logs the `release finished` line and sends the notification; whether it was delivered.
    async fn finished(
        &self,
        exec: &Execution,
        status: ReleaseStatus,
        seconds: Option<u64>,
        record: &ReleaseRecord,
        execution_id: &str,
    ) -> bool {
        let migration = migration_of(record, exec.rollback, execution_id);
        let post_migration = record.post_migration.as_ref().map(|m| m.outcome.as_str());
        let (verification, interventions, requested_by) =
            notify::Finished::guards_of(record, execution_id);
        let finished = notify::Finished {
            service: &exec.service,
            release: &exec.release,
            status,
            rollback: exec.rollback,
            images: &record.images,
            migration,
            post_migration: post_migration.filter(|_| !exec.rollback),
            seconds,
            pipeline_execution_id: execution_id,
            verification,
            interventions: interventions.clone(),
            requested_by,
        };
        let notified = self.notify(&finished).await;
        tracing::info!(
            service = %exec.service,
            release = %exec.release,
            status = status.name(),
            rollback = exec.rollback,
            images = ?record.images,
            migration = migration.unwrap_or("none"),
            post_migration = post_migration.unwrap_or("none"),
            duration_seconds = seconds,
            pipeline_execution_id = %execution_id,
            verify = verification.map(|v| v.verdict.name()).unwrap_or("none"),
            interventions = ?interventions.iter().map(|i| (i.action.name(), i.by.as_str())).collect::<Vec<_>>(),
            requested_by = requested_by.unwrap_or("-"),
            "release finished"
        );
        notified
    }
}

impl Context {
    /// Sends a finished release's notification; whether any channel got it.
    async fn notify(&self, f: &notify::Finished<'_>) -> bool {
        if !self.notifier.enabled() {
            return false;
        }
        // The status first: SNS cuts a subject at 100 characters ("less than 100 characters
        // long", SNS Publish API reference), and long names must not cut it.
        let subject = format!("berth: {} {} {}", f.status.name(), f.service, f.release);
        let attributes = [("service", f.service), ("status", f.status.name())];
        let delivery = self
            .notifier
            .send(
                &notify::message(f),
                &notify::event(f),
                &subject,
                &attributes,
            )
            .await;
        for (channel, result) in [("slack", &delivery.slack), ("sns", &delivery.sns)] {
            if let Some(Err(reason)) = result {
                tracing::warn!(%reason, channel, service = %f.service, release = %f.release, "release notification not delivered");
            }
        }
        delivery.delivered()
    }
}

/// The release's own status as applied: an execution that failed only in its PostMigrate
/// action left the code live (`history::apply`).
fn applied_status(
    applied: Applied,
    record: &ReleaseRecord,
    status: ReleaseStatus,
) -> ReleaseStatus {
    if applied == Applied::Own {
        record.status
    } else {
        status
    }
}

fn ignored(reason: String) -> Output {
    tracing::info!(%reason, "event ignored");
    Output::Ignored { reason }
}

/// A migration's outcome, as the function's output shows it.
fn outcome(m: Option<&crate::record::MigrationRecord>) -> Option<String> {
    m.map(|m| m.outcome.clone())
}

/// The new status applied to the record (kept unchanged when it is about another execution or
/// older than what the record shows), with the seconds since the execution started.
fn apply(
    r: &mut ReleaseRecord,
    execution_id: &str,
    status: ReleaseStatus,
    rollback: bool,
    at: &str,
    now: SystemTime,
) -> Change<(Applied, Option<u64>)> {
    let seconds = history::seconds_since_start(r, execution_id, now);
    match history::apply(r, execution_id, status, rollback, at) {
        applied @ (Applied::Unrelated | Applied::Stale) => Change::Keep((applied, seconds)),
        applied => Change::Write((applied, seconds)),
    }
}

/// What the execution's Migrate action did: the release's migration for its own execution; for
/// a rollback (a redeploy of this release), what its redeployment entry says (a rollback never
/// migrates: `skipped`), never the outcome of the release's first migration.
fn migration_of<'a>(
    record: &'a ReleaseRecord,
    rollback: bool,
    execution_id: &str,
) -> Option<&'a str> {
    if !rollback {
        return record.migration.as_ref().map(|m| m.outcome.as_str());
    }
    record
        .redeployments
        .iter()
        .find(|d| d.pipeline_execution_id == execution_id)
        .and_then(|d| d.migration.as_deref())
        .or(record.migration_plan.as_ref().map(|_| "skipped"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::MigrationPlan;
    use crate::record::{MigrationRecord, Redeployment};
    use berth_core::fixtures::record;

    /// A rollback's notification says what its own Migrate did (skipped), not how the
    /// release's first migration went.
    #[test]
    fn a_rollback_reports_its_own_migration_not_the_release_s_first() {
        let mut r = record("v1", ReleaseStatus::Succeeded);
        r.migration_plan = Some(MigrationPlan {
            cluster: "prod".into(),
            container: "app".into(),
            command: vec!["migrate".into()],
            timeout_seconds: 900,
            subnets: vec!["subnet-1".into()],
            security_groups: Vec::new(),
            assign_public_ip: false,
        });
        r.migration = Some(MigrationRecord {
            outcome: "succeeded".into(),
            job_id: None,
            pipeline_execution_id: Some("e1".into()),
            first_invoked_epoch: None,
            task_definition_arn: None,
            task_arn: None,
            seconds: Some(30),
            message: None,
            updated_at: "2026-11-01T00:00:00Z".into(),
        });
        r.redeployments.push(Redeployment {
            pipeline_execution_id: "r1".into(),
            started_at: "2026-11-02T00:00:00Z".into(),
            status: None,
            finished_at: None,
            migration: Some("skipped".into()),
            by: None,
            deployment: None,
        });
        assert_eq!(migration_of(&r, false, "e1"), Some("succeeded"));
        assert_eq!(migration_of(&r, true, "r1"), Some("skipped"));
        // A rollback execution whose Migrate wrote nothing yet: a planned migration never
        // runs in a rollback.
        assert_eq!(migration_of(&r, true, "r2"), Some("skipped"));
        r.migration_plan = None;
        assert_eq!(migration_of(&r, true, "r2"), None);
    }
}
