//! Release groups (pure): one manifest, `groups/<group>/<release>.json` with schema
//! `berth/group/v1`, naming several services released together, and the group record,
//! `group-releases/<group>/<release>.json`, that follows their results.
//!
//! A group is checked as a whole (every member's problems, nothing starts if any is invalid),
//! then each member is released as its own release of the same name, through its own pipeline.
//! The member releases' records carry `group`; when the last member's own execution ends, the
//! group record turns SUCCEEDED (every member succeeded) or FAILED, and one notification says so.
//!
//! - `record`: the group record and its transitions.

mod record;
#[cfg(test)]
mod tests;

use std::fmt;

use serde_json::{Map, Value, json};

use crate::keys::{KeyError, is_valid_name};
use crate::manifest::{self, Problem};

pub use record::{
    Finish, GroupRecord, GroupStatus, MemberState, MemberStatus, RECORD_SCHEMA, event, message,
};

pub const SCHEMA: &str = "berth/group/v1";

/// The most services one group may name. Each member is checked and started by the same
/// invocation, so the group must fit comfortably in on-manifest's timeout.
pub const MAX_MEMBERS: usize = 20;

/// The fields a group manifest may have, and those of each member.
const FIELDS: [&str; 4] = ["schema", "group", "release", "services"];
const MEMBER_FIELDS: [&str; 2] = ["images", "migration"];

/// `<group>` and `<release>` named by a group manifest key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupKey {
    pub group: String,
    pub release: String,
}

impl GroupKey {
    /// Parses `groups/<group>/<release>.json`.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        let bad = || {
            KeyError(format!(
                "{key:?} is not groups/<group>/<release>.json with names matching [A-Za-z0-9._-]{{1,64}}"
            ))
        };
        let rest = key.strip_prefix("groups/").ok_or_else(bad)?;
        let rest = rest.strip_suffix(".json").ok_or_else(bad)?;
        let (group, release) = rest.split_once('/').ok_or_else(bad)?;
        if !is_valid_name(group) || !is_valid_name(release) {
            return Err(bad());
        }
        Ok(Self {
            group: group.to_owned(),
            release: release.to_owned(),
        })
    }
}

impl fmt::Display for GroupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group {} release {}", self.group, self.release)
    }
}

pub fn manifest_key(group: &str, release: &str) -> String {
    format!("groups/{group}/{release}.json")
}

pub fn record_key(group: &str, release: &str) -> String {
    format!("group-releases/{group}/{release}.json")
}

/// The group's release index: `group-releases/<group>/index/<inverted time>-<release>`, newest
/// first as S3 lists it (the same layout as [`crate::index`]).
pub fn index_prefix(group: &str) -> String {
    format!("group-releases/{group}/index/")
}

/// One member as the release manifest it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub service: String,
    /// A `berth/v1` manifest of the member's images and migration, naming the group.
    pub manifest: Vec<u8>,
}

/// The members of a group manifest and every problem of the document itself. Each member's
/// own fields are checked later, as the manifest it stands for (see [`member_problem`]).
pub fn read(bytes: &[u8], key: &GroupKey) -> (Vec<Member>, Vec<Problem>) {
    let (doc, mut problems) = match manifest::document(bytes) {
        Ok(d) => d,
        Err(p) => return (Vec::new(), vec![p]),
    };
    for field in doc.keys().filter(|f| !FIELDS.contains(&f.as_str())) {
        problems.push(Problem::new(field.clone(), "unknown field"));
    }
    expect_string(&doc, "schema", SCHEMA, &mut problems);
    expect_string(&doc, "group", &key.group, &mut problems);
    expect_string(&doc, "release", &key.release, &mut problems);
    let members = members(doc.get("services"), key, &mut problems);
    (members, problems)
}

/// A problem of a member's manifest, named by its place in the group manifest.
pub fn member_problem(service: &str, problem: &Problem) -> Problem {
    let field = match problem.field.as_str() {
        "manifest" => format!("services.{service}"),
        field => format!("services.{service}.{field}"),
    };
    Problem::new(field, problem.message.clone())
}

/// `field` must be the string `expected` (the schema, or the name the key gives).
fn expect_string(
    doc: &Map<String, Value>,
    field: &str,
    expected: &str,
    problems: &mut Vec<Problem>,
) {
    match doc.get(field) {
        Some(Value::String(s)) if s == expected => {}
        None => problems.push(Problem::new(
            field,
            format!("missing; must be {expected:?}"),
        )),
        Some(other) => problems.push(Problem::new(
            field,
            format!(
                "must be {expected:?} (as the key groups/<group>/<release>.json says), got {other}"
            ),
        )),
    }
}

fn members(services: Option<&Value>, key: &GroupKey, problems: &mut Vec<Problem>) -> Vec<Member> {
    let services = match services {
        Some(Value::Object(s)) if !s.is_empty() => s,
        None => {
            problems.push(Problem::new("services", "missing"));
            return Vec::new();
        }
        Some(_) => {
            problems.push(Problem::new(
                "services",
                "must be an object of one or more services, each {\"images\": {...}, \"migration\": ...}",
            ));
            return Vec::new();
        }
    };
    if services.len() > MAX_MEMBERS {
        problems.push(Problem::new(
            "services",
            format!(
                "names {} services; a group may name at most {MAX_MEMBERS}",
                services.len()
            ),
        ));
    }
    let mut members = Vec::new();
    for (service, value) in services {
        if !is_valid_name(service) {
            problems.push(Problem::new(
                format!("services.{service}"),
                "is not a service name matching [A-Za-z0-9._-]{1,64}",
            ));
            continue;
        }
        let Value::Object(fields) = value else {
            problems.push(Problem::new(
                format!("services.{service}"),
                "must be an object {\"images\": {...}, \"migration\": ...}",
            ));
            continue;
        };
        for field in fields
            .keys()
            .filter(|f| !MEMBER_FIELDS.contains(&f.as_str()))
        {
            problems.push(Problem::new(
                format!("services.{service}.{field}"),
                "unknown field",
            ));
        }
        members.push(member(service, fields, key));
    }
    // By name, whatever order the document (or the JSON map) keeps.
    members.sort_by(|a, b| a.service.cmp(&b.service));
    members
}

fn member(service: &str, fields: &Map<String, Value>, key: &GroupKey) -> Member {
    let mut doc = json!({
        "schema": manifest::SCHEMA,
        "service": service,
        "release": key.release,
        "group": key.group,
    });
    for field in MEMBER_FIELDS {
        if let Some(value) = fields.get(field) {
            doc[field] = value.clone();
        }
    }
    Member {
        service: service.to_owned(),
        manifest: doc.to_string().into_bytes(),
    }
}
