//! ECS-native deployments of a service (deployment controller `ECS`): which kind of deployment
//! a service gets, and what one service deployment's state means. The calls that read and move
//! a service deployment are `berth::service_deployments`.
//!
//! A service deployment goes through three phases ("View service history using Amazon ECS
//! service deployments", ECS developer guide): Pending (`PENDING`), Ongoing (`IN_PROGRESS`,
//! `STOP_REQUESTED`, `ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`) and Completed ("The service
//! deployment completed (succeeded or failed)": `SUCCESSFUL`, `STOPPED`,
//! `ROLLBACK_SUCCESSFUL`, `ROLLBACK_FAILED`).

pub mod ask;

use serde::{Deserialize, Serialize};

pub mod deploy;

/// How ECS deploys a service, read from the service itself (DescribeServices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeployKind {
    /// Deployment controller `CODE_DEPLOY`: the pipeline's CodeDeployToECS action deploys.
    CodeDeploy,
    /// Controller `ECS`, strategy `ROLLING` (the default of both).
    Rolling,
    /// Controller `ECS`, strategy `BLUE_GREEN`.
    BlueGreen,
    /// Controller `ECS`, strategy `LINEAR`: production traffic moves in equal steps.
    Linear,
    /// Controller `ECS`, strategy `CANARY`: a share of production traffic first, then the rest.
    Canary,
    /// A task target: no ECS service; the deploy action registers the revision and repoints
    /// the schedules and rule targets that run the family (docs/guide/scheduled-tasks.md).
    Task,
}

impl DeployKind {
    /// The kind of a service from its `deploymentController.type` and
    /// `deploymentConfiguration.strategy`. Absent, each is the rolling update: "If a deployment
    /// controller isn't specified, the default is ECS" (DeploymentController), and a service
    /// with no strategy is deployed as "ROLLING - ... the Amazon ECS service scheduler replaces
    /// the currently running tasks with new tasks" (DeploymentConfiguration `strategy`).
    /// `EXTERNAL` services are deployed by a third-party controller: berth cannot deliver to
    /// them.
    pub fn of(controller: Option<&str>, strategy: Option<&str>) -> Result<DeployKind, String> {
        match controller.unwrap_or("ECS") {
            "CODE_DEPLOY" => Ok(DeployKind::CodeDeploy),
            "ECS" => match strategy.unwrap_or("ROLLING") {
                "ROLLING" => Ok(DeployKind::Rolling),
                "BLUE_GREEN" => Ok(DeployKind::BlueGreen),
                "LINEAR" => Ok(DeployKind::Linear),
                "CANARY" => Ok(DeployKind::Canary),
                other => Err(format!(
                    "the service's deployment strategy {other:?} is not one berth deploys (ROLLING, BLUE_GREEN, LINEAR, CANARY)"
                )),
            },
            "EXTERNAL" => Err(
                "the service uses the EXTERNAL deployment controller (a third-party controller deploys it); berth deploys ECS and CODE_DEPLOY services".into(),
            ),
            other => Err(format!(
                "the service's deployment controller {other:?} is not one berth deploys (ECS, CODE_DEPLOY)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeployKind::CodeDeploy => "CODE_DEPLOY",
            DeployKind::Rolling => "ROLLING",
            DeployKind::BlueGreen => "BLUE_GREEN",
            DeployKind::Linear => "LINEAR",
            DeployKind::Canary => "CANARY",
            DeployKind::Task => "TASK",
        }
    }

    /// Deployed by ECS itself (controller `ECS`), through the berth `deploy` action: an ECS
    /// service deployment follows. Not a task target (TASK), which has no service.
    pub fn is_native(self) -> bool {
        !matches!(self, DeployKind::CodeDeploy | DeployKind::Task)
    }

    /// Runs lifecycle hooks and bake time: the blue/green family (blue/green, linear, canary),
    /// in which "both blue and green service revisions are running simultaneously after the
    /// production traffic has shifted" (DeploymentConfiguration `bakeTimeInMinutes`). berth
    /// follows a rolling deployment without hooks: the circuit breaker and alarms decide.
    pub fn has_hooks(self) -> bool {
        matches!(
            self,
            DeployKind::BlueGreen | DeployKind::Linear | DeployKind::Canary
        )
    }
}

/// The statuses of a service deployment that has not ended (the Pending and Ongoing phases).
pub const ACTIVE_STATUSES: [&str; 5] = [
    "PENDING",
    "IN_PROGRESS",
    "STOP_REQUESTED",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
];

/// Whether `status` is one of a deployment that has not ended.
pub fn is_active(status: &str) -> bool {
    ACTIVE_STATUSES.contains(&status)
}

/// One lifecycle hook of a service deployment (`lifecycleHookDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Hook {
    pub id: String,
    /// `AWS_LAMBDA` or `PAUSE`.
    pub target_type: String,
    /// The Lambda function's ARN for `AWS_LAMBDA`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<String>,
    /// `IN_PROGRESS`, `AWAITING_ACTION`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`.
    pub status: String,
    /// When a pause ends by itself (epoch seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// What ECS does at `expires_at`: `CONTINUE` or `ROLLBACK`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_action: Option<String>,
}

impl Hook {
    /// A pause hook waiting for ContinueServiceDeployment: "You can continue a deployment that
    /// has a pause hook in AWAITING_ACTION status. The deployment must be in the IN_PROGRESS
    /// state" (Continuing service deployments).
    pub fn is_paused(&self) -> bool {
        self.target_type == "PAUSE" && self.status == "AWAITING_ACTION"
    }
}

/// A failure detection mechanism of a deployment (circuit breaker or alarms): its status
/// (`TRIGGERED`, `MONITORING`, `MONITORING_COMPLETE`, `DISABLED`) and what it counted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Monitor {
    pub status: String,
    /// Circuit breaker: "The number of times the circuit breaker detected a service deployment
    /// failure" and its threshold; alarms: the alarms in ALARM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub triggered: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<(i32, i32)>,
}

