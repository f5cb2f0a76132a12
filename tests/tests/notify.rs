//! Notifications and metrics through the compiled functions against moto: the Slack webhook URL
//! read from an SSM SecureString, one JSON message per finished release on an SNS topic (read
//! back from an SQS subscription), and Embedded Metric Format lines on standard output.

use berth_tests::runtime::{Function, Outcome, moto_env};
use berth_tests::sns::{received, topic_with_queue};
use berth_tests::*;
use serde_json::Value;

fn metrics(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["_aws"]["CloudWatchMetrics"].is_array())
        .collect()
}

async fn put_secure(env: &Env, name: &str, value: &str) {
    env.clients
        .ssm
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn finished_releases_reach_slack_from_a_secure_string_sns_and_metrics() {
    let env = Env::start().await;
    let slack = StandIn::job_api().await;
    put_secure(
        &env,
        "/berth/slack-webhook",
        &format!("{}/slack", slack.endpoint),
    )
    .await;
    let (topic, queue) = topic_with_queue(&env).await;
    let mut vars = moto_env(&env.moto.endpoint);
    vars.push((
        "BERTH_SLACK_WEBHOOK_PARAMETER",
        "/berth/slack-webhook".into(),
    ));
    vars.push(("BERTH_SNS_TOPIC_ARN", topic));
    let mut events = Function::spawn_capturing("on-pipeline-event", &vars).await;
    let mut manifest =
        Function::spawn_capturing("on-manifest", &moto_env(&env.moto.endpoint)).await;

    let key = "manifests/web/v1.json";
    let doc = serde_json::json!({"schema": "berth/v1", "service": "web", "release": "v1",
        "images": {"app": format!("{}:v1.0.0", repo_uri("web/app"))}, "migration": null});
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let Outcome::Response(started) = manifest.invoke(&s3_event_json(key, &version)).await else {
        panic!("on-manifest failed")
    };
    let execution = started["results"][0]["pipeline_execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let started_metrics = metrics(&manifest.stdout());
    assert_eq!(started_metrics.len(), 1, "{:?}", manifest.stdout());
    assert_eq!(started_metrics[0]["ReleasesStarted"], 1.0);
    assert_eq!(started_metrics[0]["Service"], "web");
    assert_eq!(
        started_metrics[0]["level"], "INFO",
        "a level, so Lambda's log filter keeps it"
    );

    let out = events
        .invoke(&pipeline_event_json("berth-web", &execution, "SUCCEEDED"))
        .await;
    let Outcome::Response(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out["notified"], true, "{out}");
    let text = slack.calls.bodies("POST /slack")[0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains("web release v1 succeeded"), "{text}");

    let envelopes = received(&env, &queue).await;
    assert_eq!(envelopes.len(), 1, "one message per finished release");
    let e = &envelopes[0];
    assert_eq!(e["Subject"], "berth: SUCCEEDED web v1");
    assert_eq!(e["MessageAttributes"]["service"]["Value"], "web");
    assert_eq!(e["MessageAttributes"]["status"]["Value"], "SUCCEEDED");
    let message: Value = serde_json::from_str(e["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["schema"], "berth/release-finished/v1");
    assert_eq!(message["service"], "web");
    assert_eq!(message["release"], "v1");
    assert_eq!(message["status"], "SUCCEEDED");
    assert_eq!(message["pipeline_execution_id"], execution.as_str());
    assert!(
        message["images"]["app"]
            .as_str()
            .unwrap()
            .contains("@sha256:")
    );

    let m = metrics(&events.stdout());
    assert_eq!(m.len(), 1, "{:?}", events.stdout());
    assert_eq!(m[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "berth");
    assert_eq!(
        m[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["Service"]])
    );
    assert_eq!(m[0]["ReleasesSucceeded"], 1.0);
    assert!(m[0]["LeadTimeSeconds"].as_f64().unwrap() >= 0.0);
    assert!(m[0]["DeploymentSeconds"].is_f64());

    // A repeated event notifies and counts nothing again.
    events
        .invoke(&pipeline_event_json("berth-web", &execution, "SUCCEEDED"))
        .await;
    assert_eq!(slack.calls.bodies("POST /slack").len(), 1);
    assert_eq!(metrics(&events.stdout()).len(), 1);
    assert_eq!(
        received(&env, &queue).await.len(),
        0,
        "nothing new on the queue"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_webhook_parameter_unreadable_at_start_is_read_again_when_needed() {
    let env = Env::start().await;
    let slack = StandIn::job_api().await;
    let mut vars = moto_env(&env.moto.endpoint);
    vars.push((
        "BERTH_SLACK_WEBHOOK_PARAMETER",
        "/berth/slack-webhook".into(),
    ));
    let mut events = Function::spawn("on-pipeline-event", &vars).await;

    let first = env.release_web("v1", "v1.0.0").await;
    let out = events
        .invoke(&pipeline_event_json(
            "berth-web",
            first["pipeline_execution_id"].as_str().unwrap(),
            "FAILED",
        ))
        .await;
    let Outcome::Response(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        out["status"], "FAILED",
        "the status is recorded without Slack: {out}"
    );
    assert_eq!(out["notified"], false);

    put_secure(
        &env,
        "/berth/slack-webhook",
        &format!("{}/slack", slack.endpoint),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = env.release_web("v2", "v1.4.2").await;
    let out = events
        .invoke(&pipeline_event_json(
            "berth-web",
            second["pipeline_execution_id"].as_str().unwrap(),
            "SUCCEEDED",
        ))
        .await;
    let Outcome::Response(out) = out else {
        panic!("{out:?}")
    };
    assert_eq!(out["notified"], true, "{out}");
    assert_eq!(slack.calls.bodies("POST /slack").len(), 1);
}
