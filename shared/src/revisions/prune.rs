//! `berth prune`'s plan (I/O around [`super::plan::prune`]): the service's ACTIVE revisions,
//! its N newest successful releases, what the ECS service uses, and which releases a rollback
//! returns to.

use std::time::SystemTime;

use serde::Serialize;

use super::{Decision, Protected, plan};
use crate::error::Result;
use crate::index::List;
use crate::record::{ReleaseRecord, ReleaseStatus};
use crate::registry::ServiceConfig;
use crate::releases::Releases;

/// What `berth prune` would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prune {
    pub service: String,
    pub family: String,
    /// The N newest successful releases, newest first.
    pub kept_releases: Vec<String>,
    /// One decision per ACTIVE revision, newest first.
    pub revisions: Vec<Decision>,
}

/// The plan for keeping the `keep` newest successful releases of `cfg`'s service; `Ok(Err(why))`
/// when there is nothing to measure from.
pub async fn plan(
    clients: &crate::aws::Clients,
    releases: &Releases,
    cfg: &ServiceConfig,
    keep: usize,
    now: SystemTime,
) -> Result<std::result::Result<Prune, String>> {
    let ecs = &clients.ecs;
    let service = cfg.service.as_str();
    let kept = newest_successful(releases, service, keep).await?;
    if kept.is_empty() {
        return Ok(Err(format!(
            "no release of {service} has succeeded yet; nothing is pruned"
        )));
    }
    let kept: Vec<Protected> = kept
        .into_iter()
        .map(|r| Protected {
            release: r.release,
            images: r.images,
            why: "kept".into(),
        })
        .collect();
    let protected = super::protected(releases, service, super::History::CaughtUp, now).await?;
    let in_use = super::in_use_by(clients, cfg).await?;
    let arns = super::active(ecs, &cfg.task_family, None).await?;
    let revisions = super::describe_all(ecs, &arns).await?;
    Ok(
        plan::prune(&revisions, &kept, &in_use, &protected).map(|decisions| Prune {
            service: service.to_owned(),
            family: cfg.task_family.clone(),
            kept_releases: kept.into_iter().map(|k| k.release).collect(),
            revisions: decisions,
        }),
    )
}

/// The `keep` newest releases whose own deployment succeeded.
async fn newest_successful(
    releases: &Releases,
    service: &str,
    keep: usize,
) -> Result<Vec<ReleaseRecord>> {
    let limit = i32::try_from(keep).unwrap_or(i32::MAX);
    let page = releases
        .index
        .page(service, List::Succeeded, limit, None)
        .await?;
    let mut out = Vec::new();
    for e in page.entries {
        if let Some(r) = releases.records.get(service, &e.release).await?
            && r.value.status == ReleaseStatus::Succeeded
        {
            out.push(r.value);
        }
    }
    Ok(out)
}
