//! Group records in the bucket (`group-releases/<group>/<release>.json`) and the group's
//! release index: conditional writes, as for release records (see [`crate::records`]), since
//! on-manifest and every member's on-pipeline-event invocation update the same record.

use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::group::{self, GroupRecord};
use crate::index::{self, Index, Page};
use crate::record::timestamp;
use crate::records::Change;
use crate::retry;
use crate::store::{Bucket, Condition, Edited, Stored, Written};

/// What an update did: the value the edit returned and the record as it now is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated<T> {
    Done {
        value: T,
        record: Box<GroupRecord>,
    },
    /// There is no record of that group release.
    Missing,
}

#[derive(Debug, Clone)]
pub struct GroupRecords {
    pub bucket: Bucket,
}

impl GroupRecords {
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    pub async fn get(&self, group: &str, release: &str) -> Result<Option<Stored<GroupRecord>>> {
        self.bucket
            .get_json(&group::record_key(group, release))
            .await
    }

    /// Creates the record unless one exists (`If-None-Match: *`); whether this call created it.
    pub async fn create(&self, record: &GroupRecord) -> Result<bool> {
        let key = group::record_key(&record.group, &record.release);
        let written = self
            .bucket
            .put_json(&key, record, Condition::Absent)
            .await?;
        Ok(matches!(written, Written::Ok { .. }))
    }

    /// Lists the group release in the group's index, at its creation time.
    pub async fn index(&self, record: &GroupRecord) -> Result<()> {
        let at = index::millis(&record.created_at).unwrap_or_default();
        let key = index::entry_under(&group::index_prefix(&record.group), at, &record.release);
        Index::new(self.bucket.clone()).put_empty(&key).await
    }

    /// Up to `limit` of the group's releases, newest first.
    pub async fn page(&self, group: &str, limit: i32) -> Result<Page> {
        Index::new(self.bucket.clone())
            .page_under(&group::index_prefix(group), limit, None)
            .await
    }

    /// Reads the record, applies `edit`, and writes it back if asked to (`If-Match`), retrying
    /// the whole read-edit-write when another writer got there first.
    pub async fn update<T>(
        &self,
        group: &str,
        release: &str,
        now: SystemTime,
        mut edit: impl FnMut(&mut GroupRecord) -> Change<T>,
    ) -> Result<Updated<T>> {
        let key = group::record_key(group, release);
        let policy = retry::RECORD_UPDATE;
        let edited = self
            .bucket
            .edit_json(&key, policy, |g: &mut GroupRecord| {
                let change = edit(g);
                if let Change::Write(_) = change {
                    g.updated_at = timestamp(now);
                }
                change
            })
            .await?;
        match edited {
            Some(Edited::Written(value, record) | Edited::Kept(value, record)) => {
                Ok(done(value, record))
            }
            Some(Edited::Missing) => Ok(Updated::Missing),
            None => Err(Error::Busy {
                service: format!("group {group}"),
                release: release.to_owned(),
                until: policy.gave_up(),
            }),
        }
    }
}

fn done<T>(value: T, record: GroupRecord) -> Updated<T> {
    Updated::Done {
        value,
        record: Box::new(record),
    }
}
