//! The PostMigrate action: the same function as Migrate, told apart by `"migration": "post"` in
//! its UserParameters. It runs the release's post-deployment migration (the contract step) once
//! the deployment has finished for good ([`crate::migration::post`] decides), with migrate's
//! task start, continuation tokens, forensics and one-task-per-job idempotency.
//!
//! "Finished for good" by deploy kind:
//! - CODE_DEPLOY: the action waits, through continuation tokens, until the deployment group has
//!   no active deployment. CodeDeploy keeps an ECS deployment `InProgress` through its
//!   termination wait ("the deployment starts waiting (if configured) immediately after marking
//!   the target status as `Succeeded`" — an AWS engineer, aws/containers-roadmap#269), and
//!   "For an Amazon ECS deployment, the number of minutes before deleting the original (blue)
//!   task set" (BlueInstanceTerminationOption) is that wait: so the wait ends only once blue is
//!   retired. A deployment of the group that ended `Stopped` or `Failed` since the execution
//!   began (`berth rollback` during the termination wait) means traffic went back: not run.
//! - ECS rolling, blue/green, linear, canary and task targets: the Deploy action succeeds only at
//!   the service deployment's `SUCCESSFUL` (after bake time) or once every target is repointed,
//!   and the record's `deployment` section must say so for this execution.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_codedeploy::types::{DeploymentStatus, TimeRange};

use super::job::{Artifact, Parameters};
use super::{Context, Halt, Step, migration_record};
use crate::jobs::JobResult;
use crate::migration::post::{self, NOT_RUN, PostStep};
use crate::migration::{Pending, Waiting};
use crate::record::epoch_seconds;
use crate::service_deployment::DeployKind;
use crate::service_deployments;

impl Context {
    /// The PostMigrate job: skip, settle, refuse, or run the contract step.
    pub(super) async fn post_start(
        &self,
        params: &Parameters,
        artifact: Artifact,
        job_id: &str,
        now: SystemTime,
        pending: Option<Pending>,
        waiting: Option<Waiting>,
    ) -> Step<JobResult> {
        let r = &artifact.release;
        let stored = self.records.get(&r.service, &r.release).await?;
        let record = stored.as_ref().map(|s| &s.value);
        let execution = params.execution.as_deref();
        let plan = r.post_migration.as_ref();
        match post::decide(params.rollback, plan, record, execution, job_id) {
            PostStep::Skip(why) => return Ok(skipped(&why)),
            PostStep::Done(why) => return Ok(skipped(&why)),
            PostStep::NotRun(why) => return Ok(self.not_run(&artifact, job_id, params, why).await),
            PostStep::Run => {}
        }
        let since = waiting.as_ref().map(|w| w.since_epoch);
        let now_epoch = epoch_seconds(now);
        self.wait_for_group(params, &artifact, job_id, waiting.as_ref(), now_epoch)
            .await?;
        let started = record.and_then(|r| r.pipeline_started_at.as_deref());
        if let Some(why) = self.rolled_back_since(&artifact, started).await? {
            return Ok(self.not_run(&artifact, job_id, params, why).await);
        }
        let Some(plan) = plan else {
            return Ok(skipped("release has no post migration"));
        };
        tracing::info!(waited_since = ?since, "deployment finished for good; running the post migration");
        self.run_migration(&artifact, plan, params, job_id, now, pending)
            .await
    }

    /// Records that the contract step must not run, and fails the job saying why.
    async fn not_run(
        &self,
        artifact: &Artifact,
        job_id: &str,
        params: &Parameters,
        why: String,
    ) -> JobResult {
        let r = &artifact.release;
        tracing::warn!(reason = %why, "post migration not run");
        let mut m = migration_record(NOT_RUN, job_id, None, None, Some(why.clone()));
        m.pipeline_execution_id = params.execution.clone();
        self.note(true, &r.service, &r.release, m).await;
        super::failure(format!("post migration not run: {why}"), None)
    }

