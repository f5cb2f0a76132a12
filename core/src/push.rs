//! Pushes (pure core): which ECR pushes start a release of which service, and the single-image
//! manifest a push becomes. The I/O is `on_image_push`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::images::{Home, is_sha256_digest, is_valid_tag};
use crate::keys;
use crate::manifest::{Manifest, SCHEMA};
use crate::registry::Service;

/// `detail` of the EventBridge "ECR Image Action" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct EcrImageAction {
    pub action_type: String,
    pub result: String,
    pub repository_name: String,
    #[serde(default)]
    pub image_digest: Option<String>,
    #[serde(default)]
    pub image_tag: Option<String>,
}

/// The services whose push trigger fires for a push of `tag` to `repository_name` in `home`.
pub fn triggered<'a>(
    services: &'a [Service],
    home: &Home,
    repository_name: &str,
    tag: &str,
) -> Vec<&'a Service> {
    services
        .iter()
        .filter(|s| {
            let Some(trigger) = &s.config.push_trigger else {
                return false;
            };
            s.repositories.get(&trigger.container).is_some_and(|repo| {
                repo.name == repository_name
                    && repo.registry_id == home.account_id
                    && repo.region == home.region
            }) && s.tag_triggers(tag)
        })
        .collect()
}

/// The manifest a push produces: the trigger container pinned to the pushed digest, release =
/// tag, migration from the registry.
pub fn manifest_for_push(service: &Service, tag: &str, digest: &str) -> Option<Manifest> {
    let trigger = service.config.push_trigger.as_ref()?;
    let repo = service.repositories.get(&trigger.container)?;
    Some(Manifest {
        schema: SCHEMA.into(),
        service: service.config.service.clone(),
        release: tag.to_owned(),
        images: BTreeMap::from([(trigger.container.clone(), repo.pinned(digest))]),
        migration: None,
        post_migration: None,
        rollback_of: None,
        promoted_from: None,
        group: None,
    })
}

/// The tag and digest of a push that may start a release, or why it cannot.
pub fn screen(detail: &EcrImageAction) -> Result<(&str, &str), String> {
    if detail.action_type != "PUSH" {
        return Err(format!("action {:?} is not a PUSH", detail.action_type));
    }
    if detail.result != "SUCCESS" {
        return Err(format!("push result is {:?}", detail.result));
    }
    let Some(tag) = detail.image_tag.as_deref().filter(|t| !t.is_empty()) else {
        return Err("push has no tag".into());
    };
    if tag == "latest" {
        return Err("the tag \"latest\" never triggers a release".into());
    }
    if !is_valid_tag(tag) || !keys::is_valid_name(tag) {
        return Err(format!("tag {tag:?} cannot name a release"));
    }
    let Some(digest) = detail
        .image_digest
        .as_deref()
        .filter(|d| is_sha256_digest(d))
    else {
        return Err(format!("push of {tag:?} has no sha256 digest"));
    };
    Ok((tag, digest))
}

/// An image of a trigger repository as `DescribeImages` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub tags: Vec<String>,
    pub digest: String,
    /// When it was pushed, in epoch milliseconds.
    pub pushed_ms: u64,
}

/// What the sweep does for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sweep {
    /// Write the manifest of this push (a manifest that exists already means it was handled).
    Recover {
        tag: String,
        digest: String,
        pushed_ms: u64,
    },
    /// Nothing to recover, and why.
    Nothing(String),
}

