//! The release manifest (CONTRACT §3): strict parsing that reports every problem at once.
//!
//! The document is walked as a `serde_json::Value` rather than deserialized into a struct,
//! because serde stops at the first problem and an app team fixing a manifest wants the
//! whole list.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::images::ImageRef;
use crate::keys::{MAX_MANIFEST_BYTES, ManifestKey, is_valid_name};
use crate::registry::{MAX_MIGRATION_TIMEOUT_SECONDS, MigrationDefaults, Service};

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
    #[serde(default)]
    pub rollback_of: Option<String>,
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
    pub rollback_of: Option<String>,
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
}

impl ValidManifest {
    /// The migration to run, or `None` when the release or the service has none.
    pub fn migration_plan(&self, service: &Service) -> Option<MigrationPlan> {
        let defaults: &MigrationDefaults = service.config.migration.as_ref()?;
        let (command, timeout_seconds) = match &self.migration {
            MigrationChoice::Skip => return None,
            MigrationChoice::Default => (defaults.command.clone(), defaults.timeout_seconds),
            MigrationChoice::Override(o) => (
                o.command
                    .clone()
                    .unwrap_or_else(|| defaults.command.clone()),
                o.timeout_seconds.unwrap_or(defaults.timeout_seconds),
            ),
        };
        Some(MigrationPlan {
            container: defaults.container.clone(),
            command,
            timeout_seconds,
            cluster: service.config.cluster.clone(),
            subnets: defaults.subnets.clone(),
            security_groups: defaults.security_groups.clone(),
        })
    }
}

const FIELDS: [&str; 6] = [
    "schema",
    "service",
    "release",
    "images",
    "migration",
    "rollback_of",
];

/// Checks a manifest read from `key`. `service` is the registry entry, when there is one;
/// without it the container and repository checks are skipped (the caller reports why).
pub fn validate(
    bytes: &[u8],
    key: &ManifestKey,
    service: Option<&Service>,
) -> Result<ValidManifest, Vec<Problem>> {
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(vec![Problem::new(
            "manifest",
            format!(
                "is {} bytes; the limit is {MAX_MANIFEST_BYTES} bytes (256 KiB)",
                bytes.len()
            ),
        )]);
    }
    let doc: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return Err(vec![Problem::new(
                "manifest",
                format!("not valid JSON: {e}"),
            )]);
        }
    };
    let Value::Object(doc) = doc else {
        return Err(vec![Problem::new("manifest", "must be a JSON object")]);
    };
    let mut problems = Vec::new();
    for field in doc.keys() {
        if !FIELDS.contains(&field.as_str()) {
            problems.push(Problem::new(field.clone(), "unknown field"));
        }
    }
    match doc.get("schema") {
        None => problems.push(Problem::new(
            "schema",
            format!("missing; must be {SCHEMA:?}"),
        )),
        Some(Value::String(s)) if s == SCHEMA => {}
        Some(other) => problems.push(Problem::new(
            "schema",
            format!("must be {SCHEMA:?}, got {other}"),
        )),
    }
    let service_name = required_string(&doc, "service", &mut problems);
    if let Some(s) = &service_name
        && *s != key.service
    {
        problems.push(Problem::new(
            "service",
            format!(
                "is {s:?} but the manifest was uploaded under manifests/{}/",
                key.service
            ),
        ));
    }
    let release = required_string(&doc, "release", &mut problems);
    if let Some(r) = &release {
        if !is_valid_name(r) {
            problems.push(Problem::new(
                "release",
                format!("{r:?} must match [A-Za-z0-9._-]{{1,64}}"),
            ));
        } else if *r != key.release {
            problems.push(Problem::new(
                "release",
                format!(
                    "is {r:?} but the object key names release {:?}",
                    key.release
                ),
            ));
        }
    }
    let images = check_images(doc.get("images"), service, &mut problems);
    let migration = check_migration(doc.get("migration"), service, &mut problems);
    let rollback_of = match doc.get("rollback_of") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if is_valid_name(r) => Some(r.clone()),
        Some(other) => {
            problems.push(Problem::new(
                "rollback_of",
                format!(
                    "must be null or a release name matching [A-Za-z0-9._-]{{1,64}}, got {other}"
                ),
            ));
            None
        }
    };
    if problems.is_empty() {
        Ok(ValidManifest {
            service: service_name.unwrap_or_default(),
            release: release.unwrap_or_default(),
            images,
            migration,
            rollback_of,
        })
    } else {
        Err(problems)
    }
}

