//! A moto server with SDK clients and the sample service `web` seeded, plus the reads tests
//! make of what the functions wrote.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::primitives::ByteStream;
use berth::aws::Clients;
use berth::invocation::Invocation;
use serde_json::{Value, json};

use crate::{ACCOUNT, BUCKET, FUNCTION_ARN, Moto, REGION, Recorder, s3_event, sdk_config};

/// A moto server with clients and the sample service seeded.
pub struct Env {
    pub moto: Moto,
    pub config: SdkConfig,
    /// Clients as the functions use them; CodePipeline requests are recorded.
    pub clients: Clients,
    pub pipeline_requests: Recorder,
    /// Digests of the seeded images by `<repo>:<tag>`.
    pub digests: BTreeMap<String, String>,
}

/// The sample service's registry entry (docs/design/contract.md §2 example, with moto-friendly
/// names).
pub fn web_registry(subnets: &[String]) -> Value {
    json!({
        "service": "web",
        "cluster": "prod",
        "ecs_service": "web",
        "pipeline": "berth-web",
        "task_family": "web",
        "containers": { "app": "web/app", "nginx": "web/nginx" },
        "push_trigger": { "container": "app", "tag_pattern": "^(v[0-9]+\\.[0-9]+\\.[0-9]+|[0-9a-f]{7,40})$" },
        "migration": {
            "container": "app",
            "command": ["bin/rails", "db:migrate"],
            "timeout_seconds": 1800,
            "subnets": subnets,
            "security_groups": ["sg-0d4e5f"]
        },
        "appspec": { "container": "nginx", "port": 80 }
    })
}

pub fn repo_uri(repo: &str) -> String {
    format!("{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{repo}")
}

impl Env {
    /// Starts moto and seeds the `web` service.
    pub async fn start() -> Env {
        let moto = Moto::start();
        let config = sdk_config(&moto.endpoint);
        let pipeline_requests = Recorder::default();
        let mut clients = Clients::new(&config);
        clients.codepipeline = aws_sdk_codepipeline::Client::from_conf(
            aws_sdk_codepipeline::config::Builder::from(&config)
                .interceptor(pipeline_requests.clone())
                .build(),
        );
        let mut env = Env {
            moto,
            config,
            clients,
            pipeline_requests,
            digests: BTreeMap::new(),
        };
        env.seed().await;
        env
    }

    pub fn invocation(&self) -> Invocation {
        let deadline = std::time::SystemTime::now() + Duration::from_secs(60);
        let ms = deadline
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Invocation::new(FUNCTION_ARN, ms)
    }

    pub fn settings(&self) -> berth::settings::Settings {
        berth::settings::Settings {
            release_bucket: BUCKET.into(),
            services_prefix: "/berth/services/".into(),
            verify_function: None,
        }
    }

    /// Releases `release` of `web` (app at `app_tag`) through on-manifest; returns the result.
    pub async fn release_web(&self, release: &str, app_tag: &str) -> Value {
        let key = format!("manifests/web/{release}.json");
        let doc = json!({"schema": "berth/v1", "service": "web", "release": release,
            "images": {"app": format!("{}:{app_tag}", repo_uri("web/app"))}, "migration": null});
        let version = self.put_manifest(&key, doc.to_string().as_bytes()).await;
        let out = self.deliver(&key, &version).await.expect("handled");
        out["results"][0].clone()
    }

    /// The on-manifest context as the function builds it, on these clients.
    pub fn on_manifest(&self) -> berth::on_manifest::Context {
        berth::on_manifest::Context::new(self.clients.clone(), self.settings())
    }

    /// Delivers the S3 notification of `key` at `version` to on-manifest; its answer as JSON.
    pub async fn deliver(&self, key_encoded: &str, version: &str) -> berth::Result<Value> {
        let out = self
            .on_manifest()
            .on_event(s3_event(key_encoded, version), &self.invocation())
            .await?;
        Ok(serde_json::to_value(out).expect("outcomes serialize"))
    }

    /// Delivers a pipeline execution's state change to on-pipeline-event (no notifications);
    /// its answer as JSON.
    pub async fn pipeline_event(&self, execution: &str, state: &str) -> Value {
        self.pipeline_event_of("berth-web", execution, state).await
    }

    /// The same for an execution of `pipeline`.
    pub async fn pipeline_event_of(&self, pipeline: &str, execution: &str, state: &str) -> Value {
        let event = serde_json::from_value(crate::pipeline_event_json(pipeline, execution, state))
            .expect("pipeline event");
        let notifier = berth::notify::Notifier::new(None).expect("no webhook");
        let context =
            berth::on_pipeline_event::Context::new(&self.clients, &self.settings(), notifier);
        let out = context
            .on_event(event, std::time::SystemTime::now())
            .await
            .expect("handled");
        serde_json::to_value(out).expect("output serializes")
    }

    /// An SSM parameter's value.
    pub async fn get_parameter(&self, name: &str) -> String {
        let out = self
            .clients
            .ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .expect("get parameter");
        out.parameter()
            .and_then(|p| p.value())
            .unwrap_or_default()
            .to_owned()
    }

    /// The keys under `prefix` in the release bucket (the first 1000).
    pub async fn list(&self, prefix: &str) -> Vec<String> {
        let out = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .send()
            .await
            .expect("list objects");
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// The release history the CLI reads.
    pub fn releases(&self) -> berth::releases::Releases {
        berth::releases::Releases::new(
            self.clients.codepipeline.clone(),
            berth::store::Bucket::new(self.clients.s3.clone(), BUCKET),
        )
    }

    /// Uploads a manifest and returns its version id.
    pub async fn put_manifest(&self, key: &str, body: &[u8]) -> String {
        self.clients
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .expect("put manifest")
            .version_id()
            .expect("versioned bucket")
            .to_owned()
    }

    pub async fn get_object(&self, key: &str, version: Option<&str>) -> Option<Vec<u8>> {
        let out = self
            .clients
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .ok()?;
        Some(out.body.collect().await.ok()?.into_bytes().to_vec())
    }

    pub async fn get_json(&self, key: &str) -> Option<Value> {
        self.get_object(key, None)
            .await
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Version ids of `key`, newest first.
    pub async fn versions(&self, key: &str) -> Vec<String> {
        let out = self
            .clients
            .s3
            .list_object_versions()
            .bucket(BUCKET)
            .prefix(key)
            .send()
            .await
            .expect("list versions");
        out.versions()
            .iter()
            .filter(|v| v.key() == Some(key))
            .filter_map(|v| v.version_id().map(str::to_owned))
            .collect()
    }

    pub async fn executions(&self, pipeline: &str) -> Vec<String> {
        self.clients
            .codepipeline
            .list_pipeline_executions()
            .pipeline_name(pipeline)
            .send()
            .await
            .expect("list executions")
            .pipeline_execution_summaries()
            .iter()
            .filter_map(|s| s.pipeline_execution_id().map(str::to_owned))
            .collect()
    }
}
