//! CodeDeploy blue/green deployments of a service: the calls that move one on — promote
//! (reroute production traffic now), finish (end the termination wait, retiring blue) and stop
//! with rollback (traffic back to blue). Which phase a deployment is in is
//! `berth_core::deployment` (pure), re-exported here.

use aws_sdk_codedeploy::types::{
    DeploymentCreator, DeploymentReadyAction, DeploymentStatus, DeploymentWaitType, EcsTarget,
    LifecycleEvent, TargetLabel,
};

pub use berth_core::deployment::*;

use crate::error::{Error, Result};
use crate::registry::DeploymentTarget;

/// The deployments of one service's deployment group.
#[derive(Debug, Clone)]
pub struct Deployments {
    pub codedeploy: aws_sdk_codedeploy::Client,
}

/// What the deployment's ECS target says ([`Facts`] keeps it).
#[derive(Debug, Default)]
struct Target {
    status: Option<String>,
    updated: Option<i64>,
    events: Vec<(String, String, Option<i64>)>,
    green_target_group: Option<String>,
}

/// Pages of ListDeployments read for a group's unfinished deployments.
const LIST_PAGES: usize = 10;

/// Statuses of a deployment that has not ended.
const UNFINISHED: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

impl Deployments {
    pub fn new(codedeploy: aws_sdk_codedeploy::Client) -> Self {
        Self { codedeploy }
    }

    /// The deployment of `target` that has not ended, if any (the newest, should there be
    /// several).
    pub async fn active(&self, target: &DeploymentTarget) -> Result<Option<Facts>> {
        let mut newest: Option<(i64, Facts)> = None;
        for id in self.unfinished(target).await?.iter().take(5) {
            let (created, facts) = self.read(id).await?;
            if newest.as_ref().is_none_or(|(t, _)| created > *t) {
                newest = Some((created, facts));
            }
        }
        Ok(newest.map(|(_, f)| f))
    }

