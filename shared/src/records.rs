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
pub use crate::store::Change;
use crate::store::{Bucket, Edited, Stored};

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
        let edited = self
            .bucket
            .edit_json(&key, policy, |r: &mut ReleaseRecord| {
                let change = edit(r);
                if let Change::Write(_) = change {
                    r.updated_at = timestamp(now);
                }
                change
            })
            .await?;
        match edited {
            Some(Edited::Written(value, record)) => Ok(Updated::Written {
                value,
                record: Box::new(record),
            }),
            Some(Edited::Kept(value, record)) => Ok(Updated::Kept {
                value,
                record: Box::new(record),
            }),
            Some(Edited::Missing) => Ok(Updated::Missing),
            None => Err(Error::Busy {
                service: service.to_owned(),
                release: release.to_owned(),
                until: policy.gave_up(),
            }),
        }
    }
}
