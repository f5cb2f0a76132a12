//! The release bucket: plain reads and conditional writes (S3 `If-None-Match` / `If-Match`),
//! which are what make at-least-once event delivery safe.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::retry::{self, Jitter, Policy};

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
    ///
    /// A conditional write S3 answers `409 ConditionalRequestConflict` wrote nothing and decided
    /// nothing about the condition, so it is sent again (same condition) under
    /// [`retry::CONDITIONAL_CONFLICT`]; only `412 PreconditionFailed` is
    /// [`Written::ConditionFailed`]. PutObject API reference, `If-None-Match`: "Otherwise, Amazon
    /// S3 returns a 412 Precondition Failed error. If a conflicting operation occurs during the
    /// upload S3 returns a 409 ConditionalRequestConflict response. On a 409 failure you should
    /// retry the upload." (`If-Match`: "On a 409 failure you should fetch the object's ETag and
    /// retry the upload." Sending the same ETag again keeps the update optimistic: it lands if
    /// the object is still the one read, and is a 412 if not, which the caller re-reads on.)
    pub async fn put_with_metadata(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Condition<'_>,
        metadata: &[(&str, &str)],
    ) -> Result<Written> {
        let policy = retry::CONDITIONAL_CONFLICT;
        let action = || format!("s3:PutObject s3://{}/{key}", self.name);
        let mut jitter = Jitter::new();
        let mut attempt = 0;
        loop {
            attempt += 1;
            policy.pause_before(attempt, &mut jitter).await;
            // Boxed: the SDK's send future inside this loop is too deep for rustc's layout of
            // the functions' handlers otherwise ("queries overflow the depth limit").
            let sent =
                Box::pin(self.put_once(key, body.clone(), content_type, condition, metadata)).await;
            let e = match sent {
                Ok(out) => {
                    return Ok(Written::Ok {
                        version_id: out.version_id().map(str::to_owned),
                        etag: out.e_tag().unwrap_or_default().to_owned(),
                    });
                }
                Err(e) if condition == Condition::None => return Err(Error::sdk(action())(e)),
                Err(e) => e,
            };
            match error_code(&e) {
                Some("PreconditionFailed") => return Ok(Written::ConditionFailed),
                Some("ConditionalRequestConflict") if attempt < policy.attempts => continue,
                Some("ConditionalRequestConflict") => {
                    let action = format!("{} ({})", action(), policy.gave_up());
                    return Err(Error::sdk(action)(e).transient());
                }
                _ => return Err(Error::sdk(action())(e)),
            }
        }
    }

    /// One PutObject request, its answer as the SDK gave it.
    async fn put_once(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        condition: Condition<'_>,
        metadata: &[(&str, &str)],
    ) -> std::result::Result<PutObjectOutput, SdkError<PutObjectError, HttpResponse>> {
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
        req.send().await
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

    /// Reads the JSON document at `key`, applies `edit`, and writes it back if the edit asks to
    /// (`If-Match` on the ETag just read), re-reading under `policy` when another writer changed
    /// it in between. `None`: the policy gave up.
    pub async fn edit_json<T, V>(
        &self,
        key: &str,
        policy: Policy,
        mut edit: impl FnMut(&mut T) -> Change<V>,
    ) -> Result<Option<Edited<T, V>>>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut jitter = Jitter::new();
        for attempt in 1..=policy.attempts {
            policy.pause_before(attempt, &mut jitter).await;
            let Some(stored) = self.get_json::<T>(key).await? else {
                return Ok(Some(Edited::Missing));
            };
            let mut doc = stored.value;
            let value = match edit(&mut doc) {
                Change::Keep(value) => return Ok(Some(Edited::Kept(value, doc))),
                Change::Write(value) => value,
            };
            let condition = Condition::Matches(&stored.etag);
            if let Written::Ok { .. } = self.put_json(key, &doc, condition).await? {
                return Ok(Some(Edited::Written(value, doc)));
            }
        }
        Ok(None)
    }
}

/// What an edit decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<T> {
    /// Write the edited document.
    Write(T),
    /// Nothing to write (the document already says it, or the change does not apply).
    Keep(T),
}

/// What [`Bucket::edit_json`] did: the edit's value and the document as it now is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edited<T, V> {
    Written(V, T),
    Kept(V, T),
    /// There is no document at that key.
    Missing,
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

/// The error code of a service's answer (`PreconditionFailed`, `ConditionalRequestConflict`, ...).
fn error_code<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
