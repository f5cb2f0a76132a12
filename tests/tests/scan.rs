//! scan-gate through its compiled binary behind the local Runtime API, against moto's ECR scans,
//! with CodePipeline's job API a recording stand-in.
//!
//! What moto (5.2.5) does, read from its `ecr/models.py`: DescribeImageScanFindings answers
//! ScanNotFoundException until StartImageScan was called for the image; StartImageScan answers
//! `IN_PROGRESS` and raises LimitExceededException on a second call the same day; afterwards
//! DescribeImageScanFindings answers `COMPLETE` with one HIGH finding, `CVE-9999-9999` in package
//! `moto_fake` 9.9.9 — or, per image, a whole answer set through moto's API
//! (`/moto-api/static/ecr/scan-finding-results`). States it cannot produce (IN_PROGRESS then
//! COMPLETE, FAILED, UNSUPPORTED_IMAGE, ...) are covered with aws-smithy-mocks in
//! `shared/tests/scan_gate.rs`.

use berth_tests::runtime::{Function, Outcome, moto_env, play_migrate_job};
use berth_tests::*;
use serde_json::{Value, json};

/// The `web` service with `scan` in its registry entry (none: no gate).
async fn with_scan(env: &Env, scan: Option<Value>) {
    let mut entry = web_registry(&env.default_subnets().await);
    if let Some(scan) = scan {
        entry["scan"] = scan;
    }
    env.put_registry(&entry).await;
}

/// Releases `release` (app at `app_tag`, nginx kept as it runs) through on-manifest and stages
/// its artifact as the Source action would; the key the Scan job names.
async fn released(env: &Env, release: &str, app_tag: &str) -> String {
    let out = env.release_web(release, app_tag).await;
    assert_eq!(out["outcome"], "started", "{out}");
    let version = out["artifact_version_id"].as_str().unwrap();
    env.stage_artifact(version, release).await
}

async fn gate(env: &Env) -> (Function, StandIn) {
    let jobs = StandIn::job_api().await;
    let mut vars = moto_env(&env.moto.endpoint);
    vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    (Function::spawn("scan-gate", &vars).await, jobs)
}

fn pinned(env: &Env, repo_tag: &str) -> String {
    let repo = repo_tag.split(':').next().unwrap();
    format!("{}@{}", repo_uri(repo), env.digest(repo_tag))
}

