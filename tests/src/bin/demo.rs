//! `make demo`: plays berth's release flow against a moto server on 127.0.0.1 that it starts
//! (and stops) itself, printing a timeline. Exits non-zero if any step differs from what is
//! expected.
//!
//! moto stores and answers AWS calls but runs no pipeline actions and has no CodePipeline job
//! API, so the demo plays CodePipeline's part: it invokes `migrate` with the job event and then
//! with each continuation token, and records the job results `migrate` reports.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use berth::handlers;
use berth::migrate::Migrator;
use berth::pipeline;
use berth::release::Releaser;
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
            "[{:>7.2}s] {mark} {function:<15} {what:<44} ({ms} ms)",
            self.started.elapsed().as_secs_f64()
        );
        for line in detail.lines().filter(|l| !l.is_empty()) {
            println!("{:>30}{line}", "");
        }
    }
}

fn job_event(
    job_id: &str,
    key: &str,
    rollback: bool,
    token: Option<&str>,
) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
    serde_json::from_value(json!({"CodePipeline.job": {
        "id": job_id, "accountId": ACCOUNT,
        "data": {
            "actionConfiguration": {"configuration": {"FunctionName": "berth-migrate",
                "UserParameters": json!({"rollback": rollback.to_string()}).to_string()}},
            "inputArtifacts": [{"location": {"s3Location": {"bucketName": BUCKET, "objectKey": key}, "type": "S3"},
                                "revision": null, "name": "SourceArtifact"}],
            "outputArtifacts": [],
            "artifactCredentials": {"accessKeyId": "ASIADEMO", "secretAccessKey": "demo", "sessionToken": "demo"},
            "continuationToken": token
        }}}))
    .expect("job event")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut t = Timeline {
        started: Instant::now(),
        failures: 0,
    };
    println!("berth demo: moto on 127.0.0.1 stands in for AWS.");
    println!(
        "moto runs no pipeline actions, so this demo invokes migrate the way CodePipeline would.\n"
    );

    let at = Instant::now();
    let mut env = Env::start().await;
    t.step(at, "setup", "moto started, sample service provisioned", true,
        &format!("endpoint {}\nECR web/app, web/nginx; ECS cluster prod, family web; SSM /berth/services/web;\nbucket {BUCKET} (versioned); pipeline berth-web (V2)", env.moto.endpoint));
    http_post(
        &env.moto.endpoint,
        "/moto-api/state-manager/set-transition",
        &[("content-type", "application/json")],
        r#"{"model_name":"ecs::task","transition":{"progression":"immediate"}}"#,
    )
    .await;

    let releaser = Releaser::new(env.clients.clone(), env.settings());
    let reports: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (r1, r2) = (reports.clone(), reports.clone());
    let success = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .match_requests(move |r| {
            let vars: serde_json::Map<String, Value> = r
                .output_variables()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
                .unwrap_or_default();
            r1.lock().unwrap().push(
                json!({"kind": "success", "token": r.continuation_token(), "variables": vars}),
            );
            true
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    let failure = mock!(aws_sdk_codepipeline::Client::put_job_failure_result)
        .match_requests(move |r| {
            r2.lock().unwrap().push(
                json!({"kind": "failure", "message": r.failure_details().map(|d| d.message())}),
            );
            true
        })
        .then_output(|| PutJobFailureResultOutput::builder().build());
    let mut migrate_clients = env.clients.clone();
    migrate_clients.codepipeline = mock_client!(
        aws_sdk_codepipeline,
        RuleMode::MatchAny,
        [&success, &failure]
    );
    let migrator = Migrator::new(migrate_clients, BUCKET);
    let last = || {
        reports
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    };

    // 1. A single-image push.
    let at = Instant::now();
    let digest = env.push_image("web/app", "v1.5.0").await;
    let out = handlers::on_image_push(
        &releaser.registry,
        &releaser.bucket,
        ecr_event("PUSH", "SUCCESS", "web/app", "v1.5.0", &digest),
        &env.invocation(),
        REGION,
    )
    .await;
    let written = out
        .as_ref()
        .ok()
        .map(|o| o["results"][0].clone())
        .unwrap_or_default();
    t.step(
        at,
        "on-image-push",
        "push web/app:v1.5.0 → manifest",
        written["outcome"] == "written",
        &format!(
            "digest {digest}\n{} (version {})",
            written["key"].as_str().unwrap_or("-"),
            written["version_id"].as_str().unwrap_or("-")
        ),
    );

    let at = Instant::now();
    let key = "manifests/web/v1.5.0.json";
    let version = written["version_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let out = handlers::on_manifest(&releaser, s3_event(key, &version), &env.invocation()).await;
    let started = out
        .as_ref()
        .ok()
        .map(|o| o["results"][0].clone())
        .unwrap_or_default();
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
            "app   {}\nnginx {}\nartifact version {}\nexecution {}",
            record["images"]["app"].as_str().unwrap_or("-"),
            record["images"]["nginx"].as_str().unwrap_or("-"),
            started["artifact_version_id"].as_str().unwrap_or("-"),
            started["pipeline_execution_id"].as_str().unwrap_or("-")
        ),
    );
    let first_artifact = started["artifact_version_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // 2. The pipeline's Migrate action, played as CodePipeline would.
    let store_key = "berth-web/SourceArti/v1.5.0.zip";
    if let Some(zip) = env
        .get_object("artifacts/web/source.zip", Some(&first_artifact))
        .await
    {
        let _ = env
            .clients
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(store_key)
            .body(zip.into())
            .send()
            .await;
    }
    let at = Instant::now();
    let _ = migrator
        .handle(job_event("job-1", store_key, false, None))
        .await;
    let mut report = last();
    let task: Value = report["token"]
        .as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    t.step(
        at,
        "migrate",
        "job → RunTask → continuation token",
        report["token"].is_string(),
        &format!(
            "task {}\ncommand bin/rails db:migrate in subnets of the default VPC, no public IP",
            task["task_arn"].as_str().unwrap_or("-")
        ),
    );
    let at = Instant::now();
    let mut polls = 0;
    while report["token"].is_string() && polls < 10 {
        polls += 1;
        let token = report["token"].as_str().unwrap_or_default().to_owned();
        let _ = migrator
            .handle(job_event("job-1", store_key, false, Some(&token)))
            .await;
        report = last();
    }
    t.step(
        at,
        "migrate",
        &format!("re-invoked {polls}× with the token → result"),
        report["variables"]["MIGRATION"] == "succeeded",
        &format!(
            "MIGRATION={} MIGRATION_SECONDS={}",
            report["variables"]["MIGRATION"].as_str().unwrap_or("-"),
            report["variables"]["MIGRATION_SECONDS"]
                .as_str()
                .unwrap_or("-")
        ),
    );

    // 3. A two-image manifest.
    let at = Instant::now();
    let nginx = env.digest("web/nginx:1.27").to_owned();
    let doc = json!({"schema": "berth/v1", "service": "web", "release": "v1.6.0",
        "images": {"app": format!("{}:3f9c2e1", repo_uri("web/app")), "nginx": format!("{}@{nginx}", repo_uri("web/nginx"))},
        "migration": null});
    let key = "manifests/web/v1.6.0.json";
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = handlers::on_manifest(&releaser, s3_event(key, &version), &env.invocation()).await;
    let started = out
        .as_ref()
        .ok()
        .map(|o| o["results"][0].clone())
        .unwrap_or_default();
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
            "app   {} (tag 3f9c2e1 resolved)\nnginx {}\nartifact version {}\nexecution {}",
            record["images"]["app"].as_str().unwrap_or("-"),
            record["images"]["nginx"].as_str().unwrap_or("-"),
            started["artifact_version_id"].as_str().unwrap_or("-"),
            started["pipeline_execution_id"].as_str().unwrap_or("-")
        ),
    );

    // 4. A bad manifest.
    let at = Instant::now();
    let bad = json!({"schema": "berth/v1", "service": "web", "release": "v1.7.0",
        "images": {"app": format!("{}:latest", repo_uri("web/app")), "worker": "docker.io/library/busybox:1",
                   "nginx": format!("{}:0badc0de", repo_uri("web/nginx"))}, "extra": true});
    let key = "manifests/web/v1.7.0.json";
    let version = env.put_manifest(key, bad.to_string().as_bytes()).await;
    let out = handlers::on_manifest(&releaser, s3_event(key, &version), &env.invocation()).await;
    let rejected = out
        .as_ref()
        .ok()
        .map(|o| o["results"][0]["outcome"] == "rejected")
        .unwrap_or(false);
    let rejection = env
        .get_json("rejected/web/v1.7.0.json")
        .await
        .unwrap_or_default();
    let errors: Vec<String> = rejection["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(|s| format!("- {s}")))
        .collect();
    t.step(
        at,
        "on-manifest",
        "bad manifest v1.7.0 → rejected/web/v1.7.0.json",
        rejected && errors.len() >= 3 && env.get_json("releases/web/v1.7.0.json").await.is_none(),
        &errors.join("\n"),
    );

    // 5. Rollback: a new execution of v1.5.0's exact artifact version, migration skipped.
    let at = Instant::now();
    let rollback = pipeline::start(
        &env.clients.codepipeline,
        &pipeline::Execution {
            pipeline: "berth-web",
            service: "web",
            release: "v1.5.0",
            artifact_version_id: &first_artifact,
            rollback: true,
            client_request_token: &pipeline::request_token(&["rollback", "web", "v1.5.0", "demo"]),
        },
    )
    .await;
    let _ = migrator
        .handle(job_event("job-2", store_key, true, None))
        .await;
    let skipped = last()["variables"]["MIGRATION"] == "skipped";
    let sent = env.pipeline_requests.bodies("StartPipelineExecution");
    let pinned = sent
        .last()
        .map(|b| b["sourceRevisions"][0]["revisionValue"] == first_artifact.as_str())
        .unwrap_or(false);
    t.step(at, "pipeline+migrate", "rollback to v1.5.0 (same artifact bytes)", rollback.is_ok() && skipped && pinned,
        &format!("execution {} with source revision {first_artifact}, BERTH_ROLLBACK=true\nMIGRATION=skipped",
            rollback.as_deref().unwrap_or("-")));

    let artifacts = env.versions("artifacts/web/source.zip").await.len();
    println!(
        "\n{} artifact versions, {} pipeline executions, {} AWS requests to CodePipeline recorded.",
        artifacts,
        env.executions("berth-web").await.len(),
        env.pipeline_requests.count()
    );
    let failures = t.failures;
    drop(env); // stops moto by PID
    if failures == 0 {
        println!("demo: every step matched what was expected.");
    } else {
        println!("demo: {failures} step(s) did not match; see BAD above.");
        std::process::exit(1);
    }
}
