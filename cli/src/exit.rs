//! Exit codes, as docs/reference/cli.md documents them.

use std::process::ExitCode;

/// Why the command ended, and the exit code that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Done = 0,
    /// 1: the input is invalid or the request was refused (validation errors, nothing to roll
    /// back to, the artifact is gone, the release exists).
    Refused = 1,
    /// 2: usage (clap uses it for bad arguments; berth for arguments that do not fit together).
    Usage = 2,
    /// 3: an AWS, file or configuration failure.
    Failed = 3,
    /// 4: `release --wait` saw the execution end other than `SUCCEEDED`.
    ExecutionFailed = 4,
    /// 5: the request has no meaning for the service's deploy kind (`finish` on a service ECS
    /// deploys itself, `promote` on a rolling one): no phase of any deployment would allow it.
    NotForKind = 5,
    /// 6: `berth run`: the task stopped without an exit code of its container to pass on (it
    /// never started or never exited by itself: the image could not be pulled, ...). Otherwise
    /// `berth run` exits with the container's own exit code, whatever it is.
    NoExitCode = 6,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// A command that did not end in `Done`: its exit code and what to tell the user.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl Failure {
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Refused,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Usage,
            message: message.into(),
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::Failed,
            message: message.into(),
        }
    }

    pub fn execution_failed(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::ExecutionFailed,
            message: message.into(),
        }
    }

    pub fn not_for_kind(message: impl Into<String>) -> Self {
        Self {
            exit: Exit::NotForKind,
            message: message.into(),
        }
    }
}

/// A fault from the berth library (AWS, configuration, unreadable records) is exit 3.
impl From<berth::Error> for Failure {
    fn from(e: berth::Error) -> Self {
        Failure::failed(e.to_string())
    }
}

pub type Outcome = Result<(), Failure>;
