use super::*;

fn facts(status: &str) -> Facts {
    Facts {
        arn: "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/abc".into(),
        status: status.into(),
        ..Facts::default()
    }
}

fn pause(status: &str) -> Hook {
    Hook {
        id: "ecs-pause-1".into(),
        target_type: "PAUSE".into(),
        status: status.into(),
        expires_at: Some(1_800_000_000),
        timeout_action: Some("ROLLBACK".into()),
        ..Hook::default()
    }
}

#[test]
fn the_kind_comes_from_controller_and_strategy() {
    let cases = [
        (None, None, Ok(DeployKind::Rolling)),
        (Some("ECS"), None, Ok(DeployKind::Rolling)),
        (Some("ECS"), Some("ROLLING"), Ok(DeployKind::Rolling)),
        (Some("ECS"), Some("BLUE_GREEN"), Ok(DeployKind::BlueGreen)),
        (None, Some("LINEAR"), Ok(DeployKind::Linear)),
        (Some("ECS"), Some("CANARY"), Ok(DeployKind::Canary)),
        (Some("CODE_DEPLOY"), None, Ok(DeployKind::CodeDeploy)),
        (
            Some("CODE_DEPLOY"),
            Some("ROLLING"),
            Ok(DeployKind::CodeDeploy),
        ),
        (Some("EXTERNAL"), None, Err("EXTERNAL")),
        (Some("ECS"), Some("SHADOW"), Err("\"SHADOW\"")),
        (Some("OTHER"), None, Err("\"OTHER\"")),
    ];
    for (controller, strategy, want) in cases {
        match (DeployKind::of(controller, strategy), want) {
            (Ok(k), Ok(w)) => assert_eq!(k, w, "{controller:?} {strategy:?}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{e}"),
            (got, want) => panic!("{controller:?} {strategy:?}: {got:?} vs {want:?}"),
        }
    }
    assert!(DeployKind::BlueGreen.has_hooks() && DeployKind::Canary.has_hooks());
    assert!(!DeployKind::Rolling.has_hooks() && !DeployKind::CodeDeploy.is_native());
    assert!(!DeployKind::Task.is_native() && !DeployKind::Task.has_hooks());
    assert_eq!(DeployKind::Linear.as_str(), "LINEAR");
    assert_eq!(
        serde_json::to_value(DeployKind::BlueGreen).unwrap(),
        "BLUE_GREEN"
    );
}

#[test]
fn each_status_has_one_outcome() {
    let running = |s: &str| matches!(outcome(&facts(s), 0), Outcome::Running { .. });
    assert!(running("PENDING") && running("IN_PROGRESS"));
    assert_eq!(outcome(&facts("SUCCESSFUL"), 0), Outcome::Succeeded);
    for (status, says) in [
        ("ROLLBACK_SUCCESSFUL", "was rolled back"),
        ("ROLLBACK_REQUESTED", "is being rolled back"),
        ("ROLLBACK_IN_PROGRESS", "is being rolled back"),
        ("ROLLBACK_FAILED", "its rollback failed too"),
        ("STOPPED", "was stopped"),
        ("STOP_REQUESTED", "was stopped"),
    ] {
        match outcome(&facts(status), 0) {
            Outcome::Failed { reason } => assert!(reason.contains(says), "{status}: {reason}"),
            other => panic!("{status}: {other:?}"),
        }
    }
    assert!(!is_active("SUCCESSFUL") && is_active("ROLLBACK_IN_PROGRESS"));
    assert!(is_active("PENDING") && !is_active("ROLLBACK_FAILED"));
}

#[test]
fn a_failure_names_every_reason_once() {
    let mut f = facts("ROLLBACK_SUCCESSFUL");
    f.status_reason = Some("Circuit breaker triggered".into());
    f.rollback_reason = Some("Circuit breaker triggered".into());
    f.circuit_breaker = Some(Monitor {
        status: "TRIGGERED".into(),
        failures: Some((3, 3)),
        ..Monitor::default()
    });
    f.alarms = Some(Monitor {
        status: "TRIGGERED".into(),
        triggered: vec!["web-5xx".into()],
        ..Monitor::default()
    });
    f.hooks.push(Hook {
        target_type: "AWS_LAMBDA".into(),
        target_arn: Some("arn:aws:lambda:ap-northeast-1:123456789012:function:berth-verify".into()),
        status: "FAILED".into(),
        ..Hook::default()
    });
    let why = f.why();
    assert_eq!(why.matches("Circuit breaker triggered").count(), 1, "{why}");
    assert!(why.contains("3 failed tasks, threshold 3"), "{why}");
    assert!(why.contains("web-5xx"), "{why}");
    assert!(why.contains("function:berth-verify FAILED"), "{why}");
    assert_eq!(facts("STOPPED").why(), "ECS gave no reason");
    // A monitor still watching is no reason.
    let mut quiet = facts("STOPPED");
    quiet.alarms = Some(Monitor {
        status: "MONITORING".into(),
        ..Monitor::default()
    });
    assert_eq!(quiet.why(), "ECS gave no reason");
}

#[test]
fn a_pause_hook_awaiting_action_is_the_promote_point() {
    let mut f = facts("IN_PROGRESS");
    f.lifecycle_stage = Some("POST_TEST_TRAFFIC_SHIFT".into());
    f.hooks = vec![pause("SUCCEEDED")];
    assert!(f.paused_hook().is_none());
    f.hooks.push(pause("AWAITING_ACTION"));
    assert_eq!(f.paused_hook().map(|h| h.id.as_str()), Some("ecs-pause-1"));
    let p = phase(&f, 0);
    assert!(
        matches!(
            &p,
            Phase::Paused {
                until: Some(1_800_000_000),
                ..
            }
        ),
        "{p:?}"
    );
    let text = p.describe();
    assert!(text.contains("POST_TEST_TRAFFIC_SHIFT"), "{text}");
    assert!(
        text.contains("2027-01-15T08:00:00Z") && text.contains("then ROLLBACK"),
        "{text}"
    );
    // Only an IN_PROGRESS deployment can be continued.
    f.status = "ROLLBACK_REQUESTED".into();
    assert!(f.paused_hook().is_none());
    assert_eq!(
        phase(&f, 0),
        Phase::Ending {
            status: "ROLLBACK_REQUESTED".into()
        }
    );
}

#[test]
fn phases_of_a_running_deployment() {
    assert_eq!(phase(&facts("PENDING"), 0), Phase::Pending);
    let mut f = facts("IN_PROGRESS");
    f.lifecycle_stage = Some("PRODUCTION_TRAFFIC_SHIFT".into());
    f.production_weight = Some(25.0);
    let text = phase(&f, 0).describe();
    assert!(
        text.contains("PRODUCTION_TRAFFIC_SHIFT (25% of production"),
        "{text}"
    );
    f.lifecycle_stage = Some("BAKE_TIME".into());
    f.updated_at = Some(1_000);
    f.bake_time_minutes = Some(10);
    assert_eq!(phase(&f, 0), Phase::Baking { until: Some(1_600) });
    assert!(phase(&f, 0).old_is_running());
    f.status = "SUCCESSFUL".into();
    assert!(!phase(&f, 0).old_is_running());
    let rolling = facts("IN_PROGRESS");
    assert_eq!(
        phase(&rolling, 0).describe(),
        "in progress: replacing tasks"
    );
}
