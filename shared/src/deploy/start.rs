//! The first invocation of a Deploy job (and those that wait for another deployment to end or
//! ask again after a passing fault): refuse what cannot be deployed, wait, register the task
//! definition, write the marker, call UpdateService once, and answer with a token that follows
//! the service deployment it started.

use std::time::SystemTime;

use aws_sdk_ecs::types::Service;
use serde_json::Value;

use super::{Artifact, Context, Halt, Invocation, Step, deployment_note, ecs};
use crate::jobs::JobResult;
use crate::keys;
use crate::migration::busy::{self, Busy};
use crate::record::{epoch_seconds, timestamp};
use crate::render::DeployTarget;
use crate::service_deployment::DeployKind;
use crate::service_deployment::deploy::{Marker, RETRY_SECONDS, Target, Token, TokenPhase, refuse};
use crate::service_deployments;
use crate::store::{Condition, Read, Written};

/// A marker is a few hundred bytes; anything larger is not one berth wrote.
const MAX_MARKER_BYTES: u64 = 64 * 1024;

impl Context {
    pub(super) async fn start(
        &self,
        invocation: &Invocation,
        artifact: &Artifact,
        now: SystemTime,
    ) -> Step<JobResult> {
        let now = epoch_seconds(now);
        let r = &artifact.release;
        let params = &invocation.params;
        params.check_release(&r.release).map_err(Halt::Report)?;
        let target = r.target.as_ref().ok_or_else(|| {
            Halt::Report(format!(
                "the input artifact of release {} names no ECS service (it was rendered before berth deployed ECS-controlled services): release it again",
                r.release
            ))
        })?;
        if let Some(t) = &target.task_target {
            return self.start_task(invocation, artifact, t, now).await;
        }
        let (kind, service) = self.service(target).await?;
        let token = following(invocation, artifact, target, kind, now);
        let key = keys::deploy_marker_key(&r.service, &r.release, &token.job);
        if let Some(marker) = self.marker(&key).await? {
            return self.resume(invocation, token, marker, &service, now).await;
        }
        if !params.rollback {
            self.wait_for_others(invocation, &token, now).await?;
        }
        let task_definition_arn = self.task_definition(invocation, artifact).await?;
        let marker = Marker {
            job: token.job.clone(),
            pipeline_execution_id: params.execution.clone(),
            cluster: target.cluster.clone(),
            ecs_service: target.ecs_service.clone(),
            task_definition_arn,
            at_epoch: now,
        };
        let body = serde_json::to_vec(&marker).map_err(|e| Halt::Report(format!("marker: {e}")))?;
        match self
            .bucket
            .put(&key, body, "application/json", Condition::Absent)
            .await?
        {
            Written::Ok { .. } => self.update(invocation, token, &marker, now).await,
            // Another delivery of this job wrote it first: find what it started.
            Written::ConditionFailed => {
                let marker = self.marker(&key).await?.ok_or_else(|| {
                    Halt::Report(format!("{key} was written and then could not be read"))
                })?;
                self.resume(invocation, token, marker, &service, now).await
            }
        }
    }

