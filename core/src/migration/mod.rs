//! The migration step (docs/design/contract.md §6), pure core: what a continuation token
//! carries and what a migration task's state means. The I/O is `berth::migrate`.
//!
//! The function never sleeps while the task runs. The first invocation starts the task and
//! answers with a continuation token; CodePipeline re-invokes with the token until the step
//! reports success or failure. A task ECS could not start yet (Fargate capacity, throttling)
//! is retried the same way, with a token that says the task is still to start.

use serde::{Deserialize, Serialize};

pub mod busy;
pub mod post;
#[cfg(test)]
mod tests;

pub use busy::Waiting;

/// CodePipeline's limit on a continuation token (PutJobSuccessResult: "Maximum length of 2048").
pub const MAX_TOKEN_CHARS: usize = 2048;

/// How long a task `DescribeTasks` does not return right after `RunTask` is looked for again
/// before it counts as gone. The ECS API reference (RunTask): "The Amazon ECS API follows an
/// eventual consistency model ... run the DescribeTasks command repeatedly, starting with a
/// couple of seconds of wait time and increasing gradually up to five minutes of wait time."
pub const EVENTUAL_CONSISTENCY_GRACE_SECONDS: u64 = 300;

/// RunTask's limit on its `overrides`: "A total of 8192 characters are allowed for overrides.
/// This limit includes the JSON formatting characters of the override structure." (ECS API
/// reference, RunTask).
pub const MAX_OVERRIDES_CHARS: usize = 8192;

/// The characters of the `overrides` berth sends to RunTask for `command` on `container`:
/// `{"containerOverrides":[{"name":…,"command":[…]}]}`.
pub fn overrides_chars(container: &str, command: &[String]) -> usize {
    serde_json::json!({"containerOverrides": [{"name": container, "command": command}]})
        .to_string()
        .chars()
        .count()
}

/// Why RunTask would refuse this command as an override, if it would.
pub fn check_overrides(container: &str, command: &[String]) -> Result<(), String> {
    let n = overrides_chars(container, command);
    if n > MAX_OVERRIDES_CHARS {
        return Err(format!(
            "makes a RunTask override of {n} characters; ECS allows {MAX_OVERRIDES_CHARS} (put a long command in a script in the image)"
        ));
    }
    Ok(())
}

/// What berth carries from one invocation to the next while the migration task runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub v: u8,
    /// The job of the action's first invocation. CodePipeline gives every continuation a new
    /// job ("Future jobs use this token to identify the running instance of the action" —
    /// PutJobSuccessResult), so this is what the release record knows the attempt by.
    #[serde(default)]
    pub job: Option<String>,
    pub service: String,
    pub release: String,
    pub cluster: String,
    pub task_arn: String,
    /// The migration container: its exit code is the verdict.
    pub container: String,
    /// Essential containers, named in the failure message.
    #[serde(default)]
    pub essential: Vec<String>,
    /// The action's first invocation: the deadline counts from here.
    pub started_epoch: u64,
    pub deadline_epoch: u64,
    /// When `RunTask` started the task (defaults to `started_epoch` in older tokens).
    #[serde(default)]
    pub run_epoch: Option<u64>,
    #[serde(default)]
    pub log_group: Option<String>,
    #[serde(default)]
    pub log_stream_prefix: Option<String>,
}

/// The token of a job whose task is still to start: ECS could not start it yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub v: u8,
    /// Always `starting`.
    pub phase: String,
    /// The job of the action's first invocation (see [`Token::job`]).
    #[serde(default)]
    pub job: String,
    /// How many times ECS definitively refused to start the task: part of RunTask's client
    /// token, so a retry after a lost answer finds the task it started, and a retry after a
    /// refusal is a new request rather than a replay of the refusal.
    #[serde(default)]
    pub run_attempt: u32,
    pub started_epoch: u64,
    pub deadline_epoch: u64,
    pub attempts: u32,
    /// Why the last attempt did not start the task (cut to fit the token).
    pub last_reason: String,
}

