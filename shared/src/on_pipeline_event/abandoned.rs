//! A migration task whose pipeline execution ended while it ran. CodePipeline fails a Lambda
//! invoke action after 24 hours, and "Stop and abandon" stops an execution "without waiting for
//! in-progress actions to complete" (CodePipeline user guide): in both cases nothing invokes
//! `migrate` again, so the task would run on unobserved and the record would say `running`
//! forever. The execution's final state change is the last chance to stop it.

use std::time::SystemTime;

use super::Context;
use crate::manifest::MigrationPlan;
use crate::record::{MigrationRecord, ReleaseRecord, ReleaseStatus, timestamp};
use crate::records::{Change, Updated};

/// Which of the release's two migrations: before the deployment, or after it (the contract
/// step, whose PostMigrate action a "Stop and abandon" leaves just as unobserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Pre,
    Post,
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Pre => "migration",
            Step::Post => "post migration",
        }
    }

    fn of(self, r: &ReleaseRecord) -> Option<&MigrationRecord> {
        match self {
            Step::Pre => r.migration.as_ref(),
            Step::Post => r.post_migration.as_ref(),
        }
    }

    fn of_mut(self, r: &mut ReleaseRecord) -> Option<&mut MigrationRecord> {
        match self {
            Step::Pre => r.migration.as_mut(),
            Step::Post => r.post_migration.as_mut(),
        }
    }

    fn plan(self, r: &ReleaseRecord) -> Option<&MigrationPlan> {
        match self {
            Step::Pre => r.migration_plan.as_ref(),
            Step::Post => r.post_migration_plan.as_ref(),
        }
    }
}

impl Context {
    /// Stops the release's migration or post migration task if execution `execution_id` ended
    /// (`status`) while it ran, and records that on `record`. A stopped post migration holds
    /// the next releases, as a failed one does: its code is live, its contract step is not.
    pub(super) async fn stop_abandoned_migration(
        &self,
        record: &mut ReleaseRecord,
        execution_id: &str,
        status: ReleaseStatus,
        now: SystemTime,
    ) {
        for step in [Step::Pre, Step::Post] {
            let Some((task_arn, cluster)) = abandoned(record, step, execution_id) else {
                continue;
            };
            if !self.stop(&task_arn, &cluster, execution_id, status).await {
                continue;
            }
            let message = format!(
                "stopped by berth: pipeline execution {execution_id} ended {} while the {} task ran",
                status.name(),
                step.name()
            );
            tracing::warn!(service = %record.service, release = %record.release, %task_arn, pipeline_execution_id = %execution_id, step = step.name(), "migration task of an ended execution stopped");
            self.note_stopped(record, step, &task_arn, &message, now)
                .await;
            if step == Step::Post
                && let Err(e) = self
                    .index
                    .hold_post_migration(&record.service, &record.release, true)
                    .await
            {
                tracing::warn!(service = %record.service, release = %record.release, error = %e, "post migration hold not written");
            }
        }
    }

    /// StopTask; whether ECS took it.
    async fn stop(
        &self,
        task_arn: &str,
        cluster: &str,
        execution_id: &str,
        status: ReleaseStatus,
    ) -> bool {
        let reason = format!(
            "berth: pipeline execution {execution_id} ended {}",
            status.name()
        );
        let stopped = self
            .ecs
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason.chars().take(255).collect::<String>())
            .send()
            .await;
        if let Err(e) = stopped {
            let e = crate::Error::sdk(format!("ecs:StopTask {task_arn}"))(e);
            tracing::error!(%task_arn, error = %e, "could not stop the migration task of an ended execution");
            return false;
        }
        true
    }

    /// Records `step` stopped, when its task is still the one recorded.
    async fn note_stopped(
        &self,
        record: &mut ReleaseRecord,
        step: Step,
        task_arn: &str,
        message: &str,
        now: SystemTime,
    ) {
        let service = record.service.clone();
        let release = record.release.clone();
        let edit = |r: &mut ReleaseRecord| match step.of_mut(r) {
            Some(m) if m.task_arn.as_deref() == Some(task_arn) => {
                m.outcome = "stopped".into();
                m.message = Some(message.to_owned());
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

/// The task and cluster of `step` still running (or starting) in `execution_id`.
fn abandoned(record: &ReleaseRecord, step: Step, execution_id: &str) -> Option<(String, String)> {
    let m = step.of(record)?;
    if !matches!(m.outcome.as_str(), "running" | "starting") {
        return None;
    }
    if m.pipeline_execution_id
        .as_deref()
        .is_some_and(|e| e != execution_id)
    {
        return None;
    }
    let cluster = step.plan(record)?.cluster.clone();
    Some((m.task_arn.clone()?, cluster))
}

#[cfg(test)]
mod tests {
    use super::*;
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
            assert_eq!(
                abandoned(&r, Step::Pre, "e1").is_some(),
                want,
                "{migration:?}"
            );
        }
        r.migration = Some(m("running", None));
        assert_eq!(
            abandoned(&r, Step::Pre, "e1"),
            Some(("arn:task/1".into(), "prod".into()))
        );
        // The contract step likewise, from its own section and plan.
        assert_eq!(abandoned(&r, Step::Post, "e1"), None);
        r.migration = Some(m("succeeded", Some("e1")));
        r.post_migration = Some(m("running", Some("e1")));
        assert_eq!(abandoned(&r, Step::Post, "e1"), None, "no plan, no cluster");
        r.post_migration_plan = r.migration_plan.clone();
        assert_eq!(
            abandoned(&r, Step::Post, "e1"),
            Some(("arn:task/1".into(), "prod".into()))
        );
        assert_eq!(abandoned(&r, Step::Pre, "e1"), None);
    }
}