    /// For a CODE_DEPLOY service: a deployment of the group that ended `Stopped` or `Failed`
    /// since the execution began — traffic went back to the original task set.
    /// `ListDeployments` with `includeOnlyStatuses` ("A subset of deployments to list by
    /// status") and `createTimeRange` ("A time range (start and end) for returning a subset of
    /// the list of deployments") — CodeDeploy API reference.
    async fn rolled_back_since(
        &self,
        artifact: &Artifact,
        started: Option<&str>,
    ) -> Step<Option<String>> {
        let Some(target) = artifact.release.target.as_ref() else {
            return Ok(None);
        };
        let Some(group) = target.deployment.as_ref() else {
            return Ok(None);
        };
        let ecs = &self.clients.ecs;
        let kind = service_deployments::service_kind(ecs, &target.cluster, &target.ecs_service);
        if kind.await? != Some(DeployKind::CodeDeploy) {
            return Ok(None);
        }
        let start = started
            .and_then(crate::record::parse_timestamp)
            .map(aws_sdk_codedeploy::primitives::DateTime::from_secs);
        let ended = self.ended_since(group, start).await?;
        Ok(ended.map(|id| {
            format!(
                "CodeDeploy deployment {id} of {}/{} ended stopped or failed during this release: traffic went back to the original task set",
                group.application, group.group
            )
        }))
    }

    /// The first deployment of the group created since `start` that ended `Stopped` or
    /// `Failed`. "If a large amount of information is returned, an identifier is also returned.
    /// It can be used in a subsequent list deployments call to return the next set of
    /// deployments in the list" (ListDeployments): pages are read until one names a deployment,
    /// `MAX_PAGES` at most.
    async fn ended_since(
        &self,
        group: &berth_core::registry::DeploymentTarget,
        start: Option<aws_sdk_codedeploy::primitives::DateTime>,
    ) -> Step<Option<String>> {
        let mut next: Option<String> = None;
        for _ in 0..super::busy::MAX_PAGES {
            let listed = self
                .clients
                .codedeploy
                .list_deployments()
                .application_name(&group.application)
                .deployment_group_name(&group.group)
                .set_include_only_statuses(Some(vec![
                    DeploymentStatus::Stopped,
                    DeploymentStatus::Failed,
                ]))
                .set_create_time_range(start.map(|s| TimeRange::builder().start(s).build()))
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| {
                    let what = format!("codedeploy:ListDeployments {}", group.group);
                    Halt::Fault(crate::Error::sdk(what)(e))
                })?;
            if let Some(id) = listed.deployments().first() {
                return Ok(Some(id.clone()));
            }
            match listed.next_token() {
                Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(None)
    }

    /// A failed post migration holds the next releases; a succeeded one lets them go.
    pub(super) async fn hold_if_failed(&self, service: &str, release: &str, outcome: &str) {
        let held = match outcome {
            "failed" | "stopped" => true,
            "succeeded" => false,
            _ => return,
        };
        let index = crate::index::Index::new(self.bucket.clone());
        if let Err(e) = index.hold_post_migration(service, release, held).await {
            tracing::warn!(%service, %release, error = %e, held, "post migration hold not written");
        }
    }

    /// An ordinary release does not migrate while a live release's contract step failed (a
    /// rollback execution does: it is the operator's way out).
    pub(super) async fn refuse_behind_failed_post_migration(
        &self,
        params: &Parameters,
        service: &str,
    ) -> Step<()> {
        if params.rollback {
            return Ok(());
        }
        let index = crate::index::Index::new(self.bucket.clone());
        match index.post_migration_failed(service, 1).await {
            Ok(held) => match held.first() {
                Some(blocked) => Err(Halt::Report(post::refusal(blocked, service))),
                None => Ok(()),
            },
            Err(e) => Err(Halt::Fault(e)),
        }
    }
}

/// The job's message when the contract step failed: the code is live, the contract is not.
pub(super) fn failed_message(service: &str, release: &str, why: &str) -> String {
    format!(
        "post migration failed: {why}. The code of {release} is live; its contract step is not. The next release is refused until `berth post-migration retry {service} {release}` or `berth post-migration skip {service} {release} --reason ...`"
    )
}

fn skipped(why: &str) -> JobResult {
    tracing::info!(reason = why, "post migration skipped");
    JobResult::Success {
        summary: format!("post migration skipped: {why}"),
        variables: BTreeMap::from([("POST_MIGRATION".into(), "skipped".into())]),
        external_id: None,
    }
}
