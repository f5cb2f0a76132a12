use super::*;
use crate::record::Redeployment;
use crate::record::tests::record;

fn rec(release: &str, started: &str, status: ReleaseStatus) -> ReleaseRecord {
    let mut r = record(release, status);
    r.artifact_version_id = Some(format!("a-{release}"));
    r.pipeline_execution_id = Some(format!("e-{release}"));
    r.created_at = started.into();
    r.updated_at = started.into();
    r.pipeline_started_at = Some(started.into());
    r
}

use ReleaseStatus::*;

#[test]
fn last_known_good_is_not_simply_the_previous_revision() {
    let cases: Vec<(&str, Vec<ReleaseRecord>, Result<&str, &str>)> = vec![
        (
            "previous succeeded",
            vec![
                rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                rec("v2", "2026-01-02T00:00:00Z", Succeeded),
            ],
            Ok("v1"),
        ),
        (
            "failed releases are skipped",
            vec![
                rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                rec("v2", "2026-01-02T00:00:00Z", Failed),
                rec("v3", "2026-01-03T00:00:00Z", Succeeded),
            ],
            Ok("v1"),
        ),
        (
            "a failed newest release leaves the current one in place",
            vec![
                rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                rec("v2", "2026-01-02T00:00:00Z", Succeeded),
                rec("v3", "2026-01-03T00:00:00Z", Failed),
            ],
            Ok("v1"),
        ),
        (
            "stopped and superseded are not good",
            vec![
                rec("v1", "2026-01-01T00:00:00Z", Stopped),
                rec("v2", "2026-01-02T00:00:00Z", Superseded),
                rec("v3", "2026-01-03T00:00:00Z", Succeeded),
            ],
            Err("no succeeded release is older"),
        ),
        (
            "fractions of a second order releases started in the same second",
            vec![
                rec("v1", "2026-01-01T00:00:00.25Z", Succeeded),
                rec("v2", "2026-01-01T00:00:00.5Z", Succeeded),
                rec("v3", "2026-01-01T00:00:00.75Z", Succeeded),
            ],
            Ok("v2"),
        ),
        (
            "nothing succeeded",
            vec![rec("v1", "2026-01-01T00:00:00Z", Failed)],
            Err("no release has succeeded"),
        ),
        ("empty", vec![], Err("no release has succeeded")),
    ];
    for (name, records, want) in cases {
        let got = last_known_good(&records).map(|r| r.release.as_str());
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
            (Err(g), Err(w)) => assert!(g.contains(w), "{name}: {g}"),
            (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
        }
    }
}

#[test]
fn after_a_rollback_the_next_one_goes_further_back() {
    let v1 = rec("v1", "2026-01-01T00:00:00Z", Succeeded);
    let mut v2 = rec("v2", "2026-01-02T00:00:00Z", Succeeded);
    let v3 = rec("v3", "2026-01-03T00:00:00Z", Succeeded);
    v2.redeployments.push(Redeployment {
        pipeline_execution_id: "r1".into(),
        started_at: "2026-01-04T00:00:00Z".into(),
        status: Some(Succeeded),
        finished_at: None,
        migration: None,
        by: None,
        deployment: None,
    });
    let records = [v1, v2, v3];
    assert_eq!(last_known_good(&records).unwrap().release, "v1");
}

#[test]
fn state_changes_apply_to_the_own_execution_or_a_redeployment() {
    let at = "2026-01-05T00:00:00Z";
    let mut r = rec("v1", "2026-01-01T00:00:00Z", InProgress);
    assert_eq!(apply(&mut r, "e-v1", Succeeded, false, at), Applied::Own);
    assert_eq!((r.status, r.finished_at.as_deref()), (Succeeded, Some(at)));
    assert_eq!(
        apply(&mut r, "other", Failed, false, at),
        Applied::Unrelated
    );
    assert_eq!(r.status, Succeeded);
    assert_eq!(
        apply(&mut r, "r1", InProgress, true, at),
        Applied::Redeployment
    );
    assert_eq!(r.redeployments[0].started_at, at);
    assert_eq!(r.redeployments[0].finished_at, None);
    let later = "2026-01-05T00:10:00Z";
    assert_eq!(
        apply(&mut r, "r1", Succeeded, true, later),
        Applied::Redeployment
    );
    assert_eq!(r.redeployments.len(), 1);
    assert_eq!(r.redeployments[0].finished_at.as_deref(), Some(later));
    assert_eq!(r.status, Succeeded, "the release's own status is untouched");
    assert_eq!(started_epoch(&r, "r1"), Some(1_767_571_200));
}

