//! Errors that end an invocation with `Err`, so Lambda retries it.
//!
//! A bad upload or a push nobody subscribed to is *not* an error here: those are outcomes
//! (`Rejected`, `Ignored`) that the handlers report and then return `Ok`, because retrying
//! cannot fix them. What remains are faults a retry can cure: AWS being unavailable or
//! throttling, a release another invocation is still working on, a misconfigured function.

use aws_smithy_types::error::display::DisplayErrorContext;

/// Boxed cause of an AWS call failure; kept whole so logs show the service's own error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call failed in a way the caller cannot attribute to the user's input.
    #[error("{action} failed: {}", DisplayErrorContext(.source.as_ref()))]
    Aws {
        action: String,
        #[source]
        source: BoxError,
    },
    /// The function's own settings are wrong (missing environment variable, ...).
    #[error("configuration error: {0}")]
    Config(String),
    /// Another invocation holds the release; the retry will find it finished or abandoned.
    #[error(
        "release {service}/{release} is being processed by another invocation until {until}; retry later"
    )]
    Busy {
        service: String,
        release: String,
        until: String,
    },
    /// Data berth wrote itself could not be read back (corrupt record, unexpected shape).
    #[error("{0}")]
    Corrupt(String),
}

impl Error {
    /// Wraps an SDK error with the action that failed, keeping the error as the source.
    pub fn aws<E>(action: impl Into<String>) -> impl FnOnce(E) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let action = action.into();
        move |source| Error::Aws {
            action,
            source: Box::new(source),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
