//! Services ECS deploys itself (deployment controller `ECS`: ROLLING, BLUE_GREEN, LINEAR,
//! CANARY), end to end through the compiled binaries behind local Runtime APIs: an ECR push goes
//! through on-image-push, on-manifest, the Release stage's Migrate and its Deploy action (the
//! `deploy` function), and the ECS service deployment it starts runs on the stand-in
//! (`berth_tests::ecs_deployments`: moto has no service deployments), with `verify` as the
//! deployment's lifecycle hook and the `berth` CLI promoting or rolling back a paused one.

use berth_tests::ecs_deployments::{configuration, lambda_hook, pause_hook};
use berth_tests::listener::Health;
use berth_tests::native::native;
use berth_tests::*;
use serde_json::{Value, json};

fn failure(result: &(String, Value)) -> String {
    assert_eq!(result.0, "PutJobFailureResult", "{:?}", result.1);
    result.1["failureDetails"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn succeeded(result: &(String, Value)) {
    assert_eq!(result.0, "PutJobSuccessResult", "{:?}", result.1);
    assert!(result.1["continuationToken"].is_null(), "{:?}", result.1);
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn a_rolling_service_releases_an_ecr_push_through_migration_to_a_finished_deployment() {
    let mut n = native(None, |_| configuration("ROLLING", vec![], 0)).await;
    let mut action = n.to_deploy().await;
    n.fake.proxy.take_seen();
    let result = n.drive(&mut action, 20).await.expect("the job ended");
    succeeded(&result);
    assert_eq!(n.update_services(), 1, "one UpdateService for the release");
    let d = n.latest();
    assert_eq!(d.status, "SUCCESSFUL");
    assert_eq!(n.running().await, d.target.task_definition);
    let taskdef = berth::taskdef::describe(&n.fake.clients.ecs, &d.target.task_definition)
        .await
        .unwrap();
    let app = format!("{}@{}", repo_uri("web/app"), n.env.digest("web/app:v2.0.0"));
    assert_eq!(
        berth::render::container_image(&taskdef, "app").unwrap(),
        app,
        "the service runs the pushed image, pinned"
    );
    let record = n.record().await;
    assert_eq!(record["deployment"]["kind"], "ROLLING", "{record}");
    assert_eq!(record["deployment"]["status"], "SUCCESSFUL", "{record}");
    assert_eq!(
        record["deployment"]["service_deployment_arn"],
        d.arn.as_str()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_circuit_breaker_rollback_fails_the_job_naming_the_reason_and_a_stopped_task() {
    let mut n = native(None, |_| configuration("ROLLING", vec![], 0)).await;
    let mut action = n.to_deploy().await;
    assert_eq!(
        n.poll(&mut action).await,
        None,
        "UpdateService, then follow"
    );
    n.fake.advance("web").await;
    let reason = "Essential container in task exited (exit code 1: database unreachable)";
    n.fake.fail_tasks(&n.env, "web", 3, reason).await;
    let result = n.drive(&mut action, 20).await.expect("the job ended");
    let message = failure(&result);
    assert!(message.contains("circuit breaker"), "{message}");
    assert!(message.contains("database unreachable"), "{message}");
    assert_eq!(n.fake.run("web").await.status, "ROLLBACK_SUCCESSFUL");
    assert!(
        n.running().await.ends_with("web:1"),
        "back on the last good revision"
    );
    let record = n.record().await;
    let status = record["deployment"]["status"].as_str().unwrap_or_default();
    assert!(
        status.starts_with("ROLLBACK"),
        "the record says it rolled back: {record}"
    );
}

fn blue_green_with_verify(verify: &str) -> Value {
    configuration(
        "BLUE_GREEN",
        vec![lambda_hook(verify, &["POST_TEST_TRAFFIC_SHIFT"])],
        5,
    )
}

#[tokio::test(flavor = "current_thread")]
async fn native_blue_green_passes_verify_at_its_hook_and_finishes() {
    let mut n = native(Some(Health::Healthy), blue_green_with_verify).await;
    let mut action = n.to_deploy().await;
    let result = n.drive(&mut action, 40).await.expect("the job ended");
    let d = n.latest();
    assert_eq!(
        d.hooks[0].answers.last().map(|a| &a["hookStatus"]),
        Some(&json!("SUCCEEDED")),
        "{:?}",
        d.hooks
    );
    succeeded(&result);
    assert_eq!(d.status, "SUCCESSFUL");
    let hook = &d.hooks[0];
    assert_eq!(
        (hook.stage.as_str(), hook.status.as_str()),
        ("POST_TEST_TRAFFIC_SHIFT", "SUCCEEDED")
    );
    assert!(hook.invocations >= 1);
    assert_eq!(d.shifts, [100.0], "production moved once, after verify");
    assert_eq!(n.running().await, d.target.task_definition);
}

#[tokio::test(flavor = "current_thread")]
async fn native_blue_green_failing_verify_rolls_back_and_fails_the_job() {
    let mut n = native(Some(Health::Failing), blue_green_with_verify).await;
    let mut action = n.to_deploy().await;
    let result = n.drive(&mut action, 40).await.expect("the job ended");
    let message = failure(&result);
    let d = n.fake.run("web").await;
    assert_eq!(d.status, "ROLLBACK_SUCCESSFUL");
    assert_eq!(d.hooks[0].status, "FAILED");
    assert!(d.shifts.is_empty(), "production never reached green");
    assert!(message.contains("rolled back"), "{message}");
    assert!(message.contains("berth-verify"), "{message}");
    assert!(n.running().await.ends_with("web:1"));
}

fn held(verify: &str) -> Value {
    configuration(
        "BLUE_GREEN",
        vec![
            lambda_hook(verify, &["POST_TEST_TRAFFIC_SHIFT"]),
            pause_hook(&["POST_TEST_TRAFFIC_SHIFT"], 60, "ROLLBACK"),
        ],
        5,
    )
}

#[tokio::test(flavor = "current_thread")]
async fn a_paused_blue_green_deployment_is_promoted_with_berth_promote() {
    let mut n = native(Some(Health::Healthy), held).await;
    let mut action = n.to_deploy().await;
    let hook = n.until_paused(&mut action).await;
    assert!(
        n.latest().shifts.is_empty(),
        "held before production traffic"
    );
    let out = n.berth(&["promote", "web"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let continued = n.fake.server.calls.bodies("ContinueServiceDeployment");
    assert_eq!(continued.len(), 1, "{continued:?}");
    assert_eq!(continued[0]["hookId"], hook.as_str());
    assert_ne!(continued[0]["action"], "ROLLBACK");
    let result = n.drive(&mut action, 40).await.expect("the job ended");
    succeeded(&result);
    assert_eq!(n.latest().status, "SUCCESSFUL");
}

#[tokio::test(flavor = "current_thread")]
async fn a_paused_blue_green_deployment_is_rolled_back_with_berth_rollback() {
    let mut n = native(Some(Health::Healthy), held).await;
    let mut action = n.to_deploy().await;
    let hook = n.until_paused(&mut action).await;
    let out = n.berth(&["rollback", "web", "--wait-seconds", "0"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let continued = n.fake.server.calls.bodies("ContinueServiceDeployment");
    assert_eq!(continued.len(), 1, "{continued:?}");
    assert_eq!(
        (
            continued[0]["hookId"].as_str(),
            continued[0]["action"].as_str()
        ),
        (Some(hook.as_str()), Some("ROLLBACK"))
    );
    let result = n.drive(&mut action, 40).await.expect("the job ended");
    failure(&result);
    assert_eq!(n.fake.run("web").await.status, "ROLLBACK_SUCCESSFUL");
    assert!(n.running().await.ends_with("web:1"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_pause_left_until_its_timeout_rolls_back_and_fails_the_job() {
    let mut n = native(Some(Health::Healthy), held).await;
    let mut action = n.to_deploy().await;
    n.until_paused(&mut action).await;
    n.fake.elapse(61);
    let result = n.drive(&mut action, 40).await.expect("the job ended");
    let message = failure(&result);
    assert!(message.contains("timed out"), "{message}");
    let d = n.fake.run("web").await;
    assert_eq!(d.status, "ROLLBACK_SUCCESSFUL");
    assert_eq!(d.hooks[1].status, "TIMED_OUT");
}

#[tokio::test(flavor = "current_thread")]
async fn linear_and_canary_services_shift_production_in_their_steps() {
    for (strategy, steps, shifts) in [
        (
            "LINEAR",
            json!({"linearConfiguration": {"stepPercent": 25.0, "stepBakeTimeInMinutes": 3}}),
            vec![25.0, 50.0, 75.0, 100.0],
        ),
        (
            "CANARY",
            json!({"canaryConfiguration": {"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5}}),
            vec![10.0, 100.0],
        ),
    ] {
        let mut n = native(Some(Health::Healthy), |verify| {
            let mut c = configuration(
                strategy,
                vec![lambda_hook(verify, &["POST_TEST_TRAFFIC_SHIFT"])],
                1,
            );
            for (k, v) in steps.as_object().unwrap() {
                c[k] = v.clone();
            }
            c
        })
        .await;
        let mut action = n.to_deploy().await;
        let result = n.drive(&mut action, 60).await.expect("the job ended");
        succeeded(&result);
        let d = n.latest();
        assert_eq!(d.shifts, shifts, "{strategy}");
        assert_eq!(n.record().await["deployment"]["kind"], strategy);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_alarm_during_bake_time_rolls_back_and_the_job_names_it() {
    let mut n = native(Some(Health::Healthy), |verify| {
        let mut c = blue_green_with_verify(verify);
        c["alarms"] = json!({"alarmNames": ["web-5xx"], "enable": true, "rollback": true});
        c
    })
    .await;
    let mut action = n.to_deploy().await;
    for _ in 0..40 {
        assert_eq!(n.poll(&mut action).await, None);
        if n.fake.advance_to("web", "BAKE_TIME").await.stage.as_deref() == Some("BAKE_TIME") {
            break;
        }
    }
    assert!(
        n.fake.alarm("web", "web-5xx"),
        "the deployment watches the alarm"
    );
    let result = n.drive(&mut action, 20).await.expect("the job ended");
    let message = failure(&result);
    assert!(message.contains("web-5xx"), "{message}");
    assert_eq!(n.fake.run("web").await.status, "ROLLBACK_SUCCESSFUL");
    assert!(n.running().await.ends_with("web:1"));
}

#[tokio::test(flavor = "current_thread")]
async fn someone_else_s_deployment_in_between_fails_the_job_naming_it() {
    let mut n = native(None, |_| configuration("ROLLING", vec![], 0)).await;
    let mut action = n.to_deploy().await;
    assert_eq!(n.poll(&mut action).await, None);
    let ours = n.latest().arn;
    let other = n
        .env
        .register_revision("public.ecr.aws/datadog/agent:8")
        .await;
    n.fake
        .call(
            "UpdateService",
            &json!({"cluster": "prod", "service": "web", "taskDefinition": other}),
        )
        .await;
    let theirs = n.latest().arn;
    assert_ne!(ours, theirs);
    let result = n.drive(&mut action, 20).await.expect("the job ended");
    let message = failure(&result);
    assert!(message.contains(&theirs), "{message}");
    assert_eq!(
        n.fake
            .deployments("web")
            .iter()
            .find(|d| d.arn == ours)
            .unwrap()
            .status,
        "STOPPED"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_repeated_invocation_of_the_deploy_action_calls_update_service_once() {
    let mut n = native(None, |_| configuration("ROLLING", vec![], 0)).await;
    let mut action = n.to_deploy().await;
    n.fake.proxy.take_seen();
    let first = action.first.event_json(None);
    // The same job delivered twice (Lambda's retry of an invocation that timed out after it
    // had called UpdateService): the second finds the deployment the first started.
    n.deploy.invoke(&first).await.response();
    n.deploy.invoke(&first).await.response();
    assert_eq!(n.update_services(), 1, "one UpdateService for the release");
    let (op, body) = n.jobs.last().unwrap();
    assert_eq!(op, "PutJobSuccessResult", "{body}");
    assert_eq!(
        n.fake.deployments("web").len(),
        2,
        "the creation's and the release's"
    );
    let result = n.drive(&mut action, 20).await.expect("the job ended");
    succeeded(&result);
    assert_eq!(
        n.update_services(),
        0,
        "none while following the deployment"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_service_deleted_mid_release_fails_the_job() {
    let mut n = native(None, |_| configuration("ROLLING", vec![], 0)).await;
    let mut action = n.to_deploy().await;
    assert_eq!(n.poll(&mut action).await, None);
    n.fake
        .call(
            "DeleteService",
            &json!({"cluster": "prod", "service": "web", "force": true}),
        )
        .await;
    let result = n.drive(&mut action, 10).await.expect("the job ended");
    let message = failure(&result);
    assert!(message.contains("deleted"), "{message}");
    assert_eq!(n.record().await["deployment"]["status"], "GONE");
}
