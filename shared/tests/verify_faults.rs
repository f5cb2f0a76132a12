//! The `verify` hook when one of the AWS calls it depends on is refused (aws-smithy-mocks:
//! moto implements neither CodeDeploy's hooks nor these refusals). The guarded-deployments
//! guide promises: "an error of berth's own (the deployment, registry or pipeline unreadable,
//! no service deploys through that group) is `Failed` with the reason". Each case below refuses
//! one call with AccessDenied and the entry has no checks, so a hook that ignored the refusal
//! would report `Succeeded` ("no checks configured").

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, SystemTime};

use aws_sdk_codedeploy::operation::get_deployment::GetDeploymentOutput;
use aws_sdk_codedeploy::operation::put_lifecycle_event_hook_execution_status::PutLifecycleEventHookExecutionStatusOutput;
use aws_sdk_codedeploy::types::{DeploymentInfo, LifecycleEventStatus};
use aws_sdk_codepipeline::operation::get_pipeline_execution::GetPipelineExecutionOutput;
use aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput;
use aws_sdk_codepipeline::types::{
    ActionExecution, ActionState, PipelineExecution, ResolvedPipelineVariable, StageExecution,
    StageExecutionStatus, StageState,
};
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;
use berth::aws::Clients;
use berth::record::ReleaseStatus;
use berth::settings::Settings;
use berth::verify::{Context, HookEvent, Output};
use berth_core::fixtures;

const DEPLOYMENT: &str = "d-ABCDEF123";
const EXECUTION: &str = "e-1";

/// The one call a case refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    Nothing,
    GetDeployment,
    GetParametersByPath,
    GetPipelineState,
    GetPipelineExecution,
    GetObject,
    PutObject,
    PutLifecycleEventHookExecutionStatus,
}

fn json_denied() -> Response {
    Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(r#"{"__type":"AccessDeniedException","message":"not authorized"}"#),
    )
}

fn s3_denied() -> Response {
    Response::new(
        StatusCode::try_from(403).unwrap(),
        SdkBody::from("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"),
    )
}

/// Each call's rule: the normal answer, or AccessDenied when `refused` names it.
struct Rules {
    deployment: Rule,
    registry: Rule,
    state: Rule,
    execution: Rule,
    record_read: Rule,
    record_write: Rule,
    report: Rule,
}

fn deployment_rule(refused: Refused) -> Rule {
    if refused == Refused::GetDeployment {
        return mock!(aws_sdk_codedeploy::Client::get_deployment).then_http_response(json_denied);
    }
    mock!(aws_sdk_codedeploy::Client::get_deployment).then_output(|| {
        let info = DeploymentInfo::builder()
            .deployment_id(DEPLOYMENT)
            .application_name("berth-web")
            .deployment_group_name("web")
            .build();
        GetDeploymentOutput::builder().deployment_info(info).build()
    })
}

fn registry_rule(refused: Refused) -> Rule {
    if refused == Refused::GetParametersByPath {
        return mock!(aws_sdk_ssm::Client::get_parameters_by_path).then_http_response(json_denied);
    }
    mock!(aws_sdk_ssm::Client::get_parameters_by_path).then_output(|| {
        let entry = r#"{"service":"web","cluster":"prod","ecs_service":"web","pipeline":"berth-web",
          "task_family":"web","containers":{"app":"web/app"},"appspec":{"container":"app","port":80}}"#;
        let p = Parameter::builder()
            .name("/berth/services/web")
            .value(entry)
            .build();
        GetParametersByPathOutput::builder().parameters(p).build()
    })
}

