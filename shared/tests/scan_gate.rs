//! The scan gate against ECR answers no emulator produces (aws-smithy-mocks): a scan in
//! progress that completes, a missing scan started once, a scan ECR will not start, failed and
//! unsupported scans, the wait running out, throttling, a release without a policy and a
//! rollback execution.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod scan_support;

use scan_support::*;

#[tokio::test]
async fn a_scan_in_progress_is_asked_about_again_until_it_completes() {
    let look = describe(vec![
        status(ScanStatus::InProgress, no_findings()),
        status(ScanStatus::InProgress, no_findings()),
        status(ScanStatus::Complete, no_findings()),
    ]);
    let start = start_scan();
    let record = Record::default();
    let g = gate(&[&look, &start], &record);
    let (result, invocations) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    let JobResult::Success {
        summary, variables, ..
    } = result
    else {
        panic!("{result:?}")
    };
    assert_eq!(invocations, 3);
    assert_eq!(summary, "scan passed: 1 image, no findings at HIGH");
    assert_eq!(variables["SCAN"], "passed");
    assert_eq!(start.num_calls(), 0, "a scan exists: nothing started");
    let written = record.last();
    assert_eq!(written["scan"]["outcome"], "passed", "{written}");
    assert_eq!(written["scan"]["images"]["app"]["status"], "COMPLETE");
    assert_eq!(written["scan"]["job_id"], "job-1");
}

#[tokio::test]
async fn a_missing_scan_is_started_once_then_followed() {
    let not_found = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .sequence()
        .http_response(|| ecr_error("ScanNotFoundException"))
        .times(2)
        .output(|| status(ScanStatus::Complete, no_findings()))
        .build();
    let start = start_scan();
    let g = gate(&[&not_found, &start], &Record::default());
    let (result, invocations) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    assert!(matches!(result, JobResult::Success { .. }), "{result:?}");
    assert_eq!(invocations, 3);
    assert_eq!(
        start.num_calls(),
        1,
        "StartImageScan once, not on every invocation"
    );
}

#[tokio::test]
async fn a_scan_ecr_will_not_start_is_waited_for_not_failed() {
    // LimitExceededException: "A basic image scan can only be started once per 24 hours";
    // ValidationException: a registry on enhanced scanning, where Amazon Inspector scans.
    for code in ["LimitExceededException", "ValidationException"] {
        let not_found = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
            .sequence()
            .http_response(|| ecr_error("ScanNotFoundException"))
            .times(2)
            .output(|| status(ScanStatus::Complete, no_findings()))
            .build();
        let refused = mock!(aws_sdk_ecr::Client::start_image_scan)
            .then_http_response(move || ecr_error(code));
        let g = gate(&[&not_found, &refused], &Record::default());
        let (result, invocations) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
        assert!(
            matches!(result, JobResult::Success { .. }),
            "{code}: {result:?}"
        );
        assert_eq!((invocations, refused.num_calls()), (3, 1), "{code}");
    }
    // Still no scan when wait_seconds has passed: the job fails saying why.
    let not_found = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .then_http_response(|| ecr_error("ScanNotFoundException"));
    let refused = mock!(aws_sdk_ecr::Client::start_image_scan)
        .then_http_response(|| ecr_error("LimitExceededException"));
    let g = gate(&[&not_found, &refused], &Record::default());
    let now = SystemTime::now();
    let mut progress = Progress::first("job-1", berth::record::epoch_seconds(now) - 900);
    progress.scans = vec![0];
    let result = g
        .check(
            &release(Some(policy(&[Severity::High], &[]))),
            &amd64(),
            progress,
            now,
        )
        .await;
    assert_eq!(
        message(&result),
        format!(
            "scan of {APP} did not complete within 900 s (last status NO_SCAN: ScanNotFoundException for the test)"
        )
    );
    assert_eq!(
        refused.num_calls(),
        0,
        "started once, in an earlier invocation"
    );
}

