use serde_json::json;

use super::*;

const SERVICE: &str = "arn:aws:ecs:us-west-2:123456789012:service/my-cluster/my-service";
const GREEN: &str =
    "arn:aws:ecs:us-west-2:123456789012:service-revision/my-cluster/my-service/9313423515462893900";
const BLUE: &str =
    "arn:aws:ecs:us-west-2:123456789012:service-revision/my-cluster/my-service/1920498462936580504";

/// The guide's POST_TEST_TRAFFIC_SHIFT example payload, as ECS sends it.
fn documented(stage: &str, test: Value, production: Value) -> Value {
    json!({
      "executionId": "3a0345ba-b029-404b-890d-7da2a4b266aa",
      "lifecycleStage": stage,
      "resourceArn": "arn:aws:ecs:us-west-2:123456789012:service-deployment/my-cluster/my-service/EZe5RNVLH6PPzHXINuP28",
      "executionDetails": {
        "serviceArn": SERVICE,
        "targetServiceRevisionArn": GREEN,
        "testTrafficWeights": test,
        "productionTrafficWeights": production
      }
    })
}

#[test]
fn the_documented_ecs_payload_parses_and_codedeploy_s_is_told_apart() {
    let payload = documented("POST_TEST_TRAFFIC_SHIFT", json!({}), json!({}));
    assert_eq!(kind(&payload), EventKind::Ecs);
    let event = parse(payload).unwrap();
    assert_eq!(event.lifecycle_stage, "POST_TEST_TRAFFIC_SHIFT");
    assert_eq!(event.execution_details.target_service_revision_arn, GREEN);
    assert!(event.hook_details.is_none());
    let codedeploy = json!({"DeploymentId": "d-1", "LifecycleEventHookExecutionId": "h"});
    assert_eq!(kind(&codedeploy), EventKind::CodeDeploy);
    for other in [json!({"hello": "world"}), json!("text"), json!([1])] {
        assert_eq!(kind(&other), EventKind::Other, "{other}");
    }
}

#[test]
fn weights_may_be_whole_or_fractional_and_hook_details_come_back() {
    let mut payload = documented(
        "TEST_TRAFFIC_SHIFT",
        json!({GREEN: 100.0, BLUE: 0}),
        json!({}),
    );
    payload["hookDetails"] = json!({"berthVerify": {"pass": 1, "started_at": "t"}, "X": 1});
    let event = parse(payload).unwrap();
    assert_eq!(event.execution_details.test_traffic_weights[GREEN], 100.0);
    let state = carried(event.hook_details.as_ref()).unwrap().unwrap();
    assert_eq!(state.pass, 1);
}

#[test]
fn an_ecs_looking_event_missing_a_field_is_refused_naming_it() {
    let mut payload = documented("POST_TEST_TRAFFIC_SHIFT", json!({}), json!({}));
    payload["executionDetails"]
        .as_object_mut()
        .unwrap()
        .remove("targetServiceRevisionArn");
    assert_eq!(kind(&payload), EventKind::Ecs);
    let why = parse(payload).unwrap_err();
    assert!(why.contains("targetServiceRevisionArn"), "{why}");
    let mut empty = documented("POST_TEST_TRAFFIC_SHIFT", json!({}), json!({}));
    empty["resourceArn"] = json!("");
    assert_eq!(
        parse(empty).unwrap_err(),
        "the ECS lifecycle hook event has an empty resourceArn"
    );
}

#[test]
fn the_service_arn_names_cluster_and_service() {
    assert_eq!(
        service_of(SERVICE).unwrap(),
        ("my-cluster".into(), "my-service".into())
    );
    for bad in [
        "arn:aws:ecs:us-west-2:123456789012:service/my-service",
        "arn:aws:lambda:us-west-2:123456789012:service/c/s",
        "my-service",
        "arn:aws:ecs:us-west-2:123456789012:service/c/s/extra",
    ] {
        assert!(service_of(bad).is_err(), "{bad}");
    }
    assert_eq!(last_segment("arn:aws:ecs:r:1:cluster/prod"), "prod");
    assert_eq!(last_segment("prod"), "prod");
}

