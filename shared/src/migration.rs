//! The migration step (CONTRACT §6): a pure state machine that decides what a migration task's
//! state means, and the CodePipeline/ECS adapters around it.
//!
//! The function never sleeps while the task runs. The first invocation starts the task and
//! answers with a continuation token; CodePipeline re-invokes with the token until the step
//! reports success or failure.

use serde::{Deserialize, Serialize};

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

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> Token {
        Token {
            v: 1,
            service: "web".into(),
            release: "v1".into(),
            cluster: "prod".into(),
            task_arn: "arn:aws:ecs:ap-northeast-1:123456789012:task/prod/0123456789abcdef".into(),
            container: "app".into(),
            essential: vec!["app".into(), "nginx".into()],
            started_epoch: 1_000,
            deadline_epoch: 2_800,
            log_group: Some("/ecs/web".into()),
            log_stream_prefix: Some("web".into()),
        }
    }

    fn c(name: &str, exit: Option<i32>) -> ContainerState {
        ContainerState {
            name: name.into(),
            exit_code: exit,
            reason: None,
        }
    }

    fn task(status: &str, stop: Option<&str>, containers: Vec<ContainerState>) -> TaskState {
        TaskState {
            last_status: status.into(),
            stop_code: stop.map(str::to_owned),
            stopped_reason: stop.map(|s| format!("reason for {s}")),
            containers,
        }
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        Wait,
        Ok,
        TimedOut,
        Fail(&'static [&'static str]),
    }

    #[test]
    fn decisions() {
        let ok = || vec![c("app", Some(0)), c("nginx", Some(0))];
        let cases: Vec<(&str, Option<TaskState>, u64, Want)> = vec![
            (
                "provisioning",
                Some(task("PROVISIONING", None, vec![])),
                1_500,
                Want::Wait,
            ),
            (
                "pending",
                Some(task("PENDING", None, vec![])),
                1_500,
                Want::Wait,
            ),
            (
                "running",
                Some(task("RUNNING", None, ok())),
                2_799,
                Want::Wait,
            ),
            (
                "deprovisioning",
                Some(task(
                    "DEPROVISIONING",
                    Some("EssentialContainerExited"),
                    ok(),
                )),
                2_000,
                Want::Wait,
            ),
            (
                "running at deadline",
                Some(task("RUNNING", None, ok())),
                2_800,
                Want::TimedOut,
            ),
            (
                "pending past deadline",
                Some(task("PENDING", None, vec![])),
                9_999,
                Want::TimedOut,
            ),
            (
                "exit 0",
                Some(task("STOPPED", Some("EssentialContainerExited"), ok())),
                1_300,
                Want::Ok,
            ),
            (
                "exit 0 after deadline still counts",
                Some(task("STOPPED", Some("EssentialContainerExited"), ok())),
                9_000,
                Want::Ok,
            ),
            (
                "non-zero exit",
                Some(task(
                    "STOPPED",
                    Some("EssentialContainerExited"),
                    vec![c("app", Some(1)), c("nginx", Some(0))],
                )),
                1_300,
                Want::Fail(&[
                    "container app exited with code 1",
                    "stop code EssentialContainerExited",
                    "stream web/app/0123456789abcdef",
                ]),
            ),
            (
                "null exit code",
                Some(task(
                    "STOPPED",
                    Some("EssentialContainerExited"),
                    vec![c("app", None), c("nginx", Some(0))],
                )),
                1_300,
                Want::Fail(&["container app has no exit code"]),
            ),
            (
                "failed to start",
                Some(task(
                    "STOPPED",
                    Some("TaskFailedToStart"),
                    vec![c("app", None), c("nginx", None)],
                )),
                1_300,
                Want::Fail(&[
                    "stop code TaskFailedToStart",
                    "reason for TaskFailedToStart",
                ]),
            ),
            (
                "failed to start with zero exits",
                Some(task("STOPPED", Some("TaskFailedToStart"), ok())),
                1_300,
                Want::Fail(&["TaskFailedToStart"]),
            ),
            (
                "user stopped, killed",
                Some(task(
                    "STOPPED",
                    Some("UserInitiated"),
                    vec![c("app", Some(137)), c("nginx", Some(0))],
                )),
                1_300,
                Want::Fail(&["code 137", "stop code UserInitiated"]),
            ),
            (
                "scheduler stopped",
                Some(task(
                    "STOPPED",
                    Some("ServiceSchedulerInitiated"),
                    vec![c("app", Some(143)), c("nginx", Some(143))],
                )),
                1_300,
                Want::Fail(&["app exited with code 143", "nginx exited with code 143"]),
            ),
            (
                "spot interruption",
                Some(task(
                    "STOPPED",
                    Some("SpotInterruption"),
                    vec![c("app", None), c("nginx", None)],
                )),
                1_300,
                Want::Fail(&["SpotInterruption"]),
            ),
            (
                "sidecar non-zero is ignored",
                Some(task(
                    "STOPPED",
                    Some("EssentialContainerExited"),
                    vec![
                        c("app", Some(0)),
                        c("nginx", Some(0)),
                        c("datadog", Some(2)),
                    ],
                )),
                1_300,
                Want::Ok,
            ),
            (
                "essential missing",
                Some(task(
                    "STOPPED",
                    Some("EssentialContainerExited"),
                    vec![c("app", Some(0))],
                )),
                1_300,
                Want::Fail(&["container nginx was not reported"]),
            ),
            (
                "unknown task",
                None,
                1_300,
                Want::Fail(&["unknown to ECS", "group /ecs/web"]),
            ),
        ];
        for (name, state, now, want) in cases {
            let step = decide(&token(), state.as_ref(), now);
            match (&want, &step) {
                (Want::Wait, Step::Wait) => {}
                (Want::Ok, Step::Succeeded { seconds }) => {
                    assert_eq!(*seconds, now - 1_000, "{name}")
                }
                (Want::TimedOut, Step::TimedOut { message }) => {
                    assert!(message.contains("within 1800 seconds"), "{name}: {message}")
                }
                (Want::Fail(words), Step::Failed { message }) => {
                    for w in *words {
                        assert!(message.contains(w), "{name}: {w:?} not in {message}");
                    }
                    assert!(message.contains(&token().task_arn), "{name}");
                }
                _ => panic!("{name}: wanted {want:?}, got {step:?}"),
            }
        }
    }

    #[test]
    fn tokens_round_trip_and_respect_the_limit() {
        let t = token();
        let s = t.encode().unwrap();
        assert!(s.len() <= MAX_TOKEN_CHARS);
        assert_eq!(Token::decode(&s).unwrap(), t);
        let mut huge = token();
        huge.essential = (0..500).map(|i| format!("container-{i}")).collect();
        assert_eq!(huge.encode(), None);
        assert!(Token::decode("A continuation token if continuing job").is_err());
    }

    #[test]
    fn log_hints() {
        let mut t = token();
        assert_eq!(t.log_stream().as_deref(), Some("web/app/0123456789abcdef"));
        t.log_stream_prefix = None;
        let Step::Failed { message } = decide(&t, None, 0) else {
            panic!()
        };
        assert!(message.contains("stream name is not known"), "{message}");
        t.log_group = None;
        let Step::Failed { message } = decide(&t, None, 0) else {
            panic!()
        };
        assert!(message.contains("no awslogs configuration"), "{message}");
    }
}
