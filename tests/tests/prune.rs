//! `berth prune` against moto with a history of successful and failed releases: dry run by
//! default, `--yes` deregisters, never the running revision nor the last known good release's.

use std::time::{Duration, SystemTime};

use berth_tests::runtime::function_binary;
use berth_tests::*;
use serde_json::Value;

fn execution(release: &Value) -> &str {
    release["pipeline_execution_id"].as_str().unwrap()
}

/// Records the execution's final state, as on-pipeline-event does.
async fn finish(env: &Env, release: &Value, state: &str) -> Value {
    let event = pipeline_event_json("berth-web", execution(release), state);
    let notifier = berth::notify::Notifier::new(None).unwrap();
    let context = berth::on_pipeline_event::Context::new(&env.clients, &env.settings(), notifier);
    let out = context
        .on_event(serde_json::from_value(event).unwrap(), SystemTime::now())
        .await
        .unwrap();
    serde_json::to_value(out).unwrap()
}

fn berth(args: &[&str], env: &Env) -> std::process::Output {
    let mut cmd = std::process::Command::new(function_binary("berth"));
    cmd.env_clear().args(args);
    for (k, v) in [
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", env.moto.endpoint.clone()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("BERTH_RELEASE_BUCKET", BUCKET.to_owned()),
        ("BERTH_ACCOUNT_ID", ACCOUNT.to_owned()),
    ] {
        cmd.env(k, v);
    }
    cmd.output().expect("berth runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn prune_keeps_the_newest_successful_releases_the_running_and_the_last_known_good() {
    let mut env = Env::start().await;
    env.push_image("web/app", "v5.0.0").await;
    let seeded = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1".to_owned();
    let mut revision = std::collections::BTreeMap::new();
    for (release, tag, state) in [
        ("v1", "v1.0.0", "SUCCEEDED"),
        ("v2", "3f9c2e1", "SUCCEEDED"),
        ("v3", "v1.4.2", "FAILED"),
        ("v4", "v5.0.0", "SUCCEEDED"),
    ] {
        let r = env.release_web(release, tag).await;
        let td = env.register_release(&r).await;
        if state == "SUCCEEDED" {
            env.cut_over(&td).await;
        }
        finish(&env, &r, state).await;
        revision.insert(release, td);
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    assert_eq!(
        env.revision_status(&revision["v3"]).await,
        "INACTIVE",
        "failed: gone"
    );

    let out = berth(&["prune", "web", "--keep", "1", "--output", "json"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["kept_releases"], serde_json::json!(["v4"]));
    let why = |arn: &str| {
        plan["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["arn"] == arn)
            .map(|d| {
                (
                    d["deregister"].as_bool().unwrap(),
                    d["why"].as_str().unwrap().to_owned(),
                )
            })
            .unwrap()
    };
    let v4 = &revision["v4"];
    let cutoff = v4.rsplit(':').next().unwrap();
    assert_eq!(why(v4), (false, "runs the images of v4, kept".to_owned()));
    let (gone, reason) = why(&revision["v2"]);
    assert!(!gone, "{reason}");
    assert_eq!(
        reason,
        "runs the images of v2, the last known good release (what berth rollback returns to)"
    );
    let older = format!(
        "older than revision {cutoff}, the oldest of the 1 newest successful releases (v4)"
    );
    assert_eq!(why(&revision["v1"]), (true, older.clone()));
    assert_eq!(why(&seeded), (true, older));
    assert_eq!(
        env.revision_status(&revision["v1"]).await,
        "ACTIVE",
        "a dry run"
    );

    let explicit = berth(&["prune", "web", "--keep", "1", "--dry-run"], &env);
    let table = berth(&["prune", "web", "--keep", "1"], &env);
    assert_eq!(
        text(&explicit.stdout),
        text(&table.stdout),
        "--dry-run is the default"
    );
    let both = berth(&["prune", "web", "--keep", "1", "--dry-run", "--yes"], &env);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    let stdout = text(&table.stdout);
    assert!(
        stdout.starts_with("web (4 ACTIVE revisions of family web; keeping the revisions of v4)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "deregister  {}  older than revision",
            revision["v1"]
        )) && stdout.ends_with(
            "dry run: 2 revisions would be deregistered; run again with --yes to deregister\n"
        ),
        "{stdout}"
    );

    let out = berth(&["prune", "web", "--keep", "1", "--yes"], &env);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("deregistered 2 of 2 revisions\n"));
    assert_eq!(env.revision_status(&revision["v1"]).await, "INACTIVE");
    assert_eq!(env.revision_status(&seeded).await, "INACTIVE");
    assert_eq!(env.revision_status(&revision["v2"]).await, "ACTIVE");
    assert_eq!(env.revision_status(v4).await, "ACTIVE");

    // With the kept release's revision gone, there is nothing to measure from.
    env.clients
        .ecs
        .deregister_task_definition()
        .task_definition(v4)
        .send()
        .await
        .unwrap();
    let out = berth(&["prune", "web", "--keep", "1"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "none of the 1 newest successful releases (v4) has an ACTIVE revision to keep"
        ),
        "{}",
        text(&out.stderr)
    );

    let out = berth(&["prune", "web", "--keep", "0"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = berth(&["prune", "nosuch", "--keep", "1"], &env);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}
