//! SDK paths an emulator cannot produce, with aws-smithy-mocks: throttling, ECR's per-image
//! failures, and S3 failing in the middle of a release.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::time::{Duration, SystemTime};

use aws_sdk_codepipeline::operation::start_pipeline_execution::StartPipelineExecutionOutput;
use aws_sdk_ecr::operation::batch_get_image::BatchGetImageOutput;
use aws_sdk_ecr::types::{Image, ImageFailure, ImageFailureCode, ImageIdentifier};
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::RetryConfig;
use berth::aws::Clients;
use berth::images::{self, ImageRef};
use berth::on_manifest::{Context, Upload};
use berth::settings::Settings;

const REPO: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app";
const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn image(tag: &str, digest: &str) -> Image {
    Image::builder()
        .repository_name("web/app")
        .registry_id("123456789012")
        .image_id(
            ImageIdentifier::builder()
                .image_tag(tag)
                .image_digest(digest)
                .build(),
        )
        .build()
}

fn retrying(c: aws_sdk_ecr::config::Builder) -> aws_sdk_ecr::config::Builder {
    c.retry_config(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1)),
    )
}

#[tokio::test]
async fn ecr_throttling_is_retried_and_one_call_per_repository_is_made() {
    let rule = mock!(aws_sdk_ecr::Client::batch_get_image)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(|| {
            BatchGetImageOutput::builder()
                .images(image("v1", DIGEST))
                .images(image("v2", DIGEST))
                .build()
        })
        .build();
    let ecr = mock_client!(aws_sdk_ecr, RuleMode::Sequential, [&rule], retrying);
    let refs = ["v1", "v2"].map(|t| ImageRef::parse(&format!("{REPO}:{t}")).unwrap());
    let resolved = images::resolve(|_| ecr.clone(), refs.clone())
        .await
        .expect("retried");
    assert_eq!(
        rule.num_calls(),
        2,
        "one throttled call, one answered: both tags in one call"
    );
    for r in &refs {
        assert_eq!(resolved.digests[r], Ok(DIGEST.to_owned()));
    }
}

#[tokio::test]
async fn ecr_failures_are_per_image_answers_not_faults() {
    let rule = mock!(aws_sdk_ecr::Client::batch_get_image).then_output(|| {
        BatchGetImageOutput::builder()
            .images(image("v1", DIGEST))
            .failures(
                ImageFailure::builder()
                    .image_id(ImageIdentifier::builder().image_tag("gone").build())
                    .failure_code(ImageFailureCode::ImageNotFound)
                    .failure_reason("Requested image not found")
                    .build(),
            )
            .build()
    });
    let ecr = mock_client!(aws_sdk_ecr, [&rule]);
    let v1 = ImageRef::parse(&format!("{REPO}:v1")).unwrap();
    let gone = ImageRef::parse(&format!("{REPO}:gone")).unwrap();
    let resolved = images::resolve(|_| ecr.clone(), [v1.clone(), gone.clone()])
        .await
        .unwrap();
    assert_eq!(resolved.digests[&v1], Ok(DIGEST.into()));
    let err = resolved.digests[&gone].clone().unwrap_err();
    assert!(
        err.contains("\"gone\" not found") && err.contains("Requested image not found"),
        "{err}"
    );

    let missing_repo = mock!(aws_sdk_ecr::Client::batch_get_image).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(
                r#"{"__type":"RepositoryNotFoundException","message":"no such repository"}"#,
            ),
        )
    });
    let ecr = mock_client!(aws_sdk_ecr, [&missing_repo]);
    let resolved = images::resolve(|_| ecr.clone(), [v1.clone()])
        .await
        .unwrap();
    assert!(
        resolved.digests[&v1]
            .clone()
            .unwrap_err()
            .contains("does not exist")
    );

    // A repository berth's role may not read (another region's, say) is the release's problem,
    // named, not a fault Lambda would retry until the event lands in the failed-events queue.
    let denied = mock!(aws_sdk_ecr::Client::batch_get_image).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(400).unwrap(),
            SdkBody::from(
                r#"{"__type":"AccessDeniedException","message":"User is not authorized to perform: ecr:BatchGetImage"}"#,
            ),
        )
    });
    let ecr = mock_client!(aws_sdk_ecr, [&denied]);
    let resolved = images::resolve(|_| ecr.clone(), [v1.clone()])
        .await
        .expect("a refusal is an answer");
    let why = resolved.digests[&v1].clone().unwrap_err();
    assert!(
        why.contains(
            "may not read repository 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app"
        ),
        "{why}"
    );

    let broken = mock!(aws_sdk_ecr::Client::batch_get_image).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(500).unwrap(),
            SdkBody::from(r#"{"__type":"ServerException","message":"internal"}"#),
        )
    });
    let ecr = mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&broken], |c| c
        .retry_config(RetryConfig::disabled()));
    let err = images::resolve(|_| ecr.clone(), [v1]).await.unwrap_err();
    assert!(err.to_string().contains("ecr:BatchGetImage"), "{err}");
}

