//! Task definition revisions of a service's family: listing and describing them, what the ECS
//! service uses, and deregistering (the decisions are [`plan`]). on-pipeline-event deregisters a
//! failed release's revisions; `berth prune` those older than the newest successful releases'.
//!
//! Deregistering is safe for what runs: "Existing tasks and services that reference an INACTIVE
//! task definition continue to run without disruption. ... You can't use an INACTIVE task
//! definition to run new tasks or create new services" (ECS API reference,
//! DeregisterTaskDefinition). A rollback never needs an old revision: it redeploys the artifact,
//! whose `taskdef.json` the Deploy action registers anew.

pub use berth_core::revisions as plan;
pub mod prune;

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_ecs::types::{SortOrder, TaskDefinitionStatus};
use futures_util::StreamExt;

use crate::error::{Error, Result};
use crate::index::List;
use crate::releases::Releases;
pub use plan::{Decision, Protected, Revision};

/// How many revisions are described at once.
pub const DESCRIBE_CONCURRENCY: usize = 8;

/// The revision number of a task definition ARN (`…:task-definition/<family>:<n>`), if it is of
/// `family`.
pub fn revision_of(arn: &str, family: &str) -> Option<i32> {
    let (name, n) = arn.rsplit_once('/')?.1.rsplit_once(':')?;
    (name == family).then(|| n.parse().ok()).flatten()
}

/// ACTIVE revisions of `family`, newest first: at most `limit` (one request), or all (`None`,
/// every page). `familyPrefix` is "The full family name", and revisions of other families are
/// dropped anyway; the order is checked here rather than trusted.
pub async fn active(
    ecs: &aws_sdk_ecs::Client,
    family: &str,
    limit: Option<i32>,
) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let out = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .max_results(limit.unwrap_or(100))
            .set_next_token(next.clone())
            .send()
            .await
            .map_err(Error::sdk(format!("ecs:ListTaskDefinitions {family}")))?;
        arns.extend(out.task_definition_arns().iter().cloned());
        next = out
            .next_token()
            .map(str::to_owned)
            .filter(|t| !t.is_empty());
        if limit.is_some() || next.is_none() {
            break;
        }
    }
    let mut numbered: Vec<(i32, String)> = arns
        .into_iter()
        .filter_map(|a| revision_of(&a, family).map(|n| (n, a)))
        .collect();
    numbered.sort_by_key(|n| std::cmp::Reverse(n.0));
    numbered.dedup_by(|a, b| a.0 == b.0);
    let take = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(0));
    Ok(numbered.into_iter().take(take).map(|(_, a)| a).collect())
}

/// One revision: its number, container images and registration time; `None` if it is no
/// longer ACTIVE.
pub async fn describe(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<Option<Revision>> {
    let out = ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(Error::sdk(format!("ecs:DescribeTaskDefinition {arn}")))?;
    let Some(td) = out.task_definition() else {
        return Ok(None);
    };
    if td.status() != Some(&TaskDefinitionStatus::Active) {
        return Ok(None);
    }
    let images = td
        .container_definitions()
        .iter()
        .filter_map(|c| Some((c.name()?.to_owned(), c.image()?.to_owned())))
        .collect();
    Ok(Some(Revision {
        arn: td.task_definition_arn().unwrap_or(arn).to_owned(),
        revision: td.revision(),
        images,
        registered_epoch: td.registered_at().map(|t| t.secs()),
    }))
}

/// Every revision of `arns`, in order, at most [`DESCRIBE_CONCURRENCY`] at once.
pub async fn describe_all(ecs: &aws_sdk_ecs::Client, arns: &[String]) -> Result<Vec<Revision>> {
    let described: Vec<Result<Option<Revision>>> = futures_util::stream::iter(arns)
        .map(|arn| describe(ecs, arn))
        .buffered(DESCRIBE_CONCURRENCY)
        .collect()
        .await;
    let mut out = Vec::with_capacity(described.len());
    for d in described {
        out.extend(d?);
    }
    Ok(out)
}

/// The revisions ECS service `service` in `cluster` uses, each with how: every task set (a
/// CodeDeploy deployment in progress has two), every deployment, and the service's own. `Err`
/// if the service cannot be described: nothing may be deregistered without knowing.
pub async fn in_use(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
) -> Result<BTreeMap<String, String>> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:DescribeServices {cluster}/{service}"
        )))?;
    let Some(s) = out.services().iter().find(|s| {
        s.service_name() == Some(service)
            || s.service_arn()
                .is_some_and(|a| a.ends_with(&format!("/{service}")))
    }) else {
        return Err(Error::Config(format!(
            "ECS service {service:?} in cluster {cluster:?} was not found, so what it runs is unknown"
        )));
    };
    let mut used = BTreeMap::new();
    for t in s.task_sets() {
        if let Some(td) = t.task_definition() {
            let how = format!("{} task set", t.status().unwrap_or("a"));
            used.entry(td.to_owned()).or_insert(how);
        }
    }
    for d in s.deployments() {
        if let Some(td) = d.task_definition() {
            let how = format!("{} deployment", d.status().unwrap_or("a"));
            used.entry(td.to_owned()).or_insert(how);
        }
    }
    if let Some(td) = s.task_definition() {
        used.entry(td.to_owned())
            .or_insert_with(|| "the service's task definition".into());
    }
    Ok(used)
}

