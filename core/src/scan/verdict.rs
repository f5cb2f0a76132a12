//! The scan gate's decisions (pure): what an ECR scan status means, which findings block, and
//! the verdict over every image of a release.

use serde::{Deserialize, Serialize};

use crate::registry::{ScanPolicy, Severity};

/// Findings per page: "This value can be between 1 and 1000. If this parameter is not used,
/// then DescribeImageScanFindings returns up to 100 results" (ECR API reference).
pub const PAGE_SIZE: i32 = 1000;
/// Pages read per image: a bound, so one image cannot make an invocation run long.
pub const MAX_PAGES: usize = 10;
/// The most findings read per image; a scan with more fails the gate rather than pass unread.
pub const MAX_FINDINGS: usize = PAGE_SIZE as usize * MAX_PAGES;

/// What ECR says about one image's scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// ECR has no scan of the image. ScanNotFoundException: "The specified image scan could not
    /// be found. Ensure that image scanning is enabled on the repository and try again."
    NoScan(String),
    /// The image is not in its repository (ImageNotFoundException: "The image requested does
    /// not exist in the specified repository.").
    ImageGone(String),
    /// A scan with its status; findings only once the status is `COMPLETE` or `ACTIVE`.
    Scan {
        status: String,
        description: Option<String>,
        findings: Vec<Finding>,
        /// More findings than [`MAX_FINDINGS`].
        more: bool,
    },
}

/// One finding as the gate judges it, from basic (`findings`) or enhanced (`enhancedFindings`)
/// scanning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The CVE id (basic: `name`; enhanced: `packageVulnerabilityDetails.vulnerabilityId`, else
    /// `title`): what `scan.ignore` names.
    pub name: String,
    pub severity: Severity,
    pub package: Option<String>,
    pub version: Option<String>,
    /// Enhanced findings carry Amazon Inspector's status (`ACTIVE`, `SUPPRESSED`, `CLOSED`);
    /// basic findings none. Only live findings block.
    pub status: Option<String>,
}

impl Finding {
    /// A finding that still applies: basic findings always, enhanced ones while `ACTIVE`.
    pub fn is_live(&self) -> bool {
        self.status.as_deref().is_none_or(|s| s == "ACTIVE")
    }

    /// `CVE-2024-1111 openssl 3.0.1`, as the failure message names it.
    pub fn label(&self) -> String {
        let package = match (&self.package, &self.version) {
            (Some(p), Some(v)) => format!(" {p} {v}"),
            (Some(p), None) => format!(" {p}"),
            _ => String::new(),
        };
        format!("{}{package}", self.name)
    }
}

/// Most severe first: CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, then what has no rating.
pub fn rank(s: Severity) -> u8 {
    match s {
        Severity::Critical => 6,
        Severity::High => 5,
        Severity::Medium => 4,
        Severity::Low => 3,
        Severity::Informational => 2,
        Severity::Undefined => 1,
        Severity::Untriaged => 0,
    }
}

/// What a scan status (`imageScanStatus.status`) means for the gate. The ECR API reference,
/// ImageScanStatus: "Valid Values: IN_PROGRESS | COMPLETE | FAILED | UNSUPPORTED_IMAGE | ACTIVE |
/// PENDING | SCAN_ELIGIBILITY_EXPIRED | FINDINGS_UNAVAILABLE | LIMIT_EXCEEDED | IMAGE_ARCHIVED".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Findings are there to judge: `COMPLETE` (basic) or `ACTIVE` (enhanced, continuously
    /// scanned).
    Done,
    /// Still scanning: `IN_PROGRESS` (basic) or `PENDING` (enhanced, first scan to come).
    Waiting,
    /// Ended without findings berth could judge: everything else, including a status newer
    /// than this code (a gate lets nothing through it does not understand).
    Ended,
}

pub fn classify(status: &str) -> Class {
    match status {
        "COMPLETE" | "ACTIVE" => Class::Done,
        "IN_PROGRESS" | "PENDING" => Class::Waiting,
        _ => Class::Ended,
    }
}