#[tokio::test]
async fn failed_and_unsupported_scans_fail_the_job_naming_status_and_description() {
    for (s, want) in [
        (ScanStatus::Failed, "ended FAILED: as ECR says"),
        (
            ScanStatus::UnsupportedImage,
            "ended UNSUPPORTED_IMAGE: as ECR says",
        ),
        (
            ScanStatus::ScanEligibilityExpired,
            "ended SCAN_ELIGIBILITY_EXPIRED",
        ),
        (
            ScanStatus::FindingsUnavailable,
            "ended FINDINGS_UNAVAILABLE",
        ),
    ] {
        let look = describe(vec![status(s.clone(), no_findings())]);
        let record = Record::default();
        let g = gate(&[&look], &record);
        let (result, _) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
        let m = message(&result);
        assert!(
            m.starts_with(&format!("scan of {APP} ended ")) && m.contains(want),
            "{m}"
        );
        assert_eq!(record.last()["scan"]["outcome"], "failed");
    }
    // StartImageScan on an image ECR cannot scan.
    let not_found = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .then_http_response(|| ecr_error("ScanNotFoundException"));
    let unsupported = mock!(aws_sdk_ecr::Client::start_image_scan)
        .then_http_response(|| ecr_error("UnsupportedImageTypeException"));
    let g = gate(&[&not_found, &unsupported], &Record::default());
    let (result, invocations) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    assert_eq!(invocations, 1);
    assert!(
        message(&result).contains("ended UNSUPPORTED_IMAGE"),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_scan_that_does_not_complete_within_wait_seconds_fails() {
    let look = describe(vec![status(ScanStatus::InProgress, no_findings())]);
    let record = Record::default();
    let g = gate(&[&look], &record);
    let now = SystemTime::now();
    let mut progress = Progress::first("job-1", berth::record::epoch_seconds(now) - 900);
    progress.round = 30;
    let result = g
        .check(
            &release(Some(policy(&[Severity::High], &[]))),
            &amd64(),
            progress,
            now,
        )
        .await;
    assert_eq!(
        message(&result),
        format!(
            "scan of {APP} did not complete within 900 s (last status IN_PROGRESS: as ECR says)"
        )
    );
    assert_eq!(record.last()["scan"]["outcome"], "failed");
}

#[tokio::test]
async fn throttling_is_asked_about_again_through_the_token() {
    let throttled = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .http_status(
            500,
            Some(r#"{"__type":"ServerException","message":"oops"}"#.into()),
        )
        .output(|| status(ScanStatus::Complete, no_findings()))
        .build();
    let g = gate(&[&throttled], &Record::default());
    let (result, invocations) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    assert!(matches!(result, JobResult::Success { .. }), "{result:?}");
    assert_eq!(invocations, 3, "throttled, 500, then answered");
}

#[tokio::test]
async fn a_release_without_a_scan_policy_passes_without_asking_ecr() {
    let look = describe(vec![status(ScanStatus::Complete, no_findings())]);
    let record = Record::default();
    let g = gate(&[&look], &record);
    let (result, invocations) = play(&g, &release(None)).await;
    let JobResult::Success {
        summary, variables, ..
    } = result
    else {
        panic!("{result:?}")
    };
    assert_eq!(invocations, 1);
    assert_eq!(summary, "scan skipped: no scan policy for service web");
    assert_eq!(variables["SCAN"], "skipped");
    assert_eq!(look.num_calls(), 0);
    assert_eq!(record.last()["scan"]["outcome"], "skipped");
}

/// A rollback execution passes at once: the job is reported a success without reading the
/// artifact or asking ECR.
#[tokio::test]
async fn a_rollback_execution_passes_at_once() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let saw = seen.clone();
    let success = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .match_requests(move |r| {
            saw.lock().unwrap().push((
                r.job_id().map(str::to_owned),
                r.execution_details()
                    .and_then(|d| d.summary())
                    .map(str::to_owned),
                r.output_variables().cloned(),
                r.continuation_token().map(str::to_owned),
            ));
            true
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    let look = describe(vec![status(ScanStatus::Complete, no_findings())]);
    let mut g = gate(&[&look], &Record::default());
    g.clients.codepipeline = mock_client!(aws_sdk_codepipeline, [&success]);
    let params = json!({"release": "v1", "rollback": "true", "execution": "e-1"}).to_string();
    let event = json!({"CodePipeline.job": {"id": "job-r", "accountId": "123456789012", "data": {
        "actionConfiguration": {"configuration": {"FunctionName": "berth-scan-gate", "UserParameters": params}},
        "inputArtifacts": [], "outputArtifacts": [], "artifactCredentials": {}}}});
    let out = g
        .on_job(serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"result": "success", "variables": {"SCAN": "skipped"}})
    );
    let (job, summary, vars, token) = seen.lock().unwrap()[0].clone();
    assert_eq!(job.as_deref(), Some("job-r"));
    assert_eq!(
        summary.as_deref(),
        Some(
            "scan skipped: rollback execution (its images were scanned when they were first released)"
        )
    );
    assert_eq!(vars.unwrap()["SCAN"], "skipped");
    assert_eq!(token, None);
    assert_eq!(look.num_calls(), 0);
}

/// An image index as `docker buildx build --platform linux/amd64,linux/arm64 --push` stores it:
/// one image per platform and a provenance attestation manifest for each (`unknown/unknown`).
/// ECR cannot scan the index itself: "An artifact with media type
/// 'application/vnd.oci.image.index.v1+json' cannot be scanned" (aws/containers-roadmap#1683).
mod image_index {
    use super::*;

    pub const AMD64: &str =
        "sha256:aaaa000000000000000000000000000000000000000000000000000000000001";
    pub const ARM64: &str =
        "sha256:bbbb000000000000000000000000000000000000000000000000000000000002";

    fn entry(digest: &str, platform: Value) -> Value {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
               "size": 1609, "platform": platform})
    }

    fn attestation(digest: &str, of: &str) -> Value {
        json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": 566,
               "annotations": {"vnd.docker.reference.digest": of, "vnd.docker.reference.type": "attestation-manifest"},
               "platform": {"architecture": "unknown", "os": "unknown"}})
    }

    /// The index `APP` pins, with `entries`.
    pub fn index(entries: Vec<Value>) -> Rule {
        let body = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
        manifests(&[(digest_of(APP), OCI_INDEX, body.to_string())])
    }

    pub fn both_platforms() -> Vec<Value> {
        vec![
            entry(AMD64, json!({"architecture": "amd64", "os": "linux"})),
            entry(
                ARM64,
                json!({"architecture": "arm64", "os": "linux", "variant": "v8"}),
            ),
            attestation(&format!("sha256:{}", "c".repeat(64)), AMD64),
            attestation(&format!("sha256:{}", "d".repeat(64)), ARM64),
        ]
    }

    pub fn amd64_only() -> Vec<Value> {
        vec![
            entry(AMD64, json!({"architecture": "amd64", "os": "linux"})),
            attestation(&format!("sha256:{}", "c".repeat(64)), AMD64),
        ]
    }

    /// DescribeImageScanFindings answering for `digest` only.
    pub fn scan_of(digest: &'static str) -> Rule {
        mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
            .match_requests(move |r| r.image_id().and_then(|i| i.image_digest()) == Some(digest))
            .then_output(|| status(ScanStatus::Complete, no_findings()))
    }

    pub fn pinned(digest: &str) -> String {
        format!("{}@{digest}", APP.split_once('@').unwrap().0)
    }
}

