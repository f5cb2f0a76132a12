//! `verify` as an Amazon ECS lifecycle hook (services whose deployment controller is `ECS`,
//! strategy BLUE_GREEN, LINEAR or CANARY): the event ECS sends, the answer it reads, the
//! lifecycle stages at which the checks mean something, and how one verification spreads over
//! invocations. Pure; the handler is `berth::verify`.
//!
//! Quotes are from the ECS developer guide, "Lambda hooks for Amazon ECS service deployments",
//! unless another source is named.
//!
//! - The answer: "your function must return a JSON object containing a `hookStatus` field. You
//!   can optionally include `callBackDelay` to control retry timing and `hookDetails` to pass
//!   data between invocations. If your function doesn't return a valid `hookStatus`, or if it
//!   fails, Amazon ECS rolls back the deployment." `SUCCEEDED` - "The deployment continues to
//!   the next lifecycle stage"; `FAILED` - "Amazon ECS rolls back the deployment to the last
//!   successful service revision"; `IN_PROGRESS` - "Amazon ECS invokes the function again after
//!   a delay. By default, the delay is 30 seconds. You can customize this value by returning a
//!   `callBackDelay` alongside the `hookStatus`." The guide names no bounds for `callBackDelay`
//!   (its examples use 60 and 90); berth sends the registry's `interval_seconds` (0..=60), at
//!   least [`MIN_CALL_BACK_DELAY`].
//! - State between invocations: "Return `hookDetails` alongside the `IN_PROGRESS` hook status.
//!   Amazon ECS passes this data back to your function on the next invocation. Use this to
//!   maintain state between invocations without external storage." ("Amazon ECS merges this
//!   data".) berth keeps its state under one key, [`DETAILS_KEY`], beside whatever the service's
//!   hook configuration passes.
//! - Time: hooks are invoked synchronously — "the deployment can only pause for the maximum
//!   execution time of a function (15 minutes)" (AWS Containers blog, "Extending deployment
//!   pipelines with Amazon ECS blue green deployments and lifecycle hooks") — and the hook as a
//!   whole is bounded by its `timeoutConfiguration`: "If the Lambda function does not return
//!   `SUCCEEDED` or `FAILED` before the timeout expires, Amazon ECS takes the configured timeout
//!   action" (default 1,440 minutes, ROLLBACK). So each invocation tries every check that has not
//!   passed once ([`next`]) and answers; ECS calls again after `callBackDelay` for the next
//!   attempt. No invocation sleeps between attempts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::record::{CheckResult, Verdict};

/// The key of berth's state in `hookDetails`.
pub const DETAILS_KEY: &str = "berthVerify";
/// The shortest `callBackDelay` berth sends (seconds).
pub const MIN_CALL_BACK_DELAY: u64 = 1;

/// The event: "When Amazon ECS invokes your lifecycle hook Lambda function, the event payload
/// contains the following top-level fields: `executionId` - The unique identifier for this hook
/// execution. `lifecycleStage` - The current lifecycle stage (for example,
/// `PRODUCTION_TRAFFIC_SHIFT`). `resourceArn` - The ARN of the resource associated with the
/// deployment. `executionDetails` - An object containing the deployment-specific information";
/// "Amazon ECS includes the `hookDetails` in the event payload alongside `executionDetails`".
/// `resourceArn` is the service deployment (`…:service-deployment/<cluster>/<service>/<id>` in
/// every example).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookEvent {
    pub execution_id: String,
    pub lifecycle_stage: String,
    pub resource_arn: String,
    pub execution_details: ExecutionDetails,
    #[serde(default)]
    pub hook_details: Option<Value>,
}

/// "The `executionDetails` object contains the following fields: `serviceArn` - The Amazon
/// Resource Name (ARN) of the service. `targetServiceRevisionArn` - The ARN of the target
/// service revision being deployed. `testTrafficWeights` - A map of service revision ARNs to
/// their corresponding test traffic weight percentages. `productionTrafficWeights` - A map of
/// service revision ARNs to their corresponding production traffic weight percentages." The
/// weights are whole numbers in the guide's examples; any JSON number is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDetails {
    pub service_arn: String,
    pub target_service_revision_arn: String,
    #[serde(default)]
    pub test_traffic_weights: BTreeMap<String, f64>,
    #[serde(default)]
    pub production_traffic_weights: BTreeMap<String, f64>,
}

