//! The `verify` function as an Amazon ECS lifecycle hook, on mocked AWS clients
//! (aws-smithy-mocks: moto has no service revisions) and a test listener on 127.0.0.1. The
//! events are the ECS developer guide's ("Lambda hooks for Amazon ECS service deployments",
//! Lifecycle payloads), with this test's service in them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_codepipeline::operation::get_pipeline_execution::GetPipelineExecutionOutput;
use aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput;
use aws_sdk_codepipeline::types::{
    ActionExecution, ActionExecutionStatus, ActionState, PipelineExecution,
    ResolvedPipelineVariable, StageExecution, StageExecutionStatus, StageState,
};
use aws_sdk_ecs::operation::describe_service_revisions::DescribeServiceRevisionsOutput;
use aws_sdk_ecs::types::ServiceRevision;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use berth::aws::Clients;
use berth::invocation::Invocation;
use berth::record::ReleaseStatus;
use berth::settings::Settings;
use berth::verify::{Answer, Context, Output};
use berth_core::fixtures;
use serde_json::{Value, json};

const SERVICE_ARN: &str = "arn:aws:ecs:ap-northeast-1:123456789012:service/prod/web";
const DEPLOYMENT: &str =
    "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/EZe5RNVLH6PPzHXINuP28";
const GREEN: &str =
    "arn:aws:ecs:ap-northeast-1:123456789012:service-revision/prod/web/9313423515462893900";
const BLUE: &str =
    "arn:aws:ecs:ap-northeast-1:123456789012:service-revision/prod/web/1920498462936580504";
const TASK_DEFINITION: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:7";
const EXECUTION: &str = "e-1";

/// The event ECS sends at `stage` (the guide's example, for this service).
fn event(stage: &str) -> Value {
    json!({
      "executionId": "3a0345ba-b029-404b-890d-7da2a4b266aa",
      "lifecycleStage": stage,
      "resourceArn": DEPLOYMENT,
      "executionDetails": {
        "serviceArn": SERVICE_ARN,
        "targetServiceRevisionArn": GREEN,
        "testTrafficWeights": {},
        "productionTrafficWeights": {}
      }
    })
}

/// A listener answering 500 to its first `failures` requests, then 200 "ok"; counts requests.
async fn listener(failures: usize) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", socket.local_addr().unwrap());
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = socket.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let _ = stream.read(&mut [0u8; 4096]).await;
            let (status, body) = if n < failures {
                ("500 Internal Server Error", "down")
            } else {
                ("200 OK", "ok")
            };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
        }
    });
    (base, served)
}

fn denied() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(r#"{"__type":"AccessDeniedException","message":"not authorized"}"#),
    )
}

/// Every call's rule, kept to count calls.
struct Mocks {
    registry: Rule,
    revision: Rule,
    state: Rule,
    execution: Rule,
    record_read: Rule,
    record_write: Rule,
}

fn registry_rule(verify: Option<Value>) -> Rule {
    mock!(aws_sdk_ssm::Client::get_parameters_by_path).then_output(move || {
        let mut entry = json!({"service": "web", "cluster": "prod", "ecs_service": "web",
            "pipeline": "berth-web", "task_family": "web", "containers": {"app": "web/app"},
            "appspec": {"container": "app", "port": 80}});
        if let Some(v) = &verify {
            entry["verify"] = v.clone();
        }
        let p = Parameter::builder()
            .name("/berth/services/web")
            .value(entry.to_string())
            .build();
        GetParametersByPathOutput::builder().parameters(p).build()
    })
}

fn revision_rule(refused: bool) -> Rule {
    if refused {
        return mock!(aws_sdk_ecs::Client::describe_service_revisions).then_http_response(denied);
    }
    mock!(aws_sdk_ecs::Client::describe_service_revisions)
        .match_requests(|r| r.service_revision_arns() == [GREEN.to_owned()])
        .then_output(|| {
            let revision = ServiceRevision::builder()
                .service_revision_arn(GREEN)
                .task_definition(TASK_DEFINITION)
                .build();
            DescribeServiceRevisionsOutput::builder()
                .service_revisions(revision)
                .build()
        })
}

