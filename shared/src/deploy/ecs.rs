//! The deploy action's own ECS calls: update the service, find the deployment an update
//! started, a newer one, and a failed deployment's stopped tasks.

use aws_sdk_ecs::types::{CreatedAt, DesiredStatus, ServiceDeploymentBrief};
use aws_smithy_types::DateTime;

use crate::error::{Error, Result};
use crate::service_deployment::deploy::{Marker, STOPPED_TASKS_QUOTED};

/// How far before the marker's time a deployment's `createdAt` may be and still be the one
/// UpdateService started: the marker's time is the function's clock, `createdAt` ECS's.
const CLOCK_SLACK_SECONDS: i64 = 60;

/// How many stopped tasks are described to find those of the release's revision.
const STOPPED_TASKS_LOOKED_AT: usize = 20;

/// UpdateService with the release's revision, nothing else: "For services using the rolling
/// update (ECS) you can update the desired count, deployment configuration, network
/// configuration, load balancers, service registries, enable ECS managed tags option, propagate
/// tags option, task placement constraints and strategies, and task definition. When you update
/// any of these parameters, Amazon ECS starts new tasks with the new configuration."
/// (UpdateService, ECS API reference).
pub(super) async fn update_service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<()> {
    ecs.update_service()
        .cluster(cluster)
        .service(service)
        .task_definition(task_definition)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:UpdateService {cluster}/{service} taskDefinition {task_definition}"
        )))?;
    Ok(())
}

/// The service's deployments created since `after` (ECS's `createdAt` filter: "Include service
/// deployments in the result that were created after this time"), newest first. The first
/// page: a service gets few deployments within one release.
async fn created_since(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    after: i64,
) -> Result<Vec<ServiceDeploymentBrief>> {
    let out = ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .created_at(
            CreatedAt::builder()
                .after(DateTime::from_secs(after))
                .build(),
        )
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:ListServiceDeployments {cluster}/{service}"
        )))?;
    let mut found = out.service_deployments().to_vec();
    found.sort_by_key(|d| std::cmp::Reverse(d.created_at().map_or(0, DateTime::secs)));
    Ok(found)
}

/// The deployment UpdateService started for `marker`: created since the marker was written,
/// its target service revision running the marked task definition (DescribeServiceRevisions:
/// up to 20 revisions per call).
pub(super) async fn started_since(
    ecs: &aws_sdk_ecs::Client,
    marker: &Marker,
) -> Result<Option<String>> {
    let after = i64::try_from(marker.at_epoch).unwrap_or(i64::MAX) - CLOCK_SLACK_SECONDS;
    let listed = created_since(ecs, &marker.cluster, &marker.ecs_service, after).await?;
    let revisions: Vec<String> = listed
        .iter()
        .filter_map(|d| d.target_service_revision_arn().map(str::to_owned))
        .take(20)
        .collect();
    if revisions.is_empty() {
        return Ok(None);
    }
    let out = ecs
        .describe_service_revisions()
        .set_service_revision_arns(Some(revisions))
        .send()
        .await
        .map_err(Error::sdk("ecs:DescribeServiceRevisions"))?;
    let ours: Vec<&str> = out
        .service_revisions()
        .iter()
        .filter(|r| r.task_definition() == Some(marker.task_definition_arn.as_str()))
        .filter_map(|r| r.service_revision_arn())
        .collect();
    Ok(listed
        .iter()
        .find(|d| {
            d.target_service_revision_arn()
                .is_some_and(|a| ours.contains(&a))
        })
        .and_then(|d| d.service_deployment_arn().map(str::to_owned)))
}

/// A deployment of the service created after ours (`created_epoch`), if there is one.
pub(super) async fn newer(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    ours: &str,
    created_epoch: i64,
) -> Result<Option<String>> {
    let listed = created_since(ecs, cluster, service, created_epoch).await?;
    Ok(listed
        .iter()
        .filter(|d| d.service_deployment_arn() != Some(ours))
        .find(|d| d.created_at().map_or(0, DateTime::secs) > created_epoch)
        .and_then(|d| d.service_deployment_arn().map(str::to_owned)))
}

/// Up to [`STOPPED_TASKS_QUOTED`] stopped tasks of the service that ran `task_definition`, as
/// (task id, why it stopped): ListTasks `desiredStatus` STOPPED ("limits the results to tasks
/// that Amazon ECS has set the desired status to STOPPED. This can be useful for debugging tasks
/// that aren't starting properly or have died or finished"; "Recently stopped tasks might appear
/// in the returned results" — so the failure quotes them when ECS still lists them), then
/// DescribeTasks of the first few.
pub(super) async fn stopped_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    task_definition: &str,
) -> Result<Vec<(String, String)>> {
    let listed = ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(service)
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:ListTasks {cluster}/{service} STOPPED"
        )))?;
    let arns: Vec<String> = listed
        .task_arns()
        .iter()
        .take(STOPPED_TASKS_LOOKED_AT)
        .cloned()
        .collect();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let described = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .map_err(Error::sdk(format!("ecs:DescribeTasks {cluster}")))?;
    Ok(described
        .tasks()
        .iter()
        .filter(|t| t.task_definition_arn() == Some(task_definition))
        .take(STOPPED_TASKS_QUOTED)
        .map(|t| {
            let id = t
                .task_arn()
                .and_then(|a| a.rsplit('/').next())
                .unwrap_or("?");
            (id.to_owned(), why_stopped(t))
        })
        .collect())
}

/// The task's stop reason with what its containers said.
fn why_stopped(t: &aws_sdk_ecs::types::Task) -> String {
    let mut why = t.stopped_reason().unwrap_or("no stop reason").to_owned();
    for c in t.containers() {
        let name = c.name().unwrap_or("?");
        match (c.exit_code(), c.reason()) {
            (_, Some(reason)) => why.push_str(&format!(" (container {name}: {reason})")),
            (Some(code), None) if code != 0 => {
                why.push_str(&format!(" (container {name} exited {code})"))
            }
            _ => {}
        }
    }
    why
}