#[test]
fn checks_run_once_test_traffic_reaches_the_new_revision_and_not_before() {
    let rule = |stage: &str, test: Value, production: Value| {
        stage_rule(&parse(documented(stage, test, production)).unwrap())
    };
    for stage in WITH_TEST_TRAFFIC {
        assert_eq!(
            rule(stage, json!({}), json!({})),
            StageRule::Check,
            "{stage}"
        );
    }
    // The documented TEST_TRAFFIC_SHIFT and PRE_PRODUCTION_TRAFFIC_SHIFT weights.
    assert_eq!(
        rule(
            "TEST_TRAFFIC_SHIFT",
            json!({GREEN: 100, BLUE: 0}),
            json!({})
        ),
        StageRule::Check
    );
    assert_eq!(
        rule(
            "PRE_PRODUCTION_TRAFFIC_SHIFT",
            json!({}),
            json!({GREEN: 0, BLUE: 100})
        ),
        StageRule::Check
    );
    for stage in BEFORE_TEST_TRAFFIC {
        match rule(stage, json!({}), json!({})) {
            StageRule::Refuse(why) => {
                assert!(why.contains("[\"POST_TEST_TRAFFIC_SHIFT\"]"), "{why}")
            }
            other => panic!("{stage}: {other:?}"),
        }
    }
    assert!(matches!(
        rule("BAKE_TIME", json!({}), json!({})),
        StageRule::Refuse(why) if why.contains("unknown lifecycle stage \"BAKE_TIME\"")
    ));
}

#[test]
fn a_recurring_stage_during_a_rollback_passes_with_a_note() {
    // The guide's PRODUCTION_TRAFFIC_SHIFT payload during a rollback.
    let event = parse(documented(
        "PRODUCTION_TRAFFIC_SHIFT",
        json!({}),
        json!({GREEN: 0, BLUE: 100}),
    ))
    .unwrap();
    assert!(matches!(stage_rule(&event), StageRule::Pass(n) if n.contains("rolling back")));
    let test_back = parse(documented(
        "TEST_TRAFFIC_SHIFT",
        json!({GREEN: 0, BLUE: 100}),
        json!({}),
    ))
    .unwrap();
    assert!(matches!(stage_rule(&test_back), StageRule::Pass(_)));
    // Forward: production moving to green is checked.
    let forward = parse(documented(
        "PRODUCTION_TRAFFIC_SHIFT",
        json!({}),
        json!({GREEN: 100, BLUE: 0}),
    ))
    .unwrap();
    assert_eq!(stage_rule(&forward), StageRule::Check);
}

fn result(url: &str, passed: bool, attempts: u32) -> CheckResult {
    CheckResult {
        url: url.into(),
        passed,
        attempts,
        status: Some(if passed { 200 } else { 500 }),
        latency_ms: Some(3),
        error: (!passed).then(|| "answered 500, expected 200".into()),
        body_excerpt: None,
    }
}

#[test]
fn each_pass_tries_the_checks_not_yet_passed_and_attempts_add_up() {
    let urls = vec!["http://h/a".to_owned(), "http://h/b".to_owned()];
    assert_eq!(pending(&[], &urls), vec![0, 1]);
    let first = merge(
        &[],
        &urls,
        &[0, 1],
        vec![
            result("http://h/a", true, 1),
            result("http://h/b", false, 1),
        ],
    );
    assert_eq!(pending(&first, &urls), vec![1]);
    assert_eq!(next(&first, 1, 3), None);
    let second = merge(&first, &urls, &[1], vec![result("http://h/b", false, 1)]);
    assert_eq!((second[0].attempts, second[1].attempts), (1, 2));
    assert_eq!(next(&second, 2, 3), None);
    let third = merge(&second, &urls, &[1], vec![result("http://h/b", true, 1)]);
    assert_eq!(third[1].attempts, 3);
    assert_eq!(next(&third, 3, 3), Some(Verdict::Passed));
    let failed = merge(&second, &urls, &[1], vec![result("http://h/b", false, 1)]);
    assert_eq!(next(&failed, 3, 3), Some(Verdict::Failed));
    assert_eq!(next(&failed, 1, 1), Some(Verdict::Failed));
}

