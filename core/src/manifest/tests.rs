//! The manifest validator's table tests: every bad manifest names its field.

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
            |d| d["migration"]["timeout_seconds"] = json!(82_801),
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

/// `{"images":{"app":"…:latest"},"images":{"app":"…:3f9c2e1"}}` would release 3f9c2e1 while a
/// reviewer reads `latest`: every duplicated key is a problem naming its path, listed with the
/// others.
#[test]
fn duplicate_keys_anywhere_are_problems_naming_their_path() {
    let text = format!(
        r#"{{"schema":"berth/v1","service":"web","release":"v1.4.2","release":"v1.4.2",
            "images":{{"app":"{APP}:latest"}},
            "images":{{"app":"{APP}:3f9c2e1","app":"{APP}:v1","nginx":"{NGINX}@{DIGEST}"}},
            "migration":{{"command":["a"],"command":["b"]}},"extra":1}}"#
    );
    let problems = validate(text.as_bytes(), &key(), Some(&web())).unwrap_err();
    let named: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    for want in [
        "release: duplicate key",
        "images.app: duplicate key",
        "images: duplicate key",
        "migration.command: duplicate key",
        "extra: unknown field",
    ] {
        assert!(named.iter().any(|n| n == want), "{want} not in {named:?}");
    }
}

/// "A total of 8192 characters are allowed for overrides. This limit includes the JSON
/// formatting characters of the override structure." (RunTask): a longer command is refused
/// when the manifest is validated, not when the task would start.
#[test]
fn a_migration_override_over_runtasks_limit_is_refused() {
    let at_limit = |n: usize| {
        let mut doc = good();
        doc["migration"]["command"] = json!(["x".repeat(n)]);
        check(&doc)
    };
    let base = crate::migration::overrides_chars("app", &["".to_owned()]);
    assert!(at_limit(8192 - base).is_ok());
    let problems = at_limit(8193 - base).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].field, "migration.command");
    assert!(
        problems[0]
            .message
            .contains("8193 characters; ECS allows 8192"),
        "{problems:?}"
    );
}

/// `web` with a post migration (the contract step) in the registry.
fn contracting() -> Service {
    let mut v: Value = serde_json::from_str(crate::registry::tests::WEB).unwrap();
    v["post_migration"] = json!({"container": "app", "command": ["bin/rails", "db:contract"],
        "timeout_seconds": 600});
    v["network"] = json!({"subnets": ["subnet-9"], "assign_public_ip": true});
    Service::parse(
        "/p/web",
        Some("web"),
        &v.to_string(),
        &crate::registry::tests::home(),
    )
    .unwrap()
}

#[test]
fn pre_only_post_only_and_both_migrations() {
    let s = contracting();
    let with = |migration: Value, post: Option<Value>| {
        let mut doc = good();
        doc["migration"] = migration;
        if let Some(p) = post {
            doc["post_migration"] = p;
        }
        let m = validate(doc.to_string().as_bytes(), &key(), Some(&s)).unwrap();
        (m.migration_plan(&s), m.post_migration_plan(&s))
    };
    // Both: the registry's contract step, in the `network` section (not the migration's).
    let (pre, post) = with(json!({}), None);
    let post = post.unwrap();
    assert!(pre.is_some());
    assert_eq!(post.command, ["bin/rails", "db:contract"]);
    assert_eq!(post.subnets, ["subnet-9"]);
    assert!(post.assign_public_ip);
    // Pre only: the release skips its contract step.
    let (pre, post) = with(json!({}), Some(Value::Null));
    assert!(pre.is_some() && post.is_none());
    // Post only, with an override.
    let (pre, post) = with(
        Value::Null,
        Some(json!({"command": ["drop-old"], "timeout_seconds": 30})),
    );
    let post = post.unwrap();
    assert!(pre.is_none());
    assert_eq!(
        (post.command.as_slice(), post.timeout_seconds),
        (&["drop-old".to_owned()][..], 30)
    );
    // A service without one: absent is no post migration, an override is refused.
    let m = check(&good()).unwrap();
    assert_eq!(m.post_migration_plan(&web()), None);
    let mut doc = good();
    doc["post_migration"] = json!({"timeout_seconds": 0});
    let problems = check(&doc).unwrap_err();
    let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        ["post_migration", "post_migration.timeout_seconds"],
        "{problems:?}"
    );
}
