use super::*;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::head_object::HeadObjectOutput;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::ObjectVersion;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

fn s3_error(status: u16, code: &str) -> Response {
    Response::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            "<Error><Code>{code}</Code><Message>m</Message></Error>"
        )),
    )
}

/// S3's conditional-write answers (PutObject API reference, If-None-Match): "Otherwise,
/// Amazon S3 returns a 412 Precondition Failed error. If a conflicting operation occurs
/// during the upload S3 returns a 409 ConditionalRequestConflict response. On a 409 failure
/// you should retry the upload." A 412 means another writer won: an answer, not a fault.
#[tokio::test]
async fn lost_conditional_writes_are_answers_and_other_failures_are_faults() {
    for (status, code, condition, want) in [
        (
            412,
            "PreconditionFailed",
            Condition::Absent,
            Some(Written::ConditionFailed),
        ),
        (
            412,
            "PreconditionFailed",
            Condition::Matches("\"e\""),
            Some(Written::ConditionFailed),
        ),
        (412, "PreconditionFailed", Condition::None, None),
        (403, "AccessDenied", Condition::Absent, None),
    ] {
        let rule = mock!(aws_sdk_s3::Client::put_object)
            .then_http_response(move || s3_error(status, code));
        let s3 = mock_client!(aws_sdk_s3, [&rule]);
        let got = Bucket::new(s3, "rel")
            .put("k", b"{}".to_vec(), "application/json", condition)
            .await;
        match (got, want) {
            (Ok(w), Some(want)) => assert_eq!(w, want, "{code}"),
            (Err(e), None) => assert!(e.to_string().contains("s3:PutObject s3://rel/k"), "{e}"),
            (got, want) => panic!("{code} {condition:?}: got {got:?}, want {want:?}"),
        }
        assert_eq!(
            rule.num_calls(),
            1,
            "{code} {condition:?} is not sent again"
        );
    }
}

/// A 409 wrote nothing ("On a 409 failure you should retry the upload"): taking it for "already
/// exists" would drop a push's manifest until the sweep found it.
#[tokio::test]
async fn a_409_conflict_on_a_create_only_write_is_retried_and_the_object_is_created_once() {
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.if_none_match() == Some("*"))
        .sequence()
        .http_response(|| s3_error(409, "ConditionalRequestConflict"))
        .output(|| {
            PutObjectOutput::builder()
                .e_tag("\"e1\"")
                .version_id("v1")
                .build()
        })
        .build();
    let s3 = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);
    let got = Bucket::new(s3, "rel")
        .put("k", b"{}".to_vec(), "application/json", Condition::Absent)
        .await
        .unwrap();
    let created = Written::Ok {
        version_id: Some("v1".into()),
        etag: "\"e1\"".into(),
    };
    assert_eq!((got, rule.num_calls()), (created, 2));
}

/// The update is sent again with the same ETag: if the object changed meanwhile, S3's 412 says
/// so and the caller re-reads; it is never overwritten blindly.
#[tokio::test]
async fn a_409_conflict_on_an_update_is_retried_with_the_same_etag_and_a_412_then_is_lost() {
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| r.if_match() == Some("\"e0\""))
        .sequence()
        .http_response(|| s3_error(409, "ConditionalRequestConflict"))
        .http_response(|| s3_error(412, "PreconditionFailed"))
        .build();
    let s3 = mock_client!(aws_sdk_s3, RuleMode::Sequential, [&rule]);
    let got = Bucket::new(s3, "rel")
        .put(
            "k",
            b"{}".to_vec(),
            "application/json",
            Condition::Matches("\"e0\""),
        )
        .await
        .unwrap();
    assert_eq!((got, rule.num_calls()), (Written::ConditionFailed, 2));
}

#[tokio::test]
async fn a_409_conflict_that_persists_is_a_fault_lambda_retries_not_an_answer() {
    let rule = mock!(aws_sdk_s3::Client::put_object)
        .then_http_response(|| s3_error(409, "ConditionalRequestConflict"));
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
    let err = Bucket::new(s3, "rel")
        .put("k", b"{}".to_vec(), "application/json", Condition::Absent)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("gave up"), "{err}");
    assert_eq!(
        rule.num_calls(),
        crate::retry::CONDITIONAL_CONFLICT.attempts as usize
    );
}

#[tokio::test]
async fn reads_tell_missing_and_too_large_apart_without_reading_the_body() {
    let missing = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("gone"))
        .then_http_response(|| s3_error(404, "NoSuchKey"));
    let big = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("big"))
        .then_output(|| {
            GetObjectOutput::builder()
                .content_length(300 * 1024)
                .body(ByteStream::from_static(b"never read"))
                .build()
        });
    let ok = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("ok"))
        .then_output(|| {
            GetObjectOutput::builder()
                .content_length(2)
                .e_tag("\"e1\"")
                .version_id("v1")
                .body(ByteStream::from_static(b"{}"))
                .build()
        });
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&missing, &big, &ok]);
    let bucket = Bucket::new(s3, "rel");
    assert!(matches!(
        bucket.get("gone", None, None).await,
        Ok(Read::Missing)
    ));
    assert!(matches!(
        bucket.get("big", None, Some(256 * 1024)).await,
        Ok(Read::TooLarge(307_200))
    ));
    match bucket.get("ok", Some("v1"), Some(10)).await {
        Ok(Read::Found(o)) => {
            assert_eq!((o.body.as_slice(), o.etag.as_str()), (&b"{}"[..], "\"e1\""));
            assert_eq!(o.version_id.as_deref(), Some("v1"));
        }
        other => panic!("{other:?}"),
    }
    let stored: Option<Stored<serde_json::Value>> = bucket.get_json("ok").await.unwrap();
    assert_eq!(stored.unwrap().etag, "\"e1\"");
}

#[tokio::test]
async fn the_version_with_the_metadata_is_found_among_the_recent_ones() {
    let list = mock!(aws_sdk_s3::Client::list_object_versions).then_output(|| {
        let v = |id: &str| ObjectVersion::builder().key("a.zip").version_id(id).build();
        ListObjectVersionsOutput::builder()
            .versions(v("new"))
            .versions(v("old"))
            .versions(
                ObjectVersion::builder()
                    .key("a.zip.bak")
                    .version_id("x")
                    .build(),
            )
            .build()
    });
    let head =
        mock!(aws_sdk_s3::Client::head_object).then_output(|| HeadObjectOutput::builder().build());
    let head_match = mock!(aws_sdk_s3::Client::head_object)
        .match_requests(|r| r.version_id() == Some("old"))
        .then_output(|| {
            HeadObjectOutput::builder()
                .metadata("berth-manifest-version", "m7")
                .build()
        });
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&list, &head_match, &head]);
    let found = Bucket::new(s3, "rel")
        .find_version("a.zip", "berth-manifest-version", "m7", 20)
        .await
        .unwrap();
    assert_eq!(found.as_deref(), Some("old"));
    assert_eq!(
        head_match.num_calls() + head.num_calls(),
        2,
        "a.zip.bak is not looked at"
    );
}
