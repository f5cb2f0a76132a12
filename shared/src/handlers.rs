//! Event in, outcome out: the body of each Lambda function, minus the runtime.
//!
//! Each returns `Ok` with a JSON summary for everything that was handled (including rejected
//! and ignored input) and `Err` only for faults a retry may cure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::s3::S3Event;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::history::{History, PipelineStateChange, Recorded};
use crate::images::Home;
use crate::notify::{self, Notifier};
use crate::push::{self, EcrImageAction, PushOutcome};
use crate::registry::Registry;
use crate::release::{self, Outcome, Releaser};
use crate::store::Bucket;

/// What the runtime tells an invocation about itself.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// ARN of the function being invoked; it names the account berth runs in.
    pub function_arn: String,
    /// When Lambda will stop this invocation.
    pub deadline: SystemTime,
}

impl Invocation {
    /// From the runtime's context values: the invoked ARN and the deadline in epoch millis.
    pub fn new(function_arn: impl Into<String>, deadline_epoch_ms: u64) -> Self {
        Self {
            function_arn: function_arn.into(),
            deadline: UNIX_EPOCH + Duration::from_millis(deadline_epoch_ms),
        }
    }

    /// The account and region of the function: `arn:aws:lambda:<region>:<account>:function:..`.
    pub fn home(&self, default_region: &str) -> Home {
        let mut parts = self.function_arn.split(':');
        let region = parts.nth(3).filter(|r| !r.is_empty());
        let account = parts.next().filter(|a| !a.is_empty());
        Home {
            account_id: account.unwrap_or_default().to_owned(),
            region: region.unwrap_or(default_region).to_owned(),
        }
    }
}

/// `on-manifest`: every manifest upload in an S3 notification.
pub async fn on_manifest(releaser: &Releaser, event: S3Event, inv: &Invocation) -> Result<Value> {
    let home = inv.home(releaser.clients.region());
    let mut results = Vec::new();
    let mut first_error: Option<Error> = None;
    for upload in release::uploads(&event) {
        let upload = match upload {
            Ok(u) => u,
            Err(reason) => {
                tracing::info!(%reason, "record ignored");
                results.push(json!({"outcome": "ignored", "reason": reason}));
                continue;
            }
        };
        let span = tracing::info_span!("manifest", key = %upload.key, version_id = upload.version_id.as_deref().unwrap_or("-"));
        let _guard = span.enter();
        // Boxed: the release future is large, and nesting it in the runtime's own futures
        // otherwise exceeds the compiler's layout depth in optimized builds.
        match Box::pin(releaser.release(&upload, &home, SystemTime::now(), inv.deadline)).await {
            Ok(outcome) => results.push(outcome_json(&outcome)),
            Err(e) => {
                tracing::error!(error = %e, "manifest could not be processed; the invocation will be retried");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(json!({ "results": results })),
    }
}

fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Started {
            service,
            release,
            artifact_version_id,
            pipeline_execution_id,
        } => json!({"outcome": "started", "service": service, "release": release,
                    "artifact_version_id": artifact_version_id, "pipeline_execution_id": pipeline_execution_id}),
        Outcome::Duplicate {
            service,
            release,
            pipeline_execution_id,
        } => {
            tracing::info!(%service, %release, %pipeline_execution_id, "repeated delivery; pipeline already started");
            json!({"outcome": "duplicate", "service": service, "release": release,
                   "pipeline_execution_id": pipeline_execution_id})
        }
        Outcome::Rejected {
            rejection_key,
            errors,
        } => json!({"outcome": "rejected", "rejection": rejection_key, "errors": errors}),
        Outcome::Ignored { reason } => {
            tracing::info!(%reason, "manifest ignored");
            json!({"outcome": "ignored", "reason": reason})
        }
    }
}

