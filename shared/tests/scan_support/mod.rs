//! What the scan-gate mock tests share: a release, ECR answers, the record in a mocked bucket,
//! and a player that re-invokes the gate with each continuation token.
#![allow(dead_code, unused_imports)]

pub use std::collections::BTreeMap;
pub use std::sync::{Arc, Mutex};
pub use std::time::SystemTime;

pub use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
pub use aws_sdk_ecr::operation::describe_image_scan_findings::DescribeImageScanFindingsOutput;
pub use aws_sdk_ecr::operation::start_image_scan::StartImageScanOutput;
pub use aws_sdk_ecr::types::{
    Attribute, EnhancedImageScanFinding, FindingSeverity, ImageScanFinding, ImageScanFindings,
    ImageScanStatus, PackageVulnerabilityDetails, ScanStatus, VulnerablePackage,
};
pub use aws_sdk_s3::operation::get_object::GetObjectOutput;
pub use aws_sdk_s3::operation::put_object::PutObjectOutput;
pub use aws_sdk_s3::primitives::ByteStream;
pub use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
pub use aws_smithy_runtime_api::http::StatusCode;
pub use aws_smithy_types::body::SdkBody;
pub use aws_smithy_types::retry::RetryConfig;
pub use berth::aws::Clients;
pub use berth::jobs::{JobResult, MAX_MESSAGE_CHARS};
pub use berth::registry::{ScanPolicy, Severity};
pub use berth::render::{ArtifactRelease, ManifestSource};
pub use berth::scan::{Context, Progress};
pub use serde_json::{Value, json};

pub const APP: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

pub fn policy(block: &[Severity], ignore: &[&str]) -> ScanPolicy {
    ScanPolicy {
        block: block.to_vec(),
        wait_seconds: 900,
        ignore: ignore.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn release(scan: Option<ScanPolicy>) -> ArtifactRelease {
    ArtifactRelease {
        schema: "berth/artifact/v1".into(),
        service: "web".into(),
        release: "v1".into(),
        task_family: "web".into(),
        manifest: ManifestSource {
            bucket: "rel".into(),
            key: "manifests/web/v1.json".into(),
            version_id: "m1".into(),
        },
        images: BTreeMap::from([("app".into(), APP.into())]),
        migration: None,
        rollback_of: None,
        rendered_at: "2026-11-01T00:00:00Z".into(),
        scan,
        target: None,
    }
}

pub fn status(s: ScanStatus, findings: ImageScanFindings) -> DescribeImageScanFindingsOutput {
    DescribeImageScanFindingsOutput::builder()
        .image_scan_status(
            ImageScanStatus::builder()
                .status(s)
                .description("as ECR says")
                .build(),
        )
        .image_scan_findings(findings)
        .build()
}

pub fn no_findings() -> ImageScanFindings {
    ImageScanFindings::builder().build()
}

pub fn basic(name: &str, severity: &str) -> ImageScanFinding {
    ImageScanFinding::builder()
        .name(name)
        .severity(FindingSeverity::from(severity))
        .attributes(
            Attribute::builder()
                .key("package_name")
                .value("openssl")
                .build()
                .unwrap(),
        )
        .attributes(
            Attribute::builder()
                .key("package_version")
                .value("3.0.1")
                .build()
                .unwrap(),
        )
        .build()
}

pub fn ecr_error(code: &'static str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        StatusCode::try_from(400).unwrap(),
        SdkBody::from(format!(
            r#"{{"__type":"{code}","message":"{code} for the test"}}"#
        )),
    )
}

/// The release record in the bucket, and what the gate writes into it.
#[derive(Clone, Default)]
pub struct Record(Arc<Mutex<Vec<Value>>>);

impl Record {
    pub fn rules(&self) -> Vec<Rule> {
        let doc = json!({"schema": "berth/release-record/v1", "service": "web", "release": "v1",
            "status": "IN_PROGRESS", "manifest": {"bucket": "rel", "key": "manifests/web/v1.json", "version_id": "m1"},
            "pipeline": "berth-web", "task_family": "web", "images": {"app": APP}, "migration_plan": null,
            "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z"})
        .to_string();
        let get = mock!(aws_sdk_s3::Client::get_object).then_output(move || {
            GetObjectOutput::builder()
                .e_tag("\"r1\"")
                .content_length(doc.len() as i64)
                .body(ByteStream::from(doc.clone().into_bytes()))
                .build()
        });
        let written = self.0.clone();
        let put = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(move |r| {
                let body = r
                    .body()
                    .bytes()
                    .and_then(|b| serde_json::from_slice(b).ok());
                written.lock().unwrap().push(body.unwrap_or(Value::Null));
                true
            })
            .then_output(|| PutObjectOutput::builder().e_tag("\"r2\"").build());
        vec![get, put]
    }

    pub fn last(&self) -> Value {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or(Value::Null)
    }
}

/// A gate whose ECR answers with `rules` (in order) and whose bucket holds the record.
pub fn gate(ecr: &[&Rule], record: &Record) -> Context {
    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("ap-northeast-1"))
        .build();
    let mut clients = Clients::new(&config);
    let s3_rules = record.rules();
    clients.s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3_rules.iter());
    clients.ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, ecr.iter().copied(), |c| c
        .retry_config(RetryConfig::disabled()));
    Context::new(clients, "rel")
}

pub fn describe(outputs: Vec<DescribeImageScanFindingsOutput>) -> Rule {
    let mut seq = mock!(aws_sdk_ecr::Client::describe_image_scan_findings).sequence();
    for o in outputs {
        seq = seq.output(move || o.clone());
    }
    seq.build()
}

pub fn start_scan() -> Rule {
    mock!(aws_sdk_ecr::Client::start_image_scan)
        .then_output(|| StartImageScanOutput::builder().build())
}

pub fn first() -> Progress {
    Progress::first("job-1", berth::record::epoch_seconds(SystemTime::now()))
}

pub fn message(r: &JobResult) -> &str {
    match r {
        JobResult::Failure { message, .. } => message,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Runs the gate invocation after invocation, as CodePipeline re-invokes with each token, until
/// a result without one; returns it and how many invocations it took.
pub async fn play(gate: &Context, release: &ArtifactRelease) -> (JobResult, usize) {
    let mut progress = first();
    for n in 1..=10 {
        match gate
            .check(release, progress.clone(), SystemTime::now())
            .await
        {
            JobResult::Continue { token, .. } => {
                assert!(token.len() <= 2048);
                progress = Progress::decode(&token).unwrap();
            }
            done => return (done, n),
        }
    }
    panic!("no result in 10 invocations")
}
