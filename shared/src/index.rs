//! The release index in the bucket: the key layout is `berth_core::index` (re-exported here);
//! [`Index`] reads and writes the entries.

use aws_sdk_s3::primitives::ByteStream;

pub use berth_core::index::*;

use crate::error::{Error, Result};
use crate::store::{Bucket, Read};

/// The index in the release bucket.
#[derive(Debug, Clone)]
pub struct Index {
    pub bucket: Bucket,
}

impl Index {
    pub fn new(bucket: Bucket) -> Self {
        Self { bucket }
    }

    /// Writes an entry (an empty object; writing it again changes nothing).
    pub async fn put(&self, service: &str, list: List, at_ms: u64, release: &str) -> Result<()> {
        let key = entry_key(service, list, at_ms, release);
        self.put_empty(&key).await
    }

    pub async fn write_marker(&self, service: &str) -> Result<()> {
        self.put_empty(&marker_key(service)).await
    }

    pub async fn is_marked(&self, service: &str) -> Result<bool> {
        let read = self.bucket.get(&marker_key(service), None, Some(0)).await?;
        Ok(!matches!(read, Read::Missing))
    }

    /// Writes an empty object at `key` (an entry of any list).
    pub async fn put_empty(&self, key: &str) -> Result<()> {
        self.bucket
            .s3
            .put_object()
            .bucket(&self.bucket.name)
            .key(key)
            .body(ByteStream::from_static(b""))
            .send()
            .await
            .map_err(Error::sdk(format!(
                "s3:PutObject s3://{}/{key}",
                self.bucket.name
            )))?;
        Ok(())
    }

    /// Up to `limit` (1–1000) entries of `list`, newest first, after key `start_after`.
    pub async fn page(
        &self,
        service: &str,
        list: List,
        limit: i32,
        start_after: Option<&str>,
    ) -> Result<Page> {
        self.page_under(&prefix(service, list), limit, start_after)
            .await
    }

    /// Up to `limit` (1–1000) entries of the list under `prefix`, newest first.
    pub async fn page_under(
        &self,
        prefix: &str,
        limit: i32,
        start_after: Option<&str>,
    ) -> Result<Page> {
        let out = self
            .bucket
            .s3
            .list_objects_v2()
            .bucket(&self.bucket.name)
            .prefix(prefix)
            .max_keys(limit.clamp(1, 1000))
            .set_start_after(start_after.map(str::to_owned))
            .send()
            .await
            .map_err(Error::sdk(format!(
                "s3:ListObjectsV2 s3://{}/{prefix}",
                self.bucket.name
            )))?;
        let entries: Vec<Entry> = out
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter_map(parse_entry)
            .collect();
        let next = out
            .is_truncated()
            .unwrap_or(false)
            .then(|| {
                out.contents()
                    .last()
                    .and_then(|o| o.key())
                    .map(str::to_owned)
            })
            .flatten();
        Ok(Page { entries, next })
    }

    /// The newest entry of `list`, if any.
    pub async fn newest(&self, service: &str, list: List) -> Result<Option<Entry>> {
        Ok(self
            .page(service, list, 1, None)
            .await?
            .entries
            .into_iter()
            .next())
    }

    /// The releases held by a failed post migration (at most `limit`, by name).
    pub async fn post_migration_failed(&self, service: &str, limit: i32) -> Result<Vec<String>> {
        let prefix = post_migration_failed_prefix(service);
        let out = self
            .bucket
            .s3
            .list_objects_v2()
            .bucket(&self.bucket.name)
            .prefix(&prefix)
            .max_keys(limit.clamp(1, 1000))
            .send()
            .await
            .map_err(Error::sdk(format!(
                "s3:ListObjectsV2 s3://{}/{prefix}",
                self.bucket.name
            )))?;
        Ok(out
            .contents()
            .iter()
            .filter_map(|o| o.key()?.strip_prefix(&prefix).map(str::to_owned))
            .collect())
    }

    /// Holds the next releases behind `release`'s failed post migration, or lets them go.
    pub async fn hold_post_migration(
        &self,
        service: &str,
        release: &str,
        held: bool,
    ) -> Result<()> {
        let key = post_migration_failed_key(service, release);
        if held {
            return self.put_empty(&key).await;
        }
        self.bucket
            .s3
            .delete_object()
            .bucket(&self.bucket.name)
            .key(&key)
            .send()
            .await
            .map_err(Error::sdk(format!(
                "s3:DeleteObject s3://{}/{key}",
                self.bucket.name
            )))?;
        Ok(())
    }
}
