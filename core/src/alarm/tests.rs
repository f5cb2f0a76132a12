use serde_json::json;

use super::*;

/// CloudWatch's sample single-metric alarm event ("Alarm events and EventBridge"), with an
/// Application Load Balancer metric in place of the sample's EC2 one.
fn event(alarm: &str, state: &str, target_group: &str) -> Value {
    json!({
        "version": "0",
        "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": "2026-12-07T05:04:40Z",
        "region": "us-east-1",
        "resources": [format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{alarm}")],
        "detail": {
            "alarmName": alarm,
            "configuration": {
                "metrics": [{
                    "id": "30b6c6b2-a864-43a2-4877-c09a1afc3b87",
                    "metricStat": {
                        "metric": {
                            "dimensions": {
                                "LoadBalancer": "app/web/50dc6c495c0c9188",
                                "TargetGroup": target_group
                            },
                            "name": "HTTPCode_Target_5XX_Count",
                            "namespace": "AWS/ApplicationELB"
                        },
                        "period": 60,
                        "stat": "Sum"
                    },
                    "returnData": true
                }]
            },
            "previousState": {"reason": "…", "timestamp": "2026-12-07T05:00:40.000+0000", "value": "OK"},
            "state": {"reason": "…", "timestamp": "2026-12-07T05:04:40.000+0000", "value": state}
        }
    })
}

const BLUE_TG: &str = "targetgroup/web-blue/73e2d6bc24d8a067";
const GREEN_TG: &str = "targetgroup/web-green/0123456789abcdef";

/// A deployment in its termination wait whose replacement task set serves `web-green`.
fn in_flight(status: &str, green: Option<&str>) -> Facts {
    Facts {
        id: "d-FIX".into(),
        status: status.into(),
        target_status: Some("Succeeded".into()),
        green_target_group: green.map(str::to_owned),
        events: vec![("AllowTestTraffic".into(), "Succeeded".into(), Some(10))],
        ..Facts::default()
    }
}

fn change(state: &str, tg: &str) -> AlarmChange {
    parse(event("berth-web-tg-5xx", state, tg)).unwrap()
}

#[test]
fn the_sample_event_is_an_alarm_event_and_names_its_target_group() {
    let e = event("berth-web-blue-target-5xx", "ALARM", BLUE_TG);
    assert!(is_alarm_event(&e));
    assert!(!is_alarm_event(
        &json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h"})
    ));
    let c = parse(e).unwrap();
    assert_eq!(c.alarm, "berth-web-blue-target-5xx");
    assert_eq!(c.state, "ALARM");
    assert_eq!(c.previous_state.as_deref(), Some("OK"));
    assert_eq!(c.target_groups, vec!["web-blue".to_owned()]);
}

#[test]
fn a_target_group_dimension_is_named_as_codedeploy_names_the_group() {
    for (dimension, name) in [
        (BLUE_TG, "web-blue"),
        ("targetgroup/a/b", "a"),
        ("web-blue", "web-blue"),
        ("targetgroup//x", "targetgroup//x"),
    ] {
        assert_eq!(target_group_name(dimension), name, "{dimension}");
    }
}

#[test]
fn only_an_alarm_about_the_replacement_task_sets_target_group_rolls_back() {
    let green = in_flight("InProgress", Some("web-green"));
    let cases: [(&str, &str, Option<&Facts>, bool); 6] = [
        // During an incident blue alarms: the fix that replaces it goes on.
        ("ALARM", BLUE_TG, Some(&green), false),
        // The new version alarms: back to blue.
        ("ALARM", GREEN_TG, Some(&green), true),
        // Recovering is no reason to act.
        ("OK", GREEN_TG, Some(&green), false),
        ("INSUFFICIENT_DATA", GREEN_TG, Some(&green), false),
        // Nothing in flight.
        ("ALARM", GREEN_TG, None, false),
        (
            "ALARM",
            GREEN_TG,
            Some(&in_flight("Succeeded", Some("web-green"))),
            false,
        ),
    ];
    for (state, tg, deployment, rolls_back) in cases {
        let decision = decide(&change(state, tg), deployment);
        assert_eq!(
            matches!(decision, Decision::RollBack { .. }),
            rolls_back,
            "{state} {tg}: {decision:?}"
        );
    }
}

#[test]
fn a_rollback_names_the_deployment_and_the_green_target_group() {
    let green = in_flight("InProgress", Some("web-green"));
    assert_eq!(
        decide(&change("ALARM", GREEN_TG), Some(&green)),
        Decision::RollBack {
            deployment_id: "d-FIX".into(),
            target_group: "web-green".into()
        }
    );
}

#[test]
fn an_alarm_about_blue_says_it_is_about_the_version_being_replaced() {
    let green = in_flight("InProgress", Some("web-green"));
    let Decision::Ignore(why) = decide(&change("ALARM", BLUE_TG), Some(&green)) else {
        panic!("blue's alarm must not stop the fix");
    };
    assert!(why.contains("web-blue"), "{why}");
    assert!(why.contains("version being replaced"), "{why}");
}

#[test]
fn no_replacement_task_set_yet_or_a_rollback_in_flight_changes_nothing() {
    let starting = in_flight("InProgress", None);
    let rollback = Facts {
        rollback: true,
        ..in_flight("InProgress", Some("web-green"))
    };
    for d in [&starting, &rollback] {
        assert!(matches!(
            decide(&change("ALARM", GREEN_TG), Some(d)),
            Decision::Ignore(_)
        ));
    }
}

#[test]
fn an_alarm_over_both_target_groups_or_none_is_not_about_the_new_version() {
    let green = in_flight("InProgress", Some("web-green"));
    let mut both = event("berth-web-any-5xx", "ALARM", GREEN_TG);
    let blue_metric =
        json!({"id": "m2", "metricStat": {"metric": {"dimensions": {"TargetGroup": BLUE_TG}}}});
    both["detail"]["configuration"]["metrics"]
        .as_array_mut()
        .unwrap()
        .push(blue_metric);
    let mut none = event("berth-web-cpu", "ALARM", GREEN_TG);
    none["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"] =
        json!({"ServiceName": "web"});
    for e in [both, none] {
        assert!(matches!(
            decide(&parse(e).unwrap(), Some(&green)),
            Decision::Ignore(_)
        ));
    }
}
