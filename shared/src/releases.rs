//! A service's releases as the operator sees them (the CLI): the history, and rollback to
//! the last known good release by redeploying its exact artifact version.

use std::time::SystemTime;

use futures_util::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::history::{self, last_known_good};
use crate::keys;
use crate::pipeline;
use crate::record::{Redeployment, ReleaseRecord, ReleaseStatus, epoch_seconds, timestamp};
use crate::records::{Change, Records};
use crate::store::Bucket;

/// How many release records are read at once.
pub const READ_CONCURRENCY: usize = 8;

/// Release history over the release bucket and CodePipeline.
#[derive(Debug, Clone)]
pub struct Releases {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub bucket: Bucket,
    pub records: Records,
}

/// A started rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollback {
    pub release: String,
    pub artifact_version_id: String,
    pub pipeline: String,
    pub pipeline_execution_id: String,
}

/// What a rollback request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollbackOutcome {
    Started(Rollback),
    /// Nothing to roll back to, or the target cannot be redeployed; the reason says why.
    Refused(String),
}

impl Releases {
    pub fn new(codepipeline: aws_sdk_codepipeline::Client, bucket: Bucket) -> Self {
        Self {
            codepipeline,
            records: Records::new(bucket.clone()),
            bucket,
        }
    }

    /// Every release record of `service`, newest first.
    pub async fn list(&self, service: &str) -> Result<Vec<ReleaseRecord>> {
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
        let reads = futures_util::stream::iter(keys_found)
            .map(|k| async move { self.bucket.get_json::<ReleaseRecord>(&k).await })
            .buffer_unordered(READ_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut records = Vec::with_capacity(reads.len());
        for read in reads {
            if let Some(stored) = read? {
                records.push(stored.value);
            }
        }
        records.sort_by_key(|r| std::cmp::Reverse(history::started(r)));
        Ok(records)
    }

    /// Starts a rollback execution of `service` to `to`, or to the last known good release.
    pub async fn rollback(
        &self,
        service: &str,
        to: Option<&str>,
        now: SystemTime,
    ) -> Result<RollbackOutcome> {
        let records = self.list(service).await?;
        let target = match to {
            Some(name) => match records.iter().find(|r| r.release == name) {
                Some(r) => r,
                None => {
                    let why = format!("service {service:?} has no release {name:?}");
                    return Ok(RollbackOutcome::Refused(why));
                }
            },
            None => match last_known_good(&records) {
                Ok(r) => r,
                Err(reason) => return Ok(RollbackOutcome::Refused(reason)),
            },
        };
        let Some(version) = target.artifact_version_id.as_deref() else {
            return Ok(RollbackOutcome::Refused(format!(
                "release {:?} never produced an artifact (status {})",
                target.release,
                target.status.name()
            )));
        };
        if let Some(gone) = self
            .artifact_gone(service, &target.release, version)
            .await?
        {
            return Ok(RollbackOutcome::Refused(gone));
        }
        let token = pipeline::request_token(&[
            "rollback",
            service,
            &target.release,
            &epoch_seconds(now).to_string(),
        ]);
        let execution = pipeline::Execution {
            pipeline: &target.pipeline,
            service,
            release: &target.release,
            artifact_version_id: version,
            rollback: true,
            client_request_token: &token,
        };
        let execution_id = pipeline::start(&self.codepipeline, &execution).await?;
        self.note_redeployment(service, &target.release, &execution_id, now)
            .await?;
        Ok(RollbackOutcome::Started(Rollback {
            release: target.release.clone(),
            artifact_version_id: version.to_owned(),
            pipeline: target.pipeline.clone(),
            pipeline_execution_id: execution_id,
        }))
    }

    /// Why the artifact version cannot be redeployed, if it is gone.
    async fn artifact_gone(
        &self,
        service: &str,
        release: &str,
        version: &str,
    ) -> Result<Option<String>> {
        let artifact_key = keys::artifact_key(service);
        let exists = self
            .bucket
            .s3
            .head_object()
            .bucket(&self.bucket.name)
            .key(&artifact_key)
            .version_id(version)
            .send()
            .await;
        let Err(e) = exists else { return Ok(None) };
        let missing = e.as_service_error().is_some_and(|se| se.is_not_found())
            || e.raw_response()
                .is_some_and(|r| matches!(r.status().as_u16(), 400 | 404));
        if missing {
            return Ok(Some(format!(
                "the artifact of release {release:?} (s3://{}/{artifact_key} version {version}) is gone; it cannot be redeployed",
                self.bucket.name
            )));
        }
        Err(Error::sdk(format!("s3:HeadObject {artifact_key}"))(e))
    }

    /// Adds the rollback execution to the restored release's record.
    async fn note_redeployment(
        &self,
        service: &str,
        release: &str,
        execution_id: &str,
        now: SystemTime,
    ) -> Result<()> {
        self.records
            .update(service, release, now, |r| {
                if r.redeployments
                    .iter()
                    .any(|d| d.pipeline_execution_id == execution_id)
                {
                    return Change::Keep(());
                }
                r.redeployments.push(Redeployment {
                    pipeline_execution_id: execution_id.to_owned(),
                    started_at: timestamp(now),
                    status: Some(ReleaseStatus::InProgress),
                    finished_at: None,
                    migration: None,
                });
                Change::Write(())
            })
            .await?;
        Ok(())
    }
}
