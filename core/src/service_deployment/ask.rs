//! What an operator's request does to an ECS-native deployment (`berth promote`, `berth
//! rollback`, `berth finish`), decided from the service's kind and its newest deployment that
//! has not ended. The calls that carry the decision out are `berth::operate`.

use serde::Serialize;

use super::{DeployKind, Facts, phase};

/// What `berth promote` does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "move", rename_all = "snake_case")]
pub enum Promote {
    /// ContinueServiceDeployment `CONTINUE` on this pause hook: "You can continue a deployment
    /// that has a pause hook in AWAITING_ACTION status. The deployment must be in the
    /// IN_PROGRESS state" (Continuing service deployments).
    Continue { arn: String, hook_id: String },
    /// Nothing to promote now; the reason names the deployment's phase.
    Refused { reason: String },
    /// The kind has no promote point at all.
    NotForKind { reason: String },
}

/// The decision of `berth promote` (pure). `service` names the service in messages.
pub fn promote(kind: DeployKind, service: &str, newest: Option<&Facts>, now: i64) -> Promote {
    if kind == DeployKind::Task {
        return Promote::NotForKind {
            reason: no_deployment(service),
        };
    }
    if !kind.has_hooks() {
        return Promote::NotForKind {
            reason: format!(
                "{service} deploys {}: a rolling deployment has no promote point (ECS replaces the tasks and its circuit breaker and alarms decide); promote applies to BLUE_GREEN, LINEAR and CANARY services with a PAUSE lifecycle hook",
                kind.as_str()
            ),
        };
    }
    let Some(f) = newest else {
        return Promote::Refused {
            reason: format!("no ECS deployment of {service} is in progress"),
        };
    };
    match f.paused_hook() {
        Some(h) => Promote::Continue {
            arn: f.arn.clone(),
            hook_id: h.id.clone(),
        },
        None => Promote::Refused {
            reason: format!(
                "deployment {} is {}; promote applies while a PAUSE lifecycle hook awaits action (the service's deploymentConfiguration.lifecycleHooks needs one with targetType PAUSE)",
                f.arn,
                phase(f, now).describe()
            ),
        },
    }
}

/// What `berth rollback` does to the deployment in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "move", rename_all = "snake_case")]
pub enum Rollback {
    /// Nothing in flight: the rollback redeploys an earlier release.
    Redeploy,
    /// Paused at a pause hook: ContinueServiceDeployment `ROLLBACK` ("Rolls back the
    /// deployment to the previous service revision").
    ContinueRollback { arn: String, hook_id: String },
    /// StopServiceDeployment `ROLLBACK`. "You can stop a deployment that is in any of the
    /// following states ... PENDING - The service deployment moves to the ROLLBACK_REQUESTED
    /// state, and then the rollback operation starts. IN_PROGRESS - The service deployment
    /// moves to the ROLLBACK_REQUESTED state, and then the rollback operation starts"
    /// (Stopping Amazon ECS service deployments).
    Stop { arn: String },
    /// Already being rolled back (`ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`): a stop would
    /// only "continue the rollback operation", so nothing is asked and nothing redeployed.
    AlreadyRollingBack { arn: String, status: String },
    /// Being stopped without rollback (`STOP_REQUESTED`: "The service deployment continues to
    /// stop"): the revision it leaves is not known to be the old one, so the rollback
    /// redeploys.
    Stopping { arn: String },
}

/// The decision of `berth rollback` while ECS may have a deployment in flight (pure).
pub fn rollback(newest: Option<&Facts>) -> Rollback {
    let Some(f) = newest else {
        return Rollback::Redeploy;
    };
    let arn = f.arn.clone();
    if let Some(h) = f.paused_hook() {
        return Rollback::ContinueRollback {
            arn,
            hook_id: h.id.clone(),
        };
    }
    match f.status.as_str() {
        "PENDING" | "IN_PROGRESS" => Rollback::Stop { arn },
        "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" => Rollback::AlreadyRollingBack {
            arn,
            status: f.status.clone(),
        },
        "STOP_REQUESTED" => Rollback::Stopping { arn },
        _ => Rollback::Redeploy,
    }
}

/// How a rollback asked of ECS stands when berth stops watching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    /// `ROLLBACK_SUCCESSFUL`: the previous revision serves again.
    RolledBack,
    /// `SUCCESSFUL`: the deployment completed before the request took; the old revision is
    /// gone, so the rollback must redeploy.
    FinishedFirst,
    /// `ROLLBACK_FAILED` or `STOPPED`: ended without the previous revision restored.
    Failed,
    /// Still going.
    Going,
}

