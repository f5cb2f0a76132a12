use super::*;
use crate::fixtures::record;
use crate::record::{DeploymentRecord, MigrationRecord, ReleaseStatus};
use crate::service_deployment::DeployKind;

fn plan() -> MigrationPlan {
    MigrationPlan {
        container: "app".into(),
        command: vec!["bin/rails".into(), "db:contract".into()],
        timeout_seconds: 600,
        cluster: "prod".into(),
        subnets: vec!["subnet-1".into()],
        security_groups: vec![],
        assign_public_ip: false,
    }
}

fn outcome(outcome: &str, job: &str) -> MigrationRecord {
    MigrationRecord {
        outcome: outcome.into(),
        job_id: Some(job.into()),
        pipeline_execution_id: Some("e-1".into()),
        first_invoked_epoch: None,
        task_definition_arn: None,
        task_arn: Some("arn:task/1".into()),
        seconds: None,
        message: Some("exit 1".into()),
        updated_at: "2026-11-01T00:10:00Z".into(),
    }
}

fn in_progress() -> ReleaseRecord {
    let mut r = record("v2", ReleaseStatus::InProgress);
    r.pipeline_execution_id = Some("e-1".into());
    r
}

fn deployed(kind: DeployKind, status: &str) -> ReleaseRecord {
    let mut r = in_progress();
    let d = serde_json::json!({"kind": kind, "job_id": "d-job", "pipeline_execution_id": "e-1",
        "service_deployment_arn": "arn:sd/1", "status": status, "reason": "circuit breaker",
        "updated_at": "2026-11-01T00:05:00Z"});
    r.deployment = Some(serde_json::from_value::<DeploymentRecord>(d).unwrap());
    r
}

fn step(r: &ReleaseRecord, rollback: bool) -> PostStep {
    decide(rollback, Some(&plan()), Some(r), Some("e-1"), "job-1")
}

#[test]
fn the_contract_step_runs_only_after_a_deployment_that_succeeded_for_good() {
    let p = plan();
    let cases: [(&str, PostStep); 3] = [
        (
            "no plan",
            decide(false, None, Some(&in_progress()), Some("e-1"), "j"),
        ),
        (
            "CODE_DEPLOY (no deployment section)",
            step(&in_progress(), false),
        ),
        ("no record", decide(false, Some(&p), None, Some("e-1"), "j")),
    ];
    assert_eq!(
        cases[0].1,
        PostStep::Skip("release has no post migration".into())
    );
    assert_eq!(cases[1].1, PostStep::Run, "{}", cases[1].0);
    assert_eq!(cases[2].1, PostStep::Run, "{}", cases[2].0);
    for kind in [
        DeployKind::Rolling,
        DeployKind::BlueGreen,
        DeployKind::Linear,
        DeployKind::Canary,
    ] {
        assert_eq!(
            step(&deployed(kind, "SUCCESSFUL"), false),
            PostStep::Run,
            "{kind:?}"
        );
        for bad in [
            "ROLLBACK_SUCCESSFUL",
            "FAILED",
            "ABANDONED",
            "STOPPED",
            "IN_PROGRESS",
        ] {
            let PostStep::NotRun(why) = step(&deployed(kind, bad), false) else {
                panic!("{kind:?} {bad} must not run the contract step");
            };
            assert!(
                why.contains(bad) && why.contains("circuit breaker"),
                "{why}"
            );
        }
    }
    // A task target: once every target runs the new revision (the deploy action's SUCCESSFUL),
    // never after a repointing that failed (the targets already changed were put back).
    let task = deployed(DeployKind::Task, "SUCCESSFUL");
    assert_eq!(step(&task, false), PostStep::Run);
    let PostStep::NotRun(why) = step(&deployed(DeployKind::Task, "FAILED"), false) else {
        panic!("a failed repointing must not run the contract step");
    };
    assert!(
        why.contains("TASK deployment") && why.contains("FAILED"),
        "{why}"
    );
}