/// Which hook a payload is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// CodeDeploy's `{"DeploymentId", "LifecycleEventHookExecutionId"}`.
    CodeDeploy,
    /// ECS's `{"executionId", "lifecycleStage", "resourceArn", "executionDetails"}`.
    Ecs,
    /// Neither.
    Other,
}

/// The kind of a payload, from the keys only one of the two hooks sends: an object with
/// `executionDetails`, `lifecycleStage` or the flat `serviceArn` + `targetServiceRevisionArn` is
/// ECS's (and must then parse as [`HookEvent`]); one with `DeploymentId` is CodeDeploy's.
///
/// The flat form: the older guide page "Lifecycle hooks for Amazon ECS service deployments"
/// lists `serviceArn`, `targetServiceRevisionArn`, `testTrafficWeights` and
/// `productionTrafficWeights` as the payload's common fields with no `executionDetails` around
/// them. An ECS event taken for something else would get no `hookStatus`, and "If your function
/// doesn't return a valid `hookStatus` ... Amazon ECS rolls back the deployment".
pub fn kind(payload: &Value) -> EventKind {
    let Some(o) = payload.as_object() else {
        return EventKind::Other;
    };
    let flat = o.contains_key("serviceArn") && o.contains_key("targetServiceRevisionArn");
    if o.contains_key("executionDetails") || o.contains_key("lifecycleStage") || flat {
        EventKind::Ecs
    } else if o.contains_key("DeploymentId") {
        EventKind::CodeDeploy
    } else {
        EventKind::Other
    }
}

/// The ECS event in `payload`, or what is wrong with it.
pub fn parse(mut payload: Value) -> Result<HookEvent, String> {
    nest_flat_details(&mut payload);
    let event: HookEvent = serde_json::from_value(payload)
        .map_err(|e| format!("the payload is not an Amazon ECS lifecycle hook event: {e}"))?;
    let d = &event.execution_details;
    for (name, value) in [
        ("executionId", &event.execution_id),
        ("lifecycleStage", &event.lifecycle_stage),
        ("resourceArn", &event.resource_arn),
        ("executionDetails.serviceArn", &d.service_arn),
        (
            "executionDetails.targetServiceRevisionArn",
            &d.target_service_revision_arn,
        ),
    ] {
        if value.is_empty() {
            return Err(format!("the ECS lifecycle hook event has an empty {name}"));
        }
    }
    Ok(event)
}

/// Moves the flat form's fields (see [`kind`]) under `executionDetails`, so both forms parse as
/// one [`HookEvent`]; a payload that has `executionDetails` is left as it is.
fn nest_flat_details(payload: &mut Value) {
    let Some(o) = payload.as_object_mut() else {
        return;
    };
    if o.contains_key("executionDetails") {
        return;
    }
    let mut details = serde_json::Map::new();
    for key in [
        "serviceArn",
        "targetServiceRevisionArn",
        "testTrafficWeights",
        "productionTrafficWeights",
    ] {
        if let Some(v) = o.remove(key) {
            details.insert(key.to_owned(), v);
        }
    }
    if !details.is_empty() {
        o.insert("executionDetails".to_owned(), Value::Object(details));
    }
}

/// Cluster and service names of `arn:<partition>:ecs:<region>:<account>:service/<cluster>/<service>`.
/// The old format without the cluster (`service/<service>`) is refused: it does not say which
/// cluster's service it is, and the registry names services by cluster and name.
pub fn service_of(service_arn: &str) -> Result<(String, String), String> {
    let resource = service_arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.splitn(5, ':').nth(4))
        .filter(|_| service_arn.split(':').nth(2) == Some("ecs"));
    let parts: Option<Vec<&str>> = resource
        .and_then(|r| r.strip_prefix("service/"))
        .map(|r| r.split('/').collect());
    match parts.as_deref() {
        Some([cluster, service]) if !cluster.is_empty() && !service.is_empty() => {
            Ok(((*cluster).to_owned(), (*service).to_owned()))
        }
        _ => Err(format!(
            "the hook event's serviceArn {service_arn:?} is not arn:aws:ecs:<region>:<account>:service/<cluster>/<service>"
        )),
    }
}

