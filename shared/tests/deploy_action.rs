//! The deploy action (the Deploy action of ECS-controlled services) against the real SDK clients
//! with aws-smithy-mocks: no emulator has ECS service deployments. A small fake keeps the ECS
//! service, its service deployments and the release bucket between invocations, so each test
//! plays a release over several invocations, as CodePipeline does with continuation tokens.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
use aws_sdk_ecs::operation::update_service::UpdateServiceOutput;
use aws_sdk_ecs::types::{
    DeploymentConfiguration, DeploymentController, DeploymentControllerType,
    DeploymentLifecycleHookDetail, DeploymentLifecycleHookStatus,
    DeploymentLifecycleHookTargetType, DeploymentStrategy, Rollback, Service, ServiceDeployment,
    ServiceDeploymentAlarms, ServiceDeploymentBrief, ServiceDeploymentCircuitBreaker,
    ServiceDeploymentLifecycleStage, ServiceDeploymentRollbackMonitorsStatus,
    ServiceDeploymentStatus, ServiceRevision, ServiceRevisionSummary, Task, TaskDefinition,
};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_mocks::{MockResponse, Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::DateTime;
use aws_smithy_types::body::SdkBody;
use berth::aws::Clients;
use berth::deploy::{Artifact, Context, Invocation};
use berth::job::Parameters;
use berth::jobs::JobResult;
use berth::render::ArtifactRelease;
use berth::service_deployment::deploy::{GIVE_UP_SECONDS, Token, TokenPhase};

const T0: i64 = 1_800_000_000;
const TD: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:8";
const OLD_TD: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:7";
const VERIFY: &str = "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-verify";

/// One service deployment as the fake keeps it.
#[derive(Debug, Clone, Default)]
struct Dep {
    arn: String,
    created: i64,
    status: String,
    task_definition: String,
    status_reason: Option<String>,
    rollback_reason: Option<String>,
    /// (status, failures, threshold)
    circuit_breaker: Option<(String, i32, i32)>,
    /// (status, triggered alarms)
    alarms: Option<(String, Vec<String>)>,
    stage: Option<String>,
    /// (target type, status, target)
    hooks: Vec<(String, String, Option<String>)>,
}

impl Dep {
    fn revision(&self) -> String {
        format!("{}/revision", self.arn)
    }
}

#[derive(Debug, Default)]
struct State {
    now: i64,
    /// (controller, strategy, task definition); `None`: deleted.
    service: Option<(String, Option<String>, String)>,
    deployments: Vec<Dep>,
    /// (task ARN, task definition, stop reason)
    stopped: Vec<(String, String, String)>,
    objects: BTreeMap<String, Vec<u8>>,
    registered: u32,
}

type Shared = Arc<Mutex<State>>;

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

fn service(st: &State) -> Option<Service> {
    let (controller, strategy, td) = st.service.clone()?;
    let controller = DeploymentController::builder()
        .r#type(DeploymentControllerType::from(controller.as_str()))
        .build()
        .unwrap();
    Some(
        Service::builder()
            .service_name("web-svc")
            .service_arn("arn:aws:ecs:ap-northeast-1:123456789012:service/prod/web-svc")
            .status("ACTIVE")
            .task_definition(td)
            .deployment_controller(controller)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .set_strategy(strategy.map(|s| DeploymentStrategy::from(s.as_str())))
                    .build(),
            )
            .build(),
    )
}

fn described(d: &Dep) -> ServiceDeployment {
    let mut b = ServiceDeployment::builder()
        .service_deployment_arn(&d.arn)
        .status(ServiceDeploymentStatus::from(d.status.as_str()))
        .set_status_reason(d.status_reason.clone())
        .created_at(DateTime::from_secs(d.created))
        .updated_at(DateTime::from_secs(d.created))
        .target_service_revision(ServiceRevisionSummary::builder().arn(d.revision()).build())
        .set_lifecycle_stage(
            d.stage
                .as_deref()
                .map(ServiceDeploymentLifecycleStage::from),
        )
        .set_rollback(
            d.rollback_reason
                .as_ref()
                .map(|r| Rollback::builder().reason(r).build()),
        );
    if let Some((status, n, t)) = &d.circuit_breaker {
        b = b.deployment_circuit_breaker(
            ServiceDeploymentCircuitBreaker::builder()
                .status(ServiceDeploymentRollbackMonitorsStatus::from(
                    status.as_str(),
                ))
                .failure_count(*n)
                .threshold(*t)
                .build(),
        );
    }
    if let Some((status, names)) = &d.alarms {
        b = b.alarms(
            ServiceDeploymentAlarms::builder()
                .status(ServiceDeploymentRollbackMonitorsStatus::from(
                    status.as_str(),
                ))
                .set_triggered_alarm_names(Some(names.clone()))
                .build(),
        );
    }
    for (i, (kind, status, target)) in d.hooks.iter().enumerate() {
        b = b.lifecycle_hook_details(
            DeploymentLifecycleHookDetail::builder()
                .hook_id(format!("hook-{i}"))
                .target_type(DeploymentLifecycleHookTargetType::from(kind.as_str()))
                .set_target_arn(target.clone())
                .status(DeploymentLifecycleHookStatus::from(status.as_str()))
                .build(),
        );
    }
    b.build()
}