/// The pipeline's Deploy action (berth's deploy function) following the service deployment.
fn state_rule() -> Rule {
    mock!(aws_sdk_codepipeline::Client::get_pipeline_state).then_output(|| {
        let deploy = ActionState::builder()
            .action_name("Deploy")
            .latest_execution(
                ActionExecution::builder()
                    .status(ActionExecutionStatus::InProgress)
                    .external_execution_id(DEPLOYMENT)
                    .build(),
            )
            .build();
        let stage = StageState::builder()
            .stage_name("Release")
            .action_states(deploy)
            .latest_execution(
                StageExecution::builder()
                    .pipeline_execution_id(EXECUTION)
                    .status(StageExecutionStatus::InProgress)
                    .build()
                    .unwrap(),
            )
            .build();
        GetPipelineStateOutput::builder()
            .stage_states(stage)
            .build()
    })
}

fn execution_rule() -> Rule {
    mock!(aws_sdk_codepipeline::Client::get_pipeline_execution).then_output(|| {
        let var = |name: &str, value: &str| {
            ResolvedPipelineVariable::builder()
                .name(name)
                .resolved_value(value)
                .build()
        };
        let execution = PipelineExecution::builder()
            .pipeline_execution_id(EXECUTION)
            .variables(var("BERTH_SERVICE", "web"))
            .variables(var("BERTH_RELEASE", "v1"))
            .variables(var("BERTH_ROLLBACK", "false"))
            .build();
        GetPipelineExecutionOutput::builder()
            .pipeline_execution(execution)
            .build()
    })
}

fn record_read_rule() -> Rule {
    mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("releases/web/v1.json"))
        .then_output(|| {
            let record = fixtures::record("v1", ReleaseStatus::InProgress);
            let body = serde_json::to_vec(&record).unwrap();
            GetObjectOutput::builder()
                .content_length(body.len() as i64)
                .e_tag("\"r1\"")
                .body(ByteStream::from(body))
                .build()
        })
}

impl Mocks {
    fn new(verify: Option<Value>) -> Mocks {
        Mocks::with(verify, false)
    }

    fn with(verify: Option<Value>, revision_refused: bool) -> Mocks {
        Mocks {
            registry: registry_rule(verify),
            revision: revision_rule(revision_refused),
            state: state_rule(),
            execution: execution_rule(),
            record_read: record_read_rule(),
            record_write: mock!(aws_sdk_s3::Client::put_object)
                .match_requests(|r| r.key() == Some("releases/web/v1.json"))
                .then_output(|| PutObjectOutput::builder().e_tag("\"r2\"").build()),
        }
    }

    fn context(&self) -> Context {
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("ap-northeast-1"))
            .build();
        let mut clients = Clients::new(&config);
        clients.ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&self.registry]);
        clients.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&self.revision]);
        clients.codepipeline = mock_client!(
            aws_sdk_codepipeline,
            RuleMode::MatchAny,
            [&self.state, &self.execution]
        );
        clients.s3 = mock_client!(
            aws_sdk_s3,
            RuleMode::MatchAny,
            [&self.record_read, &self.record_write]
        );
        let settings = Settings {
            release_bucket: "rel".into(),
            services_prefix: "/berth/services/".into(),
            verify_function: None,
        };
        Context::new(&clients, &settings).unwrap()
    }

    /// The function's answer to `payload`, with a minute before its deadline.
    async fn invoke(&self, payload: Value) -> Value {
        let deadline = SystemTime::now() + Duration::from_secs(60);
        let ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        let invocation = Invocation::new(
            "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-verify",
            ms,
        );
        let answer = self.context().answer(payload, &invocation).await.unwrap();
        serde_json::to_value(answer).unwrap()
    }

    fn aws_calls(&self) -> usize {
        [
            &self.registry,
            &self.revision,
            &self.state,
            &self.execution,
            &self.record_read,
            &self.record_write,
        ]
        .iter()
        .map(|r| r.num_calls())
        .sum()
    }
}