#[test]
fn a_rollback_execution_never_runs_it_even_after_a_successful_deployment() {
    let r = deployed(DeployKind::BlueGreen, "SUCCESSFUL");
    let PostStep::Skip(why) = step(&r, true) else {
        panic!("a rollback must skip");
    };
    assert!(why.contains("rollback"), "{why}");
}

#[test]
fn an_execution_not_the_releases_own_or_a_release_that_ended_never_runs_it() {
    let r = in_progress();
    let other = decide(false, Some(&plan()), Some(&r), Some("e-9"), "job-1");
    assert!(
        matches!(other, PostStep::NotRun(ref w) if w.contains("e-9")),
        "{other:?}"
    );
    for status in [
        ReleaseStatus::Failed,
        ReleaseStatus::Stopped,
        ReleaseStatus::Superseded,
    ] {
        let mut ended = in_progress();
        ended.status = status;
        assert!(
            matches!(step(&ended, false), PostStep::NotRun(ref w) if w.contains(status.name())),
            "{status:?}"
        );
    }
}

#[test]
fn a_repeated_action_after_success_or_a_skip_starts_nothing_but_its_own_task_is_followed() {
    let mut r = in_progress();
    r.post_migration = Some(outcome("succeeded", "job-0"));
    assert!(matches!(step(&r, false), PostStep::Done(ref w) if w.contains("arn:task/1")));
    r.post_migration = Some(outcome("skipped", "operator"));
    assert!(matches!(step(&r, false), PostStep::Done(_)));
    for following in ["starting", "running", "failed"] {
        r.post_migration = Some(outcome(following, "job-1"));
        assert_eq!(step(&r, false), PostStep::Run, "{following}");
    }
}

#[test]
fn a_failed_contract_step_holds_up_the_next_release_and_status_says_what_to_do() {
    let mut r = record("v2", ReleaseStatus::Succeeded);
    assert!(!failed(&r));
    assert_eq!(advice(&r), None);
    for (o, held) in [
        ("failed", true),
        ("stopped", true),
        ("succeeded", false),
        ("skipped", false),
        (NOT_RUN, false),
    ] {
        r.post_migration = Some(outcome(o, "job-1"));
        assert_eq!(failed(&r), held, "{o}");
    }
    r.post_migration = Some(outcome("failed", "job-1"));
    let advice = advice(&r).unwrap();
    assert!(
        advice.contains("berth post-migration retry web v2")
            && advice.contains("berth post-migration skip web v2")
            && advice.contains("exit 1"),
        "{advice}"
    );
    let refusal = refusal("v2", "web");
    assert!(
        refusal.contains("berth post-migration retry web v2"),
        "{refusal}"
    );
}

#[test]
fn a_rollback_past_a_release_whose_contract_ran_names_the_step() {
    let at = |name: &str, started: &str, post: Option<&str>| {
        let mut r = record(name, ReleaseStatus::Succeeded);
        r.pipeline_started_at = Some(started.into());
        r.post_migration_plan = post.map(|_| plan());
        r.post_migration = post.map(|o| outcome(o, "j"));
        r
    };
    let records = [
        at("v1", "2026-11-01T01:00:00Z", Some("succeeded")),
        at("v2", "2026-11-01T02:00:00Z", None),
        at("v3", "2026-11-01T03:00:00Z", Some("succeeded")),
        at("v4", "2026-11-01T04:00:00Z", Some("failed")),
    ];
    let passed: Vec<&str> = contracted_since(&records, &records[1])
        .iter()
        .map(|r| r.release.as_str())
        .collect();
    assert_eq!(passed, ["v3"], "v1 is older, v4's contract did not run");
    assert!(contracted_since(&records, &records[2]).is_empty());
    let message = rollback_refusal("v2", &contracted_since(&records, &records[1]));
    assert!(
        message.contains("release v3 ran `bin/rails db:contract`")
            && message.contains("--past-contract"),
        "{message}"
    );
}
