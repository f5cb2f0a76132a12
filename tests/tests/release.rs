//! on-manifest and on-image-push against a moto server: real HTTP round trips, real event JSON.

use berth::render::{self, ArtifactRelease};
use berth_tests::*;
use serde_json::{Value, json};

fn manifest(release: &str, app: &str, nginx: Option<&str>) -> Value {
    let mut images = json!({ "app": app });
    if let Some(n) = nginx {
        images["nginx"] = json!(n);
    }
    json!({
        "schema": "berth/v1",
        "service": "web",
        "release": release,
        "images": images,
        "migration": { "command": ["bin/rails", "db:migrate"], "timeout_seconds": 900 },
        "rollback_of": null
    })
}

async fn deliver(
    env: &Env,
    releaser: &berth::on_manifest::Context,
    key_encoded: &str,
    version: &str,
) -> Value {
    let out = releaser
        .on_event(s3_event(key_encoded, version), &env.invocation())
        .await
        .expect("handled");
    serde_json::to_value(out).unwrap()
}

/// Delivers an ECR push event to on-image-push; its answer as JSON.
async fn push(
    env: &Env,
    releaser: &berth::on_manifest::Context,
    event: aws_lambda_events::event::eventbridge::EventBridgeEvent<Value>,
) -> Value {
    let context = berth::on_image_push::Context::new(&releaser.clients, &releaser.settings);
    let out = context
        .on_event(event, &env.invocation())
        .await
        .expect("handled");
    serde_json::to_value(out).unwrap()
}

fn artifact_file(zip: &[u8], name: &str) -> Vec<u8> {
    render::read_artifact_file(zip, name).expect("artifact file")
}

