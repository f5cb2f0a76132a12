//! What the gate tells the pipeline and the release record (pure): the failure message of a
//! blocked release, cut to CodePipeline's limit, and the scan summary the record keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::verdict::{Finding, Judged, Observation, State, blocking, rank};
use crate::job::MAX_MESSAGE_CHARS;
use crate::registry::ScanPolicy;

/// How many blocking findings the release record keeps per image (the message names more).
pub const MAX_RECORDED_BLOCKING: usize = 20;

/// `CRITICAL CVE-2024-1111 openssl 3.0.1 in app (sha256:…)`; for an image index, the entry
/// judged: `… in app (linux/amd64 sha256:…)`.
fn line(o: &Observation, f: &Finding) -> String {
    format!(
        "{} {} in {} ({})",
        f.severity.name(),
        f.label(),
        o.container,
        o.shown_digest()
    )
}

/// The failure message of a release `found` blocks: a header, then one line per finding, most
/// severe first, as many as fit in CodePipeline's 5000 characters with `… and N more` last.
pub fn blocked(policy: &ScanPolicy, release: &str, found: &[(&Observation, &Finding)]) -> String {
    let block: Vec<&str> = policy.block.iter().map(|s| s.name()).collect();
    let n = found.len();
    let header = format!(
        "release {release} is blocked by {n} finding{} at {} (scan.block) not in scan.ignore:",
        if n == 1 { "" } else { "s" },
        block.join(", ")
    );
    let lines: Vec<String> = found.iter().map(|(o, f)| line(o, f)).collect();
    fit(header, &lines, MAX_MESSAGE_CHARS)
}

/// `header` and as many `lines` as fit in `max` characters, each on its own line; when some do
/// not fit, the last line says how many were left out.
pub fn fit(header: String, lines: &[String], max: usize) -> String {
    let more = |left: usize| format!("\n… and {left} more");
    let chars = |s: &str| s.chars().count();
    let mut out = header;
    for (i, l) in lines.iter().enumerate() {
        let rest: usize = lines[i..].iter().map(|r| 1 + chars(r)).sum();
        if chars(&out) + rest <= max {
            for r in &lines[i..] {
                out.push('\n');
                out.push_str(r);
            }
            return out;
        }
        // Not all of the rest fits: this line only if the count of the others still does.
        if chars(&out) + 1 + chars(l) + chars(&more(lines.len() - i - 1)) > max {
            out.push_str(&more(lines.len() - i));
            return out;
        }
        out.push('\n');
        out.push_str(l);
    }
    out
}

/// A blocking finding as the release record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockingFinding {
    pub name: String,
    pub severity: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One image's scan as the release record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// `<repo uri>@sha256:<digest>`: the image the release pins.
    pub image: String,
    /// For an image index (ECR cannot scan one): the entry of the task's platform whose scan
    /// this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged: Option<Judged>,
    /// ECR's last scan status (`COMPLETE`, `ACTIVE`, `FAILED`, ...).
    pub status: String,
    /// Live findings by severity.
    #[serde(default)]
    pub counts: BTreeMap<String, u32>,
    /// The blocking findings, most severe first, at most [`MAX_RECORDED_BLOCKING`].
    #[serde(default)]
    pub blocking: Vec<BlockingFinding>,
    /// How many findings blocked (the list above may be cut).
    #[serde(default)]
    pub blocking_total: usize,
}

/// The `scan` section of a release record: what the Scan action decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    /// `passed`, `blocked`, `failed` (a scan ended without findings, or did not complete in
    /// time) or `skipped` (no scan policy).
    pub outcome: String,
    #[serde(default)]
    pub job_id: Option<String>,
    /// Container → its image's scan.
    #[serde(default)]
    pub images: BTreeMap<String, ImageSummary>,
    /// The job's failure message or summary, cut to 1000 characters.
    #[serde(default)]
    pub message: Option<String>,
    pub updated_at: String,
}

impl ScanSummary {
    /// One short cell for tables: `passed`, `blocked:3`, `failed`, `skipped`.
    pub fn cell(&self) -> String {
        match self.outcome.as_str() {
            "blocked" => format!(
                "blocked:{}",
                self.images
                    .values()
                    .map(|i| i.blocking_total)
                    .sum::<usize>()
            ),
            other => other.to_owned(),
        }
    }
}

/// Summarizes each image's scan under `policy`.
pub fn summarize(policy: &ScanPolicy, images: &[Observation]) -> BTreeMap<String, ImageSummary> {
    images
        .iter()
        .map(|o| (o.container.clone(), image_summary(policy, o)))
        .collect()
}

fn image_summary(policy: &ScanPolicy, o: &Observation) -> ImageSummary {
    let (status, findings) = match &o.state {
        State::Done {
            status, findings, ..
        } => (status.clone(), findings.as_slice()),
        State::Waiting { status, .. } | State::Ended { status, .. } => (status.clone(), &[][..]),
    };
    let mut counts = BTreeMap::new();
    let mut live: Vec<&Finding> = findings.iter().filter(|f| f.is_live()).collect();
    live.sort_by_key(|f| std::cmp::Reverse(rank(f.severity)));
    for f in &live {
        *counts.entry(f.severity.name().to_owned()).or_insert(0) += 1;
    }
    let blocked = blocking(policy, findings);
    ImageSummary {
        image: o.image.clone(),
        judged: o.judged.clone(),
        status,
        counts,
        blocking_total: blocked.len(),
        blocking: blocked
            .iter()
            .take(MAX_RECORDED_BLOCKING)
            .map(|f| BlockingFinding {
                name: f.name.clone(),
                severity: f.severity.name().to_owned(),
                package: f.package.clone(),
                version: f.version.clone(),
            })
            .collect(),
    }
}