const REGISTRY: &str = r#"{"service":"web","cluster":"prod","ecs_service":"web","pipeline":"berth-web",
  "task_family":"web","containers":{"app":"web/app"},
  "appspec":{"container":"app","port":80}}"#;

const RUNNING: &str = r#"{"services":[{"serviceName":"web","status":"ACTIVE",
  "deploymentController":{"type":"CODE_DEPLOY"},
  "taskSets":[{"status":"PRIMARY","taskDefinition":"arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:3"}]}],
  "failures":[]}"#;

const TASKDEF: &str = r#"{"taskDefinition":{"family":"web","revision":3,"status":"ACTIVE",
  "containerDefinitions":[{"name":"app","image":"123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app:v0"}]}}"#;

/// A release whose artifact write fails with S3 500s: `Err` (so Lambda retries), the claim on
/// the release is handed back, and no pipeline starts.
#[tokio::test]
async fn s3_failing_on_the_artifact_write_is_an_error_that_leaves_nothing_blocking() {
    let manifest = format!(
        r#"{{"schema":"berth/v1","service":"web","release":"v1","images":{{"app":"{REPO}:v1"}}}}"#
    );
    let no_record = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("releases/web/v1.json"))
        .then_error(|| {
            GetObjectError::NoSuchKey(aws_sdk_s3::types::error::NoSuchKey::builder().build())
        });
    let manifest_body = manifest.clone();
    let get_manifest = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| {
            r.key() == Some("manifests/web/v1.json") && r.version_id() == Some("m1")
        })
        .then_output(move || {
            GetObjectOutput::builder()
                .content_length(manifest_body.len() as i64)
                .body(ByteStream::from(manifest_body.clone().into_bytes()))
                .build()
        });
    let record_writes = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("releases/web/v1.json"))
        .then_output(|| {
            PutObjectOutput::builder()
                .e_tag("\"e1\"")
                .version_id("r1")
                .build()
        });
    let index_write = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key().is_some_and(|k| k.starts_with("index/")))
        .then_output(|| PutObjectOutput::builder().e_tag("\"i\"").build());
    let artifact_write = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.key() == Some("artifacts/web/source.zip"))
        .then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                StatusCode::try_from(500).unwrap(),
                SdkBody::from("<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"),
            )
        });
    let s3 = mock_client!(
        aws_sdk_s3,
        RuleMode::MatchAny,
        [
            &no_record,
            &get_manifest,
            &record_writes,
            &index_write,
            &artifact_write
        ],
        |c| c.retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1))
        )
    );
    let ssm_rule = mock!(aws_sdk_ssm::Client::get_parameter).then_output(|| {
        GetParameterOutput::builder()
            .parameter(
                Parameter::builder()
                    .name("/berth/services/web")
                    .value(REGISTRY)
                    .build(),
            )
            .build()
    });
    let running = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(200).unwrap(),
            SdkBody::from(RUNNING),
        )
    });
    let ecs_rule = mock!(aws_sdk_ecs::Client::describe_task_definition).then_http_response(|| {
        aws_smithy_runtime_api::http::Response::new(
            StatusCode::try_from(200).unwrap(),
            SdkBody::from(TASKDEF),
        )
    });
    let ecr_rule = mock!(aws_sdk_ecr::Client::batch_get_image).then_output(|| {
        BatchGetImageOutput::builder()
            .images(image("v1", DIGEST))
            .build()
    });
    let start = mock!(aws_sdk_codepipeline::Client::start_pipeline_execution).then_output(|| {
        StartPipelineExecutionOutput::builder()
            .pipeline_execution_id("x")
            .build()
    });

    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("ap-northeast-1"))
        .build();
    let mut clients = Clients::new(&config);
    clients.s3 = s3;
    clients.ssm = mock_client!(aws_sdk_ssm, [&ssm_rule]);
    clients.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&running, &ecs_rule]);
    clients.ecr = mock_client!(aws_sdk_ecr, [&ecr_rule]);
    clients.codepipeline = mock_client!(aws_sdk_codepipeline, [&start]);
    let settings = Settings {
        release_bucket: "rel".into(),
        services_prefix: "/berth/services/".into(),
        verify_function: None,
    };
    let releaser = Context::new(clients, settings);
    let upload = Upload {
        bucket: "rel".into(),
        key: "manifests/web/v1.json".into(),
        version_id: Some("m1".into()),
    };
    let home = berth::images::Home {
        account_id: "123456789012".into(),
        region: "ap-northeast-1".into(),
    };
    let now = SystemTime::now();
    let err = releaser
        .release(&upload, &home, now, now + Duration::from_secs(60))
        .await
        .expect_err("an S3 fault is retryable");
    assert!(
        err.to_string()
            .contains("s3:PutObject s3://rel/artifacts/web/source.zip"),
        "{err}"
    );
    assert_eq!(
        artifact_write.num_calls(),
        2,
        "the SDK retried the 500 once"
    );
    assert_eq!(start.num_calls(), 0, "no pipeline without an artifact");
    assert_eq!(
        record_writes.num_calls(),
        2,
        "the release was claimed, then handed back for the retry"
    );
}

