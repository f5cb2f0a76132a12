//! The registry sections that guard a deployment: where CodeDeploy deploys the service
//! (`deployment`), what the `verify` hook checks on the test listener before production traffic
//! (`verify`), and which image-scan findings stop a release (`scan`).

use serde::{Deserialize, Serialize};

use super::ServiceConfig;

/// The CodeDeploy application and deployment group of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentTarget {
    pub application: String,
    pub group: String,
}

/// Checks against the test listener, run by the `AfterAllowTestTraffic` hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    /// `http(s)://host[:port]` of the test listener; each check's path is appended.
    pub base_url: String,
    #[serde(default = "default_checks")]
    pub checks: Vec<VerifyCheck>,
    /// Tries per check before it fails (a check passes at its first good answer).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// Seconds between two tries of a check.
    #[serde(default = "default_interval")]
    pub interval_seconds: u64,
    /// Seconds one request may take before it counts as failed.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyCheck {
    pub path: String,
    /// Expected HTTP status.
    #[serde(default = "default_status")]
    pub status: u16,
    /// A substring the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// Slowest acceptable answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_latency_ms: Option<u64>,
}

fn default_checks() -> Vec<VerifyCheck> {
    vec![VerifyCheck {
        path: "/".into(),
        status: 200,
        contains: None,
        max_latency_ms: None,
    }]
}

fn default_attempts() -> u32 {
    3
}

fn default_interval() -> u64 {
    10
}

fn default_timeout() -> u64 {
    5
}

fn default_status() -> u16 {
    200
}

/// The most time every check's every attempt may take together: the `verify` function must
/// answer CodeDeploy well inside its own timeout (300 s) and the hook's one-hour limit.
pub const MAX_VERIFY_SECONDS: u64 = 240;

impl VerifyConfig {
    /// The longest the checks can take: every attempt of every check timing out, with the
    /// pauses between attempts.
    pub fn worst_case_seconds(&self) -> u64 {
        let per_check = u64::from(self.attempts) * self.timeout_seconds
            + u64::from(self.attempts.saturating_sub(1)) * self.interval_seconds;
        per_check * self.checks.len() as u64
    }
}

/// Severities ECR reports: basic scanning's (`INFORMATIONAL | LOW | MEDIUM | HIGH | CRITICAL |
/// UNDEFINED`) and enhanced scanning's `UNTRIAGED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
    Undefined,
    Untriaged,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Severity> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    pub fn name(self) -> &'static str {
        match self {
            Severity::Informational => "INFORMATIONAL",
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
            Severity::Undefined => "UNDEFINED",
            Severity::Untriaged => "UNTRIAGED",
        }
    }
}

/// Which findings stop a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanPolicy {
    /// Severities that block.
    pub block: Vec<Severity>,
    /// How long the gate waits for ECR to finish scanning an image.
    #[serde(default = "default_scan_wait")]
    pub wait_seconds: u64,
    /// Finding names (CVE ids) that never block.
    #[serde(default)]
    pub ignore: Vec<String>,
}

fn default_scan_wait() -> u64 {
    900
}

/// The bounds of `scan.wait_seconds`.
pub const SCAN_WAIT_SECONDS: std::ops::RangeInclusive<u64> = 60..=3600;

/// Checks the guard sections of an entry.
pub(super) fn check(config: &ServiceConfig, err: &mut impl FnMut(&str, String)) {
    if let Some(d) = &config.deployment {
        for (field, value) in [
            ("deployment.application", &d.application),
            ("deployment.group", &d.group),
        ] {
            if value.trim().is_empty() {
                err(field, "must not be empty".into());
            }
        }
    }
    if let Some(v) = &config.verify {
        check_verify(v, err);
    }
    check_alarms(&config.target_group_alarms, err);
    if let Some(s) = &config.scan {
        if s.block.is_empty() {
            err(
                "scan.block",
                "must name at least one severity (leave scan out for no gate)".into(),
            );
        }
        if !SCAN_WAIT_SECONDS.contains(&s.wait_seconds) {
            err(
                "scan.wait_seconds",
                format!(
                    "must be {}..={}",
                    SCAN_WAIT_SECONDS.start(),
                    SCAN_WAIT_SECONDS.end()
                ),
            );
        }
        if s.ignore.iter().any(|i| i.trim().is_empty()) {
            err("scan.ignore", "must not hold empty names".into());
        }
    }
}

/// The most alarm names `target_group_alarms` may hold (the stacks write four).
pub const MAX_TARGET_GROUP_ALARMS: usize = 20;

/// `target_group_alarms`: CloudWatch alarm names ("Minimum length of 1. Maximum length of 255",
/// PutMetricAlarm `AlarmName`), each once, at most [`MAX_TARGET_GROUP_ALARMS`].
fn check_alarms(names: &[String], err: &mut impl FnMut(&str, String)) {
    if names.len() > MAX_TARGET_GROUP_ALARMS {
        err(
            "target_group_alarms",
            format!("must hold at most {MAX_TARGET_GROUP_ALARMS} names"),
        );
    }
    for (i, name) in names.iter().enumerate() {
        if name.trim().is_empty() || name.chars().count() > 255 {
            err(
                &format!("target_group_alarms[{i}]"),
                format!("{name:?} must be an alarm name of 1 to 255 characters"),
            );
        } else if names[..i].contains(name) {
            err(
                &format!("target_group_alarms[{i}]"),
                format!("{name:?} is named twice"),
            );
        }
    }
}

fn check_verify(v: &VerifyConfig, err: &mut impl FnMut(&str, String)) {
    let scheme_ok = v.base_url.starts_with("http://") || v.base_url.starts_with("https://");
    if !scheme_ok || v.base_url.parse::<http::Uri>().is_err() {
        err(
            "verify.base_url",
            format!("{:?} must be an http:// or https:// URL", v.base_url),
        );
    }
    if v.checks.is_empty() {
        err(
            "verify.checks",
            "must hold at least one check (leave verify out for none)".into(),
        );
    }
    for (i, c) in v.checks.iter().enumerate() {
        if !c.path.starts_with('/') {
            err(
                &format!("verify.checks[{i}].path"),
                format!("{:?} must start with /", c.path),
            );
        }
        if !(100..=599).contains(&c.status) {
            err(
                &format!("verify.checks[{i}].status"),
                "must be an HTTP status (100-599)".into(),
            );
        }
    }
    if !(1..=10).contains(&v.attempts) {
        err("verify.attempts", "must be 1..=10".into());
    }
    if v.interval_seconds > 60 {
        err("verify.interval_seconds", "must be 0..=60".into());
    }
    if !(1..=30).contains(&v.timeout_seconds) {
        err("verify.timeout_seconds", "must be 1..=30".into());
    }
    let worst = v.worst_case_seconds();
    if worst > MAX_VERIFY_SECONDS {
        err(
            "verify",
            format!(
                "its checks can take {worst} s (attempts × timeout + pauses, per check); at most {MAX_VERIFY_SECONDS} s fit before the hook must answer"
            ),
        );
    }
}
