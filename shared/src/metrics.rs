//! Delivery metrics in CloudWatch's Embedded Metric Format: one JSON line on standard output.
//! "Lambda automatically sends everything that your function writes to standard output (STDOUT)
//! to a CloudWatch Logs log group, and CloudWatch Logs extracts metrics from any log events that
//! follow the embedded metric format specification" (CloudWatch user guide, Using the embedded
//! metric format with Lambda). No `cloudwatch:PutMetricData` call, no extra permission.
//!
//! Namespace `berth`, dimension `Service`:
//!
//! | metric | unit | emitted by | when |
//! |---|---|---|---|
//! | `ReleasesStarted` | Count | on-manifest | a release's pipeline execution started |
//! | `ReleasesSucceeded` | Count | on-pipeline-event | a release's own execution succeeded |
//! | `ReleasesFailed` | Count | on-pipeline-event | a release's own execution failed or was stopped |
//! | `Rollbacks` | Count | on-pipeline-event | a rollback execution (redeploy) finished, or a release ended rolled back by a traffic switch or a failed verification |
//! | `LeadTimeSeconds` | Seconds | on-pipeline-event | success: from the release's manifest (for a push, written seconds after it) to the end of its execution |
//! | `MigrationSeconds` | Seconds | on-pipeline-event | the migration that ran in the finished execution |
//! | `PostMigrationSeconds` | Seconds | on-pipeline-event | the post migration (contract step) that ran in the finished execution |
//! | `DeploymentSeconds` | Seconds | on-pipeline-event | the finished execution's duration without its migrations |

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use crate::record::{Action, ReleaseRecord, ReleaseStatus, Verdict, parse_timestamp};

pub const NAMESPACE: &str = "berth";

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub seconds: bool,
    pub value: f64,
}

impl Metric {
    pub fn count(name: &'static str) -> Self {
        Self {
            name,
            seconds: false,
            value: 1.0,
        }
    }

    pub fn seconds(name: &'static str, value: f64) -> Self {
        Self {
            name,
            seconds: true,
            value: value.max(0.0),
        }
    }
}

/// The EMF document of `metrics` for `service` at `at`, with `level` as its log level.
///
/// Lambda filters a function's JSON logs by level, and "If the "level" value field is invalid
/// or missing, Lambda will assign the log output the level INFO" (Lambda developer guide,
/// Log-level filtering): with `ApplicationLogLevel` WARN a metrics line without a level would
/// be dropped. It carries the configured level, so it always passes. EMF allows other root
/// members ("The root node MAY contain any other members", EMF specification).
pub fn document(service: &str, at: SystemTime, metrics: &[Metric], level: &str) -> Value {
    let timestamp = at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let declared: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": if m.seconds { "Seconds" } else { "Count" }}))
        .collect();
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({"Timestamp": timestamp, "CloudWatchMetrics": [{
            "Namespace": NAMESPACE, "Dimensions": [["Service"]], "Metrics": declared}]}),
    );
    doc.insert("level".into(), Value::String(level.to_owned()));
    doc.insert("Service".into(), Value::String(service.to_owned()));
    for m in metrics {
        doc.insert(m.name.into(), json!(m.value));
    }
    Value::Object(doc)
}

/// Writes the document as one line on standard output (nothing when there are no metrics).
pub fn emit(service: &str, at: SystemTime, metrics: &[Metric]) {
    if !metrics.is_empty() {
        let configured = crate::settings::lambda_log_level();
        let level = log_level(configured.as_deref());
        println!("{}", document(service, at, metrics, level));
    }
}

/// The level metrics lines carry: the function's configured application log level (Lambda
/// sets `AWS_LAMBDA_LOG_LEVEL`), else INFO.
pub fn log_level(configured: Option<&str>) -> &'static str {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    let configured = configured.unwrap_or_default().trim().to_ascii_uppercase();
    LEVELS
        .into_iter()
        .find(|l| *l == configured)
        .unwrap_or("INFO")
}

/// The metrics of execution `execution_id` ending `status` at `at` (pure). `own`: the release's
/// own execution (else a rollback execution of it); `seconds`: the execution's duration.
pub fn finished(
    record: &ReleaseRecord,
    execution_id: &str,
    own: bool,
    status: ReleaseStatus,
    seconds: Option<u64>,
    at: SystemTime,
) -> Vec<Metric> {
    let mut out = Vec::new();
    if !status.is_final() || status == ReleaseStatus::Superseded {
        return out;
    }
    let ran = |m: Option<&crate::record::MigrationRecord>| {
        m.filter(|m| {
            own && m
                .pipeline_execution_id
                .as_deref()
                .is_none_or(|e| e == execution_id)
        })
        .and_then(|m| m.seconds)
    };
    let migration = ran(record.migration.as_ref());
    let post = ran(record.post_migration.as_ref());
    if let Some(m) = migration {
        out.push(Metric::seconds("MigrationSeconds", m as f64));
    }
    if let Some(m) = post {
        out.push(Metric::seconds("PostMigrationSeconds", m as f64));
    }
    if let Some(s) = seconds {
        let migrating = migration.unwrap_or(0) + post.unwrap_or(0);
        out.push(Metric::seconds(
            "DeploymentSeconds",
            s.saturating_sub(migrating) as f64,
        ));
    }
    if !own {
        out.push(Metric::count("Rollbacks"));
        return out;
    }
    if status == ReleaseStatus::Succeeded {
        out.push(Metric::count("ReleasesSucceeded"));
        let end = crate::record::epoch_seconds(at) as i64;
        if let Some(created) = parse_timestamp(&record.created_at) {
            out.push(Metric::seconds("LeadTimeSeconds", (end - created) as f64));
        }
    } else {
        out.push(Metric::count("ReleasesFailed"));
        if rolled_back(record, execution_id) {
            out.push(Metric::count("Rollbacks"));
        }
    }
    out
}

