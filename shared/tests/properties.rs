//! Property tests over everything berth parses from the outside: manifests, registry entries,
//! S3 event keys, image references, strict JSON, and the continuation tokens it hands
//! CodePipeline. None may panic; every rejection names a field; tokens stay within
//! CodePipeline's 2048 characters and round-trip exactly.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::collections::BTreeMap;

use berth::images::{Home, ImageRef, Reference};
use berth::keys::{ManifestKey, decode_event_key};
use berth::manifest;
use berth::migration::{Continuation, MAX_TOKEN_CHARS, Pending, Token};
use berth::registry::Service;
use proptest::prelude::*;
use serde_json::{Value, json};

const WEB: &str = r#"{
  "service": "web", "cluster": "prod", "ecs_service": "web", "pipeline": "berth-web",
  "task_family": "web", "containers": { "app": "web/app", "nginx": "web/nginx" },
  "push_trigger": { "container": "app", "tag_pattern": "^v[0-9]+$" },
  "migration": { "container": "app", "command": ["migrate"], "timeout_seconds": 60,
                 "subnets": ["subnet-1"], "security_groups": ["sg-1"] },
  "appspec": { "container": "nginx", "port": 80 }
}"#;
const REPO: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com";

fn home() -> Home {
    Home {
        account_id: "123456789012".into(),
        region: "ap-northeast-1".into(),
    }
}

fn web() -> Service {
    Service::parse("/berth/services/web", Some("web"), WEB, &home()).unwrap()
}

fn key() -> ManifestKey {
    ManifestKey::parse("manifests/web/v1.json").unwrap()
}

/// Field paths a manifest problem may name.
fn names_a_field(field: &str) -> bool {
    let top = field.split(['.', '[']).next().unwrap_or("");
    !field.is_empty()
        && ([
            "manifest",
            "schema",
            "service",
            "release",
            "images",
            "migration",
            "rollback_of",
        ]
        .contains(&top)
            || !top.is_empty())
}

/// A value of a manifest field: the right shape, a near miss, or the wrong type.
fn field_value(good: Value) -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => Just(good),
        1 => Just(Value::Null),
        1 => any::<i64>().prop_map(Value::from),
        1 => "[ -~]{0,80}".prop_map(Value::String),
        1 => Just(json!([1, "x"])),
        1 => Just(json!({"k": "v"})),
    ]
}

fn image() -> impl Strategy<Value = Value> {
    prop_oneof![
        "[a-z0-9_.-]{1,20}".prop_map(|t| json!(format!("{REPO}/web/app:{t}"))),
        "[0-9a-f]{64}".prop_map(|d| json!(format!("{REPO}/web/nginx@sha256:{d}"))),
        "[ -~]{0,60}".prop_map(Value::String),
        Just(json!(format!("{REPO}/web/app:latest"))),
        Just(json!(format!("{REPO}/other/repo:v1"))),
        Just(json!(42)),
    ]
}

