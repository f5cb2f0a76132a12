//! The lost-push sweep. ECR sends push events "on a best effort basis" (ECR user guide), so a
//! lost event would be a release that silently never happens. On a schedule, on-image-push
//! looks at each push-trigger repository's recent pushes and writes the manifest of the newest
//! release push that has none — with `If-None-Match: *`, as the event path does, so the two
//! never race — unless the service already has a newer release (decisions in
//! [`crate::push::sweep`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::types::{DescribeImagesFilter, TagStatus};
use futures_util::StreamExt;

use super::{Context, Outcome, Output};
use crate::error::{Error, Result};
use crate::images::Home;
use crate::index::List;
use crate::keys;
use crate::push::{self, Pushed, Sweep};
use crate::registry::Service;
use crate::store::{Condition, Written};

/// Services swept at once.
const SWEEP_CONCURRENCY: usize = 4;

/// Pages of `DescribeImages` (1000 images each) read per repository: ECR lists images in no
/// order, so the sweep reads them all, up to this bound.
const DESCRIBE_PAGES: usize = 10;

/// How far back the sweep looks by default (`BERTH_SWEEP_LOOKBACK_MINUTES`).
pub const DEFAULT_LOOKBACK_MINUTES: u64 = 60;

impl Context {
    /// One sweep over every service with a push trigger in berth's account and region.
    pub(super) async fn sweep(&self, home: &Home, now: SystemTime) -> Result<Output> {
        let services = self.registry.all(home).await?;
        let since = now.checked_sub(self.lookback).unwrap_or(UNIX_EPOCH);
        let since_ms = millis(since);
        let swept: Vec<Result<Outcome>> =
            futures_util::stream::iter(services.iter().filter(|s| s.config.push_trigger.is_some()))
                .map(|s| self.sweep_service(s, home, since_ms))
                .buffer_unordered(SWEEP_CONCURRENCY)
                .collect()
                .await;
        let results = swept.into_iter().collect::<Result<Vec<_>>>()?;
        let recovered = results
            .iter()
            .filter(|o| matches!(o, Outcome::Recovered { .. }))
            .count();
        tracing::info!(services = results.len(), recovered, "lost-push sweep done");
        Ok(Output {
            results,
            recovered: Some(recovered),
        })
    }

    async fn sweep_service(
        &self,
        service: &Service,
        home: &Home,
        since_ms: u64,
    ) -> Result<Outcome> {
        let name = &service.config.service;
        let skipped = |reason: String| Outcome::Ignored {
            reason: format!("{name}: {reason}"),
        };
        let Some(trigger) = &service.config.push_trigger else {
            return Ok(skipped("no push trigger".into()));
        };
        let Some(repo) = service.repositories.get(&trigger.container) else {
            return Ok(skipped(
                "the push trigger's container has no repository".into(),
            ));
        };
        if repo.registry_id != home.account_id || repo.region != home.region {
            return Ok(skipped(format!(
                "{repo} is not in berth's account and region"
            )));
        }
        let Some(newest) = self.newest_release_ms(name).await? else {
            return Ok(skipped(
                "its releases predate the release index; run `berth releases` once to index them"
                    .into(),
            ));
        };
        let images = self.recent_images(&repo.name).await?;
        match push::sweep(service, &images, since_ms, newest) {
            Sweep::Nothing(reason) => Ok(skipped(reason)),
            Sweep::Recover { tag, digest, .. } => self.recover(service, &tag, &digest).await,
        }
    }

    /// The newest release's claim time: `Some(None)` for a service that has none yet, `None`
    /// when its releases are older than the index and not indexed yet.
    async fn newest_release_ms(&self, service: &str) -> Result<Option<Option<u64>>> {
        if let Some(e) = self.index.newest(service, List::Releases).await? {
            return Ok(Some(Some(e.at_ms)));
        }
        let legacy = self
            .bucket
            .s3
            .list_objects_v2()
            .bucket(&self.bucket.name)
            .prefix(format!("releases/{service}/"))
            .max_keys(1)
            .send()
            .await
            .map_err(Error::sdk(format!(
                "s3:ListObjectsV2 s3://{}/releases/{service}/",
                self.bucket.name
            )))?;
        Ok(legacy.contents().is_empty().then_some(None))
    }

    /// Tagged images of `repository` (up to [`DESCRIBE_PAGES`] pages).
    async fn recent_images(&self, repository: &str) -> Result<Vec<Pushed>> {
        let filter = DescribeImagesFilter::builder()
            .tag_status(TagStatus::Tagged)
            .build();
        let mut pages = self
            .ecr
            .describe_images()
            .repository_name(repository)
            .filter(filter)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut images = Vec::new();
        let mut read = 0;
        while read < DESCRIBE_PAGES
            && let Some(page) = pages.next().await
        {
            read += 1;
            let page = page.map_err(Error::sdk(format!("ecr:DescribeImages {repository}")))?;
            images.extend(page.image_details().iter().filter_map(|d| {
                Some(Pushed {
                    tags: d.image_tags().to_vec(),
                    digest: d.image_digest()?.to_owned(),
                    pushed_ms: u64::try_from(d.image_pushed_at()?.to_millis().ok()?).ok()?,
                })
            }));
        }
        Ok(images)
    }

    /// Writes the manifest of a push whose event never arrived, unless one exists.
    async fn recover(&self, service: &Service, tag: &str, digest: &str) -> Result<Outcome> {
        let Some(manifest) = push::manifest_for_push(service, tag, digest) else {
            return Ok(Outcome::Ignored {
                reason: format!("{}: no push trigger", service.config.service),
            });
        };
        let key = keys::manifest_key(&manifest.service, &manifest.release);
        let (name, release) = (manifest.service.clone(), manifest.release.clone());
        match self
            .bucket
            .put_json(&key, &manifest, Condition::Absent)
            .await?
        {
            Written::Ok { version_id, .. } => {
                tracing::warn!(service = %name, %release, %digest, manifest = %key, "recovered a push whose event never arrived: manifest written");
                Ok(Outcome::Recovered {
                    service: name,
                    release,
                    key,
                    version_id,
                })
            }
            Written::ConditionFailed => Ok(Outcome::Exists { service: name, key }),
        }
    }
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The sweep's window from `BERTH_SWEEP_LOOKBACK_MINUTES`.
pub fn lookback_from(value: Option<&str>) -> Result<Duration> {
    let minutes = match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => DEFAULT_LOOKBACK_MINUTES,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|m| (1..=10_080).contains(m))
            .ok_or_else(|| {
                Error::Config(format!(
                    "BERTH_SWEEP_LOOKBACK_MINUTES must be 1..=10080 minutes, got {v:?}"
                ))
            })?,
    };
    Ok(Duration::from_secs(minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookback_defaults_and_refuses_nonsense() {
        assert_eq!(lookback_from(None).unwrap(), Duration::from_secs(3600));
        assert_eq!(lookback_from(Some("15")).unwrap(), Duration::from_secs(900));
        for bad in ["0", "-5", "an hour", "10081"] {
            let e = lookback_from(Some(bad)).unwrap_err();
            assert!(
                e.to_string().contains("BERTH_SWEEP_LOOKBACK_MINUTES"),
                "{bad}: {e}"
            );
        }
    }
}
