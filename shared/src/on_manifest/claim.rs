//! The claim on a release: creating its record with `If-None-Match: *`, or deciding what an
//! existing one means ([`crate::claim::decide`]) and resuming a crashed delivery.

use std::time::SystemTime;

use super::deploy::new_record;
use super::release::{Claimed, Claiming, Valid};
use super::{Context, Outcome, Upload};
use crate::claim::{self, Claim};
use crate::error::{Error, Result};
use crate::keys::{self, ManifestKey};
use crate::record::{ReleaseRecord, epoch_seconds};
use crate::store::{Condition, Stored, Written};

/// User metadata on each artifact version naming the manifest version it was rendered from,
/// so a resumed release finds the artifact a crashed invocation wrote.
pub(super) const ARTIFACT_MANIFEST_VERSION: &str = "berth-manifest-version";

/// How many recent artifact versions a resumed release searches.
const RESUME_WINDOW: i32 = 20;

impl Context {
    /// Creates the release record (the claim), or decides what the existing one means.
    pub(super) async fn claim(
        &self,
        upload: &Upload,
        key: &ManifestKey,
        valid: &Valid,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Claiming> {
        let record_key = keys::release_key(&key.service, &key.release);
        let record = new_record(valid, now, lease_until);
        if let Written::Ok { etag, .. } = self
            .bucket
            .put_json(&record_key, &record, Condition::Absent)
            .await?
        {
            let claimed = Claimed {
                key: record_key,
                record,
                etag,
                resumed: false,
            };
            return Ok(Claiming::Claimed(Box::new(claimed)));
        }
        let existing: Option<Stored<ReleaseRecord>> = self.bucket.get_json(&record_key).await?;
        let decision = claim::decide(
            existing.as_ref().map(|s| &s.value),
            &upload.key,
            &valid.source.version_id,
            epoch_seconds(now),
        );
        let busy = |until: String| Error::Busy {
            service: key.service.clone(),
            release: key.release.clone(),
            until,
        };
        match (decision, existing) {
            (Claim::Takeover, Some(stored)) => self.take_over(record_key, record, stored).await,
            (
                Claim::Duplicate {
                    pipeline_execution_id,
                },
                _,
            ) => Ok(Claiming::Finished(Outcome::Duplicate {
                service: key.service.clone(),
                release: key.release.clone(),
                pipeline_execution_id,
            })),
            (Claim::Conflict(problem), _) => {
                let rejection = keys::rejected_key(&key.service, &key.release);
                let outcome = self
                    .reject(upload, rejection, vec![problem.to_string()])
                    .await?;
                Ok(Claiming::Finished(outcome))
            }
            (Claim::Busy(until), _) => Err(busy(until)),
            (Claim::Takeover, None) => Err(busy("the record vanished".into())),
        }
    }

    /// Resumes a crashed delivery of this upload: reuses the artifact it wrote, if it got that
    /// far, so a pipeline it may have started and the record agree.
    async fn take_over(
        &self,
        record_key: String,
        mut record: ReleaseRecord,
        stored: Stored<ReleaseRecord>,
    ) -> Result<Claiming> {
        record.artifact_version_id = self
            .bucket
            .find_version(
                &keys::artifact_key(&record.service),
                ARTIFACT_MANIFEST_VERSION,
                &record.manifest.version_id,
                RESUME_WINDOW,
            )
            .await?;
        record.created_at = stored.value.created_at.clone();
        match self
            .bucket
            .put_json(&record_key, &record, Condition::Matches(&stored.etag))
            .await?
        {
            Written::Ok { etag, .. } => Ok(Claiming::Claimed(Box::new(Claimed {
                key: record_key,
                record,
                etag,
                resumed: true,
            }))),
            Written::ConditionFailed => Err(Error::Busy {
                service: record.service,
                release: record.release,
                until: "another invocation claimed it just now".into(),
            }),
        }
    }
}