fn manifest_doc() -> impl Strategy<Value = String> {
    let containers = prop::collection::btree_map(
        prop_oneof![
            Just("app".to_owned()),
            Just("nginx".to_owned()),
            "[a-z]{1,8}"
        ],
        image(),
        0..4,
    );
    let migration = prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        (
            prop::collection::vec("[ -~]{0,40}", 0..4),
            prop::option::of(0u64..100_000)
        )
            .prop_map(|(c, t)| Some(json!({"command": c, "timeout_seconds": t}))),
        "[ -~]{0,10}".prop_map(|s| Some(json!(s))),
    ];
    (
        field_value(json!("berth/v1")),
        field_value(json!("web")),
        field_value(json!("v1")),
        containers,
        migration,
        prop::option::of("[a-z_]{1,10}"),
        prop::option::of(("schema|release|images|service", field_value(json!("x")))),
    )
        .prop_map(
            |(schema, service, release, images, migration, extra, duplicate)| {
                let mut doc = serde_json::Map::new();
                doc.insert("schema".into(), schema);
                doc.insert("service".into(), service);
                doc.insert("release".into(), release);
                doc.insert("images".into(), Value::Object(images.into_iter().collect()));
                if let Some(m) = migration {
                    doc.insert("migration".into(), m);
                }
                if let Some(e) = extra {
                    doc.insert(e, json!(true));
                }
                let mut text = Value::Object(doc).to_string();
                if let Some((field, value)) = duplicate {
                    text.insert_str(1, &format!("{}:{value},", json!(field)));
                }
                text
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the validator, and any rejection names a field.
    #[test]
    fn any_bytes_are_validated_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Err(problems) = manifest::validate(&bytes, &key(), Some(&web())) {
            prop_assert!(!problems.is_empty());
            for p in &problems {
                prop_assert!(names_a_field(&p.field), "{p:?}");
                prop_assert!(!p.message.is_empty());
            }
        }
    }

    /// Manifests built from right, near-miss and wrong parts: accepted ones hold only
    /// registry containers with their own repositories; rejected ones name every field.
    #[test]
    fn manifests_from_parts_are_accepted_only_when_sound(text in manifest_doc()) {
        match manifest::validate(text.as_bytes(), &key(), Some(&web())) {
            Ok(m) => {
                let svc = web();
                prop_assert!(!m.images.is_empty());
                for (container, image) in &m.images {
                    prop_assert_eq!(Some(&image.repository), svc.repositories.get(container));
                    prop_assert!(image.reference != Reference::Tag("latest".into()));
                }
                prop_assert_eq!(m.release.as_str(), "v1");
            }
            Err(problems) => {
                for p in &problems {
                    prop_assert!(names_a_field(&p.field), "{p:?}");
                }
            }
        }
    }

    /// Registry entries: arbitrary text and near misses of the contract's example never panic,
    /// and every problem names the parameter.
    #[test]
    fn registry_entries_never_panic(
        text in "[ -~]{0,200}",
        edit in prop::sample::select(vec!["service", "cluster", "containers", "push_trigger", "migration", "appspec", "verify", "scan", "deployment"]),
        value in field_value(json!("x")),
    ) {
        for candidate in [text.clone(), {
            let mut v: Value = serde_json::from_str(WEB).unwrap();
            v[edit] = value.clone();
            v.to_string()
        }] {
            if let Err(errors) = Service::parse("/p/web", Some("web"), &candidate, &home()) {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(e.starts_with("registry parameter /p/web"), "{e}");
                }
            }
        }
    }

    /// S3 event keys: S3's encoding (percent-escapes, `+` for a space) decodes back exactly,
    /// and any raw key decodes or is refused without panic.
    #[test]
    fn event_keys_round_trip(key in "\\PC{0,60}", raw in "[ -~]{0,60}") {
        let mut encoded = String::new();
        for b in key.as_bytes() {
            match b {
                b' ' => encoded.push('+'),
                b if b.is_ascii_alphanumeric() || b"-_.~/".contains(b) => encoded.push(*b as char),
                b => encoded.push_str(&format!("%{b:02X}")),
            }
        }
        prop_assert_eq!(decode_event_key(&encoded).unwrap(), key);
        let _ = decode_event_key(&raw);
    }

    /// Image references: arbitrary text parses or is refused without panic; well-formed ECR
    /// references parse back to exactly what was written.
    #[test]
    fn image_refs_parse_back(
        raw in "\\PC{0,80}",
        account in "[0-9]{12}",
        region in "[a-z]{2}-[a-z]{4,9}-[1-9]",
        repo in "[a-z0-9]{1,10}(/[a-z0-9]{1,10}){0,2}",
        tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
        digest in "[0-9a-f]{64}",
    ) {
        let _ = ImageRef::parse(&raw);
        prop_assume!(tag != "latest" && repo.len() >= 2);
        let suffix = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
        let base = format!("{account}.dkr.ecr.{region}.{suffix}/{repo}");
        let tagged = ImageRef::parse(&format!("{base}:{tag}")).unwrap();
        prop_assert_eq!(tagged.repository.uri(), base.clone());
        prop_assert_eq!(tagged.reference, Reference::Tag(tag));
        let pinned = ImageRef::parse(&format!("{base}@sha256:{digest}")).unwrap();
        prop_assert_eq!(pinned.repository.pinned(&format!("sha256:{digest}")), format!("{base}@sha256:{digest}"));
    }
}

