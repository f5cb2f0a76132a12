//! `deploy`: the Deploy action of a service ECS deploys itself (deployment controller `ECS`:
//! rolling, blue/green, linear, canary; docs/guide/ecs-native.md). CodePipeline job in, exactly
//! one job result out: it registers the `taskdef.json` Migrate rendered under the stage lock,
//! calls UpdateService once per job, and follows that service deployment through continuation
//! tokens, never sleeping, until it ends.
//!
//! - `start`: the first invocation (and those waiting for another deployment to end, or
//!   retrying a passing fault): refuse, wait, register, mark, update the service.
//! - `follow`: later invocations: look at the service deployment and decide
//!   ([`crate::service_deployment::deploy::follow`]).
//! - `ecs`: the ECS calls of its own.
//! - `task`: a task target's job (deploy kind TASK): register, then repoint its schedules and
//!   rule targets, all or nothing.
//!
//! Report-or-retry, as migrate: every problem that can be described to the pipeline becomes a
//! `PutJobFailureResult`; only a failure to report at all is an `Err` (Lambda then retries).

mod ecs;
mod follow;
mod start;
mod task;

use std::time::SystemTime;

use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use lambda_runtime::LambdaEvent;

use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::job::{Parameters, parse_user_parameters};
pub use crate::jobs::Output;
use crate::jobs::{self, InputError, JobResult};
use crate::record::{DeploymentRecord, ReleaseRecord, epoch_seconds, timestamp};
use crate::records::{Change, Records, Updated};
use crate::render::{self, ArtifactRelease};
use crate::service_deployment::deploy::{RETRY_SECONDS, Token, TokenPhase};
use crate::settings::Settings;
use crate::store::Bucket;
use crate::task_targets::TargetClients;

/// Everything `deploy` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub clients: Clients,
    pub records: Records,
    /// The release bucket: the deploy markers.
    pub bucket: Bucket,
    /// A task target's schedules and rules.
    pub targets: TargetClients,
}

/// The release in the input artifact (Migrate's output): `release.json`, and `taskdef.json`
/// exactly as written.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub release: ArtifactRelease,
    pub taskdef: Vec<u8>,
}

/// One invocation of the action: this job, its UserParameters and the token it carries.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub job_id: String,
    pub params: Parameters,
    pub token: Option<Token>,
}

impl Invocation {
    /// The job of the action's first invocation: every continuation is a new job.
    fn first_job(&self) -> &str {
        self.token.as_ref().map_or(self.job_id.as_str(), |t| &t.job)
    }

    fn first_epoch(&self, now: u64) -> u64 {
        self.token.as_ref().map_or(now, |t| t.first_epoch)
    }
}

/// Why a step ends before its natural end.
#[derive(Debug)]
enum Halt {
    /// A failure to report to the pipeline.
    Report(String),
    /// A fault: a passing one asks again through the token, any other fails the job.
    Fault(Error),
    /// The job's result is already known (waiting, or following).
    Answer(JobResult),
}

impl From<Error> for Halt {
    fn from(e: Error) -> Self {
        Halt::Fault(e)
    }
}

type Step<T> = std::result::Result<T, Halt>;

impl jobs::Action for Context {
    const FUNCTION: &'static str = "deploy";

    fn codepipeline(&self) -> &aws_sdk_codepipeline::Client {
        &self.clients.codepipeline
    }

    async fn run(&self, job: &CodePipelineJob, job_id: &str, now: SystemTime) -> JobResult {
        let configuration = &job.data.action_configuration.configuration;
        let params = match parse_user_parameters(configuration.user_parameters.as_deref()) {
            Ok(p) => p,
            Err(m) => return jobs::failure(m, None),
        };
        let raw = job
            .data
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty());
        let token = match raw.map(Token::decode).transpose() {
            Ok(t) => t,
            Err(m) => return jobs::failure(m, None),
        };
        let invocation = Invocation {
            job_id: job_id.to_owned(),
            params,
            token,
        };
        let following = matches!(&invocation.token, Some(t) if t.phase == TokenPhase::Following);
        if following {
            return self.decide(&invocation, None, now).await;
        }
        match jobs::read_input(&self.clients.config, job, "Deploy").await {
            Ok(input) => match artifact(input) {
                Ok(a) => self.decide(&invocation, Some(&a), now).await,
                Err(m) => jobs::failure(m, None),
            },
            Err(InputError::Unusable(m)) => jobs::failure(m, None),
            Err(InputError::Fault(e)) => self.result(&invocation, Err(Halt::Fault(e)), now),
        }
    }
}

