//! `berth promote`, `finish`, `rollback` and `status` on a blue/green deployment in flight:
//! the compiled CLI against moto (records, registry, executions, STS) and the CodeDeploy
//! stand-in (moto implements neither ContinueDeployment nor StopDeployment, nor deployment
//! progress).

use std::process::Output;

use berth_tests::codedeploy::{FakeCodeDeploy, Guarded, guarded_registry};
use berth_tests::listener::{Health, TestListener};
use berth_tests::runtime::{function_binary, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

struct Case {
    env: Env,
    guarded: Guarded,
    deployment: String,
    execution: String,
    _listener: TestListener,
}

async fn case(promote_wait: Option<i32>) -> Case {
    let env = Env::start().await;
    let listener = TestListener::start(Health::Healthy).await;
    let verify = json!({"base_url": listener.base_url, "checks": [{"path": "/health"}],
        "attempts": 1, "interval_seconds": 0, "timeout_seconds": 2});
    env.put_registry(&guarded_registry(
        &env.default_subnets().await,
        Some(verify),
    ))
    .await;
    let started = env.release_web("v1", "v1.0.0").await;
    let execution = started["pipeline_execution_id"]
        .as_str()
        .unwrap()
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
        _listener: listener,
    }
}

impl Case {
    /// The hook, as CodeDeploy calls it once green runs behind the test listener.
    async fn verified(&self) {
        let hook = serde_json::from_value(FakeCodeDeploy::hook_event(&self.deployment)).unwrap();
        let home = berth::images::Home {
            account_id: ACCOUNT.into(),
            region: REGION.into(),
        };
        let deadline = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        let ctx = self.guarded.verify(&self.env);
        ctx.on_hook(&hook, &home, deadline).await.expect("reported");
    }

