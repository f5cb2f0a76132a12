//! CodePipeline Lambda jobs (the Release stage's `Scan` and `Migrate` actions): the input
//! artifact, read with the job's own credentials, and the one job result each invocation
//! reports.
//!
//! Report-or-retry: every problem that can be described to the pipeline becomes a
//! `PutJobFailureResult`; only a failure to report at all is an `Err` (Lambda then retries).
//! A job that no longer takes a result is done, not a fault.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};

use crate::error::{Error, Result};
use crate::render::{self, ArtifactRelease};
use crate::store::{Bucket, Read};

/// CodePipeline's limit on a failure message (FailureDetails, `message`: "Length Constraints:
/// Minimum length of 1. Maximum length of 5000.").
pub const MAX_MESSAGE_CHARS: usize = 5000;
/// CodePipeline's limit on an execution summary (ExecutionDetails, `summary`: "Maximum length of
/// 2048").
pub const MAX_SUMMARY_CHARS: usize = 2048;

/// The job result to report. `external_id` is what the console links the action's run to (the
/// migration task's ARN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobResult {
    /// Not done yet: CodePipeline invokes the action again with `token`.
    Continue {
        token: String,
        summary: String,
        external_id: Option<String>,
    },
    Success {
        summary: String,
        variables: BTreeMap<String, String>,
        external_id: Option<String>,
    },
    Failure {
        message: String,
        external_id: Option<String>,
    },
}

/// What a Lambda action's invocation carries.
#[derive(Debug)]
pub enum Received {
    Job(Box<aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent>),
    /// Not a job event, but it named its job, which was failed with this reason rather than
    /// left waiting for the action's timeout.
    Failed(String),
    /// Not a job event and no job to report to: this reason.
    Ignored(String),
}

/// Reads a Lambda action's payload; `function` names who could not read it, in the failure.
pub async fn receive(
    client: &aws_sdk_codepipeline::Client,
    function: &str,
    payload: serde_json::Value,
) -> Result<Received> {
    let job_id = payload["CodePipeline.job"]["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let reason = match crate::invocation::event_of(payload, "a CodePipeline job") {
        Ok(job) => return Ok(Received::Job(Box::new(job))),
        Err(reason) => reason,
    };
    let Some(id) = job_id else {
        return Ok(Received::Ignored(reason));
    };
    let message = format!("berth {function} cannot read its job: {reason}");
    report(client, &id, &failure(message, None)).await?;
    Ok(Received::Failed(reason))
}

/// The job's id: without one nothing can be reported, a fault of the event, not of the job.
pub fn id_of(job: &CodePipelineJob) -> Result<String> {
    job.id.clone().filter(|id| !id.is_empty()).ok_or_else(|| {
        Error::Config("CodePipeline job event has no job id; nothing can be reported".into())
    })
}

/// A job failure with `message`.
pub fn failure(message: String, external_id: Option<String>) -> JobResult {
    JobResult::Failure {
        message,
        external_id,
    }
}

/// Reports `result` for job `job_id`. A job that no longer takes results (already reported by
/// an earlier delivery of this invocation, or its execution was stopped) answers
/// InvalidJobStateException or JobNotFoundException: that is done, not a fault to retry.
pub async fn report(
    cp: &aws_sdk_codepipeline::Client,
    job_id: &str,
    result: &JobResult,
) -> Result<()> {
    match send(cp, job_id, result).await {
        Err(Error::Aws { action, source, .. }) if is_invalid_job_state(source.as_ref()) => {
            tracing::info!(%job_id, %action, "the job no longer takes a result (already reported, or its execution ended); nothing to do");
            Ok(())
        }
        other => other,
    }
}