fn checks(base_url: &str, attempts: u32, interval: u64) -> Value {
    json!({"base_url": base_url,
        "checks": [{"path": "/health", "status": 200, "contains": "ok"}],
        "attempts": attempts, "interval_seconds": interval, "timeout_seconds": 2})
}

/// `answer`'s hookDetails, passed back with the next event as ECS does.
fn again(answer: &Value, stage: &str) -> Value {
    let mut next = event(stage);
    next["hookDetails"] = answer["hookDetails"].clone();
    next
}

fn berth(answer: &Value) -> &Value {
    &answer["hookDetails"]["berthVerify"]
}

#[tokio::test]
async fn a_healthy_test_listener_succeeds_in_one_invocation_and_is_recorded() {
    let (base, served) = listener(0).await;
    let m = Mocks::new(Some(checks(&base, 3, 20)));
    let answer = m.invoke(event("POST_TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(answer["hookStatus"], "SUCCEEDED", "{answer}");
    assert!(answer.get("callBackDelay").is_none());
    let b = berth(&answer);
    assert_eq!(b["verdict"], "passed");
    assert_eq!(b["release"], "v1");
    assert_eq!(b["recorded"], true);
    assert_eq!(b["checks"][0]["passed"], true);
    assert_eq!(b["checks"][0]["status"], 200);
    assert_eq!(served.load(Ordering::SeqCst), 1);
    assert_eq!(
        m.revision.num_calls(),
        1,
        "the target revision is read once"
    );
    assert_eq!(m.record_write.num_calls(), 1);
}

#[tokio::test]
async fn a_failing_listener_is_tried_once_per_invocation_then_fails() {
    let (base, served) = listener(usize::MAX).await;
    let m = Mocks::new(Some(checks(&base, 3, 20)));
    let first = m.invoke(event("POST_TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
    assert_eq!(first["callBackDelay"], 20, "the registry's interval");
    assert_eq!(berth(&first)["pass"], 1);
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "one attempt per invocation"
    );
    let second = m.invoke(again(&first, "POST_TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(second["hookStatus"], "IN_PROGRESS", "{second}");
    assert_eq!(berth(&second)["checks"][0]["attempts"], 2);
    assert_eq!(m.record_write.num_calls(), 0, "nothing decided yet");
    let third = m.invoke(again(&second, "POST_TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(third["hookStatus"], "FAILED", "{third}");
    let b = berth(&third);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("answered 500, expected 200 (3 attempt(s))"),
        "{b}"
    );
    assert_eq!(b["checks"][0]["body_excerpt"], "down");
    assert_eq!(b["recorded"], true);
    assert_eq!(served.load(Ordering::SeqCst), 3);
    assert_eq!(m.record_write.num_calls(), 1);
}

#[tokio::test]
async fn a_listener_healthy_at_the_second_attempt_succeeds_then() {
    let (base, served) = listener(1).await;
    let m = Mocks::new(Some(checks(&base, 3, 0)));
    let first = m.invoke(event("TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(first["hookStatus"], "IN_PROGRESS", "{first}");
    assert_eq!(
        first["callBackDelay"], 1,
        "an interval of 0 still waits a second"
    );
    let second = m.invoke(again(&first, "TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(second["hookStatus"], "SUCCEEDED", "{second}");
    assert_eq!(berth(&second)["checks"][0]["attempts"], 2);
    assert_eq!(served.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_service_berth_does_not_know_fails_and_ecs_rolls_back() {
    let (base, served) = listener(0).await;
    let m = Mocks::new(Some(checks(&base, 3, 20)));
    let mut other = event("POST_TEST_TRAFFIC_SHIFT");
    other["executionDetails"]["serviceArn"] =
        json!("arn:aws:ecs:ap-northeast-1:123456789012:service/staging/web");
    let answer = m.invoke(other).await;
    assert_eq!(answer["hookStatus"], "FAILED", "{answer}");
    assert_eq!(
        berth(&answer)["message"],
        "no service in the registry runs as ECS service \"web\" in cluster \"staging\""
    );
    assert_eq!(served.load(Ordering::SeqCst), 0);
    assert_eq!(m.revision.num_calls(), 0);
}

#[tokio::test]
async fn no_verify_section_succeeds_saying_so_and_is_recorded() {
    let m = Mocks::new(None);
    let answer = m.invoke(event("POST_TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(answer["hookStatus"], "SUCCEEDED", "{answer}");
    let b = berth(&answer);
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("no checks configured for web"),
        "{b}"
    );
    assert_eq!(b["recorded"], true);
    assert_eq!(m.record_write.num_calls(), 1);
}

#[tokio::test]
async fn a_hook_before_test_traffic_is_refused_without_a_call() {
    let (base, served) = listener(0).await;
    let m = Mocks::new(Some(checks(&base, 3, 20)));
    for stage in ["PRE_SCALE_UP", "POST_SCALE_UP", "RECONCILE_SERVICE"] {
        let answer = m.invoke(event(stage)).await;
        assert_eq!(answer["hookStatus"], "FAILED", "{answer}");
        let why = berth(&answer)["message"].as_str().unwrap().to_owned();
        assert!(why.contains("POST_TEST_TRAFFIC_SHIFT"), "{why}");
    }
    assert_eq!(m.aws_calls(), 0);
    assert_eq!(served.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_rollback_re_invoking_the_hook_passes_without_checks() {
    let (base, served) = listener(usize::MAX).await;
    let m = Mocks::new(Some(checks(&base, 3, 20)));
    let mut back = event("PRODUCTION_TRAFFIC_SHIFT");
    back["executionDetails"]["productionTrafficWeights"] = json!({GREEN: 0, BLUE: 100});
    let answer = m.invoke(back).await;
    assert_eq!(answer["hookStatus"], "SUCCEEDED", "{answer}");
    assert!(
        berth(&answer)["message"]
            .as_str()
            .unwrap()
            .contains("rolling back")
    );
    assert_eq!(served.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreadable_service_revision_fails_naming_the_call() {
    let (base, served) = listener(0).await;
    let m = Mocks::with(Some(checks(&base, 3, 20)), true);
    let answer = m.invoke(event("POST_TEST_TRAFFIC_SHIFT")).await;
    assert_eq!(answer["hookStatus"], "FAILED", "{answer}");
    let why = berth(&answer)["message"].as_str().unwrap().to_owned();
    assert!(why.contains("ecs:DescribeServiceRevisions"), "{why}");
    assert_eq!(served.load(Ordering::SeqCst), 0, "no check runs");
}

#[tokio::test]
async fn an_ecs_event_missing_a_field_fails_and_other_payloads_are_ignored() {
    let m = Mocks::new(None);
    let mut broken = event("POST_TEST_TRAFFIC_SHIFT");
    broken.as_object_mut().unwrap().remove("resourceArn");
    let answer = m.invoke(broken).await;
    assert_eq!(answer["hookStatus"], "FAILED", "{answer}");
    assert!(
        berth(&answer)["message"]
            .as_str()
            .unwrap()
            .contains("resourceArn")
    );
    let deadline = SystemTime::now() + Duration::from_secs(60);
    let ms = deadline.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let invocation = Invocation::new("arn:aws:lambda:ap-northeast-1:1:function:v", ms);
    let other = m
        .context()
        .answer(json!({"hello": "world"}), &invocation)
        .await
        .unwrap();
    assert!(
        matches!(&other, Answer::CodeDeploy(Output::Ignored { reason })
            if reason.contains("a CodeDeploy or Amazon ECS lifecycle hook event")),
        "{other:?}"
    );
    assert_eq!(m.aws_calls(), 0);
}
