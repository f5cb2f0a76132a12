//! The first invocation of a Migrate job (and the retries of one whose task ECS could not
//! start yet): refuse executions berth did not start, skip, or register the release's task
//! definition and start the migration task, answering with a continuation token.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use serde_json::Value;
use tracing::Instrument;

use super::ecs::{self, Placement};
use super::job::{self, Artifact, Parameters};
use super::retry::{retry_if_transient, retry_unread};
use super::{Context, Halt, Step, migration_record};
use crate::jobs::JobResult;
use crate::manifest::MigrationPlan;
use crate::migration::{self, Pending, Token, Waiting};
use crate::record::{MigrationRecord, ReleaseRecord, epoch_seconds};
use crate::records::{Change, Updated};

/// Where the action's attempts stand: when it began, until when it may try, and how many times
/// ECS refused to start the task.
#[derive(Debug, Clone, Copy)]
struct Clock {
    started_epoch: u64,
    deadline_epoch: u64,
    attempt: u32,
    run_attempt: u32,
    now_epoch: u64,
}

impl Context {
    pub(super) async fn start(
        &self,
        job: &CodePipelineJob,
        job_id: &str,
        now: SystemTime,
        pending: Option<Pending>,
        waiting: Option<Waiting>,
    ) -> Step<JobResult> {
        let params = parameters(job)?;
        let origin = origin(job_id, pending.as_ref(), waiting.as_ref());
        let job_id = origin.as_str();
        let artifact = match job::read_artifact(&self.clients.config, job).await {
            Ok(a) => a,
            // S3 throttling or an outage while reading the input: ask again on the next
            // invocation rather than fail the release.
            Err(Halt::Fault(e)) if e.is_transient() => {
                return retry_unread(job_id, pending.as_ref(), epoch_seconds(now), &e.to_string());
            }
            Err(other) => return Err(other),
        };
        params
            .check_release(&artifact.release.release)
            .map_err(Halt::Report)?;
        if params.post {
            let run = self.post_start(&params, artifact, job_id, now, pending, waiting);
            return run.await;
        }
        self.refuse_behind_failed_post_migration(&params, &artifact.release.service)
            .await?;
        self.wait_for_group(
            &params,
            &artifact,
            job_id,
            waiting.as_ref(),
            epoch_seconds(now),
        )
        .await?;
        let artifact = match self.to_deploy(job, &params, artifact).await {
            Ok(a) => a,
            Err(Halt::Fault(e)) if e.is_transient() => {
                return retry_unread(job_id, pending.as_ref(), epoch_seconds(now), &e.to_string());
            }
            Err(other) => return Err(other),
        };
        let release = &artifact.release;
        let span =
            tracing::info_span!("release", service = %release.service, release = %release.release);
        let run = async {
            let Some(plan) = release.migration.as_ref().filter(|_| !params.rollback) else {
                return Ok(self.skip(&artifact, &params, job_id).await);
            };
            self.run_migration(&artifact, plan, &params, job_id, now, pending)
                .await
        };
        run.instrument(span).await
    }

    /// An ordinary release deploys (and migrates with) what is rendered when it reaches its
    /// stage, under the stage lock; the pipeline deploys it only where the Migrate action has
    /// an output artifact for it. A rollback deploys the saved bytes (written by `emit`).
    async fn to_deploy(
        &self,
        job: &CodePipelineJob,
        params: &Parameters,
        artifact: Artifact,
    ) -> Step<Artifact> {
        if params.rollback || job.data.out_put_artifacts.is_empty() {
            return Ok(artifact);
        }
        Ok(match self.deployed(&artifact).await? {
            Some(zip) => Artifact { zip, ..artifact },
            None => artifact,
        })
    }

    /// A rollback execution, or a release without a migration. A rollback's skip is noted on
    /// its redeployment: the restored release keeps its own migration outcome.
    async fn skip(&self, artifact: &Artifact, params: &Parameters, job_id: &str) -> JobResult {
        let r = &artifact.release;
        let why = if params.rollback {
            self.note_rollback_skip(&r.service, &r.release, params.execution.as_deref())
                .await;
            "rollback execution"
        } else {
            let mut record = migration_record(
                "skipped",
                job_id,
                None,
                None,
                Some("release has no migration".into()),
            );
            record.pipeline_execution_id = params.execution.clone();
            self.note(false, &r.service, &r.release, record).await;
            "release has no migration"
        };
        tracing::info!(reason = why, "migration skipped");
        JobResult::Success {
            summary: format!("migration skipped: {why}"),
            variables: BTreeMap::from([("MIGRATION".into(), "skipped".into())]),
            external_id: None,
        }
    }

