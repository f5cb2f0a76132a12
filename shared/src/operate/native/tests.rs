//! promote, rollback and finish on ECS-native deployments, against mocked ECS answers: which
//! ECS call each request makes (or that it makes none).

use aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput;
use aws_sdk_ecs::operation::continue_service_deployment::ContinueServiceDeploymentOutput;
use aws_sdk_ecs::operation::describe_service_deployments::DescribeServiceDeploymentsOutput;
use aws_sdk_ecs::operation::list_service_deployments::ListServiceDeploymentsOutput;
use aws_sdk_ecs::operation::stop_service_deployment::StopServiceDeploymentOutput;
use aws_sdk_ecs::types::{
    DeploymentLifecycleHookAction, DeploymentLifecycleHookDetail, DeploymentLifecycleHookStatus,
    DeploymentLifecycleHookTargetType, ServiceDeployment, ServiceDeploymentBrief,
    ServiceDeploymentLifecycleStage, ServiceDeploymentStatus, StopServiceDeploymentStopType,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;

use super::*;
use crate::deployment::Deployments;
use crate::records::Records;
use crate::store::Bucket;

const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/abc";
const HOOK: &str = "ecs-pause-e7tK9G";

fn config() -> ServiceConfig {
    serde_json::from_value(serde_json::json!({
        "service": "web", "cluster": "prod", "ecs_service": "web", "pipeline": "berth-web",
        "task_family": "web", "containers": {"app": "web/app"},
        "appspec": {"container": "app", "port": 80}
    }))
    .expect("a registry entry")
}

fn hook(target: &str, status: &str) -> DeploymentLifecycleHookDetail {
    DeploymentLifecycleHookDetail::builder()
        .hook_id(if target == "PAUSE" {
            HOOK
        } else {
            "ecs-lambda-1"
        })
        .target_type(DeploymentLifecycleHookTargetType::from(target))
        .status(DeploymentLifecycleHookStatus::from(status))
        .expires_at(DateTime::from_secs(1_800_000_600))
        .timeout_action(DeploymentLifecycleHookAction::Rollback)
        .build()
}

fn deployment(
    status: &str,
    stage: &str,
    hooks: Vec<DeploymentLifecycleHookDetail>,
) -> ServiceDeployment {
    ServiceDeployment::builder()
        .service_deployment_arn(ARN)
        .status(ServiceDeploymentStatus::from(status))
        .lifecycle_stage(ServiceDeploymentLifecycleStage::from(stage))
        .set_lifecycle_hook_details(Some(hooks))
        .created_at(DateTime::from_secs(1_800_000_000))
        .build()
}

fn paused() -> ServiceDeployment {
    deployment(
        "IN_PROGRESS",
        "POST_TEST_TRAFFIC_SHIFT",
        vec![
            hook("AWS_LAMBDA", "SUCCEEDED"),
            hook("PAUSE", "AWAITING_ACTION"),
        ],
    )
}

fn baking() -> ServiceDeployment {
    deployment("IN_PROGRESS", "BAKE_TIME", vec![])
}

/// The mocked ECS: the service's deployment in flight (`None`: none), then what it reads
/// after the request (`after`).
struct Ecs {
    list: Rule,
    describe: Rule,
    continue_rule: Rule,
    rollback_rule: Rule,
    stop: Rule,
}

impl Ecs {
    fn new(in_flight: Option<ServiceDeployment>, after: Option<ServiceDeployment>) -> Self {
        let listed = in_flight.clone();
        let list = mock!(aws_sdk_ecs::Client::list_service_deployments).then_output(move || {
            ListServiceDeploymentsOutput::builder()
                .set_service_deployments(listed.as_ref().map(|_| {
                    vec![
                        ServiceDeploymentBrief::builder()
                            .service_deployment_arn(ARN)
                            .build(),
                    ]
                }))
                .build()
        });
        let first = in_flight.clone();
        let then = after.or(in_flight);
        let describe = mock!(aws_sdk_ecs::Client::describe_service_deployments)
            .sequence()
            .output(move || {
                DescribeServiceDeploymentsOutput::builder()
                    .set_service_deployments(first.clone().map(|d| vec![d]))
                    .build()
            })
            .output(move || {
                DescribeServiceDeploymentsOutput::builder()
                    .set_service_deployments(then.clone().map(|d| vec![d]))
                    .build()
            })
            .build();
        let continue_rule = mock!(aws_sdk_ecs::Client::continue_service_deployment)
            .match_requests(|r| {
                r.service_deployment_arn() == Some(ARN)
                    && r.hook_id() == Some(HOOK)
                    && r.action() == Some(&DeploymentLifecycleHookAction::Continue)
            })
            .then_output(|| ContinueServiceDeploymentOutput::builder().build());
        let rollback_rule = mock!(aws_sdk_ecs::Client::continue_service_deployment)
            .match_requests(|r| {
                r.hook_id() == Some(HOOK)
                    && r.action() == Some(&DeploymentLifecycleHookAction::Rollback)
            })
            .then_output(|| ContinueServiceDeploymentOutput::builder().build());
        let stop = mock!(aws_sdk_ecs::Client::stop_service_deployment)
            .match_requests(|r| {
                r.service_deployment_arn() == Some(ARN)
                    && r.stop_type() == Some(&StopServiceDeploymentStopType::Rollback)
            })
            .then_output(|| StopServiceDeploymentOutput::builder().build());
        Ecs {
            list,
            describe,
            continue_rule,
            rollback_rule,
            stop,
        }
    }

    fn operator(&self) -> Operator {
        // The request is noted in the release record of the pipeline's execution; none here.
        let state = mock!(aws_sdk_codepipeline::Client::get_pipeline_state)
            .then_output(|| GetPipelineStateOutput::builder().build());
        let ecs = mock_client!(
            aws_sdk_ecs,
            RuleMode::MatchAny,
            [
                &self.list,
                &self.describe,
                &self.continue_rule,
                &self.rollback_rule,
                &self.stop
            ]
        );
        Operator {
            deployments: Deployments::new(mock_client!(aws_sdk_codedeploy, [])),
            ecs,
            codepipeline: mock_client!(aws_sdk_codepipeline, [&state]),
            records: Records::new(Bucket::new(mock_client!(aws_sdk_s3, []), "releases")),
            by: "arn:aws:sts::1:assumed-role/ops/ana".into(),
        }
    }

    /// Calls of ContinueServiceDeployment CONTINUE, ... ROLLBACK and StopServiceDeployment.
    fn moves(&self) -> (usize, usize, usize) {
        (
            self.continue_rule.num_calls(),
            self.rollback_rule.num_calls(),
            self.stop.num_calls(),
        )
    }
}

async fn act(ecs: &Ecs, kind: DeployKind, ask: Ask) -> Acted {
    ecs.operator()
        .act_native(&config(), kind, ask, SystemTime::UNIX_EPOCH)
        .await
        .expect("an answer")
}

async fn roll_back(ecs: &Ecs) -> Stopped {
    ecs.operator()
        .roll_back_native(&config(), Duration::ZERO, SystemTime::UNIX_EPOCH)
        .await
        .expect("an answer")
}

#[tokio::test]
async fn promote_continues_the_pause_hook_awaiting_action_with_its_id() {
    let ecs = Ecs::new(Some(paused()), None);
    let acted = act(&ecs, DeployKind::BlueGreen, Ask::Promote).await;
    assert_eq!(ecs.moves(), (1, 0, 0));
    match acted {
        Acted::Done {
            deployment_id,
            hook_id,
            release,
            unrecorded,
            ..
        } => {
            assert_eq!(deployment_id, ARN);
            assert_eq!(hook_id.as_deref(), Some(HOOK));
            assert_eq!(release, None);
            assert!(unrecorded.unwrap().contains("no berth execution"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn promote_with_nothing_paused_names_the_phase_and_asks_nothing() {
    let ecs = Ecs::new(Some(baking()), None);
    match act(&ecs, DeployKind::Canary, Ask::Promote).await {
        Acted::Refused { reason } => {
            assert!(
                reason.contains(ARN) && reason.contains("bake time"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ecs.moves(), (0, 0, 0));
    let none = Ecs::new(None, None);
    match act(&none, DeployKind::BlueGreen, Ask::Promote).await {
        Acted::Refused { reason } => assert!(reason.contains("no ECS deployment of web")),
        other => panic!("{other:?}"),
    }
    assert_eq!(none.moves(), (0, 0, 0));
}

#[tokio::test]
async fn promote_of_a_rolling_service_and_finish_of_any_native_one_are_not_for_the_kind() {
    let ecs = Ecs::new(Some(paused()), None);
    let rolling = act(&ecs, DeployKind::Rolling, Ask::Promote).await;
    assert!(
        matches!(rolling, Acted::NotForKind { ref reason } if reason.contains("no promote point"))
    );
    let finish = act(&ecs, DeployKind::BlueGreen, Ask::Finish).await;
    assert!(
        matches!(finish, Acted::NotForKind { ref reason } if reason.contains("bake time early"))
    );
    // Neither reads the deployment, nor moves it.
    assert_eq!((ecs.list.num_calls(), ecs.moves()), (0, (0, 0, 0)));
}

#[tokio::test]
async fn rollback_at_a_pause_hook_continues_it_with_rollback() {
    let rolled_back = deployment("ROLLBACK_SUCCESSFUL", "CLEAN_UP", vec![]);
    let ecs = Ecs::new(Some(paused()), Some(rolled_back));
    let stopped = roll_back(&ecs).await;
    assert_eq!(ecs.moves(), (0, 1, 0));
    match stopped {
        Stopped::TrafficSwitched { status, via, .. } => {
            assert_eq!(status, "ROLLBACK_SUCCESSFUL");
            assert_eq!(
                via.as_deref(),
                Some("ContinueServiceDeployment ROLLBACK ecs-pause-e7tK9G")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn rollback_of_a_deployment_in_progress_stops_it_with_rollback() {
    let requested = deployment("ROLLBACK_REQUESTED", "BAKE_TIME", vec![]);
    let ecs = Ecs::new(Some(baking()), Some(requested));
    let stopped = roll_back(&ecs).await;
    assert_eq!(ecs.moves(), (0, 0, 1));
    assert!(
        matches!(&stopped, Stopped::Pending { status, via: Some(v), .. }
            if status == "ROLLBACK_REQUESTED" && v == "StopServiceDeployment ROLLBACK"),
        "{stopped:?}"
    );
}

#[tokio::test]
async fn rollback_with_nothing_in_flight_redeploys_and_a_rollback_under_way_is_left_alone() {
    let none = Ecs::new(None, None);
    assert_eq!(roll_back(&none).await, Stopped::NoDeployment);
    assert_eq!(none.moves(), (0, 0, 0));
    let under_way = Ecs::new(
        Some(deployment("ROLLBACK_IN_PROGRESS", "BAKE_TIME", vec![])),
        None,
    );
    assert_eq!(
        roll_back(&under_way).await,
        Stopped::RollbackInFlight {
            deployment_id: ARN.into(),
            rolls_back: None
        }
    );
    assert_eq!(under_way.moves(), (0, 0, 0));
}

#[tokio::test]
async fn a_rollback_ecs_could_not_complete_says_so() {
    let failed = deployment("ROLLBACK_FAILED", "CLEAN_UP", vec![]);
    let ecs = Ecs::new(Some(baking()), Some(failed));
    let stopped = roll_back(&ecs).await;
    assert!(
        matches!(&stopped, Stopped::RollbackFailed { status, .. } if status == "ROLLBACK_FAILED"),
        "{stopped:?}"
    );
}

/// StopServiceDeployment refused with `ConflictException` ("The request could not be processed
/// because of conflict in the current state of the resource").
fn conflicting_stop() -> Rule {
    use aws_sdk_ecs::operation::stop_service_deployment::StopServiceDeploymentError;
    use aws_sdk_ecs::types::error::ConflictException;
    mock!(aws_sdk_ecs::Client::stop_service_deployment).then_error(|| {
        StopServiceDeploymentError::ConflictException(
            ConflictException::builder()
                .message("the service deployment is not in a state that can be stopped")
                .build(),
        )
    })
}

#[tokio::test]
async fn a_deployment_that_ends_before_the_stop_finished_first_and_a_live_refusal_stands() {
    let mut ended = Ecs::new(
        Some(baking()),
        Some(deployment("SUCCESSFUL", "CLEAN_UP", vec![])),
    );
    ended.stop = conflicting_stop();
    assert_eq!(
        roll_back(&ended).await,
        Stopped::FinishedFirst {
            deployment_id: ARN.into()
        }
    );
    assert_eq!(ended.stop.num_calls(), 1);
    // Still in progress after the refusal: the refusal is the answer.
    let mut live = Ecs::new(Some(baking()), None);
    live.stop = conflicting_stop();
    let refused = live
        .operator()
        .roll_back_native(&config(), Duration::ZERO, SystemTime::UNIX_EPOCH)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("StopServiceDeployment"),
        "{refused}"
    );
}