/// The last `/` segment: a cluster named by name or by ARN compares by name.
pub fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// What verify does at a lifecycle stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRule {
    /// The test listener reaches the new revision: run the checks.
    Check,
    /// Nothing to verify; answer SUCCEEDED with this note.
    Pass(String),
    /// The hook is configured where verify cannot check anything; answer FAILED with this.
    Refuse(String),
}

/// Stages before the test traffic shift: "PRE_SCALE_UP - The green service revision has not
/// started. ... There is no test traffic. POST_SCALE_UP - The green service revision has
/// started. The blue service revision is handling 100% of the production traffic. There is no
/// test traffic." RECONCILE_SERVICE comes before both (DeploymentLifecycleHook
/// `lifecycleStages`, ECS API reference).
const BEFORE_TEST_TRAFFIC: [&str; 3] = ["RECONCILE_SERVICE", "PRE_SCALE_UP", "POST_SCALE_UP"];
/// From "TEST_TRAFFIC_SHIFT - ... The green service revision is migrating from 0% to 100% of
/// test traffic" and "POST_TEST_TRAFFIC_SHIFT - The test traffic shift is complete. The green
/// service revision handles 100% of the test traffic" on, the test listener reaches green.
const WITH_TEST_TRAFFIC: [&str; 5] = [
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
];

/// The stage berth's guide configures verify at.
pub const RECOMMENDED_STAGE: &str = "POST_TEST_TRAFFIC_SHIFT";

/// What verify does at the event's stage. A hook at a stage before test traffic would check
/// the old revision through the test listener and pass it: refused, so the misconfiguration
/// shows at the first deployment instead of passing every one. During a rollback — "Amazon ECS
/// re-invokes hooks registered at the `PRODUCTION_TRAFFIC_SHIFT` and `TEST_TRAFFIC_SHIFT`
/// stages"; "If the `targetServiceRevisionArn` (green revision) has a weight of 0% and the other
/// revision has 100%, the deployment is rolling back" — there is nothing left to verify.
pub fn stage_rule(event: &HookEvent) -> StageRule {
    let stage = event.lifecycle_stage.as_str();
    let d = &event.execution_details;
    let weights = match stage {
        "TEST_TRAFFIC_SHIFT" => Some(&d.test_traffic_weights),
        "PRODUCTION_TRAFFIC_SHIFT" => Some(&d.production_traffic_weights),
        _ => None,
    };
    if weights.is_some_and(|w| rolling_back(w, &d.target_service_revision_arn)) {
        return StageRule::Pass(format!(
            "the deployment is rolling back ({stage} moves traffic off the target revision): nothing to verify"
        ));
    }
    if WITH_TEST_TRAFFIC.contains(&stage) {
        return StageRule::Check;
    }
    if BEFORE_TEST_TRAFFIC.contains(&stage) {
        return StageRule::Refuse(format!(
            "verify checks the new revision through the test listener, which reaches it only from TEST_TRAFFIC_SHIFT on; at {stage} there is no test traffic to the new revision: configure the hook's lifecycleStages as [\"{RECOMMENDED_STAGE}\"]"
        ));
    }
    StageRule::Refuse(format!(
        "unknown lifecycle stage {stage:?}: verify runs at {RECOMMENDED_STAGE}"
    ))
}

fn rolling_back(weights: &BTreeMap<String, f64>, target: &str) -> bool {
    let target_weight = weights.get(target).copied().unwrap_or(0.0);
    target_weight <= 0.0 && weights.iter().any(|(arn, w)| arn != target && *w > 0.0)
}

/// berth's state in `hookDetails`, carried from one invocation to the next, and its account of
/// the verification in the final answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// Passes run so far (each tries every check that has not passed once).
    pub pass: u32,
    /// When the first pass started (RFC 3339).
    pub started_at: String,
    /// Each check's result so far, in the registry's order.
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The verdict is in the release record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<bool>,
}

impl Details {
    /// The state before the first pass, started at `started_at`.
    pub fn new(started_at: String) -> Details {
        Details {
            pass: 0,
            started_at,
            checks: Vec::new(),
            verdict: None,
            message: None,
            service: None,
            release: None,
            recorded: None,
        }
    }
}