/// The revisions in use by what runs `cfg`'s family: the ECS service's ([`in_use`]), or a task
/// target's — the one each schedule and rule target runs, or (register only) the family's
/// newest ACTIVE revision, which is the release jobs start by the family name. `Err` when any
/// cannot be read: nothing may be deregistered without knowing.
pub async fn in_use_by(
    clients: &crate::aws::Clients,
    cfg: &crate::registry::ServiceConfig,
) -> Result<BTreeMap<String, String>> {
    let Some(target) = &cfg.task_target else {
        return in_use(&clients.ecs, &cfg.cluster, cfg.ecs_service_name()).await;
    };
    if target.register_only() {
        let newest = crate::taskdef::describe(&clients.ecs, &cfg.task_family).await?;
        let arn = newest
            .get("taskDefinitionArn")
            .and_then(serde_json::Value::as_str);
        let why = "the family's newest ACTIVE revision (register only)";
        return Ok(arn
            .map(|a| (a.to_owned(), why.to_owned()))
            .into_iter()
            .collect());
    }
    let targets = crate::task_targets::TargetClients::new(&clients.config);
    let found = crate::task_targets::read(&targets, target)
        .await?
        .map_err(|m| Error::Config(format!("what the task target runs is unknown: {m}")))?;
    let runs = found.iter().filter_map(|f| {
        let arn = f.task_definition()?.to_owned();
        Some((arn, format!("run by {}", f.name)))
    });
    Ok(runs.collect())
}

/// How the history is read to find the releases whose revisions stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum History {
    /// First ask CodePipeline about executions whose final state was not recorded (the CLI,
    /// like `berth rollback`).
    CaughtUp,
    /// As recorded: on-pipeline-event records states only from their own events, which also
    /// log and notify, so it must not record another execution's state on the side.
    AsRecorded,
}

/// The release running now and the last known good one (a rollback's default target): their
/// revisions are never deregistered.
pub async fn protected(
    releases: &Releases,
    service: &str,
    history: History,
    now: SystemTime,
) -> Result<Vec<Protected>> {
    let mut out = Vec::new();
    let current = match history {
        History::CaughtUp => releases.newest_and_current(service, now).await?.1,
        History::AsRecorded => match releases.index.newest(service, List::Deployed).await? {
            Some(e) => releases
                .records
                .get(service, &e.release)
                .await?
                .map(|r| r.value),
            None => None,
        },
    };
    if let Some(r) = current {
        out.push(Protected {
            release: r.release,
            images: r.images,
            why: "the release running now".into(),
        });
    }
    let known_good = match history {
        History::CaughtUp => releases.last_known_good(service, now).await?,
        History::AsRecorded => releases.last_known_good_as_recorded(service).await?,
    };
    if let Ok(r) = known_good {
        out.push(Protected {
            release: r.release,
            images: r.images,
            why: "the last known good release (what berth rollback returns to)".into(),
        });
    }
    Ok(out)
}

/// Deregisters one revision.
pub async fn deregister(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<()> {
    ecs.deregister_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(Error::sdk(format!("ecs:DeregisterTaskDefinition {arn}")))?;
    Ok(())
}

/// Deregisters every revision `decisions` choose; the ARNs deregistered and the failures.
pub async fn apply(
    ecs: &aws_sdk_ecs::Client,
    decisions: &[Decision],
) -> (Vec<String>, Vec<String>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for d in decisions.iter().filter(|d| d.deregister) {
        match deregister(ecs, &d.arn).await {
            Ok(()) => done.push(d.arn.clone()),
            Err(e) => failed.push(e.to_string()),
        }
    }
    (done, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_numbers_of_the_family_only() {
        let arn = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:12";
        assert_eq!(revision_of(arn, "web"), Some(12));
        assert_eq!(revision_of(arn, "we"), None);
        assert_eq!(
            revision_of("arn:aws:ecs:r:1:task-definition/web-worker:3", "web"),
            None
        );
        assert_eq!(revision_of("nonsense", "web"), None);
    }
}
