//! What an operator does to a service's deployment in flight (`berth promote`, `berth finish`,
//! `berth rollback` while blue still runs): check the deployment is in the phase the request
//! applies to, ask CodeDeploy (this file) or ECS (`native`, for services ECS deploys itself),
//! and note who asked in the release record.

mod native;

use std::time::{Duration, SystemTime};

use aws_sdk_codedeploy::types::{DeploymentCreator, DeploymentWaitType};
use serde::Serialize;

use crate::deployment::{Deployments, Facts, Phase, phase};
use crate::error::Result;
use crate::pipeline;
use crate::record::{Action, Intervention, keep_newest, timestamp};
use crate::records::{Change, Records};
use crate::registry::ServiceConfig;

/// `Some(the deployment it rolls back, if named)` when CodeDeploy's rollback process created
/// `info`.
fn rolls_back(info: &aws_sdk_codedeploy::types::DeploymentInfo) -> Option<Option<String>> {
    let triggering = info
        .rollback_info()
        .and_then(|r| r.rollback_triggering_deployment_id())
        .filter(|t| Some(*t) != info.deployment_id())
        .map(str::to_owned);
    let by_rollback = info.creator() == Some(&DeploymentCreator::CodeDeployRollback);
    (by_rollback || triggering.is_some()).then_some(triggering)
}

/// The request, with the phase it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Reroute production traffic now (the deployment waits for it).
    Promote,
    /// End the termination wait now, retiring blue.
    Finish,
}

/// What a request came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Acted {
    Done {
        deployment_id: String,
        /// The release the deployment deploys, when the pipeline names it.
        release: Option<String>,
        by: String,
        /// Why the release record does not note it, if it does not.
        #[serde(skip_serializing_if = "Option::is_none")]
        unrecorded: Option<String>,
        /// The pause hook continued (ECS-native deployments).
        #[serde(skip_serializing_if = "Option::is_none")]
        hook_id: Option<String>,
    },
    /// Nothing was asked of CodeDeploy or ECS; the reason says why.
    Refused { reason: String },
    /// The service's deploy kind has no such step (`berth finish` on an ECS-native service,
    /// `berth promote` on a rolling one).
    NotForKind { reason: String },
}

/// How a stop with rollback ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Stopped {
    /// No deployment of the service is in flight: a rollback must redeploy.
    NoDeployment,
    /// The deployment ended and CodeDeploy (or ECS) rerouted traffic to the original task set
    /// (the previous service revision).
    TrafficSwitched {
        deployment_id: String,
        release: Option<String>,
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        unrecorded: Option<String>,
        /// The ECS call that asked for it (ECS-native deployments).
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// CodeDeploy (or ECS) accepted the stop and is still rolling back when the wait ended.
    Pending {
        deployment_id: String,
        release: Option<String>,
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        unrecorded: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        via: Option<String>,
    },
    /// ECS ended the deployment without restoring the previous revision (`ROLLBACK_FAILED`,
    /// `STOPPED`).
    RollbackFailed {
        deployment_id: String,
        release: Option<String>,
        status: String,
        reason: String,
        via: String,
    },
    /// The deployment succeeded before the stop took: blue is gone, a rollback must redeploy.
    FinishedFirst { deployment_id: String },
    /// The deployment in flight is CodeDeploy's own rollback of `rolls_back`: traffic is already
    /// going back, so it is not stopped (that would stop the rollback) nor redeployed over.
    RollbackInFlight {
        deployment_id: String,
        rolls_back: Option<String>,
    },
}

/// An operator acting on deployments, as `by` (a caller identity ARN).
#[derive(Debug, Clone)]
pub struct Operator {
    pub deployments: Deployments,
    pub ecs: aws_sdk_ecs::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub records: Records,
    pub by: String,
}

impl Operator {
    /// Promotes or finishes the service's deployment in flight.
    pub async fn act(&self, config: &ServiceConfig, ask: Ask, now: SystemTime) -> Result<Acted> {
        let target = config.deployment_target();
        let Some(facts) = self.deployments.active(&target).await? else {
            return Ok(refused(format!(
                "no deployment of {} is in progress (CodeDeploy application {}, deployment group {})",
                config.service, target.application, target.group
            )));
        };
        let current = phase(&facts);
        let (wait, action) = match (ask, &current) {
            (Ask::Promote, Phase::WaitingForPromote { .. }) => {
                (DeploymentWaitType::ReadyWait, Action::Promote)
            }
            (Ask::Finish, Phase::TerminationWait { .. }) => {
                (DeploymentWaitType::TerminationWait, Action::Finish)
            }
            (Ask::Promote, _) => {
                return Ok(refused(format!(
                    "deployment {} is {}; promote applies while it waits for promote",
                    facts.id,
                    current.describe()
                )));
            }
            (Ask::Finish, _) => {
                return Ok(refused(format!(
                    "deployment {} is {}; finish applies during the termination wait",
                    facts.id,
                    current.describe()
                )));
            }
        };
        self.deployments
            .continue_deployment(&facts.id, wait)
            .await?;
        let (release, unrecorded) = self.note(config, &facts.id, action, now).await;
        Ok(Acted::Done {
            deployment_id: facts.id,
            release,
            by: self.by.clone(),
            unrecorded,
            hook_id: None,
        })
    }