    async fn note_rollback_skip(&self, service: &str, release: &str, execution: Option<&str>) {
        let Some(execution) = execution else { return };
        let edit = |r: &mut ReleaseRecord| match r
            .redeployments
            .iter_mut()
            .find(|d| d.pipeline_execution_id == execution)
        {
            Some(d) => {
                d.migration = Some("skipped".into());
                Change::Write(())
            }
            None => Change::Keep(()),
        };
        if let Err(e) = self
            .records
            .update(service, release, SystemTime::now(), edit)
            .await
        {
            tracing::warn!(%service, %release, error = %e, "rollback's migration skip not recorded");
        }
    }

    pub(super) async fn run_migration(
        &self,
        artifact: &Artifact,
        plan: &MigrationPlan,
        params: &Parameters,
        job_id: &str,
        now: SystemTime,
        pending: Option<Pending>,
    ) -> Step<JobResult> {
        let r = &artifact.release;
        let taskdef = artifact.task_definition()?;
        let previous = self
            .previous_attempt(params.post, &r.service, &r.release, job_id)
            .await?;
        let clock = clock(
            plan,
            pending.as_ref(),
            previous.as_ref(),
            epoch_seconds(now),
        );
        let started = self
            .start_task(artifact, plan, &taskdef, job_id, params, previous, clock)
            .await;
        let (task_definition_arn, task_arn) = match started {
            Ok(arns) => arns,
            Err(Halt::Retry { reason, refused }) => {
                let later =
                    self.start_later(artifact, params.post, job_id, clock, &reason, refused);
                return Ok(later.await);
            }
            Err(other) => return Err(other),
        };
        let what = super::poll::which(params.post);
        tracing::info!(%task_arn, cluster = %plan.cluster, post = params.post, "{what} task started");
        let token = token(artifact, plan, &taskdef, &task_arn, job_id, clock);
        let Some(encoded) = token.encode() else {
            let message = format!(
                "migration task {task_arn} started, but its state does not fit CodePipeline's {}-character continuation token",
                migration::MAX_TOKEN_CHARS
            );
            return Ok(super::failure(message, Some(task_arn)));
        };
        let mut running = migration_record(
            "running",
            job_id,
            Some(&task_definition_arn),
            Some(&task_arn),
            None,
        );
        running.pipeline_execution_id = params.execution.clone();
        running.first_invoked_epoch = Some(clock.started_epoch);
        self.note(params.post, &r.service, &r.release, running)
            .await;
        Ok(JobResult::Continue {
            token: encoded,
            summary: format!("{what} task {task_arn} started"),
            external_id: Some(task_arn),
        })
    }

    /// ECS could not start the task now: ask again through a continuation token, until the
    /// migration's deadline.
    async fn start_later(
        &self,
        artifact: &Artifact,
        post: bool,
        job_id: &str,
        clock: Clock,
        reason: &str,
        refused: bool,
    ) -> JobResult {
        let r = &artifact.release;
        if clock.now_epoch >= clock.deadline_epoch {
            let message = format!(
                "the migration task could not be started within {} seconds ({} attempts); last: {reason}",
                clock.deadline_epoch.saturating_sub(clock.started_epoch),
                clock.attempt
            );
            let record = migration_record("failed", job_id, None, None, Some(message.clone()));
            self.note(post, &r.service, &r.release, record).await;
            return super::failure(message, None);
        }
        tracing::warn!(%reason, attempt = clock.attempt, "migration task not started yet; asking again on the next invocation");
        let run_attempt = clock.run_attempt + u32::from(refused);
        let pending = Pending::new(
            job_id,
            run_attempt,
            clock.started_epoch,
            clock.deadline_epoch,
            clock.attempt,
            reason,
        );
        JobResult::Continue {
            token: pending.encode(),
            summary: format!(
                "waiting to start the migration task (attempt {}): {reason}",
                clock.attempt
            ),
            external_id: None,
        }
    }

