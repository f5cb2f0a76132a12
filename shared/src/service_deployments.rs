//! ECS-native deployments of a service (controller `ECS`): the calls that find one, read it
//! and move it on — continue or roll back at a pause hook, stop with rollback. What a
//! deployment's state means is `berth_core::service_deployment` (pure), re-exported here.

use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, DeploymentLifecycleHookDetail, Service, ServiceDeployment,
    ServiceDeploymentStatus, StopServiceDeploymentStopType,
};
use aws_smithy_types::DateTime;

pub use berth_core::service_deployment::*;

use crate::error::{Error, Result};

/// The service as ECS describes it now, with its deploy kind; `Ok(None)` when ECS has no such
/// service (or it is not ACTIVE: "DRAINING" and "INACTIVE" services take no deployments).
pub async fn describe_service(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Option<(DeployKind, Service)>> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:DescribeServices {cluster}/{service}"
        )))?;
    let Some(found) = out.services().iter().find(|s| is_it(s, service)) else {
        return Ok(None);
    };
    let kind = kind_of(found).map_err(Error::Config)?;
    Ok(Some((kind, found.clone())))
}

/// Only the deploy kind of the service (`Ok(None)`: no such ACTIVE service), for callers that
/// need nothing else of it: the described service is not copied.
pub async fn service_kind(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Option<DeployKind>> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:DescribeServices {cluster}/{service}"
        )))?;
    match out.services().iter().find(|s| is_it(s, service)) {
        Some(found) => kind_of(found).map(Some).map_err(Error::Config),
        None => Ok(None),
    }
}

/// Whether a described service is `service`, and ACTIVE.
fn is_it(s: &Service, service: &str) -> bool {
    s.status() == Some("ACTIVE")
        && (s.service_name() == Some(service)
            || s.service_arn()
                .is_some_and(|a| a.ends_with(&format!("/{service}"))))
}

/// The deploy kind of a described service.
pub fn kind_of(s: &Service) -> std::result::Result<DeployKind, String> {
    let controller = s.deployment_controller().map(|d| d.r#type().as_str());
    let strategy = s
        .deployment_configuration()
        .and_then(|c| c.strategy())
        .map(|s| s.as_str());
    DeployKind::of(controller, strategy)
}

/// The ARNs of the service's deployments that have not ended, in the order ECS lists them
/// (ListServiceDeployments with a `status` filter: "An optional filter you can use to narrow
/// the results"). One page: a service has at most a few deployments under way.
pub async fn active(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Vec<String>> {
    let statuses = ACTIVE_STATUSES.map(ServiceDeploymentStatus::from).to_vec();
    let out = ecs
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .set_status(Some(statuses))
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:ListServiceDeployments {cluster}/{service}"
        )))?;
    Ok(out
        .service_deployments()
        .iter()
        .filter_map(|d| d.service_deployment_arn().map(str::to_owned))
        .collect())
}

