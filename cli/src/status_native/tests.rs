//! What `berth status` shows of an ECS-native deployment in each phase, as JSON and as text.

use berth::service_deployments::{Hook, Monitor};

use super::*;

const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/abc";
/// 2027-01-15T08:00:00Z
const NOW: i64 = 1_800_000_000;

fn facts(status: &str, stage: Option<&str>) -> Facts {
    Facts {
        arn: ARN.into(),
        status: status.into(),
        lifecycle_stage: stage.map(str::to_owned),
        circuit_breaker: Some(Monitor {
            status: "MONITORING".into(),
            triggered: vec![],
            failures: Some((0, 3)),
        }),
        alarms: Some(Monitor {
            status: "MONITORING".into(),
            ..Monitor::default()
        }),
        bake_time_minutes: Some(30),
        created_at: Some(NOW - 600),
        updated_at: Some(NOW - 300),
        ..Facts::default()
    }
}

fn paused() -> Facts {
    Facts {
        hooks: vec![
            Hook {
                id: "ecs-lambda-1".into(),
                target_type: "AWS_LAMBDA".into(),
                target_arn: Some(
                    "arn:aws:lambda:eu-west-1:123456789012:function:berth-verify".into(),
                ),
                status: "SUCCEEDED".into(),
                ..Hook::default()
            },
            Hook {
                id: "ecs-pause-1".into(),
                target_type: "PAUSE".into(),
                status: "AWAITING_ACTION".into(),
                expires_at: Some(NOW + 600),
                timeout_action: Some("ROLLBACK".into()),
                ..Hook::default()
            },
        ],
        ..facts("IN_PROGRESS", Some("POST_TEST_TRAFFIC_SHIFT"))
    }
}

fn text(f: &Facts) -> String {
    lines(&deployment(f, Some("v2"), NOW)).join("\n")
}

#[test]
fn a_paused_deployment_shows_its_hook_deadline_and_what_ecs_does_then() {
    let doc = deployment(&paused(), Some("v2"), NOW);
    assert_eq!(doc["id"], ARN);
    assert_eq!(doc["release"], "v2");
    assert_eq!(doc["lifecycle_stage"], "POST_TEST_TRAFFIC_SHIFT");
    assert_eq!(doc["phase"]["phase"], "paused");
    assert_eq!(doc["phase"]["hook_id"], "ecs-pause-1");
    assert_eq!(doc["phase"]["until"], NOW + 600);
    assert_eq!(doc["phase"]["timeout_action"], "ROLLBACK");
    assert_eq!(doc["hooks"][1]["status"], "AWAITING_ACTION");
    assert_eq!(
        doc["circuit_breaker"]["failures"],
        serde_json::json!([0, 3])
    );
    let shown = text(&paused());
    assert!(
        shown.contains(
            "paused at POST_TEST_TRAFFIC_SHIFT for promote until 2027-01-15T08:10:00Z (then ROLLBACK)"
        ),
        "{shown}"
    );
    assert!(
        shown.contains(
            "hook     PAUSE AWAITING_ACTION expires 2027-01-15T08:10:00Z (then ROLLBACK)"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("hook     AWS_LAMBDA arn:aws:lambda:eu-west-1:123456789012:function:berth-verify SUCCEEDED"),
        "{shown}"
    );
    assert!(shown.contains("circuit breaker MONITORING (0 failed task(s), threshold 3)"));
    assert!(shown.contains("alarms   MONITORING"));
    assert!(shown.contains("status   IN_PROGRESS, stage POST_TEST_TRAFFIC_SHIFT, release v2"));
}

#[test]
fn bake_time_shows_the_minutes_left() {
    // Bake time counts from the last update: 300 s ago, 30 min long, so 25 min left.
    let f = facts("IN_PROGRESS", Some("BAKE_TIME"));
    let doc = deployment(&f, None, NOW);
    assert_eq!(doc["phase"]["phase"], "baking");
    assert_eq!(doc["bake_seconds_left"], 1500);
    assert_eq!(doc["release"], Value::Null);
    let shown = text(&f);
    assert!(
        shown.contains(
            "bake     25 min left (until 2027-01-15T08:25:00Z); the old revision still runs"
        ),
        "{shown}"
    );
}

#[test]
fn every_other_phase_is_named_with_its_status() {
    let cases = [
        (
            facts("PENDING", None),
            "pending",
            "pending (ECS has not started it yet)",
        ),
        (
            Facts {
                production_weight: Some(10.0),
                ..facts("IN_PROGRESS", Some("PRODUCTION_TRAFFIC_SHIFT"))
            },
            "in_stage",
            "in progress: PRODUCTION_TRAFFIC_SHIFT (10% of production traffic)",
        ),
        (
            facts("IN_PROGRESS", None),
            "in_stage",
            "in progress: replacing tasks",
        ),
        (
            facts("ROLLBACK_IN_PROGRESS", None),
            "ending",
            "ending: ROLLBACK_IN_PROGRESS",
        ),
        (
            facts("SUCCESSFUL", Some("CLEAN_UP")),
            "finished",
            "finished: SUCCESSFUL",
        ),
    ];
    for (f, phase, summary) in cases {
        let doc = deployment(&f, None, NOW);
        assert_eq!(doc["phase"]["phase"], phase, "{summary}");
        assert_eq!(doc["summary"], summary);
        assert_eq!(doc["status"], f.status.as_str());
        assert!(doc.get("bake_seconds_left").is_none());
        assert!(text(&f).starts_with(&format!("deployment {ARN} {summary}")));
    }
}

#[test]
fn a_triggered_circuit_breaker_and_alarms_are_shown() {
    let f = Facts {
        circuit_breaker: Some(Monitor {
            status: "TRIGGERED".into(),
            triggered: vec![],
            failures: Some((3, 3)),
        }),
        alarms: Some(Monitor {
            status: "TRIGGERED".into(),
            triggered: vec!["web-5xx".into()],
            failures: None,
        }),
        ..facts("ROLLBACK_IN_PROGRESS", None)
    };
    let shown = text(&f);
    assert!(shown.contains("circuit breaker TRIGGERED (3 failed task(s), threshold 3)"));
    assert!(
        shown.contains("alarms   TRIGGERED (in ALARM: web-5xx)"),
        "{shown}"
    );
}
