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
