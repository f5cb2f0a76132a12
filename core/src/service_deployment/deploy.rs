//! The `deploy` action (the Deploy action of ECS-controlled services), pure: what its
//! continuation token carries, the marker that makes its UpdateService happen once, and what
//! it answers from what it saw of the service deployment it started. The I/O is
//! `berth::deploy`.
//!
//! The function never sleeps while ECS deploys. The first invocation registers the task
//! definition, calls UpdateService and answers with a continuation token; CodePipeline invokes
//! it again with the token ("Future jobs use this token to identify the running instance of the
//! action" — PutJobSuccessResult) until it reports success or failure.

use serde::{Deserialize, Serialize};

use super::{DeployKind, Facts, Outcome, outcome};
use crate::migration::MAX_TOKEN_CHARS;

/// CodePipeline's limit on a Lambda invoke action: "AWS Lambda invoke action: 24 hours ... If
/// the Lambda function has sent no reply after 20 minutes, the action times out" (CodePipeline
/// quotas). Bake time and linear or canary steps may take hours, and a pause hook waits for a
/// person, so the action gives up half an hour before CodePipeline would, with a message that
/// says the ECS deployment goes on and how to watch or roll it back; past the 24 hours
/// CodePipeline would fail the action with no word of it.
pub const GIVE_UP_SECONDS: u64 = 23 * 3600 + 30 * 60;

/// How long a passing fault (throttling, an outage) may recur before the job fails naming it.
pub const RETRY_SECONDS: u64 = 900;

/// How many of a failed deployment's stopped tasks the failure quotes.
pub const STOPPED_TASKS_QUOTED: usize = 3;

const ACTION: &str = "deploy";

/// Where the action stands between two invocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPhase {
    /// Someone else's service deployment is under way: ours starts when it ends.
    Waiting,
    /// Ours is to start, or to be found (a passing fault, or ECS does not list it yet).
    Starting,
    /// Following ours until it ends.
    Following,
}

/// What the following invocations need to find the service and report on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub service: String,
    pub release: String,
    pub cluster: String,
    pub ecs_service: String,
    pub kind: DeployKind,
}

/// The deploy action's continuation token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub v: u8,
    /// Always `deploy`: another action's token is refused.
    pub action: String,
    pub phase: TokenPhase,
    /// The job of the action's first invocation: the marker and the record know it by this
    /// (every continuation is a new job).
    pub job: String,
    /// The first invocation: [`GIVE_UP_SECONDS`] counts from here.
    pub first_epoch: u64,
    /// When the current wait or retry began: its bound counts from here.
    #[serde(default)]
    pub since_epoch: u64,
    #[serde(default)]
    pub attempts: u32,
    /// Following: ours. Waiting: the one last seen in the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// Why the last attempt did not go on (cut to fit the token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Token {
    /// A token of `phase` for the action first invoked as `job` at `first_epoch`.
    pub fn new(phase: TokenPhase, job: &str, first_epoch: u64) -> Self {
        Self {
            v: 1,
            action: ACTION.into(),
            phase,
            job: job.to_owned(),
            first_epoch,
            since_epoch: first_epoch,
            attempts: 0,
            deployment: None,
            task_definition: None,
            target: None,
            note: None,
        }
    }

    /// The token as CodePipeline carries it; the note is cut until it fits the
    /// [`MAX_TOKEN_CHARS`] a continuation token may have.
    pub fn encode(&self) -> String {
        let mut t = self.clone();
        loop {
            let s = serde_json::to_string(&t).unwrap_or_default();
            let note = t.note.take().unwrap_or_default();
            if s.len() <= MAX_TOKEN_CHARS || note.is_empty() {
                return s;
            }
            let keep = note.chars().count() / 2;
            t.note = Some(note.chars().take(keep).collect());
        }
    }

    pub fn decode(s: &str) -> Result<Self, String> {
        let t: Token = serde_json::from_str(s)
            .map_err(|e| format!("continuation token is not the deploy action's: {e}"))?;
        if t.action != ACTION {
            return Err(format!(
                "continuation token is the {:?} action's, not the deploy action's",
                t.action
            ));
        }
        Ok(t)
    }

    /// Whether the action must give up now (see [`GIVE_UP_SECONDS`]).
    pub fn out_of_time(&self, now_epoch: u64) -> bool {
        now_epoch.saturating_sub(self.first_epoch) >= GIVE_UP_SECONDS
    }
}

/// The object written create-only before UpdateService: a repeated first invocation finds it
/// and looks for the deployment it started instead of starting another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub job: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    pub cluster: String,
    pub ecs_service: String,
    pub task_definition_arn: String,
    /// When UpdateService was about to be called: the deployment it started was created no
    /// earlier.
    pub at_epoch: u64,
}

