//! `migrate`: the pipeline's Migrate action (docs/design/contract.md §6). CodePipeline job in,
//! exactly one job result out; the migration itself runs as an ECS task that this function starts and
//! then watches through continuation tokens, never sleeping.
//!
//! - `job`: the job's inputs (UserParameters, the input artifact).
//! - `busy`: wait for the deployment group to have no active deployment (an abandoned Deploy).
//! - `start`: the first invocation: skip, or register the task definition and run the task.
//! - `deployed`: the deployed artifact, rendered at the stage, and the action's output artifact.
//! - `poll`: later invocations: look at the task and decide ([`crate::migration::decide`]).
//! - `ecs`: the ECS calls.
//! - `retry`: passing faults become a continuation token that asks again.
//!
//! Report-or-retry: every problem that can be described to the pipeline becomes a
//! `PutJobFailureResult`; only a failure to report at all is an `Err` (Lambda then retries).

mod busy;
mod deployed;
mod ecs;
mod job;
mod poll;
mod post;
mod retry;
mod start;

use std::time::SystemTime;

use aws_lambda_events::event::codepipeline_job::{CodePipelineJob, CodePipelineJobEvent};
use lambda_runtime::LambdaEvent;

use crate::aws::Clients;
use crate::error::{Error, Result};
pub use crate::jobs::Output;
use crate::jobs::{self, JobResult};
use crate::migration::Continuation;
use crate::record::{MigrationRecord, ReleaseRecord};
use crate::records::{Change, Records};
use crate::settings::Settings;
use crate::store::Bucket;

pub use ecs::{awslogs, essential_containers};
pub use job::{Parameters, USER_PARAMETERS, parse_user_parameters, started_by};

/// Everything `migrate` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub clients: Clients,
    pub records: Records,
    /// The release bucket: the deployed artifacts.
    pub bucket: Bucket,
}

/// Why a step ends before its natural end.
#[derive(Debug)]
enum Halt {
    /// A failure to report to the pipeline.
    Report(String),
    /// The task could not be started for a passing reason: ask again next invocation.
    /// `refused`: ECS answered that it started nothing (so the next RunTask is a new request).
    Retry { reason: String, refused: bool },
    /// A fault: reported as a failure naming it.
    Fault(Error),
    /// The job's result is already known (waiting for the deployment group).
    Answer(JobResult),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Fault(e)
    }
}

type Step<T> = std::result::Result<T, Halt>;

impl jobs::Action for Context {
    const FUNCTION: &'static str = "migrate";

    fn codepipeline(&self) -> &aws_sdk_codepipeline::Client {
        &self.clients.codepipeline
    }

    async fn run(&self, job: &CodePipelineJob, job_id: &str, now: SystemTime) -> JobResult {
        self.decide(job, job_id, now, None).await
    }
}

/// One invocation's job with what the typed event leaves out: the artifact store's KMS key
/// (the job's `encryptionKey`), which the output artifact is written under.
struct Invocation<'a> {
    context: &'a Context,
    kms_key: Option<String>,
}

impl jobs::Action for Invocation<'_> {
    const FUNCTION: &'static str = "migrate";

    fn codepipeline(&self) -> &aws_sdk_codepipeline::Client {
        &self.context.clients.codepipeline
    }

    async fn run(&self, job: &CodePipelineJob, job_id: &str, now: SystemTime) -> JobResult {
        let kms_key = self.kms_key.as_deref();
        self.context.decide(job, job_id, now, kms_key).await
    }
}

