//! A service ECS deploys itself (deployment controller `ECS`) released end to end: the compiled
//! functions behind local Runtime APIs, moto, the ECS service-deployment stand-in
//! ([`crate::ecs_deployments`]), the Release stage played up to the `deploy` action
//! ([`crate::release_stage`]), `verify` as the lifecycle hook, and the `berth` CLI. Shared by the
//! e2e tests (tests/ecs_native.rs) and `make demo`.

use std::process::Output;

use serde_json::{Value, json};

use crate::ecs_deployments::{Deployment, FakeEcs, Step};
use crate::listener::{Health, TestListener};
use crate::release_stage::{DeployAction, play_to_deploy};
use crate::runtime::{Function, function_binary, moto_env};
use crate::{Env, StandIn, ecr_event_json, immediate_task_progress, s3_event_json, web_registry};

pub struct Native {
    pub env: Env,
    pub fake: FakeEcs,
    pub jobs: StandIn,
    pub push: Function,
    pub manifest: Function,
    pub migrate: Function,
    pub deploy: Function,
    /// The release the next [`Native::to_deploy`] plays (its app image tag).
    pub release: String,
    verify_arn: String,
    _listener: Option<TestListener>,
}

/// A service `web` that ECS deploys with `config` (built from the verify hook's ARN), its
/// pipeline shaped for the `deploy` action, and the functions behind local Runtime APIs. With
/// `health`, `verify` checks a test listener answering so and serves as the lifecycle hook.
pub async fn native(health: Option<Health>, config: impl FnOnce(&str) -> Value) -> Native {
    let mut env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let fake = FakeEcs::start(&env).await;
    let vars = fake.vars(moto_env(&env.moto.endpoint));
    let verify = Function::spawn("verify", &fake.hook_vars(moto_env(&env.moto.endpoint))).await;
    let listener = match health {
        Some(h) => Some(TestListener::start(h).await),
        None => None,
    };
    let mut entry = web_registry(&env.default_subnets().await);
    if let Some(l) = &listener {
        entry["verify"] = json!({"base_url": l.base_url, "checks": [{"path": "/health"}],
            "attempts": 1, "interval_seconds": 1, "timeout_seconds": 2});
    }
    env.put_registry(&entry).await;
    let verify_arn = verify.arn();
    let config = config(&verify_arn);
    fake.hook_function(verify).await;
    fake.create_service("web", "web:1", config).await;
    env.create_native_pipeline("berth-web").await;
    env.push_image("web/app", "v2.0.0").await;
    let jobs = StandIn::job_api().await;
    let mut job_vars = vars.clone();
    job_vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    Native {
        push: Function::spawn("on-image-push", &vars).await,
        manifest: Function::spawn("on-manifest", &vars).await,
        migrate: Function::spawn("migrate", &job_vars).await,
        deploy: Function::spawn("deploy", &job_vars).await,
        env,
        fake,
        jobs,
        release: "v2.0.0".into(),
        verify_arn,
        _listener: listener,
    }
}

impl Native {
    /// The `verify` function's ARN: the lifecycle hook target.
    pub fn verify_arn(&self) -> String {
        self.verify_arn.clone()
    }

    /// A new image `tag` of web/app in ECR: the release the next [`Native::to_deploy`] plays.
    pub async fn next_release(&mut self, tag: &str) {
        self.env.push_image("web/app", tag).await;
        self.release = tag.to_owned();
    }

    /// The push of web/app:<release> through on-image-push and on-manifest; the key of the source
    /// artifact the Source action hands the Release stage, and the pipeline execution.
    pub async fn pushed(&mut self) -> (String, String) {
        let digest = self
            .env
            .digest(&format!("web/app:{}", self.release))
            .to_owned();
        let out = self
            .push
            .invoke(&ecr_event_json(
                "PUSH",
                "SUCCESS",
                "web/app",
                &self.release,
                &digest,
            ))
            .await
            .response();
        let written = &out["results"][0];
        assert_eq!(written["outcome"], "written", "{out}");
        let key = written["key"].as_str().unwrap();
        let version = written["version_id"].as_str().unwrap();
        let out = self
            .manifest
            .invoke(&s3_event_json(key, version))
            .await
            .response();
        let started = &out["results"][0];
        assert_eq!(started["outcome"], "started", "{out}");
        let artifact = started["artifact_version_id"].as_str().unwrap();
        let execution = started["pipeline_execution_id"]
            .as_str()
            .unwrap()
            .to_owned();
        (
            self.env.stage_artifact(artifact, &self.release).await,
            execution,
        )
    }

    /// The release through Migrate, stopped before the Deploy action.
    pub async fn to_deploy(&mut self) -> DeployAction {
        let (source, execution) = self.pushed().await;
        self.fake.deploying("berth-web", &execution, "web");
        let at = play_to_deploy(
            &self.env,
            &mut self.migrate,
            &self.jobs,
            "berth-web",
            (&format!("job-{}", self.release), &execution),
            &source,
        )
        .await
        .expect("Migrate succeeded");
        assert_eq!(at.migrate.0, "PutJobSuccessResult", "{:?}", at.migrate);
        DeployAction::new(at.job)
    }

    /// One invocation of the Deploy action.
    pub async fn poll(&mut self, action: &mut DeployAction) -> Option<(String, Value)> {
        action.poll(&mut self.deploy, &self.jobs).await
    }

    /// The Deploy action invoked, with ECS moving the deployment one step between invocations,
    /// until the job ends; `None` if it is still running after `max` invocations.
    pub async fn drive(
        &mut self,
        action: &mut DeployAction,
        max: usize,
    ) -> Option<(String, Value)> {
        for _ in 0..max {
            if let Some(result) = self.poll(action).await {
                return Some(result);
            }
            self.fake.advance("web").await;
        }
        None
    }

    /// Drives until the deployment waits at a pause hook (the job still running); the hook id.
    pub async fn until_paused(&mut self, action: &mut DeployAction) -> String {
        for _ in 0..40 {
            assert_eq!(self.poll(action).await, None, "the job waits for the pause");
            if let Step::Paused(id) = self.fake.advance("web").await {
                return id;
            }
        }
        panic!("the deployment never paused: {:?}", self.fake.latest("web"));
    }

    pub fn latest(&self) -> Deployment {
        self.fake.latest("web").expect("a service deployment")
    }

    /// UpdateService requests ECS saw (through the proxy), since the last call.
    pub fn update_services(&self) -> usize {
        self.fake
            .proxy
            .take_seen()
            .iter()
            .filter(|s| s.operation == "UpdateService")
            .count()
    }

    pub async fn record(&self) -> Value {
        self.env
            .get_json(&format!("releases/web/{}.json", self.release))
            .await
            .unwrap()
    }

    /// The task definition the service's PRIMARY deployment runs.
    pub async fn running(&self) -> String {
        let out = self
            .fake
            .call(
                "DescribeServices",
                &json!({"cluster": "prod", "services": ["web"]}),
            )
            .await;
        out["services"][0]["taskDefinition"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The CLI, off the test's thread so the stand-ins keep answering.
    pub async fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(function_binary("berth"));
        cmd.env_clear().args(args);
        let mut vars = self.fake.hook_vars(moto_env(&self.env.moto.endpoint));
        vars.retain(|(k, _)| *k != "AWS_LAMBDA_LOG_FORMAT");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("berth runs"))
            .await
            .unwrap()
    }
}
