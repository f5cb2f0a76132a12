//! The post-deployment migration (the contract step of expand/contract), pure core: whether the
//! PostMigrate action runs it, what a failed one holds up, and which rollbacks it makes unsafe.
//! The I/O is `berth::migrate` (the same function as the Migrate action, told apart by its
//! UserParameters) and the CLI's `post-migration` and `rollback` commands.
//!
//! The PostMigrate action comes after the Deploy action in the Release stage, so it runs only
//! once the Deploy action succeeded, and the stage lock ("only one pipeline execution can be in a
//! stage at a time" — CodePipeline User Guide) keeps the next release from migrating until it
//! has ended. It does not rely on stage order alone: a rollback execution, an execution that is
//! not the release's own, and a deployment the record says did not succeed never run it.

use crate::manifest::MigrationPlan;
use crate::record::{MigrationRecord, ReleaseRecord, ReleaseStatus};

/// `post_migration.outcome` of a contract step that must not run: the deployment did not
/// finish for good (it failed, was rolled back, or its execution is not the release's own).
pub const NOT_RUN: &str = "not_run";

/// What the PostMigrate action does for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostStep {
    /// Run the contract step (or go on following the task this job started).
    Run,
    /// Nothing to run: the job succeeds saying why.
    Skip(String),
    /// The contract step already ran (or an operator skipped it) for this release: a repeated
    /// action starts no second task, and the job succeeds saying so.
    Done(String),
    /// The deployment did not finish for good: the contract step must not run, and the job
    /// fails saying why.
    NotRun(String),
}

/// Statuses of a service deployment (or a task target's repointing) that mean the release's
/// code runs for good: ECS's `SUCCESSFUL`, which a blue/green, linear or canary deployment
/// reaches only past its last lifecycle stages — "BAKE_TIME: The stage when both blue and green
/// service revisions are running simultaneously after the production traffic has shifted",
/// then CLEAN_UP, when the blue revision is scaled down (ServiceDeployment `lifecycleStage`,
/// ECS API reference) — and a rolling one once the new tasks are steady.
fn deployed_for_good(status: &str) -> bool {
    matches!(status, "SUCCESSFUL" | "SUCCEEDED")
}

/// Whether the PostMigrate action runs the contract step. `execution` is the action's
/// pipeline execution (UserParameters), `job` its first job.
pub fn decide(
    rollback: bool,
    plan: Option<&MigrationPlan>,
    record: Option<&ReleaseRecord>,
    execution: Option<&str>,
    job: &str,
) -> PostStep {
    if rollback {
        return PostStep::Skip("rollback execution: a rollback never runs a post migration".into());
    }
    let Some(_) = plan else {
        return PostStep::Skip("release has no post migration".into());
    };
    let Some(r) = record else {
        return PostStep::Run;
    };
    if let Some(done) = r.post_migration.as_ref().and_then(|m| settled(m, job)) {
        return PostStep::Done(done);
    }
    if let (Some(own), Some(this)) = (r.pipeline_execution_id.as_deref(), execution)
        && own != this
    {
        return PostStep::NotRun(format!(
            "pipeline execution {this} is not release {}'s own ({own}); its post migration runs only in its own execution",
            r.release
        ));
    }
    if matches!(
        r.status,
        ReleaseStatus::Failed | ReleaseStatus::Stopped | ReleaseStatus::Superseded
    ) {
        return PostStep::NotRun(format!(
            "release {} ended {}: its post migration runs only after a deployment that succeeded",
            r.release,
            r.status.name()
        ));
    }
    if let Some(d) = &r.deployment
        && execution.is_none_or(|e| d.pipeline_execution_id.as_deref().is_none_or(|x| x == e))
        && !deployed_for_good(&d.status)
    {
        let why = d
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        return PostStep::NotRun(format!(
            "the {} deployment of release {} is {}{why}; the contract step runs only once the deployment succeeded for good",
            d.kind.as_str(),
            r.release,
            d.status
        ));
    }
    PostStep::Run
}

/// Why a recorded contract step needs no new task: it succeeded, or an operator skipped it.
/// A task this job started is followed, not settled.
fn settled(m: &MigrationRecord, job: &str) -> Option<String> {
    match m.outcome.as_str() {
        "succeeded" => Some(format!(
            "post migration already succeeded ({}); not run again",
            m.task_arn.as_deref().unwrap_or("task not recorded")
        )),
        "skipped" if m.job_id.as_deref() != Some(job) => Some(format!(
            "post migration was skipped: {}",
            m.message.as_deref().unwrap_or("no reason given")
        )),
        _ => None,
    }
}

/// Whether the release's contract step failed (or stopped) with its code live: what the next
/// release waits on until an operator re-runs or skips it.
pub fn failed(r: &ReleaseRecord) -> bool {
    r.post_migration
        .as_ref()
        .is_some_and(|m| matches!(m.outcome.as_str(), "failed" | "stopped"))
}

/// The message a release refused behind `blocked`'s failed contract step carries.
pub fn refusal(blocked: &str, service: &str) -> String {
    format!(
        "release {blocked:?} of {service} is live but its post migration (the contract step) failed; no release migrates until it is settled. Re-run it with `berth post-migration retry {service} {blocked}`, or, once the schema is right by other means or the step no longer applies, `berth post-migration skip {service} {blocked} --reason ...`; then release again"
    )
}

/// What `berth status` tells an operator about a release's contract step, if anything.
pub fn advice(r: &ReleaseRecord) -> Option<String> {
    let m = r.post_migration.as_ref()?;
    let (service, release) = (&r.service, &r.release);
    match m.outcome.as_str() {
        "failed" | "stopped" => Some(format!(
            "the code of {release} is live, its post migration is not ({}); the next release is refused until you run `berth post-migration retry {service} {release}` or `berth post-migration skip {service} {release} --reason ...`",
            m.message.as_deref().unwrap_or(&m.outcome)
        )),
        "starting" | "running" => Some(format!(
            "the post migration of {release} is running ({}); rolling back past it is refused once it has run",
            m.task_arn.as_deref().unwrap_or("task starting")
        )),
        _ => None,
    }
}

/// The releases a rollback to `target` would pass whose contract step ran: every release in
/// `records` started after the target whose post migration succeeded. The old code may not
/// work on the contracted schema, so such a rollback needs an explicit flag.
pub fn contracted_since<'a>(
    records: &'a [ReleaseRecord],
    target: &ReleaseRecord,
) -> Vec<&'a ReleaseRecord> {
    let since = crate::history::started(target);
    let mut passed: Vec<&ReleaseRecord> = records
        .iter()
        .filter(|r| r.release != target.release && crate::history::started(r) > since)
        .filter(|r| {
            r.post_migration
                .as_ref()
                .is_some_and(|m| m.outcome == "succeeded")
        })
        .collect();
    passed.sort_by_key(|r| crate::history::started(r));
    passed
}

/// Why a rollback past `contracted` is refused without the flag.
pub fn rollback_refusal(target: &str, contracted: &[&ReleaseRecord]) -> String {
    let steps: Vec<String> = contracted
        .iter()
        .map(|r| {
            let command = r
                .post_migration_plan
                .as_ref()
                .map(|p| p.command.join(" "))
                .unwrap_or_else(|| "its post migration".into());
            format!("release {} ran `{command}`", r.release)
        })
        .collect();
    format!(
        "rolling back to {target} passes a contract step that ran: {}. The code of {target} may not work on the contracted schema; expand the schema again first, or pass --past-contract to roll back anyway",
        steps.join("; ")
    )
}

#[cfg(test)]
mod tests;
