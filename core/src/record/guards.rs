//! What the release record keeps of a guarded deployment: the `verify` hook's verdicts and the
//! operator's interventions (promote, finish, rollback), each naming who and when.

use serde::{Deserialize, Serialize};

/// The records keep this many verifications and interventions per release (the newest).
pub const KEPT: usize = 20;

/// One run of the `verify` hook for one CodeDeploy deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub deployment_id: String,
    /// The pipeline execution whose Deploy action ran the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    /// `passed` or `failed`: what was reported to CodeDeploy.
    pub verdict: Verdict,
    /// One line: why.
    pub message: String,
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passed,
    Failed,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
        }
    }
}

/// One check's result: its last attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub url: String,
    pub passed: bool,
    /// Attempts made (a check stops at its first good answer).
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The start of the body of a failed answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_excerpt: Option<String>,
}

/// What an operator did to a deployment of this release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intervention {
    pub action: Action,
    /// The CodeDeploy deployment acted on (none for a redeploy rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// The pipeline execution whose Deploy action ran the deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    /// The caller identity (ARN) the CLI ran as.
    pub by: String,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Production traffic rerouted to green on request (ContinueDeployment READY_WAIT).
    Promote,
    /// The termination wait ended on request: blue retired (ContinueDeployment TERMINATION_WAIT).
    Finish,
    /// The deployment was stopped with automatic rollback: traffic back on the blue task set.
    TrafficRollback,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Promote => "promote",
            Action::Finish => "finish",
            Action::TrafficRollback => "traffic rollback",
        }
    }
}

/// Adds `item` to `list`, keeping the newest [`KEPT`].
pub fn keep_newest<T>(list: &mut Vec<T>, item: T) {
    list.push(item);
    if list.len() > KEPT {
        let excess = list.len() - KEPT;
        list.drain(..excess);
    }
}
