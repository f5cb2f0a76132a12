//! `berth stats` on a seeded history whose figures are known, through the compiled CLI against
//! moto.

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;
use berth::index::{Index, List};
use berth::record::timestamp;
use berth::store::Bucket;
use berth_tests::runtime::{function_binary, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

const DAY: u64 = 86_400;

fn at(t: u64) -> String {
    timestamp(UNIX_EPOCH + Duration::from_secs(t))
}

/// Writes release `name` of `web`, created at `created`, its execution ending `status` after
/// `seconds`, with the fields of `extra` (its redeployments, its migrations); and its index entry.
async fn seed(env: &Env, name: &str, status: &str, created: u64, seconds: u64, extra: Value) {
    let mut record = json!({
        "schema": "berth/release-record/v1", "service": "web", "release": name, "status": status,
        "manifest": {"bucket": BUCKET, "key": format!("manifests/web/{name}.json"), "version_id": "m"},
        "pipeline": "berth-web", "task_family": "web", "images": {}, "migration_plan": null,
        "pipeline_execution_id": format!("e-{name}"),
        "created_at": at(created), "updated_at": at(created + seconds),
        "finished_at": at(created + seconds), "redeployments": [],
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        record[k] = v.clone();
    }
    env.clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(format!("releases/web/{name}.json"))
        .body(ByteStream::from(record.to_string().into_bytes()))
        .send()
        .await
        .unwrap();
    let index = Index::new(Bucket::new(env.clients.s3.clone(), BUCKET));
    index
        .put("web", List::Releases, created * 1000, name)
        .await
        .unwrap();
}

fn berth(env: &Env, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(function_binary("berth"));
    cmd.env_clear().args(args);
    for (k, v) in moto_env(&env.moto.endpoint) {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn the_four_keys_of_a_seeded_history() {
    let env = Env::start().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t = now - 20 * DAY;
    // Outside the 14-day window: an old success.
    seed(&env, "v0", "SUCCEEDED", now - 40 * DAY, 60, json!({})).await;
    // Inside: v1 ok in 10 min; v2 fails after 5 min; v3 ok in 20 min, rolled back to v1 an hour
    // later (done in 4 min); v4 ok in 30 min.
    let rollback = t + 10 * DAY + 1200 + 3600;
    seed(
        &env,
        "v1",
        "SUCCEEDED",
        t + 8 * DAY,
        600,
        json!({"redeployments": [{"pipeline_execution_id": "r1",
        "started_at": at(rollback), "status": "SUCCEEDED", "finished_at": at(rollback + 240)}]}),
    )
    .await;
    seed(&env, "v2", "FAILED", t + 9 * DAY, 300, json!({})).await;
    // v3 migrated in 30 s and contracted in 120 s; v4 migrated in 90 s, its contract step failed.
    let step = |outcome: &str, seconds: u64| json!({"outcome": outcome, "seconds": seconds, "updated_at": at(t)});
    let v3 = json!({"migration": step("succeeded", 30), "post_migration": step("succeeded", 120)});
    seed(&env, "v3", "SUCCEEDED", t + 10 * DAY, 1200, v3).await;
    let v4 = json!({"migration": step("succeeded", 90), "post_migration": step("failed", 7)});
    seed(&env, "v4", "SUCCEEDED", t + 11 * DAY, 1800, v4).await;

    let out = berth(&env, &["stats", "web", "--days", "14", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let k: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(k["service"], "web");
    assert_eq!(k["deployments"], 3, "{k}");
    assert!((k["deployments_per_day"].as_f64().unwrap() - 3.0 / 14.0).abs() < 1e-9);
    assert_eq!(k["lead_time_median_seconds"], 1200);
    assert_eq!(k["failed_executions"], 1);
    assert_eq!(k["rolled_back"], 1);
    assert_eq!(k["change_failure_rate"], 0.5);
    assert_eq!(k["restored"], 2);
    assert_eq!(k["time_to_restore_median_seconds"], (DAY + 900 + 240) / 2);
    assert_eq!(k["migrations"], 2);
    assert_eq!(k["migration_median_seconds"], 60);
    assert_eq!(k["post_migrations"], 1);
    assert_eq!(k["post_migration_median_seconds"], 120);
    assert_eq!(k["post_migrations_failed"], 1);

    let text = berth(&env, &["stats", "web", "--days", "14"]);
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("deployment frequency   0.21 per day (3 successful releases)"),
        "{text}"
    );
    assert!(
        text.contains("lead time for changes  median 20m00s"),
        "{text}"
    );
    assert!(
        text.contains("change failure rate    50.0% (2 of 4 changes: 1 failed, 1 rolled back)"),
        "{text}"
    );
    assert!(
        text.contains("time to restore        median 12h09m (2 of 2 restored)"),
        "{text}"
    );
    assert!(
        text.contains("migrations             median 1m00s (2 succeeded)"),
        "{text}"
    );
    assert!(
        text.contains("post migrations        median 2m00s (1 succeeded, 1 failed)"),
        "{text}"
    );

    let bad = berth(&env, &["stats", "web", "--days", "0"]);
    assert_eq!(bad.status.code(), Some(2), "a usage error");
}
