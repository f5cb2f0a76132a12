//! The Migrate job's inputs: its UserParameters and its input artifact.

use aws_config::SdkConfig;
use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use serde_json::Value;

pub use berth_core::job::{Parameters, USER_PARAMETERS, parse_user_parameters, started_by};

use super::{Halt, Step};
use crate::jobs::{self, InputError};
use crate::render::{self, ArtifactRelease};

/// The release in the input artifact: `release.json` and `taskdef.json`.
pub(super) struct Artifact {
    pub release: ArtifactRelease,
    pub zip: Vec<u8>,
}

impl Artifact {
    /// `taskdef.json`, read only when a task is to run.
    pub fn task_definition(&self) -> Step<Value> {
        render::read_artifact_file(&self.zip, render::TASKDEF_FILE)
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("taskdef.json: {e}")))
            .map_err(|m| {
                Halt::Report(format!(
                    "the input artifact has no usable task definition: {m}"
                ))
            })
    }
}

/// Reads the input artifact with the job's own short-lived credentials.
pub(super) async fn read_artifact(config: &SdkConfig, job: &CodePipelineJob) -> Step<Artifact> {
    match jobs::read_input(config, job, "Migrate").await {
        Ok(input) => Ok(Artifact {
            release: input.release,
            zip: input.zip,
        }),
        Err(InputError::Unusable(message)) => Err(Halt::Report(message)),
        Err(InputError::Fault(e)) => Err(Halt::Fault(e)),
    }
}