fn state_rule(refused: Refused) -> Rule {
    if refused == Refused::GetPipelineState {
        return mock!(aws_sdk_codepipeline::Client::get_pipeline_state)
            .then_http_response(json_denied);
    }
    mock!(aws_sdk_codepipeline::Client::get_pipeline_state).then_output(|| {
        let deploy = ActionState::builder()
            .action_name("Deploy")
            .latest_execution(
                ActionExecution::builder()
                    .external_execution_id(DEPLOYMENT)
                    .build(),
            )
            .build();
        let stage = StageState::builder()
            .stage_name("Deploy")
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

fn execution_rule(refused: Refused) -> Rule {
    if refused == Refused::GetPipelineExecution {
        return mock!(aws_sdk_codepipeline::Client::get_pipeline_execution)
            .then_http_response(json_denied);
    }
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

fn record_rules(refused: Refused) -> (Rule, Rule) {
    let key = |r: &aws_sdk_s3::operation::get_object::GetObjectInput| {
        r.key() == Some("releases/web/v1.json")
    };
    let read = if refused == Refused::GetObject {
        mock!(aws_sdk_s3::Client::get_object)
            .match_requests(key)
            .then_http_response(s3_denied)
    } else {
        mock!(aws_sdk_s3::Client::get_object)
            .match_requests(key)
            .then_output(|| {
                let record = fixtures::record("v1", ReleaseStatus::InProgress);
                let body = serde_json::to_vec(&record).unwrap();
                GetObjectOutput::builder()
                    .content_length(body.len() as i64)
                    .e_tag("\"r1\"")
                    .body(ByteStream::from(body))
                    .build()
            })
    };
    let write = if refused == Refused::PutObject {
        mock!(aws_sdk_s3::Client::put_object).then_http_response(s3_denied)
    } else {
        mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| PutObjectOutput::builder().e_tag("\"r2\"").build())
    };
    (read, write)
}

fn report_rule(refused: Refused) -> Rule {
    if refused == Refused::PutLifecycleEventHookExecutionStatus {
        return mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
            .then_http_response(json_denied);
    }
    mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
        .then_output(|| PutLifecycleEventHookExecutionStatusOutput::builder().build())
}

impl Rules {
    fn new(refused: Refused) -> Self {
        let (record_read, record_write) = record_rules(refused);
        Self {
            deployment: deployment_rule(refused),
            registry: registry_rule(refused),
            state: state_rule(refused),
            execution: execution_rule(refused),
            record_read,
            record_write,
            report: report_rule(refused),
        }
    }

    fn verify(&self) -> Context {
        let config = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new("ap-northeast-1"))
            .build();
        let mut clients = Clients::new(&config);
        clients.codedeploy = mock_client!(
            aws_sdk_codedeploy,
            RuleMode::MatchAny,
            [&self.deployment, &self.report]
        );
        clients.ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&self.registry]);
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

    /// The hook's output, and the status reported to CodeDeploy (the request the rule saw).
    async fn hook(&self) -> berth::Result<Output> {
        let hook = HookEvent {
            deployment_id: DEPLOYMENT.into(),
            lifecycle_event_hook_execution_id: "h-1".into(),
        };
        let home = berth::images::Home {
            account_id: "123456789012".into(),
            region: "ap-northeast-1".into(),
        };
        let deadline = SystemTime::now() + Duration::from_secs(60);
        self.verify().on_hook(&hook, &home, deadline).await
    }
}

/// The rule that answers only a report of `status`.
fn reported(status: LifecycleEventStatus) -> Rule {
    mock!(aws_sdk_codedeploy::Client::put_lifecycle_event_hook_execution_status)
        .match_requests(move |r| r.status() == Some(&status))
        .then_output(|| PutLifecycleEventHookExecutionStatusOutput::builder().build())
}

fn message(out: &Output) -> &str {
    match out {
        Output::Reported { message, .. } => message,
        Output::Ignored { reason } => panic!("ignored: {reason}"),
    }
}

#[tokio::test]
async fn with_every_call_answered_the_hook_passes_and_records_the_verdict() {
    let mut rules = Rules::new(Refused::Nothing);
    rules.report = reported(LifecycleEventStatus::Succeeded);
    let out = rules.hook().await.unwrap();
    assert!(
        matches!(out, Output::Reported { recorded: true, .. }),
        "{out:?}"
    );
    assert!(message(&out).starts_with("no checks configured"), "{out:?}");
    assert_eq!(rules.report.num_calls(), 1);
    assert_eq!(rules.record_write.num_calls(), 1);
}

#[tokio::test]
async fn a_refused_read_of_any_dependency_fails_the_hook_naming_the_call() {
    for (refused, call) in [
        (
            Refused::GetDeployment,
            "codedeploy:GetDeployment d-ABCDEF123",
        ),
        (
            Refused::GetParametersByPath,
            "ssm:GetParametersByPath /berth/services/",
        ),
        (
            Refused::GetPipelineState,
            "codepipeline:GetPipelineState berth-web",
        ),
        (
            Refused::GetPipelineExecution,
            "codepipeline:GetPipelineExecution berth-web e-1",
        ),
        (
            Refused::GetObject,
            "s3:GetObject s3://rel/releases/web/v1.json",
        ),
    ] {
        let mut rules = Rules::new(refused);
        rules.report = reported(LifecycleEventStatus::Failed);
        let out = rules.hook().await.unwrap();
        assert_eq!(
            rules.report.num_calls(),
            1,
            "{refused:?}: reported Failed: {out:?}"
        );
        let why = message(&out);
        assert!(
            why.starts_with("berth verify could not read") && why.contains(call),
            "{refused:?}: {why}"
        );
        assert!(why.contains("AccessDenied"), "{refused:?}: {why}");
    }
}

/// The verdict is reported before it is recorded: CodeDeploy has it, and a record that cannot
/// be written does not change it; the output says it is not recorded.
#[tokio::test]
async fn a_refused_record_write_after_the_verdict_leaves_the_verdict_and_says_it_is_unrecorded() {
    let mut rules = Rules::new(Refused::PutObject);
    rules.report = reported(LifecycleEventStatus::Succeeded);
    let out = rules.hook().await.unwrap();
    assert!(
        matches!(
            out,
            Output::Reported {
                recorded: false,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(rules.report.num_calls(), 1);
    assert_eq!(rules.record_write.num_calls(), 1);
}

/// A report CodeDeploy refuses ends the invocation with an error naming the call; nothing is
/// recorded, since CodeDeploy has no verdict ("The deployment is considered to have failed if
/// CodeDeploy is not notified by the Lambda validation function within one hour", AppSpec
/// 'hooks' section).
#[tokio::test]
async fn a_refused_report_is_an_error_naming_the_call_and_nothing_is_recorded() {
    let rules = Rules::new(Refused::PutLifecycleEventHookExecutionStatus);
    let err = rules.hook().await.unwrap_err();
    assert_eq!(err.kind(), "AccessDenied");
    assert!(
        err.to_string()
            .contains("codedeploy:PutLifecycleEventHookExecutionStatus d-ABCDEF123"),
        "{err}"
    );
    assert_eq!(rules.record_write.num_calls(), 0);
}
