//! The release protocol of one manifest upload: check it, claim the release, deploy it (or
//! reject it). Delivery is at least once, so the release record is the guard: it is created
//! with `If-None-Match: *`, updated with `If-Match`, and carries a lease so a retry after a
//! crash resumes where the crashed invocation stopped, while a duplicate of a finished
//! delivery changes nothing. The decisions are [`crate::claim::decide`]; this is the I/O.

use std::time::SystemTime;

use serde::Serialize;

use super::{Context, Outcome, Rendered, Rendering, Upload, render};
use crate::claim::{self, Claim};
use crate::error::{Error, Result};
use crate::images::Home;
use crate::keys::{self, MAX_MANIFEST_BYTES, ManifestKey};
use crate::manifest::{self, Problem, ValidManifest};
use crate::record::{ReleaseRecord, epoch_seconds};
use crate::registry::{Lookup, Service};
use crate::render::ManifestSource;
use crate::store::{Condition, Read};

/// A manifest that passed every check, rendered.
pub(super) struct Valid {
    pub service: Service,
    pub manifest: ValidManifest,
    pub rendered: Rendered,
    pub source: ManifestSource,
}

/// What the checks found.
pub(super) enum Checked {
    Valid(Box<Valid>),
    /// Every problem found, for the rejection.
    Invalid(Vec<String>),
    /// The manifest version no longer exists (deleted before this delivery).
    Gone(String),
}

/// Why an upload's bytes could not be read.
pub(super) enum Unread {
    /// The version no longer exists (deleted before this delivery).
    Gone(String),
    /// Too large to read: the rejection's problems.
    Invalid(Vec<String>),
}

/// Where the claim left this delivery.
pub(super) enum Claiming {
    Claimed(Box<Claimed>),
    Finished(Outcome),
}

/// The record this invocation owns, with the ETag of its last write.
#[derive(Debug)]
pub(super) struct Claimed {
    pub key: String,
    pub record: ReleaseRecord,
    pub etag: String,
    /// Taken over from a crashed invocation of the same upload.
    pub resumed: bool,
}

/// `rejected/<service>/<release>.json` (docs/design/contract.md §3).
#[derive(Debug, Serialize)]
struct Rejection<'a> {
    manifest: &'a str,
    version_id: Option<&'a str>,
    errors: &'a [String],
}

