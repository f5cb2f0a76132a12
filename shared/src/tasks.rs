//! Tasks berth starts by itself, outside any service: the migration task and `berth run`'s
//! one-off task. One `RunTask` shape for both — FARGATE, awsvpc, one task, the command
//! optionally replaced on one container — and one reading of `DescribeTasks`.

use aws_sdk_ecs::error::SdkError;
use aws_sdk_ecs::operation::run_task::{RunTaskError, RunTaskOutput};
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, LaunchType, NetworkConfiguration,
    TaskOverride,
};

use crate::error::{Error, Result};
use crate::migration::{ContainerState, TaskState};
use crate::registry::Network;

/// One task to start.
#[derive(Debug, Clone, Copy)]
pub struct OneTask<'a> {
    pub cluster: &'a str,
    pub task_definition: &'a str,
    pub network: &'a Network,
    /// The container whose command `command` replaces (ignored without a command).
    pub container: &'a str,
    pub command: Option<&'a [String]>,
    /// RunTask's `startedBy` (up to 128 characters), to find the task again.
    pub started_by: &'a str,
    /// RunTask's idempotency token, when a repeated request must find the task it started.
    pub client_token: Option<&'a str>,
}

/// What `RunTask` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    Task(String),
    /// An earlier `RunTask` with the same client token already started this task.
    Adopted(String),
    /// No task: the reasons of RunTask's `failures` ("Any failures associated with the call",
    /// RunTask API reference), which come with an HTTP 200 answer, not as an error.
    Refused(Vec<String>),
}

/// Starts the task: launch type FARGATE, network mode awsvpc in `network`'s subnets and
/// security groups, one task.
pub async fn run(ecs: &aws_sdk_ecs::Client, task: &OneTask<'_>) -> Result<Started> {
    let built = |e: aws_sdk_ecs::error::BuildError| Error::Corrupt(format!("RunTask request: {e}"));
    let public_ip = if task.network.assign_public_ip {
        AssignPublicIp::Enabled
    } else {
        AssignPublicIp::Disabled
    };
    let network = AwsVpcConfiguration::builder()
        .set_subnets(Some(task.network.subnets.clone()))
        .set_security_groups(Some(task.network.security_groups.clone()))
        .assign_public_ip(public_ip)
        .build()
        .map_err(built)?;
    let overrides = task.command.map(|command| {
        let container = ContainerOverride::builder()
            .name(task.container)
            .set_command(Some(command.to_vec()))
            .build();
        TaskOverride::builder()
            .container_overrides(container)
            .build()
    });
    let out = ecs
        .run_task()
        .cluster(task.cluster)
        .task_definition(task.task_definition)
        .launch_type(LaunchType::Fargate)
        .count(1)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(network)
                .build(),
        )
        .set_overrides(overrides)
        .started_by(task.started_by)
        .set_client_token(task.client_token.map(str::to_owned))
        .send()
        .await;
    let action = || format!("ecs:RunTask in cluster {}", task.cluster);
    match out {
        Ok(out) => Ok(started(&out)),
        // "The provided clientToken is already in use with a different RunTask request. The
        // resourceIds are the existing task ARNs which are already associated with the
        // clientToken." (ConflictException, ECS API reference): that task is this request's.
        Err(SdkError::ServiceError(se)) => {
            if let RunTaskError::ConflictException(c) = se.err()
                && let Some(arn) = c.resource_ids().first()
            {
                return Ok(Started::Adopted(arn.clone()));
            }
            Err(Error::sdk(action())(SdkError::ServiceError(se)))
        }
        Err(e) => Err(Error::sdk(action())(e)),
    }
}

/// The task `RunTask` started, or the reasons it gave for starting none.
fn started(out: &RunTaskOutput) -> Started {
    if let Some(arn) = out.tasks().first().and_then(|t| t.task_arn()) {
        return Started::Task(arn.to_owned());
    }
    let reasons: Vec<String> = out
        .failures()
        .iter()
        .map(|f| {
            format!(
                "{} ({})",
                f.reason().unwrap_or("unknown reason"),
                f.detail().or(f.arn()).unwrap_or("-")
            )
        })
        .collect();
    if reasons.is_empty() {
        return Started::Refused(vec!["no task and no reason returned".to_owned()]);
    }
    Started::Refused(reasons)
}

/// The task's state, or `None` when ECS does not return it (eventual consistency right after
/// RunTask; a stopped task is forgotten after a while).
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
) -> Result<Option<TaskState>> {
    let out = ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(task_arn)
        .send()
        .await
        .map_err(Error::sdk(format!("ecs:DescribeTasks {task_arn}")))?;
    Ok(out.tasks().first().map(task_state))
}

fn task_state(t: &aws_sdk_ecs::types::Task) -> TaskState {
    TaskState {
        last_status: t.last_status().unwrap_or_default().to_owned(),
        stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
        stopped_reason: t.stopped_reason().map(str::to_owned),
        containers: t
            .containers()
            .iter()
            .map(|c| ContainerState {
                name: c.name().unwrap_or_default().to_owned(),
                exit_code: c.exit_code(),
                reason: c.reason().map(str::to_owned),
            })
            .collect(),
    }
}
