//! Table tests of the gate's pure core: statuses, blocking findings, verdicts, messages.

use super::message::{fit, summarize};
use super::verdict::*;
use crate::job::MAX_MESSAGE_CHARS;
use crate::registry::{ScanPolicy, Severity};

const IMAGE: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn policy(block: &[Severity], ignore: &[&str]) -> ScanPolicy {
    ScanPolicy {
        block: block.to_vec(),
        wait_seconds: 900,
        ignore: ignore.iter().map(|s| s.to_string()).collect(),
    }
}

fn finding(name: &str, severity: Severity) -> Finding {
    Finding {
        name: name.into(),
        severity,
        package: Some("openssl".into()),
        version: Some("3.0.1".into()),
        status: None,
    }
}

fn done(container: &str, findings: Vec<Finding>) -> Observation {
    Observation {
        container: container.into(),
        image: IMAGE.into(),
        judged: None,
        state: State::Done {
            status: "COMPLETE".into(),
            findings,
            more: false,
        },
    }
}

fn with_state(container: &str, state: State) -> Observation {
    Observation {
        container: container.into(),
        image: IMAGE.into(),
        judged: None,
        state,
    }
}

#[test]
fn every_documented_status_has_a_meaning() {
    use Class::*;
    for (status, want) in [
        ("COMPLETE", Done),
        ("ACTIVE", Done),
        ("IN_PROGRESS", Waiting),
        ("PENDING", Waiting),
        ("FAILED", Ended),
        ("UNSUPPORTED_IMAGE", Ended),
        ("SCAN_ELIGIBILITY_EXPIRED", Ended),
        ("FINDINGS_UNAVAILABLE", Ended),
        ("LIMIT_EXCEEDED", Ended),
        ("IMAGE_ARCHIVED", Ended),
        ("SOMETHING_NEW", Ended),
    ] {
        assert_eq!(classify(status), want, "{status}");
    }
}

#[test]
fn findings_block_at_each_blocked_severity_unless_ignored() {
    use Severity::*;
    let all = [
        Critical,
        High,
        Medium,
        Low,
        Informational,
        Undefined,
        Untriaged,
    ];
    for s in all {
        let one = vec![finding("CVE-2024-1", s)];
        assert_eq!(blocking(&policy(&[s], &[]), &one).len(), 1, "{s:?} blocks");
        let others: Vec<Severity> = all.iter().copied().filter(|o| *o != s).collect();
        assert!(
            blocking(&policy(&others, &[]), &one).is_empty(),
            "{s:?} does not block when not listed"
        );
        assert!(
            blocking(&policy(&[s], &["CVE-2024-1"]), &one).is_empty(),
            "{s:?} ignored by name"
        );
    }
    let mut suppressed = finding("CVE-2024-2", Critical);
    suppressed.status = Some("SUPPRESSED".into());
    let mut active = finding("CVE-2024-3", Critical);
    active.status = Some("ACTIVE".into());
    let both = [suppressed, active];
    let found = blocking(&policy(&[Critical], &[]), &both);
    assert_eq!(
        found.len(),
        1,
        "a suppressed enhanced finding does not block"
    );
    assert_eq!(found[0].name, "CVE-2024-3");
}