#[test]
fn successes_are_indexed_by_claim_and_by_execution_start() {
    let mut r = rec("v1", "2026-01-01T00:00:00Z", Succeeded);
    r.created_at = "2025-12-31T23:59:59Z".into();
    r.redeployments.push(Redeployment {
        pipeline_execution_id: "r1".into(),
        started_at: "2026-01-05T00:00:00Z".into(),
        status: Some(Succeeded),
        finished_at: None,
        migration: None,
        by: None,
        deployment: None,
    });
    r.redeployments.push(Redeployment {
        pipeline_execution_id: "r2".into(),
        started_at: "2026-01-06T00:00:00Z".into(),
        status: Some(Failed),
        finished_at: None,
        migration: None,
        by: None,
        deployment: None,
    });
    let created = 1_767_225_599_000;
    assert_eq!(
        index_entries(&r, "e-v1"),
        [
            (List::Succeeded, created),
            (List::Deployed, 1_767_225_600_000)
        ]
    );
    assert_eq!(
        index_entries(&r, "r1"),
        [(List::Deployed, 1_767_571_200_000)]
    );
    assert!(
        index_entries(&r, "r2").is_empty(),
        "a failed rollback deploys nothing"
    );
    assert_eq!(all_index_entries(&r).len(), 4);
    r.status = Failed;
    assert_eq!(
        all_index_entries(&r),
        [
            (List::Releases, created),
            (List::Deployed, 1_767_571_200_000)
        ]
    );
}

/// Pipeline events arrive late and more than once.
#[test]
fn late_and_repeated_events_change_nothing() {
    let at = "2026-01-05T00:00:00Z";
    let mut r = rec("v1", "2026-01-01T00:00:00Z", InProgress);
    assert_eq!(apply(&mut r, "e-v1", Succeeded, false, at), Applied::Own);
    let done = r.clone();
    for late in [InProgress, Succeeded] {
        assert_eq!(
            apply(&mut r, "e-v1", late, false, "2026-01-06T00:00:00Z"),
            Applied::Stale
        );
        assert_eq!(r, done, "{late:?} after SUCCEEDED");
    }
    // A failed stage retried: FAILED, then RESUMED (ignored), then SUCCEEDED.
    let mut f = rec("v2", "2026-01-01T00:00:00Z", Failed);
    assert_eq!(apply(&mut f, "e-v2", InProgress, false, at), Applied::Stale);
    assert_eq!(apply(&mut f, "e-v2", Succeeded, false, at), Applied::Own);
    assert_eq!(f.status, Succeeded);
    // The same for a rollback's redeployment.
    assert_eq!(
        apply(&mut r, "r1", Succeeded, true, at),
        Applied::Redeployment
    );
    assert_eq!(apply(&mut r, "r1", InProgress, true, at), Applied::Stale);
    assert_eq!(apply(&mut r, "r1", Succeeded, true, at), Applied::Stale);
    assert_eq!(r.redeployments[0].status, Some(Succeeded));
}

#[test]
fn execution_states() {
    assert_eq!(status_of("STARTED"), Some(InProgress));
    assert_eq!(status_of("SUCCEEDED"), Some(Succeeded));
    assert_eq!(status_of("FAILED"), Some(Failed));
    assert_eq!(status_of("STOPPED"), Some(Stopped));
    assert_eq!(status_of("CANCELED"), Some(Stopped));
    assert_eq!(status_of("SUPERSEDED"), Some(Superseded));
    assert_eq!(status_of("STOPPING"), None);
}

fn deployment(status: &str, execution: Option<&str>) -> crate::record::DeploymentRecord {
    crate::record::DeploymentRecord {
        kind: crate::service_deployment::DeployKind::BlueGreen,
        job_id: "job-d".into(),
        pipeline_execution_id: execution.map(str::to_owned),
        service_deployment_arn: Some(
            "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/d1".into(),
        ),
        task_definition_arn: None,
        status: status.into(),
        reason: None,
        started_at: Some("2026-01-01T00:00:00Z".into()),
        finished_at: None,
        updated_at: "2026-01-01T00:00:00Z".into(),
        targets: Vec::new(),
    }
}

