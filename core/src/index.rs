//! The release index: empty objects whose keys list a service's releases newest first, so
//! history reads cost a bounded number of requests however long the history is.
//!
//! `index/<service>/<list>/<inverted time>-<release>`, where the inverted time is
//! `9999999999999 - epoch milliseconds`, zero-padded: S3 lists keys "in UTF-8 binary order"
//! (ascending), so the newest entry comes first and `ListObjectsV2` with `max-keys` reads the
//! newest page in one request, `start-after` the next. Three lists:
//!
//! - `releases`: every release, by the time it was claimed (`created_at`); written by on-manifest.
//! - `succeeded`: releases whose own execution succeeded, by `created_at`; on-pipeline-event.
//! - `deployed`: every successful execution of a release (its own or a rollback to it), by that
//!   execution's start; the newest entry is the release running now. on-pipeline-event.
//!
//! Records written before the index existed are indexed once by `Releases::ensure_indexed`,
//! which then writes `index/<service>/v1`.
//!
//! These are the keys; reading and writing them is `berth::index::Index`.

use crate::record::instant;

/// Milliseconds are inverted against this, so every time until the year 2286 has 13 digits.
const INVERT_FROM: u64 = 9_999_999_999_999;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Releases,
    Succeeded,
    Deployed,
}

impl List {
    fn name(self) -> &'static str {
        match self {
            List::Releases => "releases",
            List::Succeeded => "succeeded",
            List::Deployed => "deployed",
        }
    }
}

/// One index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub at_ms: u64,
    pub release: String,
}

pub fn prefix(service: &str, list: List) -> String {
    format!("index/{service}/{}/", list.name())
}

pub fn marker_key(service: &str) -> String {
    format!("index/{service}/v1")
}

/// Where a release whose post migration (the contract step) failed is held until an operator
/// re-runs or skips it: one empty object per release, `index/<service>/post-migration-failed/
/// <release>`. The next release's Migrate action lists the prefix (one request) and refuses
/// while it is not empty (`berth_core::migration::post`).
pub fn post_migration_failed_prefix(service: &str) -> String {
    format!("index/{service}/post-migration-failed/")
}

/// The hold on `release` (see [`post_migration_failed_prefix`]).
pub fn post_migration_failed_key(service: &str, release: &str) -> String {
    format!("{}{release}", post_migration_failed_prefix(service))
}

/// The key of `release` at `at_ms` in `list`.
pub fn entry_key(service: &str, list: List, at_ms: u64, release: &str) -> String {
    entry_under(&prefix(service, list), at_ms, release)
}

/// The key of `release` at `at_ms` in the list under `prefix` (a release group's list, too).
pub fn entry_under(prefix: &str, at_ms: u64, release: &str) -> String {
    format!(
        "{prefix}{:013}-{release}",
        INVERT_FROM.saturating_sub(at_ms)
    )
}

/// The entry a key names (`None` for keys of another shape).
pub fn parse_entry(key: &str) -> Option<Entry> {
    let (_, name) = key.rsplit_once('/')?;
    let (inverted, release) = name.split_at_checked(13)?;
    let release = release.strip_prefix('-')?;
    let inverted: u64 = inverted.parse().ok()?;
    crate::keys::is_valid_name(release).then(|| Entry {
        key: key.to_owned(),
        at_ms: INVERT_FROM.saturating_sub(inverted),
        release: release.to_owned(),
    })
}

/// Epoch milliseconds of a timestamp berth wrote (`None` for one it cannot read).
pub fn millis(timestamp: &str) -> Option<u64> {
    let (secs, nanos) = instant(timestamp)?;
    let secs = u64::try_from(secs).ok()?;
    Some(secs * 1000 + u64::from(nanos) / 1_000_000)
}

/// One page of entries, newest first, and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Pass as `start_after` for the next page; `None` at the end.
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_entries_sort_first_as_s3_lists_them() {
        let older = entry_key("web", List::Releases, 1_795_000_000_000, "v1");
        let newer = entry_key("web", List::Releases, 1_795_000_000_001, "v2");
        assert!(newer < older, "{newer} before {older}");
        assert_eq!(older, "index/web/releases/8204999999999-v1");
        let e = parse_entry(&newer).unwrap();
        assert_eq!((e.at_ms, e.release.as_str()), (1_795_000_000_001, "v2"));
        // Same millisecond: the release name decides, and both stay.
        assert_ne!(
            entry_key("web", List::Releases, 5, "a"),
            entry_key("web", List::Releases, 5, "b")
        );
    }

    #[test]
    fn keys_of_another_shape_are_not_entries() {
        for key in [
            "index/web/v1",
            "index/web/releases/123-v1",
            "index/web/releases/8204999999999v1",
            "index/web/releases/8204999999999-",
            "index/web/releases/82049999999x9-v1",
        ] {
            assert_eq!(parse_entry(key), None, "{key}");
        }
    }

    #[test]
    fn timestamps_become_milliseconds() {
        assert_eq!(millis("2026-11-18T11:06:40Z"), Some(1_795_000_000_000));
        assert_eq!(millis("2026-11-18T11:06:40.25Z"), Some(1_795_000_000_250));
        assert_eq!(millis("later"), None);
    }
}