/// A decoded continuation token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continuation {
    Running(Token),
    Starting(Pending),
    /// Waiting for the service's deployment group to have no active deployment.
    Waiting(Waiting),
}

const PENDING_PHASE: &str = "starting";

impl Continuation {
    pub fn decode(s: &str) -> Result<Self, String> {
        let not_ours = |e: serde_json::Error| format!("continuation token is not berth's: {e}");
        let value: serde_json::Value = serde_json::from_str(s).map_err(not_ours)?;
        if Waiting::is(&value) {
            serde_json::from_value(value)
                .map(Continuation::Waiting)
                .map_err(not_ours)
        } else if value.get("phase").and_then(|p| p.as_str()) == Some(PENDING_PHASE) {
            serde_json::from_value(value)
                .map(Continuation::Starting)
                .map_err(not_ours)
        } else {
            serde_json::from_value(value)
                .map(Continuation::Running)
                .map_err(not_ours)
        }
    }
}

impl Token {
    /// Serialized token; `None` if it would exceed CodePipeline's limit.
    pub fn encode(&self) -> Option<String> {
        serde_json::to_string(self)
            .ok()
            .filter(|s| s.len() <= MAX_TOKEN_CHARS)
    }

    /// `<prefix>/<container>/<task id>`: the awslogs driver's stream name.
    pub fn log_stream(&self) -> Option<String> {
        let prefix = self.log_stream_prefix.as_deref()?;
        let task_id = self.task_arn.rsplit('/').next()?;
        Some(format!("{prefix}/{}/{task_id}", self.container))
    }

    fn run_epoch(&self) -> u64 {
        self.run_epoch.unwrap_or(self.started_epoch)
    }
}

impl Pending {
    pub fn new(
        job: &str,
        run_attempt: u32,
        started_epoch: u64,
        deadline_epoch: u64,
        attempts: u32,
        reason: &str,
    ) -> Self {
        Self {
            v: 2,
            phase: PENDING_PHASE.into(),
            job: job.to_owned(),
            run_attempt,
            started_epoch,
            deadline_epoch,
            attempts,
            last_reason: reason.chars().take(1200).collect(),
        }
    }

    /// Serialized token; the reason is cut to keep it within CodePipeline's limit.
    pub fn encode(&self) -> String {
        let mut p = self.clone();
        loop {
            let s = serde_json::to_string(&p).unwrap_or_default();
            if s.len() <= MAX_TOKEN_CHARS || p.last_reason.is_empty() {
                return s;
            }
            let keep = p.last_reason.chars().count() / 2;
            p.last_reason = p.last_reason.chars().take(keep).collect();
        }
    }
}

/// A container of the task as `DescribeTasks` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerState {
    pub name: String,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}

/// The parts of a task the decision depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub last_status: String,
    pub stop_code: Option<String>,
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerState>,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Still running and within the deadline: answer with a new token.
    Wait,
    Succeeded {
        seconds: u64,
    },
    /// Past the deadline and not stopped: stop the task, then fail with this message.
    TimedOut {
        message: String,
    },
    Failed {
        message: String,
    },
}

/// Decides the next step from the task's state (`None`: ECS did not return the task), the
/// current time and the token's deadline.
pub fn decide(token: &Token, task: Option<&TaskState>, now_epoch: u64) -> Step {
    let Some(task) = task else {
        return unknown(token, now_epoch);
    };
    if task.last_status == "STOPPED" {
        return stopped(token, task, now_epoch);
    }
    if now_epoch < token.deadline_epoch {
        return Step::Wait;
    }
    // The migration container has exited and ECS is only tearing the task down
    // (DEPROVISIONING: "for tasks that use the awsvpc network mode, the elastic network
    // interface needs to be detached and deleted"): its exit code is the verdict, not the clock.
    let tearing_down = matches!(
        task.last_status.as_str(),
        "DEACTIVATING" | "STOPPING" | "DEPROVISIONING"
    );
    if tearing_down && migration_container(token, task).is_some_and(|c| c.exit_code.is_some()) {
        return stopped(token, task, now_epoch);
    }
    Step::TimedOut {
        message: format!(
            "migration task {} did not finish within {} seconds (last status {}); it was stopped. {}",
            token.task_arn,
            token.deadline_epoch.saturating_sub(token.started_epoch),
            task.last_status,
            logs_hint(token)
        ),
    }
}