/// The fake's ECS rules, and the UpdateService and RegisterTaskDefinition rules to count.
fn ecs_rules(state: &Shared) -> (Vec<Rule>, Rule, Rule) {
    let s = state.clone();
    let describe_services =
        mock!(aws_sdk_ecs::Client::describe_services).then_compute_output(move |_| {
            let st = s.lock().unwrap();
            DescribeServicesOutput::builder()
                .set_services(Some(service(&st).into_iter().collect()))
                .build()
        });
    let s = state.clone();
    let update = mock!(aws_sdk_ecs::Client::update_service).then_compute_output(move |req| {
        let mut st = s.lock().unwrap();
        let td = req.task_definition().unwrap().to_owned();
        if let Some(svc) = st.service.as_mut() {
            svc.2 = td.clone();
        }
        let n = st.deployments.len();
        let created = st.now;
        st.deployments.push(Dep {
            arn: format!(
                "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web-svc/d{n}"
            ),
            created,
            status: "PENDING".into(),
            task_definition: td,
            ..Dep::default()
        });
        UpdateServiceOutput::builder()
            .set_service(service(&st))
            .build()
    });
    let s = state.clone();
    let list =
        mock!(aws_sdk_ecs::Client::list_service_deployments).then_compute_output(move |req| {
            let st = s.lock().unwrap();
            let after = req
                .created_at()
                .and_then(|c| c.after())
                .map_or(0, |t| t.secs());
            let statuses: Vec<&str> = req.status().iter().map(|s| s.as_str()).collect();
            let briefs = st
                .deployments
                .iter()
                .filter(|d| d.created >= after)
                .filter(|d| statuses.is_empty() || statuses.contains(&d.status.as_str()))
                .rev()
                .map(|d| {
                    ServiceDeploymentBrief::builder()
                        .service_deployment_arn(&d.arn)
                        .target_service_revision_arn(d.revision())
                        .created_at(DateTime::from_secs(d.created))
                        .status(ServiceDeploymentStatus::from(d.status.as_str()))
                        .build()
                })
                .collect();
            ListServiceDeploymentsOutput::builder()
                .set_service_deployments(Some(briefs))
                .build()
        });
    let s = state.clone();
    let describe =
        mock!(aws_sdk_ecs::Client::describe_service_deployments).then_compute_output(move |req| {
            let st = s.lock().unwrap();
            let wanted = req.service_deployment_arns();
            let found = st
                .deployments
                .iter()
                .filter(|d| wanted.contains(&d.arn))
                .map(described)
                .collect();
            DescribeServiceDeploymentsOutput::builder()
                .set_service_deployments(Some(found))
                .build()
        });
    let s = state.clone();
    let revisions =
        mock!(aws_sdk_ecs::Client::describe_service_revisions).then_compute_output(move |req| {
            let st = s.lock().unwrap();
            let wanted = req.service_revision_arns();
            let found = st
                .deployments
                .iter()
                .filter(|d| wanted.contains(&d.revision()))
                .map(|d| {
                    ServiceRevision::builder()
                        .service_revision_arn(d.revision())
                        .task_definition(&d.task_definition)
                        .build()
                })
                .collect();
            DescribeServiceRevisionsOutput::builder()
                .set_service_revisions(Some(found))
                .build()
        });
    let s = state.clone();
    let register =
        mock!(aws_sdk_ecs::Client::register_task_definition).then_compute_output(move |_| {
            let mut st = s.lock().unwrap();
            st.registered += 1;
            RegisterTaskDefinitionOutput::builder()
                .task_definition(TaskDefinition::builder().task_definition_arn(TD).build())
                .build()
        });
    let s = state.clone();
    let list_tasks = mock!(aws_sdk_ecs::Client::list_tasks).then_compute_output(move |_| {
        let st = s.lock().unwrap();
        ListTasksOutput::builder()
            .set_task_arns(Some(st.stopped.iter().map(|t| t.0.clone()).collect()))
            .build()
    });
    let s = state.clone();
    let describe_tasks =
        mock!(aws_sdk_ecs::Client::describe_tasks).then_compute_output(move |req| {
            let st = s.lock().unwrap();
            let tasks = st
                .stopped
                .iter()
                .filter(|t| req.tasks().contains(&t.0))
                .map(|(arn, td, why)| {
                    Task::builder()
                        .task_arn(arn)
                        .task_definition_arn(td)
                        .last_status("STOPPED")
                        .stopped_reason(why)
                        .build()
                })
                .collect();
            DescribeTasksOutput::builder()
                .set_tasks(Some(tasks))
                .build()
        });
    let rules = vec![
        describe_services,
        update.clone(),
        list,
        describe,
        revisions,
        register.clone(),
        list_tasks,
        describe_tasks,
    ];
    (rules, update, register)
}

