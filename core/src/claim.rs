//! The release claim (pure core): what an existing release record means for a delivery of a
//! manifest upload.
//!
//! S3 delivers each notification at least once, so every delivery first tries to create
//! `releases/<service>/<release>.json` with `If-None-Match: *`. Exactly one succeeds. A
//! delivery that finds the record already there decides here what to do; the I/O around it
//! lives in `on_manifest::release`.

use crate::manifest::Problem;
use crate::record::ReleaseRecord;

/// What an existing release record means for this delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This upload's own claim lapsed (the invocation holding it crashed): take it over.
    Takeover,
    /// This upload already started its pipeline: a repeated delivery, nothing to do.
    Duplicate { pipeline_execution_id: String },
    /// Another upload owns this release name: releases are immutable.
    Conflict(Problem),
    /// A live invocation holds this upload's claim; the retry will find it done or lapsed.
    Busy(String),
}

/// Decides from the record found (`None`: it vanished between the failed create and the
/// read) for an upload identified by its manifest `key` and `version_id`.
pub fn decide(
    existing: Option<&ReleaseRecord>,
    key: &str,
    version_id: &str,
    now_epoch: u64,
) -> Claim {
    let Some(r) = existing else {
        return Claim::Busy("the record vanished while being claimed".into());
    };
    if r.manifest.key != key || r.manifest.version_id != version_id {
        return Claim::Conflict(Problem::new(
            "release",
            format!(
                "{:?} of service {:?} already exists (from manifest version {}, status {}); a release is immutable, upload it under a new release name",
                r.release,
                r.service,
                r.manifest.version_id,
                r.status.name()
            ),
        ));
    }
    if let Some(exec) = &r.pipeline_execution_id {
        return Claim::Duplicate {
            pipeline_execution_id: exec.clone(),
        };
    }
    match r.lease_until_epoch {
        Some(t) if t > now_epoch => Claim::Busy(format!("claimed until epoch {t}")),
        _ => Claim::Takeover,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ReleaseStatus;
    use crate::record::tests::record;

    #[test]
    fn decisions() {
        let key = "manifests/web/v1.json";
        let fresh = record("v1", ReleaseStatus::Rendering);
        let mut leased = fresh.clone();
        leased.lease_until_epoch = Some(2_000);
        let mut started = leased.clone();
        started.pipeline_execution_id = Some("e-1".into());
        started.status = ReleaseStatus::InProgress;
        let mut other_version = fresh.clone();
        other_version.manifest.version_id = "m2".into();
        let mut other_key = fresh.clone();
        other_key.manifest.key = "manifests/web/v1.JSON".into();
        type Want = fn(&Claim) -> bool;
        let cases: Vec<(&str, Option<&ReleaseRecord>, u64, Want)> = vec![
            (
                "record vanished",
                None,
                1_000,
                |c| matches!(c, Claim::Busy(w) if w.contains("vanished")),
            ),
            (
                "live lease",
                Some(&leased),
                1_999,
                |c| matches!(c, Claim::Busy(w) if w.contains("2000")),
            ),
            ("lease ends now", Some(&leased), 2_000, |c| {
                *c == Claim::Takeover
            }),
            ("lapsed lease", Some(&leased), 5_000, |c| {
                *c == Claim::Takeover
            }),
            ("handed back (no lease)", Some(&fresh), 1_000, |c| {
                *c == Claim::Takeover
            }),
            ("pipeline started", Some(&started), 1_000, |c| {
                *c == Claim::Duplicate {
                    pipeline_execution_id: "e-1".into(),
                }
            }),
            (
                "another version",
                Some(&other_version),
                1_000,
                |c| matches!(c, Claim::Conflict(p) if p.field == "release" && p.message.contains("immutable") && p.message.contains("m2")),
            ),
            ("another key", Some(&other_key), 1_000, |c| {
                matches!(c, Claim::Conflict(_))
            }),
        ];
        for (name, existing, now, want) in cases {
            let got = decide(existing, key, "m1", now);
            assert!(want(&got), "{name}: got {got:?}");
        }
    }
}