/// What ECR's answer means for one image (a missing scan is waited for: the gate starts one).
pub fn state(observed: Observed) -> State {
    match observed {
        Observed::NoScan(m) => State::Waiting {
            status: "NO_SCAN".into(),
            description: Some(m),
        },
        Observed::ImageGone(m) => State::Ended {
            status: "IMAGE_NOT_FOUND".into(),
            description: Some(m),
        },
        Observed::Scan {
            status,
            description,
            findings,
            more,
        } => match classify(&status) {
            Class::Done => State::Done {
                status,
                findings,
                more,
            },
            Class::Waiting => State::Waiting {
                status,
                description,
            },
            Class::Ended => State::Ended {
                status,
                description,
            },
        },
    }
}

/// Where one image's scan stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Not complete yet (or not readable right now); `status` is the last one seen.
    Waiting {
        status: String,
        description: Option<String>,
    },
    /// Complete: its findings. `more`: ECR had further pages than berth reads.
    Done {
        status: String,
        findings: Vec<Finding>,
        more: bool,
    },
    /// Ended without findings to judge (FAILED, UNSUPPORTED_IMAGE, ...), or unreadable.
    Ended {
        status: String,
        description: Option<String>,
    },
}

/// The image of an image index the gate judged: the one the task's platform runs (ECR cannot
/// scan an index itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Judged {
    /// `<repo uri>@sha256:<digest>` of the index's entry.
    pub image: String,
    /// Its platform: `linux/amd64`, `linux/arm64/v8`, ...
    pub platform: String,
}

/// One pinned image of the release and its scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub container: String,
    /// `<repo uri>@sha256:<digest>`: what the task definition pins.
    pub image: String,
    /// For an image index: the entry whose scan this is.
    pub judged: Option<Judged>,
    pub state: State,
}

impl Observation {
    /// `sha256:<digest>` of the image scanned: the pinned one, or the index's entry.
    pub fn digest(&self) -> &str {
        let image = self.judged.as_ref().map_or(&self.image, |j| &j.image);
        image.split_once('@').map_or(image.as_str(), |(_, d)| d)
    }

    /// The image scanned, as messages name it: `<repo uri>@sha256:…`, or for an index
    /// `<repo uri>@sha256:<entry> (linux/amd64 of index sha256:<index>)`.
    pub fn scanned(&self) -> String {
        match &self.judged {
            None => self.image.clone(),
            Some(j) => {
                let index = self.image.split_once('@').map_or("", |(_, d)| d);
                format!("{} ({} of index {index})", j.image, j.platform)
            }
        }
    }

    /// The digest a finding line names: `sha256:…`, or `linux/amd64 sha256:…` for an index's
    /// entry.
    pub fn shown_digest(&self) -> String {
        match &self.judged {
            None => self.digest().to_owned(),
            Some(j) => format!("{} {}", j.platform, self.digest()),
        }
    }
}

/// The findings of `findings` that stop a release under `policy`, most severe first.
pub fn blocking<'a>(policy: &ScanPolicy, findings: &'a [Finding]) -> Vec<&'a Finding> {
    let mut out: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.is_live())
        .filter(|f| policy.block.contains(&f.severity))
        .filter(|f| !policy.ignore.iter().any(|i| i == &f.name))
        .collect();
    out.sort_by(|a, b| {
        rank(b.severity)
            .cmp(&rank(a.severity))
            .then_with(|| a.name.cmp(&b.name))
    });
    out
}

/// Findings at a blocked severity that `scan.ignore` let through.
pub fn ignored(policy: &ScanPolicy, findings: &[Finding]) -> usize {
    findings
        .iter()
        .filter(|f| f.is_live() && policy.block.contains(&f.severity))
        .filter(|f| policy.ignore.iter().any(|i| i == &f.name))
        .count()
}

/// The gate's verdict over every image of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some scans are not complete and there is time left: ask again.
    Wait { pending: Vec<String> },
    /// Every scan is complete and nothing blocks.
    Pass { summary: String },
    /// Findings at blocked severities (the message lists them).
    Blocked { message: String, count: usize },
    /// A scan ended without findings to judge, or did not complete in time.
    Failed { message: String },
}