    /// The ECS service and its deploy kind; refuses a service that is gone, a CODE_DEPLOY one
    /// (its pipeline deploys with CodeDeployToECS) and one berth does not deploy (EXTERNAL).
    async fn service(&self, target: &DeployTarget) -> Step<(DeployKind, Service)> {
        let (cluster, name) = (&target.cluster, &target.ecs_service);
        let described =
            service_deployments::describe_service(&self.clients.ecs, cluster, name).await;
        let (kind, service) = match described {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(Halt::Report(format!(
                    "ECS service {name:?} in cluster {cluster:?} does not exist or is not ACTIVE (deleted?): nothing was deployed"
                )));
            }
            Err(crate::Error::Config(m)) => {
                return Err(Halt::Report(format!("ECS service {name:?}: {m}")));
            }
            Err(e) => return Err(Halt::Fault(e)),
        };
        if let Some(message) = refuse(kind, name) {
            return Err(Halt::Report(message));
        }
        Ok((kind, service))
    }

    /// Waits (through `waiting` tokens) while a deployment of the service that is not this
    /// job's is under way, within Migrate's bound ([`busy::decide_native`]): UpdateService now
    /// would take the service from it. A rollback execution never waits (it is the operator's
    /// way out).
    async fn wait_for_others(&self, invocation: &Invocation, token: &Token, now: u64) -> Step<()> {
        let Some(t) = &token.target else {
            return Ok(());
        };
        let active =
            service_deployments::active(&self.clients.ecs, &t.cluster, &t.ecs_service).await?;
        let waiting = invocation
            .token
            .as_ref()
            .filter(|w| w.phase == TokenPhase::Waiting);
        let since = waiting.map_or(now, |w| w.since_epoch);
        match busy::decide_native(&t.service, &active, since, now, busy::wait_bound(0)) {
            Busy::Proceed => Ok(()),
            Busy::Fail { message } => Err(Halt::Report(message)),
            Busy::Wait { summary } => {
                let mut w = Token::new(TokenPhase::Waiting, &token.job, token.first_epoch);
                w.since_epoch = since;
                w.deployment = active.first().cloned();
                if waiting.is_none() {
                    let params = &invocation.params;
                    let note = deployment_note(t.kind, &token.job, params, "WAITING");
                    self.note(&t.service, &t.release, params, note).await;
                }
                tracing::warn!(deployment = ?w.deployment, "another service deployment is under way; deploying later");
                Err(Halt::Answer(JobResult::Continue {
                    token: w.encode(),
                    summary,
                    external_id: None,
                }))
            }
        }
    }

    /// The revision to deploy. The migration of this same execution registered one from the
    /// same saved document (Migrate renders the deployed artifact once, create-only, and this
    /// action's input is that artifact), so it is deployed rather than a twin registered: the
    /// service then runs exactly the revision the migration ran against, and a failed release
    /// leaves one revision, not two. Otherwise (a rollback, a release without migration)
    /// `taskdef.json` is registered byte for byte.
    pub(super) async fn task_definition(
        &self,
        invocation: &Invocation,
        artifact: &Artifact,
    ) -> Step<String> {
        let r = &artifact.release;
        let params = &invocation.params;
        if !params.rollback && params.execution.is_some() {
            let record = self.records.get(&r.service, &r.release).await?;
            let migration = record.and_then(|s| s.value.migration);
            if let Some(arn) = migration
                .filter(|m| m.outcome == "succeeded" && m.pipeline_execution_id == params.execution)
                .and_then(|m| m.task_definition_arn)
            {
                tracing::info!(task_definition = %arn, "deploying the revision this execution's migration ran");
                return Ok(arn);
            }
        }
        let parsed: Value = serde_json::from_slice(&artifact.taskdef).map_err(|e| {
            Halt::Report(format!(
                "the input artifact's taskdef.json is not JSON: {e}"
            ))
        })?;
        let family = parsed
            .get("family")
            .and_then(Value::as_str)
            .unwrap_or(&r.task_family);
        let arn =
            crate::register::register(&self.clients.ecs, family, artifact.taskdef.clone()).await?;
        tracing::info!(task_definition = %arn, "task definition registered");
        Ok(arn)
    }

    /// UpdateService, then the deployment it started (or a `starting` token until ECS lists
    /// it).
    async fn update(
        &self,
        invocation: &Invocation,
        mut token: Token,
        marker: &Marker,
        now: u64,
    ) -> Step<JobResult> {
        let (cluster, name) = (&marker.cluster, &marker.ecs_service);
        ecs::update_service(
            &self.clients.ecs,
            cluster,
            name,
            &marker.task_definition_arn,
        )
        .await?;
        tracing::info!(task_definition = %marker.task_definition_arn, "service updated");
        if let Some(t) = &token.target {
            let params = &invocation.params;
            let mut note = deployment_note(t.kind, &token.job, params, "STARTING");
            note.task_definition_arn = Some(marker.task_definition_arn.clone());
            note.started_at = Some(timestamp(SystemTime::now()));
            self.note(&t.service, &t.release, params, note).await;
        }
        token.task_definition = Some(marker.task_definition_arn.clone());
        let found = ecs::started_since(&self.clients.ecs, marker).await?;
        Ok(self.answer(invocation, token, found, now).await)
    }

    /// A marker exists: UpdateService was made (find the deployment), or was about to be and
    /// never was (the service does not run the marked revision: make it now).
    async fn resume(
        &self,
        invocation: &Invocation,
        mut token: Token,
        marker: Marker,
        service: &Service,
        now: u64,
    ) -> Step<JobResult> {
        token.task_definition = Some(marker.task_definition_arn.clone());
        if let Some(arn) = ecs::started_since(&self.clients.ecs, &marker).await? {
            tracing::info!(deployment = %arn, "found the service deployment this job started");
            return Ok(self.answer(invocation, token, Some(arn), now).await);
        }
        if service.task_definition() == Some(marker.task_definition_arn.as_str()) {
            return Ok(self.answer(invocation, token, None, now).await);
        }
        tracing::warn!("the marker is written but the service was never updated; updating it now");
        self.update(invocation, token, &marker, now).await
    }

    /// Following the deployment found, or asking again until ECS lists it.
    async fn answer(
        &self,
        invocation: &Invocation,
        mut token: Token,
        found: Option<String>,
        now: u64,
    ) -> JobResult {
        let Some(arn) = found else {
            let since = invocation
                .token
                .as_ref()
                .filter(|t| t.phase == TokenPhase::Starting)
                .map_or(now, |t| t.since_epoch);
            if now.saturating_sub(since) >= RETRY_SECONDS {
                return crate::jobs::failure(
                    format!(
                        "ECS took UpdateService with task definition {} but has listed no service deployment of it for {RETRY_SECONDS} seconds",
                        token.task_definition.as_deref().unwrap_or("?")
                    ),
                    None,
                );
            }
            token.phase = TokenPhase::Starting;
            token.since_epoch = since;
            token.attempts += 1;
            token.note =
                Some("the service was updated; ECS does not list its deployment yet".into());
            return JobResult::Continue {
                token: token.encode(),
                summary: "service updated; waiting for ECS to list its deployment".into(),
                external_id: None,
            };
        };
        token.phase = TokenPhase::Following;
        token.deployment = Some(arn.clone());
        token.since_epoch = now;
        if let Some(t) = &token.target {
            let params = &invocation.params;
            let mut note = deployment_note(t.kind, &token.job, params, "IN_PROGRESS");
            note.service_deployment_arn = Some(arn.clone());
            note.task_definition_arn = token.task_definition.clone();
            self.note(&t.service, &t.release, params, note).await;
        }
        JobResult::Continue {
            token: token.encode(),
            summary: format!("ECS service deployment {arn} started"),
            external_id: Some(arn),
        }
    }

    /// The job's marker ([`Marker`], or a task target's [`crate::task_target::TaskMarker`]).
    pub(super) async fn marker<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Step<Option<T>> {
        match self.bucket.get(key, None, Some(MAX_MARKER_BYTES)).await? {
            Read::Found(obj) => serde_json::from_slice(&obj.body)
                .map(Some)
                .map_err(|e| Halt::Report(format!("{key} is not a deploy marker: {e}"))),
            Read::Missing => Ok(None),
            Read::TooLarge(n) => Err(Halt::Report(format!(
                "{key} is {n} bytes: not a deploy marker"
            ))),
        }
    }
}

/// The token that follows the deployment this job starts (its ARN to come).
fn following(
    invocation: &Invocation,
    artifact: &Artifact,
    target: &DeployTarget,
    kind: DeployKind,
    now: u64,
) -> Token {
    let r = &artifact.release;
    let first_epoch = invocation.first_epoch(now);
    let mut token = Token::new(TokenPhase::Following, invocation.first_job(), first_epoch);
    token.target = Some(Target {
        service: r.service.clone(),
        release: r.release.clone(),
        cluster: target.cluster.clone(),
        ecs_service: target.ecs_service.clone(),
        kind,
    });
    token
}