/// The push the sweep recovers for `service`: the newest push within the window whose tag
/// would have started a release, unless the service has a newer release already (a recovered
/// push never releases an older image over a newer release). Only the newest: older lost pushes
/// are superseded by it, and releasing them too could deploy out of order.
pub fn sweep(
    service: &Service,
    images: &[Pushed],
    since_ms: u64,
    newest_release_ms: Option<u64>,
) -> Sweep {
    let newest = images
        .iter()
        .filter(|i| i.pushed_ms >= since_ms && is_sha256_digest(&i.digest))
        .flat_map(|i| {
            i.tags
                .iter()
                .filter(|t| is_valid_tag(t) && keys::is_valid_name(t) && service.tag_triggers(t))
                .map(move |t| (i.pushed_ms, t, &i.digest))
        })
        .max();
    let Some((pushed_ms, tag, digest)) = newest else {
        return Sweep::Nothing("no push of a release tag within the window".into());
    };
    if let Some(release_ms) = newest_release_ms
        && pushed_ms <= release_ms
    {
        return Sweep::Nothing(format!(
            "the newest push ({tag}) is older than the service's newest release"
        ));
    }
    Sweep::Recover {
        tag: tag.clone(),
        digest: digest.clone(),
        pushed_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::{WEB, home, web};

    #[test]
    fn only_the_trigger_repository_and_pattern_fire() {
        let mut other: serde_json::Value = serde_json::from_str(WEB).unwrap();
        other["service"] = "api".into();
        other.as_object_mut().unwrap().remove("push_trigger");
        let api = Service::parse("/p/api", Some("api"), &other.to_string(), &home()).unwrap();
        let services = vec![web(), api];
        let names = |repo: &str, tag: &str| -> Vec<String> {
            triggered(&services, &home(), repo, tag)
                .iter()
                .map(|s| s.config.service.clone())
                .collect()
        };
        assert_eq!(names("web/app", "v1.2.3"), ["web"]);
        assert!(
            names("web/nginx", "v1.2.3").is_empty(),
            "nginx is not the trigger container"
        );
        assert!(names("web/app", "latest").is_empty());
        assert!(names("web/app", "feature").is_empty());
        let elsewhere = Home {
            account_id: "999999999999".into(),
            region: "ap-northeast-1".into(),
        };
        assert!(triggered(&services, &elsewhere, "web/app", "v1.2.3").is_empty());
    }

    #[test]
    fn the_sweep_recovers_only_the_newest_release_push_newer_than_the_newest_release() {
        let d = |n: u8| format!("sha256:{}", format!("{n:x}").repeat(64));
        let pushed = |tags: &[&str], n: u8, ms: u64| Pushed {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            digest: d(n),
            pushed_ms: ms,
        };
        let images = vec![
            pushed(&["v1.0.0"], 1, 1_000),
            pushed(&["v1.0.1", "latest"], 2, 2_000),
            pushed(&["feature-x"], 3, 3_000),
            pushed(&["latest"], 4, 4_000),
            pushed(&["v0.9.0"], 5, 100),
        ];
        let recover = |tag: &str, n: u8, ms: u64| Sweep::Recover {
            tag: tag.into(),
            digest: d(n),
            pushed_ms: ms,
        };
        assert_eq!(
            sweep(&web(), &images, 500, None),
            recover("v1.0.1", 2, 2_000)
        );
        assert_eq!(
            sweep(&web(), &images, 500, Some(1_500)),
            recover("v1.0.1", 2, 2_000)
        );
        assert!(
            matches!(sweep(&web(), &images, 500, Some(2_000)), Sweep::Nothing(w) if w.contains("older than"))
        );
        assert!(
            matches!(sweep(&web(), &images, 5_000, None), Sweep::Nothing(w) if w.contains("within the window"))
        );
        assert_eq!(
            sweep(&web(), &images[..1], 0, None),
            recover("v1.0.0", 1, 1_000)
        );
    }

    #[test]
    fn push_manifest_pins_the_pushed_digest() {
        let d = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let m = manifest_for_push(&web(), "v1.2.3", d).unwrap();
        assert_eq!(m.release, "v1.2.3");
        assert_eq!(
            m.images["app"],
            format!("123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app@{d}")
        );
        assert_eq!(m.migration, None, "absent: the registry default applies");
        let json = serde_json::to_value(&m).unwrap();
        assert!(json.get("migration").is_none());
        assert_eq!(json["schema"], "berth/v1");
    }
}
