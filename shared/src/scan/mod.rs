//! `scan-gate`: the pipeline's Scan action, first in the Release stage of a service with a
//! scan policy (registry `scan`). CodePipeline job in, exactly one job result out. Before
//! anything migrates or deploys, it waits for ECR's vulnerability scan of every image the
//! release pins and fails the job if a finding at a blocked severity is not ignored.
//!
//! - `ecr`: the ECR calls. `target`: what is scanned for a pinned image (an image index: its
//!   entry for the task's `runtimePlatform`). `gate`: one invocation's look at every image.
//! - The decisions, what they say and the continuation token are `berth_core::scan` (pure),
//!   re-exported here.
//!
//! The policy comes from the release itself (`release.json`, rendered from the registry by
//! on-manifest), like the migration: the gate's role reads no registry.

mod ecr;
mod gate;
mod target;

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lambda_events::event::codepipeline_job::{CodePipelineJob, CodePipelineJobEvent};
use lambda_runtime::LambdaEvent;
use tracing::Instrument;

use crate::aws::Clients;
use crate::error::{Error, Result};
pub use crate::jobs::Output;
use crate::jobs::{self, InputError, JobResult};
use crate::migrate::parse_user_parameters;
use crate::platform::Platform;
use crate::record::epoch_seconds;
use crate::records::Records;
use crate::render;
use crate::settings::Settings;
use crate::store::Bucket;

pub use berth_core::scan::*;
pub use ecr::{describe, shown};
pub use target::target;

/// How long a job whose input artifact cannot be read (for a passing reason) keeps asking,
/// before the release and its policy are known.
const UNREAD_RETRY_SECONDS: u64 = 900;

/// Everything the gate needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub clients: Clients,
    pub records: Records,
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        Ok(Self::new(
            Clients::for_lambda(&[])?,
            &settings.release_bucket,
        ))
    }

    pub fn new(clients: Clients, release_bucket: &str) -> Self {
        let bucket = Bucket::new(clients.s3.clone(), release_bucket);
        Self {
            clients,
            records: Records::new(bucket),
        }
    }

    /// The Lambda handler ([`jobs::handle`]).
    pub async fn handle(&self, event: LambdaEvent<serde_json::Value>) -> Result<Output> {
        jobs::handle(self, event.payload).await
    }

    /// One job ([`jobs::on_job`]).
    pub async fn on_job(&self, event: CodePipelineJobEvent) -> Result<Output> {
        jobs::on_job(self, event).await
    }
}

impl jobs::Action for Context {
    const FUNCTION: &'static str = "scan-gate";

    fn codepipeline(&self) -> &aws_sdk_codepipeline::Client {
        &self.clients.codepipeline
    }

    async fn run(&self, job: &CodePipelineJob, job_id: &str, now: SystemTime) -> JobResult {
        let raw = job
            .data
            .action_configuration
            .configuration
            .user_parameters
            .as_deref();
        let params = match parse_user_parameters(raw) {
            Ok(p) => p,
            Err(message) => return jobs::failure(message, None),
        };
        if params.rollback {
            tracing::info!("rollback execution: the scan gate passes");
            return skipped(
                "rollback execution (its images were scanned when they were first released)",
            );
        }
        let progress = match job.data.continuation_token.as_deref() {
            Some(raw) if !raw.is_empty() => match Progress::decode(raw) {
                Ok(p) => p,
                Err(message) => return jobs::failure(message, None),
            },
            _ => Progress::first(job_id, epoch_seconds(now)),
        };
        let input = match jobs::read_input(&self.clients.config, job, "Scan").await {
            Ok(input) => input,
            Err(InputError::Unusable(message)) => return jobs::failure(message, None),
            Err(InputError::Fault(e)) => return retry_unread(&progress, e, now),
        };
        if let Err(message) = params.check_release(&input.release.release) {
            return jobs::failure(message, None);
        }
        let release = &input.release;
        let runs_on = runs_on(&input.zip);
        let span =
            tracing::info_span!("release", service = %release.service, release = %release.release);
        self.check(release, &runs_on, progress, now)
            .instrument(span)
            .await
    }
}

/// The platform the release's tasks run on: its task definition's `runtimePlatform`, as
/// `taskdef.json` in the artifact has it (an image index is judged by its entry for it).
fn runs_on(zip: &[u8]) -> Result<Platform, String> {
    let taskdef = render::read_artifact_file(zip, render::TASKDEF_FILE)?;
    let taskdef: serde_json::Value =
        serde_json::from_slice(&taskdef).map_err(|e| format!("taskdef.json: {e}"))?;
    Platform::of_task_definition(&taskdef)
}

/// The gate's success without judging anything.
fn skipped(why: &str) -> JobResult {
    JobResult::Success {
        summary: format!("scan skipped: {why}"),
        variables: BTreeMap::from([("SCAN".into(), "skipped".into())]),
        external_id: None,
    }
}

/// The input artifact could not be read for a passing reason: ask again, for a while.
fn retry_unread(progress: &Progress, e: Error, now: SystemTime) -> JobResult {
    let now_epoch = epoch_seconds(now);
    if !e.is_transient() || now_epoch >= progress.started + UNREAD_RETRY_SECONDS {
        return jobs::failure(format!("the input artifact could not be read: {e}"), None);
    }
    tracing::warn!(error = %e, "input artifact not read; asking again on the next invocation");
    JobResult::Continue {
        token: progress.next(),
        summary: format!("waiting to read the input artifact: {e}"),
        external_id: None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::ArtifactRelease;

    #[test]
    fn the_platform_judged_is_the_runtime_platform_of_the_artifact_s_task_definition() {
        let release: ArtifactRelease = serde_json::from_value(json!({
            "schema": "berth/artifact/v1", "service": "web", "release": "v1", "task_family": "web",
            "manifest": {"bucket": "rel", "key": "manifests/web/v1.json", "version_id": "m1"},
            "images": {}, "rendered_at": "2026-11-01T00:00:00Z"
        }))
        .unwrap();
        let zip = |td: serde_json::Value| {
            render::zip_artifact(&td, "version: 0.0\n", &json!({}), &release).unwrap()
        };
        let arm64 = json!({"family": "web",
            "runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}});
        assert_eq!(runs_on(&zip(arm64)), Ok(Platform::new("linux", "arm64")));
        assert_eq!(
            runs_on(&zip(json!({"family": "web"}))),
            Ok(Platform::new("linux", "amd64"))
        );
        assert!(runs_on(b"not a zip").is_err());
    }
}
