//! The ECS calls of the migration step, and what it reads from a task definition.

use serde_json::Value;

use super::job::started_by;
use crate::error::{Error, Result};
use crate::manifest::MigrationPlan;
use crate::migration::TaskState;
use crate::pipeline::request_token;
use crate::registry::Network;
use crate::tasks::{self, OneTask, Started};

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
    let network = Network {
        subnets: plan.subnets.clone(),
        security_groups: plan.security_groups.clone(),
        assign_public_ip: false,
    };
    let token = client_token(job, run_attempt);
    let task = OneTask {
        cluster: &plan.cluster,
        task_definition: task_definition_arn,
        network: &network,
        container: &plan.container,
        command: Some(&plan.command),
        started_by: &started_by(release),
        client_token: Some(&token),
    };
    Ok(match tasks::run(ecs, &task).await? {
        Started::Task(arn) => Placement::Started(arn),
        Started::Adopted(arn) => Placement::Adopted(arn),
        Started::Refused(reasons) => refused(&reasons, &plan.cluster),
    })
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

/// Why RunTask started no task: later when Fargate has no capacity, else refused.
fn refused(reasons: &[String], cluster: &str) -> Placement {
    let why = reasons.join("; ");
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
    tasks::describe(ecs, cluster, task_arn).await
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