    /// The ids of the group's deployments that have not ended. ListDeployments is paged ("If a
    /// large amount of information is returned, an identifier is also returned. It can be used
    /// in a subsequent list deployments call to return the next set of deployments in the
    /// list"), and a page may be empty while a later one is not: pages are read until one names
    /// a deployment, [`LIST_PAGES`] at most.
    async fn unfinished(&self, target: &DeploymentTarget) -> Result<Vec<String>> {
        let mut next: Option<String> = None;
        for _ in 0..LIST_PAGES {
            let listed = self
                .codedeploy
                .list_deployments()
                .application_name(&target.application)
                .deployment_group_name(&target.group)
                .set_include_only_statuses(Some(UNFINISHED.to_vec()))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(Error::sdk(format!(
                    "codedeploy:ListDeployments {}/{}",
                    target.application, target.group
                )))?;
            if !listed.deployments().is_empty() {
                return Ok(listed.deployments().to_vec());
            }
            match listed.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(Vec::new())
    }

    /// One deployment's facts.
    pub async fn facts(&self, id: &str) -> Result<Facts> {
        Ok(self.read(id).await?.1)
    }

    async fn read(&self, id: &str) -> Result<(i64, Facts)> {
        let out = self
            .codedeploy
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .map_err(Error::sdk(format!("codedeploy:GetDeployment {id}")))?;
        let info = out.deployment_info().ok_or_else(|| {
            Error::Corrupt(format!("codedeploy:GetDeployment {id}: no deploymentInfo"))
        })?;
        let bg = info.blue_green_deployment_configuration();
        let ready = bg.and_then(|b| b.deployment_ready_option());
        let promote_wait_minutes = ready
            .filter(|r| r.action_on_timeout() == Some(&DeploymentReadyAction::StopDeployment))
            .and_then(|r| r.wait_time_in_minutes().into());
        let facts = Facts {
            id: id.to_owned(),
            status: info
                .status()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            promote_wait_minutes,
            termination_wait_minutes: bg
                .and_then(|b| b.terminate_blue_instances_on_deployment_success())
                .map(|t| t.termination_wait_time_in_minutes()),
            termination_wait_started: info.instance_termination_wait_time_started(),
            target_status: None,
            target_updated: None,
            events: Vec::new(),
            green_target_group: None,
            rollback: is_rollback(info),
        };
        // Best effort: without the target the phase is still known from the status, only the
        // deadlines and the termination wait are not.
        let facts = match self.target(id).await {
            Ok(target) => Facts {
                target_status: target.status,
                target_updated: target.updated,
                events: target.events,
                green_target_group: target.green_target_group,
                ..facts
            },
            Err(_) => facts,
        };
        Ok((info.create_time().map(|t| t.secs()).unwrap_or(0), facts))
    }

    /// The ECS target: its status, last update and lifecycle events (name, status, end).
    async fn target(&self, id: &str) -> Result<Target> {
        let targets = self
            .codedeploy
            .list_deployment_targets()
            .deployment_id(id)
            .send()
            .await
            .map_err(Error::sdk(format!("codedeploy:ListDeploymentTargets {id}")))?;
        let Some(target) = targets.target_ids().first() else {
            return Ok(Target::default());
        };
        let out = self
            .codedeploy
            .get_deployment_target()
            .deployment_id(id)
            .target_id(target)
            .send()
            .await
            .map_err(Error::sdk(format!("codedeploy:GetDeploymentTarget {id}")))?;
        let Some(ecs) = out.deployment_target().and_then(|t| t.ecs_target()) else {
            return Ok(Target::default());
        };
        let events: &[LifecycleEvent] = ecs.lifecycle_events();
        Ok(Target {
            status: ecs.status().map(|s| s.as_str().to_owned()),
            updated: ecs.last_updated_at().map(|t| t.secs()),
            green_target_group: green_target_group(ecs),
            events: events
                .iter()
                .map(|e| {
                    (
                        e.lifecycle_event_name().unwrap_or_default().to_owned(),
                        e.status()
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or_default(),
                        e.end_time().map(|t| t.secs()),
                    )
                })
                .collect(),
        })
    }
}

/// Whether CodeDeploy's rollback process created the deployment: DeploymentInfo.creator
/// `codeDeployRollback` ("A rollback process created the deployment"), or
/// `rollbackInfo.rollbackTriggeringDeploymentId` names another deployment ("The deployment ID
/// of the deployment that was underway and triggered a rollback deployment").
fn is_rollback(info: &aws_sdk_codedeploy::types::DeploymentInfo) -> bool {
    let triggering = info
        .rollback_info()
        .and_then(|r| r.rollback_triggering_deployment_id())
        .is_some_and(|t| Some(t) != info.deployment_id());
    triggering || info.creator() == Some(&DeploymentCreator::CodeDeployRollback)
}

/// The target group of the ECS target's replacement task set: the one whose `taskSetLabel` is
/// `GREEN` ("A label that identifies whether the ECS task set is an original target (BLUE) or a
/// replacement target (GREEN)", ECSTaskSet), named as `TargetGroupInfo.name`. The API's
/// TargetLabel values are `Blue | Green`; the description writes them in capitals, so the label
/// is compared without case.
fn green_target_group(ecs: &EcsTarget) -> Option<String> {
    let green = TargetLabel::Green;
    ecs.task_sets_info()
        .iter()
        .find(|t| {
            t.task_set_label()
                .is_some_and(|l| l.as_str().eq_ignore_ascii_case(green.as_str()))
        })
        .and_then(|t| t.target_group())
        .and_then(|g| g.name())
        .map(str::to_owned)
}

impl Deployments {
    /// Reroutes production traffic now (READY_WAIT), or ends the termination wait now,
    /// retiring blue (TERMINATION_WAIT).
    pub async fn continue_deployment(&self, id: &str, wait: DeploymentWaitType) -> Result<()> {
        self.codedeploy
            .continue_deployment()
            .deployment_id(id)
            .deployment_wait_type(wait.clone())
            .send()
            .await
            .map_err(Error::sdk(format!(
                "codedeploy:ContinueDeployment {id} {}",
                wait.as_str()
            )))?;
        Ok(())
    }

