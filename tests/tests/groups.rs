//! Release groups through the compiled functions against moto: one group manifest checks every
//! member first, starts one release per service through its own pipeline, and announces the
//! group once when its last member ends; `berth releases --group` and `status --group` show it.

use std::process::Command;

use berth_tests::runtime::{Function, Outcome, function_binary, moto_env};
use berth_tests::sns::{received, topic_with_queue};
use berth_tests::*;
use serde_json::{Value, json};

/// `web` (seeded), `wide1` and `wide2`: three services, each with its own pipeline.
async fn three_services() -> (Env, Value, Value) {
    let mut env = Env::start().await;
    let wide1 = env.seed_wide_service(1).await;
    let wide2 = env.seed_wide_service(2).await;
    (env, wide1, wide2)
}

fn group_doc(release: &str, wide1: &Value, wide2: &Value) -> Value {
    json!({"schema": "berth/group/v1", "group": "shop", "release": release, "services": {
        "web": {"images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))}, "migration": null},
        "wide1": {"images": wide1},
        "wide2": {"images": wide2}}})
}

fn berth(args: &[&str], env: &Env) -> (i32, String) {
    let out = Command::new(function_binary("berth"))
        .env_clear()
        .args(args)
        .envs(moto_env(&env.moto.endpoint))
        .env("BERTH_ACCOUNT_ID", ACCOUNT)
        .output()
        .expect("berth runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

/// The execution each member's outcome names.
fn executions(out: &Value) -> std::collections::BTreeMap<String, String> {
    out["results"][0]["members"]
        .as_array()
        .expect("a group outcome")
        .iter()
        .map(|m| {
            let service = m["service"].as_str().unwrap().to_owned();
            (
                service,
                m["pipeline_execution_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_group_releases_each_service_and_announces_itself_once_when_the_last_ends() {
    let (env, wide1, wide2) = three_services().await;
    let slack = StandIn::job_api().await;
    let (topic, queue) = topic_with_queue(&env).await;
    let mut vars = moto_env(&env.moto.endpoint);
    vars.push((
        "BERTH_SLACK_WEBHOOK_URL",
        format!("{}/slack", slack.endpoint),
    ));
    vars.push(("BERTH_SNS_TOPIC_ARN", topic));
    let mut on_manifest = Function::spawn("on-manifest", &moto_env(&env.moto.endpoint)).await;
    let mut on_event = Function::spawn("on-pipeline-event", &vars).await;

    let key = "groups/shop/g1.json";
    let doc = group_doc("g1", &wide1, &wide2);
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let Outcome::Response(out) = on_manifest.invoke(&s3_event_json(key, &version)).await else {
        panic!("on-manifest failed")
    };
    assert_eq!(out["results"][0]["outcome"], "group", "{out}");
    let started = executions(&out);
    assert_eq!(started.len(), 3, "{out}");
    for (service, execution) in &started {
        let pipeline = format!("berth-{service}");
        assert_eq!(
            env.executions(&pipeline).await,
            std::slice::from_ref(execution),
            "{service}"
        );
        let record = env
            .get_json(&format!("releases/{service}/g1.json"))
            .await
            .unwrap();
        assert_eq!(record["group"], "shop");
        assert_eq!(record["manifest"]["key"], key);
    }
    let web = env.get_json("releases/web/g1.json").await.unwrap();
    let digest = env.digests["web/app:v1.4.2"].clone();
    assert_eq!(
        web["images"]["app"],
        format!("{}@{digest}", repo_uri("web/app"))
    );
    let group = env.get_json("group-releases/shop/g1.json").await.unwrap();
    assert_eq!(group["status"], "IN_PROGRESS");
    assert_eq!(group["members"]["wide1"]["status"], "IN_PROGRESS");

    // A repeated delivery starts nothing more.
    let Outcome::Response(again) = on_manifest.invoke(&s3_event_json(key, &version)).await else {
        panic!("repeated delivery failed")
    };
    assert_eq!(executions(&again), started);
    assert!(
        again["results"][0]["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["outcome"] == "duplicate"),
        "{again}"
    );
    assert_eq!(env.executions("berth-web").await.len(), 1);

    for (service, state) in [("web", "SUCCEEDED"), ("wide1", "FAILED")] {
        let event = pipeline_event_json(&format!("berth-{service}"), &started[service], state);
        assert!(matches!(
            on_event.invoke(&event).await,
            Outcome::Response(_)
        ));
    }
    let group = env.get_json("group-releases/shop/g1.json").await.unwrap();
    assert_eq!(group["status"], "IN_PROGRESS", "one member still runs");
    assert_eq!(
        received(&env, &queue).await.len(),
        2,
        "one message per finished release so far"
    );

    let last = pipeline_event_json("berth-wide2", &started["wide2"], "SUCCEEDED");
    assert!(matches!(on_event.invoke(&last).await, Outcome::Response(_)));
    assert!(
        matches!(on_event.invoke(&last).await, Outcome::Response(_)),
        "a repeated event"
    );
    let group = env.get_json("group-releases/shop/g1.json").await.unwrap();
    assert_eq!(group["status"], "FAILED", "{group}");
    assert_eq!(group["notified"], true);
    assert_eq!(group["members"]["wide1"]["status"], "FAILED");
    assert_eq!(
        group["members"]["web"]["pipeline_execution_id"],
        started["web"].as_str()
    );

    let envelopes = received(&env, &queue).await;
    let groups: Vec<&Value> = envelopes
        .iter()
        .filter(|e| e["MessageAttributes"]["group"]["Value"] == "shop")
        .collect();
    assert_eq!(
        groups.len(),
        1,
        "the group is announced once: {envelopes:?}"
    );
    assert_eq!(groups[0]["Subject"], "berth: FAILED group shop g1");
    let message: Value = serde_json::from_str(groups[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["schema"], "berth/group-finished/v1");
    assert_eq!(message["members"]["web"]["status"], "SUCCEEDED");
    assert_eq!(message["members"]["wide1"]["status"], "FAILED");
    assert_eq!(
        message["members"]["web"]["images"]["app"],
        web["images"]["app"]
    );
    let texts: Vec<String> = slack
        .calls
        .bodies("POST /slack")
        .iter()
        .filter_map(|b| b["text"].as_str().map(str::to_owned))
        .filter(|t| t.contains("group shop"))
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with(":x: group shop release g1 failed: 1 of 3 service(s) did not succeed"),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("• wide1: FAILED"), "{}", texts[0]);

    let (code, listed) = berth(&["releases", "--group", "shop", "--output", "json"], &env);
    assert_eq!(code, 0, "{listed}");
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["release"], "g1");
    assert_eq!(listed[0]["status"], "FAILED");
    assert_eq!(
        berth(&["status", "--group", "nosuch"], &env).0,
        1,
        "no releases"
    );
    assert_eq!(
        berth(&["releases", "--group", "a/b"], &env).0,
        2,
        "not a group name"
    );
    assert_eq!(berth(&["releases", "--group", "shop", "--all"], &env).0, 2);
    let (code, status) = berth(&["status", "--group", "shop"], &env);
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("group:    shop release g1"), "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("wide1") && l.contains("FAILED")),
        "{status}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_invalid_member_stops_the_whole_group_with_every_problem_listed() {
    let (env, wide1, _) = three_services().await;
    let key = "groups/shop/g2.json";
    let doc = json!({"schema": "berth/group/v1", "group": "shop", "release": "g2", "services": {
        "web": {"images": {"app": format!("{}:v9.9.9", repo_uri("web/app"))}},
        "wide1": {"images": wide1, "tag": "x"},
        "ghost": {"images": {"app": "ghost/app:v1"}}}});
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = env.deliver(key, &version).await.unwrap();
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    let report = env.get_json("rejected/groups/shop/g2.json").await.unwrap();
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let named = |prefix: &str| errors.iter().any(|e| e.starts_with(prefix));
    assert!(named("services.wide1.tag: unknown field"), "{errors:?}");
    assert!(named("services.ghost"), "{errors:?}");
    assert!(
        named("services.web.images.app"),
        "the unknown tag: {errors:?}"
    );
    assert!(
        !named("services.wide1.images"),
        "wide1's images are fine: {errors:?}"
    );
    for pipeline in ["berth-web", "berth-wide1"] {
        assert!(
            env.executions(pipeline).await.is_empty(),
            "nothing starts: {pipeline}"
        );
    }
    assert!(env.get_json("group-releases/shop/g2.json").await.is_none());
    assert!(env.get_json("releases/wide1/g2.json").await.is_none());
}

#[tokio::test(flavor = "current_thread")]
async fn a_group_release_is_immutable_and_a_member_release_name_must_be_free() {
    let (env, wide1, wide2) = three_services().await;
    env.release_web("g3", "v1.0.0").await;
    let key = "groups/shop/g3.json";
    let version = env
        .put_manifest(key, group_doc("g3", &wide1, &wide2).to_string().as_bytes())
        .await;
    let out = env.deliver(key, &version).await.unwrap();
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    let errors = out["results"][0]["errors"].to_string();
    assert!(
        errors.contains("services.web.release: \\\"g3\\\" of service \\\"web\\\" already exists"),
        "{errors}"
    );
    assert!(env.executions("berth-wide1").await.is_empty());

    let key = "groups/shop/g4.json";
    let first = env
        .put_manifest(key, group_doc("g4", &wide1, &wide2).to_string().as_bytes())
        .await;
    let out = env.deliver(key, &first).await.unwrap();
    assert_eq!(out["results"][0]["outcome"], "group", "{out}");
    let second = env
        .put_manifest(key, group_doc("g4", &wide1, &wide2).to_string().as_bytes())
        .await;
    let out = env.deliver(key, &second).await.unwrap();
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    assert!(
        out["results"][0]["errors"][0]
            .as_str()
            .unwrap()
            .contains("group \"shop\" already exists"),
        "{out}"
    );
    assert_eq!(env.executions("berth-wide2").await.len(), 1);
}

/// `berth release <group.json> --wait` uploads the group manifest and prints the members'
/// states on each change until the group ends: exit 0 when every service succeeded.
#[tokio::test(flavor = "current_thread")]
async fn berth_release_uploads_a_group_and_waits_for_every_service() {
    let (env, wide1, wide2) = three_services().await;
    let dir = std::env::temp_dir().join(format!("berth-groups-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("group.json");
    std::fs::write(&path, group_doc("g5", &wide1, &wide2).to_string()).unwrap();
    let mut cmd = tokio::process::Command::new(function_binary("berth"));
    cmd.env_clear()
        .args([
            "release",
            path.to_str().unwrap(),
            "--wait",
            "--poll-seconds",
            "1",
        ])
        .envs(moto_env(&env.moto.endpoint))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let child = cmd.spawn().expect("berth runs");
    let key = "groups/shop/g5.json";
    let version = loop {
        if let Some(v) = env.versions(key).await.first() {
            break v.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let out = env
        .deliver(key, &version)
        .await
        .expect("on-manifest handles it");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for (service, execution) in executions(&out) {
        env.pipeline_event_of(&format!("berth-{service}"), &execution, "SUCCEEDED")
            .await;
    }
    let out = child.wait_with_output().await.expect("berth ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("uploaded s3://berth-releases/groups/shop/g5.json"),
        "{stdout}"
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains(" web:") && l.contains(" wide2:")),
        "one line of member states per change: {stdout}"
    );
    assert_eq!(
        lines.last().copied(),
        Some("SUCCEEDED  web:SUCCEEDED wide1:SUCCEEDED wide2:SUCCEEDED"),
        "{stdout}"
    );

    let again = Command::new(function_binary("berth"))
        .env_clear()
        .args(["release", path.to_str().unwrap()])
        .envs(moto_env(&env.moto.endpoint))
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "a group release is immutable");
    std::fs::write(
        &path,
        r#"{"schema":"berth/group/v1","group":"shop","release":"g6","services":{}}"#,
    )
    .unwrap();
    let invalid = Command::new(function_binary("berth"))
        .env_clear()
        .args(["release", path.to_str().unwrap()])
        .envs(moto_env(&env.moto.endpoint))
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&invalid.stderr)
            .contains("services: must be an object of one or more")
    );
    assert!(
        env.versions("groups/shop/g6.json").await.is_empty(),
        "nothing uploaded"
    );
}

/// A member whose pipeline AWS refuses to start for good (here: it does not exist) is REJECTED
/// in the group record, so the group still ends, and is announced, when the others do.
#[tokio::test(flavor = "current_thread")]
async fn a_member_whose_pipeline_cannot_start_ends_rejected_and_the_group_still_ends() {
    let (env, wide1, wide2) = three_services().await;
    let entry = env.get_parameter("/berth/services/wide2").await;
    let mut entry: Value = serde_json::from_str(&entry).unwrap();
    entry["pipeline"] = json!("berth-missing");
    env.put_registry(&entry).await;
    let key = "groups/shop/g7.json";
    let version = env
        .put_manifest(key, group_doc("g7", &wide1, &wide2).to_string().as_bytes())
        .await;
    let out = env
        .deliver(key, &version)
        .await
        .expect("not a retryable fault");
    let started = executions(&out);
    assert_eq!(
        started.keys().collect::<Vec<_>>(),
        ["web", "wide1"],
        "{out}"
    );
    let group = env.get_json("group-releases/shop/g7.json").await.unwrap();
    assert_eq!(group["members"]["wide2"]["status"], "REJECTED", "{group}");
    assert!(
        group["members"]["wide2"]["message"]
            .as_str()
            .unwrap()
            .contains("StartPipelineExecution berth-missing"),
        "{group}"
    );
    for (service, execution) in &started {
        env.pipeline_event_of(&format!("berth-{service}"), execution, "SUCCEEDED")
            .await;
    }
    let group = env.get_json("group-releases/shop/g7.json").await.unwrap();
    assert_eq!(group["status"], "FAILED", "{group}");
    let again = env.deliver(key, &version).await.unwrap();
    assert_eq!(
        executions(&again).len(),
        2,
        "a repeated delivery starts nothing: {again}"
    );
    let index = env.list("group-releases/shop/index/").await;
    assert_eq!(index.len(), 1, "indexed once: {index:?}");
}
