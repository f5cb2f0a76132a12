//! The migration step (CONTRACT §6): a pure state machine that decides what a migration task's
//! state means, and the CodePipeline/ECS adapters around it.
//!
//! The function never sleeps while the task runs. The first invocation starts the task and
//! answers with a continuation token; CodePipeline re-invokes with the token until the step
//! reports success or failure.

use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// CodePipeline's limit on a continuation token.
pub const MAX_TOKEN_CHARS: usize = 2048;

/// What berth needs to carry from one invocation to the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub v: u8,
    pub service: String,
    pub release: String,
    pub cluster: String,
    pub task_arn: String,
    /// The container whose command was overridden (for the failure message and logs).
    pub container: String,
    /// Essential containers: all must exit 0.
    pub essential: Vec<String>,
    pub started_epoch: u64,
    pub deadline_epoch: u64,
    #[serde(default)]
    pub log_group: Option<String>,
    #[serde(default)]
    pub log_stream_prefix: Option<String>,
}

impl Token {
    /// Serialized token; `None` if it would exceed CodePipeline's limit.
    pub fn encode(&self) -> Option<String> {
        serde_json::to_string(self)
            .ok()
            .filter(|s| s.len() <= MAX_TOKEN_CHARS)
    }

    pub fn decode(s: &str) -> Result<Self, String> {
        serde_json::from_str(s).map_err(|e| format!("continuation token is not berth's: {e}"))
    }

    /// `<prefix>/<container>/<task id>`: the awslogs driver's stream name.
    pub fn log_stream(&self) -> Option<String> {
        let prefix = self.log_stream_prefix.as_deref()?;
        let task_id = self.task_arn.rsplit('/').next()?;
        Some(format!("{prefix}/{}/{task_id}", self.container))
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

/// Decides the next step from the task's state (`None`: ECS does not know the task), the
/// current time and the token's deadline.
pub fn decide(token: &Token, task: Option<&TaskState>, now_epoch: u64) -> Step {
    let Some(task) = task else {
        return Step::Failed {
            message: format!(
                "migration task {} is unknown to ECS in cluster {} (stopped tasks are forgotten after about an hour); {}",
                token.task_arn,
                token.cluster,
                logs_hint(token)
            ),
        };
    };
    if task.last_status != "STOPPED" {
        if now_epoch >= token.deadline_epoch {
            return Step::TimedOut {
                message: format!(
                    "migration task {} did not finish within {} seconds (last status {}); it was stopped. {}",
                    token.task_arn,
                    token.deadline_epoch.saturating_sub(token.started_epoch),
                    task.last_status,
                    logs_hint(token)
                ),
            };
        }
        return Step::Wait;
    }
    stopped(token, task, now_epoch)
}

/// The verdict on a task that has stopped.
fn stopped(token: &Token, task: &TaskState, now_epoch: u64) -> Step {
    let failed_to_start = task.stop_code.as_deref() == Some("TaskFailedToStart");
    let bad: Vec<&ContainerState> = token
        .essential
        .iter()
        .map(|name| task.containers.iter().find(|c| &c.name == name).ok_or(name))
        .filter_map(|c| match c {
            Ok(c) if c.exit_code == Some(0) => None,
            Ok(c) => Some(c),
            Err(_) => None,
        })
        .collect();
    let missing: Vec<&String> = token
        .essential
        .iter()
        .filter(|n| !task.containers.iter().any(|c| &c.name == *n))
        .collect();
    if !failed_to_start && bad.is_empty() && missing.is_empty() {
        return Step::Succeeded {
            seconds: now_epoch.saturating_sub(token.started_epoch),
        };
    }
    let mut exits: Vec<String> = bad
        .iter()
        .map(|c| match (c.exit_code, &c.reason) {
            (Some(code), _) => format!("container {} exited with code {code}", c.name),
            (None, Some(reason)) => {
                format!("container {} has no exit code ({reason})", c.name)
            }
            (None, None) => format!("container {} has no exit code", c.name),
        })
        .collect();
    exits.extend(
        missing
            .iter()
            .map(|n| format!("container {n} was not reported by ECS")),
    );
    if exits.is_empty() {
        exits.push("every essential container exited 0".into());
    }
    Step::Failed {
        message: format!(
            "migration task {} failed: {}; stop code {}; stopped reason {:?}; {}",
            token.task_arn,
            exits.join(", "),
            task.stop_code.as_deref().unwrap_or("none"),
            task.stopped_reason.as_deref().unwrap_or(""),
            logs_hint(token)
        ),
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
