//! The ECS calls of the migration step, and what it reads from a task definition.

use aws_sdk_ecs::error::SdkError;
use aws_sdk_ecs::operation::run_task::RunTaskError;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, LaunchType, NetworkConfiguration,
    TaskOverride,
};
use serde_json::Value;

use super::job::started_by;
use crate::error::{Error, Result};
use crate::manifest::MigrationPlan;
use crate::migration::{ContainerState, TaskState};
use crate::pipeline::request_token;

/// What `RunTask` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Placement {
    Started(String),
    /// An earlier `RunTask` with this job's client token already started this task.
    Adopted(String),
    /// ECS cannot place the task now (Fargate capacity); asking again later may.
    Later(String),
    /// ECS refused to place the task (bad subnet, ...): the reasons it gave.
    Refused(String),
}

/// RunTask's failure reason when Fargate has no capacity: "Capacity is unavailable at this
/// time. Please try again later or in a different availability zone" (AWS re:Post knowledge
/// center, ecs-fargate-runtask-capacity: "wait before you retry the RunTask API").
const NO_CAPACITY: &str = "Capacity is unavailable";

/// Registers `taskdef.json` exactly as the Deploy action will, and returns the revision ARN.
pub(super) async fn register(ecs: &aws_sdk_ecs::Client, taskdef: &Value) -> Result<String> {
    let family = taskdef
        .get("family")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let body =
        serde_json::to_vec(taskdef).map_err(|e| Error::Corrupt(format!("taskdef.json: {e}")))?;
    crate::register::register(ecs, family, body).await
}

/// Runs the migration task: FARGATE, awsvpc, no public IP, the command overridden on the
/// migration container, idempotent per job through the client token.
pub(super) async fn run_task(
    ecs: &aws_sdk_ecs::Client,
    plan: &MigrationPlan,
    release: &str,
    task_definition_arn: &str,
    (job, run_attempt): (&str, u32),
) -> Result<Placement> {
    let built = |e: aws_sdk_ecs::error::BuildError| Error::Corrupt(format!("RunTask request: {e}"));
    let network = AwsVpcConfiguration::builder()
        .set_subnets(Some(plan.subnets.clone()))
        .set_security_groups(Some(plan.security_groups.clone()))
        .assign_public_ip(AssignPublicIp::Disabled)
        .build()
        .map_err(built)?;
    let command = ContainerOverride::builder()
        .name(&plan.container)
        .set_command(Some(plan.command.clone()))
        .build();
    let out = ecs
        .run_task()
        .cluster(&plan.cluster)
        .task_definition(task_definition_arn)
        .launch_type(LaunchType::Fargate)
        .count(1)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(network)
                .build(),
        )
        .overrides(TaskOverride::builder().container_overrides(command).build())
        .started_by(started_by(release))
        .client_token(client_token(job, run_attempt))
        .send()
        .await;
    let action = || format!("ecs:RunTask in cluster {}", plan.cluster);
    let out = match out {
        Ok(out) => out,
        // "The provided clientToken is already in use with a different RunTask request. The
        // resourceIds are the existing task ARNs which are already associated with the
        // clientToken." (ConflictException, ECS API reference): that task is this job's.
        Err(SdkError::ServiceError(se)) => {
            if let RunTaskError::ConflictException(c) = se.err()
                && let Some(arn) = c.resource_ids().first()
            {
                return Ok(Placement::Adopted(arn.clone()));
            }
            return Err(Error::sdk(action())(SdkError::ServiceError(se)));
        }
        Err(e) => return Err(Error::sdk(action())(e)),
    };
    Ok(placement(&out, &plan.cluster))
}

/// RunTask's client token: the action's first job, and how many times ECS refused a start. A
/// repeated request (an answer lost on the way back) carries the same token and finds the task
/// it started; after a refusal the count moves on, so the next start is a new request rather
/// than a replay of the refusal (RunTask's tokens live for 24 hours).
fn client_token(job: &str, run_attempt: u32) -> String {
    if run_attempt == 0 {
        request_token(&[job])
    } else {
        request_token(&[job, &run_attempt.to_string()])
    }
}

/// The task `RunTask` started, or the reasons it gave for starting none.
fn placement(out: &aws_sdk_ecs::operation::run_task::RunTaskOutput, cluster: &str) -> Placement {
    if let Some(arn) = out.tasks().first().and_then(|t| t.task_arn()) {
        return Placement::Started(arn.to_owned());
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
    let why = if reasons.is_empty() {
        "no task and no reason returned".to_owned()
    } else {
        reasons.join("; ")
    };
    let message = format!("ECS did not start the migration task in cluster {cluster}: {why}");
    if why.contains(NO_CAPACITY) {
        Placement::Later(message)
    } else {
        Placement::Refused(message)
    }
}

/// The task's state, or `None` when ECS does not return it.
pub(super) async fn describe(
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

pub(super) async fn stop(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
    reason: &str,
) -> Result<()> {
    ecs.stop_task()
        .cluster(cluster)
        .task(task_arn)
        .reason(reason)
        .send()
        .await
        .map_err(Error::sdk(format!("ecs:StopTask {task_arn}")))?;
    Ok(())
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

/// Names of the essential containers of a task definition (ECS's default is essential).
pub fn essential_containers(taskdef: &Value) -> Vec<String> {
    containers(taskdef)
        .filter(|c| c.get("essential").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The awslogs group and stream prefix of `container`, if it logs to CloudWatch.
pub fn awslogs(taskdef: &Value, container: &str) -> (Option<String>, Option<String>) {
    let opts = containers(taskdef)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(container))
        .and_then(|c| c.get("logConfiguration"))
        .filter(|l| l.get("logDriver").and_then(Value::as_str) == Some("awslogs"))
        .and_then(|l| l.get("options"));
    let get = |k: &str| {
        opts.and_then(|o| o.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    (get("awslogs-group"), get("awslogs-stream-prefix"))
}

fn containers(taskdef: &Value) -> impl Iterator<Item = &Value> {
    taskdef
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taskdef_lookups() {
        let td = serde_json::json!({"containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-group": "/ecs/web", "awslogs-stream-prefix": "web"}}},
            {"name": "nginx", "essential": true},
            {"name": "datadog", "essential": false}
        ]});
        assert_eq!(essential_containers(&td), ["app", "nginx"]);
        assert_eq!(
            awslogs(&td, "app"),
            (Some("/ecs/web".into()), Some("web".into()))
        );
        assert_eq!(awslogs(&td, "nginx"), (None, None));
    }
}
