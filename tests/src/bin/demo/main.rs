//! `make demo`: plays berth's release flow through the compiled function binaries, each behind
//! a local Lambda Runtime API, against a moto server on 127.0.0.1 that it starts (and stops)
//! itself. Prints a timeline; exits non-zero if any step differs from what is expected.
//!
//! moto stores and answers AWS calls but runs no pipeline actions and has no CodePipeline job
//! API, so the demo plays CodePipeline's part: it invokes `migrate` with the job event and then
//! with each continuation token, and a local stand-in records the job results it reports. It
//! plays CodeDeploy's part too: a stand-in keeps each blue/green deployment, the demo invokes the
//! compiled `verify` hook as CodeDeploy would, and a local server plays the test listener.
//! Services ECS deploys itself (`native`) get their own moto and the ECS service-deployment
//! stand-in: a rolling release and a native blue/green release promoted at its pause hook.
//! A scheduled job (a task target: EventBridge Scheduler schedules and a rule target running
//! its family) gets a third: two releases repointing every target, a rollback, `berth run`.

mod native;
mod task;

use std::time::Instant;

use berth_tests::StandIn;
use berth_tests::codedeploy::{FakeCodeDeploy, Guarded, guarded_registry};
use berth_tests::listener::{Health, TestListener};
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
        &format!("endpoint {}\nECR web/app, web/nginx · ECS cluster prod, family web · SSM /berth/services/web\nbucket {BUCKET} (versioned) · pipeline berth-web (V2: Source ▸ Release [Migrate ▸ Deploy ▸ PostMigrate])", env.moto.endpoint));

    let at = Instant::now();
    let listener = TestListener::start(Health::Healthy).await;
    let verify_checks = json!({"base_url": listener.base_url, "checks": [
        {"path": "/health", "status": 200, "contains": "ok", "max_latency_ms": 1000}],
        "attempts": 2, "interval_seconds": 1, "timeout_seconds": 2});
    let mut entry = guarded_registry(&env.default_subnets().await, Some(verify_checks));
    // Expand and contract: the contract step runs once blue is retired.
    entry["post_migration"] = json!({"container": "app",
        "command": ["bin/rails", "db:contract"], "timeout_seconds": 900});
    env.put_registry(&entry).await;
    let guarded = Guarded::start(&env, Some(60)).await;
    t.step(at, "setup", "blue/green: CodeDeploy stand-in, test listener", true,
        &format!("deployment group berth-web/web holds green 60 min for a promote, keeps blue 30 min\ntest listener {} (verify checks GET /health)", listener.base_url));

    let at = Instant::now();
    let vars = moto_env(&env.moto.endpoint);
    let jobs = StandIn::job_api().await;
    let mut migrate_vars = vars.clone();
    migrate_vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    let mut manifest_vars = vars.clone();
    manifest_vars.push(("BERTH_VERIFY_FUNCTION", "berth-verify".into()));
    let mut event_vars = vars.clone();
    event_vars.push((
        "BERTH_SLACK_WEBHOOK_URL",
        format!("{}/slack", jobs.endpoint),
    ));
    let mut push = Function::spawn("on-image-push", &vars).await;
    let mut manifest = Function::spawn("on-manifest", &manifest_vars).await;
    let mut migrate = Function::spawn("migrate", &migrate_vars).await;
    let mut events = Function::spawn("on-pipeline-event", &event_vars).await;
    let mut verify = Function::spawn("verify", &guarded.vars(vars.clone())).await;
    t.step(
        at,
        "runtime",
        "5 function binaries behind local Runtime APIs",
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
    let started_150 = started["pipeline_execution_id"].clone();

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

    let cli_vars = {
        let mut v = guarded.vars(moto_env(&env.moto.endpoint));
        v.retain(|(k, _)| *k != "AWS_LAMBDA_LOG_FORMAT");
        v
    };

    // 3. CodeDeploy runs v1.5.0's green task set behind the test listener; the hook verifies it,
    //    the deployment waits for a promote, the operator promotes and retires blue.
    let at = Instant::now();
    let v150 = s(&started_150).to_owned();
    let (deployment, verdict) = deploy_and_verify(&guarded, &mut verify, &v150).await;
    let held = guarded
        .fake
        .deployment(&deployment)
        .map(|d| d.status)
        .unwrap_or_default();
    t.step(at, "verify", "AfterAllowTestTraffic hook on v1.5.0's green", verdict["verdict"] == "passed" && held == "Ready",
        &format!("deployment {deployment}: {} — {}\nCodeDeploy: Succeeded reported; deployment {held}, waiting for a promote", s(&verdict["verdict"]), s(&verdict["message"])));
    let at = Instant::now();
    let (ok_status, status_text) = cli(&cli_vars, &["status", "web"]).await;
    t.step(
        at,
        "berth status",
        "phase, deadline, verify results",
        ok_status && status_text.contains("waiting for promote until"),
        &format!("$ berth status web\n{status_text}"),
    );
    let at = Instant::now();
    let (promoted, promote_text) = cli(&cli_vars, &["promote", "web"]).await;
    let (finished, finish_text) = cli(&cli_vars, &["finish", "web"]).await;
    let done = guarded
        .fake
        .deployment(&deployment)
        .map(|d| d.status)
        .unwrap_or_default();
    t.step(
        at,
        "berth promote",
        "production traffic to green, then retire blue",
        promoted && finished && done == "Succeeded",
        &format!("$ berth promote web\n{promote_text}$ berth finish web\n{finish_text}"),
    );
    // The PostMigrate action: the contract step, now that no old task can run again.
    let at = Instant::now();
    let post = berth_tests::Job::new("post-1", &artifact).post(&v150);
    let (polls, op, body) = runtime::play_job(&mut migrate, &jobs, post).await;
    let record = env
        .get_json("releases/web/v1.5.0.json")
        .await
        .unwrap_or_default();
    t.step(
        at,
        "migrate (post)",
        &format!("PostMigrate job + {polls} token re-invocation(s) → result"),
        op == "PutJobSuccessResult" && body["outputVariables"]["POST_MIGRATION"] == "succeeded",
        &format!(
            "task {} ran {}\n{op}: POST_MIGRATION={} POST_MIGRATION_SECONDS={}",
            s(&record["post_migration"]["task_arn"]),
            record["post_migration_plan"]["command"],
            s(&body["outputVariables"]["POST_MIGRATION"]),
            s(&body["outputVariables"]["POST_MIGRATION_SECONDS"])
        ),
    );
    let at = Instant::now();
    let (status, message) = finish_execution(&mut events, &jobs, &v150, "SUCCEEDED").await;
    t.step(
        at,
        "on-pipeline-event",
        "v1.5.0 SUCCEEDED → record, notification",
        status == "SUCCEEDED"
            && message.contains("promoted by")
            && message.contains("post migration: succeeded"),
        &message,
    );

    // 4. A two-image manifest, verified and promoted the same way.
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

    let at = Instant::now();
    let v160 = s(&started["pipeline_execution_id"]).to_owned();
    let (deployment, verdict) = deploy_and_verify(&guarded, &mut verify, &v160).await;
    let (promoted, _) = cli(&cli_vars, &["promote", "web"]).await;
    let (finished, _) = cli(&cli_vars, &["finish", "web"]).await;
    let (status, _) = finish_execution(&mut events, &jobs, &v160, "SUCCEEDED").await;
    t.step(
        at,
        "verify + promote",
        "v1.6.0 verified, promoted, SUCCEEDED",
        verdict["verdict"] == "passed" && promoted && finished && status == "SUCCEEDED",
        &format!("deployment {deployment}: {}", s(&verdict["message"])),
    );

    // 5. v1.6.1's green answers 500 on the test listener: the hook fails it, CodeDeploy rolls
    //    back to blue before production traffic moves, and the release is FAILED.
    let at = Instant::now();
    listener.set(Health::Failing);
    env.push_image("web/app", "v1.6.1").await;
    let doc = json!({"schema": "berth/v1", "service": "web", "release": "v1.6.1",
        "images": {"app": format!("{}:v1.6.1", repo_uri("web/app"))}, "migration": null});
    let key = "manifests/web/v1.6.1.json";
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let started = result(manifest.invoke(&s3_event_json(key, &version)).await);
    let v161 = s(&started["pipeline_execution_id"]).to_owned();
    let (deployment, verdict) = deploy_and_verify(&guarded, &mut verify, &v161).await;
    let rolled_back = guarded
        .fake
        .deployment(&deployment)
        .map(|d| d.status)
        .unwrap_or_default();
    t.step(at, "verify", "v1.6.1's green fails its checks → rolled back", verdict["verdict"] == "failed" && rolled_back == "Failed",
        &format!("deployment {deployment}: {} — {}\nCodeDeploy: Failed reported; deployment {rolled_back}, traffic never left blue", s(&verdict["verdict"]), s(&verdict["message"])));
    let at = Instant::now();
    let (status, message) = finish_execution(&mut events, &jobs, &v161, "FAILED").await;
    t.step(
        at,
        "on-pipeline-event",
        "v1.6.1 FAILED → record, notification",
        status == "FAILED" && message.contains("verify: failed"),
        &message,
    );

    // 6. A bad manifest.
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

    // 7. The operator's view, and a rollback to the last known good release.
    let at = Instant::now();
    let (listed, listing) = cli(&cli_vars, &["releases", "web"]).await;
    t.step(
        at,
        "berth releases",
        "history, newest first",
        listed
            && listing.contains("v1.6.1")
            && listing.contains("v1.6.0")
            && listing.contains("v1.5.0"),
        &format!("$ berth releases web\n{listing}"),
    );
    let at = Instant::now();
    let (rolled, rollback_text) = cli(&cli_vars, &["rollback", "web"]).await;
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
        "nothing in flight: redeploy v1.5.0, same bytes",
        rolled
            && rollback_text.contains("back to v1.5.0 by redeploy")
            && pinned
            && op == "PutJobSuccessResult"
            && body["outputVariables"]["MIGRATION"] == "skipped",
        &format!(
            "$ berth rollback web\n{rollback_text}migrate (rollback execution): {op} MIGRATION={}",
            s(&body["outputVariables"]["MIGRATION"])
        ),
    );

    // 8. A release group: three services checked together, each through its own pipeline.
    let at = Instant::now();
    let wide1 = env.seed_wide_service(1).await;
    let wide2 = env.seed_wide_service(2).await;
    let group = json!({"schema": "berth/group/v1", "group": "shop", "release": "2026.11.24-1",
        "services": {
            "web": {"images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))}, "migration": null},
            "wide1": {"images": wide1}, "wide2": {"images": wide2}}});
    let path = std::env::temp_dir().join(format!("berth-demo-group-{}.json", std::process::id()));
    let written = std::fs::write(&path, group.to_string()).is_ok();
    let (uploaded, upload_text) = cli(&cli_vars, &["release", &path.display().to_string()]).await;
    std::fs::remove_file(&path).ok();
    let key = "groups/shop/2026.11.24-1.json";
    let version = env.versions(key).await.first().cloned().unwrap_or_default();
    let out = result(manifest.invoke(&s3_event_json(key, &version)).await);
    let members = out["members"].as_array().cloned().unwrap_or_default();
    let started: Vec<String> = members
        .iter()
        .map(|m| {
            format!(
                "{} → execution {}",
                s(&m["service"]),
                s(&m["pipeline_execution_id"])
            )
        })
        .collect();
    t.step(
        at,
        "on-manifest",
        "group shop 2026.11.24-1 → 3 services, 3 pipelines",
        written
            && uploaded
            && members.len() == 3
            && members.iter().all(|m| m["outcome"] == "started"),
        &format!(
            "$ berth release group.json\n{upload_text}{}",
            started.join("\n")
        ),
    );
    let at = Instant::now();
    for (m, state) in members.iter().zip(["SUCCEEDED", "FAILED", "SUCCEEDED"]) {
        let pipeline = format!("berth-{}", s(&m["service"]));
        let event = pipeline_event_json(&pipeline, s(&m["pipeline_execution_id"]), state);
        events.invoke(&event).await;
    }
    let message = last_slack_text(&jobs);
    let (shown, status_text) = cli(&cli_vars, &["status", "--group", "shop"]).await;
    t.step(
        at,
        "on-pipeline-event",
        "the last service ends → one group notification",
        shown && message.starts_with(":x: group shop release 2026.11.24-1 failed: 1 of 3"),
        &format!("{message}\n$ berth status --group shop\n{status_text}"),
    );

    println!(
        "\n{} artifact versions, {} pipeline executions.",
        env.versions("artifacts/web/source.zip").await.len(),
        env.executions("berth-web").await.len()
    );
    drop((push, manifest, migrate, events, verify));
    drop(env); // stops moto by PID

    println!("\nServices ECS deploys itself (deployment controller ECS):\n");
    native::scenes(&mut t).await;
    println!("\nScheduled jobs (task targets):\n");
    task::scenes(&mut t).await;
    let failures = t.failures;
    if failures == 0 {
        println!("demo: every step matched what was expected.");
    } else {
        println!("demo: {failures} step(s) did not match; see BAD above.");
        std::process::exit(1);
    }
}