fn required_string(
    doc: &Map<String, Value>,
    field: &str,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    match doc.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        None => {
            problems.push(Problem::new(field, "missing"));
            None
        }
        Some(other) => {
            problems.push(Problem::new(
                field,
                format!("must be a string, got {other}"),
            ));
            None
        }
    }
}

fn check_images(
    value: Option<&Value>,
    service: Option<&Service>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, ImageRef> {
    let mut images = BTreeMap::new();
    let entries = match value {
        Some(Value::Object(m)) if !m.is_empty() => m,
        Some(Value::Object(_)) => {
            problems.push(Problem::new("images", "must name at least one container"));
            return images;
        }
        None => {
            problems.push(Problem::new("images", "missing"));
            return images;
        }
        Some(other) => {
            problems.push(Problem::new(
                "images",
                format!("must be an object of container name → image, got {other}"),
            ));
            return images;
        }
    };
    for (container, image) in entries {
        let field = format!("images.{container}");
        let allowed = match service {
            Some(s) => match s.repositories.get(container) {
                Some(repo) => Some(repo),
                None => {
                    let known: Vec<&str> = s.repositories.keys().map(String::as_str).collect();
                    problems.push(Problem::new(
                        &field,
                        format!(
                            "container {container:?} is not in the registry for {:?} (known: {})",
                            s.config.service,
                            known.join(", ")
                        ),
                    ));
                    continue;
                }
            },
            None => None,
        };
        let Value::String(image) = image else {
            problems.push(Problem::new(
                &field,
                format!("must be an image URI string, got {image}"),
            ));
            continue;
        };
        match ImageRef::parse(image) {
            Ok(r) => {
                if let Some(repo) = allowed
                    && r.repository != *repo
                {
                    problems.push(Problem::new(
                        &field,
                        format!(
                            "image {image:?} is outside the allowed repository {repo} for container {container:?}"
                        ),
                    ));
                    continue;
                }
                images.insert(container.clone(), r);
            }
            Err(e) => problems.push(Problem::new(&field, e)),
        }
    }
    images
}

fn check_migration(
    value: Option<&Value>,
    service: Option<&Service>,
    problems: &mut Vec<Problem>,
) -> MigrationChoice {
    let obj = match value {
        None => return MigrationChoice::Default,
        Some(Value::Null) => return MigrationChoice::Skip,
        Some(Value::Object(o)) => o,
        Some(other) => {
            problems.push(Problem::new(
                "migration",
                format!("must be null or an object, got {other}"),
            ));
            return MigrationChoice::Default;
        }
    };
    if let Some(s) = service
        && s.config.migration.is_none()
    {
        problems.push(Problem::new(
            "migration",
            format!(
                "service {:?} has no migration in the registry (container, subnets, security groups); leave the field out or set it to null",
                s.config.service
            ),
        ));
    }
    let mut over = MigrationOverride::default();
    for (field, v) in obj {
        let path = format!("migration.{field}");
        match field.as_str() {
            "command" => match v {
                Value::Array(items)
                    if !items.is_empty()
                        && items.iter().all(|i| i.as_str().is_some_and(|s| !s.is_empty())) =>
                {
                    over.command = Some(
                        items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_owned))
                            .collect(),
                    );
                }
                _ => problems.push(Problem::new(
                    path,
                    format!("must be a non-empty array of non-empty strings, got {v}"),
                )),
            },
            "timeout_seconds" => match v.as_u64() {
                Some(t) if (1..=MAX_MIGRATION_TIMEOUT_SECONDS).contains(&t) => {
                    over.timeout_seconds = Some(t)
                }
                _ => problems.push(Problem::new(
                    path,
                    format!("must be a whole number of seconds from 1 to {MAX_MIGRATION_TIMEOUT_SECONDS}, got {v}"),
                )),
            },
            _ => problems.push(Problem::new(path, "unknown field")),
        }
    }
    MigrationChoice::Override(over)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::Reference;
    use crate::registry::tests::web;
    use serde_json::json;

    const APP: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app";
    const NGINX: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/nginx";
    const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn key() -> ManifestKey {
        ManifestKey::parse("manifests/web/v1.4.2.json").unwrap()
    }

    fn good() -> Value {
        json!({
            "schema": "berth/v1",
            "service": "web",
            "release": "v1.4.2",
            "images": { "app": format!("{APP}:3f9c2e1"), "nginx": format!("{NGINX}@{DIGEST}") },
            "migration": { "command": ["bin/rails", "db:migrate"], "timeout_seconds": 900 },
            "rollback_of": null
        })
    }

    fn check(doc: &Value) -> Result<ValidManifest, Vec<Problem>> {
        validate(doc.to_string().as_bytes(), &key(), Some(&web()))
    }

    #[test]
    fn contract_example_is_valid() {
        let m = check(&good()).unwrap();
        assert_eq!(m.images["app"].reference, Reference::Tag("3f9c2e1".into()));
        assert_eq!(
            m.images["nginx"].reference,
            Reference::Digest(DIGEST.into())
        );
        let plan = m.migration_plan(&web()).unwrap();
        assert_eq!(plan.timeout_seconds, 900);
        assert_eq!(plan.subnets, ["subnet-0a1b2c"]);
        assert_eq!(plan.cluster, "prod");
    }

    #[test]
    fn migration_choices() {
        let mut doc = good();
        doc.as_object_mut().unwrap().remove("migration");
        let m = check(&doc).unwrap();
        assert_eq!(m.migration, MigrationChoice::Default);
        assert_eq!(m.migration_plan(&web()).unwrap().timeout_seconds, 1800);
        doc["migration"] = Value::Null;
        let m = check(&doc).unwrap();
        assert_eq!(m.migration, MigrationChoice::Skip);
        assert_eq!(m.migration_plan(&web()), None);
        doc["migration"] = json!({"command": ["bin/migrate"]});
        let plan = check(&doc).unwrap().migration_plan(&web()).unwrap();
        assert_eq!(
            (plan.command, plan.timeout_seconds),
            (vec!["bin/migrate".into()], 1800)
        );
    }

    /// Each bad manifest, the field its error must name, and a word of the message.
    #[test]
    fn bad_manifests_name_the_field() {
        type Edit = fn(&mut Value);
        let cases: Vec<(&str, Edit, &str, &str)> = vec![
            (
                "unknown field",
                |d| d["extra"] = json!(1),
                "extra",
                "unknown field",
            ),
            (
                "schema missing",
                |d| {
                    d.as_object_mut().unwrap().remove("schema");
                },
                "schema",
                "missing",
            ),
            (
                "schema wrong",
                |d| d["schema"] = json!("berth/v2"),
                "schema",
                "must be",
            ),
            (
                "service wrong type",
                |d| d["service"] = json!(7),
                "service",
                "must be a string",
            ),
            (
                "service mismatch",
                |d| d["service"] = json!("api"),
                "service",
                "manifests/web/",
            ),
            (
                "release missing",
                |d| {
                    d.as_object_mut().unwrap().remove("release");
                },
                "release",
                "missing",
            ),
            (
                "release bad chars",
                |d| d["release"] = json!("v1 2"),
                "release",
                "[A-Za-z0-9._-]",
            ),
            (
                "release too long",
                |d| d["release"] = json!("v".repeat(65)),
                "release",
                "[A-Za-z0-9._-]",
            ),
            (
                "release mismatch",
                |d| d["release"] = json!("v1.4.3"),
                "release",
                "object key",
            ),
            (
                "images missing",
                |d| {
                    d.as_object_mut().unwrap().remove("images");
                },
                "images",
                "missing",
            ),
            (
                "images empty",
                |d| d["images"] = json!({}),
                "images",
                "at least one",
            ),
            (
                "images wrong type",
                |d| d["images"] = json!(["x"]),
                "images",
                "must be an object",
            ),
            (
                "unknown container",
                |d| d["images"]["worker"] = json!(format!("{APP}:v1")),
                "images.worker",
                "not in the registry",
            ),
            (
                "image not a string",
                |d| d["images"]["app"] = json!(42),
                "images.app",
                "must be an image URI",
            ),
            (
                "image other registry",
                |d| d["images"]["app"] = json!("docker.io/library/nginx:1.25"),
                "images.app",
                "not in Amazon ECR",
            ),
            (
                "image other repository",
                |d| d["images"]["app"] = json!(format!("{NGINX}:v1")),
                "images.app",
                "outside the allowed repository",
            ),
            (
                "image other account",
                |d| {
                    d["images"]["app"] =
                        json!("999999999999.dkr.ecr.ap-northeast-1.amazonaws.com/web/app:v1")
                },
                "images.app",
                "outside the allowed repository",
            ),
            (
                "latest tag",
                |d| d["images"]["app"] = json!(format!("{APP}:latest")),
                "images.app",
                "latest",
            ),
            (
                "no tag",
                |d| d["images"]["app"] = json!(APP),
                "images.app",
                "no tag or digest",
            ),
            (
                "short digest",
                |d| d["images"]["nginx"] = json!(format!("{NGINX}@sha256:abc")),
                "images.nginx",
                "64 lowercase hex",
            ),
            (
                "migration wrong type",
                |d| d["migration"] = json!("yes"),
                "migration",
                "null or an object",
            ),
            (
                "migration empty command",
                |d| d["migration"]["command"] = json!([]),
                "migration.command",
                "non-empty array",
            ),
            (
                "migration command not strings",
                |d| d["migration"]["command"] = json!(["a", 1]),
                "migration.command",
                "non-empty array",
            ),
            (
                "migration zero timeout",
                |d| d["migration"]["timeout_seconds"] = json!(0),
                "migration.timeout_seconds",
                "from 1 to",
            ),
            (
                "migration fractional timeout",
                |d| d["migration"]["timeout_seconds"] = json!(1.5),
                "migration.timeout_seconds",
                "from 1 to",
            ),
            (
                "migration huge timeout",
                |d| d["migration"]["timeout_seconds"] = json!(86_401),
                "migration.timeout_seconds",
                "from 1 to",
            ),
            (
                "migration unknown field",
                |d| d["migration"]["subnets"] = json!(["subnet-1"]),
                "migration.subnets",
                "unknown field",
            ),
            (
                "rollback_of wrong type",
                |d| d["rollback_of"] = json!(3),
                "rollback_of",
                "release name",
            ),
        ];
        assert!(cases.len() >= 15);
        for (name, edit, field, word) in cases {
            let mut doc = good();
            edit(&mut doc);
            let problems = check(&doc).expect_err(name);
            assert!(
                problems
                    .iter()
                    .any(|p| p.field == field && p.message.contains(word)),
                "{name}: wanted {field} / {word:?}, got {problems:?}"
            );
        }
    }

    #[test]
    fn documents_that_are_not_manifests() {
        let web = web();
        let cases: [(&[u8], &str); 3] = [
            (b"{not json", "not valid JSON"),
            (b"[1,2]", "must be a JSON object"),
            (b"", "not valid JSON"),
        ];
        for (bytes, word) in cases {
            let problems = validate(bytes, &key(), Some(&web)).unwrap_err();
            assert_eq!(problems.len(), 1);
            assert_eq!(problems[0].field, "manifest");
            assert!(problems[0].message.contains(word), "{problems:?}");
        }
        let mut big = good();
        big["padding"] = json!("x".repeat(300 * 1024));
        let problems = check(&big).unwrap_err();
        assert!(problems[0].message.contains("256 KiB"), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let doc = json!({
            "schema": "berth/v0",
            "service": "api",
            "release": "bad release",
            "images": { "app": "nginx", "worker": "x" },
            "migration": 5,
            "surprise": true
        });
        let problems = check(&doc).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        for f in [
            "schema",
            "service",
            "release",
            "images.app",
            "images.worker",
            "migration",
            "surprise",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn migration_override_needs_a_registry_migration() {
        let mut svc = web();
        svc.config.migration = None;
        let problems = validate(good().to_string().as_bytes(), &key(), Some(&svc)).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.field == "migration" && p.message.contains("no migration"))
        );
        let mut doc = good();
        doc["migration"] = Value::Null;
        assert!(validate(doc.to_string().as_bytes(), &key(), Some(&svc)).is_ok());
    }

    #[test]
    fn manifest_document_round_trips() {
        let m: Manifest = serde_json::from_value(good()).unwrap();
        assert_eq!(
            m.migration
                .as_ref()
                .unwrap()
                .as_ref()
                .unwrap()
                .timeout_seconds,
            Some(900)
        );
        let back = serde_json::to_value(&m).unwrap();
        assert_eq!(back, good());
        let mut doc = good();
        doc["migration"] = Value::Null;
        let m: Manifest = serde_json::from_value(doc).unwrap();
        assert_eq!(m.migration, Some(None));
    }
}
