//! `berth run`: which task definition revision a release runs, which container's exit code
//! is the verdict, what each state change of the task says, and what a stopped task means.
//! The CLI does the I/O (RunTask, DescribeTasks) and follows these decisions.

use crate::migration::{ContainerState, TaskState};
use crate::record::ReleaseRecord;

/// The lowest and highest pause between two `DescribeTasks` of a running task: the pause
/// starts at [`POLL_MIN_SECONDS`] and doubles up to [`POLL_MAX_SECONDS`], as the ECS API
/// reference advises after RunTask ("run the DescribeTasks command repeatedly, starting with a
/// couple of seconds of wait time and increasing gradually"); the AWS CLI's `tasks-stopped`
/// waiter polls every 6 seconds.
pub const POLL_MIN_SECONDS: u64 = 2;
pub const POLL_MAX_SECONDS: u64 = 6;

/// The pause before poll `n` (0-based).
pub fn poll_delay_seconds(n: u32) -> u64 {
    POLL_MIN_SECONDS
        .saturating_mul(1u64 << n.min(8))
        .min(POLL_MAX_SECONDS)
}

/// The revision `berth run` starts for `record`: the one its deploy action registered, else
/// the one its migration registered from the same `taskdef.json` — the release's exact bytes.
/// Refused when the release registered none (a CodeDeploy service's release without a
/// migration: CodeDeploy registers its revision itself and berth records none) or when that
/// revision was deregistered: "You cannot run new tasks or create new services with a task
/// definition in the INACTIVE state" (Amazon ECS task definition states).
pub fn revision(record: &ReleaseRecord) -> Result<String, String> {
    let registered = record
        .deployment
        .as_ref()
        .and_then(|d| d.task_definition_arn.clone())
        .or_else(|| {
            record
                .migration
                .as_ref()
                .and_then(|m| m.task_definition_arn.clone())
        });
    let Some(arn) = registered else {
        return Err(format!(
            "release {:?} of {} never registered a task definition revision berth recorded (status {}; a release records one when its migration or its deploy action registers it)",
            record.release,
            record.service,
            record.status.name()
        ));
    };
    let deregistered = record
        .deregistration
        .as_ref()
        .is_some_and(|d| d.deregistered.contains(&arn));
    if deregistered {
        return Err(format!(
            "the revision of release {:?}, {arn}, was deregistered (INACTIVE): ECS runs no new task of it",
            record.release
        ));
    }
    Ok(arn)
}

/// The container whose exit code `berth run` reports, and whose command `-- command…`
/// replaces: `--container` when given; else the entry's only registry container; else its
/// migration's container (a one-off command runs where the migration runs); else the caller
/// must say which.
pub fn container(
    requested: Option<&str>,
    registry_containers: &[String],
    migration_container: Option<&str>,
) -> Result<String, String> {
    if let Some(name) = requested {
        return Ok(name.to_owned());
    }
    if let [only] = registry_containers {
        return Ok(only.clone());
    }
    if let Some(name) = migration_container {
        return Ok(name.to_owned());
    }
    Err(format!(
        "the entry has {} containers ({}) and no migration container; name one with --container",
        registry_containers.len(),
        registry_containers.join(", ")
    ))
}

/// The line to print when the task's state moved on from `previous` (the last line's state),
/// or `None` when nothing changed. A stopped task's line says why it stopped.
pub fn change(previous: Option<&str>, task: &TaskState) -> Option<String> {
    if previous == Some(task.last_status.as_str()) {
        return None;
    }
    let mut line = task.last_status.clone();
    if task.last_status == "STOPPED" {
        line.push_str(&format!(" ({})", stopped(task)));
    }
    Some(line)
}

/// Why a task stopped: its stop code and reason, each `none` when ECS leaves it out or empty.
fn stopped(task: &TaskState) -> String {
    format!(
        "stop code {}; {}",
        given(&task.stop_code).unwrap_or("none"),
        given(&task.stopped_reason).unwrap_or("no stopped reason")
    )
}

/// A field ECS may leave out or send empty.
fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.trim().is_empty())
}

/// How a stopped task ended for `berth run`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// The watched container exited with this code, which is the command's exit status.
    Exited { code: u8, message: String },
    /// The container has no exit code berth can pass on: it never ran or never exited by
    /// itself (the image could not be pulled, the task could not start, ...), or its code is
    /// not a process exit status (0–255).
    NoExitCode { message: String },
}

/// What the task came to, once it is `STOPPED` (`None` before). The watched container's exit
/// code decides, as `ecspresso run` decides on its watched container; ECS reports it on the
/// container ("exitCode: The exit code returned from the container", Container, ECS API
/// reference) and leaves it out when the container never exited by itself.
pub fn ended(task: &TaskState, container: &str) -> Option<Ended> {
    if task.last_status != "STOPPED" {
        return None;
    }
    let stopped = stopped(task);
    let Some(watched) = task.containers.iter().find(|c| c.name == container) else {
        return Some(Ended::NoExitCode {
            message: format!(
                "the task stopped and ECS reports no container {container} ({stopped})"
            ),
        });
    };
    let others = others(task, container);
    Some(match watched.exit_code.map(u8::try_from) {
        Some(Ok(code)) => Ended::Exited {
            code,
            message: format!("container {container} exited with code {code} ({stopped}){others}"),
        },
        Some(Err(_)) => Ended::NoExitCode {
            message: format!(
                "container {container} exited with code {}, which is not a process exit status 0-255 ({stopped}){others}",
                watched.exit_code.unwrap_or_default()
            ),
        },
        None => Ended::NoExitCode {
            message: format!(
                "container {container} has no exit code{}: the task stopped before it exited ({stopped}){others}",
                reason(watched)
            ),
        },
    })
}

fn reason(c: &ContainerState) -> String {
    c.reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

/// The other containers' exit codes or reasons, for the message.
fn others(task: &TaskState, container: &str) -> String {
    let others: Vec<String> = task
        .containers
        .iter()
        .filter(|c| c.name != container)
        .map(|c| match c.exit_code {
            Some(code) => format!("{} exited {code}", c.name),
            None => format!("{} no exit code{}", c.name, reason(c)),
        })
        .collect();
    if others.is_empty() {
        String::new()
    } else {
        format!("; other containers: {}", others.join(", "))
    }
}

#[cfg(test)]
mod tests;
