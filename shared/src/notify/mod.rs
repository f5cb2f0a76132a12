//! Optional notification of finished releases: a Slack incoming webhook (its URL read from an
//! SSM SecureString, `BERTH_SLACK_WEBHOOK_PARAMETER`, or given as `BERTH_SLACK_WEBHOOK_URL`) and
//! an SNS topic (`BERTH_SNS_TOPIC_ARN`, one JSON message each). Best effort: a failed
//! notification is logged and never undoes or retries the status already recorded.
//!
//! - `channels`: the webhook and the topic, and delivering to them.

mod channels;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::record::{Action, Intervention, ReleaseStatus, Verification};

pub use channels::{Delivery, Notifier};

/// Schema of the JSON message of a finished release (SNS).
pub const RELEASE_MESSAGE_SCHEMA: &str = "berth/release-finished/v1";

/// One finished release, as a notification states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished<'a> {
    pub service: &'a str,
    pub release: &'a str,
    pub status: ReleaseStatus,
    pub rollback: bool,
    pub images: &'a BTreeMap<String, String>,
    pub migration: Option<&'a str>,
    /// The post migration's (contract step's) outcome, when the release has one.
    pub post_migration: Option<&'a str>,
    pub seconds: Option<u64>,
    pub pipeline_execution_id: &'a str,
    /// The `verify` hook's verdict on this execution's deployment.
    pub verification: Option<&'a Verification>,
    /// Promotes, finishes and traffic rollbacks of this execution's deployment.
    pub interventions: Vec<&'a Intervention>,
    /// Who asked for a redeploy rollback (this execution), when known.
    pub requested_by: Option<&'a str>,
}

impl<'a> Finished<'a> {
    /// The guard facts of `execution_id` in `record`.
    pub fn guards_of(
        record: &'a crate::record::ReleaseRecord,
        execution_id: &str,
    ) -> (
        Option<&'a Verification>,
        Vec<&'a Intervention>,
        Option<&'a str>,
    ) {
        let of = |id: &Option<String>| id.as_deref() == Some(execution_id);
        let verification = record
            .verifications
            .iter()
            .rev()
            .find(|v| of(&v.pipeline_execution_id));
        let interventions = record
            .interventions
            .iter()
            .filter(|i| of(&i.pipeline_execution_id))
            .collect();
        let requested_by = record
            .redeployments
            .iter()
            .find(|d| d.pipeline_execution_id == execution_id)
            .and_then(|d| d.by.as_deref());
        (verification, interventions, requested_by)
    }
}

/// The JSON message of a finished release (SNS): the same facts as [`message`], for machines.
pub fn event(f: &Finished<'_>) -> Value {
    json!({
        "schema": RELEASE_MESSAGE_SCHEMA,
        "service": f.service,
        "release": f.release,
        "status": f.status,
        "rollback": f.rollback,
        "duration_seconds": f.seconds,
        "migration": f.migration,
        "post_migration": f.post_migration,
        "pipeline_execution_id": f.pipeline_execution_id,
        "images": f.images,
        "verification": f.verification.map(|v| json!({
            "deployment_id": v.deployment_id, "verdict": v.verdict, "message": v.message})),
        "interventions": f.interventions,
        "requested_by": f.requested_by,
    })
}

