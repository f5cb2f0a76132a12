//! The migration decision table.

use super::*;

fn token() -> Token {
    Token {
        v: 1,
        job: None,
        service: "web".into(),
        release: "v1".into(),
        cluster: "prod".into(),
        task_arn: "arn:aws:ecs:ap-northeast-1:123456789012:task/prod/0123456789abcdef".into(),
        container: "app".into(),
        essential: vec!["app".into(), "nginx".into()],
        started_epoch: 1_000,
        deadline_epoch: 2_800,
        run_epoch: None,
        log_group: Some("/ecs/web".into()),
        log_stream_prefix: Some("web".into()),
    }
}

fn c(name: &str, exit: Option<i32>) -> ContainerState {
    ContainerState {
        name: name.into(),
        exit_code: exit,
        reason: None,
    }
}

fn task(status: &str, stop: Option<&str>, containers: Vec<ContainerState>) -> TaskState {
    TaskState {
        last_status: status.into(),
        stop_code: stop.map(str::to_owned),
        stopped_reason: stop.map(|s| format!("reason for {s}")),
        containers,
    }
}

#[derive(Debug, PartialEq)]
enum Want {
    Wait,
    Ok,
    TimedOut,
    Fail(&'static [&'static str]),
}

#[test]
fn decisions() {
    let ok = || vec![c("app", Some(0)), c("nginx", Some(0))];
    let cases: Vec<(&str, Option<TaskState>, u64, Want)> = vec![
        (
            "provisioning",
            Some(task("PROVISIONING", None, vec![])),
            1_500,
            Want::Wait,
        ),
        (
            "pending",
            Some(task("PENDING", None, vec![])),
            1_500,
            Want::Wait,
        ),
        (
            "running",
            Some(task("RUNNING", None, ok())),
            2_799,
            Want::Wait,
        ),
        (
            "deprovisioning",
            Some(task(
                "DEPROVISIONING",
                Some("EssentialContainerExited"),
                ok(),
            )),
            2_000,
            Want::Wait,
        ),
        (
            "running at deadline",
            Some(task(
                "RUNNING",
                None,
                vec![c("app", None), c("nginx", None)],
            )),
            2_800,
            Want::TimedOut,
        ),
        (
            "pending past deadline",
            Some(task("PENDING", None, vec![])),
            9_999,
            Want::TimedOut,
        ),
        (
            "exit 0",
            Some(task("STOPPED", Some("EssentialContainerExited"), ok())),
            1_300,
            Want::Ok,
        ),
        (
            "exit 0 after deadline still counts",
            Some(task("STOPPED", Some("EssentialContainerExited"), ok())),
            9_000,
            Want::Ok,
        ),
        (
            "non-zero exit",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![c("app", Some(1)), c("nginx", Some(0))],
            )),
            1_300,
            Want::Fail(&[
                "container app exited with code 1",
                "stop code EssentialContainerExited",
                "stream web/app/0123456789abcdef",
            ]),
        ),
        (
            "null exit code",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![c("app", None), c("nginx", Some(0))],
            )),
            1_300,
            Want::Fail(&["container app has no exit code"]),
        ),
        (
            "failed to start",
            Some(task(
                "STOPPED",
                Some("TaskFailedToStart"),
                vec![c("app", None), c("nginx", None)],
            )),
            1_300,
            Want::Fail(&[
                "stop code TaskFailedToStart",
                "reason for TaskFailedToStart",
            ]),
        ),
        (
            "failed to start with zero exits",
            Some(task("STOPPED", Some("TaskFailedToStart"), ok())),
            1_300,
            Want::Fail(&["TaskFailedToStart"]),
        ),
        (
            "user stopped, killed",
            Some(task(
                "STOPPED",
                Some("UserInitiated"),
                vec![c("app", Some(137)), c("nginx", Some(0))],
            )),
            1_300,
            Want::Fail(&["code 137", "stop code UserInitiated"]),
        ),
        (
            "scheduler stopped",
            Some(task(
                "STOPPED",
                Some("ServiceSchedulerInitiated"),
                vec![c("app", Some(143)), c("nginx", Some(143))],
            )),
            1_300,
            Want::Fail(&["app exited with code 143", "nginx exited with code 143"]),
        ),
        (
            "stopped from outside, exit 0 on SIGTERM",
            Some(task(
                "STOPPED",
                Some("UserInitiated"),
                vec![c("app", Some(0))],
            )),
            1_300,
            Want::Fail(&["stop code UserInitiated"]),
        ),
        (
            "retired by Fargate, exit 0 on SIGTERM",
            Some(task(
                "STOPPED",
                Some("TerminationNotice"),
                vec![c("app", Some(0))],
            )),
            1_300,
            Want::Fail(&["stop code TerminationNotice"]),
        ),
        (
            "spot interruption",
            Some(task(
                "STOPPED",
                Some("SpotInterruption"),
                vec![c("app", None), c("nginx", None)],
            )),
            1_300,
            Want::Fail(&["SpotInterruption"]),
        ),
        (
            "sidecar non-zero is ignored",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![
                    c("app", Some(0)),
                    c("nginx", Some(0)),
                    c("datadog", Some(2)),
                ],
            )),
            1_300,
            Want::Ok,
        ),
        (
            "another essential container not reported is a diagnostic",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![c("app", Some(0))],
            )),
            1_300,
            Want::Ok,
        ),
        (
            "sidecars stopped by ECS after the migration exited 0",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![
                    c("app", Some(0)),
                    c("nginx", Some(143)),
                    c("datadog", Some(137)),
                ],
            )),
            1_300,
            Want::Ok,
        ),
        (
            "a dependsOn container that never started has no exit code",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![c("app", Some(0)), c("worker", None)],
            )),
            1_300,
            Want::Ok,
        ),
        (
            "a failed migration names the other containers as diagnostics",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![c("app", Some(3)), c("nginx", Some(143))],
            )),
            1_300,
            Want::Fail(&[
                "container app exited with code 3 (other containers: container nginx exited with code 143)",
            ]),
        ),
        (
            "the migration container not reported",
            Some(task(
                "STOPPED",
                Some("EssentialContainerExited"),
                vec![c("nginx", Some(0))],
            )),
            1_300,
            Want::Fail(&["container app was not reported by ECS"]),
        ),
        (
            "exited 0 and still deprovisioning at the deadline",
            Some(task(
                "DEPROVISIONING",
                Some("EssentialContainerExited"),
                ok(),
            )),
            2_900,
            Want::Ok,
        ),
        (
            "exited 1 and still deprovisioning at the deadline",
            Some(task(
                "DEPROVISIONING",
                Some("EssentialContainerExited"),
                vec![c("app", Some(1))],
            )),
            2_900,
            Want::Fail(&["container app exited with code 1"]),
        ),
        (
            "not returned right after RunTask (eventual consistency)",
            None,
            1_100,
            Want::Wait,
        ),
        (
            "unknown task",
            None,
            1_300,
            Want::Fail(&["unknown to ECS", "group /ecs/web"]),
        ),
    ];
    for (name, state, now, want) in cases {
        let step = decide(&token(), state.as_ref(), now);
        match (&want, &step) {
            (Want::Wait, Step::Wait) => {}
            (Want::Ok, Step::Succeeded { seconds }) => {
                assert_eq!(*seconds, now - 1_000, "{name}")
            }
            (Want::TimedOut, Step::TimedOut { message }) => {
                assert!(message.contains("within 1800 seconds"), "{name}: {message}")
            }
            (Want::Fail(words), Step::Failed { message }) => {
                for w in *words {
                    assert!(message.contains(w), "{name}: {w:?} not in {message}");
                }
                assert!(message.contains(&token().task_arn), "{name}");
            }
            _ => panic!("{name}: wanted {want:?}, got {step:?}"),
        }
    }
}