/// Every CodePipeline job action has one shape (`berth::jobs::Action`): a stand-in action shows
/// what `jobs::handle` does for any of them.
mod job_actions {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::SystemTime;

    use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
    use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput;
    use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
    use aws_smithy_mocks::{mock, mock_client};
    use berth::jobs::{self, Action, JobResult, Output};
    use serde_json::json;

    struct StandIn {
        codepipeline: aws_sdk_codepipeline::Client,
        runs: AtomicUsize,
    }

    impl Action for StandIn {
        const FUNCTION: &'static str = "stand-in";

        fn codepipeline(&self) -> &aws_sdk_codepipeline::Client {
            &self.codepipeline
        }

        async fn run(&self, _job: &CodePipelineJob, job_id: &str, _now: SystemTime) -> JobResult {
            self.runs.fetch_add(1, Ordering::Relaxed);
            JobResult::Success {
                summary: format!("ran {job_id}"),
                variables: [("DONE".to_owned(), "yes".to_owned())].into(),
                external_id: None,
            }
        }
    }

    fn job(id: &str) -> serde_json::Value {
        json!({"CodePipeline.job": {"id": id, "accountId": "123456789012", "data": {
            "actionConfiguration": {"configuration": {"FunctionName": "berth-stand-in"}},
            "inputArtifacts": [], "outputArtifacts": [], "artifactCredentials": {}}}})
    }