#[tokio::test]
async fn an_image_index_is_judged_by_its_amd64_image_and_the_record_says_which() {
    use image_index::*;
    let index = index(both_platforms());
    let look = scan_of(AMD64);
    let start = start_scan();
    let record = Record::default();
    let g = gate(&[&index, &look, &start], &record);
    let (result, invocations) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    let JobResult::Success { summary, .. } = result else {
        panic!("{result:?}")
    };
    assert_eq!(invocations, 1);
    assert_eq!(
        summary,
        format!(
            "scan passed: 1 image, no findings at HIGH; app judged by its linux/amd64 image {AMD64}"
        )
    );
    assert_eq!(look.num_calls(), 1, "the amd64 image's scan was read");
    assert_eq!(start.num_calls(), 0);
    let app = &record.last()["scan"]["images"]["app"];
    assert_eq!(app["image"], APP, "the pinned index: {app}");
    assert_eq!(app["judged"]["image"], pinned(AMD64).as_str(), "{app}");
    assert_eq!(app["judged"]["platform"], "linux/amd64");
    assert_eq!(app["status"], "COMPLETE");
}

#[tokio::test]
async fn an_arm64_task_s_index_is_judged_by_its_arm64_image() {
    use image_index::*;
    let index = index(both_platforms());
    let look = scan_of(ARM64);
    let record = Record::default();
    let g = gate(&[&index, &look], &record);
    let arm64 = Ok(Platform::new("linux", "arm64"));
    let (result, _) = play_on(&g, &release(Some(policy(&[Severity::High], &[]))), &arm64).await;
    let JobResult::Success { summary, .. } = result else {
        panic!("{result:?}")
    };
    assert!(
        summary.ends_with(&format!("app judged by its linux/arm64/v8 image {ARM64}")),
        "{summary}"
    );
    assert_eq!(look.num_calls(), 1);
    let app = &record.last()["scan"]["images"]["app"];
    assert_eq!(app["judged"]["image"], pinned(ARM64).as_str(), "{app}");
    assert_eq!(app["judged"]["platform"], "linux/arm64/v8");
}

