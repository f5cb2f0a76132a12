//! The release bucket: plain reads and conditional writes (S3 `If-None-Match` / `If-Match`),
//! which are what make at-least-once event delivery safe.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// An object read back with the identity needed to update it conditionally.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub value: T,
    pub etag: String,
    pub version_id: Option<String>,
}

/// What a conditional write requires of the current object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    None,
    /// The key must not exist yet.
    Absent,
    /// The current object must still have this ETag.
    Matches(&'a str),
}

/// Result of a write: the new version, or the condition no longer held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Ok {
        version_id: Option<String>,
        etag: String,
    },
    ConditionFailed,
}

#[derive(Debug, Clone)]
pub struct Bucket {
    pub s3: aws_sdk_s3::Client,
    pub name: String,
}

/// What a read found.
#[derive(Debug, Clone)]
pub enum Read {
    Found(Object),
    Missing,
    /// Larger than the caller's limit (its size in bytes); the body was not read.
    TooLarge(u64),
}

/// Bytes of an object with its version and size.
#[derive(Debug, Clone)]
pub struct Object {
    pub body: Vec<u8>,
    pub etag: String,
    pub version_id: Option<String>,
}

impl Bucket {
    pub fn new(s3: aws_sdk_s3::Client, name: impl Into<String>) -> Self {
        Self {
            s3,
            name: name.into(),
        }
    }

    /// Reads `key` (at `version_id` if given), `limit` bytes at most: a larger object is
    /// [`Read::TooLarge`] without reading its body.
    pub async fn get(
        &self,
        key: &str,
        version_id: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Read> {
        let resp = self
            .s3
            .get_object()
            .bucket(&self.name)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await;
        let out = match resp {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(Read::Missing),
            Err(e) => return Err(Error::sdk(format!("s3:GetObject s3://{}/{key}", self.name))(e)),
        };
        let size = out.content_length().unwrap_or(0).max(0) as u64;
        if let Some(limit) = limit
            && size > limit
        {
            return Ok(Read::TooLarge(size));
        }
        let etag = out.e_tag().unwrap_or_default().to_owned();
        let version_id = out.version_id().map(str::to_owned);
        let body = out
            .body
            .collect()
            .await
            .map_err(Error::aws(format!("reading s3://{}/{key}", self.name)))?
            .into_bytes()
            .to_vec();
        Ok(Read::Found(Object {
            body,
            etag,
            version_id,
        }))
    }

    /// Reads a JSON document berth wrote itself; an unreadable one is `Error::Corrupt`.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Stored<T>>> {
        let Read::Found(obj) = self.get(key, None, None).await? else {
            return Ok(None);
        };
        let value = serde_json::from_slice(&obj.body).map_err(|e| {
            Error::Corrupt(format!(
                "s3://{}/{key} is not a valid record: {e}",
                self.name
            ))
        })?;
        Ok(Some(Stored {
            value,
            etag: obj.etag,
            version_id: obj.version_id,
        }))
    }

    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Condition<'_>,
    ) -> Result<Written> {
        self.put_with_metadata(key, body, content_type, condition, &[])
            .await
    }

    /// [`Bucket::put`] with user metadata (`x-amz-meta-*`) on the new version.
    pub async fn put_with_metadata(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Condition<'_>,
        metadata: &[(&str, &str)],
    ) -> Result<Written> {
        let mut req = self
            .s3
            .put_object()
            .bucket(&self.name)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        for (k, v) in metadata {
            req = req.metadata(*k, *v);
        }
        req = match condition {
            Condition::None => req,
            Condition::Absent => req.if_none_match("*"),
            Condition::Matches(etag) => req.if_match(etag),
        };
        match req.send().await {
            Ok(out) => Ok(Written::Ok {
                version_id: out.version_id().map(str::to_owned),
                etag: out.e_tag().unwrap_or_default().to_owned(),
            }),
            Err(e) if condition != Condition::None && is_condition_failure(&e) => {
                Ok(Written::ConditionFailed)
            }
            Err(e) => Err(Error::sdk(format!("s3:PutObject s3://{}/{key}", self.name))(e)),
        }
    }

    pub async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        condition: Condition<'_>,
    ) -> Result<Written> {
        let mut body = serde_json::to_vec_pretty(value)
            .map_err(|e| Error::Corrupt(format!("serializing {key}: {e}")))?;
        body.push(b'\n');
        self.put(key, body, "application/json", condition).await
    }
}

impl Bucket {
    /// The newest version of `key` (among its latest `window` versions) whose user metadata
    /// has `name` = `value`. Used only when resuming a crashed release.
    pub async fn find_version(
        &self,
        key: &str,
        name: &str,
        value: &str,
        window: i32,
    ) -> Result<Option<String>> {
        let listed = self
            .s3
            .list_object_versions()
            .bucket(&self.name)
            .prefix(key)
            .max_keys(window)
            .send()
            .await
            .map_err(Error::sdk(format!(
                "s3:ListObjectVersions s3://{}/{key}",
                self.name
            )))?;
        for v in listed.versions().iter().filter(|v| v.key() == Some(key)) {
            let Some(id) = v.version_id() else { continue };
            let head = self
                .s3
                .head_object()
                .bucket(&self.name)
                .key(key)
                .version_id(id)
                .send()
                .await
                .map_err(Error::sdk(format!(
                    "s3:HeadObject s3://{}/{key}",
                    self.name
                )))?;
            if head
                .metadata()
                .and_then(|m| m.get(name))
                .map(String::as_str)
                == Some(value)
            {
                return Ok(Some(id.to_owned()));
            }
        }
        Ok(None)
    }
}

fn is_missing<R>(e: &SdkError<GetObjectError, R>) -> bool {
    match e {
        SdkError::ServiceError(se) => {
            matches!(se.err(), GetObjectError::NoSuchKey(_))
                || matches!(
                    se.err().code(),
                    Some("NoSuchKey" | "NoSuchVersion" | "NotFound")
                )
        }
        _ => false,
    }
}

/// 412 PreconditionFailed, or 409 ConditionalRequestConflict when another writer raced us.
fn is_condition_failure<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::ServiceError(se) => matches!(
            se.err().code(),
            Some("PreconditionFailed" | "ConditionalRequestConflict")
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::head_object::HeadObjectOutput;
    use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
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
    /// during the upload, S3 returns a 409 ConditionalRequestConflict response." Both mean
    /// another writer won, not a fault.
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
                409,
                "ConditionalRequestConflict",
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
        }
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
        let head = mock!(aws_sdk_s3::Client::head_object)
            .then_output(|| HeadObjectOutput::builder().build());
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
}