/// What berth reads of one service deployment (DescribeServiceDeployments).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Facts {
    pub arn: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The blue/green, linear or canary lifecycle stage (`lifecycleStage`), e.g.
    /// `POST_TEST_TRAFFIC_SHIFT`, `BAKE_TIME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle_stage: Option<String>,
    /// The service revision being deployed (`targetServiceRevision.arn`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// The share of production traffic the target revision was asked to take, 0–100, when the
    /// deployment moves traffic (`requestedProductionTrafficWeight`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub production_weight: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    /// "The reason the rollback happened" (`rollback.reason`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<Monitor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms: Option<Monitor>,
    /// `deploymentConfiguration.bakeTimeInMinutes` of the deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bake_time_minutes: Option<i32>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
}

impl Facts {
    /// The pause hook awaiting an action, if the deployment is paused.
    pub fn paused_hook(&self) -> Option<&Hook> {
        (self.status == "IN_PROGRESS")
            .then(|| self.hooks.iter().find(|h| h.is_paused()))
            .flatten()
    }

    /// Why a deployment that did not succeed ended, in one line: the status reason, the
    /// rollback reason, the circuit breaker's count and the alarms that fired, each once.
    pub fn why(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut add = |s: String| {
            if !s.is_empty() && !parts.contains(&s) {
                parts.push(s);
            }
        };
        add(self.status_reason.clone().unwrap_or_default());
        add(self.rollback_reason.clone().unwrap_or_default());
        if let Some(cb) = self
            .circuit_breaker
            .as_ref()
            .filter(|m| m.status == "TRIGGERED")
        {
            let count = cb
                .failures
                .map(|(n, t)| format!(" ({n} failed tasks, threshold {t})"))
                .unwrap_or_default();
            add(format!("the deployment circuit breaker triggered{count}"));
        }
        if let Some(a) = self.alarms.as_ref().filter(|m| m.status == "TRIGGERED") {
            add(format!("alarm(s) in ALARM: {}", a.triggered.join(", ")));
        }
        for h in self
            .hooks
            .iter()
            .filter(|h| matches!(h.status.as_str(), "FAILED" | "TIMED_OUT"))
        {
            let target = h.target_arn.as_deref().unwrap_or(&h.target_type);
            add(format!("lifecycle hook {target} {}", h.status));
        }
        if parts.is_empty() {
            "ECS gave no reason".into()
        } else {
            parts.join("; ")
        }
    }
}

/// What a service deployment's state means for the release that started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not ended: keep following it.
    Running { summary: String },
    /// `SUCCESSFUL`: "The service deployment completed successfully".
    Succeeded,
    /// Ended without the new revision in place, or being rolled back: `STOPPED`,
    /// `ROLLBACK_*`, `STOP_REQUESTED`. A deployment being rolled back has failed already; the
    /// release does not wait for the rollback to finish.
    Failed { reason: String },
}