#[test]
fn tokens_round_trip_and_respect_the_limit() {
    let t = token();
    let s = t.encode().unwrap();
    assert!(s.len() <= MAX_TOKEN_CHARS);
    assert_eq!(Continuation::decode(&s).unwrap(), Continuation::Running(t));
    let mut huge = token();
    huge.essential = (0..500).map(|i| format!("container-{i}")).collect();
    assert_eq!(huge.encode(), None);
    assert!(Continuation::decode("A continuation token if continuing job").is_err());

    let pending = Pending::new(
        "job-1",
        1,
        1_000,
        2_800,
        3,
        &"Capacity is unavailable at this time. ".repeat(100),
    );
    let s = pending.encode();
    assert!(s.len() <= MAX_TOKEN_CHARS, "{}", s.len());
    let Continuation::Starting(back) = Continuation::decode(&s).unwrap() else {
        panic!("a pending token decodes as one")
    };
    assert_eq!(
        (back.started_epoch, back.deadline_epoch, back.attempts),
        (1_000, 2_800, 3)
    );
    assert_eq!((back.job.as_str(), back.run_attempt), ("job-1", 1));
    assert!(back.last_reason.starts_with("Capacity is unavailable"));
}

/// A token written before `run_epoch` existed still decodes; its task started when the
/// action did.
#[test]
fn older_tokens_still_decode() {
    let v1 = r#"{"v":1,"service":"web","release":"v1","cluster":"prod","task_arn":"arn:x/t","container":"app",
        "essential":["app"],"started_epoch":10,"deadline_epoch":20}"#;
    let Continuation::Running(t) = Continuation::decode(v1).unwrap() else {
        panic!()
    };
    assert_eq!((t.run_epoch, t.log_group.as_deref()), (None, None));
    assert_eq!(decide(&t, None, 12), Step::Wait);
}

#[test]
fn log_hints() {
    let mut t = token();
    assert_eq!(t.log_stream().as_deref(), Some("web/app/0123456789abcdef"));
    t.log_stream_prefix = None;
    let Step::Failed { message } = decide(&t, None, 5_000) else {
        panic!()
    };
    assert!(message.contains("stream name is not known"), "{message}");
    t.log_group = None;
    let Step::Failed { message } = decide(&t, None, 5_000) else {
        panic!()
    };
    assert!(message.contains("no awslogs configuration"), "{message}");
}
