//! The release bucket's key layout (docs/design/contract.md §4) and S3 event key decoding.

use std::fmt;

/// Largest manifest object berth reads; larger uploads are rejected unread.
pub const MAX_MANIFEST_BYTES: u64 = 256 * 1024;

/// Whether `name` is usable as a service or release name: `[A-Za-z0-9._-]{1,64}`, and not a
/// path component of its own (`.`/`..`), so it is safe in S3 keys and SSM paths.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn manifest_key(service: &str, release: &str) -> String {
    format!("manifests/{service}/{release}.json")
}

pub fn artifact_key(service: &str) -> String {
    format!("artifacts/{service}/source.zip")
}

/// The artifact a release deployed: rendered once, when the release reached its stage, and what
/// a rollback to it deploys again.
pub fn deployed_key(service: &str, release: &str) -> String {
    format!("artifacts/{service}/deployed/{release}.zip")
}

/// The deploy action's marker for the job `job` deploying `release`: written create-only before
/// UpdateService, so a repeated invocation of that job finds the deployment it started. Per
/// job, because a rollback execution deploys an earlier release again, and a retried stage
/// deploys it anew.
pub fn deploy_marker_key(service: &str, release: &str, job: &str) -> String {
    format!("artifacts/{service}/deploys/{release}/{job}.json")
}

pub fn release_key(service: &str, release: &str) -> String {
    format!("releases/{service}/{release}.json")
}

pub fn rejected_key(service: &str, release: &str) -> String {
    format!("rejected/{service}/{release}.json")
}

/// Where a rejection of `manifest_key` is written. Keys that do not have the
/// `manifests/<service>/<release>.json` shape still get a record, under the same relative path.
pub fn rejected_key_for(manifest_key: &str) -> String {
    let rest = manifest_key
        .strip_prefix("manifests/")
        .unwrap_or(manifest_key);
    let rest = rest.strip_suffix(".json").unwrap_or(rest);
    format!("rejected/{rest}.json")
}

/// `<service>` and `<release>` named by a manifest key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestKey {
    pub service: String,
    pub release: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ManifestKey {
    /// Parses a decoded object key of the form `manifests/<service>/<release>.json`.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let shape = || {
            KeyError(format!(
                "key {key:?} is not of the form manifests/<service>/<release>.json"
            ))
        };
        let rest = key.strip_prefix("manifests/").ok_or_else(shape)?;
        let rest = rest.strip_suffix(".json").ok_or_else(shape)?;
        let (service, release) = rest.split_once('/').ok_or_else(shape)?;
        if release.contains('/') {
            return Err(shape());
        }
        if !is_valid_name(service) {
            return Err(KeyError(format!(
                "key {key:?}: service {service:?} must match [A-Za-z0-9._-]{{1,64}}"
            )));
        }
        if !is_valid_name(release) {
            return Err(KeyError(format!(
                "key {key:?}: release {release:?} must match [A-Za-z0-9._-]{{1,64}}"
            )));
        }
        Ok(Self {
            service: service.to_owned(),
            release: release.to_owned(),
        })
    }
}

/// Decodes an S3 event notification key: percent-encoded UTF-8 with `+` for a space.
pub fn decode_event_key(raw: &str) -> Result<String, KeyError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| KeyError(format!("key {raw:?} has a bad percent escape")))?;
                out.push(hex);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| KeyError(format!("key {raw:?} is not UTF-8 once decoded")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_decode() {
        let cases = [
            ("manifests/web/v1.4.2.json", "manifests/web/v1.4.2.json"),
            (
                "manifests/web/my+release.json",
                "manifests/web/my release.json",
            ),
            ("manifests/web/a%2Bb.json", "manifests/web/a+b.json"),
            ("manifests/web%2Fx/r.json", "manifests/web/x/r.json"),
            ("caf%C3%A9", "café"),
            ("%7e%7E", "~~"),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(decode_event_key(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn bad_event_keys_are_errors() {
        for raw in ["a%2", "a%zz", "%", "%C3%28"] {
            assert!(decode_event_key(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn manifest_keys_parse() {
        assert_eq!(
            ManifestKey::parse("manifests/web/v1.4.2.json"),
            Ok(ManifestKey {
                service: "web".into(),
                release: "v1.4.2".into()
            })
        );
        let bad = [
            "manifests/web.json",
            "manifests/web/v1/extra.json",
            "manifests/web/v1.yaml",
            "other/web/v1.json",
            "manifests//v1.json",
            "manifests/web/.json",
            "manifests/web/my release.json",
            "manifests/web/...json",
            "manifests/../v1.json",
        ];
        for key in bad {
            assert!(ManifestKey::parse(key).is_err(), "{key}");
        }
        let long = format!("manifests/web/{}.json", "a".repeat(65));
        assert!(ManifestKey::parse(&long).is_err());
    }

    #[test]
    fn layout() {
        assert_eq!(artifact_key("web"), "artifacts/web/source.zip");
        assert_eq!(release_key("web", "v1"), "releases/web/v1.json");
        assert_eq!(rejected_key("web", "v1"), "rejected/web/v1.json");
        assert_eq!(
            rejected_key_for("manifests/web/v1.json"),
            "rejected/web/v1.json"
        );
        assert_eq!(rejected_key_for("manifests/odd.json"), "rejected/odd.json");
    }
}
