//! The checks of each manifest field. Each adds every problem it finds to `problems` and
//! returns what it could read, so one pass reports everything.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{MigrationChoice, MigrationOverride, Problem, PromotedFrom, SCHEMA};
use crate::images::ImageRef;
use crate::images::Repository;
use crate::keys::{ManifestKey, is_valid_name};
use crate::registry::{MAX_MIGRATION_TIMEOUT_SECONDS, Service};

/// The fields a manifest may have.
pub(super) const FIELDS: [&str; 9] = [
    "schema",
    "service",
    "release",
    "images",
    "migration",
    "post_migration",
    "rollback_of",
    "promoted_from",
    "group",
];

pub(super) fn unknown_fields(doc: &Map<String, Value>, problems: &mut Vec<Problem>) {
    for field in doc.keys() {
        if !FIELDS.contains(&field.as_str()) {
            problems.push(Problem::new(field.clone(), "unknown field"));
        }
    }
}

pub(super) fn schema(doc: &Map<String, Value>, problems: &mut Vec<Problem>) {
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
}

/// `service`: a string equal to the key's `<service>`.
pub(super) fn service(
    doc: &Map<String, Value>,
    key: &ManifestKey,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let name = required_string(doc, "service", problems)?;
    if name != key.service {
        problems.push(Problem::new(
            "service",
            format!(
                "is {name:?} but the manifest was uploaded under manifests/{}/",
                key.service
            ),
        ));
    }
    Some(name)
}

/// `release`: a legal name equal to the key's `<release>`.
pub(super) fn release(
    doc: &Map<String, Value>,
    key: &ManifestKey,
    problems: &mut Vec<Problem>,
) -> Option<String> {
    let r = required_string(doc, "release", problems)?;
    if !is_valid_name(&r) {
        problems.push(Problem::new(
            "release",
            format!("{r:?} must match [A-Za-z0-9._-]{{1,64}}"),
        ));
    } else if r != key.release {
        problems.push(Problem::new(
            "release",
            format!(
                "is {r:?} but the object key names release {:?}",
                key.release
            ),
        ));
    }
    Some(r)
}