    /// Registers the task definition and runs the task, once per job: the revision is
    /// recorded before `RunTask`, so a repeated first invocation reuses it, and `RunTask`'s
    /// client token (the job id) makes a repeated start find the task it started. Returns
    /// (task definition ARN, task ARN).
    #[allow(clippy::too_many_arguments)]
    async fn start_task(
        &self,
        artifact: &Artifact,
        plan: &MigrationPlan,
        taskdef: &Value,
        job_id: &str,
        params: &Parameters,
        previous: Option<MigrationRecord>,
        clock: Clock,
    ) -> Step<(String, String)> {
        let r = &artifact.release;
        let ecs = &self.clients.ecs;
        let task_definition_arn = match previous
            .as_ref()
            .and_then(|m| m.task_definition_arn.clone())
        {
            Some(arn) => arn,
            None => ecs::register(ecs, taskdef)
                .await
                .map_err(retry_if_transient)?,
        };
        if let Some(task_arn) = previous.and_then(|m| m.task_arn) {
            return Ok((task_definition_arn, task_arn));
        }
        let mut starting =
            migration_record("starting", job_id, Some(&task_definition_arn), None, None);
        starting.pipeline_execution_id = params.execution.clone();
        starting.first_invoked_epoch = Some(clock.started_epoch);
        self.note_before_run(params.post, &r.service, &r.release, starting)
            .await?;
        let client = (job_id, clock.run_attempt);
        let placed = ecs::run_task(ecs, plan, &r.release, &task_definition_arn, client).await;
        match placed.map_err(retry_if_transient)? {
            Placement::Started(arn) => Ok((task_definition_arn, arn)),
            Placement::Adopted(arn) => {
                tracing::info!(task_arn = %arn, "RunTask's client token names a task this job already started; following it");
                Ok((task_definition_arn, arn))
            }
            Placement::Later(reason) => Err(Halt::Retry {
                reason,
                refused: true,
            }),
            Placement::Refused(message) => {
                let tda = Some(task_definition_arn.as_str());
                let m = migration_record("failed", job_id, tda, None, Some(message.clone()));
                self.note(params.post, &r.service, &r.release, m).await;
                Err(Halt::Report(message))
            }
        }
    }

    /// Records the registered revision before the task runs. This write matters (it is what
    /// keeps a retry from registering again), so a passing failure retries the start.
    async fn note_before_run(
        &self,
        post: bool,
        service: &str,
        release: &str,
        record: MigrationRecord,
    ) -> Step<()> {
        let edit = |r: &mut ReleaseRecord| {
            *super::slot(r, post) = Some(record.clone());
            Change::Write(())
        };
        match self
            .records
            .update(service, release, SystemTime::now(), edit)
            .await
        {
            Ok(Updated::Missing) => {
                tracing::warn!(%service, %release, "no release record to note the migration in");
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(retry_if_transient(e)),
        }
    }

    /// This job's earlier attempt, as the release record remembers it.
    async fn previous_attempt(
        &self,
        post: bool,
        service: &str,
        release: &str,
        job_id: &str,
    ) -> Step<Option<MigrationRecord>> {
        let stored = self.records.get(service, release).await?;
        Ok(stored
            .and_then(|r| {
                if post {
                    r.value.post_migration
                } else {
                    r.value.migration
                }
            })
            .filter(|m| m.job_id.as_deref() == Some(job_id)))
    }
}

/// The action's UserParameters.
pub(super) fn parameters(job: &CodePipelineJob) -> Step<Parameters> {
    let configuration = &job.data.action_configuration.configuration;
    job::parse_user_parameters(configuration.user_parameters.as_deref()).map_err(Halt::Report)
}

/// Every continuation is a new job; the action is known by its first job's id.
fn origin(job_id: &str, pending: Option<&Pending>, waiting: Option<&Waiting>) -> String {
    pending
        .map(|p| p.job.as_str())
        .or(waiting.map(|w| w.job.as_str()))
        .filter(|j| !j.is_empty())
        .unwrap_or(job_id)
        .to_owned()
}

/// The deadline counts from the action's first invocation: the pending token's, else the
/// one the release record noted for this job, else now.
fn clock(
    plan: &MigrationPlan,
    pending: Option<&Pending>,
    previous: Option<&MigrationRecord>,
    now_epoch: u64,
) -> Clock {
    let started_epoch = pending
        .map(|p| p.started_epoch)
        .or_else(|| previous.and_then(|m| m.first_invoked_epoch))
        .unwrap_or(now_epoch);
    Clock {
        started_epoch,
        deadline_epoch: started_epoch + plan.timeout_seconds,
        attempt: pending.map_or(1, |p| p.attempts + 1),
        run_attempt: pending.map_or(0, |p| p.run_attempt),
        now_epoch,
    }
}

/// What the next invocations need: the task, its deadline, and where its logs go.
fn token(
    artifact: &Artifact,
    plan: &MigrationPlan,
    taskdef: &Value,
    task_arn: &str,
    job: &str,
    clock: Clock,
) -> Token {
    let (log_group, log_stream_prefix) = ecs::awslogs(taskdef, &plan.container);
    Token {
        v: 2,
        job: Some(job.to_owned()),
        service: artifact.release.service.clone(),
        release: artifact.release.release.clone(),
        cluster: plan.cluster.clone(),
        task_arn: task_arn.to_owned(),
        container: plan.container.clone(),
        essential: ecs::essential_containers(taskdef),
        started_epoch: clock.started_epoch,
        deadline_epoch: clock.deadline_epoch,
        run_epoch: Some(clock.now_epoch),
        log_group,
        log_stream_prefix,
    }
}
