//! Seeding moto with what a real account would have before a release: the bucket, ECR
//! repositories and images, the cluster and task definition, the registry entry, the pipeline.

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};

use crate::{ACCOUNT, BUCKET, Env, REGION, raw_json, raw_query, repo_uri, urlencode, web_registry};

impl Env {
    pub(crate) async fn seed(&mut self) {
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
        self.create_ecs_service("web", "web:1").await;
        let subnets = self.default_subnets().await;
        self.put_registry(&web_registry(&subnets)).await;
        self.create_pipeline("berth-web").await;
    }

    /// The ECS service `name` in cluster `prod` with the CODE_DEPLOY deployment controller,
    /// its PRIMARY task set running `task_definition` (what CodeDeploy leaves after a deployment).
    pub async fn create_ecs_service(&self, name: &str, task_definition: &str) {
        use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType};
        self.clients
            .ecs
            .create_service()
            .cluster("prod")
            .service_name(name)
            .desired_count(1)
            .deployment_controller(
                DeploymentController::builder()
                    .r#type(DeploymentControllerType::CodeDeploy)
                    .build()
                    .expect("controller"),
            )
            .send()
            .await
            .expect("create service");
        self.deploy(name, task_definition).await;
    }

    /// What a finished CodeDeploy deployment leaves: a task set running `task_definition` that
    /// serves production traffic (PRIMARY).
    pub async fn deploy(&self, service: &str, task_definition: &str) {
        let task_set = self
            .clients
            .ecs
            .create_task_set()
            .cluster("prod")
            .service(service)
            .task_definition(task_definition)
            .send()
            .await
            .expect("create task set");
        // moto matches the primary task set by ARN only (AWS takes the id or the ARN).
        let arn = task_set
            .task_set()
            .and_then(|t| t.task_set_arn())
            .expect("task set ARN")
            .to_owned();
        self.clients
            .ecs
            .update_service_primary_task_set()
            .cluster("prod")
            .service(service)
            .primary_task_set(arn)
            .send()
            .await
            .expect("make the task set primary");
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
        self.register_revision("public.ecr.aws/datadog/agent:7")
            .await;
    }

    /// A revision of `web` like the template, its unmanaged sidecar running `sidecar` (which
    /// template a release used then shows in its artifact); `web:<revision>`.
    pub async fn register_revision(&self, sidecar: &str) -> String {
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
            .image(sidecar)
            .memory(128)
            .essential(false)
            .build();
        let out = self
            .clients
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
        let revision = out.task_definition().map_or(0, |td| td.revision());
        format!("web:{revision}")
    }

    /// The registry entry, and the push-index entry a service stack writes for its push trigger
    /// (`/berth/push-index/<repository>/<service>`, valued the service's name).
    pub async fn put_registry(&self, entry: &Value) {
        self.put_registry_entry(entry).await;
        let service = entry["service"].as_str().unwrap_or("web");
        let container = &entry["push_trigger"]["container"];
        if let Some(repository) = container
            .as_str()
            .and_then(|c| entry["containers"][c].as_str())
        {
            self.put_index_entry(repository, service).await;
        }
    }

    /// The registry entry alone, as a service stack from before the push index writes it.
    pub async fn put_registry_entry(&self, entry: &Value) {
        let name = format!(
            "/berth/services/{}",
            entry["service"].as_str().unwrap_or("web")
        );
        self.put_parameter(&name, &entry.to_string()).await;
    }

    /// A push-index entry: `service`'s stack registered a push trigger on `repository`.
    pub async fn put_index_entry(&self, repository: &str, service: &str) {
        let name = format!("/berth/push-index/{repository}/{service}");
        self.put_parameter(&name, service).await;
    }

    pub async fn delete_index_entry(&self, repository: &str, service: &str) {
        self.clients
            .ssm
            .delete_parameter()
            .name(format!("/berth/push-index/{repository}/{service}"))
            .send()
            .await
            .expect("delete index entry");
    }

    async fn put_parameter(&self, name: &str, value: &str) {
        self.clients
            .ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap_or_else(|e| panic!("put parameter {name}: {e:?}"));
    }

    /// Services `svc<from>` .. `svc<to - 1>` in the registry, each with a push trigger on its own
    /// repository `svc<i>/app` (with its push-index entry); with `repositories`, the ECR
    /// repositories too (the sweep describes them). Written 16 at a time.
    pub async fn register_services(&self, from: usize, to: usize, repositories: bool) {
        use futures_util::{StreamExt, stream};
        stream::iter(from..to)
            .map(|i| async move {
                let service = format!("svc{i:04}");
                let repository = format!("{service}/app");
                if repositories {
                    self.clients
                        .ecr
                        .create_repository()
                        .repository_name(&repository)
                        .send()
                        .await
                        .expect("create repository");
                }
                self.put_registry(&json!({
                    "service": service, "cluster": "prod", "ecs_service": service,
                    "pipeline": format!("berth-{service}"), "task_family": service,
                    "containers": { "app": repository },
                    "push_trigger": { "container": "app", "tag_pattern": "^v[0-9]+$" },
                    "appspec": { "container": "app", "port": 80 }
                }))
                .await;
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
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

    /// A V2 pipeline shaped like the infra stack's: Source (S3) ▸ Release [Migrate (Lambda, which
    /// writes DeployArtifact) ▸ Deploy (of DeployArtifact)],
    /// deploying through CodeDeploy application `name` (the stacks name it after the pipeline).
    pub async fn create_pipeline(&self, name: &str) {
        let deploy = json!({"name": "Deploy", "runOrder": 2,
            "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CodeDeployToECS", "version": "1"},
            "configuration": {"ApplicationName": name, "DeploymentGroupName": "web",
                "TaskDefinitionTemplateArtifact": "DeployArtifact", "TaskDefinitionTemplatePath": "taskdef.json",
                "AppSpecTemplateArtifact": "DeployArtifact", "AppSpecTemplatePath": "appspec.yaml"},
            "inputArtifacts": [{"name": "DeployArtifact"}]});
        self.create_pipeline_role(name).await;
        self.create_pipeline_deploying(name, deploy).await;
    }

    /// Replaces pipeline `name` (made by [`Env::create_pipeline`]) with the stack's shape for a service ECS deploys itself
    /// (DeploymentController ECS): the Deploy action is the `deploy` function (Lambda invoke) of
    /// DeployArtifact, with Migrate's UserParameters.
    pub async fn create_native_pipeline(&self, name: &str) {
        raw_json(
            &self.moto.endpoint,
            "codepipeline",
            "CodePipeline_20150709.DeletePipeline",
            &json!({"name": name}).to_string(),
        )
        .await;
        let deploy = json!({"name": "Deploy", "runOrder": 2,
            "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
            "configuration": {"FunctionName": "berth-deploy", "UserParameters": berth::migrate::USER_PARAMETERS},
            "inputArtifacts": [{"name": "DeployArtifact"}]});
        self.create_pipeline_deploying(name, deploy).await;
    }

    async fn create_pipeline_role(&self, name: &str) {
        let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "codepipeline.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        raw_query(
            &self.moto.endpoint,
            "iam",
            &format!(
                "Action=CreateRole&Version=2010-05-08&RoleName={name}-role&AssumeRolePolicyDocument={}",
                urlencode(&trust.to_string())
            ),
        )
        .await;
    }

    /// Pipeline `name` (its role `<name>-role` exists) with `deploy` as the Release stage's
    /// Deploy action.
    async fn create_pipeline_deploying(&self, name: &str, deploy: Value) {
        let role = format!("{name}-role");
        let pipeline = json!({
            "pipeline": {
                "name": name,
                "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                "artifactStore": {"type": "S3", "location": "berth-artifact-store"},
                "pipelineType": "V2",
                "executionMode": "QUEUED",
                "variables": [
                    {"name": "BERTH_SERVICE", "defaultValue": "(none)"},
                    {"name": "BERTH_RELEASE", "defaultValue": "(none)"},
                    {"name": "BERTH_ROLLBACK", "defaultValue": "false"}
                ],
                // Migrate and Deploy in one stage: CodePipeline locks a stage while an execution
                // is in it, so release N+1 cannot migrate while release N still deploys.
                "stages": [
                    {"name": "Source", "actions": [{"name": "Source",
                        "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                        "configuration": {"S3Bucket": BUCKET, "S3ObjectKey": "artifacts/web/source.zip", "PollForSourceChanges": "false"},
                        "outputArtifacts": [{"name": "SourceArtifact"}]}]},
                    {"name": "Release", "actions": [
                        {"name": "Migrate", "runOrder": 1,
                        "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
                        "configuration": {"FunctionName": "berth-migrate", "UserParameters": berth::migrate::USER_PARAMETERS},
                        "inputArtifacts": [{"name": "SourceArtifact"}],
                        // What the release deploys, rendered under the stage's lock.
                        "outputArtifacts": [{"name": "DeployArtifact"}]},
                        deploy]}
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
        self.create_ecs_service(&service, &format!("{service}:1"))
            .await;
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
}