    /// Runs the CLI off the test's thread, so the stand-ins on it keep answering.
    async fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(function_binary("berth"));
        cmd.env_clear().args(args);
        let mut vars = self.guarded.vars(moto_env(&self.env.moto.endpoint));
        vars.retain(|(k, _)| *k != "AWS_LAMBDA_LOG_FORMAT");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("berth runs"))
            .await
            .unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let out = self.berth(args).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn status(&self) -> String {
        self.guarded
            .fake
            .deployment(&self.deployment)
            .unwrap()
            .status
    }

    fn continued(&self) -> Vec<Value> {
        self.guarded.fake.server.calls.bodies("ContinueDeployment")
    }

    async fn record(&self) -> Value {
        self.env.get_json("releases/web/v1.json").await.unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn a_held_deployment_is_shown_promoted_and_finished_by_whoever_asked() {
    let c = case(Some(60)).await;
    c.verified().await;
    assert_eq!(c.status(), "Ready");

    let s = c.json(&["status", "web", "--output", "json"]).await;
    assert_eq!(s["deployment"]["id"], c.deployment.as_str(), "{s}");
    assert_eq!(s["deployment"]["release"], "v1");
    assert_eq!(s["deployment"]["phase"]["phase"], "waiting_for_promote");
    assert!(
        s["deployment"]["phase"]["until"].is_i64(),
        "a deadline: {s}"
    );
    assert_eq!(s["verification"]["verdict"], "passed");
    let shown = text(&c.berth(&["status", "web"]).await.stdout);
    assert!(shown.contains("waiting for promote until 20"), "{shown}");
    assert!(shown.contains("verify     passed"), "{shown}");
    assert!(shown.contains("ok  GET http://127.0.0.1:"), "{shown}");

    let early = c.berth(&["finish", "web"]).await;
    assert_eq!(early.status.code(), Some(1));
    assert!(text(&early.stderr).contains("finish applies during the termination wait"));
    assert!(c.continued().is_empty(), "nothing asked of CodeDeploy");

    let promoted = c.berth(&["promote", "web"]).await;
    assert!(promoted.status.success(), "{}", text(&promoted.stderr));
    let said = text(&promoted.stdout);
    assert!(
        said.contains("promoted web v1: production traffic is moving"),
        "{said}"
    );
    assert!(said.contains("by arn:aws:"), "{said}");
    assert_eq!(c.continued()[0]["deploymentWaitType"], "READY_WAIT");
    let noted = &c.record().await["interventions"][0];
    assert_eq!(noted["action"], "promote");
    assert_eq!(noted["deployment_id"], c.deployment.as_str());
    assert_eq!(noted["pipeline_execution_id"], c.execution.as_str());
    assert!(noted["by"].as_str().unwrap().starts_with("arn:aws:"));

    // CodeDeploy never sets instanceTerminationWaitTimeStarted for ECS (the stand-in answers
    // false): the wait and its end come from the target and its lifecycle events.
    let s = c.json(&["status", "web", "--output", "json"]).await;
    assert_eq!(s["deployment"]["phase"]["phase"], "termination_wait", "{s}");
    assert!(
        s["deployment"]["phase"]["until"].is_i64(),
        "a deadline: {s}"
    );
    let shown = text(&c.berth(&["status", "web"]).await.stdout);
    assert!(
        shown.contains("termination wait until 20") && shown.contains("(blue still running)"),
        "{shown}"
    );
    let again = c.berth(&["promote", "web"]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again.stderr).contains("promote applies while it waits for promote"));

    let finished = c.berth(&["finish", "web", "--output", "json"]).await;
    assert!(finished.status.success(), "{}", text(&finished.stderr));
    let f: Value = serde_json::from_slice(&finished.stdout).unwrap();
    assert_eq!(f["outcome"], "done");
    assert_eq!(c.continued()[1]["deploymentWaitType"], "TERMINATION_WAIT");
    assert_eq!(c.status(), "Succeeded");
    assert_eq!(c.record().await["interventions"][1]["action"], "finish");

    let none = c.berth(&["promote", "web"]).await;
    assert_eq!(none.status.code(), Some(1));
    assert!(text(&none.stderr).contains("no deployment of web is in progress"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_notification_names_the_verdict_and_who_promoted() {
    let c = case(Some(60)).await;
    c.verified().await;
    assert!(c.berth(&["promote", "web"]).await.status.success());
    let webhook = StandIn::job_api().await;
    let notifier =
        berth::notify::Notifier::new(Some(&format!("{}/hook", webhook.endpoint))).unwrap();
    let ctx = berth::on_pipeline_event::Context::new(&c.env.clients, &c.env.settings(), notifier);
    let event = serde_json::from_value(pipeline_event_json("berth-web", &c.execution, "SUCCEEDED"))
        .unwrap();
    let out = ctx
        .on_event(event, std::time::SystemTime::now())
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(out).unwrap()["notified"], true);
    let sent = webhook.calls.bodies("POST /hook");
    let message = sent[0]["text"].as_str().unwrap();
    assert!(
        message.contains("\nverify: passed (1 check(s) passed on the test listener)"),
        "{message}"
    );
    assert!(message.contains("\npromoted by arn:aws:"), "{message}");
}

#[tokio::test(flavor = "current_thread")]
async fn rollback_while_blue_runs_is_a_traffic_switch_not_a_redeploy() {
    let c = case(None).await;
    c.verified().await;
    let d = c.guarded.fake.deployment(&c.deployment).unwrap();
    assert!(d.termination_started, "traffic shifted, blue kept");
    let executions = c.env.executions("berth-web").await.len();

    let out = c.berth(&["rollback", "web"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("rolled back web v1 by traffic switch"),
        "{said}"
    );
    assert!(
        said.contains("traffic is back on the original task set"),
        "{said}"
    );
    let stop = &c.guarded.fake.server.calls.bodies("StopDeployment")[0];
    assert_eq!(stop["autoRollbackEnabled"], true);
    assert_eq!(c.status(), "Stopped");
    assert_eq!(
        c.env.executions("berth-web").await.len(),
        executions,
        "no pipeline execution started"
    );
    let noted = &c.record().await["interventions"][0];
    assert_eq!(noted["action"], "traffic_rollback");
    assert!(noted["by"].as_str().unwrap().starts_with("arn:aws:"));

    // While a second deployment is on test traffic, JSON names the kind.
    let second = c
        .guarded
        .fake
        .deploy("berth-web", "web", "berth-web", &c.execution);
    let r = c.json(&["rollback", "web", "--output", "json"]).await;
    assert_eq!(r["kind"], "traffic_switch", "{r}");
    assert_eq!(r["deployment_id"], second.as_str());
    assert_eq!(r["outcome"], "traffic_switched");
}

#[tokio::test(flavor = "current_thread")]
async fn rollback_with_nothing_in_flight_redeploys_the_last_known_good() {
    let c = case(None).await;
    c.verified().await;
    assert!(c.berth(&["finish", "web"]).await.status.success());
    c.env.pipeline_event(&c.execution, "SUCCEEDED").await;
    for (release, tag) in [("v2", "v1.4.2"), ("v3", "3f9c2e1")] {
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let started = c.env.release_web(release, tag).await;
        let execution = started["pipeline_execution_id"].as_str().unwrap();
        c.env.pipeline_event(execution, "SUCCEEDED").await;
    }

    let out = c.berth(&["rollback", "web"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(
        said.contains("rolling web back to v2 by redeploy"),
        "{said}"
    );
    assert!(
        c.guarded
            .fake
            .server
            .calls
            .bodies("StopDeployment")
            .is_empty()
    );
    let v2 = c.env.get_json("releases/web/v2.json").await.unwrap();
    let by = v2["redeployments"][0]["by"].as_str().unwrap_or_default();
    assert!(by.starts_with("arn:aws:"), "{v2}");

    // --redeploy redeploys even while a deployment is in flight.
    c.guarded
        .fake
        .deploy("berth-web", "web", "berth-web", &c.execution);
    let r = c
        .json(&["rollback", "web", "--redeploy", "--output", "json"])
        .await;
    assert_eq!(r["kind"], "redeploy", "{r}");
    assert!(r["by"].as_str().unwrap().starts_with("arn:aws:"));
    assert!(
        c.guarded
            .fake
            .server
            .calls
            .bodies("StopDeployment")
            .is_empty()
    );
}
