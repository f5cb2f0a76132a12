//! The Deploy job of a task target (deploy kind TASK): register the release's revision, then
//! repoint every schedule and rule target to it, all or nothing. No ECS deployment follows: a
//! schedule or rule starts the new revision at its next run, and a task already running keeps
//! the revision it started with.
//!
//! One change per job, as for services: the revision is registered once, behind a create-only
//! marker (`artifacts/<service>/deploys/<release>/<job>.json`); a repeated invocation takes the
//! marker's revision and writes only the targets that do not run it yet — none, when the first
//! invocation got through.

use std::time::SystemTime;

use super::{Artifact, Context, Halt, Invocation, Step, deployment_note};
use crate::jobs::{self, JobResult};
use crate::keys;
use crate::record::timestamp;
use crate::registry::TaskTarget;
use crate::service_deployment::DeployKind;
use crate::store::{Condition, Written};
use crate::task_target::{self, Repointed, TaskMarker};
use crate::task_targets::{self, Found, TargetClients};

impl Context {
    pub(super) async fn start_task(
        &self,
        invocation: &Invocation,
        artifact: &Artifact,
        target: &TaskTarget,
        now: u64,
    ) -> Step<JobResult> {
        let r = &artifact.release;
        let clients = &self.targets;
        let found = task_targets::read(clients, target)
            .await?
            .map_err(|m| Halt::Report(format!("nothing was changed: {m}")))?;
        let runs: Vec<_> = found.iter().map(Found::runs).collect();
        task_target::check_family(&r.task_family, &runs).map_err(Halt::Report)?;
        let marker = self.task_marker(invocation, artifact, &found, now).await?;
        let arn = &marker.task_definition_arn;
        let outcome = repoint(clients, &found, &r.task_family, arn).await;
        let params = &invocation.params;
        let status = if outcome.is_ok() {
            "SUCCESSFUL"
        } else {
            "FAILED"
        };
        let mut note = deployment_note(DeployKind::Task, &marker.job, params, status);
        note.task_definition_arn = Some(arn.clone());
        note.started_at = Some(timestamp(SystemTime::now()));
        note.finished_at = note.started_at.clone();
        note.reason = outcome.as_ref().err().map(|(m, _)| m.clone());
        // On a failure, only the targets that could not be put back run the new revision.
        let stuck = outcome.as_ref().err().map(|(_, stuck)| stuck);
        note.targets = repointed(&found, &marker)
            .into_iter()
            .filter(|t| stuck.is_none_or(|s| s.contains(&t.target)))
            .collect();
        self.note(&r.service, &r.release, params, note).await;
        match outcome {
            Ok(summary) => {
                tracing::info!(task_definition = %arn, %summary, "task target deployed");
                Ok(JobResult::Success {
                    summary,
                    variables: Default::default(),
                    external_id: None,
                })
            }
            Err((message, _)) => Ok(jobs::failure(message, None)),
        }
    }

    /// The job's marker: the one an earlier invocation wrote, else the revision registered now
    /// and marked create-only (another invocation that marked first wins, and its revision is
    /// the one deployed).
    async fn task_marker(
        &self,
        invocation: &Invocation,
        artifact: &Artifact,
        found: &[Found],
        now: u64,
    ) -> Step<TaskMarker> {
        let r = &artifact.release;
        let job = invocation.first_job();
        let key = keys::deploy_marker_key(&r.service, &r.release, job);
        if let Some(marker) = self.marker::<TaskMarker>(&key).await? {
            return Ok(marker);
        }
        let marker = TaskMarker {
            job: job.to_owned(),
            pipeline_execution_id: invocation.params.execution.clone(),
            task_definition_arn: self.task_definition(invocation, artifact).await?,
            previous: found
                .iter()
                .filter_map(|f| Some((f.name.clone(), f.task_definition()?.to_owned())))
                .collect(),
            at_epoch: now,
        };
        let body = serde_json::to_vec(&marker).map_err(|e| Halt::Report(format!("marker: {e}")))?;
        match self
            .bucket
            .put(&key, body, "application/json", Condition::Absent)
            .await?
        {
            Written::Ok { .. } => Ok(marker),
            Written::ConditionFailed => self.marker(&key).await?.ok_or_else(|| {
                Halt::Report(format!("{key} was written and then could not be read"))
            }),
        }
    }
}

/// Each target with the revision it ran when the job first read it and the one it runs now.
fn repointed(found: &[Found], marker: &TaskMarker) -> Vec<Repointed> {
    found
        .iter()
        .map(|f| Repointed {
            target: f.name.clone(),
            previous: marker
                .previous
                .get(&f.name)
                .cloned()
                .unwrap_or_else(|| f.task_definition().unwrap_or_default().to_owned()),
            task_definition_arn: marker.task_definition_arn.clone(),
        })
        .collect()
}

/// Writes every target that does not run `arn` yet to run it. When one write is refused, the
/// targets already written are put back as they were read, and the failure names each (and
/// the targets that could not be put back, which run `arn`).
async fn repoint(
    clients: &TargetClients,
    found: &[Found],
    family: &str,
    arn: &str,
) -> Result<String, (String, Vec<String>)> {
    let runs: Vec<_> = found.iter().map(Found::runs).collect();
    let indices = task_target::to_repoint(family, arn, &runs).map_err(|m| (m, Vec::new()))?;
    let mut changed: Vec<&Found> = Vec::new();
    for i in &indices {
        let f = &found[*i];
        if let Err(e) = task_targets::write(clients, &f.with_task_definition(arn)).await {
            let mut put_back = Vec::new();
            for done in changed.iter().rev() {
                let undone = task_targets::write(clients, done).await;
                put_back.push((done.name.clone(), undone.err().map(|e| e.to_string())));
            }
            tracing::warn!(target = %f.name, error = %e, "a target was not repointed; the others were put back");
            let message = task_target::failure(&f.name, &e.to_string(), &put_back);
            let stuck = put_back.into_iter().filter(|(_, e)| e.is_some());
            return Err((message, stuck.map(|(t, _)| t).collect()));
        }
        tracing::info!(target = %f.name, task_definition = %arn, "repointed");
        changed.push(f);
    }
    Ok(match (found.len(), indices.len()) {
        (0, _) => format!("registered {arn} (register only: the family's newest revision)"),
        (n, 0) => format!("{arn}: all {n} targets already run it"),
        (n, k) => format!("{arn}: {k} of {n} targets repointed"),
    })
}
