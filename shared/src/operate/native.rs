//! The operator's requests on a service ECS deploys itself (deployment controller `ECS`:
//! ROLLING, BLUE_GREEN, LINEAR, CANARY): promote continues a pause hook, rollback continues
//! it with ROLLBACK or stops the deployment with rollback, finish has no ECS call. What each
//! request does is decided in `berth_core::service_deployment::ask` (pure); this file reads
//! the deployment, asks ECS, and notes who asked in the release record.

use std::time::{Duration, SystemTime};

use super::{Acted, Ask, Operator, POLL, Stopped};
use crate::error::Result;
use crate::pipeline;
use crate::record::Action;
use crate::registry::ServiceConfig;
use crate::service_deployments::{self as sd, DeployKind, Facts, ask};

impl Operator {
    /// The service's deploy kind, from the service itself (DescribeServices).
    /// A task target's is TASK, from its registry entry.
    pub async fn deploy_kind(&self, config: &ServiceConfig) -> Result<DeployKind> {
        let Some(name) = &config.ecs_service else {
            return Ok(DeployKind::Task);
        };
        match sd::service_kind(&self.ecs, &config.cluster, name).await? {
            Some(kind) => Ok(kind),
            None => Err(crate::Error::Config(format!(
                "ECS service {name} in cluster {} was not found (or is not ACTIVE)",
                config.cluster
            ))),
        }
    }

    /// Promotes (continues the pause hook of) or finishes the deployment in flight of a
    /// service of `kind` (not CODE_DEPLOY: [`Operator::act`] is CodeDeploy's).
    pub async fn act_native(
        &self,
        config: &ServiceConfig,
        kind: DeployKind,
        ask: Ask,
        now: SystemTime,
    ) -> Result<Acted> {
        if ask == Ask::Finish {
            let reason = ask::finish(kind, &config.service).unwrap_or_default();
            return Ok(Acted::NotForKind { reason });
        }
        let newest = if kind.has_hooks() {
            self.newest_active(config).await?
        } else {
            None
        };
        let (arn, hook_id) = match ask::promote(kind, &config.service, newest.as_ref(), epoch(now))
        {
            ask::Promote::Continue { arn, hook_id } => (arn, hook_id),
            ask::Promote::Refused { reason } => return Ok(Acted::Refused { reason }),
            ask::Promote::NotForKind { reason } => return Ok(Acted::NotForKind { reason }),
        };
        sd::continue_at_hook(&self.ecs, &arn, &hook_id, false).await?;
        let (release, unrecorded) = self.note_native(config, &arn, Action::Promote, now).await;
        Ok(Acted::Done {
            deployment_id: arn,
            release,
            by: self.by.clone(),
            unrecorded,
            hook_id: Some(hook_id),
        })
    }

    /// Rolls back the deployment in flight of a service ECS deploys: at a pause hook
    /// ContinueServiceDeployment ROLLBACK, otherwise StopServiceDeployment ROLLBACK; then
    /// watches it for up to `wait`. A deployment of the blue/green family keeps the old
    /// revision running until bake time ends, so the rollback moves traffic back to it.
    pub async fn roll_back_native(
        &self,
        config: &ServiceConfig,
        wait: Duration,
        now: SystemTime,
    ) -> Result<Stopped> {
        let (arn, via) = match self.request_rollback(config).await? {
            Ok(requested) => requested,
            Err(answer) => return Ok(answer),
        };
        let (release, unrecorded) = self
            .note_native(config, &arn, Action::TrafficRollback, now)
            .await;
        let last = self.watch_native(&arn, wait).await?;
        let status = last.as_ref().map_or("gone".into(), |f| f.status.clone());
        let deployment_id = arn;
        Ok(match ask::watched(&status) {
            ask::Watched::FinishedFirst => Stopped::FinishedFirst { deployment_id },
            ask::Watched::RolledBack => Stopped::TrafficSwitched {
                deployment_id,
                release,
                status,
                unrecorded,
                via: Some(via),
            },
            ask::Watched::Failed => Stopped::RollbackFailed {
                deployment_id,
                release,
                reason: last.map(|f| f.why()).unwrap_or_default(),
                status,
                via,
            },
            ask::Watched::Going => Stopped::Pending {
                deployment_id,
                release,
                status,
                unrecorded,
                via: Some(via),
            },
        })
    }

    /// The rollback request for the deployment in flight: `Ok((arn, how))` once ECS took it,
    /// `Err(answer)` when there is nothing to request (nothing in flight, a rollback already
    /// under way, a deployment that ended first).
    async fn request_rollback(
        &self,
        config: &ServiceConfig,
    ) -> Result<std::result::Result<(String, String), Stopped>> {
        let newest = self.newest_active(config).await?;
        Ok(Ok(match ask::rollback(newest.as_ref()) {
            ask::Rollback::Redeploy | ask::Rollback::Stopping { .. } => {
                return Ok(Err(Stopped::NoDeployment));
            }
            ask::Rollback::AlreadyRollingBack { arn, .. } => {
                return Ok(Err(Stopped::RollbackInFlight {
                    deployment_id: arn,
                    rolls_back: None,
                }));
            }
            ask::Rollback::ContinueRollback { arn, hook_id } => {
                let asked = sd::continue_at_hook(&self.ecs, &arn, &hook_id, true).await;
                if let Err(e) = asked {
                    return self.raced(arn, e).await.map(Err);
                }
                (arn, format!("ContinueServiceDeployment ROLLBACK {hook_id}"))
            }
            ask::Rollback::Stop { arn } => {
                if let Err(e) = sd::stop_with_rollback(&self.ecs, &arn).await {
                    return self.raced(arn, e).await.map(Err);
                }
                (arn, "StopServiceDeployment ROLLBACK".to_owned())
            }
        }))
    }

    /// A refused rollback request: the deployment may have ended between the read and the
    /// request (StopServiceDeployment's `ConflictException`: "The request could not be
    /// processed because of conflict in the current state of the resource"). Read again: a
    /// deployment that ended or is gone finished first; otherwise the refusal stands.
    async fn raced(&self, arn: String, refused: crate::Error) -> Result<Stopped> {
        match sd::describe(&self.ecs, &arn).await? {
            Some(f) if sd::is_active(&f.status) => Err(refused),
            _ => Ok(Stopped::FinishedFirst { deployment_id: arn }),
        }
    }

    async fn newest_active(&self, config: &ServiceConfig) -> Result<Option<Facts>> {
        sd::newest_active(&self.ecs, &config.cluster, config.ecs_service_name()).await
    }

    /// The deployment's facts once it ends, or when `wait` is over; `None` when ECS no longer
    /// knows it.
    async fn watch_native(&self, arn: &str, wait: Duration) -> Result<Option<Facts>> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            let facts = sd::describe(&self.ecs, arn).await?;
            let ended = facts.as_ref().is_none_or(|f| !sd::is_active(&f.status));
            if ended || tokio::time::Instant::now() >= until {
                return Ok(facts);
            }
            tokio::time::sleep_until((tokio::time::Instant::now() + POLL).min(until)).await;
        }
    }

    /// Notes the request in the record of the release whose Deploy action follows `arn`.
    async fn note_native(
        &self,
        config: &ServiceConfig,
        arn: &str,
        action: Action,
        now: SystemTime,
    ) -> (Option<String>, Option<String>) {
        let found =
            pipeline::native_deployment_release(&self.codepipeline, &config.pipeline, arn).await;
        self.note_found(config, arn, found, action, now).await
    }
}

/// Seconds since the epoch (0 before it).
fn epoch(at: SystemTime) -> i64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
