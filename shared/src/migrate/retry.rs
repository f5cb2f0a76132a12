//! Retries through the continuation token: faults that waiting may cure ask again on the next
//! invocation instead of failing the job.

use super::{Halt, Step};
use crate::jobs::JobResult;
use crate::migration::Pending;

/// How long a job whose input artifact cannot be read (for a passing reason) keeps asking,
/// before the release and its migration deadline are known.
const UNREAD_RETRY_SECONDS: u64 = 900;

/// The input artifact could not be read for a passing reason: a token that asks again.
pub(super) fn retry_unread(
    job: &str,
    pending: Option<&Pending>,
    now_epoch: u64,
    reason: &str,
) -> Step<JobResult> {
    let started = pending.map_or(now_epoch, |p| p.started_epoch);
    let deadline = pending.map_or(now_epoch + UNREAD_RETRY_SECONDS, |p| p.deadline_epoch);
    if now_epoch >= deadline {
        return Err(Halt::Report(format!(
            "the input artifact could not be read: {reason}"
        )));
    }
    let attempts = pending.map_or(1, |p| p.attempts + 1);
    let run_attempt = pending.map_or(0, |p| p.run_attempt);
    tracing::warn!(%reason, attempt = attempts, "input artifact not read; asking again on the next invocation");
    Ok(JobResult::Continue {
        token: Pending::new(job, run_attempt, started, deadline, attempts, reason).encode(),
        summary: format!("waiting to read the input artifact (attempt {attempts}): {reason}"),
        external_id: None,
    })
}

/// A fault that waiting may cure becomes a retry through the continuation token.
pub(super) fn retry_if_transient(e: crate::Error) -> Halt {
    if e.is_transient() {
        // Not a refusal: the call may have done its work, so the retry repeats it as it was.
        Halt::Retry {
            reason: e.to_string(),
            refused: false,
        }
    } else {
        Halt::Fault(e)
    }
}
