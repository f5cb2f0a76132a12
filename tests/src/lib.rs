//! Test harness: a moto server on 127.0.0.1 per test, SDK clients pointed at it, and seeding
//! of a sample service (registry entry, ECR images, task definition, bucket, pipeline).

pub mod runtime;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::retry::RetryConfig;
use berth::aws::Clients;
use berth::handlers::Invocation;
use serde_json::{Value, json};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "ap-northeast-1";
pub const BUCKET: &str = "berth-releases";
pub const FUNCTION_ARN: &str = "arn:aws:lambda:ap-northeast-1:123456789012:function:berth";

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A moto server process bound to 127.0.0.1 on a free port; killed on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server` from `BERTH_MOTO_SERVER`, or the workspace's `.venv` that the test
    /// command creates, on a free loopback port.
    pub fn start() -> Moto {
        let exe = std::env::var_os("BERTH_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join(".venv/bin/moto_server"));
        assert!(
            exe.exists(),
            "{} not found: run the tests through `make test`, which installs moto",
            exe.display()
        );
        for _ in 0..5 {
            if let Some(moto) = Self::try_start(&exe) {
                return moto;
            }
        }
        panic!("moto_server did not start on a free loopback port in 5 attempts");
    }

    /// Tests run in parallel processes, so a port free a moment ago may be taken by another
    /// test's server: the server counts as ours only once *our* process holds the listening
    /// socket.
    fn try_start(exe: &std::path::Path) -> Option<Moto> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .ok()?;
        let child = Command::new(exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if moto.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if listens(moto.child.id(), port) {
                return Some(moto);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

/// Whether process `pid` holds the socket listening on 127.0.0.1:`port` (Linux /proc).
fn listens(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let local = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[1] == local && f[3] == "0A")
        .map(|f| format!("socket:[{}]", f[9]))
        .collect();
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .map(|target| inodes.iter().any(|i| target.to_string_lossy() == *i))
            .unwrap_or(false)
    })
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK config for moto: fixed credentials and region, retries off (moto answers missing
/// operations with 500s, which would otherwise be retried).
pub fn sdk_config(endpoint: &str) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::SharedCredentialsProvider::new(
            aws_sdk_s3::config::Credentials::new("testing", "testing", None, None, "tests"),
        ))
        .retry_config(RetryConfig::disabled())
        .http_client(berth::aws::https_client())
        .build()
}

/// Records the body of every request a client sends, by operation target.
#[derive(Debug, Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<(String, Value)>>>);

impl Recorder {
    /// Bodies of the requests whose `X-Amz-Target` ends with `.{operation}`.
    pub fn bodies(&self, operation: &str) -> Vec<Value> {
        self.0
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(t, _)| t.ends_with(&format!(".{operation}")))
                    .map(|(_, b)| b.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "tests::Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        // JSON protocols name the operation in X-Amz-Target; REST ones (S3) by method and path.
        let target = match req.headers().get("x-amz-target") {
            Some(t) => t.to_owned(),
            None => format!(
                "{} {}",
                req.method(),
                req.uri().split('?').next().unwrap_or("")
            ),
        };
        let body = req
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        self.0.lock().map_err(|_| "poisoned")?.push((target, body));
        Ok(())
    }
}

impl Recorder {
    /// The operations recorded so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|v| v.iter().map(|(t, _)| t.clone()).collect())
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
}

/// Clients whose every request (all five services) is recorded by `recorder`.
pub fn recorded_clients(config: &SdkConfig, recorder: &Recorder) -> Clients {
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .interceptor(recorder.clone())
        .build();
    Clients {
        config: config.clone(),
        s3: aws_sdk_s3::Client::from_conf(s3),
        ssm: aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        ecr: aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        ecs: aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        codepipeline: aws_sdk_codepipeline::Client::from_conf(
            aws_sdk_codepipeline::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
    }
}

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

/// The sample service's registry entry (CONTRACT §2 example, with moto-friendly names).
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
        }
    }

    async fn seed(&mut self) {
        let s3 = &self.clients.s3;
        s3.create_bucket()
            .bucket(BUCKET)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .expect("create bucket");
        s3.put_bucket_versioning()
            .bucket(BUCKET)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .expect("enable versioning");
        for repo in ["web/app", "web/nginx"] {
            self.clients
                .ecr
                .create_repository()
                .repository_name(repo)
                .send()
                .await
                .expect("create repository");
        }
        for (repo, tag) in [
            ("web/app", "v1.0.0"),
            ("web/app", "3f9c2e1"),
            ("web/app", "v1.4.2"),
            ("web/nginx", "1.25"),
            ("web/nginx", "1.27"),
        ] {
            self.push_image(repo, tag).await;
        }
        self.clients
            .ecs
            .create_cluster()
            .cluster_name("prod")
            .send()
            .await
            .expect("create cluster");
        self.register_task_definition().await;
        let subnets = self.default_subnets().await;
        self.put_registry(&web_registry(&subnets)).await;
        self.create_pipeline("berth-web").await;
    }

    /// Pushes an image (a manifest with a unique layer) and records its digest.
    pub async fn push_image(&mut self, repo: &str, tag: &str) -> String {
        let layer = format!(
            "sha256:{:064x}",
            self.digests.len() as u64 + 1 + (tag.len() as u64) * 1000
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1000,
                       "digest": format!("sha256:{:064x}", self.digests.len() + 77)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2000, "digest": layer}]
        });
        let out = self
            .clients
            .ecr
            .put_image()
            .repository_name(repo)
            .image_tag(tag)
            .image_manifest(manifest.to_string())
            .send()
            .await
            .expect("put image");
        let digest = out
            .image()
            .and_then(|i| i.image_id())
            .and_then(|id| id.image_digest())
            .expect("digest")
            .to_owned();
        self.digests.insert(format!("{repo}:{tag}"), digest.clone());
        digest
    }

    pub fn digest(&self, repo_tag: &str) -> &str {
        &self.digests[repo_tag]
    }

    /// The template: app and nginx by tag, and a sidecar berth does not manage.
    pub async fn register_task_definition(&self) {
        use aws_sdk_ecs::types::{
            Compatibility, ContainerDefinition, LogConfiguration, LogDriver, NetworkMode,
        };
        let app = ContainerDefinition::builder()
            .name("app")
            .image(format!("{}:v1.0.0", repo_uri("web/app")))
            .memory(512)
            .essential(true)
            .log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-group", "/ecs/web")
                    .options("awslogs-region", REGION)
                    .options("awslogs-stream-prefix", "web")
                    .build()
                    .expect("log config"),
            )
            .build();
        // Not essential here only because moto reports just the first container of a task;
        // the essential-container rule itself is covered by berth::migration's unit tests.
        let nginx = ContainerDefinition::builder()
            .name("nginx")
            .image(format!("{}:1.25", repo_uri("web/nginx")))
            .memory(128)
            .essential(false)
            .build();
        let sidecar = ContainerDefinition::builder()
            .name("datadog")
            .image("public.ecr.aws/datadog/agent:7")
            .memory(128)
            .essential(false)
            .build();
        self.clients
            .ecs
            .register_task_definition()
            .family("web")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("512")
            .memory("1024")
            .execution_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/web-exec"))
            .container_definitions(app)
            .container_definitions(nginx)
            .container_definitions(sidecar)
            .send()
            .await
            .expect("register task definition");
    }

    pub async fn put_registry(&self, entry: &Value) {
        let name = format!(
            "/berth/services/{}",
            entry["service"].as_str().unwrap_or("web")
        );
        self.clients
            .ssm
            .put_parameter()
            .name(name)
            .value(entry.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("put registry parameter");
    }

    /// Subnet ids of moto's default VPC (RunTask needs real ones).
    pub async fn default_subnets(&self) -> Vec<String> {
        let xml = raw_query(
            &self.moto.endpoint,
            "ec2",
            "Action=DescribeSubnets&Version=2016-11-15",
        )
        .await;
        xml.split("<subnetId>")
            .skip(1)
            .filter_map(|s| s.split("</subnetId>").next())
            .map(str::to_owned)
            .collect()
    }

    /// A V2 pipeline shaped like the infra stack's: Source (S3) ▸ Migrate (Lambda) ▸ Deploy.
    pub async fn create_pipeline(&self, name: &str) {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let role = format!("{name}-role");
        raw_query(
            &self.moto.endpoint,
            "iam",
            &format!(
                "Action=CreateRole&Version=2010-05-08&RoleName={role}&AssumeRolePolicyDocument={}",
                urlencode(&trust.to_string())
            ),
        )
        .await;
        let pipeline = json!({
            "pipeline": {
                "name": name,
                "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                "artifactStore": {"type": "S3", "location": "berth-artifact-store"},
                "pipelineType": "V2",
                "executionMode": "QUEUED",
                "variables": [
                    {"name": "BERTH_SERVICE", "defaultValue": "none"},
                    {"name": "BERTH_RELEASE", "defaultValue": "none"},
                    {"name": "BERTH_ROLLBACK", "defaultValue": "false"}
                ],
                "stages": [
                    {"name": "Source", "actions": [{"name": "Source",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                        "configuration": {"S3Bucket": BUCKET, "S3ObjectKey": "artifacts/web/source.zip", "PollForSourceChanges": "false"},
                        "outputArtifacts": [{"name": "SourceArtifact"}]}]},
                    {"name": "Migrate", "actions": [{"name": "Migrate",
                        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
                        "configuration": {"FunctionName": "berth-migrate", "UserParameters": "{\"rollback\":\"#{variables.BERTH_ROLLBACK}\"}"},
                        "inputArtifacts": [{"name": "SourceArtifact"}]}]},
                    {"name": "Deploy", "actions": [{"name": "Deploy",
                        "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeployToECS", "version": "1"},
                        "configuration": {"ApplicationName": "web", "DeploymentGroupName": "web",
                            "TaskDefinitionTemplateArtifact": "SourceArtifact", "TaskDefinitionTemplatePath": "taskdef.json",
                            "AppSpecTemplateArtifact": "SourceArtifact", "AppSpecTemplatePath": "appspec.yaml"},
                        "inputArtifacts": [{"name": "SourceArtifact"}]}]}
                ]
            }
        });
        raw_json(
            &self.moto.endpoint,
            "codepipeline",
            "CodePipeline_20150709.CreatePipeline",
            &pipeline.to_string(),
        )
        .await;
    }

    /// Copies an artifact version into the pipeline's artifact store location, as the Source
    /// action does, and returns the key the Migrate action's job event names.
    pub async fn stage_artifact(&self, artifact_version: &str, release: &str) -> String {
        let zip = self
            .get_object("artifacts/web/source.zip", Some(artifact_version))
            .await
            .expect("artifact version exists");
        let key = format!("berth-web/SourceArti/{release}.zip");
        self.clients
            .s3
            .put_object()
            .bucket(BUCKET)
            .key(&key)
            .body(ByteStream::from(zip))
            .send()
            .await
            .expect("stage artifact");
        key
    }

    /// A service `wide<n>` with `n` containers, each from its own repository `wide<n>/c<i>`
    /// holding one image tagged `v1`; returns the manifest images naming them all by tag.
    pub async fn seed_wide_service(&mut self, n: usize) -> Value {
        use aws_sdk_ecs::types::ContainerDefinition;
        let service = format!("wide{n}");
        let mut containers = serde_json::Map::new();
        let mut images = serde_json::Map::new();
        let mut register = self
            .clients
            .ecs
            .register_task_definition()
            .family(&service)
            .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
            .cpu("1024")
            .memory("4096");
        for i in 0..n {
            let repo = format!("{service}/c{i}");
            self.clients
                .ecr
                .create_repository()
                .repository_name(&repo)
                .send()
                .await
                .expect("create repository");
            self.push_image(&repo, "v1").await;
            containers.insert(format!("c{i}"), json!(repo));
            images.insert(format!("c{i}"), json!(format!("{}:v1", repo_uri(&repo))));
            register = register.container_definitions(
                ContainerDefinition::builder()
                    .name(format!("c{i}"))
                    .image(format!("{}:v0", repo_uri(&repo)))
                    .memory(64)
                    .essential(i == 0)
                    .build(),
            );
        }
        register
            .send()
            .await
            .expect("register wide task definition");
        let entry = json!({
            "service": service, "cluster": "prod", "ecs_service": service,
            "pipeline": format!("berth-{service}"), "task_family": service,
            "containers": containers,
            "appspec": { "container": "c0", "port": 80 }
        });
        self.put_registry(&entry).await;
        self.create_pipeline(&format!("berth-{service}")).await;
        Value::Object(images)
    }

    /// Releases `release` of `web` (app at `app_tag`) through on-manifest; returns the result.
    pub async fn release_web(&self, release: &str, app_tag: &str) -> Value {
        let releaser = berth::release::Releaser::new(self.clients.clone(), self.settings());
        let key = format!("manifests/web/{release}.json");
        let doc = json!({"schema": "berth/v1", "service": "web", "release": release,
            "images": {"app": format!("{}:{app_tag}", repo_uri("web/app"))}, "migration": null});
        let version = self.put_manifest(&key, doc.to_string().as_bytes()).await;
        let out =
            berth::handlers::on_manifest(&releaser, s3_event(&key, &version), &self.invocation())
                .await
                .expect("handled");
        out["results"][0].clone()
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

/// The S3 notification AWS sends for a new object version (fixtures/s3-object-created.json).
pub fn s3_event_json(key_encoded: &str, version: &str) -> Value {
    let text = include_str!("../fixtures/s3-object-created.json")
        .replace("{{BUCKET}}", BUCKET)
        .replace("{{KEY}}", key_encoded)
        .replace("{{VERSION}}", version);
    serde_json::from_str(&text).expect("fixture parses")
}

pub fn s3_event(key_encoded: &str, version: &str) -> aws_lambda_events::event::s3::S3Event {
    serde_json::from_value(s3_event_json(key_encoded, version)).expect("S3 event")
}

/// The EventBridge "ECR Image Action" event (fixtures/ecr-image-action.json).
pub fn ecr_event_json(
    action: &str,
    result: &str,
    repository: &str,
    tag: &str,
    digest: &str,
) -> Value {
    let text = include_str!("../fixtures/ecr-image-action.json")
        .replace("{{ACTION}}", action)
        .replace("{{RESULT}}", result)
        .replace("{{REPOSITORY}}", repository)
        .replace("{{TAG}}", tag)
        .replace("{{DIGEST}}", digest);
    serde_json::from_str(&text).expect("fixture parses")
}

pub fn ecr_event(
    action: &str,
    result: &str,
    repository: &str,
    tag: &str,
    digest: &str,
) -> aws_lambda_events::event::eventbridge::EventBridgeEvent<Value> {
    serde_json::from_value(ecr_event_json(action, result, repository, tag, digest))
        .expect("ECR event")
}

/// The CodePipeline job event for the Migrate action (fixtures/codepipeline-job.json).
pub fn job_event_json(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> Value {
    let text = include_str!("../fixtures/codepipeline-job.json")
        .replace("{{JOB_ID}}", job_id)
        .replace("{{BUCKET}}", BUCKET)
        .replace("{{KEY}}", artifact_key)
        .replace("{{ROLLBACK}}", if rollback { "true" } else { "false" })
        .replace(
            "{{TOKEN}}",
            &token
                .map(|t| json!(t).to_string())
                .unwrap_or_else(|| "null".into()),
        );
    serde_json::from_str(&text).expect("job fixture")
}

pub fn job_event(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
    serde_json::from_value(job_event_json(job_id, artifact_key, rollback, token))
        .expect("job event")
}

/// The EventBridge "CodePipeline Pipeline Execution State Change" event.
pub fn pipeline_event_json(pipeline: &str, execution: &str, state: &str) -> Value {
    let text = include_str!("../fixtures/pipeline-state-change.json")
        .replace("{{PIPELINE}}", pipeline)
        .replace("{{EXECUTION}}", execution)
        .replace("{{STATE}}", state);
    serde_json::from_str(&text).expect("fixture parses")
}

/// Makes moto's ECS tasks progress one state per DescribeTasks, to STOPPED.
pub async fn immediate_task_progress(endpoint: &str) {
    http_post(
        endpoint,
        "/moto-api/state-manager/set-transition",
        &[("content-type", "application/json")],
        r#"{"model_name":"ecs::task","transition":{"progression":"immediate"}}"#,
    )
    .await;
}

/// Percent-encodes everything but unreserved characters.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Query-protocol call to moto for services berth has no SDK client for (EC2, IAM).
pub async fn raw_query(endpoint: &str, service: &str, body: &str) -> String {
    http_post(
        endpoint,
        "/",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &auth_header(service)),
        ],
        body,
    )
    .await
}

/// A JSON-protocol call to moto with an explicit target.
pub async fn raw_json(endpoint: &str, service: &str, target: &str, body: &str) -> String {
    http_post(
        endpoint,
        "/",
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", target),
            ("authorization", &auth_header(service)),
        ],
        body,
    )
    .await
}

/// moto routes a request by the service in the credential scope; it does not check signatures.
fn auth_header(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// Minimal HTTP/1.1 POST over loopback; returns the body, panics on a non-2xx status.
pub async fn http_post(endpoint: &str, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to moto");
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream
        .write_all(req.as_bytes())
        .await
        .expect("write request");
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.expect("read response");
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp.split_whitespace().nth(1).unwrap_or("000").to_owned();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    assert!(
        status.starts_with('2'),
        "POST {path} ({headers:?}) -> {status}: {body}"
    );
    body
}
