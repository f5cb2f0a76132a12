//! Release records in the bucket: the one read-modify-write helper every function uses.
//!
//! Several functions update the same record (on-manifest, migrate, on-pipeline-event, the CLI),
//! so every update is a conditional write (`If-Match` on the ETag just read), retried under
//! [`retry::RECORD_UPDATE`] when another writer got there first.

use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::keys;
use crate::record::{ReleaseRecord, timestamp};
use crate::retry;
use crate::store::{Bucket, Condition, Stored, Written};

/// What an edit decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// Write the edited record.
    Write(T),
    /// Nothing to write (the record already says it, or the event does not apply).
    Keep(T),
}

/// What an update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated<T> {
    Written {
        value: T,
        record: Box<ReleaseRecord>,
    },
    Kept {
        value: T,
        record: Box<ReleaseRecord>,
    },
    /// There is no record of that release.
    Missing,
}

#[derive(Debug, Clone)]
pub struct Records {
    pub bucket: Bucket,
}

impl Records {
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    pub async fn get(&self, service: &str, release: &str) -> Result<Option<Stored<ReleaseRecord>>> {
        self.bucket
            .get_json(&keys::release_key(service, release))
            .await
    }

    /// Reads the record, applies `edit`, and writes it back if the edit asks to, retrying the
    /// whole read-edit-write when another writer changed the record in between. `updated_at`
    /// is set to `now` on every write.
    pub async fn update<T>(
        &self,
        service: &str,
        release: &str,
        now: SystemTime,
        mut edit: impl FnMut(&mut ReleaseRecord) -> Change<T>,
    ) -> Result<Updated<T>> {
        let key = keys::release_key(service, release);
        let policy = retry::RECORD_UPDATE;
        for attempt in 1..=policy.attempts {
            let delay = policy.delay_before(attempt);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let Some(stored) = self.bucket.get_json::<ReleaseRecord>(&key).await? else {
                return Ok(Updated::Missing);
            };
            let mut record = stored.value;
            let value = match edit(&mut record) {
                Change::Keep(value) => {
                    return Ok(Updated::Kept {
                        value,
                        record: Box::new(record),
                    });
                }
                Change::Write(value) => value,
            };
            record.updated_at = timestamp(now);
            match self
                .bucket
                .put_json(&key, &record, Condition::Matches(&stored.etag))
                .await?
            {
                Written::Ok { .. } => {
                    return Ok(Updated::Written {
                        value,
                        record: Box::new(record),
                    });
                }
                Written::ConditionFailed => continue,
            }
        }
        Err(Error::Busy {
            service: service.to_owned(),
            release: release.to_owned(),
            until: policy.gave_up(),
        })
    }
}
