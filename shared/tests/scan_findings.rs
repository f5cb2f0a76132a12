//! The scan gate's judgement of findings (aws-smithy-mocks): every severity, ignored CVEs,
//! enhanced (Amazon Inspector) findings over two pages, and a message cut to CodePipeline's
//! limit.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod scan_support;

use scan_support::*;

#[tokio::test]
async fn findings_block_at_each_blocked_severity_and_only_there() {
    use Severity::*;
    for (s, name) in [
        (Critical, "CRITICAL"),
        (High, "HIGH"),
        (Medium, "MEDIUM"),
        (Low, "LOW"),
        (Informational, "INFORMATIONAL"),
        (Undefined, "UNDEFINED"),
    ] {
        let findings = || {
            ImageScanFindings::builder()
                .findings(basic("CVE-2024-0042", name))
                .build()
        };
        let look = describe(vec![status(ScanStatus::Complete, findings())]);
        let record = Record::default();
        let g = gate(&[&look], &record);
        let (result, _) = play(&g, &release(Some(policy(&[s], &[])))).await;
        let digest = APP.split_once('@').unwrap().1;
        assert_eq!(
            message(&result),
            format!(
                "release v1 is blocked by 1 finding at {name} (scan.block) not in scan.ignore:\n{name} CVE-2024-0042 openssl 3.0.1 in app ({digest})"
            )
        );
        let written = record.last();
        assert_eq!(written["scan"]["outcome"], "blocked");
        assert_eq!(written["scan"]["images"]["app"]["counts"][name], 1);
        assert_eq!(
            written["scan"]["images"]["app"]["blocking"][0]["name"],
            "CVE-2024-0042"
        );

        // The same finding under a policy that blocks every other severity passes.
        let others: Vec<Severity> = [Critical, High, Medium, Low, Informational, Undefined]
            .into_iter()
            .filter(|o| *o != s)
            .collect();
        let look = describe(vec![status(ScanStatus::Complete, findings())]);
        let g = gate(&[&look], &Record::default());
        let (result, _) = play(&g, &release(Some(policy(&others, &[])))).await;
        assert!(
            matches!(result, JobResult::Success { .. }),
            "{name}: {result:?}"
        );
    }
}

#[tokio::test]
async fn an_ignored_cve_does_not_block() {
    let findings = ImageScanFindings::builder()
        .findings(basic("CVE-2024-0001", "CRITICAL"))
        .findings(basic("CVE-2024-0002", "LOW"))
        .build();
    let look = describe(vec![status(ScanStatus::Complete, findings)]);
    let g = gate(&[&look], &Record::default());
    let p = policy(&[Severity::Critical], &["CVE-2024-0001"]);
    let (result, _) = play(&g, &release(Some(p))).await;
    let JobResult::Success { summary, .. } = result else {
        panic!("{result:?}")
    };
    assert_eq!(
        summary,
        "scan passed: 1 image, no findings at CRITICAL (1 ignored by scan.ignore)"
    );
}

fn enhanced(id: &str, severity: &str, finding_status: &str) -> EnhancedImageScanFinding {
    EnhancedImageScanFinding::builder()
        .severity(severity)
        .status(finding_status)
        .title(format!("{id} - curl"))
        .package_vulnerability_details(
            PackageVulnerabilityDetails::builder()
                .vulnerability_id(id)
                .vulnerable_packages(
                    VulnerablePackage::builder()
                        .name("curl")
                        .version("7.88.1")
                        .build(),
                )
                .build(),
        )
        .build()
}

/// Enhanced scanning (Amazon Inspector): status ACTIVE, `enhancedFindings` with the package in
/// `packageVulnerabilityDetails`, over two pages of `nextToken`; a suppressed finding does not
/// block.
#[tokio::test]
async fn enhanced_findings_block_across_pages() {
    let page1 = DescribeImageScanFindingsOutput::builder()
        .image_scan_status(
            ImageScanStatus::builder()
                .status(ScanStatus::Active)
                .build(),
        )
        .image_scan_findings(
            ImageScanFindings::builder()
                .enhanced_findings(enhanced("CVE-2024-1000", "HIGH", "SUPPRESSED"))
                .build(),
        )
        .next_token("page-2")
        .build();
    let page2 = status(
        ScanStatus::Active,
        ImageScanFindings::builder()
            .enhanced_findings(enhanced("CVE-2024-2000", "CRITICAL", "ACTIVE"))
            .build(),
    );
    let pages = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || page2.clone());
    let first_page = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(1000))
        .then_output(move || page1.clone());
    let g = gate(&[&pages, &first_page], &Record::default());
    let (result, _) = play(
        &g,
        &release(Some(policy(&[Severity::Critical, Severity::High], &[]))),
    )
    .await;
    let m = message(&result);
    assert!(
        m.contains("blocked by 1 finding")
            && m.contains("CRITICAL CVE-2024-2000 curl 7.88.1 in app"),
        "{m}"
    );
    assert!(!m.contains("CVE-2024-1000"), "suppressed: {m}");
    assert_eq!((first_page.num_calls(), pages.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_long_list_of_findings_is_cut_to_codepipelines_limit() {
    let mut findings = ImageScanFindings::builder();
    for i in 0..600 {
        findings = findings.findings(basic(&format!("CVE-2024-{i:05}"), "CRITICAL"));
    }
    let look = describe(vec![status(ScanStatus::Complete, findings.build())]);
    let record = Record::default();
    let g = gate(&[&look], &record);
    let (result, _) = play(&g, &release(Some(policy(&[Severity::Critical], &[])))).await;
    let m = message(&result);
    assert!(
        m.chars().count() <= MAX_MESSAGE_CHARS,
        "{}",
        m.chars().count()
    );
    assert!(m.starts_with("release v1 is blocked by 600 findings at CRITICAL"));
    let shown = m.lines().filter(|l| l.starts_with("CRITICAL CVE-")).count();
    assert!(m.ends_with(&format!("… and {} more", 600 - shown)), "{m}");
    let app = &record.last()["scan"]["images"]["app"];
    assert_eq!(app["blocking_total"], 600);
    assert_eq!(
        app["blocking"].as_array().unwrap().len(),
        20,
        "the record keeps 20"
    );
}

/// More findings than berth reads (10 pages of 1000) fail the gate rather than pass unread.
#[tokio::test]
async fn findings_beyond_what_berth_reads_fail_the_gate() {
    let endless = mock!(aws_sdk_ecr::Client::describe_image_scan_findings).then_output(|| {
        DescribeImageScanFindingsOutput::builder()
            .image_scan_status(
                ImageScanStatus::builder()
                    .status(ScanStatus::Complete)
                    .build(),
            )
            .image_scan_findings(
                ImageScanFindings::builder()
                    .findings(basic("CVE-2024-0003", "LOW"))
                    .build(),
            )
            .next_token("more")
            .build()
    });
    let g = gate(&[&endless], &Record::default());
    let (result, _) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    assert_eq!(
        message(&result),
        format!(
            "scan of {APP} has more findings than berth reads (10000); nothing blocked among those read, but the rest are unjudged"
        )
    );
    assert_eq!(endless.num_calls(), 10, "a bounded number of pages");
}