    /// Stops the deployment with automatic rollback: "CodeDeploy implements rollbacks by
    /// rerouting traffic from the replacement task set to the original task set." Returns the
    /// stop's status (Pending or Succeeded).
    pub async fn stop_with_rollback(&self, id: &str) -> Result<String> {
        let out = self
            .codedeploy
            .stop_deployment()
            .deployment_id(id)
            .auto_rollback_enabled(true)
            .send()
            .await
            .map_err(Error::sdk(format!("codedeploy:StopDeployment {id}")))?;
        Ok(out
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
    use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
    use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
    use aws_sdk_codedeploy::types::DeploymentInfo;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;

    /// A first page without deployments but with a next token: the deployment on the second
    /// page is the one in flight.
    #[tokio::test]
    async fn an_unfinished_deployment_on_a_later_page_is_found() {
        let first = mock!(aws_sdk_codedeploy::Client::list_deployments)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| {
                ListDeploymentsOutput::builder()
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(aws_sdk_codedeploy::Client::list_deployments)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| ListDeploymentsOutput::builder().deployments("d-2").build());
        let read = mock!(aws_sdk_codedeploy::Client::get_deployment)
            .match_requests(|r| r.deployment_id() == Some("d-2"))
            .then_output(|| {
                GetDeploymentOutput::builder()
                    .deployment_info(
                        DeploymentInfo::builder()
                            .deployment_id("d-2")
                            .status(DeploymentStatus::InProgress)
                            .build(),
                    )
                    .build()
            });
        let target = mock!(aws_sdk_codedeploy::Client::list_deployment_targets)
            .then_output(|| ListDeploymentTargetsOutput::builder().build());
        let client = mock_client!(
            aws_sdk_codedeploy,
            RuleMode::MatchAny,
            [&first, &second, &read, &target]
        );
        let group = DeploymentTarget {
            application: "berth-web".into(),
            group: "web".into(),
        };
        let found = Deployments::new(client).active(&group).await.unwrap();
        assert_eq!(found.map(|f| f.id), Some("d-2".to_owned()));
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    /// The ECS target's task sets: the one labelled GREEN names the replacement's target group
    /// (whatever the label's case), and a deployment CodeDeploy's rollback created says so.
    #[tokio::test]
    async fn the_replacement_task_sets_target_group_and_a_rollback_are_read() {
        use aws_sdk_codedeploy::operation::get_deployment_target::GetDeploymentTargetOutput;
        use aws_sdk_codedeploy::types::{
            DeploymentTarget as Target, EcsTarget, EcsTaskSet, RollbackInfo, TargetGroupInfo,
        };
        let task_set = |label: &str, group: &str| {
            EcsTaskSet::builder()
                .task_set_label(TargetLabel::from(label))
                .target_group(TargetGroupInfo::builder().name(group).build())
                .build()
        };
        for (label, rollback) in [("Green", None), ("GREEN", Some("d-1"))] {
            let read = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || {
                let info = DeploymentInfo::builder()
                    .deployment_id("d-2")
                    .status(DeploymentStatus::InProgress);
                let info = match rollback {
                    Some(d) => info.rollback_info(
                        RollbackInfo::builder()
                            .rollback_triggering_deployment_id(d)
                            .build(),
                    ),
                    None => info,
                };
                GetDeploymentOutput::builder()
                    .deployment_info(info.build())
                    .build()
            });
            let targets =
                mock!(aws_sdk_codedeploy::Client::list_deployment_targets).then_output(|| {
                    ListDeploymentTargetsOutput::builder()
                        .target_ids("prod:web")
                        .build()
                });
            let target =
                mock!(aws_sdk_codedeploy::Client::get_deployment_target).then_output(move || {
                    let ecs = EcsTarget::builder()
                        .task_sets_info(task_set("Blue", "web-tg-1"))
                        .task_sets_info(task_set(label, "web-tg-2"))
                        .build();
                    GetDeploymentTargetOutput::builder()
                        .deployment_target(Target::builder().ecs_target(ecs).build())
                        .build()
                });
            let client = mock_client!(
                aws_sdk_codedeploy,
                RuleMode::MatchAny,
                [&read, &targets, &target]
            );
            let facts = Deployments::new(client).facts("d-2").await.unwrap();
            assert_eq!(
                facts.green_target_group.as_deref(),
                Some("web-tg-2"),
                "{label}"
            );
            assert_eq!(facts.rollback, rollback.is_some());
        }
    }
}
