//! `verify` as the target of the service stacks' alarm rule: a target group alarm's state change
//! stops the CodeDeploy deployment in flight with rollback when the alarm is about the
//! replacement (green) task set's target group, and changes nothing when it is about the
//! version being replaced. The rule is `berth_core::alarm::decide`; this is the I/O around it.
//!
//! EventBridge invokes its Lambda targets asynchronously (as for the other rules berth's stacks
//! create: docs/reference/errors.md, "What happens to a failed invocation"), so a read or a stop
//! that fails ends the invocation with the error and Lambda tries again; what still fails goes to
//! the function's on-failure destination.

use std::time::SystemTime;

use berth_core::alarm::{self, AlarmChange, Decision};
use serde::Serialize;

use super::Context;
use crate::deployment::Deployments;
use crate::error::{Error, Result};
use crate::images::Home;
use crate::record::{Action, Intervention, keep_newest, timestamp};
use crate::records::{Change, Updated};
use crate::registry::Service;

/// What the function did about an alarm's state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmOutcome {
    pub alarm: String,
    pub state: String,
    /// The service whose `target_group_alarms` name the alarm.
    pub service: Option<String>,
    /// The deployment in flight the alarm was weighed against.
    pub deployment_id: Option<String>,
    /// The deployment was stopped with automatic rollback.
    pub rolled_back: bool,
    pub reason: String,
    /// The rollback is in the release record's `interventions`.
    pub recorded: bool,
}

impl AlarmOutcome {
    fn ignored(change: &AlarmChange, service: Option<&str>, reason: String) -> Self {
        Self {
            alarm: change.alarm.clone(),
            state: change.state.clone(),
            service: service.map(str::to_owned),
            deployment_id: None,
            rolled_back: false,
            reason,
            recorded: false,
        }
    }
}

impl Context {
    /// Weighs one alarm state change against the deployment in flight of the service that
    /// lists the alarm, and stops that deployment with rollback when the alarm is about its
    /// replacement task set's target group.
    pub async fn on_alarm(&self, change: AlarmChange, home: &Home) -> Result<AlarmOutcome> {
        if change.state != "ALARM" {
            let why = format!(
                "alarm {} is {}: only a change to ALARM acts",
                change.alarm, change.state
            );
            return Ok(AlarmOutcome::ignored(&change, None, why));
        }
        let Some(service) = self.alarm_service(&change.alarm, home).await? else {
            let why = format!(
                "no service in the registry lists alarm {} in target_group_alarms",
                change.alarm
            );
            return Ok(AlarmOutcome::ignored(&change, None, why));
        };
        let config = &service.config;
        let deployments = Deployments::new(self.codedeploy.clone());
        let active = deployments.active(&config.deployment_target()).await?;
        let decision = alarm::decide(&change, active.as_ref());
        let outcome = match decision {
            Decision::Ignore(why) => AlarmOutcome {
                deployment_id: active.map(|d| d.id),
                ..AlarmOutcome::ignored(&change, Some(&config.service), why)
            },
            Decision::RollBack {
                deployment_id,
                target_group,
            } => {
                self.roll_back(&service, &change, deployment_id, &target_group)
                    .await?
            }
        };
        tracing::info!(
            alarm = %outcome.alarm, service = ?outcome.service, deployment_id = ?outcome.deployment_id,
            rolled_back = outcome.rolled_back, reason = %outcome.reason,
            "alarm weighed"
        );
        Ok(outcome)
    }

    /// The registry entry whose `target_group_alarms` name `alarm`.
    async fn alarm_service(&self, alarm: &str, home: &Home) -> Result<Option<Service>> {
        let services = self.registry.all(home).await?;
        Ok(services
            .into_iter()
            .find(|s| s.config.target_group_alarms.iter().any(|a| a == alarm)))
    }

    /// Stops the deployment with automatic rollback ("CodeDeploy implements rollbacks by
    /// rerouting traffic from the replacement task set to the original task set"), then notes it
    /// in the release record. A deployment that ended first is not an error:
    /// `DeploymentAlreadyCompletedException` ("The deployment is already complete").
    async fn roll_back(
        &self,
        service: &Service,
        change: &AlarmChange,
        deployment_id: String,
        target_group: &str,
    ) -> Result<AlarmOutcome> {
        let name = &service.config.service;
        let mut outcome = AlarmOutcome {
            deployment_id: Some(deployment_id.clone()),
            ..AlarmOutcome::ignored(change, Some(name), String::new())
        };
        let stopped = self
            .codedeploy
            .stop_deployment()
            .deployment_id(&deployment_id)
            .auto_rollback_enabled(true)
            .send()
            .await;
        match stopped {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_deployment_already_completed_exception()) =>
            {
                outcome.reason = format!(
                    "alarm {} is about target group {target_group} of deployment {deployment_id}, which ended first",
                    change.alarm
                );
                return Ok(outcome);
            }
            Err(e) => {
                return Err(Error::sdk(format!(
                    "codedeploy:StopDeployment {deployment_id}"
                ))(e));
            }
        }
        outcome.rolled_back = true;
        outcome.reason = format!(
            "alarm {} is about target group {target_group} of deployment {deployment_id}'s replacement task set: stopped with rollback, traffic back on the original task set",
            change.alarm
        );
        outcome.recorded = self.note_rollback(service, &deployment_id, change).await;
        Ok(outcome)
    }

    /// Adds the rollback to the release record's `interventions`, `by` the alarm; whether it is
    /// there. Best effort, after the stop: the stop is what protects production, and a record
    /// that cannot be written is logged at ERROR.
    async fn note_rollback(
        &self,
        service: &Service,
        deployment_id: &str,
        change: &AlarmChange,
    ) -> bool {
        let subject = match self.subject(&service.config, deployment_id).await {
            Ok(Some(subject)) => subject,
            Ok(None) => return false,
            Err(why) => {
                tracing::error!(%why, "alarm rollback not recorded");
                return false;
            }
        };
        let now = SystemTime::now();
        let entry = Intervention {
            action: Action::TrafficRollback,
            deployment_id: Some(deployment_id.to_owned()),
            pipeline_execution_id: Some(subject.pipeline_execution_id.clone()),
            by: format!("CloudWatch alarm {}", change.alarm),
            at: timestamp(now),
        };
        let edit = |r: &mut crate::record::ReleaseRecord| {
            keep_newest(&mut r.interventions, entry.clone());
            Change::Write(())
        };
        match self
            .records
            .update(&subject.service, &subject.release, now, edit)
            .await
        {
            Ok(Updated::Missing) => false,
            Ok(_) => true,
            Err(e) => {
                tracing::error!(kind = e.kind(), error = %e, "alarm rollback not recorded");
                false
            }
        }
    }
}
