//! The first invocation of a Migrate job: skip, or register the release's task definition and
//! start the migration task, answering with a continuation token.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use tracing::Instrument;

use super::ecs::{self, Placement};
use super::job::{self, Artifact};
use super::{Context, Halt, JobResult, Step, migration_record};
use crate::manifest::MigrationPlan;
use crate::migration::{self, Token};
use crate::record::{MigrationRecord, epoch_seconds};

impl Context {
    pub(super) async fn start(
        &self,
        job: &CodePipelineJob,
        job_id: &str,
        now: SystemTime,
    ) -> Step<JobResult> {
        let parameters = job
            .data
            .action_configuration
            .configuration
            .user_parameters
            .as_deref();
        let rollback = job::parse_user_parameters(parameters).map_err(Halt::Report)?;
        let artifact = job::read_artifact(&self.clients.config, job).await?;
        let release = &artifact.release;
        let span =
            tracing::info_span!("release", service = %release.service, release = %release.release);
        async {
            match (&release.migration, rollback) {
                (Some(plan), false) => self.run_migration(&artifact, plan, job_id, now).await,
                _ => Ok(self.skip(&artifact, rollback, job_id).await),
            }
        }
        .instrument(span)
        .await
    }

    /// A rollback execution, or a release without a migration.
    async fn skip(&self, artifact: &Artifact, rollback: bool, job_id: &str) -> JobResult {
        let why = if rollback {
            "rollback execution"
        } else {
            "release has no migration"
        };
        tracing::info!(reason = why, "migration skipped");
        let r = &artifact.release;
        let record = migration_record("skipped", job_id, None, None, Some(why.into()));
        self.note(&r.service, &r.release, record).await;
        JobResult::Success {
            summary: format!("migration skipped: {why}"),
            variables: BTreeMap::from([("MIGRATION".into(), "skipped".into())]),
            task_arn: None,
        }
    }

    async fn run_migration(
        &self,
        artifact: &Artifact,
        plan: &MigrationPlan,
        job_id: &str,
        now: SystemTime,
    ) -> Step<JobResult> {
        let r = &artifact.release;
        let taskdef = artifact.task_definition()?;
        let (task_definition_arn, task_arn) =
            self.start_task(artifact, plan, &taskdef, job_id).await?;
        tracing::info!(%task_arn, cluster = %plan.cluster, "migration task started");
        let token = token(artifact, plan, &taskdef, &task_arn, now);
        let Some(encoded) = token.encode() else {
            let message = format!(
                "migration task {task_arn} started, but its state does not fit CodePipeline's {}-character continuation token",
                migration::MAX_TOKEN_CHARS
            );
            return Ok(super::failure(message, Some(task_arn)));
        };
        let running = migration_record(
            "running",
            job_id,
            Some(&task_definition_arn),
            Some(&task_arn),
            None,
        );
        self.note(&r.service, &r.release, running).await;
        Ok(JobResult::Continue {
            token: encoded,
            summary: format!("migration task {task_arn} started"),
            task_arn,
        })
    }

    /// Registers the task definition and runs the task, once per job: a repeated first
    /// invocation finds both in the release record. Returns (task definition ARN, task ARN).
    async fn start_task(
        &self,
        artifact: &Artifact,
        plan: &MigrationPlan,
        taskdef: &serde_json::Value,
        job_id: &str,
    ) -> Step<(String, String)> {
        let r = &artifact.release;
        let previous = self
            .previous_attempt(&r.service, &r.release, job_id)
            .await?;
        let task_definition_arn = match previous
            .as_ref()
            .and_then(|m| m.task_definition_arn.clone())
        {
            Some(arn) => arn,
            None => ecs::register(&self.clients.ecs, taskdef).await?,
        };
        if let Some(task_arn) = previous.and_then(|m| m.task_arn) {
            return Ok((task_definition_arn, task_arn));
        }
        let ecs = &self.clients.ecs;
        match ecs::run_task(ecs, plan, &r.release, &task_definition_arn, job_id).await? {
            Placement::Started(task_arn) => Ok((task_definition_arn, task_arn)),
            Placement::Refused(message) => {
                let tda = Some(task_definition_arn.as_str());
                let m = migration_record("failed", job_id, tda, None, Some(message.clone()));
                self.note(&r.service, &r.release, m).await;
                Err(Halt::Report(message))
            }
        }
    }

    /// This job's earlier attempt, as the release record remembers it.
    async fn previous_attempt(
        &self,
        service: &str,
        release: &str,
        job_id: &str,
    ) -> Step<Option<MigrationRecord>> {
        let stored = self.records.get(service, release).await?;
        Ok(stored
            .and_then(|r| r.value.migration)
            .filter(|m| m.job_id.as_deref() == Some(job_id)))
    }
}

/// What the next invocations need: the task, its deadline, and where its logs go.
fn token(
    artifact: &Artifact,
    plan: &MigrationPlan,
    taskdef: &serde_json::Value,
    task_arn: &str,
    now: SystemTime,
) -> Token {
    let (log_group, log_stream_prefix) = ecs::awslogs(taskdef, &plan.container);
    let started_epoch = epoch_seconds(now);
    Token {
        v: 1,
        service: artifact.release.service.clone(),
        release: artifact.release.release.clone(),
        cluster: plan.cluster.clone(),
        task_arn: task_arn.to_owned(),
        container: plan.container.clone(),
        essential: ecs::essential_containers(taskdef),
        started_epoch,
        deadline_epoch: started_epoch + plan.timeout_seconds,
        log_group,
        log_stream_prefix,
    }
}
