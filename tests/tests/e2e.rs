//! End to end through the compiled function binaries, each running behind a local Lambda
//! Runtime API, against moto. CodePipeline's job API (absent from moto) is a recording
//! stand-in that `migrate` reaches through the standard `AWS_ENDPOINT_URL_CODEPIPELINE`.

use berth_tests::StandIn;
use berth_tests::release_stage::play_release_stage;
use berth_tests::runtime::{Function, Outcome, moto_env, play_migrate_job};
use berth_tests::*;
use serde_json::{Value, json};

struct Functions {
    push: Function,
    manifest: Function,
    migrate: Function,
    jobs: StandIn,
}

async fn functions(env: &Env) -> Functions {
    let vars = moto_env(&env.moto.endpoint);
    let jobs = StandIn::job_api().await;
    let mut migrate_vars = vars.clone();
    migrate_vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    Functions {
        push: Function::spawn("on-image-push", &vars).await,
        manifest: Function::spawn("on-manifest", &vars).await,
        migrate: Function::spawn("migrate", &migrate_vars).await,
        jobs,
    }
}

async fn run_migrate_job(
    f: &mut Functions,
    job_id: &str,
    artifact: &str,
    rollback: bool,
) -> (String, Value) {
    let (_, op, body) = play_migrate_job(&mut f.migrate, &f.jobs, job_id, artifact, rollback).await;
    (op, body)
}

#[tokio::test(flavor = "current_thread")]
async fn an_image_push_goes_through_every_function_to_a_migrated_release() {
    let mut env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let mut f = functions(&env).await;

    let digest = env.push_image("web/app", "v2.0.0").await;
    let out = f
        .push
        .invoke(&ecr_event_json(
            "PUSH", "SUCCESS", "web/app", "v2.0.0", &digest,
        ))
        .await
        .response();
    let written = &out["results"][0];
    assert_eq!(written["outcome"], "written", "{out}");
    let key = written["key"].as_str().unwrap().to_owned();
    let version = written["version_id"].as_str().unwrap().to_owned();

    // S3 notifies on-manifest of the object on-image-push wrote.
    let out = f
        .manifest
        .invoke(&s3_event_json(&key, &version))
        .await
        .response();
    let started = &out["results"][0];
    assert_eq!(started["outcome"], "started", "{out}");
    let artifact_version = started["artifact_version_id"].as_str().unwrap().to_owned();
    assert_eq!(env.versions("artifacts/web/source.zip").await.len(), 1);
    assert_eq!(
        env.versions("artifacts/web/source.zip").await[0],
        artifact_version
    );
    let record = env.get_json("releases/web/v2.0.0.json").await.unwrap();
    assert_eq!(
        record["images"]["app"],
        format!("{}@{digest}", repo_uri("web/app"))
    );
    assert_eq!(
        record["pipeline_execution_id"],
        started["pipeline_execution_id"]
    );
    assert_eq!(env.executions("berth-web").await.len(), 1);

    // A second delivery of the same notification changes nothing.
    let again = f
        .manifest
        .invoke(&s3_event_json(&key, &version))
        .await
        .response();
    assert_eq!(again["results"][0]["outcome"], "duplicate");
    assert_eq!(env.executions("berth-web").await.len(), 1);

    // CodePipeline's Migrate action.
    let artifact = env.stage_artifact(&artifact_version, "v2.0.0").await;
    let (op, body) = run_migrate_job(&mut f, "job-e2e-1", &artifact, false).await;
    assert_eq!(op, "PutJobSuccessResult", "{body}");
    assert_eq!(body["outputVariables"]["MIGRATION"], "succeeded");
    assert!(
        body["outputVariables"]["MIGRATION_TASK_ARN"]
            .as_str()
            .unwrap()
            .contains(":task/")
    );
    let record = env.get_json("releases/web/v2.0.0.json").await.unwrap();
    assert_eq!(record["migration"]["outcome"], "succeeded");
}

/// Writes manifest `release` naming `images`, lets on-manifest take it, and puts its source
/// artifact where the Source action would; the key.
async fn upload(env: &Env, f: &mut Functions, release: &str, images: Value) -> String {
    let key = format!("manifests/web/{release}.json");
    let doc = json!({"schema": "berth/v1", "service": "web", "release": release,
        "images": images});
    let version = env.put_manifest(&key, doc.to_string().as_bytes()).await;
    let out = f
        .manifest
        .invoke(&s3_event_json(&key, &version))
        .await
        .response();
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let artifact_version = out["results"][0]["artifact_version_id"].as_str().unwrap();
    env.stage_artifact(artifact_version, release).await
}