fn failure(message: String, task_arn: Option<String>) -> JobResult {
    jobs::failure(message, task_arn)
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        Ok(Self::new(
            Clients::for_lambda(&[])?,
            &settings.release_bucket,
        ))
    }

    pub fn new(clients: Clients, release_bucket: &str) -> Self {
        let bucket = Bucket::new(clients.s3.clone(), release_bucket);
        Self {
            clients,
            records: Records::new(bucket.clone()),
            bucket,
        }
    }

    /// The Lambda handler ([`jobs::handle`]).
    pub async fn handle(&self, event: LambdaEvent<serde_json::Value>) -> Result<Output> {
        let kms_key = deployed::encryption_key(&event.payload);
        let invocation = Invocation {
            context: self,
            kms_key,
        };
        jobs::handle(&invocation, event.payload).await
    }

    /// This invocation's job result; a success first writes the output artifact.
    async fn decide(
        &self,
        job: &CodePipelineJob,
        job_id: &str,
        now: SystemTime,
        kms_key: Option<&str>,
    ) -> JobResult {
        let result = match self.step(job, job_id, now).await {
            Ok(r) | Err(Halt::Answer(r)) => r,
            Err(Halt::Report(message)) => failure(message, None),
            Err(Halt::Retry { reason, .. }) => failure(reason, None),
            Err(Halt::Fault(e)) => failure(
                format!("berth migrate could not run the migration step: {e}"),
                None,
            ),
        };
        self.emit(job, result, kms_key).await
    }

    /// One job ([`jobs::on_job`]).
    pub async fn on_job(&self, event: CodePipelineJobEvent) -> Result<Output> {
        jobs::on_job(self, event).await
    }

    async fn step(&self, job: &CodePipelineJob, job_id: &str, now: SystemTime) -> Step<JobResult> {
        match job
            .data
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            Some(raw) => match Continuation::decode(raw).map_err(Halt::Report)? {
                Continuation::Running(token) => {
                    let post = start::parameters(job)?.post;
                    self.poll(token, job_id, now, post).await
                }
                Continuation::Starting(pending) => {
                    self.start(job, job_id, now, Some(pending), None).await
                }
                Continuation::Waiting(waiting) => {
                    self.start(job, job_id, now, None, Some(waiting)).await
                }
            },
            None => self.start(job, job_id, now, None, None).await,
        }
    }

    /// Best-effort update of the release record's migration outcome (`post`: the post
    /// migration's): the job result matters more, so a failure here is logged, not raised. A
    /// post migration that failed holds the next releases; one that succeeded lets them go.
    async fn note(&self, post: bool, service: &str, release: &str, migration: MigrationRecord) {
        if post {
            self.hold_if_failed(service, release, &migration.outcome)
                .await;
        }
        let edit = |r: &mut ReleaseRecord| {
            let mut m = migration.clone();
            let slot = slot(r, post);
            // What this job noted earlier and the new note does not repeat is kept.
            if let Some(old) = slot.as_ref().filter(|o| o.job_id == m.job_id) {
                m.task_definition_arn = m.task_definition_arn.or(old.task_definition_arn.clone());
                m.pipeline_execution_id = m
                    .pipeline_execution_id
                    .or(old.pipeline_execution_id.clone());
                m.first_invoked_epoch = m.first_invoked_epoch.or(old.first_invoked_epoch);
            }
            *slot = Some(m);
            Change::Write(())
        };
        match self
            .records
            .update(service, release, SystemTime::now(), edit)
            .await
        {
            Ok(crate::records::Updated::Missing) => {
                tracing::warn!(%service, %release, "no release record to update")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%service, %release, error = %e, "migration outcome not recorded")
            }
        }
    }
}

/// The record's section of the migration (`post`: the post-deployment migration's).
fn slot(r: &mut ReleaseRecord, post: bool) -> &mut Option<MigrationRecord> {
    if post {
        &mut r.post_migration
    } else {
        &mut r.migration
    }
}

fn migration_record(
    outcome: &str,
    job_id: &str,
    task_definition_arn: Option<&str>,
    task_arn: Option<&str>,
    message: Option<String>,
) -> MigrationRecord {
    MigrationRecord {
        outcome: outcome.into(),
        job_id: Some(job_id.into()),
        pipeline_execution_id: None,
        first_invoked_epoch: None,
        task_definition_arn: task_definition_arn.map(str::to_owned),
        task_arn: task_arn.map(str::to_owned),
        seconds: None,
        message,
        updated_at: crate::record::timestamp(SystemTime::now()),
    }
}
