//! `berth status` of a task target: each schedule and rule target, the revision it runs now
//! (read live: GetSchedule, ListTargetsByRule) and, where a release record deployed that
//! revision, which release it is.

use berth::aws::Clients;
use berth::record::ReleaseRecord;
use berth::registry::ServiceConfig;
use berth::task_targets::{self, TargetClients};
use serde_json::{Value, json};

/// One row per target: `{"target", "task_definition_arn", "release"}`; a register-only target
/// has none. Unreadable targets give one row with `error`.
pub async fn targets(clients: &Clients, config: &ServiceConfig, known: &[&ReleaseRecord]) -> Value {
    let Some(target) = &config.task_target else {
        return Value::Null;
    };
    let c = TargetClients::new(&clients.config);
    let found = match task_targets::read(&c, target).await {
        Ok(Ok(found)) => found,
        Ok(Err(why)) => return json!([{ "error": why }]),
        Err(e) => return json!([{ "error": e.to_string() }]),
    };
    found
        .iter()
        .map(|f| {
            let arn = f.task_definition();
            json!({ "target": f.name, "task_definition_arn": arn, "release": arn.and_then(|a| release_of(known, a)) })
        })
        .collect()
}

/// The release whose Deploy job (or a rollback execution of it) made `arn` what runs.
fn release_of(known: &[&ReleaseRecord], arn: &str) -> Option<String> {
    known
        .iter()
        .find(|r| {
            let own = r.deployment.iter();
            let again = r.redeployments.iter().filter_map(|d| d.deployment.as_ref());
            own.chain(again)
                .any(|d| d.task_definition_arn.as_deref() == Some(arn))
        })
        .map(|r| r.release.clone())
}

/// The text lines of `targets`.
pub fn lines(targets: &Value) -> Vec<String> {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let rows = targets.as_array().cloned().unwrap_or_default();
    if targets.is_array() && rows.is_empty() {
        return vec![
            "targets    none (register only: the family's newest revision is the release)".into(),
        ];
    }
    rows.iter()
        .map(|t| match t["error"].as_str() {
            Some(e) => format!("targets    unreadable: {e}"),
            None => format!(
                "target     {} runs {} ({})",
                s(&t["target"]),
                s(&t["task_definition_arn"]),
                t["release"]
                    .as_str()
                    .map_or("release unknown".into(), |r| format!("release {r}"))
            ),
        })
        .collect()
}