/// Runs the `berth` CLI off this thread (the stand-ins it talks to run on it); whether it
/// succeeded, and what it printed.
async fn cli(vars: &[(&'static str, String)], args: &[&str]) -> (bool, String) {
    let mut cmd = std::process::Command::new(runtime::function_binary("berth"));
    cmd.env_clear().args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await;
    match out {
        Ok(Ok(o)) => {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            (o.status.success(), text)
        }
        _ => (false, "berth did not run".into()),
    }
}

/// CodeDeploy's part: a deployment for `execution`, then the hook invocation of `verify`;
/// the deployment id and the function's answer.
async fn deploy_and_verify(
    guarded: &Guarded,
    verify: &mut Function,
    execution: &str,
) -> (String, Value) {
    let deployment = guarded
        .fake
        .deploy("berth-web", "web", "berth-web", execution);
    let out = verify
        .invoke(&FakeCodeDeploy::hook_event(&deployment))
        .await;
    let answer = match out {
        Outcome::Response(v) => v,
        Outcome::Error(e) => json!({"verdict": "error", "message": e.to_string()}),
    };
    (deployment, answer)
}

/// CodePipeline's state change for `execution`, delivered to on-pipeline-event: the status it
/// recorded and the notification it posted.
async fn finish_execution(
    events: &mut Function,
    jobs: &StandIn,
    execution: &str,
    state: &str,
) -> (String, String) {
    let out = events
        .invoke(&pipeline_event_json("berth-web", execution, state))
        .await;
    let status = match out {
        Outcome::Response(v) => s(&v["status"]).to_owned(),
        Outcome::Error(e) => e.to_string(),
    };
    let message = last_slack_text(jobs);
    (status, message)
}

/// The text of the last Slack message the stand-in received ("" before any).
fn last_slack_text(jobs: &StandIn) -> String {
    jobs.calls
        .bodies("POST /slack")
        .last()
        .map(|b| s(&b["text"]).to_owned())
        .unwrap_or_default()
}
