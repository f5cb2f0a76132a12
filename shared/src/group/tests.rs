use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::record::ReleaseStatus;
use crate::render::ManifestSource;

fn key() -> GroupKey {
    GroupKey {
        group: "shop".into(),
        release: "2026.11.24".into(),
    }
}

fn problems_of(doc: &str) -> Vec<String> {
    read(doc.as_bytes(), &key())
        .1
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn group_keys_name_the_group_and_the_release() {
    let k = GroupKey::parse("groups/shop/2026.11.24.json").unwrap();
    assert_eq!(
        (k.group.as_str(), k.release.as_str()),
        ("shop", "2026.11.24")
    );
    for bad in [
        "groups/shop.json",
        "groups/shop/a/b.json",
        "groups/sh op/r.json",
        "groups/shop/r.yaml",
        "manifests/web/r.json",
        "groups/../r.json",
    ] {
        assert!(GroupKey::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn each_member_becomes_the_manifest_it_stands_for() {
    let doc = r#"{"schema":"berth/group/v1","group":"shop","release":"2026.11.24",
        "services":{"web":{"images":{"app":"web/app:v1"},"migration":null},
                    "api":{"images":{"app":"api/app:v2"}}}}"#;
    let (members, problems) = read(doc.as_bytes(), &key());
    assert!(problems.is_empty(), "{problems:?}");
    let services: Vec<&str> = members.iter().map(|m| m.service.as_str()).collect();
    assert_eq!(services, ["api", "web"], "by name");
    let web: Value = serde_json::from_slice(&members[1].manifest).unwrap();
    assert_eq!(
        web,
        json!({"schema": "berth/v1", "service": "web", "release": "2026.11.24", "group": "shop",
            "images": {"app": "web/app:v1"}, "migration": null})
    );
    let api: Value = serde_json::from_slice(&members[0].manifest).unwrap();
    assert!(api.get("migration").is_none(), "absent stays absent: {api}");
}

#[test]
fn every_problem_of_the_document_is_listed_at_once() {
    let problems = problems_of(
        r#"{"schema":"berth/v2","group":"other","release":"2026.11.24","extra":1,
        "services":{"web":{"images":{},"images":{},"tag":"x"},"bad name":{},"api":[]}}"#,
    );
    for expected in [
        "extra: unknown field",
        "schema: must be \"berth/group/v1\"",
        "group: must be \"shop\"",
        "services.web.images: duplicate key",
        "services.web.tag: unknown field",
        "services.bad name: is not a service name",
        "services.api: must be an object",
    ] {
        assert!(
            problems.iter().any(|p| p.starts_with(expected)),
            "{expected} in {problems:?}"
        );
    }
}

#[test]
fn a_group_names_one_to_twenty_services() {
    let empty = problems_of(
        r#"{"schema":"berth/group/v1","group":"shop","release":"2026.11.24","services":{}}"#,
    );
    assert!(
        empty[0].starts_with("services: must be an object of one or more"),
        "{empty:?}"
    );
    let missing =
        problems_of(r#"{"schema":"berth/group/v1","group":"shop","release":"2026.11.24"}"#);
    assert_eq!(missing, ["services: missing"]);
    let services: serde_json::Map<String, Value> = (0..21)
        .map(|i| (format!("s{i}"), json!({"images": {}})))
        .collect();
    let doc = json!({"schema": "berth/group/v1", "group": "shop", "release": "2026.11.24",
        "services": services});
    let many = problems_of(&doc.to_string());
    assert_eq!(
        many,
        ["services: names 21 services; a group may name at most 20"]
    );
    assert_eq!(problems_of("[]"), ["manifest: must be a JSON object"]);
}

#[test]
fn member_problems_are_named_by_their_place_in_the_group() {
    let p = member_problem("web", &Problem::new("images.app", "unknown container"));
    assert_eq!(p.to_string(), "services.web.images.app: unknown container");
    let whole = member_problem("web", &Problem::new("manifest", "x"));
    assert_eq!(whole.to_string(), "services.web: x");
}

fn record(services: &[&str]) -> GroupRecord {
    let member = MemberState {
        status: MemberStatus::Pending,
        images: BTreeMap::from([("app".into(), "r/app@sha256:ab".into())]),
        pipeline_execution_id: None,
        duration_seconds: None,
        finished_at: None,
        message: None,
    };
    GroupRecord {
        schema: RECORD_SCHEMA.into(),
        group: "shop".into(),
        release: "r1".into(),
        status: GroupStatus::InProgress,
        manifest: ManifestSource {
            bucket: "b".into(),
            key: "groups/shop/r1.json".into(),
            version_id: "v".into(),
        },
        members: services
            .iter()
            .map(|s| ((*s).to_owned(), member.clone()))
            .collect(),
        created_at: "2026-11-24T10:00:00Z".into(),
        updated_at: "2026-11-24T10:00:00Z".into(),
        finished_at: None,
        notified: false,
    }
}

#[test]
fn the_last_member_to_finish_completes_the_group_once() {
    let mut g = record(&["api", "web", "worker"]);
    assert!(g.started("web", "e-web"));
    assert!(!g.started("web", "e-again"), "a start is recorded once");
    let at = "2026-11-24T10:05:00Z";
    let ok = ReleaseStatus::Succeeded;
    assert_eq!(
        g.finished("web", "e-web", ok, Some(200), at),
        Finish::Updated { completed: false }
    );
    assert_eq!(
        g.finished("web", "e-web", ok, Some(200), at),
        Finish::Unchanged
    );
    assert_eq!(g.finished("db", "e-db", ok, None, at), Finish::NotMember);
    assert_eq!(
        g.finished("api", "e-api", ReleaseStatus::InProgress, None, at),
        Finish::Unchanged,
        "only a final state finishes a member"
    );
    g.finished("api", "e-api", ReleaseStatus::Failed, Some(90), at);
    assert_eq!(g.status, GroupStatus::InProgress);
    assert_eq!(
        g.finished("worker", "e-w", ok, Some(120), "2026-11-24T10:06:40Z"),
        Finish::Updated { completed: true }
    );
    assert_eq!(g.status, GroupStatus::Failed);
    assert_eq!(g.duration_seconds(), Some(400));
    assert!(!g.started("api", "e-late"), "a start never undoes a result");
}

#[test]
fn a_group_succeeds_only_when_every_member_succeeds() {
    let mut g = record(&["api", "web"]);
    let at = "2026-11-24T10:01:00Z";
    g.finished("api", "e1", ReleaseStatus::Succeeded, None, at);
    g.finished("web", "e2", ReleaseStatus::Succeeded, None, at);
    assert_eq!(g.status, GroupStatus::Succeeded);
    let mut r = record(&["api", "web"]);
    r.started("web", "e2");
    assert_eq!(
        r.rejected("web", "checks fail now", at),
        Finish::Unchanged,
        "a member that started is never rejected"
    );
    r.rejected("api", "release r1 of api already exists", at);
    r.finished("web", "e2", ReleaseStatus::Succeeded, None, at);
    assert_eq!(r.status, GroupStatus::Failed);
}

#[test]
fn the_group_message_names_each_service_result_duration_and_digests() {
    let mut g = record(&["api", "web"]);
    g.finished(
        "api",
        "e1",
        ReleaseStatus::Failed,
        Some(65),
        "2026-11-24T10:01:00Z",
    );
    g.finished(
        "web",
        "e2",
        ReleaseStatus::Succeeded,
        Some(125),
        "2026-11-24T10:02:05Z",
    );
    assert_eq!(
        message(&g),
        ":x: group shop release r1 failed: 1 of 2 service(s) did not succeed in 2m05s\n\
         • api: FAILED in 1m05s\n    app: `r/app@sha256:ab`\n\
         • web: SUCCEEDED in 2m05s\n    app: `r/app@sha256:ab`"
    );
    let e = event(&g);
    assert_eq!(e["schema"], "berth/group-finished/v1");
    assert_eq!(e["status"], "FAILED");
    assert_eq!(e["members"]["web"]["status"], "SUCCEEDED");
    assert_eq!(e["members"]["web"]["images"]["app"], "r/app@sha256:ab");
    assert_eq!(e["duration_seconds"], 125);
}
