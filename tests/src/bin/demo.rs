//! `make demo`: plays berth's release flow through the compiled function binaries, each behind
//! a local Lambda Runtime API, against a moto server on 127.0.0.1 that it starts (and stops)
//! itself. Prints a timeline; exits non-zero if any step differs from what is expected.
//!
//! moto stores and answers AWS calls but runs no pipeline actions and has no CodePipeline job
//! API, so the demo plays CodePipeline's part: it invokes `migrate` with the job event and then
//! with each continuation token, and a local stand-in records the job results it reports.

use std::time::Instant;

use berth_tests::StandIn;
use berth_tests::runtime::{self, Function, Outcome, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

struct Timeline {
    started: Instant,
    failures: usize,
}

impl Timeline {
    fn step(&mut self, at: Instant, function: &str, what: &str, ok: bool, detail: &str) {
        let ms = at.elapsed().as_millis();
        let mark = if ok { "ok " } else { "BAD" };
        if !ok {
            self.failures += 1;
        }
        println!(
            "[{:>6.2}s] {mark} {function:<16} {what:<46} {ms:>5} ms",
            self.started.elapsed().as_secs_f64()
        );
        for line in detail.lines().filter(|l| !l.is_empty()) {
            println!("{:>31}{line}", "");
        }
    }
}

fn result(outcome: Outcome) -> Value {
    match outcome {
        Outcome::Response(v) => v["results"][0].clone(),
        Outcome::Error(e) => json!({"outcome": "error", "error": e}),
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut t = Timeline {
        started: Instant::now(),
        failures: 0,
    };
    println!(
        "berth demo: moto on 127.0.0.1 stands in for AWS; the functions are the compiled binaries."
    );
    println!(
        "moto runs no pipeline actions, so the demo invokes migrate the way CodePipeline would.\n"
    );

    let at = Instant::now();
    let mut env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    t.step(at, "setup", "moto started, sample service provisioned", true,
        &format!("endpoint {}\nECR web/app, web/nginx · ECS cluster prod, family web · SSM /berth/services/web\nbucket {BUCKET} (versioned) · pipeline berth-web (V2: Source ▸ Release [Migrate ▸ Deploy])", env.moto.endpoint));

    let at = Instant::now();
    let vars = moto_env(&env.moto.endpoint);
    let jobs = StandIn::job_api().await;
    let mut migrate_vars = vars.clone();
    migrate_vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    let mut push = Function::spawn("on-image-push", &vars).await;
    let mut manifest = Function::spawn("on-manifest", &vars).await;
    let mut migrate = Function::spawn("migrate", &migrate_vars).await;
    let mut events = Function::spawn("on-pipeline-event", &vars).await;
    t.step(
        at,
        "runtime",
        "4 function binaries behind local Runtime APIs",
        true,
        "",
    );

    // 1. A single-image push.
    let at = Instant::now();
    let digest = env.push_image("web/app", "v1.5.0").await;
    let written = result(
        push.invoke(&ecr_event_json(
            "PUSH", "SUCCESS", "web/app", "v1.5.0", &digest,
        ))
        .await,
    );
    t.step(
        at,
        "on-image-push",
        "push web/app:v1.5.0 → manifest",
        written["outcome"] == "written",
        &format!(
            "digest {digest}\n{} (version {})",
            s(&written["key"]),
            s(&written["version_id"])
        ),
    );

    let at = Instant::now();
    let key = s(&written["key"]).to_owned();
    let started = result(
        manifest
            .invoke(&s3_event_json(&key, s(&written["version_id"])))
            .await,
    );
    let record = env
        .get_json("releases/web/v1.5.0.json")
        .await
        .unwrap_or_default();
    t.step(
        at,
        "on-manifest",
        "v1.5.0 → pinned artifact → pipeline",
        started["outcome"] == "started",
        &format!(
            "app   {}\nnginx {} (kept, now pinned)\nartifact version {}\nexecution {}",
            s(&record["images"]["app"]),
            s(&record["images"]["nginx"]),
            s(&started["artifact_version_id"]),
            s(&started["pipeline_execution_id"])
        ),
    );
    let first_artifact = s(&started["artifact_version_id"]).to_owned();

    // 2. The pipeline's Migrate action.
    let at = Instant::now();
    let artifact = env.stage_artifact(&first_artifact, "v1.5.0").await;
    let (polls, op, body) =
        runtime::play_migrate_job(&mut migrate, &jobs, "job-1", &artifact, false).await;
    let record = env
        .get_json("releases/web/v1.5.0.json")
        .await
        .unwrap_or_default();
    t.step(
        at,
        "migrate",
        &format!("job + {polls} token re-invocation(s) → result"),
        op == "PutJobSuccessResult" && body["outputVariables"]["MIGRATION"] == "succeeded",
        &format!(
            "task {}\n{op}: MIGRATION={} MIGRATION_SECONDS={}",
            s(&record["migration"]["task_arn"]),
            s(&body["outputVariables"]["MIGRATION"]),
            s(&body["outputVariables"]["MIGRATION_SECONDS"])
        ),
    );

    // 3. A two-image manifest.
    let at = Instant::now();
    let doc = json!({"schema": "berth/v1", "service": "web", "release": "v1.6.0",
        "images": {"app": format!("{}:3f9c2e1", repo_uri("web/app")), "nginx": format!("{}:1.27", repo_uri("web/nginx"))},
        "migration": null});
    let key = "manifests/web/v1.6.0.json";
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let started = result(manifest.invoke(&s3_event_json(key, &version)).await);
    let record = env
        .get_json("releases/web/v1.6.0.json")
        .await
        .unwrap_or_default();
    t.step(
        at,
        "on-manifest",
        "two-image manifest v1.6.0 → pipeline",
        started["outcome"] == "started",
        &format!(
            "app   {} (tag 3f9c2e1)\nnginx {} (tag 1.27)\nartifact version {}\nexecution {}",
            s(&record["images"]["app"]),
            s(&record["images"]["nginx"]),
            s(&started["artifact_version_id"]),
            s(&started["pipeline_execution_id"])
        ),
    );

    // 4. A bad manifest.
    let at = Instant::now();
    let bad = json!({"schema": "berth/v1", "service": "web", "release": "v1.7.0",
        "images": {"app": format!("{}:latest", repo_uri("web/app")), "worker": "docker.io/library/busybox:1"},
        "extra": true});
    let key = "manifests/web/v1.7.0.json";
    let version = env.put_manifest(key, bad.to_string().as_bytes()).await;
    let rejected = result(manifest.invoke(&s3_event_json(key, &version)).await);
    let rejection = env
        .get_json("rejected/web/v1.7.0.json")
        .await
        .unwrap_or_default();
    let errors: Vec<String> = rejection["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| format!("- {}", s(e)))
        .collect();
    t.step(
        at,
        "on-manifest",
        "bad manifest v1.7.0 → rejected/web/v1.7.0.json",
        rejected["outcome"] == "rejected"
            && errors.len() == 3
            && env.get_json("releases/web/v1.7.0.json").await.is_none(),
        &errors.join("\n"),
    );

    // 5. CodePipeline reports both executions finished: on-pipeline-event records it.
    let at = Instant::now();
    let mut statuses = Vec::new();
    for release in ["v1.5.0", "v1.6.0"] {
        let record = env
            .get_json(&format!("releases/web/{release}.json"))
            .await
            .unwrap_or_default();
        let out = events
            .invoke(&pipeline_event_json(
                "berth-web",
                s(&record["pipeline_execution_id"]),
                "SUCCEEDED",
            ))
            .await;
        statuses.push(match out {
            Outcome::Response(v) => v["status"].as_str().unwrap_or("-").to_owned(),
            Outcome::Error(e) => e.to_string(),
        });
    }
    t.step(
        at,
        "on-pipeline-event",
        "both executions SUCCEEDED → release records",
        statuses.iter().all(|st| st == "SUCCEEDED"),
        &format!("v1.5.0 {} · v1.6.0 {}", statuses[0], statuses[1]),
    );

    // 6. The operator's view, and a rollback to the last known good release.
    let cli_env = {
        let mut v = moto_env(&env.moto.endpoint);
        v.retain(|(k, _)| *k != "AWS_LAMBDA_LOG_FORMAT");
        v
    };
    let berth = |args: &[&str]| {
        let mut cmd = std::process::Command::new(runtime::function_binary("berth"));
        cmd.env_clear().args(args);
        for (k, v) in &cli_env {
            cmd.env(k, v);
        }
        cmd.output()
    };
    let at = Instant::now();
    let listed = berth(&["releases", "web"]);
    let listing = listed
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    t.step(
        at,
        "berth releases",
        "history, newest first",
        listed.as_ref().is_ok_and(|o| o.status.success())
            && listing.contains("v1.6.0")
            && listing.contains("v1.5.0"),
        &format!("$ berth releases web\n{listing}"),
    );
    let at = Instant::now();
    let rolled = berth(&["rollback", "web"]);
    let rollback_text = rolled
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let (_, op, body) =
        runtime::play_migrate_job(&mut migrate, &jobs, "job-2", &artifact, true).await;
    let v15 = env
        .get_json("releases/web/v1.5.0.json")
        .await
        .unwrap_or_default();
    let pinned = v15["redeployments"][0]["pipeline_execution_id"].is_string()
        && v15["artifact_version_id"] == first_artifact.as_str();
    t.step(
        at,
        "berth rollback",
        "to the last known good: v1.5.0, same bytes",
        rolled.as_ref().is_ok_and(|o| o.status.success())
            && rollback_text.contains("back to v1.5.0")
            && pinned
            && op == "PutJobSuccessResult"
            && body["outputVariables"]["MIGRATION"] == "skipped",
        &format!(
            "$ berth rollback web\n{rollback_text}migrate (rollback execution): {op} MIGRATION={}",
            s(&body["outputVariables"]["MIGRATION"])
        ),
    );

    println!(
        "\n{} artifact versions, {} pipeline executions.",
        env.versions("artifacts/web/source.zip").await.len(),
        env.executions("berth-web").await.len()
    );
    let failures = t.failures;
    drop((push, manifest, migrate, events));
    drop(env); // stops moto by PID
    if failures == 0 {
        println!("demo: every step matched what was expected.");
    } else {
        println!("demo: {failures} step(s) did not match; see BAD above.");
        std::process::exit(1);
    }
}
