//! The `verify` hook against moto (registry, release records), the CodeDeploy stand-in (moto
//! implements neither PutLifecycleEventHookExecutionStatus nor deployment progress) and a test
//! listener on 127.0.0.1: healthy, failing with 500s, slower than the latency budget, refusing
//! connections, healthy only after two failures; then through the compiled binary.

use std::time::{Duration, SystemTime};

use berth::verify::HookEvent;
use berth_tests::codedeploy::{FakeCodeDeploy, Guarded, guarded_registry};
use berth_tests::listener::{Health, TestListener, refusing_base_url};
use berth_tests::runtime::{Function, Outcome, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

struct Case {
    env: Env,
    guarded: Guarded,
    deployment: String,
    execution: String,
}

/// `web` with `verify` checks (none when `None`), release v1 started, and its deployment on
/// test traffic with the hook waiting.
async fn case(verify: Option<Value>, promote_wait: Option<i32>) -> Case {
    let env = Env::start().await;
    let subnets = env.default_subnets().await;
    env.put_registry(&guarded_registry(&subnets, verify)).await;
    let started = env.release_web("v1", "v1.0.0").await;
    let execution = started["pipeline_execution_id"]
        .as_str()
        .expect("started")
        .to_owned();
    let guarded = Guarded::start(&env, promote_wait).await;
    let deployment = guarded
        .fake
        .deploy("berth-web", "web", "berth-web", &execution);
    Case {
        env,
        guarded,
        deployment,
        execution,
    }
}

fn checks(base_url: &str, extra: Value) -> Value {
    let mut v = json!({"base_url": base_url,
        "checks": [{"path": "/health", "status": 200, "contains": "ok", "max_latency_ms": 500}],
        "attempts": 3, "interval_seconds": 0, "timeout_seconds": 2});
    if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        v.extend(extra.clone());
    }
    v
}

impl Case {
    /// Delivers the hook with `seconds` before the invocation's deadline.
    async fn hook_within(&self, seconds: u64) -> berth::Result<Value> {
        let hook: HookEvent =
            serde_json::from_value(FakeCodeDeploy::hook_event(&self.deployment)).unwrap();
        let home = berth::images::Home {
            account_id: ACCOUNT.into(),
            region: REGION.into(),
        };
        let deadline = SystemTime::now() + Duration::from_secs(seconds);
        let out = self
            .guarded
            .verify(&self.env)
            .on_hook(&hook, &home, deadline)
            .await?;
        Ok(serde_json::to_value(out).unwrap())
    }

    async fn hook(&self) -> Value {
        self.hook_within(120).await.expect("reported")
    }

    fn reported(&self) -> Option<String> {
        self.guarded
            .fake
            .deployment(&self.deployment)
            .and_then(|d| d.hook)
    }

