//! The demo's services that ECS deploys itself (deployment controller `ECS`), on their own moto:
//! a ROLLING release and a native BLUE_GREEN release held at a pause hook and promoted. ECS's
//! part is the service-deployment stand-in (`berth_tests::ecs_deployments`): moto has no
//! service deployments, so the demo moves the deployment one step between the Deploy action's
//! invocations, as ECS would between CodePipeline's.

use std::time::Instant;

use berth_tests::ecs_deployments::{Step, configuration, lambda_hook, pause_hook};
use berth_tests::listener::Health;
use berth_tests::native::{Native, native};
use berth_tests::release_stage::DeployAction;
use serde_json::Value;

use crate::{Timeline, s};

/// Both scenes; the second reconfigures the first's service for blue/green.
pub async fn scenes(t: &mut Timeline) {
    let at = Instant::now();
    let mut n = native(Some(Health::Healthy), |_| {
        configuration("ROLLING", vec![], 0)
    })
    .await;
    t.step(at, "setup", "ECS-deployed service: moto + stand-in", true,
        "a second moto; ECS service web (deployment controller ECS, strategy ROLLING, circuit breaker with rollback)\npipeline berth-web: Source ▸ Release [Migrate ▸ Deploy (the deploy function)]");
    rolling(t, &mut n).await;
    blue_green(t, &mut n).await;
}

/// The Deploy action to its end, ECS moving the deployment a step between invocations.
async fn deployed(n: &mut Native, action: &mut DeployAction) -> (String, Value) {
    n.drive(action, 60)
        .await
        .unwrap_or_else(|| ("(still running)".into(), Value::Null))
}

async fn rolling(t: &mut Timeline, n: &mut Native) {
    let at = Instant::now();
    let mut action = n.to_deploy().await;
    t.step(
        at,
        "migrate",
        "v2.0.0: push ▸ on-manifest ▸ Migrate",
        true,
        &format!(
            "release v2.0.0 rendered under the stage lock; Deploy job {}",
            action.first.id
        ),
    );
    let at = Instant::now();
    n.fake.proxy.take_seen();
    let (op, _) = deployed(n, &mut action).await;
    let d = n.latest();
    let updates = n.update_services();
    let record = n.record().await;
    t.step(
        at,
        "deploy",
        "ROLLING deployment of v2.0.0 → SUCCESSFUL",
        op == "PutJobSuccessResult" && d.status == "SUCCESSFUL" && updates == 1,
        &format!(
            "{} invocations, {updates} UpdateService; {} {}\nrelease record: deployment {} {}",
            action.polls,
            d.arn.rsplit('/').next().unwrap_or_default(),
            d.status,
            s(&record["deployment"]["kind"]),
            s(&record["deployment"]["status"])
        ),
    );
}

async fn blue_green(t: &mut Timeline, n: &mut Native) {
    let at = Instant::now();
    let verify = n.verify_arn();
    let config = configuration(
        "BLUE_GREEN",
        vec![
            lambda_hook(&verify, &["POST_TEST_TRAFFIC_SHIFT"]),
            pause_hook(&["POST_TEST_TRAFFIC_SHIFT"], 60, "ROLLBACK"),
        ],
        5,
    );
    let body = serde_json::json!({"cluster": "prod", "service": "web",
        "deploymentConfiguration": config});
    n.fake.call("UpdateService", &body).await;
    n.next_release("v2.1.0").await;
    let mut action = n.to_deploy().await;
    let mut paused = None;
    for _ in 0..40 {
        if n.poll(&mut action).await.is_some() {
            break;
        }
        if let Step::Paused(id) = n.fake.advance("web").await {
            paused = Some(id);
            break;
        }
    }
    let d = n.latest();
    let verdict = d.hooks.first().and_then(|h| h.answers.last()).cloned();
    let passed = verdict
        .as_ref()
        .is_some_and(|v| v["hookStatus"] == "SUCCEEDED");
    t.step(
        at,
        "verify",
        "BLUE_GREEN v2.1.0: verify hook, then held",
        passed && paused.is_some(),
        &format!(
            "strategy BLUE_GREEN, verify at POST_TEST_TRAFFIC_SHIFT, pause hook (60 min, then ROLLBACK), bake 5 min\nverify → hookStatus {}; {} at {} awaiting action; production still on blue",
            verdict.as_ref().map_or("-", |v| s(&v["hookStatus"])),
            paused.as_deref().unwrap_or("no pause hook"),
            d.stage.as_deref().unwrap_or("-")
        ),
    );
    let at = Instant::now();
    let out = n.berth(&["promote", "web"]).await;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let (op, _) = deployed(n, &mut action).await;
    let d = n.latest();
    t.step(
        at,
        "cli",
        "berth promote web → traffic shifted, SUCCESSFUL",
        out.status.success() && op == "PutJobSuccessResult" && d.status == "SUCCESSFUL",
        &format!(
            "$ berth promote web\n{text}ContinueServiceDeployment CONTINUE ▸ PRODUCTION_TRAFFIC_SHIFT ▸ BAKE_TIME (5 min) ▸ CLEAN_UP\nDeploy action: {op}; {} {}",
            d.arn.rsplit('/').next().unwrap_or_default(),
            d.status
        ),
    );
}