/// One deployment's facts; `None` when ECS no longer knows it ("When you delete a service,
/// Amazon ECS deletes the corresponding service deployments").
pub async fn describe(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<Option<Facts>> {
    let out = ecs
        .describe_service_deployments()
        .service_deployment_arns(arn)
        .send()
        .await
        .map_err(Error::sdk(format!("ecs:DescribeServiceDeployments {arn}")))?;
    Ok(out
        .service_deployments()
        .iter()
        .find(|d| d.service_deployment_arn() == Some(arn))
        .map(facts))
}

/// The newest deployment of the service that has not ended, with its facts.
pub async fn newest_active(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Option<Facts>> {
    let mut newest: Option<Facts> = None;
    for arn in active(ecs, cluster, service).await?.iter().take(5) {
        if let Some(f) = describe(ecs, arn).await?
            && newest
                .as_ref()
                .is_none_or(|n| f.created_at.unwrap_or(0) > n.created_at.unwrap_or(0))
        {
            newest = Some(f);
        }
    }
    Ok(newest)
}

/// Pages of ListServiceDeployments [`newest`] reads: 20 × 100 deployments, more than 90 days
/// of history hold for any service deployed less than 22 times a day.
const LIST_PAGES: usize = 20;

/// The newest deployment of the service, ended or not, with its facts: every page of
/// ListServiceDeployments (with no status filter "all status values are included in the
/// result"; a page holds at most `maxResults`, "up to 20 results and a `nextToken` value"
/// without it, and the reference promises no order), the one created last by its `createdAt`,
/// described. ECS keeps "the most recent 90-day history", so the pages are bounded.
/// `None` when the service has had no deployment ECS still lists.
pub async fn newest(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<Option<Facts>> {
    let mut newest: Option<(i64, String)> = None;
    let mut token: Option<String> = None;
    for _ in 0..LIST_PAGES {
        let page = ecs
            .list_service_deployments()
            .cluster(cluster)
            .service(service)
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(Error::sdk(format!(
                "ecs:ListServiceDeployments {cluster}/{service}"
            )))?;
        for d in page.service_deployments() {
            let Some(arn) = d.service_deployment_arn() else {
                continue;
            };
            let created = epoch(d.created_at()).unwrap_or(0);
            if newest.as_ref().is_none_or(|(t, _)| created > *t) {
                newest = Some((created, arn.to_owned()));
            }
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    match newest {
        Some((_, arn)) => describe(ecs, &arn).await,
        None => Ok(None),
    }
}

/// The task definition ARN a service revision runs (DescribeServiceRevisions).
pub async fn revision_task_definition(
    ecs: &aws_sdk_ecs::Client,
    revision_arn: &str,
) -> Result<Option<String>> {
    let out = ecs
        .describe_service_revisions()
        .service_revision_arns(revision_arn)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:DescribeServiceRevisions {revision_arn}"
        )))?;
    Ok(out
        .service_revisions()
        .iter()
        .find(|r| r.service_revision_arn() == Some(revision_arn))
        .and_then(|r| r.task_definition().map(str::to_owned)))
}

/// At a pause hook: `CONTINUE` moves the deployment to its next stage, `ROLLBACK` "rolls back
/// the deployment to the previous service revision" (ContinueServiceDeployment).
pub async fn continue_at_hook(
    ecs: &aws_sdk_ecs::Client,
    arn: &str,
    hook_id: &str,
    rollback: bool,
) -> Result<()> {
    let action = if rollback {
        DeploymentLifecycleHookAction::Rollback
    } else {
        DeploymentLifecycleHookAction::Continue
    };
    ecs.continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(action.clone())
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:ContinueServiceDeployment {arn} {hook_id} {}",
            action.as_str()
        )))?;
    Ok(())
}

/// Stops a deployment with rollback: "ROLLBACK - This option rolls back the service deployment
/// to the previous service revision. You can use this option even if you didn't configure the
/// service deployment for the rollback option" (StopServiceDeployment).
pub async fn stop_with_rollback(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<()> {
    ecs.stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:StopServiceDeployment {arn} ROLLBACK"
        )))?;
    Ok(())
}

fn epoch(t: Option<&DateTime>) -> Option<i64> {
    t.map(DateTime::secs)
}

fn hook(h: &DeploymentLifecycleHookDetail) -> Hook {
    Hook {
        id: h.hook_id().unwrap_or_default().to_owned(),
        target_type: h
            .target_type()
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
        target_arn: h.target_arn().map(str::to_owned),
        status: h
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        expires_at: epoch(h.expires_at()),
        timeout_action: h.timeout_action().map(|a| a.as_str().to_owned()),
    }
}

/// What berth reads of a described deployment.
pub fn facts(d: &ServiceDeployment) -> Facts {
    let circuit_breaker = d.deployment_circuit_breaker().map(|c| Monitor {
        status: c
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        triggered: Vec::new(),
        failures: Some((c.failure_count(), c.threshold())),
    });
    let alarms = d.alarms().map(|a| Monitor {
        status: a
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        triggered: a.triggered_alarm_names().to_vec(),
        failures: None,
    });
    Facts {
        arn: d.service_deployment_arn().unwrap_or_default().to_owned(),
        status: d
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        status_reason: d.status_reason().map(str::to_owned),
        lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_owned()),
        target_revision: d
            .target_service_revision()
            .and_then(|r| r.arn().map(str::to_owned)),
        production_weight: d
            .target_service_revision()
            .and_then(|r| r.requested_production_traffic_weight()),
        hooks: d.lifecycle_hook_details().iter().map(hook).collect(),
        rollback_reason: d.rollback().and_then(|r| r.reason().map(str::to_owned)),
        circuit_breaker,
        alarms,
        bake_time_minutes: d
            .deployment_configuration()
            .and_then(|c| c.bake_time_in_minutes()),
        created_at: epoch(d.created_at()),
        updated_at: epoch(d.updated_at()),
        finished_at: epoch(d.finished_at()),
    }
}