#[test]
fn the_verdict_over_a_release() {
    use Severity::*;
    let p = policy(&[Critical, High], &["CVE-2024-0001"]);
    let waiting = || {
        with_state(
            "nginx",
            State::Waiting {
                status: "IN_PROGRESS".into(),
                description: Some("scanning".into()),
            },
        )
    };
    let clean = || done("app", vec![finding("CVE-2024-9", Low)]);
    let t0 = 1_800_000_000;
    let cases: Vec<(&str, Vec<Observation>, u64, &str)> = vec![
        (
            "all clean",
            vec![clean()],
            t0,
            "scan passed: 1 image, no findings at CRITICAL, HIGH",
        ),
        (
            "a scan in progress, time left",
            vec![clean(), waiting()],
            t0 + 899,
            "wait",
        ),
        (
            "a scan in progress past wait_seconds",
            vec![clean(), waiting()],
            t0 + 900,
            "did not complete within 900 s (last status IN_PROGRESS: scanning)",
        ),
        (
            "a failed scan fails at once",
            vec![
                waiting(),
                with_state(
                    "app",
                    State::Ended {
                        status: "FAILED".into(),
                        description: Some("internal error".into()),
                    },
                ),
            ],
            t0,
            "ended FAILED: internal error",
        ),
        (
            "an unsupported image",
            vec![with_state(
                "app",
                State::Ended {
                    status: "UNSUPPORTED_IMAGE".into(),
                    description: None,
                },
            )],
            t0,
            "ended UNSUPPORTED_IMAGE: ECR gave no description",
        ),
        (
            "a blocking finding does not wait for the other images",
            vec![done("app", vec![finding("CVE-2024-7", High)]), waiting()],
            t0,
            "blocked by 1 finding at CRITICAL, HIGH",
        ),
        (
            "an ignored CVE passes, and is counted",
            vec![done("app", vec![finding("CVE-2024-0001", Critical)])],
            t0,
            "scan passed: 1 image, no findings at CRITICAL, HIGH (1 ignored by scan.ignore)",
        ),
        (
            "more findings than berth reads",
            vec![with_state(
                "app",
                State::Done {
                    status: "COMPLETE".into(),
                    findings: vec![],
                    more: true,
                },
            )],
            t0,
            "has more findings than berth reads",
        ),
    ];
    for (name, images, now, want) in cases {
        let got = decide(&p, "v1", &images, t0, now);
        let text = match &got {
            Verdict::Wait { .. } => "wait".to_owned(),
            Verdict::Pass { summary } => summary.clone(),
            Verdict::Blocked { message, .. } | Verdict::Failed { message } => message.clone(),
        };
        assert!(text.contains(want), "{name}: {got:?}");
    }
}

#[test]
fn the_blocked_message_lists_the_most_severe_first_with_package_and_digest() {
    use Severity::*;
    let p = policy(&[Critical, High, Medium], &[]);
    let mut bare = finding("CVE-2024-5", Medium);
    bare.package = None;
    bare.version = None;
    let images = vec![
        done("app", vec![finding("CVE-2024-2", High), bare]),
        done("nginx", vec![finding("CVE-2024-1", Critical)]),
    ];
    let Verdict::Blocked { message, count } = decide(&p, "v1.4.2", &images, 0, 0) else {
        panic!("blocked")
    };
    assert_eq!(count, 3);
    let digest = IMAGE.split_once('@').unwrap().1;
    assert_eq!(
        message,
        format!(
            "release v1.4.2 is blocked by 3 findings at CRITICAL, HIGH, MEDIUM (scan.block) not in scan.ignore:\n\
             CRITICAL CVE-2024-1 openssl 3.0.1 in nginx ({digest})\n\
             HIGH CVE-2024-2 openssl 3.0.1 in app ({digest})\n\
             MEDIUM CVE-2024-5 in app ({digest})"
        )
    );
}