/// Through the pipeline as the stacks declare it: release A changes nginx, release B (uploaded
/// while A waits, so rendered from the version before A) names only app. B's Release stage runs
/// after A deployed: Migrate renders B from what runs then, and Deploy deploys that artifact, so
/// the service keeps A's nginx.
#[tokio::test(flavor = "current_thread")]
async fn a_queued_release_deploys_through_the_pipeline_what_migrate_rendered_at_its_stage() {
    let mut env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let nginx = env.push_image("web/nginx", "1.29").await;
    let mut f = functions(&env).await;
    let pinned_nginx = format!("{}@{nginx}", repo_uri("web/nginx"));
    let a = upload(
        &env,
        &mut f,
        "a",
        json!({"nginx": format!("{}:1.29", repo_uri("web/nginx"))}),
    )
    .await;
    let b = upload(
        &env,
        &mut f,
        "b",
        json!({"app": format!("{}:v1.4.2", repo_uri("web/app"))}),
    )
    .await;

    for (job, source) in [("job-a", &a), ("job-b", &b)] {
        let played = play_release_stage(&env, &mut f.migrate, &f.jobs, "berth-web", job, source)
            .await
            .expect("Migrate succeeded");
        assert_eq!(
            played.migrate.0, "PutJobSuccessResult",
            "{:?}",
            played.migrate
        );
    }

    let berth::taskdef::Template::Found(running) =
        berth::taskdef::running(&env.clients.ecs, "prod", "web")
            .await
            .unwrap()
    else {
        panic!("the service runs a task definition")
    };
    let image = |c: &str| {
        berth::render::container_image(&running, c)
            .unwrap()
            .to_owned()
    };
    assert_eq!(image("nginx"), pinned_nginx, "A's nginx is kept");
    let app = format!("{}@{}", repo_uri("web/app"), env.digest("web/app:v1.4.2"));
    assert_eq!(image("app"), app, "B's own app");
    let saved = env
        .get_object("artifacts/web/deployed/b.zip", None)
        .await
        .unwrap();
    let rendered = berth::render::read_artifact_file(&saved, berth::render::TASKDEF_FILE).unwrap();
    let rendered: Value = serde_json::from_slice(&rendered).unwrap();
    assert_eq!(
        rendered["containerDefinitions"], running["containerDefinitions"],
        "the service runs what Migrate rendered"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_migration_past_its_deadline_is_stopped_and_fails_the_job() {
    let env = Env::start().await;
    tasks_never_finish(&env.moto.endpoint).await;
    let mut f = functions(&env).await;
    let key = "manifests/web/v2.1.0.json";
    let doc = json!({"schema": "berth/v1", "service": "web", "release": "v2.1.0",
        "images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))},
        "migration": {"timeout_seconds": 1}});
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = f
        .manifest
        .invoke(&s3_event_json(key, &version))
        .await
        .response();
    let artifact_version = out["results"][0]["artifact_version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let artifact = env.stage_artifact(&artifact_version, "v2.1.0").await;

    f.migrate
        .invoke(&job_event_json("job-e2e-2", &artifact, false, None))
        .await
        .response();
    let (_, first) = f.jobs.last().unwrap();
    let token = first["continuationToken"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    f.migrate
        .invoke(
            &Job::new("job-e2e-2", &artifact)
                .continued(1)
                .event_json(Some(&token)),
        )
        .await
        .response();
    let (op, body) = f.jobs.last().unwrap();
    assert_eq!(op, "PutJobFailureResult");
    assert_eq!(body["failureDetails"]["type"], "JobFailed");
    let message = body["failureDetails"]["message"].as_str().unwrap();
    assert!(
        message.contains("did not finish within 1 seconds") && message.contains("stream web/app/"),
        "{message}"
    );
    let tasks = env
        .clients
        .ecs
        .list_tasks()
        .cluster("prod")
        .desired_status(aws_sdk_ecs::types::DesiredStatus::Stopped)
        .send()
        .await
        .unwrap();
    assert_eq!(tasks.task_arns().len(), 1, "the task was stopped");
}

#[tokio::test(flavor = "current_thread")]
async fn a_two_image_release_a_rejection_and_a_rollback() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let mut f = functions(&env).await;

    let key = "manifests/web/v3.0.0.json";
    let doc = json!({"schema": "berth/v1", "service": "web", "release": "v3.0.0",
        "images": {"app": format!("{}:3f9c2e1", repo_uri("web/app")),
                   "nginx": format!("{}:1.27", repo_uri("web/nginx"))}});
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = f
        .manifest
        .invoke(&s3_event_json(key, &version))
        .await
        .response();
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let first_artifact = out["results"][0]["artifact_version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = env.get_json("releases/web/v3.0.0.json").await.unwrap();
    assert_eq!(
        record["images"]["nginx"],
        format!("{}@{}", repo_uri("web/nginx"), env.digest("web/nginx:1.27"))
    );
    assert_eq!(
        record["images"]["app"],
        format!("{}@{}", repo_uri("web/app"), env.digest("web/app:3f9c2e1"))
    );

    // A rejected manifest is a handled event, not a function error.
    let key = "manifests/web/v3.1.0.json";
    let version = env
        .put_manifest(
            key,
            br#"{"schema":"berth/v1","service":"web","release":"v3.1.0","images":{}}"#,
        )
        .await;
    let out = f.manifest.invoke(&s3_event_json(key, &version)).await;
    let Outcome::Response(out) = out else {
        panic!("a rejection must not be an error: {out:?}")
    };
    assert_eq!(out["results"][0]["outcome"], "rejected");
    assert!(env.get_json("rejected/web/v3.1.0.json").await.is_some());

    // Rollback: a new execution of v3.0.0's exact artifact version; the Migrate action skips.
    let token = berth::pipeline::request_token(&["rollback", "web", "v3.0.0"]);
    let execution = berth::pipeline::start(
        &env.clients.codepipeline,
        &berth::pipeline::Execution {
            pipeline: "berth-web",
            service: "web",
            release: "v3.0.0",
            artifact_version_id: &first_artifact,
            rollback: true,
            client_request_token: &token,
        },
    )
    .await
    .expect("rollback execution");
    let sent = env.pipeline_requests.bodies("StartPipelineExecution");
    assert_eq!(
        sent.last().unwrap()["sourceRevisions"][0]["revisionValue"],
        first_artifact.as_str()
    );
    assert!(!execution.is_empty());
    let artifact = env.stage_artifact(&first_artifact, "v3.0.0").await;
    let (op, body) = run_migrate_job(&mut f, "job-e2e-3", &artifact, true).await;
    assert_eq!(op, "PutJobSuccessResult");
    assert_eq!(body["outputVariables"], json!({"MIGRATION": "skipped"}));
}

#[tokio::test(flavor = "current_thread")]
async fn faults_are_function_errors_so_lambda_retries() {
    let env = Env::start().await;
    let mut vars = moto_env(&env.moto.endpoint);
    vars.retain(|(k, _)| *k != "BERTH_RELEASE_BUCKET");
    vars.push(("BERTH_RELEASE_BUCKET", "no-such-bucket".into()));
    let mut manifest = Function::spawn("on-manifest", &vars).await;
    let out = manifest
        .invoke(&s3_event_json("manifests/web/v1.json", "v"))
        .await;
    // The event names another bucket than the function's: ignored, not an error.
    assert!(matches!(out, Outcome::Response(_)), "{out:?}");

    let text = s3_event_json("manifests/web/v1.json", "v")
        .to_string()
        .replace(BUCKET, "no-such-bucket");
    let event: Value = serde_json::from_str(&text).unwrap();
    let out = manifest.invoke(&event).await;
    let Outcome::Error(e) = out else {
        panic!("a missing bucket must be an error: {out:?}")
    };
    assert!(e.to_string().contains("no-such-bucket"), "{e}");
    // Lambda's errorType names the kind of fault, not a Rust type.
    assert_eq!(e["errorType"], "AwsRefused", "{e}");

    // A function without its bucket setting refuses to start, naming the variable.
    let status = std::process::Command::new(berth_tests::runtime::function_binary("on-manifest"))
        .env_clear()
        .env("AWS_REGION", REGION)
        .output()
        .expect("runs");
    assert!(!status.status.success());
    assert!(
        String::from_utf8_lossy(&status.stderr).contains("BERTH_RELEASE_BUCKET"),
        "{status:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn pipeline_state_changes_update_the_record_and_notify_slack() {
    let env = Env::start().await;
    let out = env.release_web("v4.0.0", "v1.4.2").await;
    let execution = out["pipeline_execution_id"].as_str().unwrap().to_owned();
    let slack = StandIn::job_api().await;
    let mut vars = moto_env(&env.moto.endpoint);
    vars.push((
        "BERTH_SLACK_WEBHOOK_URL",
        format!("{}/services/T000/B000/XXXX", slack.endpoint),
    ));
    let mut f = Function::spawn("on-pipeline-event", &vars).await;

    let out = f
        .invoke(&pipeline_event_json("berth-web", &execution, "STARTED"))
        .await
        .response();
    assert_eq!(
        (out["status"].as_str(), out["notified"].as_bool()),
        (Some("IN_PROGRESS"), Some(false)),
        "{out}"
    );
    assert!(slack.last().is_none(), "nothing to say until it ends");

    let out = f
        .invoke(&pipeline_event_json("berth-web", &execution, "SUCCEEDED"))
        .await
        .response();
    assert_eq!(out["notified"], true, "{out}");
    let (op, body) = slack.last().unwrap();
    assert_eq!(op, "POST /services/T000/B000/XXXX");
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("web release v4.0.0 succeeded") && text.contains("@sha256:"),
        "{text}"
    );
    let record = env.get_json("releases/web/v4.0.0.json").await.unwrap();
    assert_eq!(record["status"], "SUCCEEDED");
    assert!(record["finished_at"].is_string());

    // CodePipeline's events reach EventBridge "best effort": late and repeated. A repeated
    // SUCCEEDED sends no second message; a late STARTED does not reopen the release.
    for late in ["SUCCEEDED", "STARTED", "RESUMED"] {
        let out = f
            .invoke(&pipeline_event_json("berth-web", &execution, late))
            .await
            .response();
        assert_eq!(out["outcome"], "ignored", "{late}: {out}");
    }
    assert_eq!(slack.calls.count(), 1, "one message per finished release");
    let again = env.get_json("releases/web/v4.0.0.json").await.unwrap();
    assert_eq!(again, record, "nothing changed");
}

/// A payload that is not the function's event type is logged once and acknowledged: Lambda
/// would otherwise retry it twice, count it as an error and send it to the failed-events queue.
#[tokio::test(flavor = "current_thread")]
async fn payloads_of_another_type_are_acknowledged_not_errors() {
    let env = Env::start().await;
    let vars = moto_env(&env.moto.endpoint);
    // S3 sends this when a notification is configured.
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent",
        "Time": "2014-10-13T15:57:02.089Z", "Bucket": BUCKET, "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"});
    let misrouted = s3_event_json("manifests/web/v1.json", "v");
    let cases = [
        ("on-manifest", test_event.clone()),
        ("on-image-push", misrouted.clone()),
        ("on-pipeline-event", json!({"hello": "world"})),
        ("migrate", test_event),
    ];
    for (name, payload) in cases {
        let mut f = Function::spawn(name, &vars).await;
        let out = f.invoke(&payload).await;
        let Outcome::Response(answer) = out else {
            panic!("{name}: {out:?}")
        };
        let text = answer.to_string();
        assert!(
            text.contains("ignored") && text.contains("the payload is not"),
            "{name}: {text}"
        );
    }
}

/// A job event the function cannot read but whose job id it can: that job is failed with the
/// reason at once, rather than left waiting for the action's timeout.
#[tokio::test(flavor = "current_thread")]
async fn an_unreadable_job_that_names_its_id_is_failed_with_the_reason() {
    let env = Env::start().await;
    let jobs = StandIn::job_api().await;
    let mut vars = moto_env(&env.moto.endpoint);
    vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    let payload = json!({"CodePipeline.job": {"id": "job-unreadable", "accountId": 7}});
    for name in ["migrate", "scan-gate"] {
        let mut f = Function::spawn(name, &vars).await;
        let Outcome::Response(answer) = f.invoke(&payload).await else {
            panic!("{name} failed")
        };
        assert_eq!(answer["result"], "failure", "{name}: {answer}");
        let (op, body) = jobs.last().expect("a job result");
        assert!(op.ends_with("PutJobFailureResult"), "{name}: {op}");
        assert_eq!(body["jobId"], "job-unreadable");
        let message = body["failureDetails"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.starts_with(&format!("berth {name} cannot read its job: ")),
            "{name}: {message}"
        );
    }
}
