//! The release manifest (docs/design/contract.md §3): strict parsing that reports every
//! problem at once.
//!
//! The document is walked as a `serde_json::Value` rather than deserialized into a struct,
//! because serde stops at the first problem and an app team fixing a manifest wants the
//! whole list.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::images::ImageRef;
use crate::json::Strict;
use crate::keys::{MAX_MANIFEST_BYTES, ManifestKey};
use crate::registry::{MigrationDefaults, Service};

mod fields;
#[cfg(test)]
mod tests;

pub const SCHEMA: &str = "berth/v1";

/// One thing wrong with a manifest, tied to the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the field (`images.app`), or `manifest` for the document as a whole.
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The manifest document as written to S3 (by app CI, `on-image-push` or the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    pub service: String,
    pub release: String,
    pub images: BTreeMap<String, String>,
    /// Absent: the registry default. `null`: no migration for this release.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_double_option"
    )]
    pub migration: Option<Option<MigrationOverride>>,
    /// The post-deployment migration (the contract step), as `migration`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "serde_double_option"
    )]
    pub post_migration: Option<Option<MigrationOverride>>,
    #[serde(default)]
    pub rollback_of: Option<String>,
    /// Where a promoted release came from (`berth promote-release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_from: Option<PromotedFrom>,
    /// The release group this release is a member of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// The environment and release a promoted release came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromotedFrom {
    pub environment: String,
    pub release: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
}

mod serde_double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// What the release asks of the migration step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationChoice {
    /// Field absent: run the registry's migration, if it has one.
    Default,
    /// `"migration": null`.
    Skip,
    /// An object overriding `command` and/or `timeout_seconds` of the registry's migration.
    Override(MigrationOverride),
}

/// A manifest that passed every check that needs no AWS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidManifest {
    pub service: String,
    pub release: String,
    /// Container name → the image it should run.
    pub images: BTreeMap<String, ImageRef>,
    pub migration: MigrationChoice,
    /// What the release asks of the post-deployment migration (the contract step).
    pub post_migration: MigrationChoice,
    pub rollback_of: Option<String>,
    pub promoted_from: Option<PromotedFrom>,
    pub group: Option<String>,
}

/// The migration a release runs, registry defaults merged with the manifest's override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationPlan {
    pub container: String,
    pub command: Vec<String>,
    pub timeout_seconds: u64,
    pub cluster: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// Whether the task gets a public IP (a post migration in a `network` that asks for one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub assign_public_ip: bool,
}

/// The command and timeout a choice makes of the registry's defaults; `None`: skipped.
fn chosen(
    choice: &MigrationChoice,
    command: &[String],
    timeout_seconds: u64,
) -> Option<(Vec<String>, u64)> {
    match choice {
        MigrationChoice::Skip => None,
        MigrationChoice::Default => Some((command.to_vec(), timeout_seconds)),
        MigrationChoice::Override(o) => Some((
            o.command.clone().unwrap_or_else(|| command.to_vec()),
            o.timeout_seconds.unwrap_or(timeout_seconds),
        )),
    }
}

impl ValidManifest {
    /// The post-deployment migration to run once the deployment has finished for good, or
    /// `None` when the release or the service has none. It runs in the entry's task network.
    pub fn post_migration_plan(&self, service: &Service) -> Option<MigrationPlan> {
        let defaults = service.config.post_migration.as_ref()?;
        let network = service.config.task_network()?;
        let (command, timeout_seconds) = chosen(
            &self.post_migration,
            &defaults.command,
            defaults.timeout_seconds,
        )?;
        Some(MigrationPlan {
            container: defaults.container.clone(),
            command,
            timeout_seconds,
            cluster: service.config.cluster.clone(),
            subnets: network.subnets,
            security_groups: network.security_groups,
            assign_public_ip: network.assign_public_ip,
        })
    }

    /// The migration to run, or `None` when the release or the service has none.
    pub fn migration_plan(&self, service: &Service) -> Option<MigrationPlan> {
        let defaults: &MigrationDefaults = service.config.migration.as_ref()?;
        let (command, timeout_seconds) =
            chosen(&self.migration, &defaults.command, defaults.timeout_seconds)?;
        Some(MigrationPlan {
            container: defaults.container.clone(),
            command,
            timeout_seconds,
            cluster: service.config.cluster.clone(),
            subnets: defaults.subnets.clone(),
            security_groups: defaults.security_groups.clone(),
            assign_public_ip: false,
        })
    }
}

/// Checks a manifest read from `key`. `service` is the registry entry, when there is one;
/// without it the container and repository checks are skipped (the caller reports why).
pub fn validate(
    bytes: &[u8],
    key: &ManifestKey,
    service: Option<&Service>,
) -> Result<ValidManifest, Vec<Problem>> {
    let (doc, mut problems) = document(bytes).map_err(|p| vec![p])?;
    fields::unknown_fields(&doc, &mut problems);
    fields::schema(&doc, &mut problems);
    let service_name = fields::service(&doc, key, &mut problems);
    let release = fields::release(&doc, key, &mut problems);
    let images = fields::images(doc.get("images"), service, &mut problems);
    let migration = fields::migration(doc.get("migration"), service, &mut problems);
    let post_migration = fields::post_migration(doc.get("post_migration"), service, &mut problems);
    let rollback_of = fields::rollback_of(&doc, &mut problems);
    let promoted_from = fields::promoted_from(&doc, &mut problems);
    let group = fields::group(&doc, &mut problems);
    let valid = ValidManifest {
        service: service_name.unwrap_or_default(),
        release: release.unwrap_or_default(),
        images,
        migration,
        post_migration,
        rollback_of,
        promoted_from,
        group,
    };
    // RunTask refuses overrides over 8192 characters: say so now, not when the task starts.
    if let Some(plan) = service.and_then(|s| valid.migration_plan(s))
        && let Err(why) = crate::migration::check_overrides(&plan.container, &plan.command)
    {
        problems.push(Problem::new("migration.command", why));
    }
    if let Some(plan) = service.and_then(|s| valid.post_migration_plan(s))
        && let Err(why) = crate::migration::check_overrides(&plan.container, &plan.command)
    {
        problems.push(Problem::new("post_migration.command", why));
    }
    if problems.is_empty() {
        Ok(valid)
    } else {
        Err(problems)
    }
}

/// The manifest (or a group manifest) as a JSON object with a problem for every duplicated
/// key, or the one problem that makes it unreadable as a whole.
pub fn document(bytes: &[u8]) -> Result<(serde_json::Map<String, Value>, Vec<Problem>), Problem> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(Problem::new(
            "manifest",
            format!(
                "is {} bytes; the limit is {MAX_MANIFEST_BYTES} bytes (256 KiB)",
                bytes.len()
            ),
        ));
    }
    match crate::json::parse(bytes) {
        Ok(Strict {
            value: Value::Object(doc),
            duplicates,
        }) => {
            let problems = duplicates
                .into_iter()
                .map(|path| Problem::new(path, "duplicate key"))
                .collect();
            Ok((doc, problems))
        }
        Ok(_) => Err(Problem::new("manifest", "must be a JSON object")),
        Err(e) => Err(Problem::new("manifest", format!("not valid JSON: {e}"))),
    }
}
