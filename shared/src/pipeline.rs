//! Starting a pipeline execution pinned to one artifact version (docs/design/contract.md §5).

use aws_sdk_codepipeline::types::{PipelineVariable, SourceRevisionOverride, SourceRevisionType};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::keys::is_valid_name;

/// Name of the pipeline's source action the revision override applies to.
pub const SOURCE_ACTION: &str = "Source";

/// The pipeline variables berth sets on every execution it starts (docs/design/contract.md
/// §5). An execution without them was not started by berth.
pub const VAR_SERVICE: &str = "BERTH_SERVICE";
pub const VAR_RELEASE: &str = "BERTH_RELEASE";
/// `"true"` when the execution redeploys an earlier artifact (no migration).
pub const VAR_ROLLBACK: &str = "BERTH_ROLLBACK";

/// What one execution deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution<'a> {
    pub pipeline: &'a str,
    pub service: &'a str,
    pub release: &'a str,
    pub artifact_version_id: &'a str,
    pub rollback: bool,
    /// Same token, same execution: CodePipeline starts nothing new for a repeated request.
    pub client_request_token: &'a str,
}

/// Starts the execution and returns its id.
pub async fn start(client: &aws_sdk_codepipeline::Client, exec: &Execution<'_>) -> Result<String> {
    let built = |e: aws_sdk_codepipeline::error::BuildError| {
        Error::Corrupt(format!("building StartPipelineExecution request: {e}"))
    };
    let revision = SourceRevisionOverride::builder()
        .action_name(SOURCE_ACTION)
        .revision_type(SourceRevisionType::S3ObjectVersionId)
        .revision_value(exec.artifact_version_id)
        .build()
        .map_err(built)?;
    let mut req = client
        .start_pipeline_execution()
        .name(exec.pipeline)
        .source_revisions(revision)
        .client_request_token(exec.client_request_token);
    for (name, value) in [
        (VAR_SERVICE, exec.service),
        (VAR_RELEASE, exec.release),
        (VAR_ROLLBACK, if exec.rollback { "true" } else { "false" }),
    ] {
        req = req.variables(
            PipelineVariable::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(built)?,
        );
    }
    let out = req.send().await.map_err(|e| {
        // "Your request cannot be handled because the pipeline is busy handling ongoing
        // activities. Try again later." (ConflictException) and "The pipeline has reached the
        // limit for concurrent pipeline executions." (StartPipelineExecution API reference):
        // waiting cures both.
        use aws_sdk_codepipeline::operation::start_pipeline_execution::StartPipelineExecutionError as E;
        let busy = matches!(
            e.as_service_error(),
            Some(E::ConflictException(_) | E::ConcurrentPipelineExecutionsLimitExceededException(_))
        );
        let action = format!("codepipeline:StartPipelineExecution {}", exec.pipeline);
        let err = Error::sdk(action)(e);
        if busy { err.transient() } else { err }
    })?;
    out.pipeline_execution_id.ok_or_else(|| {
        Error::Corrupt(format!(
            "codepipeline:StartPipelineExecution {} returned no execution id",
            exec.pipeline
        ))
    })
}

/// An execution berth started, as its variables name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub service: String,
    pub release: String,
    pub rollback: bool,
}

/// The berth variables of an execution, or `None` when berth did not start it.
pub async fn berth_execution(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    execution_id: &str,
) -> Result<Option<Started>> {
    let out = client
        .get_pipeline_execution()
        .pipeline_name(pipeline)
        .pipeline_execution_id(execution_id)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "codepipeline:GetPipelineExecution {pipeline} {execution_id}"
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
    // The variables' defaults (`(none)`) are not names: such an execution was started by the
    // pipeline's creation or the console, not by berth.
    let (Some(service), Some(release)) = (var(VAR_SERVICE), var(VAR_RELEASE)) else {
        return Ok(None);
    };
    if !is_valid_name(&service) || !is_valid_name(&release) {
        return Ok(None);
    }
    Ok(Some(Started {
        service,
        release,
        rollback: var(VAR_ROLLBACK).as_deref() == Some("true"),
    }))
}

/// Name of the pipeline's CodeDeploy action.
pub const DEPLOY_ACTION: &str = "Deploy";