#[tokio::test]
async fn a_missing_scan_of_an_index_s_image_is_started_for_that_image() {
    use image_index::*;
    let index = index(both_platforms());
    let not_found = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .match_requests(|r| r.image_id().and_then(|i| i.image_digest()) == Some(AMD64))
        .sequence()
        .http_response(|| ecr_error("ScanNotFoundException"))
        .output(|| status(ScanStatus::Complete, no_findings()))
        .build();
    let start = mock!(aws_sdk_ecr::Client::start_image_scan)
        .match_requests(|r| r.image_id().and_then(|i| i.image_digest()) == Some(AMD64))
        .then_output(|| StartImageScanOutput::builder().build());
    let g = gate(&[&index, &not_found, &start], &Record::default());
    let (result, invocations) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    assert!(matches!(result, JobResult::Success { .. }), "{result:?}");
    assert_eq!((invocations, start.num_calls()), (2, 1));
}

#[tokio::test]
async fn an_index_without_an_image_for_the_task_s_platform_fails_naming_the_platforms_it_has() {
    use image_index::*;
    let index = index(amd64_only());
    let look = describe(vec![status(ScanStatus::Complete, no_findings())]);
    let start = start_scan();
    let record = Record::default();
    let g = gate(&[&index, &look, &start], &record);
    let arm64 = Ok(Platform::new("linux", "arm64"));
    let (result, invocations) =
        play_on(&g, &release(Some(policy(&[Severity::High], &[]))), &arm64).await;
    assert_eq!(invocations, 1);
    assert_eq!(
        message(&result),
        format!(
            "scan of {APP} ended NO_PLATFORM_IMAGE: an image index with no linux/arm64 image \
             (the task definition's runtimePlatform; linux/amd64 without one); it has linux/amd64"
        )
    );
    assert_eq!(
        (look.num_calls(), start.num_calls()),
        (0, 0),
        "nothing to scan"
    );
    let written = record.last();
    assert_eq!(written["scan"]["outcome"], "failed");
    assert_eq!(
        written["scan"]["images"]["app"]["status"],
        "NO_PLATFORM_IMAGE"
    );
}

#[tokio::test]
async fn a_plain_image_manifest_is_judged_itself_as_before() {
    let asked = manifests(&[(digest_of(APP), DOCKER_MANIFEST, image_manifest())]);
    let look = mock!(aws_sdk_ecr::Client::describe_image_scan_findings)
        .match_requests(|r| {
            r.image_id().and_then(|i| i.image_digest()) == Some(digest_of(APP).as_str())
        })
        .then_output(|| status(ScanStatus::Complete, no_findings()));
    let record = Record::default();
    let g = gate(&[&asked, &look], &record);
    let (result, _) = play(&g, &release(Some(policy(&[Severity::High], &[])))).await;
    let JobResult::Success { summary, .. } = result else {
        panic!("{result:?}")
    };
    assert_eq!(summary, "scan passed: 1 image, no findings at HIGH");
    assert_eq!((asked.num_calls(), look.num_calls()), (1, 1));
    let app = &record.last()["scan"]["images"]["app"];
    assert_eq!(app["image"], APP);
    assert!(app.get("judged").is_none(), "{app}");
}
