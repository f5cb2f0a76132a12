//! `berth status` for a service ECS deploys itself (ROLLING, BLUE_GREEN, LINEAR, CANARY): the
//! newest service deployment (the one in flight, else the last one ECS lists) as JSON — its
//! facts, phase and deadlines — and the lines the text output prints from that JSON, so both
//! show the same facts.

use berth::aws::Clients;
use berth::pipeline;
use berth::record::ReleaseRecord;
use berth::records::Records;
use berth::registry::ServiceConfig;
use berth::service_deployments::{self as sd, Facts, Phase, phase};
use berth::settings::Settings;
use berth::store::Bucket;
use serde_json::{Value, json};

use crate::status::Guarded;

/// The deployment view of an ECS-native service: the newest deployment, the release it
/// deploys (the pipeline's Deploy action following it), that release's verification (matched
/// by the deployment's ARN) and interventions. Unreadable parts are left out, as for
/// CodeDeploy.
pub async fn guarded(
    clients: &Clients,
    settings: &Settings,
    config: &ServiceConfig,
    latest: &ReleaseRecord,
    now: i64,
) -> Guarded {
    let (cluster, service) = (&config.cluster, config.ecs_service_name());
    let facts = match sd::newest_active(&clients.ecs, cluster, service).await {
        Ok(Some(f)) => Some(f),
        _ => sd::newest(&clients.ecs, cluster, service)
            .await
            .ok()
            .flatten(),
    };
    let mut release = None;
    if let Some(f) = &facts {
        let found =
            pipeline::native_deployment_release(&clients.codepipeline, &config.pipeline, &f.arn)
                .await;
        if let Ok(Some((_, started))) = found {
            let records = Records::new(Bucket::new(clients.s3.clone(), &settings.release_bucket));
            release = records
                .get(&config.service, &started.release)
                .await
                .ok()
                .flatten()
                .map(|s| s.value);
        }
    }
    let record = release.as_ref().unwrap_or(latest);
    let verification = match &facts {
        Some(f) => record
            .verifications
            .iter()
            .rev()
            .find(|v| v.deployment_id == f.arn),
        None => record.verifications.last(),
    };
    Guarded {
        deployment: facts.as_ref().map_or(Value::Null, |f| {
            deployment(f, release.as_ref().map(|r| r.release.as_str()), now)
        }),
        verification: serde_json::to_value(verification).unwrap_or(Value::Null),
        interventions: serde_json::to_value(&record.interventions).unwrap_or(Value::Null),
        targets: Value::Null,
    }
}

/// The deployment as `status --output json` shows it: every fact berth reads (ARN, status,
/// lifecycle stage, hooks, circuit breaker, alarms, bake time…), with `id` (the ARN, as
/// CodeDeploy's deployment id is shown), the release, the phase, its one-line summary and,
/// while baking, the seconds of bake time left.
pub fn deployment(f: &Facts, release: Option<&str>, now: i64) -> Value {
    let p = phase(f, now);
    let mut doc = serde_json::to_value(f).unwrap_or_else(|_| json!({}));
    doc["id"] = f.arn.clone().into();
    doc["release"] = release.map_or(Value::Null, Value::from);
    doc["summary"] = p.describe().into();
    if let Phase::Baking { until: Some(t) } = &p {
        doc["bake_seconds_left"] = (t - now).max(0).into();
    }
    doc["phase"] = serde_json::to_value(&p).unwrap_or(Value::Null);
    doc
}

/// `2027-01-15T08:00:00Z` for epoch seconds in a JSON value, else `-`.
fn at(v: &Value) -> String {
    v.as_i64()
        .and_then(|t| berth::time::format(t, 0))
        .unwrap_or_else(|| "-".into())
}

/// The text lines of a deployment JSON document (from [`deployment`]).
pub fn lines(d: &Value) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut out = vec![format!("deployment {} {}", s(&d["arn"]), s(&d["summary"]))];
    let stage = d["lifecycle_stage"]
        .as_str()
        .map(|st| format!(", stage {st}"))
        .unwrap_or_default();
    let release = d["release"]
        .as_str()
        .map(|r| format!(", release {r}"))
        .unwrap_or_default();
    out.push(format!("  status   {}{stage}{release}", s(&d["status"])));
    if let Some(left) = d["bake_seconds_left"].as_i64() {
        out.push(format!(
            "  bake     {} min left (until {}); the old revision still runs",
            (left + 59) / 60,
            at(&d["phase"]["until"])
        ));
    }
    for h in d["hooks"].as_array().into_iter().flatten() {
        let mut parts = vec![s(&h["target_type"])];
        parts.extend(h["target_arn"].as_str().map(str::to_owned));
        parts.push(s(&h["status"]));
        if h["expires_at"].is_i64() {
            parts.push(format!("expires {}", at(&h["expires_at"])));
        }
        if let Some(a) = h["timeout_action"].as_str() {
            parts.push(format!("(then {a})"));
        }
        out.push(format!("  hook     {}", parts.join(" ")));
    }
    if d["circuit_breaker"].is_object() {
        let cb = &d["circuit_breaker"];
        let counts = match cb["failures"].as_array().map(Vec::as_slice) {
            Some([n, t]) => format!(" ({n} failed task(s), threshold {t})"),
            _ => String::new(),
        };
        out.push(format!("  circuit breaker {}{counts}", s(&cb["status"])));
    }
    if d["alarms"].is_object() {
        let a = &d["alarms"];
        let fired: Vec<String> = a["triggered"]
            .as_array()
            .into_iter()
            .flatten()
            .map(&s)
            .collect();
        let fired = if fired.is_empty() {
            String::new()
        } else {
            format!(" (in ALARM: {})", fired.join(", "))
        };
        out.push(format!("  alarms   {}{fired}", s(&a["status"])));
    }
    out
}

#[cfg(test)]
mod tests;