/// What a deployment's status says about a rollback asked of it (pure).
pub fn watched(status: &str) -> Watched {
    match status {
        "ROLLBACK_SUCCESSFUL" => Watched::RolledBack,
        "SUCCESSFUL" => Watched::FinishedFirst,
        "ROLLBACK_FAILED" | "STOPPED" => Watched::Failed,
        _ => Watched::Going,
    }
}

/// Why `berth finish` cannot act on an ECS-native service. ECS has no call that ends bake time
/// early: ContinueServiceDeployment acts only on "a pause hook in AWAITING_ACTION status", and
/// BAKE_TIME is not among the stages a hook can be set on (DeploymentLifecycleHook
/// `lifecycleStages` lists RECONCILE_SERVICE through POST_PRODUCTION_TRAFFIC_SHIFT);
/// StopServiceDeployment's stopType: "The valid values are ROLLBACK". `None` for CODE_DEPLOY,
/// where CodeDeploy's ContinueDeployment `TERMINATION_WAIT` does it.
pub fn finish(kind: DeployKind, service: &str) -> Option<String> {
    match kind {
        DeployKind::CodeDeploy => None,
        DeployKind::Task => Some(no_deployment(service)),
        DeployKind::Rolling => Some(format!(
            "{service} deploys ROLLING: a rolling deployment has no bake time or termination wait to end; ECS replaces the tasks and the deployment ends when the new ones are steady"
        )),
        k => Some(format!(
            "{service} deploys {}: ECS offers no way to end a deployment's bake time early (ContinueServiceDeployment acts only on a paused PAUSE hook, and no hook can be set at BAKE_TIME); the old revision is retired when bakeTimeInMinutes is over. To shorten it for later releases, lower the service's deploymentConfiguration.bakeTimeInMinutes",
            k.as_str()
        )),
    }
}

/// A task target is repointed in one step: nothing to promote, no bake time to end.
fn no_deployment(service: &str) -> String {
    format!(
        "{service} is a task target: its release repoints the schedules and rules in one step, so there is no deployment to promote or finish (berth rollback repoints them to an earlier release)"
    )
}

#[cfg(test)]
mod tests {
    use super::super::Hook;
    use super::*;

    const ARN: &str = "arn:aws:ecs:eu-west-1:123456789012:service-deployment/prod/web/abc";

    fn facts(status: &str, stage: Option<&str>, hooks: Vec<Hook>) -> Facts {
        Facts {
            arn: ARN.into(),
            status: status.into(),
            lifecycle_stage: stage.map(str::to_owned),
            hooks,
            ..Facts::default()
        }
    }

    fn hook(target_type: &str, status: &str) -> Hook {
        Hook {
            id: format!("ecs-{}-1", target_type.to_lowercase()),
            target_type: target_type.into(),
            status: status.into(),
            expires_at: Some(1_800_000_600),
            timeout_action: Some("ROLLBACK".into()),
            ..Hook::default()
        }
    }

    fn paused() -> Facts {
        facts(
            "IN_PROGRESS",
            Some("POST_TEST_TRAFFIC_SHIFT"),
            vec![
                hook("AWS_LAMBDA", "SUCCEEDED"),
                hook("PAUSE", "AWAITING_ACTION"),
            ],
        )
    }

