//! Before an ordinary release migrates or renders: wait, through continuation tokens, for the
//! service's deployment to end — one an execution stopped and abandoned during Deploy left
//! running ([`crate::migration::busy`] decides). A CODE_DEPLOY service waits for its deployment
//! group to have no active CodeDeploy deployment; a service ECS deploys itself (controller
//! `ECS`) for it to have no service deployment that has not ended.

use aws_sdk_codedeploy::types::DeploymentStatus;

use super::job::{Artifact, Parameters};
use super::{Context, Halt, Step};
use crate::jobs::JobResult;
use crate::migration::Waiting;
use crate::migration::busy::{self, ACTIVE_STATUSES, Busy};
use crate::registry::DeploymentTarget;
use crate::render::DeployTarget;
use crate::service_deployment::DeployKind;
use crate::service_deployments;

/// How many pages of `ListDeployments` are read at most before the group counts as free.
pub(super) const MAX_PAGES: usize = 10;

/// Whose deployments the release waits for.
enum Watched<'a> {
    Group(&'a DeploymentTarget),
    Service(&'a DeployTarget),
    Nothing,
}

impl Context {
    /// `Ok(())` to go on; otherwise `Halt::Answer` with the job's result: `continue` while the
    /// service has a deployment under way, a failure naming it once the wait's bound is
    /// reached. A rollback execution never waits (it is the operator's way out), and neither
    /// does an artifact rendered before it named its deployment group.
    pub(super) async fn wait_for_group(
        &self,
        params: &Parameters,
        artifact: &Artifact,
        origin: &str,
        waiting: Option<&Waiting>,
        now_epoch: u64,
    ) -> Step<()> {
        let r = &artifact.release;
        let since = waiting.map_or(now_epoch, |w| w.since_epoch);
        let timeout = r.migration.as_ref().map_or(0, |m| m.timeout_seconds);
        let bound = busy::wait_bound(timeout);
        let within = now_epoch.saturating_sub(since) < bound;
        let last = waiting.map_or("", |w| w.deployment.as_str());
        let ask_again = |e: &crate::Error| {
            Halt::Answer(JobResult::Continue {
                token: Waiting::new(origin, since, last).encode(),
                summary: format!("could not ask for active deployments ({e}); asking again"),
                external_id: None,
            })
        };
        let looked = self.look(params, artifact, since, now_epoch, bound).await;
        let (active, decided) = match looked {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(()),
            // Throttling or an outage: ask again on the next invocation, within the same bound.
            Err(e) if e.is_transient() && within => return Err(ask_again(&e)),
            Err(crate::Error::Config(m)) => return Err(Halt::Report(m)),
            Err(e) => return Err(Halt::Fault(e)),
        };
        match decided {
            Busy::Proceed => Ok(()),
            Busy::Fail { message } => Err(Halt::Report(message)),
            Busy::Wait { summary } => {
                let first = active.first().map_or("", String::as_str);
                tracing::warn!(deployment = %first, "service deployment under way; migrating later");
                Err(Halt::Answer(JobResult::Continue {
                    token: Waiting::new(origin, since, first).encode(),
                    summary,
                    external_id: None,
                }))
            }
        }
    }

    /// The deployments the release waits for, and the decision on them; `None`: nothing to
    /// wait for.
    async fn look(
        &self,
        params: &Parameters,
        artifact: &Artifact,
        since: u64,
        now_epoch: u64,
        bound: u64,
    ) -> crate::Result<Option<(Vec<String>, Busy)>> {
        let service = &artifact.release.service;
        Ok(Some(match self.watched(params, artifact).await? {
            Watched::Nothing => return Ok(None),
            Watched::Group(group) => {
                let ids = self.active_deployments(group).await?;
                let decided = busy::decide(service, &ids, since, now_epoch, bound);
                (ids, decided)
            }
            Watched::Service(t) => {
                let ecs = &self.clients.ecs;
                let arns = service_deployments::active(ecs, &t.cluster, &t.ecs_service).await?;
                let decided = busy::decide_native(service, &arns, since, now_epoch, bound);
                (arns, decided)
            }
        }))
    }

    /// What the release waits for: the deployment group of a CODE_DEPLOY service, the service
    /// deployments of one ECS deploys itself (DescribeServices tells which), nothing for a
    /// rollback, an artifact that names no target, a task target (its Deploy job repoints at
    /// once; a run under way keeps its task), or a service ECS no longer has (rendering reports
    /// that).
    async fn watched<'a>(
        &self,
        params: &Parameters,
        artifact: &'a Artifact,
    ) -> crate::Result<Watched<'a>> {
        let r = &artifact.release;
        let Some(target) = r.target.as_ref().filter(|_| !params.rollback) else {
            return Ok(Watched::Nothing);
        };
        if target.task_target.is_some() {
            return Ok(Watched::Nothing);
        }
        let ecs = &self.clients.ecs;
        let kind =
            service_deployments::service_kind(ecs, &target.cluster, &target.ecs_service).await?;
        Ok(match kind {
            None => Watched::Nothing,
            Some(DeployKind::CodeDeploy) => match &target.deployment {
                Some(group) => Watched::Group(group),
                None => Watched::Nothing,
            },
            Some(_) => Watched::Service(target),
        })
    }

    /// The group's deployments that have not ended: `ListDeployments` with `includeOnlyStatuses`
    /// ("A subset of deployments to list by status" — CodeDeploy API reference). The list is
    /// paged ("If a large amount of information is returned, an identifier is also returned. It
    /// can be used in a subsequent list deployments call to return the next set of deployments
    /// in the list."): pages are read until one names a deployment, [`MAX_PAGES`] at most.
    async fn active_deployments(&self, target: &DeploymentTarget) -> crate::Result<Vec<String>> {
        let statuses = ACTIVE_STATUSES.map(DeploymentStatus::from).to_vec();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let listed = self
                .clients
                .codedeploy
                .list_deployments()
                .application_name(&target.application)
                .deployment_group_name(&target.group)
                .set_include_only_statuses(Some(statuses.clone()))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(crate::Error::sdk(format!(
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
}