    #[tokio::test]
    async fn a_job_is_run_once_and_its_one_result_reported() {
        let success = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
            .match_requests(|r| {
                r.job_id() == Some("job-1")
                    && r.execution_details().and_then(|d| d.summary()) == Some("ran job-1")
            })
            .then_output(|| PutJobSuccessResultOutput::builder().build());
        let action = StandIn {
            codepipeline: mock_client!(aws_sdk_codepipeline, [&success]),
            runs: AtomicUsize::new(0),
        };
        let out = jobs::handle(&action, job("job-1")).await.unwrap();
        assert_eq!(
            out,
            Output::Success {
                variables: [("DONE".to_owned(), "yes".to_owned())].into()
            }
        );
        assert_eq!(action.runs.load(Ordering::Relaxed), 1);
        assert_eq!(success.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_job_that_cannot_be_read_is_failed_naming_the_function_and_never_run() {
        let failure = mock!(aws_sdk_codepipeline::Client::put_job_failure_result)
            .match_requests(|r| {
                r.job_id() == Some("job-2")
                    && r.failure_details()
                        .is_some_and(|d| d.message().starts_with("berth stand-in cannot read"))
            })
            .then_output(|| PutJobFailureResultOutput::builder().build());
        let action = StandIn {
            codepipeline: mock_client!(aws_sdk_codepipeline, [&failure]),
            runs: AtomicUsize::new(0),
        };
        let unreadable = json!({"CodePipeline.job": {"id": "job-2", "data": 7}});
        let out = jobs::handle(&action, unreadable).await.unwrap();
        assert!(matches!(out, Output::Failure { .. }), "{out:?}");
        assert_eq!(failure.num_calls(), 1);
        assert_eq!(action.runs.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn an_event_that_is_no_job_is_ignored_without_a_call() {
        let action = StandIn {
            codepipeline: mock_client!(aws_sdk_codepipeline, []),
            runs: AtomicUsize::new(0),
        };
        let out = jobs::handle(&action, json!({"detail-type": "something else"}))
            .await
            .unwrap();
        assert!(matches!(out, Output::Ignored { .. }), "{out:?}");
        assert_eq!(action.runs.load(Ordering::Relaxed), 0);
    }
}

/// S3 answers a create-only write `409 ConditionalRequestConflict` when a concurrent operation
/// won the moment; nothing was written (PutObject API reference, If-None-Match: "If a
/// conflicting operation occurs during the upload S3 returns a 409 ConditionalRequestConflict
/// response. On a 409 failure you should retry the upload."). The push's manifest is written on
/// the retry, not reported as already there and left to the sweep.
#[tokio::test]
async fn a_push_whose_manifest_write_meets_a_409_conflict_writes_it_on_the_retry() {
    use aws_sdk_ssm::operation::get_parameters::GetParametersOutput;
    use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathOutput;
    use berth::on_image_push::{Context as Pushes, Outcome};

    let entry = r#"{"service":"web","cluster":"prod","ecs_service":"web","pipeline":"berth-web",
      "task_family":"web","containers":{"app":"web/app"},"appspec":{"container":"app","port":80},
      "push_trigger":{"container":"app","tag_pattern":"^v[0-9]+$"}}"#;
    let index = mock!(aws_sdk_ssm::Client::get_parameters_by_path)
        .match_requests(|r| r.path() == Some("/berth/push-index/web/app"))
        .then_output(|| {
            GetParametersByPathOutput::builder()
                .parameters(
                    Parameter::builder()
                        .name("/berth/push-index/web/app/web")
                        .value("web")
                        .build(),
                )
                .build()
        });
    let registry = mock!(aws_sdk_ssm::Client::get_parameters).then_output(move || {
        GetParametersOutput::builder()
            .parameters(
                Parameter::builder()
                    .name("/berth/services/web")
                    .value(entry)
                    .build(),
            )
            .build()
    });
    let manifest_write = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| {
            r.key() == Some("manifests/web/v7.json") && r.if_none_match() == Some("*")
        })
        .sequence()
        .http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                StatusCode::try_from(409).unwrap(),
                SdkBody::from(
                    "<Error><Code>ConditionalRequestConflict</Code><Message>m</Message></Error>",
                ),
            )
        })
        .output(|| {
            PutObjectOutput::builder()
                .e_tag("\"m\"")
                .version_id("m1")
                .build()
        })
        .build();
    let config = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("ap-northeast-1"))
        .build();
    let mut clients = Clients::new(&config);
    clients.s3 = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&manifest_write]);
    clients.ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, [&index, &registry]);
    let settings = Settings {
        release_bucket: "rel".into(),
        services_prefix: "/berth/services/".into(),
        verify_function: None,
    };
    let event = serde_json::from_value(serde_json::json!({
        "version": "0", "id": "e1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": "123456789012", "time": "2024-01-01T00:00:00Z", "region": "ap-northeast-1",
        "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "web/app", "image-digest": DIGEST,
          "action-type": "PUSH", "image-tag": "v7"}
    }))
    .unwrap();
    let inv = berth::invocation::Invocation::new(
        "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-on-image-push",
        0,
    );
    let out = Pushes::new(&clients, &settings)
        .on_event(event, &inv)
        .await
        .unwrap();
    assert_eq!(
        out.results,
        vec![Outcome::Written {
            service: "web".into(),
            release: "v7".into(),
            key: "manifests/web/v7.json".into(),
            version_id: Some("m1".into()),
        }]
    );
    assert_eq!(manifest_write.num_calls(), 2, "the 409, then the write");
}
