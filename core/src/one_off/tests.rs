use super::*;
use crate::fixtures::record;
use crate::record::{Deregistration, MigrationRecord, ReleaseStatus};

const ARN: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:7";

fn migration(arn: Option<&str>) -> MigrationRecord {
    MigrationRecord {
        outcome: "succeeded".into(),
        job_id: None,
        pipeline_execution_id: None,
        first_invoked_epoch: None,
        task_definition_arn: arn.map(str::to_owned),
        task_arn: None,
        seconds: None,
        message: None,
        updated_at: "2026-11-01T00:00:00Z".into(),
    }
}

fn task(
    status: &str,
    stop_code: Option<&str>,
    containers: &[(&str, Option<i32>, Option<&str>)],
) -> TaskState {
    TaskState {
        last_status: status.into(),
        stop_code: stop_code.map(str::to_owned),
        stopped_reason: stop_code.map(|_| "Essential container in task exited".to_owned()),
        containers: containers
            .iter()
            .map(|(name, exit_code, reason)| ContainerState {
                name: (*name).into(),
                exit_code: *exit_code,
                reason: reason.map(str::to_owned),
            })
            .collect(),
    }
}

#[test]
fn a_release_runs_the_revision_its_migration_registered() {
    let mut r = record("v1", ReleaseStatus::Succeeded);
    r.migration = Some(migration(Some(ARN)));
    assert_eq!(revision(&r), Ok(ARN.to_owned()));
}

#[test]
fn a_release_that_registered_nothing_is_refused_by_name() {
    let mut r = record("v1", ReleaseStatus::Succeeded);
    r.migration = Some(migration(None));
    let why = revision(&r).unwrap_err();
    assert!(
        why.contains("release \"v1\" of web never registered"),
        "{why}"
    );
}

#[test]
fn a_deregistered_revision_is_refused() {
    let mut r = record("v1", ReleaseStatus::Failed);
    r.migration = Some(migration(Some(ARN)));
    r.deregistration = Some(Deregistration {
        deregistered: vec![ARN.into()],
        kept: Vec::new(),
        error: None,
        at: "2026-11-01T00:00:00Z".into(),
    });
    let why = revision(&r).unwrap_err();
    assert!(why.contains("was deregistered"), "{why}");
}

#[test]
fn the_container_is_the_one_named_else_the_only_one_else_the_migrations() {
    let two = ["app".to_owned(), "nginx".to_owned()];
    let one = ["job".to_owned()];
    assert_eq!(
        container(Some("nginx"), &two, Some("app")),
        Ok("nginx".into())
    );
    assert_eq!(container(None, &one, Some("other")), Ok("job".into()));
    assert_eq!(container(None, &two, Some("app")), Ok("app".into()));
    let why = container(None, &two, None).unwrap_err();
    assert!(
        why.contains("--container") && why.contains("app, nginx"),
        "{why}"
    );
}

#[test]
fn each_state_change_is_one_line_and_a_stop_says_why() {
    let pending = task("PENDING", None, &[]);
    assert_eq!(change(None, &pending), Some("PENDING".into()));
    assert_eq!(change(Some("PENDING"), &pending), None);
    let stopped = task("STOPPED", Some("EssentialContainerExited"), &[]);
    assert_eq!(
        change(Some("RUNNING"), &stopped),
        Some(
            "STOPPED (stop code EssentialContainerExited; Essential container in task exited)"
                .into()
        )
    );
    // Left out or empty, each says so rather than printing nothing.
    let mut bare = task("STOPPED", None, &[]);
    bare.stopped_reason = Some(String::new());
    assert_eq!(
        change(Some("RUNNING"), &bare),
        Some("STOPPED (stop code none; no stopped reason)".into())
    );
}

#[test]
fn a_running_task_has_not_ended() {
    let running = task("RUNNING", None, &[("job", None, None)]);
    assert_eq!(ended(&running, "job"), None);
    let deprovisioning = task("DEPROVISIONING", None, &[("job", Some(0), None)]);
    assert_eq!(ended(&deprovisioning, "job"), None);
}

#[test]
fn the_watched_containers_exit_code_is_the_verdict() {
    let ok = task(
        "STOPPED",
        Some("EssentialContainerExited"),
        &[("job", Some(0), None), ("sidecar", Some(143), None)],
    );
    assert!(matches!(
        ended(&ok, "job"),
        Some(Ended::Exited { code: 0, .. })
    ));
    let failed = task(
        "STOPPED",
        Some("EssentialContainerExited"),
        &[("job", Some(3), None)],
    );
    let Some(Ended::Exited { code, message }) = ended(&failed, "job") else {
        panic!("exited")
    };
    assert_eq!(code, 3);
    assert!(
        message.contains("container job exited with code 3"),
        "{message}"
    );
    // The sidecar's code is a diagnostic, never the verdict.
    let sidecar = task(
        "STOPPED",
        Some("EssentialContainerExited"),
        &[("job", Some(0), None), ("sidecar", Some(1), None)],
    );
    assert!(matches!(
        ended(&sidecar, "job"),
        Some(Ended::Exited { code: 0, .. })
    ));
}

#[test]
fn a_task_stopped_without_an_exit_code_says_so() {
    let pull = TaskState {
        last_status: "STOPPED".into(),
        stop_code: Some("TaskFailedToStart".into()),
        stopped_reason: Some(
            "CannotPullContainerError: pull image manifest has been retried 5 time(s)".into(),
        ),
        containers: vec![ContainerState {
            name: "job".into(),
            exit_code: None,
            reason: Some("CannotPullContainerError".into()),
        }],
    };
    let Some(Ended::NoExitCode { message }) = ended(&pull, "job") else {
        panic!("no exit code")
    };
    assert!(
        message.contains("container job has no exit code (CannotPullContainerError)"),
        "{message}"
    );
    assert!(
        message.contains("TaskFailedToStart; CannotPullContainerError: pull image"),
        "{message}"
    );
    let missing = task(
        "STOPPED",
        Some("TaskFailedToStart"),
        &[("other", None, None)],
    );
    assert!(matches!(
        ended(&missing, "job"),
        Some(Ended::NoExitCode { .. })
    ));
    let huge = task(
        "STOPPED",
        Some("EssentialContainerExited"),
        &[("job", Some(3221225477u32 as i32), None)],
    );
    assert!(matches!(
        ended(&huge, "job"),
        Some(Ended::NoExitCode { .. })
    ));
}

#[test]
fn polls_start_at_two_seconds_and_stay_at_most_six() {
    let delays: Vec<u64> = (0..5).map(poll_delay_seconds).collect();
    assert_eq!(delays, [2, 4, 6, 6, 6]);
    assert_eq!(poll_delay_seconds(u32::MAX), POLL_MAX_SECONDS);
}
