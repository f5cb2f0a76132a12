//! Indexing, once, the release records written before the release index existed.

use futures_util::StreamExt;

use super::{READ_CONCURRENCY, Releases};
use crate::error::{Error, Result};
use crate::history;
use crate::record::ReleaseRecord;

impl Releases {
    /// Indexes `service`'s records written before the index existed, once: then writes the
    /// index's marker. Returns how many records it indexed (0 when the marker was there).
    pub async fn ensure_indexed(&self, service: &str) -> Result<usize> {
        if self.index.is_marked(service).await? {
            return Ok(0);
        }
        let keys = self.record_keys(service).await?;
        let indexed = futures_util::stream::iter(keys)
            .map(|key| async move { self.index_record(&key).await })
            .buffer_unordered(READ_CONCURRENCY)
            .collect::<Vec<Result<()>>>()
            .await;
        let count = indexed.len();
        indexed.into_iter().collect::<Result<Vec<()>>>()?;
        self.index.write_marker(service).await?;
        Ok(count)
    }

    async fn index_record(&self, key: &str) -> Result<()> {
        let Some(stored) = self.bucket.get_json::<ReleaseRecord>(key).await? else {
            return Ok(());
        };
        let r = stored.value;
        for (list, at) in history::all_index_entries(&r) {
            self.index.put(&r.service, list, at, &r.release).await?;
        }
        Ok(())
    }

    /// Keys of every record of `service` (only the one-time indexing lists them all).
    async fn record_keys(&self, service: &str) -> Result<Vec<String>> {
        let prefix = format!("releases/{service}/");
        let mut keys_found = Vec::new();
        let mut pages = self
            .bucket
            .s3
            .list_objects_v2()
            .bucket(&self.bucket.name)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(Error::sdk(format!(
                "s3:ListObjectsV2 s3://{}/{prefix}",
                self.bucket.name
            )))?;
            keys_found.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| k.ends_with(".json"))
                    .map(str::to_owned),
            );
        }
        Ok(keys_found)
    }
}
