//! `berth post-migration`: what an operator does about a release whose post migration (the
//! contract step) failed with its code live — skip it (the schema is right by other means, or
//! the step no longer applies), or note a re-run the CLI makes — and what lets the next release
//! go: the hold in the index is released once the contract step succeeded or was skipped.

use std::time::SystemTime;

use super::{LOOKUP_PAGE, LOOKUP_PAGES, Releases};
use crate::error::Result;
use crate::index::List;
use crate::record::{MigrationRecord, ReleaseRecord, timestamp};
use crate::records::{Change, Updated};

/// What a post-migration request came to: done, or refused with the reason.
pub type Settled = std::result::Result<ReleaseRecord, String>;

impl Releases {
    /// The record of a release whose contract step failed, or why there is nothing to settle.
    pub async fn failed_post_migration(&self, service: &str, release: &str) -> Result<Settled> {
        let Some(stored) = self.records.get(service, release).await? else {
            return Ok(Err(format!(
                "service {service:?} has no release {release:?}"
            )));
        };
        let r = stored.value;
        let outcome = r.post_migration.as_ref().map(|m| m.outcome.as_str());
        // Not run: the action judged the deployment not finished for good (a deployment of the
        // group stopped or failed during the release). The operator who checked otherwise may
        // run or skip it as a failed one.
        if crate::migration::post::failed(&r) || outcome == Some(crate::migration::post::NOT_RUN) {
            return Ok(Ok(r));
        }
        Ok(Err(match outcome {
            None => format!("release {release} has no post migration outcome to settle"),
            Some(o) => format!(
                "the post migration of {release} is {o}, neither failed nor not run: nothing to re-run or skip"
            ),
        }))
    }

    /// Marks a failed contract step skipped by the caller, and lets the next releases go.
    pub async fn skip_post_migration(
        &self,
        service: &str,
        release: &str,
        reason: &str,
        now: SystemTime,
    ) -> Result<Settled> {
        if let Err(why) = self.failed_post_migration(service, release).await? {
            return Ok(Err(why));
        }
        let by = self.caller.as_deref().unwrap_or("an operator");
        let skipped = MigrationRecord {
            outcome: "skipped".into(),
            job_id: None,
            pipeline_execution_id: None,
            first_invoked_epoch: None,
            task_definition_arn: None,
            task_arn: None,
            seconds: None,
            message: Some(format!("skipped by {by}: {reason}")),
            updated_at: timestamp(now),
        };
        self.note_post_migration(service, release, skipped, now)
            .await
    }

    /// Writes the release's post migration outcome; a success or a skip lets the next releases
    /// go, a failure holds them.
    pub async fn note_post_migration(
        &self,
        service: &str,
        release: &str,
        outcome: MigrationRecord,
        now: SystemTime,
    ) -> Result<Settled> {
        let held = match outcome.outcome.as_str() {
            "failed" | "stopped" => Some(true),
            "succeeded" | "skipped" => Some(false),
            _ => None,
        };
        let updated = self
            .records
            .update(service, release, now, |r| {
                r.post_migration = Some(outcome.clone());
                Change::Write(())
            })
            .await?;
        let record = match updated {
            Updated::Written { record, .. } | Updated::Kept { record, .. } => *record,
            Updated::Missing => {
                return Ok(Err(format!(
                    "service {service:?} has no release {release:?}"
                )));
            }
        };
        if let Some(held) = held {
            self.index
                .hold_post_migration(service, release, held)
                .await?;
        }
        Ok(Ok(record))
    }

    /// Allows a rollback to pass releases whose contract step ran (`--past-contract`).
    pub fn past_contract(mut self, allowed: bool) -> Self {
        self.past_contract = allowed;
        self
    }

    /// Why a rollback to `target` is refused: it passes a release whose post migration ran
    /// (the releases that succeeded after it, newest first, in bounded pages), unless allowed.
    pub async fn contract_refusal(
        &self,
        service: &str,
        target: &ReleaseRecord,
    ) -> Result<Option<String>> {
        if self.past_contract {
            return Ok(None);
        }
        let mut newer = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..LOOKUP_PAGES {
            let list = List::Succeeded;
            let page = self
                .index
                .page(service, list, LOOKUP_PAGE, after.as_deref());
            let page = page.await?;
            let reached = page.entries.iter().any(|e| e.release == target.release);
            newer.extend(self.read(service, page.entries).await?);
            match page.next {
                Some(next) if !reached => after = Some(next),
                _ => break,
            }
        }
        let passed = crate::migration::post::contracted_since(&newer, target);
        Ok((!passed.is_empty())
            .then(|| crate::migration::post::rollback_refusal(&target.release, &passed)))
    }
}