/// The execution whose Deploy action runs CodeDeploy deployment `deployment_id`, from the
/// pipeline's state: the action's latest execution carries the deployment id as its
/// `externalExecutionId` ("The external ID of the run of the action", ActionExecution), and its
/// stage's latest execution names the pipeline execution. `None` when the pipeline no longer
/// shows that deployment in its Deploy action.
pub async fn deploying(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    deployment_id: &str,
) -> Result<Option<String>> {
    let state = client
        .get_pipeline_state()
        .name(pipeline)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "codepipeline:GetPipelineState {pipeline}"
        )))?;
    Ok(state
        .stage_states()
        .iter()
        .find(|stage| {
            stage.action_states().iter().any(|a| {
                a.action_name() == Some(DEPLOY_ACTION)
                    && a.latest_execution().and_then(|e| e.external_execution_id())
                        == Some(deployment_id)
            })
        })
        .and_then(|stage| stage.latest_execution())
        .map(|e| e.pipeline_execution_id().to_owned()))
}

/// The berth execution (id and variables) whose Deploy action runs `deployment_id`, if the
/// pipeline shows one.
pub async fn deployment_release(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    deployment_id: &str,
) -> Result<Option<(String, Started)>> {
    let Some(execution_id) = deploying(client, pipeline, deployment_id).await? else {
        return Ok(None);
    };
    Ok(berth_execution(client, pipeline, &execution_id)
        .await?
        .map(|started| (execution_id, started)))
}

/// The berth execution whose Deploy action follows ECS service deployment `arn` (services ECS
/// deploys itself, where Deploy is berth's deploy function). The action reports the
/// deployment's ARN as its external execution id once it has started it; until then (its
/// first reply) a Deploy action in progress with no id is taken to be the one deploying.
pub async fn native_deployment_release(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    arn: &str,
) -> Result<Option<(String, Started)>> {
    let state = client
        .get_pipeline_state()
        .name(pipeline)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "codepipeline:GetPipelineState {pipeline}"
        )))?;
    let deploys = |a: &aws_sdk_codepipeline::types::ActionState| {
        let Some(e) = a.latest_execution() else {
            return false;
        };
        match e.external_execution_id() {
            Some(id) => id == arn,
            None => {
                e.status() == Some(&aws_sdk_codepipeline::types::ActionExecutionStatus::InProgress)
            }
        }
    };
    let execution_id = state
        .stage_states()
        .iter()
        .find(|stage| {
            stage
                .action_states()
                .iter()
                .any(|a| a.action_name() == Some(DEPLOY_ACTION) && deploys(a))
        })
        .and_then(|stage| stage.latest_execution())
        .map(|e| e.pipeline_execution_id().to_owned());
    let Some(execution_id) = execution_id else {
        return Ok(None);
    };
    Ok(berth_execution(client, pipeline, &execution_id)
        .await?
        .map(|started| (execution_id, started)))
}

/// How many recent executions a resumed release looks through for the one its crashed
/// predecessor started.
const RESUME_LOOKBACK: i32 = 20;

/// The execution of `pipeline` already running (or run) on artifact version
/// `artifact_version_id`, among its recent executions. A release resumed after a crash looks
/// here before starting one: StartPipelineExecution's `clientRequestToken` is documented only as
/// "The system-generated unique ID used to identify a unique execution request", not as a
/// promise that a repeat starts nothing, so berth does not rely on it alone. For an S3 source,
/// an execution's source revision id is the object version id.
pub async fn find_execution(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
    artifact_version_id: &str,
) -> Result<Option<String>> {
    let out = client
        .list_pipeline_executions()
        .pipeline_name(pipeline)
        .max_results(RESUME_LOOKBACK)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "codepipeline:ListPipelineExecutions {pipeline}"
        )))?;
    Ok(out
        .pipeline_execution_summaries()
        .iter()
        .find(|e| {
            e.source_revisions().iter().any(|r| {
                r.action_name() == SOURCE_ACTION && r.revision_id() == Some(artifact_version_id)
            })
        })
        .and_then(|e| e.pipeline_execution_id())
        .map(str::to_owned))
}

/// A request token from the parts that identify a request: hex SHA-256, within CodePipeline's
/// `[a-zA-Z0-9-]{1,128}`.
pub fn request_token(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_distinct_and_valid() {
        let a = request_token(&["bucket", "manifests/web/v1.json", "v1"]);
        assert_eq!(a, request_token(&["bucket", "manifests/web/v1.json", "v1"]));
        assert_ne!(a, request_token(&["bucket", "manifests/web/v1.json", "v2"]));
        // Length-prefixed: moving a character between parts changes the token.
        assert_ne!(request_token(&["ab", "c"]), request_token(&["a", "bc"]));
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
