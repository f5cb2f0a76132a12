//! CodePipeline Lambda jobs (the Release stage's `Scan`, `Migrate` and, for services ECS deploys
//! itself, `Deploy` actions): the one shape every such action has ([`Action`], [`handle`]), the
//! input artifact, read with the job's own credentials, and the one job result each invocation
//! reports.
//!
//! Report-or-retry: every problem that can be described to the pipeline becomes a
//! `PutJobFailureResult`; only a failure to report at all is an `Err` (Lambda then retries).
//! A job that no longer takes a result is done, not a fault.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_lambda_events::event::codepipeline_job::{CodePipelineJob, CodePipelineJobEvent};
use aws_sdk_codepipeline::types::{ExecutionDetails, FailureDetails, FailureType};
use serde::Serialize;
use tracing::Instrument;

use crate::error::{Error, Result};
use crate::render::{self, ArtifactRelease};
use crate::store::{Bucket, Read};

pub use berth_core::job::{MAX_MESSAGE_CHARS, MAX_SUMMARY_CHARS};

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

/// One CodePipeline Lambda action of the Release stage, as its function's `Context` implements
/// it: the action decides one invocation's job result; [`handle`] does the rest, the same for
/// every action (read the payload, fail a job that cannot be read, report exactly one result).
pub trait Action: Sync {
    /// The function's name, as a failure names who could not read its job (`migrate`).
    const FUNCTION: &'static str;

    /// The client job results are reported with.
    fn codepipeline(&self) -> &aws_sdk_codepipeline::Client;

    /// This invocation's job result (decided, not yet reported). `now` is the invocation's
    /// start: continuation deadlines count from it.
    fn run(
        &self,
        job: &CodePipelineJob,
        job_id: &str,
        now: SystemTime,
    ) -> impl Future<Output = JobResult>;
}

/// A job action's answer to Lambda, once the result was reported (CodePipeline reads only the
/// reported result; the answer is for logs and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Output {
    Continue {
        summary: String,
        /// What the console links the action's run to (the migration task's ARN).
        #[serde(skip_serializing_if = "Option::is_none")]
        external_id: Option<String>,
    },
    Success {
        variables: BTreeMap<String, String>,
    },
    Failure {
        message: String,
    },
    /// Not a CodePipeline job: nothing to report to.
    Ignored {
        reason: String,
    },
}

impl From<JobResult> for Output {
    fn from(result: JobResult) -> Self {
        match result {
            JobResult::Continue {
                summary,
                external_id,
                ..
            } => Output::Continue {
                summary,
                external_id,
            },
            JobResult::Success { variables, .. } => Output::Success { variables },
            JobResult::Failure { message, .. } => Output::Failure { message },
        }
    }
}

/// The Lambda handler of every job action: reads the payload (a payload that names its job but
/// cannot be read fails that job with the reason), then [`on_job`].
pub async fn handle<A: Action>(action: &A, payload: serde_json::Value) -> Result<Output> {
    match receive(action.codepipeline(), A::FUNCTION, payload).await? {
        Received::Job(job) => on_job(action, *job).await,
        Received::Failed(message) => Ok(Output::Failure { message }),
        Received::Ignored(reason) => Ok(Output::Ignored { reason }),
    }
}

/// One job: the action's result, reported. `Ok` means a result was reported (or the job no
/// longer takes one); `Err` only when reporting failed, so Lambda retries the invocation.
pub async fn on_job<A: Action>(action: &A, event: CodePipelineJobEvent) -> Result<Output> {
    let job = event.code_pipeline_job;
    let job_id = id_of(&job)?;
    let span = tracing::info_span!("job", job_id = %job_id);
    async {
        let result = Box::pin(action.run(&job, &job_id, SystemTime::now())).await;
        report(action.codepipeline(), &job_id, &result).await?;
        Ok(Output::from(result))
    }
    .instrument(span)
    .await
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
    let Some(credentials) = artifact_credentials(job) else {
        return Err(unusable("the job carries no artifact credentials".into()));
    };
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

/// The job's own short-lived credentials for its artifacts ("The CodePipeline role uses a JSON
/// event to pass temporary credentials to Lambda in the artifactCredentials field" — Lambda
/// invoke action reference).
pub fn artifact_credentials(job: &CodePipelineJob) -> Option<Credentials> {
    let creds = &job.data.artifact_credentials;
    let (Some(ak), Some(sk)) = (creds.access_key_id.clone(), creds.secret_access_key.clone())
    else {
        return None;
    };
    Some(Credentials::new(
        ak,
        sk,
        creds.session_token.clone(),
        None,
        "codepipeline-job",
    ))
}

/// An S3 client that uses the job's artifact credentials instead of the function's role.
pub fn artifact_s3_client(config: &SdkConfig, creds: Credentials) -> aws_sdk_s3::Client {
    let config = config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    crate::aws::s3_client(&config)
}
