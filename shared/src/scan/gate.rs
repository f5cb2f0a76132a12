//! One invocation of the gate over a release: look at every pinned image's scan (for an image
//! index, the scan of its entry for the task's platform; starting a basic scan once where ECR
//! has none), decide ([`super::decide`]), record the summary, and answer the job.

use std::collections::BTreeMap;
use std::time::SystemTime;

use futures_util::StreamExt;

use super::ecr::{self, Started};
use super::target::{ended, target, waiting};
use super::{Context, skipped};
use crate::images::{ImageRef, Reference};
use crate::jobs::{self, JobResult};
use crate::platform::Platform;
use crate::record::{ReleaseRecord, epoch_seconds, timestamp};
use crate::records::{Change, Updated};
use crate::registry::ScanPolicy;
use crate::render::ArtifactRelease;
use berth_core::scan::{
    Observation, Observed, Progress, ScanSummary, State, Verdict, decide, state, summarize,
};

/// How many images are looked at at once (a release pins at most a handful; ECR's
/// DescribeImageScanFindings is throttled per account).
const LOOK_CONCURRENCY: usize = 4;

/// What one look at an image found, and whether it started a scan.
struct Look {
    observation: Observation,
    started: bool,
}

impl Context {
    /// The gate over `release`, whose tasks run on `runs_on` (the task definition's
    /// `runtimePlatform`), as far as `progress` got. Public so tests can drive it without a
    /// pipeline's input artifact.
    pub async fn check(
        &self,
        release: &ArtifactRelease,
        runs_on: &Result<Platform, String>,
        mut progress: Progress,
        now: SystemTime,
    ) -> JobResult {
        let Some(policy) = release.scan.as_ref() else {
            let why = format!("no scan policy for service {}", release.service);
            tracing::info!(reason = %why, "scan gate passes");
            self.note(release, &progress, "skipped", BTreeMap::new(), &why)
                .await;
            return skipped(&why);
        };
        let looks = self.look_all(release, runs_on, &progress).await;
        for (position, look) in looks.iter().enumerate() {
            if look.started {
                progress.note_scan(position);
            }
        }
        let images: Vec<Observation> = looks.into_iter().map(|l| l.observation).collect();
        let now_epoch = epoch_seconds(now);
        let verdict = decide(
            policy,
            &release.release,
            &images,
            progress.started,
            now_epoch,
        );
        self.answer(release, policy, &progress, &images, verdict)
            .await
    }

    async fn answer(
        &self,
        release: &ArtifactRelease,
        policy: &ScanPolicy,
        progress: &Progress,
        images: &[Observation],
        verdict: Verdict,
    ) -> JobResult {
        let summary = summarize(policy, images);
        match verdict {
            Verdict::Wait { pending } => {
                tracing::info!(pending = ?pending, round = progress.round, "scans not complete; asking again");
                JobResult::Continue {
                    token: progress.next(),
                    summary: format!(
                        "waiting for the scan of {} of {} images ({})",
                        pending.len(),
                        images.len(),
                        pending.join(", ")
                    ),
                    external_id: None,
                }
            }
            Verdict::Pass { summary: text } => {
                tracing::info!(images = ?summary, "scan passed");
                self.note(release, progress, "passed", summary, &text).await;
                JobResult::Success {
                    summary: text,
                    variables: BTreeMap::from([("SCAN".into(), "passed".into())]),
                    external_id: None,
                }
            }
            Verdict::Blocked { message, count } => {
                tracing::warn!(blocking = count, images = ?summary, %message, "release blocked by its scan findings");
                self.note(release, progress, "blocked", summary, &message)
                    .await;
                jobs::failure(message, None)
            }
            Verdict::Failed { message } => {
                tracing::warn!(images = ?summary, %message, "scan gate failed");
                self.note(release, progress, "failed", summary, &message)
                    .await;
                jobs::failure(message, None)
            }
        }
    }