async fn send(cp: &aws_sdk_codepipeline::Client, job_id: &str, result: &JobResult) -> Result<()> {
    match result {
        JobResult::Continue {
            token,
            summary,
            external_id,
        } => {
            cp.put_job_success_result()
                .job_id(job_id)
                .continuation_token(token)
                .execution_details(details(summary, external_id.as_deref()))
                .send()
                .await
                .map_err(Error::sdk("codepipeline:PutJobSuccessResult"))?;
        }
        JobResult::Success {
            summary,
            variables,
            external_id,
        } => {
            let mut req = cp
                .put_job_success_result()
                .job_id(job_id)
                .execution_details(details(summary, external_id.as_deref()));
            for (k, v) in variables {
                req = req.output_variables(k, v);
            }
            req.send()
                .await
                .map_err(Error::sdk("codepipeline:PutJobSuccessResult"))?;
        }
        JobResult::Failure {
            message,
            external_id,
        } => {
            let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
            let failure = FailureDetails::builder()
                .r#type(FailureType::JobFailed)
                .message(message)
                .set_external_execution_id(external_id.clone())
                .build()
                .map_err(|e| Error::Corrupt(format!("failure details: {e}")))?;
            cp.put_job_failure_result()
                .job_id(job_id)
                .failure_details(failure)
                .send()
                .await
                .map_err(Error::sdk("codepipeline:PutJobFailureResult"))?;
        }
    }
    Ok(())
}

fn is_invalid_job_state(source: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    use aws_sdk_codepipeline::error::{ProvideErrorMetadata, SdkError};
    use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultError;
    use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultError;
    type Raw = aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    let code = if let Some(e) = source.downcast_ref::<SdkError<PutJobSuccessResultError, Raw>>() {
        e.code()
    } else if let Some(e) = source.downcast_ref::<SdkError<PutJobFailureResultError, Raw>>() {
        e.code()
    } else {
        None
    };
    // "The job was specified in an invalid format or cannot be found" (JobNotFoundException)
    // after a stop-and-abandon or the 24-hour timeout: the job is over either way.
    matches!(
        code,
        Some("InvalidJobStateException" | "JobNotFoundException")
    )
}

fn details(summary: &str, external_id: Option<&str>) -> ExecutionDetails {
    ExecutionDetails::builder()
        .summary(summary.chars().take(MAX_SUMMARY_CHARS).collect::<String>())
        .set_external_execution_id(external_id.map(str::to_owned))
        .build()
}

/// The release in a job's input artifact: `release.json`, and the zip for the other files.
#[derive(Debug, Clone)]
pub struct Input {
    pub release: ArtifactRelease,
    pub zip: Vec<u8>,
}

/// Why a job's input artifact could not be read.
#[derive(Debug)]
pub enum InputError {
    /// A problem to report as the job's failure (no artifact, not a berth artifact).
    Unusable(String),
    /// An AWS fault reading it (transient ones may be asked again through a token).
    Fault(Error),
}

/// Reads the input artifact of `action` with the job's own short-lived credentials.
pub async fn read_input(
    config: &SdkConfig,
    job: &CodePipelineJob,
    action: &str,
) -> std::result::Result<Input, InputError> {
    let unusable = |m: String| InputError::Unusable(m);
    let input = job
        .data
        .input_artifacts
        .first()
        .ok_or_else(|| unusable(format!("the {action} action has no input artifact")))?;
    let loc = &input.location.s3_location;
    let (Some(bucket), Some(key)) = (loc.bucket_name.as_deref(), loc.object_key.as_deref()) else {
        return Err(unusable("the input artifact has no S3 location".into()));
    };
    let creds = &job.data.artifact_credentials;
    let (Some(ak), Some(sk)) = (creds.access_key_id.clone(), creds.secret_access_key.clone())
    else {
        return Err(unusable("the job carries no artifact credentials".into()));
    };
    let credentials = Credentials::new(
        ak,
        sk,
        creds.session_token.clone(),
        None,
        "codepipeline-job",
    );
    let store = Bucket::new(artifact_s3_client(config, credentials), bucket);
    let obj = match store.get(key, None, None).await {
        Ok(Read::Found(obj)) => obj,
        Ok(_) => {
            return Err(unusable(format!(
                "input artifact s3://{bucket}/{key} does not exist"
            )));
        }
        Err(e) => return Err(InputError::Fault(e)),
    };
    let release: ArtifactRelease = render::read_artifact_file(&obj.body, render::RELEASE_FILE)
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("release.json: {e}")))
        .map_err(|m| unusable(format!("the input artifact is not a berth artifact: {m}")))?;
    Ok(Input {
        release,
        zip: obj.body,
    })
}

/// An S3 client that uses the job's artifact credentials instead of the function's role.
pub fn artifact_s3_client(config: &SdkConfig, creds: Credentials) -> aws_sdk_s3::Client {
    let config = config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    crate::aws::s3_client(&config)
}