/// `on-image-push`: an EventBridge "ECR Image Action" event.
pub async fn on_image_push(
    registry: &Registry,
    bucket: &Bucket,
    event: EventBridgeEvent<Value>,
    inv: &Invocation,
    default_region: &str,
) -> Result<Value> {
    let ignored = |reason: String| {
        tracing::info!(%reason, "event ignored");
        Ok(json!({"results": [{"outcome": "ignored", "reason": reason}]}))
    };
    if event.source != "aws.ecr" || event.detail_type != "ECR Image Action" {
        return ignored(format!(
            "not an ECR image action ({} / {})",
            event.source, event.detail_type
        ));
    }
    let detail: EcrImageAction = match serde_json::from_value(event.detail) {
        Ok(d) => d,
        Err(e) => return ignored(format!("unreadable ECR event detail: {e}")),
    };
    // The pushed repository lives in the event's account and region.
    let mut home = inv.home(default_region);
    if let Some(account) = event.account.filter(|a| !a.is_empty()) {
        home.account_id = account;
    }
    if let Some(region) = event.region.filter(|r| !r.is_empty()) {
        home.region = region;
    }
    let outcomes = push::handle_push(registry, bucket, &home, &detail).await?;
    let results: Vec<Value> = outcomes
        .iter()
        .map(|o| match o {
            PushOutcome::Written {
                service,
                release,
                key,
                version_id,
            } => json!({"outcome": "written", "service": service, "release": release, "key": key, "version_id": version_id}),
            PushOutcome::Exists { service, key } => {
                json!({"outcome": "exists", "service": service, "key": key})
            }
            PushOutcome::Ignored { reason } => {
                tracing::info!(%reason, repository = %detail.repository_name, tag = detail.image_tag.as_deref().unwrap_or("-"), "push ignored");
                json!({"outcome": "ignored", "reason": reason})
            }
        })
        .collect();
    Ok(json!({ "results": results }))
}

/// `on-pipeline-event`: an EventBridge "CodePipeline Pipeline Execution State Change" event.
/// Logs one line per finished release (service, release, images, migration, result, duration).
pub async fn on_pipeline_event(
    history: &History,
    notifier: &Notifier,
    event: EventBridgeEvent<Value>,
) -> Result<Value> {
    if event.source != "aws.codepipeline"
        || event.detail_type != "CodePipeline Pipeline Execution State Change"
    {
        let reason = format!(
            "not a pipeline execution state change ({} / {})",
            event.source, event.detail_type
        );
        tracing::info!(%reason, "event ignored");
        return Ok(json!({"outcome": "ignored", "reason": reason}));
    }
    let change: PipelineStateChange = match serde_json::from_value(event.detail) {
        Ok(c) => c,
        Err(e) => {
            let reason = format!("unreadable state change detail: {e}");
            tracing::info!(%reason, "event ignored");
            return Ok(json!({"outcome": "ignored", "reason": reason}));
        }
    };
    match Box::pin(history.record_state(&change, SystemTime::now())).await? {
        Recorded::Ignored { reason } => {
            tracing::info!(%reason, pipeline = %change.pipeline, execution_id = %change.execution_id, "state change ignored");
            Ok(json!({"outcome": "ignored", "reason": reason}))
        }
        Recorded::Release {
            service,
            release,
            status,
            rollback,
            finished,
            record,
        } => {
            let migration = record.migration.as_ref().map(|m| m.outcome.clone());
            let seconds = finished.as_ref().and_then(|f| f.seconds);
            let mut notified = false;
            if finished.is_some() {
                let text = notify::message(&notify::Finished {
                    service: &service,
                    release: &release,
                    status,
                    rollback,
                    images: &record.images,
                    migration: migration.as_deref(),
                    seconds,
                    pipeline_execution_id: &change.execution_id,
                });
                if notifier.enabled() {
                    match notifier.send(&text).await {
                        Ok(()) => notified = true,
                        Err(reason) => {
                            tracing::warn!(%reason, %service, %release, "release notification not delivered")
                        }
                    }
                }
                tracing::info!(
                    %service, %release, status = ?status, rollback, images = ?record.images,
                    migration = migration.as_deref().unwrap_or("none"),
                    duration_seconds = seconds,
                    pipeline_execution_id = %change.execution_id,
                    "release finished"
                );
            }
            Ok(
                json!({"outcome": "recorded", "service": service, "release": release,
                      "status": status, "rollback": rollback, "migration": migration,
                      "duration_seconds": seconds, "images": record.images, "notified": notified}),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_the_function_arn() {
        let inv = Invocation::new(
            "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-on-manifest",
            0,
        );
        assert_eq!(
            inv.home("us-east-1"),
            Home {
                account_id: "123456789012".into(),
                region: "ap-northeast-1".into()
            }
        );
        let bare = Invocation::new("", 1_000);
        assert_eq!(bare.home("eu-west-1").region, "eu-west-1");
        assert_eq!(bare.deadline, UNIX_EPOCH + Duration::from_secs(1));
    }
}