/// The outcome of a deployment (pure). A rollback under way (`ROLLBACK_REQUESTED`,
/// `ROLLBACK_IN_PROGRESS`) is already a failure of the release: "IN_PROGRESS - The service
/// deployment moves to the ROLLBACK_REQUESTED state, and then the rollback operation starts"
/// (Stopping Amazon ECS service deployments).
pub fn outcome(f: &Facts, now_epoch: i64) -> Outcome {
    let failed = |what: &str| Outcome::Failed {
        reason: format!("the ECS deployment {what}: {}", f.why()),
    };
    match f.status.as_str() {
        "SUCCESSFUL" => Outcome::Succeeded,
        "ROLLBACK_SUCCESSFUL" => failed("was rolled back"),
        "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" => failed("is being rolled back"),
        "ROLLBACK_FAILED" => failed("failed and its rollback failed too"),
        "STOPPED" | "STOP_REQUESTED" => failed("was stopped"),
        _ => Outcome::Running {
            summary: phase(f, now_epoch).describe(),
        },
    }
}

/// Where a service deployment that has not ended stands, for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// `PENDING`: "The service deployment has been created, but has not started".
    Pending,
    /// In a lifecycle stage (blue/green, linear, canary) or, for rolling, replacing tasks.
    InStage {
        #[serde(skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        production_weight: Option<f64>,
    },
    /// A pause hook awaits `berth promote` (CONTINUE) or `berth rollback` (ROLLBACK); at
    /// `until` ECS takes `timeout_action` by itself.
    Paused {
        #[serde(skip_serializing_if = "Option::is_none")]
        stage: Option<String>,
        hook_id: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        timeout_action: Option<String>,
    },
    /// `BAKE_TIME`: production traffic is on the new revision and the old one still runs, so
    /// a rollback moves traffic back at once. ECS reports no start of the bake, so `until` is
    /// counted from the deployment's last update.
    Baking {
        #[serde(skip_serializing_if = "Option::is_none")]
        until: Option<i64>,
    },
    /// Stopping or rolling back.
    Ending {
        status: String,
    },
    Finished {
        status: String,
    },
}

/// The phase of a deployment (pure).
pub fn phase(f: &Facts, _now_epoch: i64) -> Phase {
    if !is_active(&f.status) {
        return Phase::Finished {
            status: f.status.clone(),
        };
    }
    if f.status == "PENDING" {
        return Phase::Pending;
    }
    if f.status != "IN_PROGRESS" {
        return Phase::Ending {
            status: f.status.clone(),
        };
    }
    if let Some(h) = f.paused_hook() {
        return Phase::Paused {
            stage: f.lifecycle_stage.clone(),
            hook_id: h.id.clone(),
            until: h.expires_at,
            timeout_action: h.timeout_action.clone(),
        };
    }
    if f.lifecycle_stage.as_deref() == Some("BAKE_TIME") {
        let until = f
            .updated_at
            .zip(f.bake_time_minutes)
            .map(|(t, m)| t + i64::from(m) * 60);
        return Phase::Baking { until };
    }
    Phase::InStage {
        stage: f.lifecycle_stage.clone(),
        production_weight: f.production_weight,
    }
}

impl Phase {
    /// Whether the old revision still runs, so a rollback is a traffic switch.
    pub fn old_is_running(&self) -> bool {
        !matches!(self, Phase::Finished { .. })
    }

    /// What the phase says in one line, with its deadline.
    pub fn describe(&self) -> String {
        let at = |t: &Option<i64>| match t {
            Some(t) => format!(" until {}", crate::time::format(*t, 0).unwrap_or_default()),
            None => String::new(),
        };
        match self {
            Phase::Pending => "pending (ECS has not started it yet)".into(),
            Phase::InStage {
                stage,
                production_weight,
            } => {
                let stage = stage.as_deref().unwrap_or("replacing tasks");
                match production_weight {
                    Some(w) => format!("in progress: {stage} ({w}% of production traffic)"),
                    None => format!("in progress: {stage}"),
                }
            }
            Phase::Paused {
                stage,
                until,
                timeout_action,
                ..
            } => format!(
                "paused at {} for promote{}{}",
                stage.as_deref().unwrap_or("a pause hook"),
                at(until),
                timeout_action
                    .as_deref()
                    .map(|a| format!(" (then {a})"))
                    .unwrap_or_default()
            ),
            Phase::Baking { until } => {
                format!("bake time{} (the old revision still runs)", at(until))
            }
            Phase::Ending { status } => format!("ending: {status}"),
            Phase::Finished { status } => format!("finished: {status}"),
        }
    }
}

#[cfg(test)]
mod tests;