    async fn verifications(&self) -> Vec<Value> {
        let record = self.env.get_json("releases/web/v1.json").await.unwrap();
        record["verifications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_healthy_test_listener_passes_and_the_deployment_waits_for_promote() {
    let listener = TestListener::start(Health::Healthy).await;
    let c = case(Some(checks(&listener.base_url, json!({}))), Some(60)).await;
    let out = c.hook().await;
    assert_eq!(out["verdict"], "passed", "{out}");
    assert_eq!(out["release"], "v1");
    assert_eq!(c.reported().as_deref(), Some("Succeeded"));
    assert_eq!(
        c.guarded.fake.deployment(&c.deployment).unwrap().status,
        "Ready",
        "held for a promote"
    );
    let recorded = c.verifications().await;
    assert_eq!(recorded.len(), 1);
    let v = &recorded[0];
    assert_eq!(v["verdict"], "passed");
    assert_eq!(v["deployment_id"], c.deployment.as_str());
    assert_eq!(v["pipeline_execution_id"], c.execution.as_str());
    assert_eq!(v["checks"][0]["status"], 200);
    assert_eq!(v["checks"][0]["attempts"], 1);
    assert!(v["checks"][0]["latency_ms"].is_u64());
    assert_eq!(listener.served(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn five_hundreds_fail_after_every_attempt_with_the_body_recorded() {
    let listener = TestListener::start(Health::Failing).await;
    let c = case(Some(checks(&listener.base_url, json!({}))), Some(60)).await;
    let out = c.hook().await;
    assert_eq!(out["verdict"], "failed", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("answered 500, expected 200 (3 attempt(s))"),
        "{out}"
    );
    assert_eq!(c.reported().as_deref(), Some("Failed"));
    assert_eq!(
        c.guarded.fake.deployment(&c.deployment).unwrap().status,
        "Failed",
        "CodeDeploy rolls back"
    );
    assert_eq!(listener.served(), 3);
    let v = &c.verifications().await[0];
    assert_eq!(v["verdict"], "failed");
    assert_eq!(v["checks"][0]["status"], 500);
    assert_eq!(v["checks"][0]["body_excerpt"], "database unavailable");
}

#[tokio::test(flavor = "current_thread")]
async fn an_answer_slower_than_the_budget_fails() {
    let listener = TestListener::start(Health::Slow(Duration::from_millis(700))).await;
    let c = case(
        Some(checks(&listener.base_url, json!({"attempts": 1}))),
        Some(60),
    )
    .await;
    let out = c.hook().await;
    assert_eq!(out["verdict"], "failed", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("over the 500 ms budget"),
        "{out}"
    );
    assert_eq!(c.reported().as_deref(), Some("Failed"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_connection_fails_naming_why() {
    let base = refusing_base_url().await;
    let c = case(Some(checks(&base, json!({"attempts": 2}))), Some(60)).await;
    let out = c.hook().await;
    assert_eq!(out["verdict"], "failed", "{out}");
    let error = out["checks"][0]["error"].as_str().unwrap().to_lowercase();
    assert!(error.contains("refused"), "{error}");
    assert_eq!(out["checks"][0]["attempts"], 2);
    assert_eq!(c.reported().as_deref(), Some("Failed"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_listener_healthy_after_two_failures_passes_on_the_third_attempt() {
    let listener = TestListener::start(Health::HealthyAfter(2)).await;
    let c = case(Some(checks(&listener.base_url, json!({}))), None).await;
    let out = c.hook().await;
    assert_eq!(out["verdict"], "passed", "{out}");
    assert_eq!(out["checks"][0]["attempts"], 3);
    assert_eq!(listener.served(), 3);
    let d = c.guarded.fake.deployment(&c.deployment).unwrap();
    assert!(
        d.termination_started,
        "without a hold, traffic shifts at once"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn no_checks_configured_passes_and_says_so() {
    let c = case(None, Some(60)).await;
    let out = c.hook().await;
    assert_eq!(out["verdict"], "passed", "{out}");
    assert!(
        out["message"]
            .as_str()
            .unwrap()
            .contains("no checks configured for web"),
        "{out}"
    );
    assert_eq!(c.reported().as_deref(), Some("Succeeded"));
    assert_eq!(c.verifications().await[0]["checks"], json!([]));
}

#[tokio::test(flavor = "current_thread")]
async fn a_repeated_delivery_keeps_the_verdict_codedeploy_has() {
    let listener = TestListener::start(Health::HealthyAfter(1)).await;
    let c = case(
        Some(checks(&listener.base_url, json!({"attempts": 1}))),
        Some(60),
    )
    .await;
    let first = c.hook().await;
    assert_eq!(first["verdict"], "failed");
    // Lambda's retry of an asynchronous invocation delivers the hook again; by now the
    // listener is healthy, but CodeDeploy already has the first verdict.
    let again = c.hook().await;
    assert_eq!(again["already_reported"], true, "{again}");
    let recorded = c.verifications().await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0]["verdict"], "failed",
        "the reported verdict stays"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_verdict_is_reported_before_the_deadline_even_when_checks_would_run_longer() {
    let listener = TestListener::start(Health::Slow(Duration::from_secs(5))).await;
    let c = case(
        Some(checks(
            &listener.base_url,
            json!({"timeout_seconds": 10, "attempts": 3}),
        )),
        Some(60),
    )
    .await;
    // 17 s before the deadline leaves 2 s for the checks after the 15 s kept for reporting.
    let started = std::time::Instant::now();
    let out = c.hook_within(17).await.expect("reported");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out["verdict"], "failed", "{out}");
    assert_eq!(c.reported().as_deref(), Some("Failed"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_deployment_of_no_registered_service_fails_the_hook() {
    let listener = TestListener::start(Health::Healthy).await;
    let c = case(Some(checks(&listener.base_url, json!({}))), Some(60)).await;
    let other = c.guarded.fake.deploy("someone-else", "api", "other", "e-0");
    let hook: HookEvent = serde_json::from_value(FakeCodeDeploy::hook_event(&other)).unwrap();
    let home = berth::images::Home {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
    };
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let out = c
        .guarded
        .verify(&c.env)
        .on_hook(&hook, &home, deadline)
        .await
        .unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["verdict"], "failed");
    assert!(
        out["message"].as_str().unwrap().contains(
            "no service in the registry deploys through CodeDeploy application \"someone-else\""
        ),
        "{out}"
    );
    assert_eq!(
        c.guarded.fake.deployment(&other).unwrap().hook.as_deref(),
        Some("Failed")
    );
    assert_eq!(listener.served(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn the_compiled_function_reports_through_the_runtime_api() {
    let listener = TestListener::start(Health::Failing).await;
    let c = case(
        Some(checks(&listener.base_url, json!({"attempts": 1}))),
        Some(60),
    )
    .await;
    let vars = c.guarded.vars(moto_env(&c.env.moto.endpoint));
    let mut verify = Function::spawn("verify", &vars).await;
    let event = FakeCodeDeploy::hook_event(&c.deployment);
    let out = match verify.invoke(&event).await {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("verify failed: {e}"),
    };
    assert_eq!(out["outcome"], "reported", "{out}");
    assert_eq!(out["verdict"], "failed");
    assert_eq!(c.reported().as_deref(), Some("Failed"));
    assert_eq!(c.verifications().await[0]["verdict"], "failed");
    // Something that is not a hook event is acknowledged, not an error.
    match verify.invoke(&json!({"hello": "world"})).await {
        Outcome::Response(v) => assert_eq!(v["outcome"], "ignored", "{v}"),
        Outcome::Error(e) => panic!("{e}"),
    }
    // A short invocation deadline: the function still reports, before it.
    let slow = TestListener::start(Health::Slow(Duration::from_secs(8))).await;
    let entry = guarded_registry(
        &c.env.default_subnets().await,
        Some(checks(
            &slow.base_url,
            json!({"timeout_seconds": 10, "attempts": 1}),
        )),
    );
    c.env.put_registry(&entry).await;
    let second = c
        .guarded
        .fake
        .deploy("berth-web", "web", "berth-web", &c.execution);
    let out = verify
        .invoke_for(
            &FakeCodeDeploy::hook_event(&second),
            Duration::from_secs(18),
        )
        .await;
    match out {
        Outcome::Response(v) => assert_eq!(v["verdict"], "failed", "{v}"),
        Outcome::Error(e) => panic!("{e}"),
    }
    assert_eq!(
        c.guarded.fake.deployment(&second).unwrap().hook.as_deref(),
        Some("Failed")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn with_a_verify_function_every_appspec_names_it_as_the_test_traffic_hook() {
    let env = Env::start().await;
    let mut settings = env.settings();
    settings.verify_function = Some("berth-verify".into());
    let on_manifest = berth::on_manifest::Context::new(env.clients.clone(), settings);
    let key = "manifests/web/v1.json";
    let doc = json!({"schema": "berth/v1", "service": "web", "release": "v1",
        "images": {"app": format!("{}:v1.0.0", repo_uri("web/app"))}, "migration": null});
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = on_manifest
        .on_event(s3_event(key, &version), &env.invocation())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(out).unwrap()["results"][0]["outcome"],
        "started"
    );
    let zip = env
        .get_object("artifacts/web/source.zip", None)
        .await
        .unwrap();
    let appspec = berth::render::read_artifact_file(&zip, "appspec.yaml").unwrap();
    let appspec = String::from_utf8(appspec).unwrap();
    assert!(
        appspec.ends_with("Hooks:\n  - AfterAllowTestTraffic: \"berth-verify\"\n"),
        "{appspec}"
    );
}

/// A service ECS deploys itself (blue/green): the hook event as the ECS developer guide shows it
/// ("Lambda hooks for Amazon ECS service deployments", Lifecycle payloads), for `web`.
mod ecs_hook {
    use std::sync::Arc;

    use berth_tests::StandIn;
    use berth_tests::proxy::{Proxy, Routes};

    use super::*;

    const DEPLOYMENT: &str =
        "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/EZe5RNVLH6PPzHXINuP28";
    const GREEN: &str =
        "arn:aws:ecs:ap-northeast-1:123456789012:service-revision/prod/web/9313423515462893900";

    fn event(stage: &str) -> Value {
        json!({
          "executionId": "3a0345ba-b029-404b-890d-7da2a4b266aa",
          "lifecycleStage": stage,
          "resourceArn": DEPLOYMENT,
          "executionDetails": {
            "serviceArn": "arn:aws:ecs:ap-northeast-1:123456789012:service/prod/web",
            "targetServiceRevisionArn": GREEN,
            "testTrafficWeights": {},
            "productionTrafficWeights": {}
          }
        })
    }

    /// ECS's DescribeServiceRevisions (moto has none) and the pipeline's state with berth's
    /// Deploy action following the service deployment for `execution`, behind a proxy that
    /// sends the rest of CodePipeline to moto.
    async fn stand_ins(env: &Env, execution: &str) -> (StandIn, Proxy) {
        let execution = execution.to_owned();
        let task_definition = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:1");
        let server = StandIn::start(Arc::new(move |op, body| match op {
            "DescribeServiceRevisions" => {
                assert_eq!(body["serviceRevisionArns"], json!([GREEN]));
                (200, json!({"serviceRevisions": [{"serviceRevisionArn": GREEN,
                    "taskDefinition": task_definition}], "failures": []}))
            }
            "GetPipelineState" => (200, json!({"pipelineName": "berth-web", "stageStates": [{
                "stageName": "Release",
                "latestExecution": {"pipelineExecutionId": execution, "status": "InProgress"},
                "actionStates": [{"actionName": "Deploy",
                    "latestExecution": {"status": "InProgress", "externalExecutionId": DEPLOYMENT}}]
            }]})),
            other => (400, json!({"__type": "UnknownOperationException", "message": other})),
        }))
        .await;
        let mut routes = Routes::to(&env.moto.endpoint);
        let at = server
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("loopback");
        routes.by_operation.insert("GetPipelineState".into(), at);
        (server, Proxy::start(routes).await)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_compiled_function_answers_ecs_across_invocations_and_records_the_verdict() {
        let env = Env::start().await;
        let listener = TestListener::start(Health::HealthyAfter(1)).await;
        let mut entry = web_registry(&env.default_subnets().await);
        entry["verify"] = checks(
            &listener.base_url,
            json!({"attempts": 2, "interval_seconds": 7}),
        );
        env.put_registry(&entry).await;
        let started = env.release_web("v1", "v1.0.0").await;
        let execution = started["pipeline_execution_id"].as_str().expect("started");
        let (server, proxy) = stand_ins(&env, execution).await;
        let mut vars = moto_env(&env.moto.endpoint);
        vars.push(("AWS_ENDPOINT_URL_ECS", server.endpoint.clone()));
        vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", proxy.endpoint.clone()));
        let mut verify = Function::spawn("verify", &vars).await;

        let first = verify
            .invoke(&event("POST_TEST_TRAFFIC_SHIFT"))
            .await
            .response();
        assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
        assert_eq!(first["callBackDelay"], 7);
        assert_eq!(listener.served(), 1);
        // ECS passes the hookDetails back with the next invocation.
        let mut next = event("POST_TEST_TRAFFIC_SHIFT");
        next["hookDetails"] = first["hookDetails"].clone();
        let second = verify.invoke(&next).await.response();
        assert_eq!(second["hookStatus"], "SUCCEEDED", "{second}");
        let mut keys: Vec<&String> = second.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["hookDetails", "hookStatus"],
            "nothing ECS does not read"
        );
        assert_eq!(second["hookDetails"]["berthVerify"]["release"], "v1");
        assert_eq!(listener.served(), 2);

        let record = env.get_json("releases/web/v1.json").await.unwrap();
        let v = &record["verifications"][0];
        assert_eq!(v["deployment_id"], DEPLOYMENT);
        assert_eq!(v["pipeline_execution_id"], execution);
        assert_eq!(v["verdict"], "passed");
        assert_eq!(v["checks"][0]["attempts"], 2);

        // A stage where the test listener does not reach the new revision is refused.
        let early = verify.invoke(&event("PRE_SCALE_UP")).await.response();
        assert_eq!(early["hookStatus"], "FAILED", "{early}");
        assert_eq!(listener.served(), 2);
    }
}

/// The service stacks' target group alarms, one per target group, as the registry lists them
/// (`target_group_alarms`), with the group each is about.
const TARGET_GROUP_ALARMS: [(&str, &str); 2] = [
    (
        "berth-web-tg-1-target-5xx",
        berth_tests::codedeploy::TARGET_GROUPS[0],
    ),
    (
        "berth-web-tg-2-target-5xx",
        berth_tests::codedeploy::TARGET_GROUPS[1],
    ),
];

/// `web` listing the target group alarms, release v1's deployment on test traffic (no checks,
/// no hold: a verified deployment shifts at once).
async fn alarm_case() -> Case {
    let c = case(None, None).await;
    let mut entry = guarded_registry(&c.env.default_subnets().await, None);
    entry["target_group_alarms"] = json!(TARGET_GROUP_ALARMS.map(|(name, _)| name));
    c.env.put_registry(&entry).await;
    c
}

impl Case {
    /// The alarm of target group `group` changed to `state`, as EventBridge delivers it.
    async fn alarm(&self, group: &str, state: &str) -> Value {
        let (name, _) = TARGET_GROUP_ALARMS
            .iter()
            .find(|(_, g)| *g == group)
            .expect("a target group of the service");
        let change = berth::verify::alarm::parse(alarm_event(name, state, group)).expect("parses");
        let home = berth::images::Home {
            account_id: ACCOUNT.into(),
            region: REGION.into(),
        };
        let out = self.guarded.verify(&self.env).on_alarm(change, &home).await;
        serde_json::to_value(out.expect("weighed")).unwrap()
    }

    fn status_of(&self, id: &str) -> String {
        self.guarded.fake.deployment(id).expect("deployment").status
    }

    fn stops(&self) -> usize {
        let ops = self.guarded.fake.operations();
        ops.iter()
            .filter(|o| o.as_str() == "StopDeployment")
            .count()
    }
}

/// During an incident production — blue — alarms. The deployment of the fix replaces blue: its
/// alarm neither stops it on test traffic nor after production traffic moved to the fix.
#[tokio::test(flavor = "current_thread")]
async fn an_alarm_about_the_version_being_replaced_never_stops_its_replacement() {
    let c = alarm_case().await;
    let d = c.guarded.fake.deployment(&c.deployment).unwrap();
    let out = c.alarm(&d.blue_target_group, "ALARM").await;
    assert_eq!(out["rolled_back"], false, "{out}");
    assert_eq!(out["deployment_id"], c.deployment.as_str(), "{out}");
    let reason = out["reason"].as_str().unwrap();
    assert!(reason.contains("version being replaced"), "{reason}");
    assert!(reason.contains(&d.blue_target_group), "{reason}");
    assert_eq!(c.hook().await["verdict"], "passed");
    assert_eq!(c.status_of(&c.deployment), "InProgress", "traffic shifted");
    let out = c.alarm(&d.blue_target_group, "ALARM").await;
    assert_eq!(out["rolled_back"], false, "{out}");
    assert_eq!(c.stops(), 0, "the fix was never stopped");
    assert_eq!(c.status_of(&c.deployment), "InProgress");
    let ops = c.guarded.fake.operations();
    assert!(
        ops.iter().filter(|o| *o == "GetDeploymentTarget").count() >= 2,
        "the replacement task set was read each time: {ops:?}"
    );
}

/// The new version alarms after production traffic moved to it: the deployment stops with
/// rollback (traffic back on blue, which still runs in the termination wait), and the release
/// record says which alarm did it. The next deployment swaps the groups: the same alarm is then
/// about the version being replaced, and the other group's alarm rolls back.
#[tokio::test(flavor = "current_thread")]
async fn an_alarm_about_the_new_version_rolls_it_back_whichever_group_is_green() {
    let c = alarm_case().await;
    assert_eq!(c.hook().await["verdict"], "passed");
    let green = c
        .guarded
        .fake
        .deployment(&c.deployment)
        .unwrap()
        .green_target_group;
    let out = c.alarm(&green, "OK").await;
    assert_eq!(out["rolled_back"], false, "recovering is no reason: {out}");
    let out = c.alarm(&green, "ALARM").await;
    assert_eq!(out["rolled_back"], true, "{out}");
    assert_eq!(out["recorded"], true, "{out}");
    let stopped = c.guarded.fake.deployment(&c.deployment).unwrap();
    assert_eq!(stopped.status, "Stopped");
    assert_eq!(stopped.stopped_with_rollback, Some(true));
    let record = c.env.get_json("releases/web/v1.json").await.unwrap();
    let noted = &record["interventions"][0];
    assert_eq!(noted["action"], "traffic_rollback", "{record}");
    assert_eq!(noted["deployment_id"], c.deployment.as_str());
    assert!(noted["by"].as_str().unwrap().contains("tg-2"), "{noted}");

    let next = c
        .guarded
        .fake
        .deploy("berth-web", "web", "berth-web", &c.execution);
    let swapped = c.guarded.fake.deployment(&next).unwrap();
    assert_eq!(swapped.blue_target_group, green, "the groups swapped roles");
    let out = c.alarm(&green, "ALARM").await;
    assert_eq!(out["rolled_back"], false, "{out}");
    assert_eq!(c.status_of(&next), "InProgress");
    let out = c.alarm(&swapped.green_target_group, "ALARM").await;
    assert_eq!(out["rolled_back"], true, "{out}");
    assert_eq!(c.status_of(&next), "Stopped");
}

/// The compiled function tells an alarm event from a hook event, through the Runtime API.
#[tokio::test(flavor = "current_thread")]
async fn the_compiled_function_rolls_back_on_the_alarm_event_eventbridge_delivers() {
    let c = alarm_case().await;
    let vars = c.guarded.vars(moto_env(&c.env.moto.endpoint));
    let mut verify = Function::spawn("verify", &vars).await;
    let green = c
        .guarded
        .fake
        .deployment(&c.deployment)
        .unwrap()
        .green_target_group;
    let (alarm, _) = TARGET_GROUP_ALARMS
        .iter()
        .find(|(_, g)| *g == green)
        .unwrap();
    let out = match verify.invoke(&alarm_event(alarm, "ALARM", &green)).await {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("verify failed: {e}"),
    };
    assert_eq!(out["rolled_back"], true, "{out}");
    assert_eq!(c.status_of(&c.deployment), "Stopped");
}
