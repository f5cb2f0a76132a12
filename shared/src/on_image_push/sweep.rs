//! The lost-push sweep. ECR sends push events "on a best effort basis" (ECR user guide), so a
//! lost event would be a release that silently never happens. On a schedule, on-image-push
//! looks at the recent pushes of push-trigger repositories and writes the manifest of the newest
//! release push that has none — with `If-None-Match: *`, as the event path does, so the two
//! never race — unless the service already has a newer release (decisions in
//! [`crate::push::sweep`]).
//!
//! Each run reads at most `sweep_pages` pages of the registry (10 entries each), continuing
//! from the cursor the previous run left in the release bucket, and looks only at those
//! entries' repositories; the window of pushes reaches back to the entries' previous visit
//! (decisions in [`crate::sweep`]). So a run's requests are bounded however large the registry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecr::types::{DescribeImagesFilter, TagStatus};
use futures_util::StreamExt;

use super::{Context, Outcome, Output};
use crate::error::{Error, Result};
use crate::images::Home;
use crate::index::List;
use crate::keys;
use crate::push::{self, Pushed, Sweep};
use crate::registry::{Page, Service};
use crate::store::{Condition, Written};
use crate::sweep::{CURSOR_KEY, Cursor};

/// Services swept at once.
const SWEEP_CONCURRENCY: usize = 4;

/// Pages of `DescribeImages` (1000 images each) read per repository: ECR lists images in no
/// order, so the sweep reads them all, up to this bound.
const DESCRIBE_PAGES: usize = 10;

/// How far back the sweep looks by default (`BERTH_SWEEP_LOOKBACK_MINUTES`).
pub const DEFAULT_LOOKBACK_MINUTES: u64 = 60;

/// What one run read of the registry.
#[derive(Debug, Default)]
struct Pages {
    services: Vec<Service>,
    pages: u64,
    entries: u64,
    next_token: Option<String>,
}

impl Context {
    /// One sweep run: the next pages of the registry, their push-trigger services swept.
    pub(super) async fn sweep(&self, home: &Home, now: SystemTime) -> Result<Output> {
        let now_ms = millis(now);
        let mut cursor = self.read_cursor().await?;
        cursor.start(now_ms);
        let read = self.read_pages(home, &mut cursor, now_ms).await?;
        let since_ms = cursor.window_start_ms(now_ms, self.lookback.as_millis() as u64);
        let swept: Vec<(Outcome, Option<Error>)> = futures_util::stream::iter(
            read.services
                .iter()
                .filter(|s| s.config.push_trigger.is_some()),
        )
        .map(|s| self.sweep_logged(s, home, since_ms))
        .buffer_unordered(SWEEP_CONCURRENCY)
        .collect()
        .await;
        cursor.advance(read.next_token, read.pages, read.entries, now_ms);
        self.bucket
            .put_json(CURSOR_KEY, &cursor, Condition::None)
            .await?;
        let (results, mut failures): (Vec<Outcome>, Vec<Option<Error>>) = swept.into_iter().unzip();
        let recovered = results
            .iter()
            .filter(|o| matches!(o, Outcome::Recovered { .. }))
            .count();
        tracing::info!(
            pages = read.pages, entries = read.entries, services = results.len(), recovered,
            window_minutes = now_ms.saturating_sub(since_ms) / 60_000,
            cycle_continues = cursor.next_token.is_some(), last_cycle = ?cursor.last_cycle,
            "lost-push sweep done"
        );
        if let Some(failed) = failures.iter_mut().find_map(Option::take) {
            return Err(failed);
        }
        Ok(Output {
            results,
            recovered: Some(recovered),
        })
    }

    /// The cursor the previous run left; none (or unreadable: logged) starts a cycle.
    async fn read_cursor(&self) -> Result<Cursor> {
        match self.bucket.get_json::<Cursor>(CURSOR_KEY).await {
            Ok(found) => Ok(found.map(|s| s.value).unwrap_or_default()),
            Err(Error::Corrupt(why)) => {
                tracing::warn!(%why, "the sweep's cursor is unreadable; a new cycle starts");
                Ok(Cursor::default())
            }
            Err(e) => Err(e),
        }
    }

    /// Up to `sweep_pages` registry pages from the cursor. A saved token SSM refuses restarts
    /// the cycle from the first page.
    async fn read_pages(&self, home: &Home, cursor: &mut Cursor, now_ms: u64) -> Result<Pages> {
        let mut read = Pages::default();
        let mut token = cursor.next_token.clone();
        while read.pages < self.sweep_pages.max(1) as u64 {
            match self.registry.page(token.as_deref(), home).await? {
                Page::TokenRefused if read.pages == 0 && token.is_some() => {
                    tracing::warn!("SSM refused the sweep's saved NextToken; the cycle restarts");
                    cursor.restart(now_ms);
                    token = None;
                }
                Page::TokenRefused => {
                    return Err(Error::Corrupt(
                        "ssm:GetParametersByPath refused the NextToken it had just returned".into(),
                    ));
                }
                Page::Read {
                    services,
                    entries,
                    next_token,
                } => {
                    read.pages += 1;
                    read.entries += entries;
                    read.services.extend(services);
                    token = next_token;
                    if token.is_none() {
                        break;
                    }
                }
            }
        }
        read.next_token = token;
        Ok(read)
    }

    /// [`Self::sweep_service`], a failure turned into an outcome (and logged) so that the other
    /// services of the run are still swept and the cursor still moves on.
    async fn sweep_logged(
        &self,
        service: &Service,
        home: &Home,
        since_ms: u64,
    ) -> (Outcome, Option<Error>) {
        match self.sweep_service(service, home, since_ms).await {
            Ok(outcome) => (outcome, None),
            Err(e) => {
                let name = &service.config.service;
                tracing::error!(service = %name, error = %e, "sweeping a service failed; it is looked at again at its next turn");
                let reason = format!("{name}: not swept: {e}");
                (Outcome::Ignored { reason }, Some(e))
            }
        }
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
