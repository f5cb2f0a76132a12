//! A migration task whose pipeline execution ended while it ran. CodePipeline fails a Lambda
//! invoke action after 24 hours, and "Stop and abandon" stops an execution "without waiting for
//! in-progress actions to complete" (CodePipeline user guide): in both cases nothing invokes
//! `migrate` again, so the task would run on unobserved and the record would say `running`
//! forever. The execution's final state change is the last chance to stop it.

use std::time::SystemTime;

use super::Context;
use crate::record::{MigrationRecord, ReleaseRecord, ReleaseStatus, timestamp};
use crate::records::{Change, Updated};

impl Context {
    /// Stops the release's migration task if execution `execution_id` ended (`status`) while
    /// it ran, and records that on `record`.
    pub(super) async fn stop_abandoned_migration(
        &self,
        record: &mut ReleaseRecord,
        execution_id: &str,
        status: ReleaseStatus,
        now: SystemTime,
    ) {
        let Some((task_arn, cluster)) = abandoned(record, execution_id) else {
            return;
        };
        let reason = format!(
            "berth: pipeline execution {execution_id} ended {}",
            status.name()
        );
        let stopped = self
            .ecs
            .stop_task()
            .cluster(&cluster)
            .task(&task_arn)
            .reason(reason.chars().take(255).collect::<String>())
            .send()
            .await;
        let message = match stopped {
            Ok(_) => format!(
                "stopped by berth: pipeline execution {execution_id} ended {} while the migration task ran",
                status.name()
            ),
            Err(e) => {
                let e = crate::Error::sdk(format!("ecs:StopTask {task_arn}"))(e);
                tracing::error!(%task_arn, error = %e, "could not stop the migration task of an ended execution");
                return;
            }
        };
        tracing::warn!(service = %record.service, release = %record.release, %task_arn, pipeline_execution_id = %execution_id, "migration task of an ended execution stopped");
        let service = record.service.clone();
        let release = record.release.clone();
        let edit = |r: &mut ReleaseRecord| match r.migration.as_mut() {
            Some(m) if m.task_arn.as_deref() == Some(task_arn.as_str()) => {
                m.outcome = "stopped".into();
                m.message = Some(message.clone());
                m.updated_at = timestamp(now);
                Change::Write(())
            }
            _ => Change::Keep(()),
        };
        match self.records.update(&service, &release, now, edit).await {
            Ok(Updated::Written {
                record: written, ..
            }) => *record = *written,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%service, %release, error = %e, "stopped migration not recorded")
            }
        }
    }
}

/// The task and cluster of a migration still running (or starting) in `execution_id`.
fn abandoned(record: &ReleaseRecord, execution_id: &str) -> Option<(String, String)> {
    let m: &MigrationRecord = record.migration.as_ref()?;
    if !matches!(m.outcome.as_str(), "running" | "starting") {
        return None;
    }
    if m.pipeline_execution_id
        .as_deref()
        .is_some_and(|e| e != execution_id)
    {
        return None;
    }
    let cluster = record.migration_plan.as_ref()?.cluster.clone();
    Some((m.task_arn.clone()?, cluster))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::MigrationPlan;
    use berth_core::fixtures::record;

    #[test]
    fn only_a_migration_of_this_execution_still_running_is_abandoned() {
        let mut r = record("v1", ReleaseStatus::Stopped);
        r.migration_plan = Some(MigrationPlan {
            container: "app".into(),
            command: vec!["migrate".into()],
            timeout_seconds: 60,
            cluster: "prod".into(),
            subnets: vec![],
            security_groups: vec![],
            assign_public_ip: false,
        });
        let m = |outcome: &str, execution: Option<&str>| MigrationRecord {
            outcome: outcome.into(),
            job_id: Some("j".into()),
            pipeline_execution_id: execution.map(str::to_owned),
            first_invoked_epoch: None,
            task_definition_arn: None,
            task_arn: Some("arn:task/1".into()),
            seconds: None,
            message: None,
            updated_at: "t".into(),
        };
        for (migration, want) in [
            (m("running", Some("e1")), true),
            (m("starting", None), true),
            (m("running", Some("e2")), false),
            (m("succeeded", Some("e1")), false),
            (m("failed", Some("e1")), false),
        ] {
            r.migration = Some(migration.clone());
            assert_eq!(abandoned(&r, "e1").is_some(), want, "{migration:?}");
        }
        r.migration = Some(m("running", None));
        assert_eq!(
            abandoned(&r, "e1"),
            Some(("arn:task/1".into(), "prod".into()))
        );
    }
}