/// `DescribeTasks` did not return the task: right after `RunTask` that is eventual
/// consistency; later, ECS has forgotten it.
fn unknown(token: &Token, now_epoch: u64) -> Step {
    let age = now_epoch.saturating_sub(token.run_epoch());
    if age < EVENTUAL_CONSISTENCY_GRACE_SECONDS && now_epoch < token.deadline_epoch {
        return Step::Wait;
    }
    Step::Failed {
        message: format!(
            "migration task {} is unknown to ECS in cluster {} (stopped tasks are forgotten after about an hour); {}",
            token.task_arn,
            token.cluster,
            logs_hint(token)
        ),
    }
}

fn migration_container<'a>(token: &Token, task: &'a TaskState) -> Option<&'a ContainerState> {
    task.containers.iter().find(|c| c.name == token.container)
}

/// The verdict on a stopped task: the migration container's exit code. When it exits, ECS
/// stops the other containers ("If the essential parameter of a container is marked as true,
/// and that container fails or stops for any reason, all other containers that are part of the
/// task are stopped" — ContainerDefinition, ECS API reference): a sidecar then reports 143 or
/// 137, and a container still waiting on `dependsOn` never started and has no exit code. Those
/// are diagnostics, never the verdict.
fn stopped(token: &Token, task: &TaskState, now_epoch: u64) -> Step {
    let migration = migration_container(token, task);
    // Exit 0 counts only when the container ended by itself. A task stopped from outside
    // (StopTask: "UserInitiated"; Fargate retirement, Spot, the scheduler) got SIGTERM, and a
    // migration runner that exits 0 on SIGTERM did not finish.
    let ended_by_itself = matches!(
        task.stop_code.as_deref(),
        None | Some("EssentialContainerExited")
    );
    if ended_by_itself && migration.and_then(|c| c.exit_code) == Some(0) {
        return Step::Succeeded {
            seconds: now_epoch.saturating_sub(token.run_epoch()),
        };
    }
    let verdict = match migration {
        Some(c) => describe_exit(c),
        None => format!("container {} was not reported by ECS", token.container),
    };
    let others: Vec<String> = task
        .containers
        .iter()
        .filter(|c| c.name != token.container)
        .map(describe_exit)
        .collect();
    let others = if others.is_empty() {
        String::new()
    } else {
        format!(" (other containers: {})", others.join(", "))
    };
    Step::Failed {
        message: format!(
            "migration task {} failed: {verdict}{others}; stop code {}; stopped reason {:?}; {}",
            token.task_arn,
            task.stop_code.as_deref().unwrap_or("none"),
            task.stopped_reason.as_deref().unwrap_or(""),
            logs_hint(token)
        ),
    }
}

fn describe_exit(c: &ContainerState) -> String {
    match (c.exit_code, &c.reason) {
        (Some(code), _) => format!("container {} exited with code {code}", c.name),
        (None, Some(reason)) => format!("container {} has no exit code ({reason})", c.name),
        (None, None) => format!("container {} has no exit code", c.name),
    }
}

fn logs_hint(token: &Token) -> String {
    match (&token.log_group, token.log_stream()) {
        (Some(group), Some(stream)) => {
            format!("logs: CloudWatch Logs group {group}, stream {stream}")
        }
        (Some(group), None) => format!(
            "logs: CloudWatch Logs group {group} (no awslogs-stream-prefix, so the stream name is not known)"
        ),
        _ => format!(
            "logs: container {} has no awslogs configuration",
            token.container
        ),
    }
}
