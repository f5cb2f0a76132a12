//! A task target (a registry entry whose family EventBridge Scheduler schedules and EventBridge
//! rules run, or nothing: register only) released end to end: the compiled functions behind
//! local Runtime APIs, moto (which keeps schedules and rule targets as written: GetSchedule,
//! UpdateSchedule, ListTargetsByRule, PutTargets), the Release stage played up to the `deploy`
//! action ([`crate::release_stage`]), and the `berth` CLI. PutTargets can be answered by a
//! stand-in with a failed entry, as EventBridge does with HTTP 200 ("FailedEntryCount").

use std::process::Output;
use std::sync::Arc;

use aws_sdk_eventbridge::types::{
    EcsParameters as RuleEcs, LaunchType as RuleLaunch, Target as RuleTarget,
};
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, AwsVpcConfiguration, CapacityProviderStrategyItem, DeadLetterConfig,
    EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode, NetworkConfiguration,
    PlacementStrategy, PlacementStrategyType, PropagateTags, RetryPolicy, ScheduleState, Target,
};
use serde_json::{Value, json};

use crate::proxy::{Proxy, Routes};
use crate::release_stage::{DeployAction, play_to_deploy_as};
use crate::runtime::{Function, function_binary, moto_env};
use crate::web_registry;
use crate::{
    ACCOUNT, Env, REGION, StandIn, ecr_event_json, immediate_task_progress, s3_event_json,
};

pub const CLUSTER_ARN: &str = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/prod";
pub const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/berth-task-target";

/// `web:<revision>`'s ARN.
pub fn web(revision: u32) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:{revision}")
}

pub struct Tasks {
    pub env: Env,
    pub jobs: StandIn,
    pub push: Function,
    pub manifest: Function,
    pub migrate: Function,
    pub deploy: Function,
    pub scheduler: aws_sdk_scheduler::Client,
    pub events: aws_sdk_eventbridge::Client,
    /// The release the next [`Tasks::to_deploy`] plays (its app image tag).
    pub release: String,
    /// Execution → the Source action's artifact key of each release played.
    pub sources: Vec<(String, String)>,
    _put_targets: Option<(StandIn, Proxy)>,
}

/// The task target `web` (family `web`, its migration as the seeded service's) with
/// `task_target` as its registry section, its pipeline shaped for the `deploy` action, and the
/// functions behind local Runtime APIs. `refuse_put_targets`: every PutTargets the functions
/// send is answered 200 with one failed entry and changes nothing.
pub async fn tasks(task_target: Value, refuse_put_targets: bool) -> Tasks {
    let mut env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let mut entry = web_registry(&env.default_subnets().await);
    let fields = entry.as_object_mut().expect("entry");
    fields.remove("ecs_service");
    fields.remove("appspec");
    entry["task_target"] = task_target;
    env.put_registry(&entry).await;
    env.create_native_pipeline("berth-web").await;
    env.push_image("web/app", "v2.0.0").await;
    let mut vars = moto_env(&env.moto.endpoint);
    let put_targets = match refuse_put_targets {
        true => Some(refusing_put_targets(&env).await),
        false => None,
    };
    if let Some((_, proxy)) = &put_targets {
        vars.push(("AWS_ENDPOINT_URL_EVENTBRIDGE", proxy.endpoint.clone()));
    }
    let jobs = StandIn::job_api().await;
    let mut job_vars = vars.clone();
    job_vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    Tasks {
        push: Function::spawn("on-image-push", &vars).await,
        manifest: Function::spawn("on-manifest", &vars).await,
        migrate: Function::spawn("migrate", &job_vars).await,
        deploy: Function::spawn("deploy", &job_vars).await,
        scheduler: aws_sdk_scheduler::Client::new(&env.config),
        events: aws_sdk_eventbridge::Client::new(&env.config),
        env,
        jobs,
        release: "v2.0.0".into(),
        sources: Vec::new(),
        _put_targets: put_targets,
    }
}

/// A proxy to moto that sends PutTargets to a stand-in answering with a failed entry.
async fn refusing_put_targets(env: &Env) -> (StandIn, Proxy) {
    let refuse = StandIn::start(Arc::new(|op, body| match op {
        "PutTargets" => {
            let id = body["Targets"][0]["Id"].clone();
            (
                200,
                json!({"FailedEntryCount": 1, "FailedEntries": [{"TargetId": id,
                "ErrorCode": "ValidationException", "ErrorMessage": "refused by the test"}]}),
            )
        }
        _ => (400, json!({"__type": "UnknownOperationException"})),
    }))
    .await;
    let mut routes = Routes::to(&env.moto.endpoint);
    let at = refuse
        .endpoint
        .trim_start_matches("http://")
        .parse()
        .expect("loopback");
    routes.by_operation.insert("PutTargets".into(), at);
    let proxy = Proxy::start(routes).await;
    (refuse, proxy)
}

