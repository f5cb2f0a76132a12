//! A release that ended FAILED or STOPPED leaves task definition revisions behind — the one
//! migrate registered and the one the Deploy action (CodeDeployToECS, or berth's deploy action
//! for a service ECS deploys itself) registered from `taskdef.json` — which the
//! console and other tools offer as candidates. They are deregistered here, never one the ECS
//! service uses (any task set or deployment) nor one running the images of the release running
//! now or of the last known good release. Best effort: what happened is noted in the release
//! record and logged, and it never changes the release's status.

use std::time::SystemTime;

use super::Context;
use crate::record::{Deregistration, ReleaseRecord, parse_timestamp, timestamp};
use crate::records::{Change, Updated};
use crate::releases::Releases;
use crate::revisions::{self, Decision, Revision, plan};

/// How many of the family's newest revisions are looked at: the failed release's are among the
/// newest (its execution held the stage lock until it ended), so a few suffice.
const LOOKBACK: i32 = 10;

impl Context {
    /// Deregisters the revisions of `record`'s release, which just ended FAILED or STOPPED,
    /// and notes what was done on `record`; the ARNs deregistered.
    pub(super) async fn deregister_failed(
        &self,
        record: &mut ReleaseRecord,
        now: SystemTime,
    ) -> Vec<String> {
        let mut done = Deregistration {
            deregistered: Vec::new(),
            kept: Vec::new(),
            error: None,
            at: timestamp(now),
        };
        match self.failed_release_plan(record, now).await {
            Ok(decisions) => {
                done.kept = decisions
                    .iter()
                    .filter(|d| !d.deregister)
                    .map(|d| format!("{}: {}", d.arn, d.why))
                    .collect();
                let (deregistered, failed) = revisions::apply(&self.ecs, &decisions).await;
                done.deregistered = deregistered;
                done.error = (!failed.is_empty()).then(|| failed.join("; "));
            }
            Err(why) => done.error = Some(why),
        }
        let (service, release) = (record.service.clone(), record.release.clone());
        match &done.error {
            Some(error) => {
                tracing::warn!(%service, %release, deregistered = ?done.deregistered, %error, "task definition revisions of an unsuccessful release not (all) deregistered")
            }
            None => {
                tracing::info!(%service, %release, deregistered = ?done.deregistered, kept = ?done.kept, "task definition revisions of an unsuccessful release deregistered")
            }
        }
        let edit = |r: &mut ReleaseRecord| {
            r.deregistration = Some(done.clone());
            Change::Write(())
        };
        match self.records.update(&service, &release, now, edit).await {
            Ok(Updated::Written {
                record: written, ..
            }) => *record = *written,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%service, %release, error = %e, "deregistration not recorded")
            }
        }
        done.deregistered
    }

    async fn failed_release_plan(
        &self,
        record: &ReleaseRecord,
        now: SystemTime,
    ) -> Result<Vec<Decision>, String> {
        let text = |e: crate::Error| e.to_string();
        let in_use = match (&record.cluster, &record.ecs_service) {
            (Some(cluster), Some(service)) => revisions::in_use(&self.ecs, cluster, service)
                .await
                .map_err(text)?,
            (Some(_), None) => task_in_use(record),
            _ => return Err("the release record names no ECS service (it predates berth recording it), so what runs is unknown; nothing deregistered".into()),
        };
        let releases = Releases::new(self.codepipeline.clone(), self.records.bucket.clone());
        let history = revisions::History::AsRecorded;
        let protected = revisions::protected(&releases, &record.service, history, now)
            .await
            .map_err(text)?;
        let revisions = self.revisions_since(record).await.map_err(text)?;
        let registered = registered(record);
        Ok(plan::failed_release(
            &revisions,
            &record.images,
            parse_timestamp(&record.created_at),
            &registered,
            &in_use,
            &protected,
        ))
    }

    /// The family's newest ACTIVE revisions, down to the first one registered before the
    /// release was claimed, and the one its migration registered.
    async fn revisions_since(&self, record: &ReleaseRecord) -> crate::Result<Vec<Revision>> {
        let created = parse_timestamp(&record.created_at);
        let arns = revisions::active(&self.ecs, &record.task_family, Some(LOOKBACK)).await?;
        let mut found = Vec::new();
        for arn in &arns {
            let Some(r) = revisions::describe(&self.ecs, arn).await? else {
                continue;
            };
            if let (Some(at), Some(created)) = (r.registered_epoch, created)
                && at < created
            {
                break;
            }
            found.push(r);
        }
        for arn in registered(record) {
            if !found.iter().any(|r| r.arn == arn)
                && let Some(r) = revisions::describe(&self.ecs, arn).await?
            {
                found.push(r);
            }
        }
        Ok(found)
    }
}

/// What a task target's release (a record with a cluster and no ECS service) left running: the
/// revision its Deploy job registered once it repointed every target (or, register only, made
/// the family's newest), and on a failed job the targets it could not put back. A release that
/// never reached Deploy, or whose targets were all put back, left its targets on the revision
/// they ran before, which `protected` keeps (the release running now).
fn task_in_use(record: &ReleaseRecord) -> std::collections::BTreeMap<String, String> {
    let mut used = std::collections::BTreeMap::new();
    let Some(d) = record.deployment.as_ref() else {
        return used;
    };
    for t in &d.targets {
        used.insert(
            t.task_definition_arn.clone(),
            format!("run by {}", t.target),
        );
    }
    if let (Some(arn), "SUCCESSFUL") = (&d.task_definition_arn, d.status.as_str()) {
        used.entry(arn.clone())
            .or_insert_with(|| "deployed by the release's Deploy job".into());
    }
    used
}

/// The revisions the release's record names as registered for it: the migration's, and the
/// deploy action's (services ECS deploys itself; CodeDeployToECS registers its own unnamed).
fn registered(record: &ReleaseRecord) -> Vec<&str> {
    let migration = record.migration.as_ref();
    let deploy = record.deployment.as_ref();
    let mut arns: Vec<&str> = migration
        .and_then(|m| m.task_definition_arn.as_deref())
        .into_iter()
        .chain(deploy.and_then(|d| d.task_definition_arn.as_deref()))
        .collect();
    arns.dedup();
    arns
}