    #[test]
    fn promote_continues_only_a_pause_hook_awaiting_action() {
        let continue_paused = Promote::Continue {
            arn: ARN.into(),
            hook_id: "ecs-pause-1".into(),
        };
        for kind in [
            DeployKind::BlueGreen,
            DeployKind::Linear,
            DeployKind::Canary,
        ] {
            assert_eq!(promote(kind, "web", Some(&paused()), 0), continue_paused);
        }
        let refused = |f: Facts| match promote(DeployKind::BlueGreen, "web", Some(&f), 0) {
            Promote::Refused { reason } => reason,
            other => panic!("{other:?}"),
        };
        // A Lambda hook running, a pause hook already answered, a deployment not IN_PROGRESS.
        let lambda = facts(
            "IN_PROGRESS",
            Some("POST_TEST_TRAFFIC_SHIFT"),
            vec![hook("AWS_LAMBDA", "IN_PROGRESS")],
        );
        assert!(refused(lambda).contains("in progress: POST_TEST_TRAFFIC_SHIFT"));
        let answered = facts(
            "IN_PROGRESS",
            Some("PRODUCTION_TRAFFIC_SHIFT"),
            vec![hook("PAUSE", "SUCCEEDED")],
        );
        assert!(refused(answered).contains("PRODUCTION_TRAFFIC_SHIFT"));
        let baking = facts("IN_PROGRESS", Some("BAKE_TIME"), vec![]);
        assert!(refused(baking).contains("bake time"));
        let rolling_back = facts(
            "ROLLBACK_IN_PROGRESS",
            None,
            vec![hook("PAUSE", "AWAITING_ACTION")],
        );
        assert!(refused(rolling_back).contains("ending: ROLLBACK_IN_PROGRESS"));
        match promote(DeployKind::BlueGreen, "web", None, 0) {
            Promote::Refused { reason } => assert!(reason.contains("no ECS deployment of web")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rolling_service_has_no_promote_point() {
        for newest in [None, Some(&paused())] {
            match promote(DeployKind::Rolling, "web", newest, 0) {
                Promote::NotForKind { reason } => {
                    assert!(reason.contains("no promote point"), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rollback_continues_a_pause_stops_a_deployment_and_leaves_a_rollback_alone() {
        let arn = || ARN.to_owned();
        let cases = [
            (None, Rollback::Redeploy),
            (
                Some(paused()),
                Rollback::ContinueRollback {
                    arn: arn(),
                    hook_id: "ecs-pause-1".into(),
                },
            ),
            (
                Some(facts("PENDING", None, vec![])),
                Rollback::Stop { arn: arn() },
            ),
            (
                Some(facts("IN_PROGRESS", Some("BAKE_TIME"), vec![])),
                Rollback::Stop { arn: arn() },
            ),
            (
                Some(facts(
                    "IN_PROGRESS",
                    Some("POST_TEST_TRAFFIC_SHIFT"),
                    vec![hook("AWS_LAMBDA", "IN_PROGRESS")],
                )),
                Rollback::Stop { arn: arn() },
            ),
            (
                Some(facts("ROLLBACK_REQUESTED", None, vec![])),
                Rollback::AlreadyRollingBack {
                    arn: arn(),
                    status: "ROLLBACK_REQUESTED".into(),
                },
            ),
            (
                Some(facts("ROLLBACK_IN_PROGRESS", None, vec![])),
                Rollback::AlreadyRollingBack {
                    arn: arn(),
                    status: "ROLLBACK_IN_PROGRESS".into(),
                },
            ),
            (
                Some(facts("STOP_REQUESTED", None, vec![])),
                Rollback::Stopping { arn: arn() },
            ),
            (Some(facts("SUCCESSFUL", None, vec![])), Rollback::Redeploy),
        ];
        for (newest, want) in cases {
            assert_eq!(rollback(newest.as_ref()), want, "{newest:?}");
        }
    }

    #[test]
    fn a_watched_rollback_ends_in_one_of_four_ways() {
        assert_eq!(watched("ROLLBACK_SUCCESSFUL"), Watched::RolledBack);
        assert_eq!(watched("SUCCESSFUL"), Watched::FinishedFirst);
        assert_eq!(watched("ROLLBACK_FAILED"), Watched::Failed);
        assert_eq!(watched("STOPPED"), Watched::Failed);
        for going in ["ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "IN_PROGRESS"] {
            assert_eq!(watched(going), Watched::Going);
        }
    }

    #[test]
    fn finish_is_codedeploy_only() {
        assert_eq!(finish(DeployKind::CodeDeploy, "web"), None);
        let rolling = finish(DeployKind::Rolling, "web").unwrap();
        assert!(rolling.contains("no bake time"), "{rolling}");
        let task = finish(DeployKind::Task, "report").unwrap();
        assert!(task.contains("report is a task target"), "{task}");
        let Promote::NotForKind { reason } = promote(DeployKind::Task, "report", None, 0) else {
            panic!("a task target has no promote point");
        };
        assert!(
            reason.contains("no deployment to promote or finish"),
            "{reason}"
        );
        for kind in [
            DeployKind::BlueGreen,
            DeployKind::Linear,
            DeployKind::Canary,
        ] {
            let why = finish(kind, "web").unwrap();
            assert!(why.contains("no way to end a deployment's bake time early"));
            assert!(why.contains(kind.as_str()));
        }
    }
}