#[test]
fn a_check_not_reached_keeps_its_attempts_and_a_changed_registry_starts_over() {
    let urls = vec!["http://h/a".to_owned()];
    let before = vec![result("http://h/a", false, 2)];
    let mut out_of_time = result("http://h/a", false, 0);
    out_of_time.error = Some("out of time".into());
    let kept = merge(&before, &urls, &[0], vec![out_of_time]);
    assert_eq!(kept[0].attempts, 2);
    assert_eq!(kept[0].error.as_deref(), Some("answered 500, expected 200"));
    let moved = vec!["http://other/a".to_owned()];
    assert_eq!(
        pending(&[result("http://h/a", true, 1)], &moved),
        vec![0],
        "a pass on another URL does not count"
    );
    let fresh = merge(
        &before,
        &moved,
        &[0],
        vec![result("http://other/a", false, 1)],
    );
    assert_eq!(fresh[0].attempts, 1);
}

#[test]
fn the_answer_is_hook_status_call_back_delay_and_hook_details_only() {
    let details = Details {
        pass: 1,
        started_at: "2025-01-01T00:00:00Z".into(),
        checks: vec![result("http://h/a", false, 1)],
        verdict: None,
        message: None,
        service: None,
        release: None,
        recorded: None,
    };
    let again = serde_json::to_value(HookAnswer::of(None, call_back_delay(0), &details)).unwrap();
    assert_eq!(again["hookStatus"], "IN_PROGRESS");
    assert_eq!(again["callBackDelay"], 1);
    assert_eq!(again["hookDetails"]["berthVerify"]["pass"], 1);
    assert_eq!(again.as_object().unwrap().len(), 3);
    // What ECS passes back is what the next invocation carries on from.
    let back = carried(Some(&again["hookDetails"])).unwrap().unwrap();
    assert_eq!(back, details);
    let done = serde_json::to_value(HookAnswer::of(Some(Verdict::Passed), 30, &details)).unwrap();
    assert_eq!(done["hookStatus"], "SUCCEEDED");
    assert!(done.get("callBackDelay").is_none());
    let failed = serde_json::to_value(HookAnswer::without_checks(
        Verdict::Failed,
        "why".into(),
        "t".into(),
    ))
    .unwrap();
    assert_eq!(failed["hookStatus"], "FAILED");
    assert_eq!(failed["hookDetails"]["berthVerify"]["message"], "why");
    assert_eq!(call_back_delay(15), 15);
}

#[test]
fn state_under_berth_s_key_that_verify_did_not_write_is_an_error() {
    assert_eq!(carried(None), Ok(None));
    assert_eq!(carried(Some(&json!({"S3_BUCKET_NAME": "b"}))), Ok(None));
    assert!(carried(Some(&json!({"berthVerify": "x"}))).is_err());
}

#[test]
fn the_flat_payload_of_the_older_guide_page_is_an_ecs_event_too() {
    let mut payload = documented("POST_TEST_TRAFFIC_SHIFT", json!({"a": 100}), json!({}));
    let details = payload
        .as_object_mut()
        .unwrap()
        .remove("executionDetails")
        .unwrap();
    for (k, v) in details.as_object().unwrap() {
        payload[k] = v.clone();
    }
    assert_eq!(kind(&payload), EventKind::Ecs);
    let event = parse(payload.clone()).unwrap();
    assert_eq!(event.execution_details.service_arn, SERVICE);
    assert_eq!(event.execution_details.test_traffic_weights["a"], 100.0);
    // Without lifecycleStage the event is still ECS's, and refused naming the field.
    payload.as_object_mut().unwrap().remove("lifecycleStage");
    assert_eq!(kind(&payload), EventKind::Ecs);
    let why = parse(payload).unwrap_err();
    assert!(why.contains("lifecycleStage"), "{why}");
    // Only one of the two flat fields is not enough to claim a payload.
    assert_eq!(kind(&json!({"serviceArn": SERVICE})), EventKind::Other);
}