/// berth's state in the event's `hookDetails`: `None` at the first invocation; an error when
/// the key holds something verify did not write.
pub fn carried(hook_details: Option<&Value>) -> Result<Option<Details>, String> {
    match hook_details.and_then(|d| d.get(DETAILS_KEY)) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
            format!("hookDetails.{DETAILS_KEY} is not the state verify returned: {e}")
        }),
    }
}

/// The checks to try in this pass: the indexes (of `urls`, the registry's checks) that have not
/// passed. Earlier results for other URLs (the registry changed between invocations) count
/// for nothing.
pub fn pending(previous: &[CheckResult], urls: &[String]) -> Vec<usize> {
    (0..urls.len())
        .filter(|&i| {
            !previous
                .get(i)
                .is_some_and(|p| p.url == urls[i] && p.passed)
        })
        .collect()
}

/// The results after a pass: `fresh[k]` is the result of check `tried[k]` (one attempt, or none
/// when the invocation ran out of time); attempts add up.
pub fn merge(
    previous: &[CheckResult],
    urls: &[String],
    tried: &[usize],
    fresh: Vec<CheckResult>,
) -> Vec<CheckResult> {
    let mut out: Vec<Option<CheckResult>> = urls
        .iter()
        .enumerate()
        .map(|(i, url)| previous.get(i).filter(|p| &p.url == url).cloned())
        .collect();
    for (&i, new) in tried.iter().zip(fresh) {
        let merged = match out[i].take() {
            Some(old) if new.attempts == 0 => CheckResult {
                error: old.error.clone().or(new.error),
                ..old
            },
            Some(old) => CheckResult {
                attempts: old.attempts + new.attempts,
                ..new
            },
            None => new,
        };
        out[i] = Some(merged);
    }
    out.into_iter()
        .zip(urls)
        .map(|(r, url)| r.unwrap_or_else(|| untried(url)))
        .collect()
}

fn untried(url: &str) -> CheckResult {
    CheckResult {
        url: url.to_owned(),
        passed: false,
        attempts: 0,
        status: None,
        latency_ms: None,
        error: Some("not tried".into()),
        body_excerpt: None,
    }
}

/// After pass number `pass` (from 1): the verdict, or `None` to try again. Every check passed:
/// passed. Otherwise failed once `attempts` passes have run — a failing check has then been
/// tried `attempts` times, as the registry asks.
pub fn next(results: &[CheckResult], pass: u32, attempts: u32) -> Option<Verdict> {
    if results.iter().all(|r| r.passed) {
        Some(Verdict::Passed)
    } else if pass >= attempts.max(1) {
        Some(Verdict::Failed)
    } else {
        None
    }
}

/// The `callBackDelay` for the pause between two attempts.
pub fn call_back_delay(interval_seconds: u64) -> u64 {
    interval_seconds.max(MIN_CALL_BACK_DELAY)
}

/// `hookStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HookStatus {
    Succeeded,
    Failed,
    InProgress,
}

/// What verify returns to ECS: `{"hookStatus", "callBackDelay"?, "hookDetails"}`, nothing else
/// at the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HookAnswer {
    pub hook_status: HookStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_back_delay: Option<u64>,
    pub hook_details: Value,
}

impl HookAnswer {
    /// A final answer for `verdict`, or IN_PROGRESS (`verdict` None) after `delay` seconds.
    pub fn of(verdict: Option<Verdict>, delay: u64, details: &Details) -> HookAnswer {
        let (hook_status, call_back_delay) = match verdict {
            Some(Verdict::Passed) => (HookStatus::Succeeded, None),
            Some(Verdict::Failed) => (HookStatus::Failed, None),
            None => (HookStatus::InProgress, Some(delay)),
        };
        HookAnswer {
            hook_status,
            call_back_delay,
            hook_details: serde_json::json!({ DETAILS_KEY: details }),
        }
    }

    /// A final answer that ran no check: `message` says why.
    pub fn without_checks(verdict: Verdict, message: String, started_at: String) -> HookAnswer {
        let details = Details {
            verdict: Some(verdict),
            message: Some(message),
            ..Details::new(started_at)
        };
        HookAnswer::of(Some(verdict), 0, &details)
    }
}

#[cfg(test)]
mod tests;