#[tokio::test(flavor = "current_thread")]
async fn a_release_with_a_blocked_finding_fails_the_scan_action_and_records_why() {
    let env = Env::start().await;
    with_scan(
        &env,
        Some(json!({"block": ["CRITICAL", "HIGH"], "wait_seconds": 900})),
    )
    .await;
    let artifact = released(&env, "v5", "v1.4.2").await;
    let (mut f, jobs) = gate(&env).await;

    let (polls, op, body) = play_migrate_job(&mut f, &jobs, "scan-1", &artifact, false).await;
    assert_eq!(
        polls, 1,
        "no scans yet: both started, then read on the next invocation"
    );
    assert_eq!(op, "PutJobFailureResult", "{body}");
    assert_eq!(body["failureDetails"]["type"], "JobFailed");
    let app = env.digest("web/app:v1.4.2");
    let nginx = env.digest("web/nginx:1.25");
    assert_eq!(
        body["failureDetails"]["message"],
        format!(
            "release v5 is blocked by 2 findings at CRITICAL, HIGH (scan.block) not in scan.ignore:\n\
             HIGH CVE-9999-9999 moto_fake 9.9.9 in app ({app})\n\
             HIGH CVE-9999-9999 moto_fake 9.9.9 in nginx ({nginx})"
        )
    );
    let sent: Vec<Value> = jobs
        .calls
        .all()
        .into_iter()
        .filter(|(op, _)| op == "PutJobSuccessResult")
        .map(|(_, body)| body)
        .collect();
    assert_eq!(sent.len(), 1, "one continuation");
    assert!(
        sent[0]["executionDetails"]["summary"]
            .as_str()
            .unwrap()
            .starts_with("waiting for the scan of 2 of 2 images"),
        "{}",
        sent[0]
    );

    let record = env.get_json("releases/web/v5.json").await.unwrap();
    let scan = &record["scan"];
    assert_eq!(scan["outcome"], "blocked", "{record}");
    assert_eq!(scan["job_id"], "scan-1", "the action's first job");
    assert_eq!(
        scan["images"]["app"]["image"],
        pinned(&env, "web/app:v1.4.2")
    );
    assert_eq!(scan["images"]["app"]["status"], "COMPLETE");
    assert_eq!(scan["images"]["app"]["counts"], json!({"HIGH": 1}));
    assert_eq!(
        scan["images"]["nginx"]["blocking"],
        json!([{"name": "CVE-9999-9999", "severity": "HIGH", "package": "moto_fake", "version": "9.9.9"}])
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_ignored_finding_passes_and_an_existing_scan_is_read_without_starting_another() {
    let env = Env::start().await;
    let scan = json!({"block": ["HIGH"], "wait_seconds": 900, "ignore": ["CVE-9999-9999"]});
    with_scan(&env, Some(scan)).await;
    let (mut f, jobs) = gate(&env).await;

    let artifact = released(&env, "v6", "v1.4.2").await;
    let (polls, op, body) = play_migrate_job(&mut f, &jobs, "scan-2", &artifact, false).await;
    assert_eq!((polls, op.as_str()), (1, "PutJobSuccessResult"), "{body}");
    assert_eq!(body["outputVariables"], json!({"SCAN": "passed"}));
    assert_eq!(
        body["executionDetails"]["summary"],
        "scan passed: 2 images, no findings at HIGH (2 ignored by scan.ignore)"
    );
    let record = env.get_json("releases/web/v6.json").await.unwrap();
    assert_eq!(record["scan"]["outcome"], "passed");

    // The same images again: ECR's scans exist, so the first invocation decides. (A second
    // StartImageScan the same day would be refused: "once per 24 hours".)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let artifact = released(&env, "v7", "v1.4.2").await;
    let (polls, op, _) = play_migrate_job(&mut f, &jobs, "scan-3", &artifact, false).await;
    assert_eq!((polls, op.as_str()), (0, "PutJobSuccessResult"));
}

/// Enhanced scanning as moto can be told to answer it: `ACTIVE`, with `enhancedFindings`.
#[tokio::test(flavor = "current_thread")]
async fn enhanced_findings_name_the_vulnerable_package() {
    let env = Env::start().await;
    with_scan(&env, Some(json!({"block": ["CRITICAL"]}))).await;
    let nginx = env.digest("web/nginx:1.25").to_owned();
    let answer = json!({
        "registryId": ACCOUNT, "repositoryName": "web/nginx", "imageId": {"imageDigest": nginx},
        "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
        "imageScanFindings": {"enhancedFindings": [{
            "severity": "CRITICAL", "status": "ACTIVE", "title": "CVE-2024-31337 - curl",
            "packageVulnerabilityDetails": {"vulnerabilityId": "CVE-2024-31337",
                "vulnerablePackages": [{"name": "curl", "version": "7.88.1"}]}}],
            "findingSeverityCounts": {"CRITICAL": 1}}});
    http_post(
        &env.moto.endpoint,
        "/moto-api/static/ecr/scan-finding-results",
        &[("content-type", "application/json")],
        &json!({"results": [answer], "region": REGION}).to_string(),
    )
    .await;
    let artifact = released(&env, "v8", "v1.4.2").await;
    let (mut f, jobs) = gate(&env).await;
    let (_, op, body) = play_migrate_job(&mut f, &jobs, "scan-4", &artifact, false).await;
    assert_eq!(op, "PutJobFailureResult", "{body}");
    assert_eq!(
        body["failureDetails"]["message"],
        format!(
            "release v8 is blocked by 1 finding at CRITICAL (scan.block) not in scan.ignore:\n\
             CRITICAL CVE-2024-31337 curl 7.88.1 in nginx ({nginx})"
        ),
        "app's HIGH finding does not block under CRITICAL"
    );
    let record = env.get_json("releases/web/v8.json").await.unwrap();
    assert_eq!(record["scan"]["images"]["nginx"]["status"], "ACTIVE");
}

/// A rollback execution, a release rendered without a scan policy, a payload that is not a job
/// and an execution berth did not start: each answered at once, nothing asked of ECR.
#[tokio::test(flavor = "current_thread")]
async fn rollbacks_and_releases_without_a_policy_pass_at_once() {
    let env = Env::start().await;
    with_scan(&env, None).await;
    let artifact = released(&env, "v9", "v1.4.2").await;
    let (mut f, jobs) = gate(&env).await;

    let (polls, op, body) = play_migrate_job(&mut f, &jobs, "scan-5", &artifact, true).await;
    assert_eq!((polls, op.as_str()), (0, "PutJobSuccessResult"), "{body}");
    assert_eq!(body["outputVariables"], json!({"SCAN": "skipped"}));
    assert_eq!(
        body["executionDetails"]["summary"],
        "scan skipped: rollback execution (its images were scanned when they were first released)"
    );

    let (polls, _, body) = play_migrate_job(&mut f, &jobs, "scan-6", &artifact, false).await;
    assert_eq!(polls, 0);
    assert_eq!(
        body["executionDetails"]["summary"],
        "scan skipped: no scan policy for service web"
    );
    let record = env.get_json("releases/web/v9.json").await.unwrap();
    assert_eq!(record["scan"]["outcome"], "skipped");
    let scans = env
        .clients
        .ecr
        .describe_image_scan_findings()
        .repository_name("web/app")
        .image_id(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(env.digest("web/app:v1.4.2"))
                .build(),
        )
        .send()
        .await;
    assert!(scans.is_err(), "no scan was started: {scans:?}");

    let out = f.invoke(&json!({"hello": "world"})).await;
    let Outcome::Response(answer) = out else {
        panic!("{out:?}")
    };
    assert_eq!(answer["result"], "ignored", "{answer}");

    // An execution berth did not start (the variables' defaults) is refused, as by migrate.
    let mut console = Job::new("scan-8", &artifact);
    console.release = "(none)".into();
    f.invoke(&console.event_json(None)).await.response();
    let (op, body) = jobs.last().unwrap();
    assert_eq!(op, "PutJobFailureResult");
    assert!(
        body["failureDetails"]["message"]
            .as_str()
            .unwrap()
            .contains("was not started by berth"),
        "{body}"
    );
}

fn berth(args: &[&str], env: &Env) -> std::process::Output {
    let mut cmd = std::process::Command::new(berth_tests::runtime::function_binary("berth"));
    cmd.env_clear().args(args);
    for (k, v) in [
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", env.moto.endpoint.clone()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("BERTH_RELEASE_BUCKET", BUCKET.to_owned()),
        ("BERTH_ACCOUNT_ID", ACCOUNT.to_owned()),
    ] {
        cmd.env(k, v);
    }
    cmd.output().expect("berth runs")
}

/// `berth releases` and `berth status` show the scan summary; `berth render` shows each image's
/// scan as the gate would judge it, and never starts a scan.
#[tokio::test(flavor = "current_thread")]
async fn the_cli_shows_scan_summaries_and_render_shows_scans_without_starting_one() {
    let mut env = Env::start().await;
    with_scan(&env, Some(json!({"block": ["CRITICAL", "HIGH"]}))).await;
    let artifact = released(&env, "v5", "v1.4.2").await;
    let (mut f, jobs) = gate(&env).await;
    let (_, op, _) = play_migrate_job(&mut f, &jobs, "scan-7", &artifact, false).await;
    assert_eq!(op, "PutJobFailureResult");

    let out = berth(&["releases", "web", "--output", "json"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["scan"]["outcome"], "blocked");
    let table = String::from_utf8(berth(&["releases", "web"], &env).stdout).unwrap();
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains(" SCAN "), "{table}");
    assert!(lines.next().unwrap().contains(" blocked:2 "), "{table}");
    let status = String::from_utf8(berth(&["status", "web"], &env).stdout).unwrap();
    assert!(
        status.contains("scan       blocked:2 — app COMPLETE (HIGH 1); nginx COMPLETE (HIGH 1)\n"),
        "{status}"
    );

    // A dry run of a new image: no scan yet, and render does not start one.
    env.push_image("web/app", "v7.0.0").await;
    let manifest =
        std::env::temp_dir().join(format!("berth-scan-render-{}.json", std::process::id()));
    std::fs::write(
        &manifest,
        json!({"schema": "berth/v1", "service": "web", "release": "v7",
               "images": {"app": format!("{}:v7.0.0", repo_uri("web/app"))}})
        .to_string(),
    )
    .unwrap();
    let out = berth(&["render", manifest.to_str().unwrap()], &env);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let app = pinned(&env, "web/app:v7.0.0");
    let nginx = pinned(&env, "web/nginx:1.25");
    assert!(
        stdout.contains(
            "--- scans (scan.block CRITICAL, HIGH; the Scan action waits up to 900 s) ---\n"
        ) && stdout.contains(&format!("  app: {app} NO_SCAN: "))
            && stdout.contains(&format!(
                "  nginx: {nginx} COMPLETE: 1 finding(s), 1 blocking\n    blocks: HIGH CVE-9999-9999 moto_fake 9.9.9\n"
            )),
        "{stdout}"
    );
    let again = berth(&["render", manifest.to_str().unwrap()], &env);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains(&format!("  app: {app} NO_SCAN: ")),
        "render started no scan"
    );
}