/// `taskdef.json` of the input artifact, as written.
fn artifact(input: jobs::Input) -> std::result::Result<Artifact, String> {
    let taskdef = render::read_artifact_file(&input.zip, render::TASKDEF_FILE)
        .map_err(|m| format!("the input artifact has no task definition: {m}"))?;
    Ok(Artifact {
        release: input.release,
        taskdef,
    })
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
            targets: TargetClients::new(&clients.config),
            clients,
            records: Records::new(bucket.clone()),
            bucket,
        }
    }

    /// The Lambda handler ([`jobs::handle`]).
    pub async fn handle(&self, event: LambdaEvent<serde_json::Value>) -> Result<Output> {
        jobs::handle(self, event.payload).await
    }

    /// This invocation's job result, from its inputs (`artifact`: read unless following).
    pub async fn decide(
        &self,
        invocation: &Invocation,
        artifact: Option<&Artifact>,
        now: SystemTime,
    ) -> JobResult {
        let following = invocation
            .token
            .clone()
            .filter(|t| t.phase == TokenPhase::Following);
        let step = match (following, artifact) {
            (Some(token), _) => self.follow(invocation, token, now).await,
            (None, Some(artifact)) => self.start(invocation, artifact, now).await,
            (None, None) => Err(Halt::Report(
                "the Deploy action read no input artifact".into(),
            )),
        };
        self.result(invocation, step, now)
    }

    fn result(&self, invocation: &Invocation, step: Step<JobResult>, now: SystemTime) -> JobResult {
        match step {
            Ok(r) | Err(Halt::Answer(r)) => r,
            Err(Halt::Report(message)) => jobs::failure(message, None),
            Err(Halt::Fault(e)) if e.is_transient() => retry(invocation, &e, epoch_seconds(now)),
            Err(Halt::Fault(e)) => jobs::failure(
                format!("berth deploy could not deploy the release: {e}"),
                None,
            ),
        }
    }

    /// Best-effort update of the release record's `deployment` section (a rollback
    /// execution's: its redeployment's): the job result matters more, so a failure here is
    /// logged, not raised. What this job noted earlier and the new note leaves out is kept.
    async fn note(
        &self,
        service: &str,
        release: &str,
        params: &Parameters,
        note: DeploymentRecord,
    ) {
        let merge = |old: Option<&DeploymentRecord>| {
            let mut n = note.clone();
            if let Some(old) = old.filter(|o| o.job_id == n.job_id) {
                n.service_deployment_arn = n
                    .service_deployment_arn
                    .or(old.service_deployment_arn.clone());
                n.task_definition_arn = n.task_definition_arn.or(old.task_definition_arn.clone());
                n.started_at = n.started_at.or(old.started_at.clone());
            }
            n
        };
        let edit = |r: &mut ReleaseRecord| {
            if !params.rollback {
                r.deployment = Some(merge(r.deployment.as_ref()));
                return Change::Write(());
            }
            let execution = params.execution.as_deref();
            match r
                .redeployments
                .iter_mut()
                .find(|d| Some(d.pipeline_execution_id.as_str()) == execution)
            {
                Some(d) => {
                    d.deployment = Some(merge(d.deployment.as_ref()));
                    Change::Write(())
                }
                None => Change::Keep(()),
            }
        };
        match self
            .records
            .update(service, release, SystemTime::now(), edit)
            .await
        {
            Ok(Updated::Missing) => {
                tracing::warn!(%service, %release, "no release record to update")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(%service, %release, error = %e, "deployment not recorded"),
        }
    }
}

/// A passing fault: ask again through a `starting` token (a following one keeps following),
/// until [`RETRY_SECONDS`] of faults in a row.
fn retry(invocation: &Invocation, e: &Error, now: u64) -> JobResult {
    let first_epoch = invocation.first_epoch(now);
    let mut token = match invocation.token.clone() {
        Some(t) if t.phase == TokenPhase::Following && !t.out_of_time(now) => {
            tracing::warn!(error = %e, "could not look at the service deployment; asking again");
            let summary = format!("could not look at the ECS deployment ({e}); asking again");
            let external_id = t.deployment.clone();
            return JobResult::Continue {
                token: t.encode(),
                summary,
                external_id,
            };
        }
        // A wait goes on within its own bound.
        Some(t) if t.phase == TokenPhase::Waiting => {
            let summary = format!("waiting; could not ask ECS ({e}); asking again");
            return JobResult::Continue {
                token: t.encode(),
                summary,
                external_id: None,
            };
        }
        Some(t) if t.phase == TokenPhase::Starting && t.note.is_some() => t,
        _ => {
            let mut t = Token::new(TokenPhase::Starting, invocation.first_job(), first_epoch);
            t.since_epoch = now;
            t
        }
    };
    if now.saturating_sub(token.since_epoch) >= RETRY_SECONDS {
        return jobs::failure(
            format!(
                "berth deploy kept meeting a passing fault for {RETRY_SECONDS} seconds; last: {e}"
            ),
            None,
        );
    }
    token.phase = TokenPhase::Starting;
    token.attempts += 1;
    token.note = Some(e.to_string());
    tracing::warn!(error = %e, attempt = token.attempts, "passing fault; asking again on the next invocation");
    JobResult::Continue {
        token: token.encode(),
        summary: format!("asking again (attempt {}): {e}", token.attempts),
        external_id: None,
    }
}

/// The record's `deployment` note of `status`, now.
pub(super) fn deployment_note(
    kind: crate::service_deployment::DeployKind,
    job: &str,
    params: &Parameters,
    status: &str,
) -> DeploymentRecord {
    DeploymentRecord {
        kind,
        job_id: job.to_owned(),
        pipeline_execution_id: params.execution.clone(),
        service_deployment_arn: None,
        task_definition_arn: None,
        status: status.to_owned(),
        reason: None,
        started_at: None,
        finished_at: None,
        updated_at: timestamp(SystemTime::now()),
        targets: Vec::new(),
    }
}