#[test]
fn a_long_message_is_cut_to_codepipelines_limit_saying_how_many_more() {
    let p = policy(&[Severity::Critical], &[]);
    let findings: Vec<Finding> = (0..400)
        .map(|i| finding(&format!("CVE-2024-{i:05}"), Severity::Critical))
        .collect();
    let Verdict::Blocked { message, count } = decide(&p, "v1", &[done("app", findings)], 0, 0)
    else {
        panic!("blocked")
    };
    assert_eq!(count, 400);
    let chars = message.chars().count();
    assert!(chars <= MAX_MESSAGE_CHARS, "{chars}");
    assert!(chars > MAX_MESSAGE_CHARS - 120, "uses the room: {chars}");
    let shown = message
        .lines()
        .filter(|l| l.starts_with("CRITICAL "))
        .count();
    let last = message.lines().last().unwrap();
    let more: usize = last
        .strip_prefix("… and ")
        .and_then(|r| r.strip_suffix(" more"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("last line {last:?}"));
    assert_eq!(shown + more, 400);

    // Exactly at the limit, nothing is cut; one character over, the count appears.
    let lines = vec!["x".repeat(10); 3];
    assert_eq!(
        fit("h".into(), &lines, 34),
        format!("h\n{0}\n{0}\n{0}", "x".repeat(10))
    );
    let cut = fit("h".into(), &lines, 33);
    assert!(
        cut.chars().count() <= 33 && cut.ends_with("… and 2 more"),
        "{cut}"
    );
}

#[test]
fn the_summary_counts_live_findings_and_keeps_the_blocking_ones() {
    use Severity::*;
    let p = policy(&[High], &["CVE-2024-0001"]);
    let mut closed = finding("CVE-2024-4", High);
    closed.status = Some("CLOSED".into());
    let images = vec![done(
        "app",
        vec![
            finding("CVE-2024-0001", High),
            finding("CVE-2024-2", High),
            finding("CVE-2024-3", Low),
            closed,
        ],
    )];
    let s = summarize(&p, &images);
    let app = &s["app"];
    assert_eq!(app.status, "COMPLETE");
    assert_eq!(app.counts["HIGH"], 2);
    assert_eq!(app.counts["LOW"], 1);
    assert_eq!(app.blocking_total, 1);
    assert_eq!(app.blocking[0].name, "CVE-2024-2");
    assert_eq!(app.blocking[0].package.as_deref(), Some("openssl"));
}

#[test]
fn an_index_is_judged_by_its_entry_and_every_message_says_which() {
    use Severity::*;
    let entry = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let index_digest = IMAGE.split_once('@').unwrap().1;
    let judged = |o: Observation| Observation {
        judged: Some(Judged {
            image: entry.into(),
            platform: "linux/amd64".into(),
        }),
        ..o
    };
    let p = policy(&[High], &[]);
    let clean = judged(done("app", vec![]));
    assert_eq!(
        decide(&p, "v1", std::slice::from_ref(&clean), 0, 0),
        Verdict::Pass {
            summary: format!(
                "scan passed: 1 image, no findings at HIGH; app judged by its linux/amd64 image sha256:{}",
                "1".repeat(64)
            )
        }
    );
    let s = summarize(&p, std::slice::from_ref(&clean));
    assert_eq!(s["app"].image, IMAGE, "the record keeps the pinned index");
    assert_eq!(s["app"].judged.as_ref().unwrap().image, entry);
    assert_eq!(s["app"].judged.as_ref().unwrap().platform, "linux/amd64");
    let plain = summarize(&p, &[done("app", vec![])]);
    let json = serde_json::to_value(&plain["app"]).unwrap();
    assert!(
        json.get("judged").is_none(),
        "absent for a plain image: {json}"
    );

    let Verdict::Blocked { message, .. } = decide(
        &p,
        "v1",
        &[judged(done("app", vec![finding("CVE-2024-2", High)]))],
        0,
        0,
    ) else {
        panic!("blocked")
    };
    assert!(
        message.ends_with(&format!(
            "HIGH CVE-2024-2 openssl 3.0.1 in app (linux/amd64 sha256:{})",
            "1".repeat(64)
        )),
        "{message}"
    );
    let failed = judged(with_state(
        "app",
        State::Ended {
            status: "FAILED".into(),
            description: Some("internal error".into()),
        },
    ));
    assert_eq!(
        decide(&p, "v1", &[failed], 0, 0),
        Verdict::Failed {
            message: format!(
                "scan of {entry} (linux/amd64 of index {index_digest}) ended FAILED: internal error"
            )
        }
    );
}