/// What the following invocation saw.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// Ours, `None` when ECS no longer knows it.
    pub facts: Option<&'a Facts>,
    /// The ECS service is ACTIVE.
    pub service_exists: bool,
    /// A deployment of the service created after ours.
    pub newer: Option<&'a str>,
}

/// What the action answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Wait {
        summary: String,
    },
    Succeeded,
    /// Failed; `tasks`: the deployment's stopped tasks tell why, quote them. `status`: the
    /// deployment's, or `SUPERSEDED`, `GONE` (the service or the deployment), `UNFOLLOWED`
    /// (the action's time ran out while it went on).
    Failed {
        reason: String,
        status: String,
        tasks: bool,
    },
}

/// Decides from what the invocation saw of the deployment `token` follows (pure).
///
/// A deployment someone started after ours takes the service from it: ECS creates a service
/// deployment whenever "a user updates one or more service properties that require a
/// deployment" ("View service history using Amazon ECS service deployments"), and the newer one
/// deploys its own target revision, not ours. ECS's documentation does not say in which state
/// the older one ends, so berth fails the release as soon as a newer one exists while ours has
/// not succeeded, naming it.
pub fn follow(token: &Token, seen: Seen<'_>, now_epoch: u64) -> Next {
    let arn = token.deployment.as_deref().unwrap_or("?");
    let t = token.target.as_ref();
    let svc = t.map_or("?", |t| t.ecs_service.as_str());
    let service = t.map_or("?", |t| t.service.as_str());
    let result = seen.facts.map(|f| outcome(f, now_epoch as i64));
    if result == Some(Outcome::Succeeded) {
        return Next::Succeeded;
    }
    let fail = |status: &str, reason: String| Next::Failed {
        reason,
        status: status.into(),
        tasks: false,
    };
    if !seen.service_exists {
        return fail(
            "GONE",
            format!(
                "the ECS service {svc:?} was deleted (or is no longer ACTIVE) while ECS service deployment {arn} of this release was under way: nothing more to follow"
            ),
        );
    }
    let Some(facts) = seen.facts else {
        return fail(
            "GONE",
            format!("ECS no longer knows service deployment {arn} of this release"),
        );
    };
    let stopped = matches!(facts.status.as_str(), "STOPPED" | "STOP_REQUESTED");
    if let Some(newer) = seen.newer.filter(|_| stopped || is_running(&result)) {
        return fail(
            "SUPERSEDED",
            format!(
                "ECS service deployment {newer} started on {svc:?} after this release's ({arn}) and took the service from it: someone (or something) else updated the service; this release is not the one running. See `berth status {service}`"
            ),
        );
    }
    match result {
        Some(Outcome::Failed { reason }) => Next::Failed {
            reason: format!("{reason} ({arn})"),
            status: facts.status.clone(),
            tasks: true,
        },
        _ if token.out_of_time(now_epoch) => fail("UNFOLLOWED", out_of_time(token, service, arn)),
        Some(Outcome::Running { summary }) => Next::Wait {
            summary: format!("ECS service deployment {arn}: {summary}"),
        },
        _ => Next::Wait {
            summary: format!("ECS service deployment {arn} under way"),
        },
    }
}

fn is_running(result: &Option<Outcome>) -> bool {
    matches!(result, Some(Outcome::Running { .. }))
}

/// The message of an action that reached [`GIVE_UP_SECONDS`] while the deployment goes on.
pub fn out_of_time(token: &Token, service: &str, arn: &str) -> String {
    let hours = GIVE_UP_SECONDS as f64 / 3600.0;
    format!(
        "the Deploy action stops following ECS service deployment {arn} after {hours} hours, before CodePipeline's 24-hour limit on a Lambda action fails it without a word; the ECS deployment goes on by itself (first invoked as job {}). Watch it with `berth status {service}`; take it back with `berth rollback {service}`",
        token.job
    )
}

/// A failure's message with what the deployment's stopped tasks said (`(task id, stop
/// reason)`, at most [`STOPPED_TASKS_QUOTED`]).
pub fn with_stopped_tasks(reason: &str, tasks: &[(String, String)]) -> String {
    if tasks.is_empty() {
        return reason.to_owned();
    }
    let quoted: Vec<String> = tasks
        .iter()
        .take(STOPPED_TASKS_QUOTED)
        .map(|(id, why)| format!("task {id}: {why}"))
        .collect();
    format!("{reason}. Stopped tasks: {}", quoted.join("; "))
}

/// The failure of a service whose kind berth's deploy action does not deploy (pure).
pub fn refuse(kind: DeployKind, ecs_service: &str) -> Option<String> {
    (kind == DeployKind::CodeDeploy).then(|| format!(
        "ECS service {ecs_service:?} uses the CODE_DEPLOY deployment controller; its pipeline must deploy with CodeDeployToECS: update its service stack with DeploymentController=CODE_DEPLOY (Terraform: deployment_controller = \"CODE_DEPLOY\")"
    ))
}

#[cfg(test)]
mod tests;