fn token() -> impl Strategy<Value = Token> {
    (
        (
            any::<u8>(),
            prop::option::of("[ -~]{0,60}"),
            "[A-Za-z0-9._-]{1,64}",
            "[A-Za-z0-9._-]{1,64}",
        ),
        (
            "[ -~]{0,120}",
            "[ -~]{0,300}",
            "[ -~]{0,60}",
            prop::collection::vec("[ -~]{0,40}", 0..30),
        ),
        (any::<u64>(), any::<u64>(), prop::option::of(any::<u64>())),
        (
            prop::option::of("[ -~]{0,300}"),
            prop::option::of("[ -~]{0,100}"),
        ),
    )
        .prop_map(
            |(
                (v, job, service, release),
                (cluster, task_arn, container, essential),
                (started, deadline, run),
                (group, prefix),
            )| Token {
                v,
                job,
                service,
                release,
                cluster,
                task_arn,
                container,
                essential,
                started_epoch: started,
                deadline_epoch: deadline,
                run_epoch: run,
                log_group: group,
                log_stream_prefix: prefix,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    /// A token berth hands CodePipeline fits 2048 characters and decodes to itself; one that
    /// would not fit is refused, never cut.
    #[test]
    fn tokens_fit_and_round_trip(t in token()) {
        let whole = serde_json::to_string(&t).unwrap();
        match t.encode() {
            Some(s) => {
                prop_assert!(s.len() <= MAX_TOKEN_CHARS);
                prop_assert_eq!(Continuation::decode(&s).unwrap(), Continuation::Running(t));
            }
            None => prop_assert!(whole.len() > MAX_TOKEN_CHARS),
        }
    }

    /// A pending token always fits: its reason is cut, everything else round-trips.
    #[test]
    fn pending_tokens_always_fit(
        job in "[ -~]{0,100}",
        attempt in any::<u32>(),
        started in any::<u64>(),
        deadline in any::<u64>(),
        reason in "\\PC{0,3000}",
    ) {
        let p = Pending::new(&job, attempt, started, deadline, attempt, &reason);
        let s = p.encode();
        prop_assert!(s.len() <= MAX_TOKEN_CHARS, "{}", s.len());
        let Continuation::Starting(back) = Continuation::decode(&s).unwrap() else {
            return Err(TestCaseError::fail("a pending token decodes as one"));
        };
        prop_assert_eq!((back.job, back.run_attempt, back.started_epoch, back.deadline_epoch), (job, attempt, started, deadline));
        prop_assert!(reason.starts_with(&back.last_reason));
    }

    /// Strict JSON reads what serde_json reads, and finds no duplicate where there is none.
    #[test]
    fn strict_json_agrees_with_serde_json(v in json_value()) {
        let text = v.to_string();
        let strict = berth::json::parse(text.as_bytes()).unwrap();
        prop_assert!(strict.duplicates.is_empty());
        prop_assert_eq!(strict.value, v);
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{0,6}", inner, 0..6)
                .prop_map(|m: BTreeMap<String, Value>| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// berth-core writes and reads RFC 3339 itself (it has no SDK); every timestamp must read as the
/// SDK's `aws_smithy_types::DateTime` (Format::DateTime) would write and read it, over the
/// whole range RFC 3339 allows.
mod timestamps {
    use aws_smithy_types::DateTime;
    use aws_smithy_types::date_time::Format;
    use proptest::prelude::*;

    const FIRST: i64 = -62_135_596_800;
    const LAST: i64 = 253_402_300_799;

    proptest! {
        #[test]
        fn berth_formats_every_instant_as_the_sdk_does(
            secs in FIRST..=LAST,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
        ) {
            let sdk = DateTime::from_secs_and_nanos(secs, nanos).fmt(Format::DateTime).unwrap();
            prop_assert_eq!(berth::time::format(secs, nanos), Some(sdk));
        }

        #[test]
        fn berth_reads_every_written_timestamp_as_the_sdk_does(
            secs in FIRST..=LAST,
            nanos in prop_oneof![Just(0u32), 0u32..1_000_000_000],
        ) {
            let text = DateTime::from_secs_and_nanos(secs, nanos).fmt(Format::DateTime).unwrap();
            let sdk = DateTime::from_str(&text, Format::DateTime).unwrap();
            prop_assert_eq!(berth::time::parse(&text), Some((sdk.secs(), sdk.subsec_nanos())));
        }

        #[test]
        fn berth_refuses_what_the_sdk_refuses(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?[Zz]?") {
            let sdk = DateTime::from_str(&text, Format::DateTime)
                .ok()
                .map(|d| (d.secs(), d.subsec_nanos()));
            // Leap seconds (`:60`) are the one form the SDK reads and berth never writes.
            prop_assume!(!text[17..19].starts_with('6'));
            prop_assert_eq!(berth::time::parse(&text), sdk, "{}", text);
        }
    }
}
