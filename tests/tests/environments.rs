//! `berth promote-release` between two environments in moto: staging in the default account,
//! production in account 222222222222 (moto separates accounts by the credentials an STS
//! AssumeRole hands out), each with its own release bucket and registry.

use std::process::{Command, Output};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    VersioningConfiguration,
};
use berth_tests::runtime::{function_binary, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

const PROD_ROLE: &str = "arn:aws:iam::222222222222:role/berth-release";
const PROD_BUCKET: &str = "berth-releases-prod";

/// SDK config with the production account's credentials (an assumed role, as the CLI gets them).
async fn production(env: &Env) -> SdkConfig {
    let query = format!(
        "Action=AssumeRole&RoleArn={}&RoleSessionName=setup&Version=2011-06-15",
        urlencode(PROD_ROLE)
    );
    let xml = raw_query(&env.moto.endpoint, "sts", &query).await;
    let creds = aws_sdk_s3::config::Credentials::new(
        between(&xml, "<AccessKeyId>", "</AccessKeyId>"),
        between(&xml, "<SecretAccessKey>", "</SecretAccessKey>"),
        Some(between(&xml, "<SessionToken>", "</SessionToken>")),
        None,
        "tests",
    );
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(&env.moto.endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(creds))
        .http_client(berth::aws::https_client())
        .build()
}

/// Production's bucket and its registry entry for `web`, whose containers run staging's
/// repositories by full URI (cross-account ECR by digest).
async fn provision_production(env: &Env, containers: Value) -> aws_sdk_s3::Client {
    let config = production(env).await;
    let s3 = berth::aws::s3_client(&config);
    s3.create_bucket()
        .bucket(PROD_BUCKET)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_versioning()
        .bucket(PROD_BUCKET)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut entry = web_registry(&["subnet-0prod".to_owned()]);
    entry["containers"] = containers;
    aws_sdk_ssm::Client::new(&config)
        .put_parameter()
        .name("/berth/services/web")
        .value(entry.to_string())
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .send()
        .await
        .unwrap();
    s3
}

fn environments_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("berth-envs-{}.json", std::process::id()));
    let doc = json!({"staging": {"bucket": BUCKET},
        "production": {"bucket": PROD_BUCKET, "role_arn": PROD_ROLE, "region": REGION}});
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn berth(env: &Env, args: &[&str]) -> Output {
    let mut cmd = Command::new(function_binary("berth"));
    cmd.env_clear().args(args);
    for (k, v) in moto_env(&env.moto.endpoint) {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn released(env: &Env, release: &str, tag: &str, state: &str) -> Value {
    let out = env.release_web(release, tag).await;
    env.pipeline_event(out["pipeline_execution_id"].as_str().unwrap(), state)
        .await;
    env.get_json(&format!("releases/web/{release}.json"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_release_that_succeeded_in_staging_goes_to_production_with_the_same_digests() {
    let env = Env::start().await;
    let staged = released(&env, "v1", "v1.0.0", "SUCCEEDED").await;
    released(&env, "v2", "v1.4.2", "FAILED").await;
    let prod = provision_production(
        &env,
        json!({"app": repo_uri("web/app"), "nginx": repo_uri("web/nginx")}),
    )
    .await;
    let file = environments_file();
    let envs = file.display().to_string();
    let promote = |release: &'static str| {
        vec![
            "promote-release",
            "web",
            release,
            "--from",
            "staging",
            "--to",
            "production",
            "--environments",
        ]
    };

    let mut args = promote("v1");
    args.extend([envs.as_str(), "--output", "json"]);
    let out = berth(&env, &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        said["manifest"],
        format!("s3://{PROD_BUCKET}/manifests/web/v1.json")
    );
    let body = prod
        .get_object()
        .bucket(PROD_BUCKET)
        .key("manifests/web/v1.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    let manifest: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        manifest["images"], staged["images"],
        "the very digests, no tags"
    );
    assert!(
        manifest["images"]["nginx"]
            .as_str()
            .unwrap()
            .contains("@sha256:")
    );
    assert_eq!(
        manifest["migration"],
        Value::Null,
        "staging's release skipped its migration, so production's does"
    );
    assert_eq!(
        manifest["promoted_from"],
        json!({"environment": "staging", "release": "v1",
               "pipeline_execution_id": staged["pipeline_execution_id"]})
    );
    assert!(
        env.get_json("manifests/web/v1.json").await.is_some(),
        "staging keeps its own manifest"
    );

    let refusals: [(&str, &str); 3] = [
        (
            "v2",
            "release v2 of web is FAILED in staging; only a SUCCEEDED release is promoted",
        ),
        ("v9", "staging has no release v9 of web"),
        ("v1", "production already has release v1 of web"),
    ];
    for (release, why) in refusals {
        let mut args = promote(release);
        args.push(envs.as_str());
        let out = berth(&env, &args);
        assert_eq!(out.status.code(), Some(1), "{release}");
        assert!(text(&out.stderr).contains(why), "{}", text(&out.stderr));
    }
    let unknown = berth(
        &env,
        &[
            "promote-release",
            "web",
            "v1",
            "--from",
            "staging",
            "--to",
            "prod",
            "--environments",
            &envs,
        ],
    );
    assert_eq!(unknown.status.code(), Some(1));
    assert!(text(&unknown.stderr).contains("no environment \"prod\" (known: production, staging)"));
}

#[tokio::test(flavor = "current_thread")]
async fn the_target_registry_decides_which_repositories_may_run() {
    let env = Env::start().await;
    released(&env, "v1", "v1.0.0", "SUCCEEDED").await;
    // Production runs its own repositories: staging's digests are outside them.
    provision_production(&env, json!({"app": "web/app", "nginx": "web/nginx"})).await;
    let file = environments_file();
    let out = berth(
        &env,
        &[
            "promote-release",
            "web",
            "v1",
            "--from",
            "staging",
            "--to",
            "production",
            "--environments",
            &file.display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("not promoted: production refuses this release:"),
        "{err}"
    );
    assert!(err.contains("images.app"), "{err}");
    assert!(err.contains("images.nginx"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_promoted_manifest_records_where_it_came_from() {
    let env = Env::start().await;
    let key = "manifests/web/v1.json";
    let doc = json!({"schema": "berth/v1", "service": "web", "release": "v1",
        "images": {"app": format!("{}:v1.0.0", repo_uri("web/app"))}, "migration": null,
        "promoted_from": {"environment": "dev", "release": "v1", "pipeline_execution_id": "e-dev"}});
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    let out = env.deliver(key, &version).await.unwrap();
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let record = env.get_json("releases/web/v1.json").await.unwrap();
    assert_eq!(record["promoted_from"], doc["promoted_from"]);
}