/// The release bucket: a map; `If-None-Match: *` on a key that exists is S3's 412.
fn s3_rules(state: &Shared) -> Vec<Rule> {
    let s = state.clone();
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_response(move |req| {
        let st = s.lock().unwrap();
        match st.objects.get(req.key().unwrap()) {
            Some(body) => MockResponse::Output(
                GetObjectOutput::builder()
                    .content_length(body.len() as i64)
                    .e_tag("\"e\"")
                    .body(ByteStream::from(body.clone()))
                    .build(),
            ),
            None => MockResponse::Error(GetObjectError::NoSuchKey(
                aws_sdk_s3::types::error::NoSuchKey::builder().build(),
            )),
        }
    });
    let s = state.clone();
    let put = mock!(aws_sdk_s3::Client::put_object).then_compute_response(move |req| {
        let mut st = s.lock().unwrap();
        let key = req.key().unwrap().to_owned();
        if req.if_none_match() == Some("*") && st.objects.contains_key(&key) {
            return MockResponse::Http(aws_smithy_runtime_api::http::Response::new(
                StatusCode::try_from(412).unwrap(),
                SdkBody::from(
                    "<Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>",
                ),
            ));
        }
        let body = req.body().bytes().unwrap_or_default().to_vec();
        st.objects.insert(key, body);
        MockResponse::Output(PutObjectOutput::builder().e_tag("\"e\"").build())
    });
    vec![get, put]
}

struct Harness {
    state: Shared,
    context: Context,
    update: Rule,
    register: Rule,
}

fn harness(controller: &str, strategy: Option<&str>) -> Harness {
    let state: Shared = Arc::new(Mutex::new(State {
        now: T0,
        service: Some((
            controller.into(),
            strategy.map(str::to_owned),
            OLD_TD.into(),
        )),
        ..State::default()
    }));
    let (ecs, update, register) = ecs_rules(&state);
    let s3 = s3_rules(&state);
    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("ap-northeast-1"))
        .build();
    let mut clients = Clients::new(&config);
    clients.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, ecs.iter());
    clients.s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3.iter());
    Harness {
        state,
        context: Context::new(clients, "rel"),
        update,
        register,
    }
}

