//! The use case behind `on-image-push`: an ECR push of a release tag becomes a single-image
//! manifest in the release bucket, the one funnel every release goes through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::images::{Home, is_sha256_digest, is_valid_tag};
use crate::keys;
use crate::manifest::{Manifest, SCHEMA};
use crate::registry::{Registry, Service};
use crate::store::{Bucket, Condition, Written};

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

/// How a push event ended. All are successes for Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// A manifest was written for this release.
    Written {
        service: String,
        release: String,
        key: String,
        version_id: Option<String>,
    },
    /// The manifest for this release already exists (a repeated delivery, or a re-push of a
    /// tag that was already released); nothing was written.
    Exists {
        service: String,
        key: String,
    },
    Ignored {
        reason: String,
    },
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
        rollback_of: None,
    })
}

/// Handles one push event from account/region `home`.
pub async fn handle_push(
    registry: &Registry,
    bucket: &Bucket,
    home: &Home,
    detail: &EcrImageAction,
) -> Result<Vec<PushOutcome>> {
    let ignore = |reason: String| Ok(vec![PushOutcome::Ignored { reason }]);
    if detail.action_type != "PUSH" {
        return ignore(format!("action {:?} is not a PUSH", detail.action_type));
    }
    if detail.result != "SUCCESS" {
        return ignore(format!("push result is {:?}", detail.result));
    }
    let Some(tag) = detail.image_tag.as_deref().filter(|t| !t.is_empty()) else {
        return ignore("push has no tag".into());
    };
    if tag == "latest" {
        return ignore("the tag \"latest\" never triggers a release".into());
    }
    if !is_valid_tag(tag) || !keys::is_valid_name(tag) {
        return ignore(format!("tag {tag:?} cannot name a release"));
    }
    let Some(digest) = detail
        .image_digest
        .as_deref()
        .filter(|d| is_sha256_digest(d))
    else {
        return ignore(format!("push of {tag:?} has no sha256 digest"));
    };
    let services = registry.all(home).await?;
    let matching = triggered(&services, home, &detail.repository_name, tag);
    if matching.is_empty() {
        return ignore(format!(
            "no service has a push trigger for {}:{tag}",
            detail.repository_name
        ));
    }
    let mut outcomes = Vec::with_capacity(matching.len());
    for service in matching {
        let Some(manifest) = manifest_for_push(service, tag, digest) else {
            continue;
        };
        let key = keys::manifest_key(&manifest.service, &manifest.release);
        // Absent-only: repeated deliveries write nothing, and a re-pushed tag does not
        // replace a release that already exists.
        match bucket.put_json(&key, &manifest, Condition::Absent).await? {
            Written::Ok { version_id, .. } => {
                tracing::info!(service = %manifest.service, release = %manifest.release, digest, key = %key, "manifest written");
                outcomes.push(PushOutcome::Written {
                    service: manifest.service,
                    release: manifest.release,
                    key,
                    version_id,
                });
            }
            Written::ConditionFailed => {
                tracing::info!(service = %manifest.service, release = %manifest.release, key = %key, "manifest already exists; nothing written");
                outcomes.push(PushOutcome::Exists {
                    service: manifest.service,
                    key,
                });
            }
        }
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::{WEB, home, web};

    #[test]
    fn ecr_event_detail_parses() {
        let event = r#"{
          "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482",
          "detail-type": "ECR Image Action", "source": "aws.ecr",
          "account": "123456789012", "time": "2019-11-16T01:54:34Z", "region": "us-west-2",
          "resources": [],
          "detail": {"result": "SUCCESS", "repository-name": "my-repository-name",
            "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
            "action-type": "PUSH", "image-tag": "latest"}
        }"#;
        let e: aws_lambda_events::event::eventbridge::EventBridgeEvent<EcrImageAction> =
            serde_json::from_str(event).unwrap();
        assert_eq!(e.detail.repository_name, "my-repository-name");
        assert_eq!(e.detail.image_tag.as_deref(), Some("latest"));
    }

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