impl Tasks {
    /// Schedule `name` in group `default` running `task_definition`; with `every_field`, every
    /// optional field UpdateSchedule would reset is set.
    pub async fn schedule(&self, name: &str, task_definition: &str, every_field: bool) {
        let ecs = ecs_parameters(task_definition, every_field);
        let mut target = Target::builder()
            .arn(CLUSTER_ARN)
            .role_arn(ROLE_ARN)
            .ecs_parameters(ecs);
        let window = FlexibleTimeWindow::builder();
        let mut create = self.scheduler.create_schedule().name(name);
        if every_field {
            target = target
                .input(r#"{"source":"berth"}"#)
                .dead_letter_config(
                    DeadLetterConfig::builder()
                        .arn("arn:aws:sqs:ap-northeast-1:123456789012:dlq")
                        .build(),
                )
                .retry_policy(
                    RetryPolicy::builder()
                        .maximum_event_age_in_seconds(3600)
                        .maximum_retry_attempts(2)
                        .build(),
                );
            let start = aws_smithy_types::DateTime::from_secs(4_102_444_800);
            create = create
                .group_name("default")
                .description("the nightly report")
                .schedule_expression_timezone("Asia/Tokyo")
                .start_date(start)
                .end_date(aws_smithy_types::DateTime::from_secs(4_133_980_800))
                .state(ScheduleState::Disabled)
                .kms_key_arn("arn:aws:kms:ap-northeast-1:123456789012:key/abc")
                .action_after_completion(ActionAfterCompletion::None)
                .flexible_time_window(
                    window
                        .mode(FlexibleTimeWindowMode::Flexible)
                        .maximum_window_in_minutes(15)
                        .build()
                        .unwrap(),
                );
        } else {
            create = create
                .flexible_time_window(window.mode(FlexibleTimeWindowMode::Off).build().unwrap());
        }
        create
            .schedule_expression("cron(0 3 * * ? *)")
            .target(target.build().unwrap())
            .send()
            .await
            .expect("create schedule");
    }

    /// Rule `rule` on the default bus with ECS target `target_id` running `task_definition`.
    pub async fn rule(&self, rule: &str, target_id: &str, task_definition: &str) {
        self.events
            .put_rule()
            .name(rule)
            .schedule_expression("rate(1 hour)")
            .send()
            .await
            .expect("put rule");
        let ecs = RuleEcs::builder()
            .task_definition_arn(task_definition)
            .task_count(1)
            .launch_type(RuleLaunch::Fargate)
            .platform_version("LATEST")
            .group("reports")
            .build()
            .unwrap();
        let target = RuleTarget::builder()
            .id(target_id)
            .arn(CLUSTER_ARN)
            .role_arn(ROLE_ARN)
            .ecs_parameters(ecs)
            .build()
            .unwrap();
        self.events
            .put_targets()
            .rule(rule)
            .targets(target)
            .send()
            .await
            .expect("put targets");
    }

    /// The schedule as GetSchedule answers it, as JSON (moto's answer, read through the SDK).
    pub async fn get_schedule(
        &self,
        name: &str,
    ) -> aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput {
        self.scheduler
            .get_schedule()
            .name(name)
            .group_name("default")
            .send()
            .await
            .expect("get schedule")
    }

    /// Every field of a GetSchedule answer, but when it was last modified and the request id.
    pub fn fields(s: &aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput) -> String {
        let mut s = s.clone();
        s.last_modification_date = None;
        let shown = format!("{s:?}");
        shown
            .split(", _request_id")
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// The task definition a schedule's target runs.
    pub async fn schedule_runs(&self, name: &str) -> String {
        let s = self.get_schedule(name).await;
        s.target
            .and_then(|t| t.ecs_parameters)
            .map(|e| e.task_definition_arn)
            .unwrap_or_default()
    }

    /// The rule target with `id`, as ListTargetsByRule lists it.
    pub async fn rule_target(&self, rule: &str, id: &str) -> RuleTarget {
        let out = self
            .events
            .list_targets_by_rule()
            .rule(rule)
            .send()
            .await
            .expect("list targets");
        out.targets()
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .expect("the target")
    }

    pub async fn rule_runs(&self, rule: &str, id: &str) -> String {
        self.rule_target(rule, id)
            .await
            .ecs_parameters
            .map(|e| e.task_definition_arn)
            .unwrap_or_default()
    }

    /// A new image `tag` of web/app in ECR: the release the next [`Tasks::to_deploy`] plays.
    pub async fn next_release(&mut self, tag: &str) {
        self.env.push_image("web/app", tag).await;
        self.release = tag.to_owned();
    }

    /// The push of web/app:<release> through on-image-push and on-manifest: the Source
    /// artifact's key and the pipeline execution.
    pub async fn pushed(&mut self) -> (String, String) {
        let digest = self
            .env
            .digest(&format!("web/app:{}", self.release))
            .to_owned();
        let event = ecr_event_json("PUSH", "SUCCESS", "web/app", &self.release, &digest);
        let out = self.push.invoke(&event).await.response();
        let written = &out["results"][0];
        assert_eq!(written["outcome"], "written", "{out}");
        let (key, version) = (
            written["key"].as_str().unwrap(),
            written["version_id"].as_str().unwrap(),
        );
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
        let source = self.env.stage_artifact(artifact, &self.release).await;
        self.sources.push((self.release.clone(), source.clone()));
        (source, execution)
    }

    /// The release through Migrate, stopped before the Deploy action; `Err` with Migrate's
    /// failure message when Migrate failed.
    pub async fn to_deploy(&mut self) -> Result<DeployAction, String> {
        let (source, execution) = self.pushed().await;
        let job = format!("job-{}", self.release);
        self.play(&source, (&job, &execution), false).await
    }

    /// The Release stage of execution `execution` for the Source artifact at `source`, up to
    /// Deploy; a rollback execution's with `rollback`.
    pub async fn play(
        &mut self,
        source: &str,
        (job, execution): (&str, &str),
        rollback: bool,
    ) -> Result<DeployAction, String> {
        let at = play_to_deploy_as(
            &self.env,
            &mut self.migrate,
            &self.jobs,
            "berth-web",
            (job, execution),
            source,
            rollback,
        )
        .await;
        match at {
            Ok(at) => Ok(DeployAction::new(at.job)),
            Err((_, body)) => Err(body["failureDetails"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()),
        }
    }

    /// The Deploy action's job, invoked until it ends (a task target's ends at once).
    pub async fn deploy(&mut self, action: &mut DeployAction) -> (String, Value) {
        for _ in 0..5 {
            if let Some(result) = action.poll(&mut self.deploy, &self.jobs).await {
                return result;
            }
        }
        panic!("the Deploy job did not end")
    }

    pub async fn record(&self, release: &str) -> Value {
        self.env
            .get_json(&format!("releases/web/{release}.json"))
            .await
            .unwrap()
    }

    /// The CLI, off the test's thread so the stand-ins keep answering.
    pub async fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(function_binary("berth"));
        cmd.env_clear().args(args);
        let mut vars = moto_env(&self.env.moto.endpoint);
        vars.retain(|(k, _)| *k != "AWS_LAMBDA_LOG_FORMAT");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("berth runs"))
            .await
            .unwrap()
    }
}

fn ecs_parameters(task_definition: &str, every_field: bool) -> EcsParameters {
    let mut ecs = EcsParameters::builder().task_definition_arn(task_definition);
    if every_field {
        let vpc = AwsVpcConfiguration::builder()
            .subnets("subnet-1")
            .security_groups("sg-1")
            .assign_public_ip(aws_sdk_scheduler::types::AssignPublicIp::Disabled)
            .build()
            .unwrap();
        ecs = ecs
            .task_count(2)
            .capacity_provider_strategy(
                CapacityProviderStrategyItem::builder()
                    .capacity_provider("FARGATE_SPOT")
                    .weight(1)
                    .base(0)
                    .build()
                    .unwrap(),
            )
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .platform_version("1.4.0")
            .group("reports")
            .enable_ecs_managed_tags(true)
            .enable_execute_command(false)
            .propagate_tags(PropagateTags::TaskDefinition)
            .reference_id("nightly")
            .placement_strategy(
                PlacementStrategy::builder()
                    .r#type(PlacementStrategyType::Spread)
                    .field("attribute:ecs.availability-zone")
                    .build(),
            )
            .tags(std::collections::HashMap::from([(
                "team".to_owned(),
                "reports".to_owned(),
            )]));
    }
    ecs.build().unwrap()
}

/// The registry's `task_target` of `schedules` (group default) and `rules` (rule, target id).
pub fn task_target(schedules: &[&str], rules: &[(&str, &str)]) -> Value {
    json!({
        "schedules": schedules.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "rules": rules.iter().map(|(r, t)| json!({"rule": r, "target_id": t})).collect::<Vec<_>>(),
    })
}
