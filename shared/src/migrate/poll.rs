//! Re-invocations of a Migrate job: look at the task and decide
//! ([`crate::migration::decide`]).

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::{Context, Step, ecs, failure, migration_record};
use crate::jobs::JobResult;
use crate::migration::{self, Step as Next, Token};
use crate::record::epoch_seconds;

impl Context {
    pub(super) async fn poll(
        &self,
        token: Token,
        job_id: &str,
        now: SystemTime,
        post: bool,
    ) -> Step<JobResult> {
        // Every continuation is a new job; the record knows the action by its first job.
        let origin = token.job.clone().unwrap_or_else(|| job_id.to_owned());
        let job_id = origin.as_str();
        let now_epoch = epoch_seconds(now);
        let state = match ecs::describe(&self.clients.ecs, &token.cluster, &token.task_arn).await {
            Ok(state) => state,
            Err(e) if now_epoch < token.deadline_epoch => {
                tracing::warn!(error = %e, "could not look at the migration task; asking again later");
                return Ok(continue_with(&token));
            }
            Err(e) => return Err(e.into()),
        };
        match migration::decide(&token, state.as_ref(), now_epoch) {
            Next::Wait => Ok(continue_with(&token)),
            Next::Succeeded { seconds } => Ok(self.succeeded(&token, job_id, seconds, post).await),
            Next::TimedOut { message } => {
                let reason = "berth: migration deadline passed";
                ecs::stop(&self.clients.ecs, &token.cluster, &token.task_arn, reason).await?;
                Ok(self.failed(&token, job_id, message, post).await)
            }
            Next::Failed { message } => Ok(self.failed(&token, job_id, message, post).await),
        }
    }

    async fn succeeded(&self, token: &Token, job_id: &str, seconds: u64, post: bool) -> JobResult {
        let what = which(post);
        tracing::info!(task_arn = %token.task_arn, duration_seconds = seconds, post, "{what} succeeded");
        let mut m = migration_record("succeeded", job_id, None, Some(&token.task_arn), None);
        m.seconds = Some(seconds);
        self.note(post, &token.service, &token.release, m).await;
        let prefix = if post { "POST_MIGRATION" } else { "MIGRATION" };
        JobResult::Success {
            summary: format!("{what} succeeded in {seconds} s ({})", token.task_arn),
            variables: BTreeMap::from([
                (prefix.into(), "succeeded".into()),
                (format!("{prefix}_TASK_ARN"), token.task_arn.clone()),
                (format!("{prefix}_SECONDS"), seconds.to_string()),
            ]),
            external_id: Some(token.task_arn.clone()),
        }
    }

    async fn failed(&self, token: &Token, job_id: &str, message: String, post: bool) -> JobResult {
        tracing::warn!(task_arn = %token.task_arn, %message, post, "{} failed", which(post));
        let m = migration_record(
            "failed",
            job_id,
            None,
            Some(&token.task_arn),
            Some(message.clone()),
        );
        self.note(post, &token.service, &token.release, m).await;
        let message = if post {
            super::post::failed_message(&token.service, &token.release, &message)
        } else {
            message
        };
        failure(message, Some(token.task_arn.clone()))
    }
}

/// What the step is called in summaries and logs.
pub(super) fn which(post: bool) -> &'static str {
    if post { "post migration" } else { "migration" }
}

fn continue_with(token: &Token) -> JobResult {
    JobResult::Continue {
        token: token.encode().unwrap_or_default(),
        summary: format!("migration task {} running", token.task_arn),
        external_id: Some(token.task_arn.clone()),
    }
}