    /// Every pinned image's scan, in the release's container order.
    async fn look_all(
        &self,
        release: &ArtifactRelease,
        runs_on: &Result<Platform, String>,
        progress: &Progress,
    ) -> Vec<Look> {
        let looks = release
            .images
            .iter()
            .enumerate()
            .map(|(position, (container, image))| {
                let started = progress.started_scan(position);
                async move { self.look(container, image, runs_on, started).await }
            });
        futures_util::stream::iter(looks)
            .buffered(LOOK_CONCURRENCY)
            .collect()
            .await
    }

    /// One image: its scan (an index's: its entry's for `runs_on`), or a basic scan started
    /// where ECR has none and the gate has not started one yet.
    async fn look(
        &self,
        container: &str,
        image: &str,
        runs_on: &Result<Platform, String>,
        scan_started: bool,
    ) -> Look {
        let observe = |judged, state| Look {
            observation: Observation {
                container: container.to_owned(),
                image: image.to_owned(),
                judged,
                state,
            },
            started: false,
        };
        let parsed = match ImageRef::parse(image) {
            Ok(r) if matches!(r.reference, Reference::Digest(_)) => r,
            _ => {
                let state = ended("NOT_PINNED", "release.json names it without a digest");
                return observe(None, state);
            }
        };
        let client = self.clients.ecr_in(&parsed.repository.region);
        let (scanned, judged) = match target(&client, &parsed, runs_on).await {
            Ok(t) => t,
            Err(state) => return observe(None, state),
        };
        let (state, started) = match ecr::describe(&client, &scanned).await {
            Ok(Observed::NoScan(_)) if !scan_started => start(&client, &scanned).await,
            Ok(observed) => (state(observed), false),
            Err(e) if e.is_transient() => (waiting("UNREADABLE", &e.to_string()), false),
            Err(e) => (ended("UNREADABLE", &e.to_string()), false),
        };
        Look {
            started,
            ..observe(judged, state)
        }
    }

    /// Best-effort update of the release record's scan summary: the job result matters more,
    /// so a failure here is logged, not raised.
    async fn note(
        &self,
        release: &ArtifactRelease,
        progress: &Progress,
        outcome: &str,
        images: BTreeMap<String, super::ImageSummary>,
        message: &str,
    ) {
        let now = SystemTime::now();
        let summary = ScanSummary {
            outcome: outcome.into(),
            job_id: Some(progress.job.clone()),
            images,
            message: Some(message.chars().take(1000).collect()),
            updated_at: timestamp(now),
        };
        let (service, name) = (&release.service, &release.release);
        let edit = |r: &mut ReleaseRecord| {
            r.scan = Some(summary.clone());
            Change::Write(())
        };
        match self.records.update(service, name, now, edit).await {
            Ok(Updated::Missing) => {
                tracing::warn!(%service, release = %name, "no release record to note the scan in")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%service, release = %name, error = %e, "scan summary not recorded")
            }
        }
    }
}

/// Starts a basic scan; what the image's state is afterwards, and whether a scan was asked for.
async fn start(client: &aws_sdk_ecr::Client, image: &ImageRef) -> (State, bool) {
    match ecr::start(client, image).await {
        Ok(Started::Yes) => {
            tracing::info!(image = %ecr::shown(image), "no scan of the image yet; started a basic scan");
            (waiting("SCAN_STARTED", "berth started a basic scan"), true)
        }
        Ok(Started::Refused(m)) => {
            let why = format!("ECR has no scan of the image and would not start one ({m})");
            (waiting("NO_SCAN", &why), true)
        }
        Ok(Started::Unsupported(m)) => (ended("UNSUPPORTED_IMAGE", &m), true),
        Ok(Started::ImageGone(m)) => (ended("IMAGE_NOT_FOUND", &m), true),
        Err(e) if e.is_transient() => (waiting("NO_SCAN", &e.to_string()), false),
        Err(e) => (ended("SCAN_NOT_STARTED", &e.to_string()), true),
    }
}