/// Whether the execution's deployment went back to blue: stopped by a traffic-switch rollback,
/// or failed by the `verify` hook (CodeDeploy then rolls back).
fn rolled_back(record: &ReleaseRecord, execution_id: &str) -> bool {
    let of = |id: &Option<String>| id.as_deref() == Some(execution_id);
    record
        .interventions
        .iter()
        .any(|i| of(&i.pipeline_execution_id) && i.action == Action::TrafficRollback)
        || record
            .verifications
            .iter()
            .any(|v| of(&v.pipeline_execution_id) && v.verdict == Verdict::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Intervention, MigrationRecord};
    use berth_core::fixtures::record;
    use std::time::{Duration, UNIX_EPOCH};

    fn names(metrics: &[Metric]) -> Vec<(&str, f64)> {
        metrics.iter().map(|m| (m.name, m.value)).collect()
    }

    #[test]
    fn a_document_follows_the_embedded_metric_format() {
        let at = UNIX_EPOCH + Duration::from_millis(1_795_000_000_123);
        let doc = document(
            "web",
            at,
            &[
                Metric::count("ReleasesSucceeded"),
                Metric::seconds("LeadTimeSeconds", 61.0),
            ],
            "WARN",
        );
        assert_eq!(
            doc,
            json!({"_aws": {"Timestamp": 1_795_000_000_123u64, "CloudWatchMetrics": [{"Namespace": "berth",
                "Dimensions": [["Service"]], "Metrics": [{"Name": "ReleasesSucceeded", "Unit": "Count"},
                {"Name": "LeadTimeSeconds", "Unit": "Seconds"}]}]},
                "level": "WARN", "Service": "web", "ReleasesSucceeded": 1.0, "LeadTimeSeconds": 61.0})
        );
    }

    #[test]
    fn metrics_lines_carry_the_configured_log_level_so_lambda_keeps_them() {
        assert_eq!(log_level(Some("warn")), "WARN");
        assert_eq!(log_level(Some("FATAL")), "FATAL");
        assert_eq!(log_level(None), "INFO");
        assert_eq!(log_level(Some("verbose")), "INFO");
    }

    #[test]
    fn finished_executions_give_their_metrics() {
        let mut r = record("v1", ReleaseStatus::Succeeded);
        r.pipeline_execution_id = Some("e-1".into());
        r.migration = Some(MigrationRecord {
            outcome: "succeeded".into(),
            job_id: None,
            pipeline_execution_id: Some("e-1".into()),
            first_invoked_epoch: None,
            task_definition_arn: None,
            task_arn: None,
            seconds: Some(40),
            message: None,
            updated_at: "t".into(),
        });
        // created 2026-11-01T00:00:00Z; finished 300 s later.
        let at = UNIX_EPOCH + Duration::from_secs(1_793_491_200 + 300);
        let ok = finished(&r, "e-1", true, ReleaseStatus::Succeeded, Some(250), at);
        assert_eq!(
            names(&ok),
            [
                ("MigrationSeconds", 40.0),
                ("DeploymentSeconds", 210.0),
                ("ReleasesSucceeded", 1.0),
                ("LeadTimeSeconds", 300.0)
            ]
        );

        r.interventions.push(Intervention {
            action: Action::TrafficRollback,
            deployment_id: Some("d-1".into()),
            pipeline_execution_id: Some("e-1".into()),
            by: "arn".into(),
            at: "t".into(),
        });
        let failed = finished(&r, "e-1", true, ReleaseStatus::Failed, None, at);
        assert_eq!(
            names(&failed),
            [
                ("MigrationSeconds", 40.0),
                ("ReleasesFailed", 1.0),
                ("Rollbacks", 1.0)
            ]
        );

        let redeploy = finished(&r, "e-2", false, ReleaseStatus::Succeeded, Some(90), at);
        assert_eq!(
            names(&redeploy),
            [("DeploymentSeconds", 90.0), ("Rollbacks", 1.0)]
        );
        assert!(finished(&r, "e-1", true, ReleaseStatus::InProgress, None, at).is_empty());
        assert!(finished(&r, "e-1", true, ReleaseStatus::Superseded, None, at).is_empty());
    }

    /// Both migrations of one execution: each its own duration, the deployment without both.
    #[test]
    fn a_release_with_both_migrations_gives_each_duration() {
        let mut r = record("v1", ReleaseStatus::Succeeded);
        r.pipeline_execution_id = Some("e-1".into());
        let ran = |seconds: u64| MigrationRecord {
            outcome: "succeeded".into(),
            job_id: None,
            pipeline_execution_id: Some("e-1".into()),
            first_invoked_epoch: None,
            task_definition_arn: None,
            task_arn: None,
            seconds: Some(seconds),
            message: None,
            updated_at: "t".into(),
        };
        r.migration = Some(ran(40));
        r.post_migration = Some(ran(25));
        let at = UNIX_EPOCH + Duration::from_secs(1_793_491_200 + 300);
        let ok = finished(&r, "e-1", true, ReleaseStatus::Succeeded, Some(250), at);
        assert_eq!(
            names(&ok)[..3],
            [
                ("MigrationSeconds", 40.0),
                ("PostMigrationSeconds", 25.0),
                ("DeploymentSeconds", 185.0),
            ]
        );
    }
}