impl Context {
    /// Processes one manifest upload. `lease_until` is this invocation's deadline: until then
    /// no other delivery of the same upload takes the release over.
    pub async fn release(
        &self,
        upload: &Upload,
        home: &Home,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Outcome> {
        if upload.bucket != self.bucket.name {
            let reason = format!(
                "object is in bucket {:?}, not the release bucket {:?}",
                upload.bucket, self.bucket.name
            );
            return Ok(Outcome::Ignored { reason });
        }
        let Some(version_id) = upload.version_id.as_deref() else {
            return Err(Error::Config(format!(
                "s3://{}/{} arrived without a version id: the release bucket must have versioning enabled",
                upload.bucket, upload.key
            )));
        };
        if upload.key.starts_with("groups/") {
            return Box::pin(self.release_group(upload, version_id, home, now, lease_until)).await;
        }
        let key = match ManifestKey::parse(&upload.key) {
            Ok(k) => k,
            Err(e) => {
                let rejection = keys::rejected_key_for(&upload.key);
                return self.reject(upload, rejection, vec![e.to_string()]).await;
            }
        };
        let valid = match self.check(upload, version_id, &key, home).await? {
            Checked::Valid(v) => *v,
            Checked::Gone(reason) => return Ok(Outcome::Ignored { reason }),
            Checked::Invalid(errors) => {
                return self.reject_unless_released(upload, &key, errors, now).await;
            }
        };
        match self.claim(upload, &key, &valid, now, lease_until).await? {
            Claiming::Claimed(claimed) => self.deploy_or_hand_back(*claimed, &valid, now).await,
            Claiming::Finished(outcome) => Ok(outcome),
        }
    }

    /// Reads the manifest and the registry entry (concurrently), validates, and renders.
    async fn check(
        &self,
        upload: &Upload,
        version_id: &str,
        key: &ManifestKey,
        home: &Home,
    ) -> Result<Checked> {
        // The registry entry's name comes from the object key, so both reads go out at once,
        // and with them the template's read where an earlier release found the service.
        let ahead = self.seen.read_ahead(&self.clients.ecs, &key.service);
        let (body, lookup) = tokio::join!(
            self.manifest_body(upload, version_id),
            self.registry.service(&key.service, home),
        );
        let body = match body? {
            Ok(body) => body,
            Err(Unread::Gone(reason)) => return Ok(Checked::Gone(reason)),
            Err(Unread::Invalid(errors)) => return Ok(Checked::Invalid(errors)),
        };
        let (service, mut errors) = match lookup? {
            Lookup::Found(s) => {
                let cfg = &s.config;
                if let Some(ecs_service) = &cfg.ecs_service {
                    self.seen.remember(&key.service, &cfg.cluster, ecs_service);
                }
                (Some(*s), Vec::new())
            }
            Lookup::Unusable(reasons) => (None, reasons),
        };
        let manifest = match manifest::validate(&body, key, service.as_ref()) {
            Ok(m) => Some(m),
            Err(problems) => {
                errors.extend(strings(problems));
                None
            }
        };
        let (Some(service), Some(manifest), true) = (service, manifest, errors.is_empty()) else {
            return Ok(Checked::Invalid(errors));
        };
        let hook = self.settings.verify_function.as_deref();
        let rendered = match render(&self.clients, &service, &manifest, hook, ahead).await? {
            Rendering::Ready(r) => *r,
            Rendering::Refused(problems) => return Ok(Checked::Invalid(strings(problems))),
        };
        let source = ManifestSource {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            version_id: version_id.to_owned(),
        };
        Ok(Checked::Valid(Box::new(Valid {
            service,
            manifest,
            rendered,
            source,
        })))
    }

    /// The manifest's bytes, or what its absence or size means.
    pub(super) async fn manifest_body(
        &self,
        upload: &Upload,
        version_id: &str,
    ) -> Result<std::result::Result<Vec<u8>, Unread>> {
        let read = self
            .bucket
            .get(&upload.key, Some(version_id), Some(MAX_MANIFEST_BYTES))
            .await?;
        Ok(match read {
            Read::Found(obj) => Ok(obj.body),
            Read::Missing => Err(Unread::Gone(format!(
                "manifest version {version_id} of {} no longer exists",
                upload.key
            ))),
            Read::TooLarge(size) => {
                let problem = Problem::new(
                    "manifest",
                    format!("is {size} bytes; the limit is {MAX_MANIFEST_BYTES} bytes (256 KiB)"),
                );
                Err(Unread::Invalid(vec![problem.to_string()]))
            }
        })
    }

    /// Rejects, unless this exact upload was already released (a repeated delivery whose
    /// checks would fail today, e.g. after a tag was deleted): that stays a duplicate. A
    /// different upload of an existing release gets that conflict listed first.
    async fn reject_unless_released(
        &self,
        upload: &Upload,
        key: &ManifestKey,
        mut errors: Vec<String>,
        now: SystemTime,
    ) -> Result<Outcome> {
        let existing = self.records.get(&key.service, &key.release).await?;
        let version = upload.version_id.as_deref().unwrap_or_default();
        let existing = existing.as_ref().map(|s| &s.value);
        match claim::decide(existing, &upload.key, version, epoch_seconds(now)) {
            Claim::Duplicate {
                pipeline_execution_id,
            } => {
                return Ok(Outcome::Duplicate {
                    service: key.service.clone(),
                    release: key.release.clone(),
                    pipeline_execution_id,
                });
            }
            Claim::Conflict(problem) => errors.insert(0, problem.to_string()),
            Claim::Takeover | Claim::Busy(_) => {}
        }
        let rejection = keys::rejected_key(&key.service, &key.release);
        self.reject(upload, rejection, errors).await
    }

    /// Writes the rejection report. A bad upload is the user's to fix, so it is logged at
    /// WARN and the invocation succeeds.
    pub(super) async fn reject(
        &self,
        upload: &Upload,
        rejection_key: String,
        errors: Vec<String>,
    ) -> Result<Outcome> {
        tracing::warn!(
            manifest = %upload.key,
            version_id = upload.version_id.as_deref().unwrap_or("-"),
            rejection = %rejection_key,
            errors = ?errors,
            "manifest rejected"
        );
        let doc = Rejection {
            manifest: &upload.key,
            version_id: upload.version_id.as_deref(),
            errors: &errors,
        };
        self.bucket
            .put_json(&rejection_key, &doc, Condition::None)
            .await?;
        Ok(Outcome::Rejected {
            rejection_key,
            errors,
        })
    }
}

pub(super) fn strings(problems: Vec<Problem>) -> Vec<String> {
    problems.into_iter().map(|p| p.to_string()).collect()
}