    /// Stops the deployment in flight with automatic rollback, then watches it for up to
    /// `wait`. "CodeDeploy implements rollbacks by rerouting traffic from the replacement task
    /// set to the original task set" (CodeDeploy user guide, ECS deployments); the stop "returns
    /// a status of pending" while lifecycle events still run.
    pub async fn stop_with_rollback(
        &self,
        config: &ServiceConfig,
        wait: Duration,
        now: SystemTime,
    ) -> Result<Stopped> {
        let Some(facts) = self.deployments.active(&config.deployment_target()).await? else {
            return Ok(Stopped::NoDeployment);
        };
        if let Some(rolls_back) = self.rollback_of(&facts.id).await? {
            return Ok(Stopped::RollbackInFlight {
                deployment_id: facts.id,
                rolls_back,
            });
        }
        self.deployments.stop_with_rollback(&facts.id).await?;
        let (release, unrecorded) = self
            .note(config, &facts.id, Action::TrafficRollback, now)
            .await;
        let last = self.watch(&facts.id, wait).await?;
        Ok(match last.status.as_str() {
            "Succeeded" => Stopped::FinishedFirst {
                deployment_id: facts.id,
            },
            "Stopped" | "Failed" => Stopped::TrafficSwitched {
                deployment_id: facts.id,
                release,
                status: last.status,
                unrecorded,
                via: None,
            },
            _ => Stopped::Pending {
                deployment_id: facts.id,
                release,
                status: last.status,
                unrecorded,
                via: None,
            },
        })
    }

    /// `Some(the deployment it rolls back)` when `id` is a rollback CodeDeploy created. CodeDeploy
    /// "rolls back deployments by redeploying a previously deployed revision of an application as
    /// a new deployment. These rolled-back deployments are technically new deployments, with new
    /// deployment IDs" (User Guide, "Redeploy and roll back a deployment"), so after a stop with
    /// automatic rollback the newest unfinished deployment of the group can be that rollback;
    /// DeploymentInfo.creator `codeDeployRollback`: "A rollback process created the deployment";
    /// RollbackInfo.rollbackTriggeringDeploymentId: "The deployment ID of the deployment that was
    /// underway and triggered a rollback deployment because it failed or was stopped."
    async fn rollback_of(&self, id: &str) -> Result<Option<Option<String>>> {
        let out = self
            .deployments
            .codedeploy
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .map_err(crate::Error::sdk(format!("codedeploy:GetDeployment {id}")))?;
        Ok(out.deployment_info().and_then(rolls_back))
    }

    /// The deployment's facts once it ends, or when `wait` is over.
    async fn watch(&self, id: &str, wait: Duration) -> Result<Facts> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let facts = self.deployments.facts(id).await?;
            let ended = matches!(phase(&facts), Phase::Finished { .. });
            if ended || tokio::time::Instant::now() >= until {
                return Ok(facts);
            }
            tokio::time::sleep_until((tokio::time::Instant::now() + POLL).min(until)).await;
        }
    }

    /// Notes the intervention in the release record of the deployment: the release, and why
    /// it is not noted if it is not. CodeDeploy already acted, so a failure here is reported,
    /// not raised.
    async fn note(
        &self,
        config: &ServiceConfig,
        deployment_id: &str,
        action: Action,
        now: SystemTime,
    ) -> (Option<String>, Option<String>) {
        let found =
            pipeline::deployment_release(&self.codepipeline, &config.pipeline, deployment_id).await;
        self.note_found(config, deployment_id, found, action, now)
            .await
    }

    /// Notes the intervention in the record of the release `found` (the pipeline's execution
    /// deploying `deployment_id`, as looked up).
    async fn note_found(
        &self,
        config: &ServiceConfig,
        deployment_id: &str,
        found: Result<Option<(String, pipeline::Started)>>,
        action: Action,
        now: SystemTime,
    ) -> (Option<String>, Option<String>) {
        let pipeline = config.pipeline.as_str();
        let (execution_id, started) = match found {
            Ok(Some((execution_id, started))) if started.service == config.service => {
                (execution_id, started)
            }
            Ok(_) => {
                let why = format!(
                    "pipeline {pipeline} shows no berth execution running deployment {deployment_id}"
                );
                return (None, Some(why));
            }
            Err(e) => return (None, Some(format!("pipeline state unreadable: {e}"))),
        };
        let entry = Intervention {
            action,
            deployment_id: Some(deployment_id.to_owned()),
            pipeline_execution_id: Some(execution_id),
            by: self.by.clone(),
            at: timestamp(now),
        };
        let edit = |r: &mut crate::record::ReleaseRecord| {
            keep_newest(&mut r.interventions, entry.clone());
            Change::Write(())
        };
        let unrecorded = match self
            .records
            .update(&started.service, &started.release, now, edit)
            .await
        {
            Ok(crate::records::Updated::Missing) => {
                Some(format!("release {} has no record", started.release))
            }
            Ok(_) => None,
            Err(e) => Some(format!("release record not updated: {e}")),
        };
        (Some(started.release), unrecorded)
    }
}