/// The message text: one line of outcome, then the digests.
pub fn message(f: &Finished<'_>) -> String {
    let (icon, word) = match f.status {
        ReleaseStatus::Succeeded => (":white_check_mark:", "succeeded"),
        ReleaseStatus::Failed => (":x:", "failed"),
        ReleaseStatus::Stopped => (":octagonal_sign:", "was stopped"),
        ReleaseStatus::Superseded => (":fast_forward:", "was superseded"),
        ReleaseStatus::InProgress | ReleaseStatus::Rendering => (":hourglass:", "is in progress"),
    };
    let what = if f.rollback {
        "rollback (redeploy) to "
    } else {
        "release "
    };
    let mut text = format!("{icon} {} {what}{} {word}", f.service, f.release);
    if let Some(s) = f.seconds {
        text.push_str(&format!(" in {}m{:02}s", s / 60, s % 60));
    }
    let post = f
        .post_migration
        .map(|p| format!("; post migration: {p}"))
        .unwrap_or_default();
    text.push_str(&format!(
        " (migration: {}{post}; execution {})",
        f.migration.unwrap_or("none"),
        f.pipeline_execution_id
    ));
    if matches!(f.post_migration, Some("failed" | "stopped")) {
        text.push_str(&format!(
            "
code live, contract step not: the post migration failed; the next release is refused until `berth post-migration retry {0} {1}` or `berth post-migration skip {0} {1}`",
            f.service, f.release
        ));
    }
    if let Some(by) = f.requested_by {
        text.push_str(&format!("\nrollback requested by {by}"));
    }
    if let Some(v) = f.verification {
        text.push_str(&format!("\nverify: {} ({})", v.verdict.name(), v.message));
    }
    for i in &f.interventions {
        let deployment = i.deployment_id.as_deref().unwrap_or("-");
        let line = match i.action {
            Action::Promote => format!("promoted by {} (deployment {deployment})", i.by),
            Action::Finish => format!("blue retired early by {} (deployment {deployment})", i.by),
            Action::TrafficRollback => format!(
                "rolled back by traffic switch by {} (deployment {deployment} stopped)",
                i.by
            ),
        };
        text.push('\n');
        text.push_str(&line);
    }
    for (container, image) in f.images {
        text.push_str(&format!("\n• {container}: `{image}`"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_release_result_duration_migration_and_digests() {
        let images = BTreeMap::from([("app".to_owned(), "r/app@sha256:abc".to_owned())]);
        let f = Finished {
            service: "web",
            release: "v1.4.2",
            status: ReleaseStatus::Succeeded,
            rollback: false,
            images: &images,
            migration: Some("succeeded"),
            post_migration: None,
            seconds: Some(125),
            pipeline_execution_id: "e-1",
            verification: None,
            interventions: Vec::new(),
            requested_by: None,
        };
        assert_eq!(
            message(&f),
            ":white_check_mark: web release v1.4.2 succeeded in 2m05s (migration: succeeded; execution e-1)\n• app: `r/app@sha256:abc`"
        );
        let failed = Finished {
            status: ReleaseStatus::Failed,
            rollback: true,
            seconds: None,
            migration: None,
            ..f.clone()
        };
        assert!(
            message(&failed)
                .starts_with(":x: web rollback (redeploy) to v1.4.2 failed (migration: none;")
        );
        let contracted = Finished {
            post_migration: Some("succeeded"),
            ..f.clone()
        };
        assert!(
            message(&contracted)
                .contains("(migration: succeeded; post migration: succeeded; execution e-1)")
        );
        let contract_failed = Finished {
            post_migration: Some("failed"),
            ..f
        };
        let text = message(&contract_failed);
        assert!(
            text.contains("post migration: failed")
                && text.contains("code live, contract step not")
                && text.contains("`berth post-migration retry web v1.4.2`"),
            "{text}"
        );
        assert_eq!(event(&contract_failed)["post_migration"], "failed");
    }

    #[test]
    fn messages_name_the_verdict_who_promoted_and_the_rollback_kind() {
        let images = BTreeMap::new();
        let verification = Verification {
            deployment_id: "d-1".into(),
            pipeline_execution_id: Some("e-1".into()),
            verdict: crate::record::Verdict::Failed,
            message: "1 of 1 check(s) failed".into(),
            checks: Vec::new(),
            started_at: "t".into(),
            finished_at: "t".into(),
        };
        let promote = Intervention {
            action: Action::Promote,
            deployment_id: Some("d-1".into()),
            pipeline_execution_id: Some("e-1".into()),
            by: "arn:aws:iam::1:user/ana".into(),
            at: "t".into(),
        };
        let stop = Intervention {
            action: Action::TrafficRollback,
            ..promote.clone()
        };
        let f = Finished {
            service: "web",
            release: "v2",
            status: ReleaseStatus::Failed,
            rollback: false,
            images: &images,
            migration: None,
            post_migration: None,
            seconds: None,
            pipeline_execution_id: "e-1",
            verification: Some(&verification),
            interventions: vec![&promote, &stop],
            requested_by: None,
        };
        let text = message(&f);
        assert!(
            text.contains("\nverify: failed (1 of 1 check(s) failed)"),
            "{text}"
        );
        assert!(
            text.contains("\npromoted by arn:aws:iam::1:user/ana (deployment d-1)"),
            "{text}"
        );
        assert!(text.contains("\nrolled back by traffic switch by arn:aws:iam::1:user/ana (deployment d-1 stopped)"), "{text}");
        let redeploy = Finished {
            rollback: true,
            requested_by: Some("arn:aws:iam::1:user/bo"),
            verification: None,
            interventions: Vec::new(),
            ..f
        };
        assert!(message(&redeploy).contains("rollback (redeploy) to v2 failed"));
        assert!(message(&redeploy).contains("\nrollback requested by arn:aws:iam::1:user/bo"));
    }
}