fn artifact() -> Artifact {
    let release: ArtifactRelease = serde_json::from_value(serde_json::json!({
        "schema": "berth/artifact/v1", "service": "web", "release": "r42", "task_family": "web",
        "manifest": {"bucket": "rel", "key": "manifests/web/r42.json", "version_id": "m1"},
        "images": {"app": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app@sha256:aa"},
        "migration": null, "rollback_of": null, "rendered_at": "2027-01-15T08:00:00Z",
        "target": {"cluster": "prod", "ecs_service": "web-svc", "requested": ["app"], "primary": "app"}
    }))
    .unwrap();
    Artifact {
        release,
        taskdef: br#"{"family":"web","containerDefinitions":[{"name":"app","image":"x"}]}"#
            .to_vec(),
    }
}

fn params() -> Parameters {
    Parameters {
        rollback: false,
        release: Some("r42".into()),
        execution: Some("exec-1".into()),
        post: false,
    }
}

impl Harness {
    /// One invocation as CodePipeline makes it: job `job`, the token of the previous answer.
    async fn invoke(&self, job: &str, token: Option<&JobResult>, now: i64) -> JobResult {
        self.state.lock().unwrap().now = now;
        let token = token.map(|t| match t {
            JobResult::Continue { token, .. } => Token::decode(token).unwrap(),
            other => panic!("no token in {other:?}"),
        });
        let invocation = Invocation {
            job_id: job.into(),
            params: params(),
            token,
        };
        let artifact = artifact();
        self.context
            .decide(&invocation, Some(&artifact), at(now))
            .await
    }

    fn set(&self, i: usize, edit: impl FnOnce(&mut Dep)) {
        edit(&mut self.state.lock().unwrap().deployments[i]);
    }

    /// Someone else's deployment of the service, created at `created`.
    fn others(&self, status: &str, created: i64) -> usize {
        let mut st = self.state.lock().unwrap();
        let n = st.deployments.len();
        st.deployments.push(Dep {
            arn: format!(
                "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web-svc/other{n}"
            ),
            created,
            status: status.into(),
            task_definition: OLD_TD.into(),
            ..Dep::default()
        });
        n
    }
}

fn following(r: &JobResult) -> Token {
    match r {
        JobResult::Continue { token, .. } => Token::decode(token).unwrap(),
        other => panic!("expected continue, got {other:?}"),
    }
}

fn failure(r: &JobResult) -> &str {
    match r {
        JobResult::Failure { message, .. } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn summary(r: &JobResult) -> &str {
    match r {
        JobResult::Continue { summary, .. } => summary,
        other => panic!("expected continue, got {other:?}"),
    }
}

#[tokio::test]
async fn a_rolling_release_is_followed_over_several_invocations_to_success() {
    let h = harness("ECS", None);
    let first = h.invoke("job-1", None, T0).await;
    let t = following(&first);
    assert_eq!(t.phase, TokenPhase::Following);
    let ours = t.deployment.clone().unwrap();
    assert!(ours.ends_with("/d0"), "{ours}");
    assert_eq!(t.task_definition.as_deref(), Some(TD));
    // The marker was written before UpdateService, under the first job.
    let marker = h.state.lock().unwrap().objects["artifacts/web/deploys/r42/job-1.json"].clone();
    let marker: serde_json::Value = serde_json::from_slice(&marker).unwrap();
    assert_eq!(marker["task_definition_arn"], TD);
    assert_eq!(marker["at_epoch"], T0);

    h.set(0, |d| d.status = "IN_PROGRESS".into());
    let second = h.invoke("job-2", Some(&first), T0 + 60).await;
    assert!(summary(&second).contains("in progress"), "{second:?}");
    h.set(0, |d| d.status = "SUCCESSFUL".into());
    let done = h.invoke("job-3", Some(&second), T0 + 120).await;
    let JobResult::Success { variables, .. } = &done else {
        panic!("{done:?}")
    };
    assert_eq!(variables["SERVICE_DEPLOYMENT_ARN"], ours);
    assert_eq!(variables["TASK_DEFINITION_ARN"], TD);
    assert_eq!(h.update.num_calls(), 1, "one UpdateService for the release");
    assert_eq!(h.register.num_calls(), 1);
}

#[tokio::test]
async fn a_circuit_breaker_rollback_fails_naming_the_reason_and_three_stopped_tasks() {
    let h = harness("ECS", Some("ROLLING"));
    let first = h.invoke("job-1", None, T0).await;
    {
        let mut st = h.state.lock().unwrap();
        for i in 1..=4 {
            st.stopped.push((
                format!("arn:aws:ecs:ap-northeast-1:123456789012:task/prod/t{i}"),
                TD.into(),
                format!("Essential container in task exited (exit {i})"),
            ));
        }
        st.stopped.push((
            "arn:aws:ecs:ap-northeast-1:123456789012:task/prod/old".into(),
            OLD_TD.into(),
            "Scaling activity initiated by deployment".into(),
        ));
    }
    h.set(0, |d| {
        d.status = "ROLLBACK_SUCCESSFUL".into();
        d.rollback_reason = Some(
            "Service deployment rolled back because the circuit breaker threshold was exceeded."
                .into(),
        );
        d.circuit_breaker = Some(("TRIGGERED".into(), 3, 3));
    });
    let done = h.invoke("job-2", Some(&first), T0 + 300).await;
    let m = failure(&done);
    for text in [
        "was rolled back",
        "circuit breaker threshold was exceeded",
        "3 failed tasks, threshold 3",
        "task t1: Essential container in task exited (exit 1)",
        "task t3",
    ] {
        assert!(m.contains(text), "{m} names {text}");
    }
    assert!(!m.contains("t4") && !m.contains("Scaling activity"), "{m}");
}

#[tokio::test]
async fn a_blue_green_release_rolled_back_by_a_failed_hook_names_the_hook() {
    let h = harness("ECS", Some("BLUE_GREEN"));
    let first = h.invoke("job-1", None, T0).await;
    h.set(0, |d| {
        d.status = "IN_PROGRESS".into();
        d.stage = Some("POST_TEST_TRAFFIC_SHIFT".into());
        d.hooks = vec![(
            "AWS_LAMBDA".into(),
            "IN_PROGRESS".into(),
            Some(VERIFY.into()),
        )];
    });
    let second = h.invoke("job-2", Some(&first), T0 + 60).await;
    assert!(
        summary(&second).contains("POST_TEST_TRAFFIC_SHIFT"),
        "{second:?}"
    );
    h.set(0, |d| {
        d.status = "ROLLBACK_SUCCESSFUL".into();
        d.hooks = vec![("AWS_LAMBDA".into(), "FAILED".into(), Some(VERIFY.into()))];
    });
    let done = h.invoke("job-3", Some(&second), T0 + 120).await;
    let m = failure(&done);
    assert!(
        m.contains("lifecycle hook") && m.contains("function:berth-verify FAILED"),
        "{m}"
    );
}

#[tokio::test]
async fn an_alarm_during_bake_time_fails_the_release_naming_the_alarm() {
    let h = harness("ECS", Some("CANARY"));
    let first = h.invoke("job-1", None, T0).await;
    h.set(0, |d| {
        d.status = "IN_PROGRESS".into();
        d.stage = Some("BAKE_TIME".into());
        d.alarms = Some(("MONITORING".into(), vec![]));
    });
    let baking = h.invoke("job-2", Some(&first), T0 + 600).await;
    assert!(summary(&baking).contains("bake time"), "{baking:?}");
    h.set(0, |d| {
        d.status = "ROLLBACK_IN_PROGRESS".into();
        d.alarms = Some(("TRIGGERED".into(), vec!["web-5xx".into()]));
    });
    let done = h.invoke("job-3", Some(&baking), T0 + 900).await;
    let m = failure(&done);
    assert!(
        m.contains("is being rolled back") && m.contains("web-5xx"),
        "{m}"
    );
}

#[tokio::test]
async fn a_paused_deployment_keeps_the_action_in_progress() {
    let h = harness("ECS", Some("BLUE_GREEN"));
    let mut last = h.invoke("job-1", None, T0).await;
    h.set(0, |d| {
        d.status = "IN_PROGRESS".into();
        d.stage = Some("POST_TEST_TRAFFIC_SHIFT".into());
        d.hooks = vec![("PAUSE".into(), "AWAITING_ACTION".into(), None)];
    });
    // Hours of pause: every invocation answers continue, never a second UpdateService.
    for (i, hours) in [1, 6, 20].iter().enumerate() {
        last = h
            .invoke(&format!("job-{}", i + 2), Some(&last), T0 + hours * 3600)
            .await;
        assert!(
            summary(&last).contains("paused at POST_TEST_TRAFFIC_SHIFT"),
            "{last:?}"
        );
    }
    assert_eq!(h.update.num_calls(), 1);
}

#[tokio::test]
async fn someone_else_s_deployment_is_waited_for_before_ours_starts() {
    let h = harness("ECS", None);
    let other = h.others("IN_PROGRESS", T0 - 100);
    let first = h.invoke("job-1", None, T0).await;
    let t = following(&first);
    assert_eq!(t.phase, TokenPhase::Waiting);
    assert!(summary(&first).contains("other0"), "{first:?}");
    assert_eq!((h.update.num_calls(), h.register.num_calls()), (0, 0));
    h.set(other, |d| d.status = "SUCCESSFUL".into());
    let second = h.invoke("job-2", Some(&first), T0 + 120).await;
    let t = following(&second);
    assert_eq!(t.phase, TokenPhase::Following);
    assert_eq!(t.job, "job-1", "the action is known by its first job");
    assert_eq!(
        t.first_epoch, T0 as u64,
        "the 24 hours count from the first invocation"
    );
    assert_eq!(h.update.num_calls(), 1);
}

#[tokio::test]
async fn a_deployment_started_after_ours_fails_the_release_naming_it() {
    let h = harness("ECS", None);
    let first = h.invoke("job-1", None, T0).await;
    h.set(0, |d| d.status = "IN_PROGRESS".into());
    h.others("IN_PROGRESS", T0 + 30);
    let done = h.invoke("job-2", Some(&first), T0 + 60).await;
    let m = failure(&done);
    assert!(
        m.contains("other1") && m.contains("took the service"),
        "{m}"
    );
}

#[tokio::test]
async fn a_repeated_first_invocation_makes_one_update_service() {
    let h = harness("ECS", None);
    let a = h.invoke("job-1", None, T0).await;
    // The same job delivered again (Lambda's retry of an invocation whose answer was lost).
    let b = h.invoke("job-1", None, T0 + 5).await;
    assert_eq!(
        h.update.num_calls(),
        1,
        "the marker made the second find the first's deployment"
    );
    assert_eq!(following(&a).deployment, following(&b).deployment);
    assert_eq!(following(&b).phase, TokenPhase::Following);
}

#[tokio::test]
async fn a_marker_without_its_update_updates_once_and_one_ecs_does_not_list_yet_waits() {
    let h = harness("ECS", None);
    // The marker is there but UpdateService never was (the invocation died in between).
    let marker = serde_json::json!({"job": "job-1", "cluster": "prod", "ecs_service": "web-svc",
        "task_definition_arn": TD, "at_epoch": T0});
    h.state.lock().unwrap().objects.insert(
        "artifacts/web/deploys/r42/job-1.json".into(),
        serde_json::to_vec(&marker).unwrap(),
    );
    let a = h.invoke("job-1", None, T0 + 5).await;
    assert_eq!(h.update.num_calls(), 1);
    assert_eq!(following(&a).phase, TokenPhase::Following);
    // ECS took the update but does not list its deployment yet: ask again, never update twice.
    h.state.lock().unwrap().deployments.clear();
    let b = h.invoke("job-1", None, T0 + 10).await;
    assert_eq!(following(&b).phase, TokenPhase::Starting, "{b:?}");
    assert_eq!(h.update.num_calls(), 1);
}

#[tokio::test]
async fn the_service_deleted_mid_release_fails_naming_it() {
    let h = harness("ECS", None);
    let first = h.invoke("job-1", None, T0).await;
    h.set(0, |d| d.status = "IN_PROGRESS".into());
    h.state.lock().unwrap().service = None;
    let done = h.invoke("job-2", Some(&first), T0 + 60).await;
    assert!(
        failure(&done).contains("\"web-svc\" was deleted"),
        "{done:?}"
    );
    // ECS deletes the service's deployments with it: the same answer.
    h.state.lock().unwrap().deployments.clear();
    let done = h.invoke("job-3", Some(&first), T0 + 120).await;
    assert!(failure(&done).contains("was deleted"), "{done:?}");
}

#[tokio::test]
async fn a_code_deploy_service_is_refused_with_the_fix_and_nothing_registered() {
    let h = harness("CODE_DEPLOY", None);
    let done = h.invoke("job-1", None, T0).await;
    let m = failure(&done);
    assert!(
        m.contains("CodeDeployToECS") && m.contains("DeploymentController=CODE_DEPLOY"),
        "{m}"
    );
    assert_eq!((h.update.num_calls(), h.register.num_calls()), (0, 0));
    let external = harness("EXTERNAL", None);
    let done = external.invoke("job-1", None, T0).await;
    assert!(failure(&done).contains("EXTERNAL"), "{done:?}");
}

#[tokio::test]
async fn at_23h30m_the_action_fails_saying_the_deployment_goes_on() {
    let h = harness("ECS", Some("LINEAR"));
    let first = h.invoke("job-1", None, T0).await;
    h.set(0, |d| {
        d.status = "IN_PROGRESS".into();
        d.stage = Some("PRODUCTION_TRAFFIC_SHIFT".into());
    });
    let late = T0 + GIVE_UP_SECONDS as i64 - 1;
    let still = h.invoke("job-2", Some(&first), late).await;
    assert!(matches!(still, JobResult::Continue { .. }), "{still:?}");
    let done = h
        .invoke("job-3", Some(&still), T0 + GIVE_UP_SECONDS as i64)
        .await;
    let m = failure(&done);
    let ours = following(&first).deployment.unwrap();
    for text in [
        ours.as_str(),
        "goes on",
        "berth status web",
        "berth rollback web",
    ] {
        assert!(m.contains(text), "{m} names {text}");
    }
    assert_eq!(h.update.num_calls(), 1);
}