#[tokio::test(flavor = "current_thread")]
async fn a_two_image_manifest_becomes_a_pinned_artifact_and_one_execution() {
    let env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let nginx_digest = env.digest("web/nginx:1.27").to_owned();
    let doc = manifest(
        "v1.4.2",
        &format!("{}:3f9c2e1", repo_uri("web/app")),
        Some(&format!("{}@{nginx_digest}", repo_uri("web/nginx"))),
    );
    let key = "manifests/web/v1.4.2.json";
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;

    let out = deliver(&env, &releaser, key, &version).await;
    let result = &out["results"][0];
    assert_eq!(result["outcome"], "started", "{out}");

    // The artifact: one S3 version, the one the pipeline was pinned to.
    let artifact_versions = env.versions("artifacts/web/source.zip").await;
    assert_eq!(artifact_versions.len(), 1);
    assert_eq!(result["artifact_version_id"], artifact_versions[0].as_str());
    let zip = env
        .get_object("artifacts/web/source.zip", Some(&artifact_versions[0]))
        .await
        .expect("artifact");
    let taskdef: Value = serde_json::from_slice(&artifact_file(&zip, "taskdef.json")).unwrap();
    let images: Vec<(&str, &str)> = taskdef["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["image"].as_str().unwrap()))
        .collect();
    let app_pinned = format!("{}@{}", repo_uri("web/app"), env.digest("web/app:3f9c2e1"));
    let nginx_pinned = format!("{}@{nginx_digest}", repo_uri("web/nginx"));
    assert_eq!(
        images,
        [
            ("app", app_pinned.as_str()),
            ("nginx", nginx_pinned.as_str()),
            ("datadog", "public.ecr.aws/datadog/agent:7")
        ]
    );
    assert_eq!(taskdef["family"], "web");
    assert!(taskdef.get("taskDefinitionArn").is_none() && taskdef.get("revision").is_none());
    let appspec = String::from_utf8(artifact_file(&zip, "appspec.yaml")).unwrap();
    assert!(
        appspec.contains("TaskDefinition: <TASK_DEFINITION>"),
        "{appspec}"
    );
    assert!(appspec.contains("ContainerName: \"nginx\"") && appspec.contains("ContainerPort: 80"));
    let detail: Value = serde_json::from_slice(&artifact_file(&zip, "imageDetail.json")).unwrap();
    assert_eq!(detail, json!({ "ImageURI": app_pinned }));
    let rel: ArtifactRelease =
        serde_json::from_slice(&artifact_file(&zip, "release.json")).unwrap();
    assert_eq!(
        (rel.service.as_str(), rel.release.as_str()),
        ("web", "v1.4.2")
    );
    assert_eq!(rel.manifest.version_id, version);
    let plan = rel.migration.expect("migration planned");
    assert_eq!(
        (plan.timeout_seconds, plan.container.as_str()),
        (900, "app")
    );

    // The release record.
    let record = env
        .get_json("releases/web/v1.4.2.json")
        .await
        .expect("record");
    assert_eq!(record["status"], "IN_PROGRESS");
    assert_eq!(record["artifact_version_id"], artifact_versions[0].as_str());
    assert_eq!(
        record["pipeline_execution_id"],
        result["pipeline_execution_id"]
    );
    assert_eq!(record["manifest"]["version_id"], version.as_str());
    assert_eq!(record["images"]["app"], app_pinned.as_str());
    assert!(record["lease_until_epoch"].is_null());

    // The execution: the request pinned the source revision; moto kept the variables.
    let sent = env.pipeline_requests.bodies("StartPipelineExecution");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["name"], "berth-web");
    assert_eq!(
        sent[0]["sourceRevisions"],
        json!([{ "actionName": "Source", "revisionType": "S3_OBJECT_VERSION_ID",
                 "revisionValue": artifact_versions[0] }])
    );
    assert_eq!(
        sent[0]["clientRequestToken"].as_str().map(str::len),
        Some(64)
    );
    let exec = env
        .clients
        .codepipeline
        .get_pipeline_execution()
        .pipeline_name("berth-web")
        .pipeline_execution_id(result["pipeline_execution_id"].as_str().unwrap())
        .send()
        .await
        .expect("execution exists");
    let vars: Vec<(String, String)> = exec
        .pipeline_execution()
        .unwrap()
        .variables()
        .iter()
        .map(|v| {
            (
                v.name().unwrap_or_default().into(),
                v.resolved_value().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(
        vars,
        [
            ("BERTH_SERVICE".into(), "web".into()),
            ("BERTH_RELEASE".into(), "v1.4.2".into()),
            ("BERTH_ROLLBACK".into(), "false".into())
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_same_event_three_times_starts_one_execution_and_a_second_upload_is_rejected() {
    let env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let key = "manifests/web/v2.json";
    let doc = manifest("v2", &format!("{}:v1.4.2", repo_uri("web/app")), None);
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;

    let outcomes: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let out = deliver(&env, &releaser, key, &version).await;
            v.push(out["results"][0]["outcome"].as_str().unwrap().to_owned());
        }
        v
    };
    assert_eq!(outcomes, ["started", "duplicate", "duplicate"]);
    assert_eq!(env.versions("artifacts/web/source.zip").await.len(), 1);
    assert_eq!(env.executions("berth-web").await.len(), 1);
    assert_eq!(
        env.pipeline_requests.bodies("StartPipelineExecution").len(),
        1
    );

    // A different upload of the same release: refused, nothing redeployed.
    let mut changed = manifest("v2", &format!("{}:3f9c2e1", repo_uri("web/app")), None);
    changed["migration"] = Value::Null;
    let second = env.put_manifest(key, changed.to_string().as_bytes()).await;
    let out = deliver(&env, &releaser, key, &second).await;
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    let rejection = env
        .get_json("rejected/web/v2.json")
        .await
        .expect("rejection record");
    assert_eq!(rejection["manifest"], key);
    assert_eq!(rejection["version_id"], second.as_str());
    assert!(
        rejection["errors"][0]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{rejection}"
    );
    assert_eq!(env.versions("artifacts/web/source.zip").await.len(), 1);
    assert_eq!(env.executions("berth-web").await.len(), 1);
    let record = env.get_json("releases/web/v2.json").await.unwrap();
    assert_eq!(
        record["manifest"]["version_id"],
        version.as_str(),
        "record untouched"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_bad_manifest_writes_every_error_and_starts_nothing() {
    let env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let key = "manifests/web/v3.json";
    let doc = json!({
        "schema": "berth/v1",
        "service": "api",
        "release": "v3",
        "images": {
            "app": format!("{}:does-not-exist", repo_uri("web/app")),
            "worker": "docker.io/library/busybox:1",
            "nginx": format!("{}:latest", repo_uri("web/nginx"))
        },
        "extra": 1
    });
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = deliver(&env, &releaser, key, &version).await;
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    let rejection = env
        .get_json("rejected/web/v3.json")
        .await
        .expect("rejection");
    let errors: Vec<&str> = rejection["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    for field in [
        "extra: unknown field",
        "service: ",
        "images.worker: ",
        "images.nginx: ",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(field)),
            "{field} not in {errors:?}"
        );
    }
    assert!(env.get_json("releases/web/v3.json").await.is_none());
    assert!(env.versions("artifacts/web/source.zip").await.is_empty());
    assert!(env.executions("berth-web").await.is_empty());

    // A well-formed manifest whose tag does not exist is rejected once ECR is asked.
    let key = "manifests/web/v4.json";
    let doc = manifest("v4", &format!("{}:0badc0de", repo_uri("web/app")), None);
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = deliver(&env, &releaser, key, &version).await;
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    let rejection = env
        .get_json("rejected/web/v4.json")
        .await
        .expect("rejection");
    let first = rejection["errors"][0].as_str().unwrap();
    assert!(
        first.starts_with("images.app: ")
            && first.contains("0badc0de")
            && first.contains("not found"),
        "{first}"
    );
    assert!(env.executions("berth-web").await.is_empty());

    // A manifest for a service that is not in the registry.
    let key = "manifests/ghost/v1.json";
    let mut doc = manifest("v1", &format!("{}:v1.4.2", repo_uri("web/app")), None);
    doc["service"] = json!("ghost");
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = deliver(&env, &releaser, key, &version).await;
    assert_eq!(out["results"][0]["outcome"], "rejected");
    let rejection = env
        .get_json("rejected/ghost/v1.json")
        .await
        .expect("rejection");
    assert!(
        rejection["errors"][0]
            .as_str()
            .unwrap()
            .contains("/berth/services/ghost"),
        "{rejection}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn keys_arrive_url_encoded() {
    let env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    // A key with characters S3 encodes: the release name is invalid, so it is rejected, and
    // the rejection lands at the decoded path.
    let key = "manifests/web/v 5+b.json";
    let version = env.put_manifest(key, b"{}").await;
    let out = deliver(&env, &releaser, "manifests/web/v+5%2Bb.json", &version).await;
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    let rejection = env
        .get_json("rejected/web/v 5+b.json")
        .await
        .expect("rejection at decoded key");
    assert_eq!(rejection["manifest"], key);
    assert!(
        rejection["errors"][0]
            .as_str()
            .unwrap()
            .contains("must match")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_image_push_releases_one_container_and_keeps_the_others() {
    let mut env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let digest = env.push_image("web/app", "v1.5.0").await;
    let push_event = ecr_event("PUSH", "SUCCESS", "web/app", "v1.5.0", &digest);

    for _ in 0..3 {
        let out = push(&env, &releaser, push_event.clone()).await;
        let outcome = out["results"][0]["outcome"].as_str().unwrap().to_owned();
        assert!(outcome == "written" || outcome == "exists", "{out}");
    }
    let key = "manifests/web/v1.5.0.json";
    let versions = env.versions(key).await;
    assert_eq!(versions.len(), 1, "repeated deliveries write one manifest");
    let written = env.get_json(key).await.unwrap();
    assert_eq!(
        written,
        json!({"schema": "berth/v1", "service": "web", "release": "v1.5.0",
               "images": {"app": format!("{}@{digest}", repo_uri("web/app"))}, "rollback_of": null})
    );

    let out = deliver(&env, &releaser, key, &versions[0]).await;
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let record = env.get_json("releases/web/v1.5.0.json").await.unwrap();
    assert_eq!(
        record["images"]["app"],
        format!("{}@{digest}", repo_uri("web/app"))
    );
    // nginx was not in the push: it keeps what the template runs, pinned by digest.
    assert_eq!(
        record["images"]["nginx"],
        format!("{}@{}", repo_uri("web/nginx"), env.digest("web/nginx:1.25"))
    );
    assert_eq!(
        record["migration_plan"]["timeout_seconds"], 1800,
        "registry default"
    );

    // Pushes that must not start anything.
    let ignored = [
        ecr_event("PUSH", "SUCCESS", "web/app", "latest", &digest),
        ecr_event("PUSH", "FAILURE", "web/app", "v9.9.9", &digest),
        ecr_event("DELETE", "SUCCESS", "web/app", "v9.9.8", &digest),
        ecr_event("PUSH", "SUCCESS", "web/app", "feature-branch", &digest),
        ecr_event("PUSH", "SUCCESS", "web/nginx", "v9.9.7", &digest),
        ecr_event("PUSH", "SUCCESS", "other/repo", "v9.9.6", &digest),
    ];
    for event in ignored {
        let tag = event.detail["image-tag"].clone();
        let out = push(&env, &releaser, event).await;
        assert_eq!(out["results"][0]["outcome"], "ignored", "{tag}: {out}");
    }
    let all = env
        .clients
        .s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("manifests/")
        .send()
        .await
        .unwrap();
    assert_eq!(all.contents().len(), 1, "only v1.5.0 has a manifest");
}

/// Once CodeDeploy has deployed a pinned revision, a single-image release looks up only the
/// pushed repository, keeps the other digests, and stays within 10 AWS calls (the template takes
/// two: DescribeServices for what runs, DescribeTaskDefinition for its JSON; one lists the
/// release in the index).
#[tokio::test(flavor = "current_thread")]
async fn a_steady_state_push_release_makes_ten_calls_and_one_ecr_lookup() {
    let mut env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let first = env.push_image("web/app", "v6.0.0").await;
    let key = "manifests/web/v6.0.0.json";
    let doc = manifest("v6.0.0", &format!("{}@{first}", repo_uri("web/app")), None);
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = deliver(&env, &releaser, key, &version).await;
    let artifact = out["results"][0]["artifact_version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // What CodeDeploy does with taskdef.json: register it as the family's next revision.
    let zip = env
        .get_object("artifacts/web/source.zip", Some(&artifact))
        .await
        .unwrap();
    let taskdef: Value = serde_json::from_slice(&artifact_file(&zip, "taskdef.json")).unwrap();
    let pinned_nginx = taskdef["containerDefinitions"][1]["image"]
        .as_str()
        .unwrap()
        .to_owned();
    raw_json(
        &env.moto.endpoint,
        "ecs",
        "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
        &taskdef.to_string(),
    )
    .await;
    // ...and shift production traffic to a task set running it.
    env.deploy("web", "web:2").await;

    let recorder = Recorder::default();
    let counted =
        berth::on_manifest::Context::new(recorded_clients(&env.config, &recorder), env.settings());
    let second = env.push_image("web/app", "v6.0.1").await;
    let key = "manifests/web/v6.0.1.json";
    let doc = manifest("v6.0.1", &format!("{}@{second}", repo_uri("web/app")), None);
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = deliver(&env, &counted, key, &version).await;
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let record = env.get_json("releases/web/v6.0.1.json").await.unwrap();
    assert_eq!(
        record["images"]["nginx"],
        pinned_nginx.as_str(),
        "nginx keeps what runs"
    );
    let ops = recorder.operations();
    let ecr = ops.iter().filter(|o| o.contains("BatchGetImage")).count();
    assert_eq!(ecr, 1, "{ops:#?}");
    assert!(ops.len() <= 10, "{} calls: {ops:#?}", ops.len());
}

/// The template is the task definition the service runs now, not the family's newest
/// revision: a failed release leaves its revision behind as the newest ACTIVE one, and the next
/// release must not pick up its images for the containers it does not name.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_releases_revision_does_not_ride_into_the_next_release() {
    let env = Env::start().await;
    // What a failed release leaves: web:2, registered (by migrate and by CodeDeploy) but never
    // serving production traffic; the PRIMARY task set still runs web:1.
    let failed_nginx = format!("{}@{}", repo_uri("web/nginx"), env.digest("web/nginx:1.27"));
    let mut taskdef: Value = serde_json::from_str(
        &raw_json(
            &env.moto.endpoint,
            "ecs",
            "AmazonEC2ContainerServiceV20141113.DescribeTaskDefinition",
            r#"{"taskDefinition": "web:1"}"#,
        )
        .await,
    )
    .unwrap();
    let mut td = taskdef["taskDefinition"].take();
    td["containerDefinitions"][1]["image"] = json!(failed_nginx);
    for field in [
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
        "registeredBy",
    ] {
        td.as_object_mut().unwrap().remove(field);
    }
    raw_json(
        &env.moto.endpoint,
        "ecs",
        "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
        &td.to_string(),
    )
    .await;

    let out = env.release_web("v8.0.0", "v1.4.2").await;
    assert_eq!(out["outcome"], "started", "{out}");
    let record = env.get_json("releases/web/v8.0.0.json").await.unwrap();
    assert_eq!(
        record["images"]["nginx"],
        format!("{}@{}", repo_uri("web/nginx"), env.digest("web/nginx:1.25")),
        "nginx keeps what the PRIMARY task set runs, not the failed release's 1.27"
    );
}

/// A service that does not exist, or that runs nothing yet, is a rejection naming it.
#[tokio::test(flavor = "current_thread")]
async fn a_missing_service_or_one_without_a_primary_task_set_is_a_rejection() {
    let env = Env::start().await;
    let mut entry = web_registry(&env.default_subnets().await);
    entry["ecs_service"] = json!("nope");
    env.put_registry(&entry).await;
    let out = env.release_web("v8.1.0", "v1.4.2").await;
    assert_eq!(out["outcome"], "rejected", "{out}");
    let errors: Vec<&str> = out["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        errors.iter().any(|e| e
            .starts_with("ecs_service: ECS service \"nope\" in cluster \"prod\" was not found")),
        "{errors:?}"
    );

    env.clients
        .ecs
        .create_service()
        .cluster("prod")
        .service_name("fresh")
        .deployment_controller(
            aws_sdk_ecs::types::DeploymentController::builder()
                .r#type(aws_sdk_ecs::types::DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    entry["ecs_service"] = json!("fresh");
    env.put_registry(&entry).await;
    let out = env.release_web("v8.1.1", "v1.4.2").await;
    assert_eq!(out["outcome"], "rejected", "{out}");
    assert!(
        out["errors"]
            .to_string()
            .contains("has no PRIMARY task set"),
        "{out}"
    );
}

/// A delivery that crashed after writing the artifact (record claimed, lease lapsed) is
/// resumed by the retry: the artifact it wrote is found by its metadata and reused; while the
/// lease is live, the retry is refused with an error so Lambda tries again later.
#[tokio::test(flavor = "current_thread")]
async fn a_crashed_delivery_is_resumed_with_its_artifact_and_a_live_one_is_left_alone() {
    let env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let key = "manifests/web/v7.json";
    let doc = manifest("v7", &format!("{}:v1.4.2", repo_uri("web/app")), None);
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;

    // What a crashed invocation leaves behind: its claim and the artifact it wrote.
    let orphan = env
        .clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key("artifacts/web/source.zip")
        .metadata("berth-manifest-version", &version)
        .body(b"zip written before the crash".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claim = |lease: u64| {
        json!({"schema": "berth/release-record/v1", "service": "web", "release": "v7",
            "status": "RENDERING",
            "manifest": {"bucket": BUCKET, "key": key, "version_id": version},
            "pipeline": "berth-web", "task_family": "web", "images": {}, "migration_plan": null,
            "created_at": "2026-11-23T00:00:00Z", "updated_at": "2026-11-23T00:00:00Z",
            "lease_until_epoch": lease})
    };
    env.put_manifest(
        "releases/web/v7.json",
        claim(now + 300).to_string().as_bytes(),
    )
    .await;
    let err = releaser
        .on_event(s3_event(key, &version), &env.invocation())
        .await
        .map(|o| serde_json::to_value(o).unwrap())
        .expect_err("a live claim makes the retry wait");
    assert!(err.to_string().contains("retry later"), "{err}");
    assert!(env.executions("berth-web").await.is_empty());

    env.put_manifest(
        "releases/web/v7.json",
        claim(now - 1).to_string().as_bytes(),
    )
    .await;
    let out = deliver(&env, &releaser, key, &version).await;
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    assert_eq!(out["results"][0]["artifact_version_id"], orphan.as_str());
    assert_eq!(
        env.versions("artifacts/web/source.zip").await.len(),
        1,
        "nothing re-rendered"
    );
    let record = env.get_json("releases/web/v7.json").await.unwrap();
    assert_eq!(record["status"], "IN_PROGRESS");
    assert_eq!(record["artifact_version_id"], orphan.as_str());
    assert_eq!(record["created_at"], "2026-11-23T00:00:00Z");
    let sent = env.pipeline_requests.bodies("StartPipelineExecution");
    assert_eq!(
        sent[0]["sourceRevisions"][0]["revisionValue"],
        orphan.as_str()
    );
}

/// The service stacks configure the Release stage's Lambda actions with exactly the
/// UserParameters `migrate` parses (release, rollback, execution).
#[test]
fn the_stacks_pass_the_user_parameters_migrate_reads() {
    let root = workspace_root();
    let cloudformation =
        std::fs::read_to_string(root.join("infra/cloudformation/service.yaml")).unwrap();
    assert!(
        cloudformation.contains(&format!(
            "UserParameters: '{}'",
            berth::migrate::USER_PARAMETERS
        )),
        "service.yaml"
    );
    let terraform =
        std::fs::read_to_string(root.join("infra/terraform/modules/service/main.tf")).unwrap();
    let escaped = berth::migrate::USER_PARAMETERS.replace('"', "\\\"");
    assert!(
        terraform.contains(&format!("\"{escaped}\"")),
        "modules/service/main.tf"
    );
}

/// A push of the same repository name in another account or region is not berth's: it is
/// ignored and writes nothing, so the real push of that tag in berth's account still releases.
#[tokio::test(flavor = "current_thread")]
async fn a_push_from_another_account_or_region_writes_nothing() {
    let mut env = Env::start().await;
    let releaser = env.on_manifest();
    let digest = env.push_image("web/app", "v7.9.3").await;
    for (field, value) in [("account", "999999999999"), ("region", "us-west-2")] {
        let mut foreign = ecr_event_json("PUSH", "SUCCESS", "web/app", "v7.9.3", &digest);
        foreign[field] = json!(value);
        let out = push(&env, &releaser, serde_json::from_value(foreign).unwrap()).await;
        assert_eq!(out["results"][0]["outcome"], "ignored", "{field}: {out}");
        assert!(
            out["results"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("not berth's own"),
            "{out}"
        );
    }
    assert!(
        env.versions("manifests/web/v7.9.3.json").await.is_empty(),
        "nothing written"
    );
    let out = push(
        &env,
        &releaser,
        ecr_event("PUSH", "SUCCESS", "web/app", "v7.9.3", &digest),
    )
    .await;
    assert_eq!(out["results"][0]["outcome"], "written", "{out}");
}

/// A delivery that crashed after starting the pipeline (before writing the record) is resumed
/// by following that execution: it is found among the pipeline's recent executions by its
/// source revision (the artifact version), and no second execution is started.
#[tokio::test(flavor = "current_thread")]
async fn a_resumed_release_follows_the_execution_its_crashed_predecessor_started() {
    use aws_sdk_codepipeline::operation::list_pipeline_executions::ListPipelineExecutionsOutput;
    use aws_sdk_codepipeline::operation::start_pipeline_execution::StartPipelineExecutionOutput;
    use aws_sdk_codepipeline::types::{PipelineExecutionSummary, SourceRevision};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let env = Env::start().await;
    let key = "manifests/web/v9.json";
    let doc = manifest("v9", &format!("{}:v1.4.2", repo_uri("web/app")), None);
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let orphan = env
        .clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key("artifacts/web/source.zip")
        .metadata("berth-manifest-version", &version)
        .body(b"zip written before the crash".to_vec().into())
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let lapsed = json!({"schema": "berth/release-record/v1", "service": "web", "release": "v9",
        "status": "RENDERING", "manifest": {"bucket": BUCKET, "key": key, "version_id": version},
        "pipeline": "berth-web", "task_family": "web", "images": {}, "migration_plan": null,
        "created_at": "2026-11-23T00:00:00Z", "updated_at": "2026-11-23T00:00:00Z",
        "lease_until_epoch": 1});
    env.put_manifest("releases/web/v9.json", lapsed.to_string().as_bytes())
        .await;

    let revision = orphan.clone();
    let listed =
        mock!(aws_sdk_codepipeline::Client::list_pipeline_executions).then_output(move || {
            ListPipelineExecutionsOutput::builder()
                .pipeline_execution_summaries(
                    PipelineExecutionSummary::builder()
                        .pipeline_execution_id("started-before-the-crash")
                        .source_revisions(
                            SourceRevision::builder()
                                .action_name("Source")
                                .revision_id(&revision)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
        });
    let start = mock!(aws_sdk_codepipeline::Client::start_pipeline_execution).then_output(|| {
        StartPipelineExecutionOutput::builder()
            .pipeline_execution_id("second")
            .build()
    });
    let mut clients = env.clients.clone();
    clients.codepipeline =
        mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&listed, &start]);
    let releaser = berth::on_manifest::Context::new(clients, env.settings());
    let out = deliver(&env, &releaser, key, &version).await;
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    assert_eq!(
        out["results"][0]["pipeline_execution_id"],
        "started-before-the-crash"
    );
    assert_eq!(out["results"][0]["artifact_version_id"], orphan.as_str());
    assert_eq!(start.num_calls(), 0, "no second execution");
    let record = env.get_json("releases/web/v9.json").await.unwrap();
    assert_eq!(record["pipeline_execution_id"], "started-before-the-crash");
}

/// ECR sends push events "on a best effort basis": a push whose event never arrived is found
/// by the scheduled sweep and released — the newest one only, never one older than the
/// service's newest release, and never twice.
#[tokio::test(flavor = "current_thread")]
async fn the_sweep_recovers_a_lost_push_and_never_an_older_one() {
    let mut env = Env::start().await;
    let context = berth::on_image_push::Context::new(&env.clients, &env.settings());
    let inv = env.invocation();
    let sweep = |context: berth::on_image_push::Context| {
        let event = serde_json::from_value(scheduled_event_json()).unwrap();
        let inv = inv.clone();
        async move {
            let out = context.on_event(event, &inv).await.expect("swept");
            serde_json::to_value(out).unwrap()
        }
    };
    // A push older than the newest release is not released by the sweep.
    env.push_image("web/app", "v5.0.0").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(
        env.release_web("v5.1.0", "v1.4.2").await["outcome"],
        "started"
    );
    let out = sweep(context.clone()).await;
    assert_eq!(out["recovered"], 0, "{out}");
    assert!(
        out.to_string()
            .contains("older than the service's newest release"),
        "{out}"
    );
    assert!(env.versions("manifests/web/v5.0.0.json").await.is_empty());

    // A newer push whose event was lost is recovered, once.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    env.push_image("web/app", "feature-x").await;
    let digest = env.push_image("web/app", "v5.2.0").await;
    let out = sweep(context.clone()).await;
    assert_eq!(out["recovered"], 1, "{out}");
    assert_eq!(out["results"][0]["outcome"], "recovered", "{out}");
    assert_eq!(out["results"][0]["release"], "v5.2.0");
    let written = env.get_json("manifests/web/v5.2.0.json").await.unwrap();
    assert_eq!(
        written["images"]["app"],
        format!("{}@{digest}", repo_uri("web/app"))
    );
    let out = sweep(context).await;
    assert_eq!(
        (
            out["recovered"].as_u64(),
            out["results"][0]["outcome"].as_str()
        ),
        (Some(0), Some("exists")),
        "{out}"
    );
    assert_eq!(env.versions("manifests/web/v5.2.0.json").await.len(), 1);
}

/// `docker buildx build --platform linux/arm64 --push` stores an image index (its provenance
/// attestation makes one even for one platform). The template has no `runtimePlatform`, so its
/// tasks run linux/amd64: on-manifest refuses the release before anything starts, naming the
/// image and the platforms it has, from the manifest `BatchGetImage` already answered with.
#[tokio::test(flavor = "current_thread")]
async fn an_image_index_without_the_task_s_platform_is_rejected_naming_the_platforms_it_has() {
    let env = Env::start().await;
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let arm64 = format!("sha256:{}", "b".repeat(64));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm64, "size": 1609,
             "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{}", "c".repeat(64)),
             "size": 566, "platform": {"architecture": "unknown", "os": "unknown"},
             "annotations": {"vnd.docker.reference.digest": arm64, "vnd.docker.reference.type": "attestation-manifest"}}
        ]
    });
    env.clients
        .ecr
        .put_image()
        .repository_name("web/app")
        .image_tag("v2.0.0-arm")
        .image_manifest(index.to_string())
        .image_digest(format!("sha256:{}", "1".repeat(64)))
        .send()
        .await
        .expect("put the index");
    let key = "manifests/web/v2.0.0.json";
    let doc = manifest(
        "v2.0.0",
        &format!("{}:v2.0.0-arm", repo_uri("web/app")),
        None,
    );
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = deliver(&env, &releaser, key, &version).await;
    assert_eq!(out["results"][0]["outcome"], "rejected", "{out}");
    let rejection = env
        .get_json("rejected/web/v2.0.0.json")
        .await
        .expect("rejection");
    assert_eq!(
        rejection["errors"][0],
        format!(
            "images.app: {} tag \"v2.0.0-arm\" is an image index with no linux/amd64 image \
             (the task definition's runtimePlatform; linux/amd64 without one); it has linux/arm64/v8",
            repo_uri("web/app")
        ),
        "{rejection}"
    );
    assert!(env.versions("artifacts/web/source.zip").await.is_empty());
    assert!(env.executions("berth-web").await.is_empty());
}
