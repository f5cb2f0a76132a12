//! `on-pipeline-event`: CodePipeline "Pipeline Execution State Change" → the release record's
//! status (decisions in [`crate::history`]), one `release finished` log line and an optional
//! notification per finished release; a migration task left running by an execution that
//! ended is stopped (`abandoned`), and the task definition revisions of a release that ended
//! FAILED or STOPPED are deregistered (`cleanup`).

mod abandoned;
mod cleanup;

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::history::{self, Applied, PipelineStateChange};
use crate::index::Index;
use crate::invocation::event_of;
use crate::keys::is_valid_name;
use crate::notify::{self, Notifier};
use crate::pipeline::{VAR_RELEASE, VAR_ROLLBACK, VAR_SERVICE};
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

/// The execution berth started, as its variables name it.
struct Execution {
    service: String,
    release: String,
    rollback: bool,
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        let notifier = Notifier::from_env()?;
        let clients = Clients::from_env().await;
        Ok(Self::new(&clients, &settings, notifier))
    }

    pub fn new(clients: &Clients, settings: &Settings, notifier: Notifier) -> Self {
        let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
        Self {
            codepipeline: clients.codepipeline.clone(),
            ecs: clients.ecs.clone(),
            records: Records::new(bucket.clone()),
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
        let Some(exec) = self.execution(&change).await? else {
            return Ok(ignored(format!(
                "execution {} of {} was not started by berth",
                change.execution_id, change.pipeline
            )));
        };
        self.record(&change, &exec, status, now).await
    }

    /// The berth variables of the execution, if berth started it.
    async fn execution(&self, change: &PipelineStateChange) -> Result<Option<Execution>> {
        let out = self
            .codepipeline
            .get_pipeline_execution()
            .pipeline_name(&change.pipeline)
            .pipeline_execution_id(&change.execution_id)
            .send()
            .await
            .map_err(Error::sdk(format!(
                "codepipeline:GetPipelineExecution {} {}",
                change.pipeline, change.execution_id
            )))?;
        let var = |name: &str| {
            out.pipeline_execution()
                .map(|e| e.variables())
                .unwrap_or_default()
                .iter()
                .find(|v| v.name() == Some(name))
                .and_then(|v| v.resolved_value())
                .map(str::to_owned)
        };
        // The variables' defaults (`(none)`) are not names: such an execution was started by
        // the pipeline's creation or the console, not by berth.
        let (Some(service), Some(release)) = (var(VAR_SERVICE), var(VAR_RELEASE)) else {
            return Ok(None);
        };
        if !is_valid_name(&service) || !is_valid_name(&release) {
            return Ok(None);
        }
        let rollback = var(VAR_ROLLBACK).as_deref() == Some("true");
        Ok(Some(Execution {
            service,
            release,
            rollback,
        }))
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
                let seconds = history::seconds_since_start(r, execution_id, now);
                match history::apply(r, execution_id, status, exec.rollback, &at) {
                    applied @ (Applied::Unrelated | Applied::Stale) => {
                        Change::Keep((applied, seconds))
                    }
                    applied => Change::Write((applied, seconds)),
                }
            })
            .await?;
        let ((applied, seconds), record) = match updated {
            Updated::Written { value, record } => (value, record),
            Updated::Kept {
                value: (applied, _),
                record,
            } => {
                if applied == Applied::Stale && status == ReleaseStatus::Succeeded {
                    // A repeat of a success whose index entries may not have been written.
                    self.index_success(&record, execution_id).await?;
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
                return Ok(ignored(reason));
            }
            Updated::Missing => {
                return Ok(ignored(format!(
                    "no release record for {}/{}",
                    exec.service, exec.release
                )));
            }
        };
        let mut record = record;
        if status == ReleaseStatus::Succeeded {
            self.index_success(&record, execution_id).await?;
        }
        if applied == Applied::Own && status.is_final() && status != ReleaseStatus::Succeeded {
            self.stop_abandoned_migration(&mut record, execution_id, status, now)
                .await;
        }
        let mut deregistered = Vec::new();
        if applied == Applied::Own
            && matches!(status, ReleaseStatus::Failed | ReleaseStatus::Stopped)
        {
            deregistered = self.deregister_failed(&mut record, now).await;
        }
        let notified = if status.is_final() {
            self.finished(exec, status, seconds, &record, execution_id)
                .await
        } else {
            false
        };
        Ok(Output::Recorded {
            service: exec.service.clone(),
            release: exec.release.clone(),
            status,
            rollback: exec.rollback,
            migration: record.migration.as_ref().map(|m| m.outcome.clone()),
            duration_seconds: seconds.filter(|_| status.is_final()),
            images: record.images.clone(),
            notified,
            deregistered,
        })
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
        let migration = record.migration.as_ref().map(|m| m.outcome.as_str());
        let text = notify::message(&notify::Finished {
            service: &exec.service,
            release: &exec.release,
            status,
            rollback: exec.rollback,
            images: &record.images,
            migration,
            seconds,
            pipeline_execution_id: execution_id,
        });
        let mut notified = false;
        if self.notifier.enabled() {
            match self.notifier.send(&text).await {
                Ok(()) => notified = true,
                Err(reason) => {
                    tracing::warn!(%reason, service = %exec.service, release = %exec.release, "release notification not delivered")
                }
            }
        }
        tracing::info!(
            service = %exec.service,
            release = %exec.release,
            status = status.name(),
            rollback = exec.rollback,
            images = ?record.images,
            migration = migration.unwrap_or("none"),
            duration_seconds = seconds,
            pipeline_execution_id = %execution_id,
            "release finished"
        );
        notified
    }
}

fn ignored(reason: String) -> Output {
    tracing::info!(%reason, "event ignored");
    Output::Ignored { reason }
}
