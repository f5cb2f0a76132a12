//! The manifest uploads (release and group manifests) an S3 notification names (pure).

use aws_lambda_events::event::s3::S3Event;

use crate::keys;

/// One manifest object version named by an S3 notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    /// The decoded object key.
    pub key: String,
    pub version_id: Option<String>,
}

/// A notification record that names no manifest upload, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped(pub String);

/// The manifest uploads of an S3 notification, in order; other records are skipped with a reason.
pub fn uploads(event: &S3Event) -> Vec<Result<Upload, Skipped>> {
    event
        .records
        .iter()
        .map(|r| {
            let name = r.event_name.as_deref().unwrap_or_default();
            if !name.starts_with("ObjectCreated:") {
                return Err(Skipped(format!("not an object creation ({name:?})")));
            }
            let raw = r.s3.object.key.as_deref().unwrap_or_default();
            let key = keys::decode_event_key(raw).map_err(|e| Skipped(e.to_string()))?;
            if !key.starts_with("manifests/") && !key.starts_with("groups/") {
                return Err(Skipped(format!(
                    "{key:?} is not under manifests/ or groups/"
                )));
            }
            Ok(Upload {
                bucket: r.s3.bucket.name.clone().unwrap_or_default(),
                key,
                version_id: r.s3.object.version_id.clone().filter(|v| !v.is_empty()),
            })
        })
        .collect()
}