/// "Stop and abandon" ends the execution during Deploy and nothing invokes the deploy action
/// again: a deployment section still followed says ABANDONED, keeping the service deployment's
/// ARN; one already ended, one of another execution, or a non-final change stays as it was.
#[test]
fn an_execution_ending_while_its_deploy_action_follows_abandons_the_deployment_section() {
    let at = "2026-01-01T01:00:00Z";
    for (name, before, execution, status, after) in [
        (
            "stopped in progress",
            "IN_PROGRESS",
            Some("e-v1"),
            Stopped,
            ABANDONED,
        ),
        (
            "stopped while waiting",
            "WAITING",
            Some("e-v1"),
            Stopped,
            ABANDONED,
        ),
        (
            "stopped while starting",
            "STARTING",
            None,
            Stopped,
            ABANDONED,
        ),
        (
            "failed rolling back",
            "ROLLBACK_IN_PROGRESS",
            Some("e-v1"),
            Failed,
            ABANDONED,
        ),
        (
            "already successful",
            "SUCCESSFUL",
            Some("e-v1"),
            Stopped,
            "SUCCESSFUL",
        ),
        (
            "already unfollowed",
            "UNFOLLOWED",
            Some("e-v1"),
            Failed,
            "UNFOLLOWED",
        ),
        (
            "another execution's",
            "IN_PROGRESS",
            Some("e-other"),
            Stopped,
            "IN_PROGRESS",
        ),
        (
            "not final yet",
            "IN_PROGRESS",
            Some("e-v1"),
            InProgress,
            "IN_PROGRESS",
        ),
    ] {
        let mut r = rec("v1", "2026-01-01T00:00:00Z", InProgress);
        r.deployment = Some(deployment(before, execution));
        apply(&mut r, "e-v1", status, false, at);
        let d = r.deployment.as_ref().unwrap();
        assert_eq!(d.status, after, "{name}");
        assert_eq!(
            d.service_deployment_arn.as_deref(),
            Some("arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/d1"),
            "{name}: the ARN stays"
        );
        if after == ABANDONED {
            let reason = d.reason.as_deref().unwrap();
            assert!(
                reason.contains(&format!(
                    "ended {} while the Deploy action followed",
                    status.name()
                )) && reason.contains("service-deployment/prod/web/d1 goes on by itself")
                    && reason.contains(&format!("(it was {before})")),
                "{name}: {reason}"
            );
            assert_eq!(d.updated_at, at);
            assert!(d.finished_at.is_none(), "{name}: ECS has not ended it");
        } else {
            assert!(d.reason.is_none(), "{name}");
        }
    }
}

/// A rollback execution stopped during its Deploy abandons its own redeployment's section.
#[test]
fn a_stopped_rollback_execution_abandons_its_redeployments_deployment_section() {
    let mut r = rec("v1", "2026-01-01T00:00:00Z", Succeeded);
    r.redeployments.push(Redeployment {
        pipeline_execution_id: "e-r".into(),
        started_at: "2026-01-02T00:00:00Z".into(),
        status: Some(InProgress),
        finished_at: None,
        migration: Some("skipped".into()),
        by: None,
        deployment: Some(deployment("IN_PROGRESS", Some("e-r"))),
    });
    r.deployment = Some(deployment("SUCCESSFUL", Some("e-v1")));
    let applied = apply(&mut r, "e-r", Stopped, true, "2026-01-02T01:00:00Z");
    assert_eq!(applied, Applied::Redeployment);
    let redeployed = r.redeployments[0].deployment.as_ref().unwrap();
    assert_eq!(redeployed.status, ABANDONED);
    assert_eq!(r.deployment.as_ref().unwrap().status, "SUCCESSFUL");
}

/// PostMigrate fails only after the deployment finished for good: the code is live, so the
/// release SUCCEEDED (and is indexed as what runs), its `post_migration` saying what failed. A
/// failure anywhere else, or a contract step not run, leaves the release FAILED.
#[test]
fn an_execution_that_failed_in_its_post_migration_leaves_the_release_succeeded() {
    let post = |outcome: &str| crate::record::MigrationRecord {
        outcome: outcome.into(),
        job_id: Some("j".into()),
        pipeline_execution_id: Some("e-v2".into()),
        first_invoked_epoch: None,
        task_definition_arn: None,
        task_arn: None,
        seconds: None,
        message: Some("exit 1".into()),
        updated_at: "2026-01-02T00:10:00Z".into(),
    };
    for (outcome, want) in [
        (Some("failed"), Succeeded),
        (Some(crate::migration::post::NOT_RUN), Failed),
        (None, Failed),
    ] {
        let mut r = rec("v2", "2026-01-02T00:00:00Z", InProgress);
        r.post_migration = outcome.map(post);
        let applied = apply(&mut r, "e-v2", Failed, false, "2026-01-02T00:20:00Z");
        assert_eq!((applied, r.status), (Applied::Own, want), "{outcome:?}");
    }
}
