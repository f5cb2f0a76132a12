//! What the scan-gate mock tests share: a release, ECR answers, the record in a mocked bucket,
//! and a player that re-invokes the gate with each continuation token.
#![allow(dead_code, unused_imports)]

pub use std::collections::BTreeMap;
pub use std::sync::{Arc, Mutex};
pub use std::time::SystemTime;

pub use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
pub use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
pub use aws_sdk_ecr::operation::describe_image_scan_findings::DescribeImageScanFindingsOutput;
pub use aws_sdk_ecr::operation::start_image_scan::StartImageScanOutput;
pub use aws_sdk_ecr::types::{
    Attribute, EnhancedImageScanFinding, FindingSeverity, Image, ImageIdentifier, ImageScanFinding,
    ImageScanFindings, ImageScanStatus, PackageVulnerabilityDetails, ScanStatus, VulnerablePackage,
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
pub use berth::platform::Platform;
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
        post_migration: None,
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

/// A gate whose ECR answers with `rules` (in order) and whose bucket holds the record. Where
/// `rules` give no `BatchGetImage` answer, every pinned image is a plain image manifest.
pub fn gate(ecr: &[&Rule], record: &Record) -> Context {
    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("ap-northeast-1"))
        .build();
    let mut clients = Clients::new(&config);
    let s3_rules = record.rules();
    clients.s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3_rules.iter());
    let plain = manifests(&[(digest_of(APP), DOCKER_MANIFEST, image_manifest())]);
    let rules = ecr.iter().copied().chain([&plain]);
    clients.ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    Context::new(clients, "rel")
}

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// `sha256:…` of `<repo>@sha256:…`.
pub fn digest_of(image: &str) -> String {
    image.split_once('@').unwrap().1.to_owned()
}

/// A Docker image manifest, as `docker push` stores one.
pub fn image_manifest() -> String {
    json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": format!("sha256:{}", "9".repeat(64))},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                    "digest": format!("sha256:{}", "8".repeat(64))}]
    })
    .to_string()
}

/// `BatchGetImage` answering each `(digest, media type, manifest)` asked for by digest, and
/// `ImageNotFound` for any other — only to a request that accepts both index media types: "When
/// you pull an image by digest, there is no conversion available" (ECR user guide).
pub fn manifests(known: &[(String, &str, String)]) -> Rule {
    let known: Vec<(String, String, String)> = known
        .iter()
        .map(|(d, m, b)| (d.clone(), m.to_string(), b.clone()))
        .collect();
    let accepts_indexes = |r: &aws_sdk_ecr::operation::batch_get_image::BatchGetImageInput| {
        let accepted = r.accepted_media_types();
        [
            OCI_INDEX,
            "application/vnd.docker.distribution.manifest.list.v2+json",
        ]
        .iter()
        .all(|m| accepted.iter().any(|a| a == m))
    };
    mock!(aws_sdk_ecr::Client::batch_get_image)
        .match_requests(accepts_indexes)
        .then_compute_output(move |r| {
            let asked = r
                .image_ids()
                .first()
                .and_then(|i| i.image_digest())
                .unwrap_or_default()
                .to_owned();
            let id = ImageIdentifier::builder().image_digest(&asked).build();
            match known.iter().find(|(d, _, _)| *d == asked) {
                Some((_, media_type, body)) => BatchGetImageOutput::builder()
                    .images(
                        Image::builder()
                            .image_id(id)
                            .image_manifest_media_type(media_type)
                            .image_manifest(body)
                            .build(),
                    )
                    .build(),
                None => BatchGetImageOutput::builder()
                    .failures(
                        aws_sdk_ecr::types::ImageFailure::builder()
                            .image_id(id)
                            .failure_code(aws_sdk_ecr::types::ImageFailureCode::ImageNotFound)
                            .failure_reason("Requested image not found")
                            .build(),
                    )
                    .build(),
            }
        })
}

/// What the task definition without a `runtimePlatform` runs on.
pub fn amd64() -> Result<Platform, String> {
    Ok(Platform::new("linux", "amd64"))
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
    play_on(gate, release, &amd64()).await
}

/// [`play`] for tasks that run on `runs_on`.
pub async fn play_on(
    gate: &Context,
    release: &ArtifactRelease,
    runs_on: &Result<Platform, String>,
) -> (JobResult, usize) {
    let mut progress = first();
    for n in 1..=10 {
        match gate
            .check(release, runs_on, progress.clone(), SystemTime::now())
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
