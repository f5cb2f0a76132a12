//! Before an ordinary release migrates or renders: wait, through continuation tokens, for the
//! service's deployment group to have no active deployment — one an execution stopped and
//! abandoned during Deploy left running ([`crate::migration::busy`] decides).

use aws_sdk_codedeploy::types::DeploymentStatus;

use super::job::{Artifact, Parameters};
use super::{Context, Halt, Step};
use crate::jobs::JobResult;
use crate::migration::Waiting;
use crate::migration::busy::{self, ACTIVE_STATUSES, Busy};
use crate::registry::DeploymentTarget;

impl Context {
    /// `Ok(())` to go on; otherwise `Halt::Answer` with the job's result: `continue` while the
    /// group has an active deployment, a failure naming it once the wait's bound is reached. A
    /// rollback execution never waits (it is the operator's way out), and neither does an
    /// artifact rendered before it named its deployment group.
    pub(super) async fn wait_for_group(
        &self,
        params: &Parameters,
        artifact: &Artifact,
        origin: &str,
        waiting: Option<&Waiting>,
        now_epoch: u64,
    ) -> Step<()> {
        let r = &artifact.release;
        let target = r.target.as_ref().and_then(|t| t.deployment.as_ref());
        let Some(target) = target.filter(|_| !params.rollback) else {
            return Ok(());
        };
        let since = waiting.map_or(now_epoch, |w| w.since_epoch);
        let timeout = r.migration.as_ref().map_or(0, |m| m.timeout_seconds);
        let bound = busy::wait_bound(timeout);
        let active = match self.active_deployments(target).await {
            Ok(ids) => ids,
            // Throttling or an outage: ask again on the next invocation, within the same bound.
            Err(e) if e.is_transient() && now_epoch.saturating_sub(since) < bound => {
                let last = waiting.map_or("", |w| w.deployment.as_str());
                return Err(Halt::Answer(JobResult::Continue {
                    token: Waiting::new(origin, since, last).encode(),
                    summary: format!(
                        "could not ask CodeDeploy for active deployments ({e}); asking again"
                    ),
                    external_id: None,
                }));
            }
            Err(e) => return Err(Halt::Fault(e)),
        };
        match busy::decide(&r.service, &active, since, now_epoch, bound) {
            Busy::Proceed => Ok(()),
            Busy::Fail { message } => Err(Halt::Report(message)),
            Busy::Wait { summary } => {
                let first = active.first().map_or("", String::as_str);
                tracing::warn!(deployment = %first, "deployment group busy; migrating later");
                Err(Halt::Answer(JobResult::Continue {
                    token: Waiting::new(origin, since, first).encode(),
                    summary,
                    external_id: None,
                }))
            }
        }
    }

    /// The group's deployments that have not ended: `ListDeployments` with `includeOnlyStatuses`
    /// ("A subset of deployments to list by status" — CodeDeploy API reference).
    async fn active_deployments(&self, target: &DeploymentTarget) -> crate::Result<Vec<String>> {
        let statuses = ACTIVE_STATUSES.map(DeploymentStatus::from).to_vec();
        let listed = self
            .clients
            .codedeploy
            .list_deployments()
            .application_name(&target.application)
            .deployment_group_name(&target.group)
            .set_include_only_statuses(Some(statuses))
            .send()
            .await
            .map_err(crate::Error::sdk(format!(
                "codedeploy:ListDeployments {}/{}",
                target.application, target.group
            )))?;
        Ok(listed.deployments().to_vec())
    }
}
