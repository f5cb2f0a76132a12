//! A service's releases as the operator sees them (the CLI): history pages, the release
//! running now, and rollback to the last known good release by redeploying its exact artifact
//! version. Every read goes through the [`crate::index`], so its cost does not grow with the
//! length of the history.

mod backfill;
mod post_migration;
pub use post_migration::Settled;
mod reconcile;

use std::time::SystemTime;

use futures_util::StreamExt;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::index::{self, Entry, Index, List};
use crate::keys;
use crate::pipeline;
use crate::record::{Redeployment, ReleaseRecord, ReleaseStatus, epoch_seconds, timestamp};
use crate::records::{Change, Records};
use crate::store::Bucket;

/// How many release records are read at once.
pub const READ_CONCURRENCY: usize = 8;

/// How many index entries a rollback looks through for a known good release before it gives
/// up (pages of [`LOOKUP_PAGE`]): a bound, so a long run of failed releases cannot make it read
/// the whole history.
const LOOKUP_PAGES: usize = 10;
const LOOKUP_PAGE: i32 = 20;

/// Release history over the release bucket and CodePipeline.
#[derive(Debug, Clone)]
pub struct Releases {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub bucket: Bucket,
    pub records: Records,
    pub index: Index,
    /// Who asks (a caller identity ARN), noted on rollbacks.
    pub caller: Option<String>,
    /// Whether a rollback may pass a release whose post migration (contract step) ran.
    pub past_contract: bool,
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

/// A page of history, newest first.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub records: Vec<ReleaseRecord>,
    /// Where the next page starts (`None`: this was the last).
    pub next: Option<String>,
}

impl Releases {
    pub fn new(codepipeline: aws_sdk_codepipeline::Client, bucket: Bucket) -> Self {
        Self {
            codepipeline,
            records: Records::new(bucket.clone()),
            index: Index::new(bucket.clone()),
            bucket,
            caller: None,
            past_contract: false,
        }
    }

    /// The same, noting `caller` as who asks for rollbacks.
    pub fn with_caller(mut self, caller: Option<String>) -> Self {
        self.caller = caller;
        self
    }

    /// Up to `limit` releases of `service`, newest first, after `start_after` (a page's `next`).
    pub async fn page(&self, service: &str, limit: i32, start_after: Option<&str>) -> Result<Page> {
        let page = self
            .index
            .page(service, List::Releases, limit, start_after)
            .await?;
        Ok(Page {
            records: self.read(service, page.entries).await?,
            next: page.next,
        })
    }

    /// Every release of `service`, newest first (reads the whole history).
    pub async fn list(&self, service: &str) -> Result<Vec<ReleaseRecord>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.page(service, 1000, after.as_deref()).await?;
            all.extend(page.records);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// The releases of `service` created since `from` (epoch seconds), newest first: pages of
    /// the index until one reaches further back.
    pub async fn since(&self, service: &str, from: i64) -> Result<Vec<ReleaseRecord>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.page(service, 100, after.as_deref()).await?;
            let reached = page
                .records
                .iter()
                .any(|r| crate::record::parse_timestamp(&r.created_at).is_some_and(|t| t < from));
            all.extend(page.records);
            match page.next {
                Some(next) if !reached => after = Some(next),
                _ => return Ok(all),
            }
        }
    }

    /// The newest release, and the one running now (the newest successful execution), both
    /// brought up to date with CodePipeline.
    pub async fn newest_and_current(
        &self,
        service: &str,
        now: SystemTime,
    ) -> Result<(Option<ReleaseRecord>, Option<ReleaseRecord>)> {
        let newest = self.index.newest(service, List::Releases).await?;
        let mut read = self.read(service, newest.into_iter().collect()).await?;
        self.reconcile(&mut read, now).await?;
        let current = self.index.newest(service, List::Deployed).await;
        let current = match current? {
            Some(e) if read.first().is_some_and(|r| r.release == e.release) => {
                read.first().cloned()
            }
            Some(e) => self.read(service, vec![e]).await?.pop(),
            None => None,
        };
        Ok((read.pop(), current))
    }

    /// The records of index entries, in their order, at most [`READ_CONCURRENCY`] at once.
    pub(crate) async fn read(
        &self,
        service: &str,
        entries: Vec<Entry>,
    ) -> Result<Vec<ReleaseRecord>> {
        let reads: Vec<_> = futures_util::stream::iter(entries)
            .map(|e| async move { self.records.get(service, &e.release).await })
            .buffered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut records = Vec::with_capacity(reads.len());
        for read in reads {
            if let Some(stored) = read? {
                records.push(stored.value);
            }
        }
        Ok(records)
    }

    /// The last known good release: the current release is the one that most recently
    /// succeeded (its own deployment or a rollback to it); the target is the newest release
    /// claimed before it whose own deployment succeeded. Failed, stopped and superseded
    /// releases are never targets.
    pub async fn last_known_good(
        &self,
        service: &str,
        now: SystemTime,
    ) -> Result<std::result::Result<ReleaseRecord, String>> {
        // A success whose event was lost would make an older release look current.
        let mut newest = self.page(service, LOOKUP_PAGE, None).await?.records;
        self.reconcile(&mut newest, now).await?;
        self.last_known_good_as_recorded(service).await
    }

    /// [`Releases::last_known_good`] from the records as they are, without asking CodePipeline
    /// about executions whose final state was not recorded (what on-pipeline-event uses: it
    /// records states only from their own events, which also notify).
    pub async fn last_known_good_as_recorded(
        &self,
        service: &str,
    ) -> Result<std::result::Result<ReleaseRecord, String>> {
        let Some(current) = self.index.newest(service, List::Deployed).await? else {
            return Ok(Err(
                "no release has succeeded yet, so nothing is known good".into(),
            ));
        };
        let created = match self.records.get(service, &current.release).await? {
            Some(r) => index::millis(&r.value.created_at).unwrap_or(0),
            None => {
                return Ok(Err(format!(
                    "the record of the current release {} is gone",
                    current.release
                )));
            }
        };
        let mut after = Some(index::entry_key(
            service,
            List::Succeeded,
            created,
            &current.release,
        ));
        for _ in 0..LOOKUP_PAGES {
            let page = self
                .index
                .page(service, List::Succeeded, LOOKUP_PAGE, after.as_deref())
                .await?;
            let candidates = page
                .entries
                .into_iter()
                .filter(|e| e.release != current.release)
                .collect();
            for r in self.read(service, candidates).await? {
                if r.status == ReleaseStatus::Succeeded && r.artifact_version_id.is_some() {
                    return Ok(Ok(r));
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        Ok(Err(format!(
            "no succeeded release is older than the current one ({}); nothing to roll back to",
            current.release
        )))
    }

    /// Starts a rollback execution of `service` to `to`, or to the last known good release.
    pub async fn rollback(
        &self,
        service: &str,
        to: Option<&str>,
        now: SystemTime,
    ) -> Result<RollbackOutcome> {
        let target = match to {
            Some(name) => match self.records.get(service, name).await? {
                Some(r) => r.value,
                None => {
                    let why = format!("service {service:?} has no release {name:?}");
                    return Ok(RollbackOutcome::Refused(why));
                }
            },
            None => match self.last_known_good(service, now).await? {
                Ok(r) => r,
                Err(reason) => return Ok(RollbackOutcome::Refused(reason)),
            },
        };
        if let Some(why) = self.contract_refusal(service, &target).await? {
            return Ok(RollbackOutcome::Refused(why));
        }
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
                    by: self.caller.clone(),
                    deployment: None,
                });
                Change::Write(())
            })
            .await?;
        Ok(())
    }
}