pub(super) fn rollback_of(doc: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<String> {
    match doc.get("rollback_of") {
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
    }
}

/// `promoted_from`: absent, null, or `{"environment", "release", "pipeline_execution_id"?}`.
pub(super) fn promoted_from(
    doc: &Map<String, Value>,
    problems: &mut Vec<Problem>,
) -> Option<PromotedFrom> {
    let value = doc.get("promoted_from").filter(|v| !v.is_null())?;
    let from: PromotedFrom = match serde_json::from_value(value.clone()) {
        Ok(f) => f,
        Err(e) => {
            problems.push(Problem::new("promoted_from", e.to_string()));
            return None;
        }
    };
    let environment_ok = !from.environment.trim().is_empty() && from.environment.len() <= 64;
    if !environment_ok {
        problems.push(Problem::new(
            "promoted_from.environment",
            "must be a name of 1-64 characters",
        ));
    }
    if !is_valid_name(&from.release) {
        problems.push(Problem::new(
            "promoted_from.release",
            "must match [A-Za-z0-9._-]{1,64}",
        ));
    }
    Some(from)
}

/// `group`: absent, null, or the name of the release group the release belongs to.
pub(super) fn group(doc: &Map<String, Value>, problems: &mut Vec<Problem>) -> Option<String> {
    match doc.get("group") {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) if is_valid_name(g) => Some(g.clone()),
        Some(other) => {
            problems.push(Problem::new(
                "group",
                format!(
                    "must be null or a group name matching [A-Za-z0-9._-]{{1,64}}, got {other}"
                ),
            ));
            None
        }
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

/// `images`: container name → an ECR image of that container's registry repository.
pub(super) fn images(
    value: Option<&Value>,
    service: Option<&Service>,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, ImageRef> {
    let entries = match value {
        Some(Value::Object(m)) if !m.is_empty() => m,
        Some(Value::Object(_)) => {
            problems.push(Problem::new("images", "must name at least one container"));
            return BTreeMap::new();
        }
        None => {
            problems.push(Problem::new("images", "missing"));
            return BTreeMap::new();
        }
        Some(other) => {
            problems.push(Problem::new(
                "images",
                format!("must be an object of container name → image, got {other}"),
            ));
            return BTreeMap::new();
        }
    };
    let mut images = BTreeMap::new();
    for (container, image) in entries {
        match image_of(container, image, service) {
            Ok(r) => {
                images.insert(container.clone(), r);
            }
            Err(p) => problems.push(p),
        }
    }
    images
}

/// One entry of `images`.
fn image_of(
    container: &str,
    image: &Value,
    service: Option<&Service>,
) -> Result<ImageRef, Problem> {
    let field = format!("images.{container}");
    let allowed: Option<&Repository> = match service {
        Some(s) => Some(s.repositories.get(container).ok_or_else(|| {
            let known: Vec<&str> = s.repositories.keys().map(String::as_str).collect();
            Problem::new(
                &field,
                format!(
                    "container {container:?} is not in the registry for {:?} (known: {})",
                    s.config.service,
                    known.join(", ")
                ),
            )
        })?),
        None => None,
    };
    let Value::String(image) = image else {
        return Err(Problem::new(
            &field,
            format!("must be an image URI string, got {image}"),
        ));
    };
    let r = ImageRef::parse(image).map_err(|e| Problem::new(&field, e))?;
    if let Some(repo) = allowed
        && r.repository != *repo
    {
        return Err(Problem::new(
            &field,
            format!(
                "image {image:?} is outside the allowed repository {repo} for container {container:?}"
            ),
        ));
    }
    Ok(r)
}

/// `migration`: absent (registry default), `null` (skip), or an override object.
pub(super) fn migration(
    value: Option<&Value>,
    service: Option<&Service>,
    problems: &mut Vec<Problem>,
) -> MigrationChoice {
    let missing = service.filter(|s| s.config.migration.is_none()).map(|s| {
        format!(
            "service {:?} has no migration in the registry (container, subnets, security groups); leave the field out or set it to null",
            s.config.service
        )
    });
    choice("migration", value, missing, problems)
}

/// `post_migration`: as `migration`, against the registry's `post_migration` section.
pub(super) fn post_migration(
    value: Option<&Value>,
    service: Option<&Service>,
    problems: &mut Vec<Problem>,
) -> MigrationChoice {
    let missing = service
        .filter(|s| s.config.post_migration.is_none())
        .map(|s| {
            format!(
                "service {:?} has no post_migration in the registry (container, command, timeout); leave the field out or set it to null",
                s.config.service
            )
        });
    choice("post_migration", value, missing, problems)
}

/// A migration field `name`: absent, `null`, or an override of `command` and
/// `timeout_seconds`; `missing` says why the registry has nothing to override.
fn choice(
    name: &str,
    value: Option<&Value>,
    missing: Option<String>,
    problems: &mut Vec<Problem>,
) -> MigrationChoice {
    let obj = match value {
        None => return MigrationChoice::Default,
        Some(Value::Null) => return MigrationChoice::Skip,
        Some(Value::Object(o)) => o,
        Some(other) => {
            problems.push(Problem::new(
                name,
                format!("must be null or an object, got {other}"),
            ));
            return MigrationChoice::Default;
        }
    };
    if let Some(why) = missing {
        problems.push(Problem::new(name, why));
    }
    let mut over = MigrationOverride::default();
    for (field, v) in obj {
        let path = format!("{name}.{field}");
        match field.as_str() {
            "command" => {
                over.command = command(v)
                    .map_err(|m| problems.push(Problem::new(&path, m)))
                    .ok()
            }
            "timeout_seconds" => {
                over.timeout_seconds = timeout(v)
                    .map_err(|m| problems.push(Problem::new(&path, m)))
                    .ok()
            }
            _ => problems.push(Problem::new(path, "unknown field")),
        }
    }
    MigrationChoice::Override(over)
}

fn command(v: &Value) -> Result<Vec<String>, String> {
    let items: Option<Vec<String>> = v.as_array().filter(|a| !a.is_empty()).and_then(|a| {
        a.iter()
            .map(|i| i.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
            .collect()
    });
    items.ok_or_else(|| format!("must be a non-empty array of non-empty strings, got {v}"))
}

fn timeout(v: &Value) -> Result<u64, String> {
    v.as_u64()
        .filter(|t| (1..=MAX_MIGRATION_TIMEOUT_SECONDS).contains(t))
        .ok_or_else(|| {
            format!("must be a whole number of seconds from 1 to {MAX_MIGRATION_TIMEOUT_SECONDS}, got {v}")
        })
}
