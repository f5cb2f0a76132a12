//! Faults: what ends an invocation with `Err`, so Lambda retries it.
//!
//! A user's bad input is never one of these. Rejected manifests, ignored pushes and failed
//! migrations are *outcomes* that each function reports and then returns `Ok`, because a retry
//! cannot fix them. What remains are faults a retry may cure (AWS unavailable or throttling, a
//! release another invocation is still working on) and faults an operator must fix (a
//! misconfigured function, data berth cannot read back). [`Error::kind`] names which, and is
//! what Lambda reports as the invocation's `errorType`, so an operator can filter on it.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The one boxed error of the crate: the cause of an AWS call failure (kept whole so logs show
/// the service's own error), and what the HTTPS connector and the SDK interceptors return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of AWS failure a call met: it decides whether waiting helps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFault {
    /// The service throttled the caller beyond the SDK's own retries.
    Throttled,
    /// The service or the network failed (5xx, timeout, connection refused).
    Unavailable,
    /// The caller's role may not do this: a stack or policy problem, not a passing one.
    Denied,
    /// Anything else the service refused.
    Refused,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An AWS call failed in a way that cannot be attributed to the user's input.
    #[error("{action} failed: {}", DisplayErrorContext(.source.as_ref()))]
    Aws {
        action: String,
        fault: AwsFault,
        #[source]
        source: BoxError,
    },
    /// The function's own settings are wrong (missing environment variable, ...).
    #[error("configuration error: {0}")]
    Config(String),
    /// Another invocation holds the release; the retry will find it finished or abandoned.
    #[error(
        "release {service}/{release} is being processed by another invocation ({until}); retry later"
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
    /// Wraps an SDK error with the action that failed, classifying the failure.
    pub fn sdk<E, R>(action: impl Into<String>) -> impl FnOnce(SdkError<E, R>) -> Error
    where
        E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
        SdkError<E, R>: std::error::Error,
    {
        let action = action.into();
        move |source| Error::Aws {
            fault: classify(&source),
            action,
            source: Box::new(source),
        }
    }

    /// Wraps any other failure met while talking to AWS (reading a response body, ...).
    pub fn aws<E>(action: impl Into<String>) -> impl FnOnce(E) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let action = action.into();
        move |source| Error::Aws {
            action,
            fault: AwsFault::Unavailable,
            source: Box::new(source),
        }
    }

    /// The `errorType` Lambda reports for this fault: one word an operator can filter on.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Aws { fault, .. } => match fault {
                AwsFault::Throttled => "Throttled",
                AwsFault::Unavailable => "AwsUnavailable",
                AwsFault::Denied => "AccessDenied",
                AwsFault::Refused => "AwsRefused",
            },
            Error::Config(_) => "Config",
            Error::Busy { .. } => "Busy",
            Error::Corrupt(_) => "Corrupt",
        }
    }

    /// The same AWS failure, known to be cured by waiting (an operation's own "try again later").
    pub fn transient(self) -> Self {
        match self {
            Error::Aws { action, source, .. } => Error::Aws {
                fault: AwsFault::Unavailable,
                action,
                source,
            },
            other => other,
        }
    }

    /// Whether waiting and asking again may cure it (throttling, an outage, a busy release).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Aws {
                fault: AwsFault::Throttled | AwsFault::Unavailable,
                ..
            } | Error::Busy { .. }
        )
    }
}

impl From<Error> for lambda_runtime::Diagnostic {
    fn from(e: Error) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.kind().to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// Error codes AWS services use for throttling.
const THROTTLING_CODES: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "ProvisionedThroughputExceededException",
];

const DENIED_CODES: [&str; 4] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
];

fn classify<E, R>(e: &SdkError<E, R>) -> AwsFault
where
    E: ProvideErrorMetadata,
{
    match e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            if THROTTLING_CODES.contains(&code) {
                AwsFault::Throttled
            } else if DENIED_CODES.contains(&code) {
                AwsFault::Denied
            } else if code.contains("ServerException")
                || code.contains("ServiceUnavailable")
                || code == "InternalError"
                || code == "InternalFailure"
            {
                AwsFault::Unavailable
            } else {
                AwsFault::Refused
            }
        }
        // Timeouts, refused connections, responses that could not be read.
        _ => AwsFault::Unavailable,
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_what_lambda_reports() {
        let busy = Error::Busy {
            service: "web".into(),
            release: "v1".into(),
            until: "epoch 5".into(),
        };
        let diag: lambda_runtime::Diagnostic = busy.into();
        assert_eq!(diag.error_type, "Busy");
        assert!(
            diag.error_message.contains("web/v1"),
            "{}",
            diag.error_message
        );
        assert_eq!(Error::Config("x".into()).kind(), "Config");
        assert_eq!(Error::Corrupt("x".into()).kind(), "Corrupt");
        let io = std::io::Error::other("reset");
        let e = Error::aws("s3:GetObject")(io);
        assert_eq!(e.kind(), "AwsUnavailable");
        assert!(e.is_transient());
        assert!(!Error::Config("x".into()).is_transient());
    }
}
