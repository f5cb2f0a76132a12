//! Later invocations of a Deploy job: look at the service deployment the job started and
//! decide ([`crate::service_deployment::deploy::follow`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::{Context, Halt, Invocation, Step, deployment_note, ecs};
use crate::jobs::{self, JobResult};
use crate::record::{epoch_seconds, timestamp};
use crate::service_deployment::deploy::{self, Next, Seen, Target, Token};
use crate::service_deployment::{Facts, Outcome, outcome};
use crate::service_deployments;

impl Context {
    pub(super) async fn follow(
        &self,
        invocation: &Invocation,
        token: Token,
        now: SystemTime,
    ) -> Step<JobResult> {
        let now = epoch_seconds(now);
        let (Some(target), Some(arn)) = (token.target.clone(), token.deployment.clone()) else {
            return Err(Halt::Report(
                "the deploy action's token names no service deployment".into(),
            ));
        };
        let ecs = &self.clients.ecs;
        let facts = service_deployments::describe(ecs, &arn).await?;
        let succeeded = facts
            .as_ref()
            .is_some_and(|f| outcome(f, now as i64) == Outcome::Succeeded);
        let (exists, newer) = if succeeded {
            (true, None)
        } else {
            self.around(&target, &token, facts.as_ref(), &arn).await?
        };
        let seen = Seen {
            facts: facts.as_ref(),
            service_exists: exists,
            newer: newer.as_deref(),
        };
        Ok(match deploy::follow(&token, seen, now) {
            Next::Wait { summary } => JobResult::Continue {
                token: token.encode(),
                summary,
                external_id: Some(arn),
            },
            Next::Succeeded => self.succeeded(invocation, &token, &target, &arn).await,
            Next::Failed {
                reason,
                status,
                tasks,
            } => {
                let reason = if tasks {
                    self.with_tasks(&target, &token, reason).await
                } else {
                    reason
                };
                self.failed(invocation, &token, &target, &arn, (status, reason))
                    .await
            }
        })
    }

    /// Whether the service is still there, and a deployment of it newer than ours.
    async fn around(
        &self,
        target: &Target,
        token: &Token,
        facts: Option<&Facts>,
        arn: &str,
    ) -> crate::Result<(bool, Option<String>)> {
        let ecs = &self.clients.ecs;
        let (cluster, name) = (&target.cluster, &target.ecs_service);
        let exists = match service_deployments::describe_service(ecs, cluster, name).await {
            Ok(found) => found.is_some(),
            // The service is there; its kind changed under the release (it is reported below).
            Err(crate::Error::Config(_)) => true,
            Err(e) => return Err(e),
        };
        if !exists {
            return Ok((false, None));
        }
        let created = facts
            .and_then(|f| f.created_at)
            .unwrap_or(i64::try_from(token.first_epoch).unwrap_or(0));
        let newer = ecs::newer(ecs, cluster, name, arn, created).await?;
        Ok((true, newer))
    }

    /// The failure's reason with the stopped tasks' own (best effort: a failure to read them
    /// is logged and the reason stands alone).
    async fn with_tasks(&self, target: &Target, token: &Token, reason: String) -> String {
        let Some(td) = token.task_definition.as_deref() else {
            return reason;
        };
        let ecs = &self.clients.ecs;
        match ecs::stopped_tasks(ecs, &target.cluster, &target.ecs_service, td).await {
            Ok(tasks) => deploy::with_stopped_tasks(&reason, &tasks),
            Err(e) => {
                tracing::warn!(error = %e, "stopped tasks not read");
                reason
            }
        }
    }

    async fn succeeded(
        &self,
        invocation: &Invocation,
        token: &Token,
        target: &Target,
        arn: &str,
    ) -> JobResult {
        tracing::info!(deployment = %arn, "service deployment succeeded");
        let mut note = deployment_note(target.kind, &token.job, &invocation.params, "SUCCESSFUL");
        note.service_deployment_arn = Some(arn.to_owned());
        note.task_definition_arn = token.task_definition.clone();
        note.finished_at = Some(timestamp(SystemTime::now()));
        self.note(&target.service, &target.release, &invocation.params, note)
            .await;
        let td = token.task_definition.clone().unwrap_or_default();
        JobResult::Success {
            summary: format!(
                "ECS service deployment {arn} succeeded ({})",
                target.kind.as_str()
            ),
            variables: BTreeMap::from([
                ("DEPLOYMENT".into(), "succeeded".into()),
                ("SERVICE_DEPLOYMENT_ARN".into(), arn.to_owned()),
                ("TASK_DEFINITION_ARN".into(), td),
            ]),
            external_id: Some(arn.to_owned()),
        }
    }

    async fn failed(
        &self,
        invocation: &Invocation,
        token: &Token,
        target: &Target,
        arn: &str,
        (status, reason): (String, String),
    ) -> JobResult {
        tracing::warn!(deployment = %arn, %status, %reason, "service deployment did not succeed");
        let mut note = deployment_note(target.kind, &token.job, &invocation.params, &status);
        note.service_deployment_arn = Some(arn.to_owned());
        note.task_definition_arn = token.task_definition.clone();
        note.reason = Some(reason.clone());
        note.finished_at = Some(timestamp(SystemTime::now()));
        self.note(&target.service, &target.release, &invocation.params, note)
            .await;
        jobs::failure(reason, Some(arn.to_owned()))
    }
}