/// Decides over `images` at `now_epoch`, the gate having started at `started_epoch`. A scan
/// that ended without findings, and any blocking finding, fail at once (waiting for the other
/// images would not change the outcome); pending scans are waited for until `wait_seconds`.
pub fn decide(
    policy: &ScanPolicy,
    release: &str,
    images: &[Observation],
    started_epoch: u64,
    now_epoch: u64,
) -> Verdict {
    let ended = ended(images);
    if !ended.is_empty() {
        return Verdict::Failed {
            message: ended.join("\n"),
        };
    }
    let found = blocked_findings(policy, images);
    if !found.is_empty() {
        return Verdict::Blocked {
            count: found.len(),
            message: super::message::blocked(policy, release, &found),
        };
    }
    let unread = unread(images);
    if !unread.is_empty() {
        return Verdict::Failed {
            message: unread.join("\n"),
        };
    }
    let waiting: Vec<&Observation> = images
        .iter()
        .filter(|o| matches!(o.state, State::Waiting { .. }))
        .collect();
    if waiting.is_empty() {
        return Verdict::Pass {
            summary: pass_summary(policy, images),
        };
    }
    if now_epoch < started_epoch.saturating_add(policy.wait_seconds) {
        return Verdict::Wait {
            pending: waiting.iter().map(|o| o.container.clone()).collect(),
        };
    }
    let lines: Vec<String> = waiting
        .iter()
        .map(|o| timed_out(o, policy.wait_seconds))
        .collect();
    Verdict::Failed {
        message: lines.join("\n"),
    }
}

/// `scan of <image> ended <STATUS>: <description>` for each scan that ended without findings.
fn ended(images: &[Observation]) -> Vec<String> {
    images
        .iter()
        .filter_map(|o| match &o.state {
            State::Ended {
                status,
                description,
            } => Some(format!(
                "scan of {} ended {status}: {}",
                o.scanned(),
                description.as_deref().unwrap_or("ECR gave no description")
            )),
            _ => None,
        })
        .collect()
}

/// Complete scans with more findings than berth reads: nothing read blocked, but the rest are
/// unjudged, and a gate passes nothing it has not judged.
fn unread(images: &[Observation]) -> Vec<String> {
    images
        .iter()
        .filter(|o| matches!(o.state, State::Done { more: true, .. }))
        .map(|o| {
            format!(
                "scan of {} has more findings than berth reads ({}); nothing blocked among those read, but the rest are unjudged",
                o.scanned(),
                MAX_FINDINGS
            )
        })
        .collect()
}

/// Every blocking finding of the completed images, most severe first, with its image.
pub fn blocked_findings<'a>(
    policy: &ScanPolicy,
    images: &'a [Observation],
) -> Vec<(&'a Observation, &'a Finding)> {
    let mut found: Vec<(&Observation, &Finding)> = images
        .iter()
        .filter_map(|o| match &o.state {
            State::Done { findings, .. } => Some((o, findings)),
            _ => None,
        })
        .flat_map(|(o, findings)| blocking(policy, findings).into_iter().map(move |f| (o, f)))
        .collect();
    found.sort_by(|(oa, a), (ob, b)| {
        rank(b.severity)
            .cmp(&rank(a.severity))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| oa.container.cmp(&ob.container))
    });
    found
}

fn timed_out(o: &Observation, wait_seconds: u64) -> String {
    let last = match &o.state {
        State::Waiting {
            status,
            description: Some(d),
        } => format!(" (last status {status}: {d})"),
        State::Waiting { status, .. } => format!(" (last status {status})"),
        _ => String::new(),
    };
    format!(
        "scan of {} did not complete within {wait_seconds} s{last}",
        o.scanned()
    )
}

fn pass_summary(policy: &ScanPolicy, images: &[Observation]) -> String {
    let ignored: usize = images
        .iter()
        .map(|o| match &o.state {
            State::Done { findings, .. } => ignored(policy, findings),
            _ => 0,
        })
        .sum();
    let block: Vec<&str> = policy.block.iter().map(|s| s.name()).collect();
    let n = images.len();
    let mut summary = format!(
        "scan passed: {n} image{}, no findings at {}",
        if n == 1 { "" } else { "s" },
        block.join(", ")
    );
    if ignored > 0 {
        summary.push_str(&format!(" ({ignored} ignored by scan.ignore)"));
    }
    for o in images {
        if let Some(j) = &o.judged {
            summary.push_str(&format!(
                "; {} judged by its {} image {}",
                o.container,
                j.platform,
                o.digest()
            ));
        }
    }
    summary
}