/// Pause between two reads of a stopping deployment.
const POLL: Duration = Duration::from_secs(2);

fn refused(reason: String) -> Acted {
    Acted::Refused { reason }
}

#[cfg(test)]
mod tests {
    use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
    use aws_sdk_codedeploy::operation::list_deployment_targets::ListDeploymentTargetsOutput;
    use aws_sdk_codedeploy::operation::list_deployments::ListDeploymentsOutput;
    use aws_sdk_codedeploy::operation::stop_deployment::StopDeploymentOutput;
    use aws_sdk_codedeploy::types::{DeploymentInfo, DeploymentStatus, RollbackInfo, StopStatus};
    use aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    use super::*;
    use crate::store::Bucket;

    fn config() -> ServiceConfig {
        serde_json::from_value(serde_json::json!({
            "service": "web", "cluster": "c", "ecs_service": "web", "pipeline": "berth-web",
            "task_family": "web", "containers": {"app": "web/app"},
            "appspec": {"container": "app", "port": 80}
        }))
        .expect("a registry entry")
    }

    fn deployment(creator: DeploymentCreator, triggering: Option<&str>) -> DeploymentInfo {
        DeploymentInfo::builder()
            .deployment_id("d-NEWEST")
            .status(DeploymentStatus::InProgress)
            .creator(creator)
            .set_rollback_info(triggering.map(|t| {
                RollbackInfo::builder()
                    .rollback_triggering_deployment_id(t)
                    .build()
            }))
            .build()
    }

    /// Stops with rollback when the newest unfinished deployment is `info`; `(outcome, stops)`.
    async fn stop(info: DeploymentInfo) -> (Stopped, usize) {
        let list = mock!(aws_sdk_codedeploy::Client::list_deployments).then_output(|| {
            ListDeploymentsOutput::builder()
                .deployments("d-NEWEST")
                .build()
        });
        let read = mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(move || {
            GetDeploymentOutput::builder()
                .deployment_info(info.clone())
                .build()
        });
        let targets = mock!(aws_sdk_codedeploy::Client::list_deployment_targets)
            .then_output(|| ListDeploymentTargetsOutput::builder().build());
        let stop = mock!(aws_sdk_codedeploy::Client::stop_deployment).then_output(|| {
            StopDeploymentOutput::builder()
                .status(StopStatus::Pending)
                .build()
        });
        // The stop is noted in the release record of the pipeline's execution; none here.
        let state = mock!(aws_sdk_codepipeline::Client::get_pipeline_state)
            .then_output(|| GetPipelineStateOutput::builder().build());
        let codedeploy = mock_client!(
            aws_sdk_codedeploy,
            RuleMode::MatchAny,
            [&list, &read, &targets, &stop]
        );
        let operator = Operator {
            deployments: Deployments::new(codedeploy),
            ecs: mock_client!(aws_sdk_ecs, []),
            codepipeline: mock_client!(aws_sdk_codepipeline, [&state]),
            records: Records::new(Bucket::new(mock_client!(aws_sdk_s3, []), "releases")),
            by: "arn:aws:sts::1:assumed-role/ops/ana".into(),
        };
        let outcome = operator
            .stop_with_rollback(&config(), Duration::ZERO, SystemTime::UNIX_EPOCH)
            .await;
        (outcome.expect("an outcome"), stop.num_calls())
    }

    #[tokio::test]
    async fn a_rollback_codedeploy_created_is_never_stopped_again() {
        let (outcome, stops) = stop(deployment(
            DeploymentCreator::CodeDeployRollback,
            Some("d-FIRST"),
        ))
        .await;
        assert_eq!(stops, 0);
        assert_eq!(
            outcome,
            Stopped::RollbackInFlight {
                deployment_id: "d-NEWEST".into(),
                rolls_back: Some("d-FIRST".into())
            }
        );
    }

    #[tokio::test]
    async fn a_rollback_is_known_by_its_triggering_deployment_too() {
        let (outcome, stops) = stop(deployment(DeploymentCreator::User, Some("d-FIRST"))).await;
        assert_eq!(stops, 0);
        assert!(
            matches!(outcome, Stopped::RollbackInFlight { .. }),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_deployment_a_user_or_the_pipeline_created_is_stopped() {
        let (outcome, stops) = stop(deployment(DeploymentCreator::User, None)).await;
        assert_eq!(stops, 1);
        assert!(
            !matches!(outcome, Stopped::RollbackInFlight { .. }),
            "{outcome:?}"
        );
    }
}
