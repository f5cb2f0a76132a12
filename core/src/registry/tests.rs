//! Registry entries: the contract's example, and every field's problems.
use super::*;

pub(crate) fn home() -> Home {
    Home {
        account_id: "123456789012".into(),
        region: "ap-northeast-1".into(),
    }
}

/// The registry example of docs/design/contract.md §2.
pub(crate) const WEB: &str = r#"{
  "service": "web",
  "cluster": "prod",
  "ecs_service": "web",
  "pipeline": "berth-web",
  "task_family": "web",
  "containers": { "app": "web/app", "nginx": "web/nginx" },
  "push_trigger": { "container": "app", "tag_pattern": "^(v[0-9]+\\.[0-9]+\\.[0-9]+|[0-9a-f]{7,40})$" },
  "migration": {
    "container": "app",
    "command": ["bin/rails", "db:migrate"],
    "timeout_seconds": 1800,
    "subnets": ["subnet-0a1b2c"],
    "security_groups": ["sg-0d4e5f"]
  },
  "appspec": { "container": "nginx", "port": 80 }
}"#;

pub(crate) fn web() -> Service {
    Service::parse("/berth/services/web", Some("web"), WEB, &home()).unwrap()
}

#[test]
fn contract_example_parses() {
    let s = web();
    assert_eq!(s.config.pipeline, "berth-web");
    assert_eq!(
        s.repositories["nginx"].uri(),
        "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/nginx"
    );
}

#[test]
fn tag_trigger_rules() {
    let s = web();
    for (tag, want) in [
        ("v1.4.2", true),
        ("3f9c2e1", true),
        ("latest", false),
        ("v1.4", false),
        ("feature-x", false),
        ("3F9C2E1", false),
    ] {
        assert_eq!(s.tag_triggers(tag), want, "{tag}");
    }
    let mut no_trigger = s.clone();
    no_trigger.tag_pattern = None;
    assert!(!no_trigger.tag_triggers("v1.4.2"));
}

#[test]
fn bad_entries_name_every_field() {
    let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
    v["service"] = "api".into();
    v["containers"]["app"] = "docker.io/app".into();
    v["push_trigger"]["container"] = "worker".into();
    v["push_trigger"]["tag_pattern"] = "(".into();
    v["migration"]["timeout_seconds"] = 82_801.into();
    v["migration"]["subnets"] = serde_json::json!([]);
    let errors =
        Service::parse("/berth/services/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    for field in [
        ": service:",
        "containers.app",
        "push_trigger.container",
        "push_trigger.tag_pattern",
        "migration.timeout_seconds",
        "migration.subnets",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(field)),
            "{field}: {errors:?}"
        );
    }
}

#[test]
fn duplicate_keys_in_an_entry_are_refused_by_path() {
    let dup = WEB.replacen(
        r#""pipeline": "berth-web","#,
        r#""pipeline": "berth-web", "pipeline": "other","#,
        1,
    );
    let dup = dup.replacen(
        r#""app": "web/app","#,
        r#""app": "web/app", "app": "evil/app","#,
        1,
    );
    let errors = Service::parse("/p/web", Some("web"), &dup, &home()).unwrap_err();
    assert_eq!(
        errors,
        [
            "registry parameter /p/web: pipeline: duplicate key",
            "registry parameter /p/web: containers.app: duplicate key"
        ]
    );
}

#[test]
fn unknown_registry_fields_are_refused() {
    let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
    v["pipline"] = "typo".into();
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    assert!(errors[0].contains("pipline"), "{errors:?}");
}

/// The entry the service stacks write: CloudFormation with a `deployment` section and, when
/// configured, `verify` and `scan`; Terraform with `null` for the unconfigured ones.
#[test]
fn entries_the_stacks_write_parse() {
    let full = r#"{"service":"web","cluster":"prod","ecs_service":"web","pipeline":"berth-web","task_family":"web",
      "containers":{"app":"web/app","nginx":"web/nginx"},
      "push_trigger":{"container":"app","tag_pattern":"^v[0-9]+$"},
      "migration":{"container":"app","command":["bin/rails","db:migrate"],"timeout_seconds":1800,"subnets":["subnet-1"],"security_groups":["sg-1"]},
      "appspec":{"container":"nginx","port":80},
      "deployment":{"application":"berth-web","group":"web"},
      "verify":{"base_url":"http://internal-web-123.ap-northeast-1.elb.amazonaws.com:8080",
                "checks":[{"path":"/health","status":204},{"path":"/ready","status":204}],
                "attempts":4,"interval_seconds":15,"timeout_seconds":5},
      "scan":{"block":["CRITICAL","HIGH"],"wait_seconds":600,"ignore":["CVE-2024-0001"]}}"#;
    let s = Service::parse("/berth/services/web", Some("web"), full, &home()).unwrap();
    let v = s.config.verify.as_ref().unwrap();
    assert_eq!(
        (v.checks.len(), v.attempts, v.worst_case_seconds()),
        (2, 4, 2 * (4 * 5 + 3 * 15))
    );
    assert_eq!(
        s.config.scan.as_ref().unwrap().block,
        [Severity::Critical, Severity::High]
    );
    assert_eq!(s.config.deployment_target().application, "berth-web");

    let terraform = r#"{"service":"web","cluster":"prod","ecs_service":"web","pipeline":"berth-web","task_family":"web",
      "containers":{"app":"web/app"},"push_trigger":null,"migration":null,
      "appspec":{"container":"app","port":80},"deployment":{"application":"berth-web","group":"web"},
      "scan":null,"verify":null}"#;
    let s = Service::parse("/berth/services/web", Some("web"), terraform, &home()).unwrap();
    assert_eq!((s.config.verify, s.config.scan), (None, None));
    let bare = web();
    assert_eq!(
        bare.config.deployment_target(),
        DeploymentTarget {
            application: "berth-web".into(),
            group: "web".into()
        },
        "without a deployment section: the pipeline's name and the service's"
    );
}

/// The stacks list their target group alarms; a name is an alarm name, once.
#[test]
fn target_group_alarms_are_alarm_names_each_once() {
    let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
    v["target_group_alarms"] = serde_json::json!(["web-blue-target-5xx", "web-green-target-5xx"]);
    let s = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap();
    assert_eq!(s.config.target_group_alarms.len(), 2);
    assert!(web().config.target_group_alarms.is_empty(), "absent = none");
    v["target_group_alarms"] = serde_json::json!(["a", "", "a", "x".repeat(256)]);
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    assert_eq!(
        errors,
        [
            "registry parameter /p/web: target_group_alarms[1]: \"\" must be an alarm name of 1 to 255 characters",
            "registry parameter /p/web: target_group_alarms[2]: \"a\" is named twice",
            &format!(
                "registry parameter /p/web: target_group_alarms[3]: {:?} must be an alarm name of 1 to 255 characters",
                "x".repeat(256)
            ),
        ]
    );
}

#[test]
fn guard_sections_name_every_problem() {
    let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
    v["deployment"] = serde_json::json!({"application": "", "group": "web"});
    v["verify"] = serde_json::json!({"base_url": "ftp://x", "checks": [{"path": "health", "status": 99}],
        "attempts": 11, "interval_seconds": 61, "timeout_seconds": 31});
    v["scan"] = serde_json::json!({"block": [], "wait_seconds": 5, "ignore": [""]});
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    for field in [
        "deployment.application:",
        "verify.base_url:",
        "verify.checks[0].path:",
        "verify.checks[0].status:",
        "verify.attempts:",
        "verify.interval_seconds:",
        "verify.timeout_seconds:",
        "verify: its checks can take",
        "scan.block:",
        "scan.wait_seconds:",
        "scan.ignore:",
    ] {
        assert!(
            errors.iter().any(|e| e.contains(field)),
            "{field}: {errors:#?}"
        );
    }
    v["scan"] = serde_json::json!({"block": ["SEVERE"]});
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    assert!(errors[0].contains("SEVERE"), "{errors:?}");
}

#[test]
fn task_network_is_the_network_section_else_the_migrations() {
    let s = web();
    let from_migration = s.config.task_network().unwrap();
    assert_eq!(from_migration.subnets, ["subnet-0a1b2c"]);
    assert_eq!(from_migration.security_groups, ["sg-0d4e5f"]);
    assert!(!from_migration.assign_public_ip);

    let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
    v["network"] = serde_json::json!({"subnets": ["subnet-9"], "assign_public_ip": true});
    let own = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap();
    let network = own.config.task_network().unwrap();
    assert_eq!(network.subnets, ["subnet-9"]);
    assert!(network.security_groups.is_empty());
    assert!(network.assign_public_ip);

    v["network"] = serde_json::Value::Null;
    v["migration"] = serde_json::Value::Null;
    let neither = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap();
    assert_eq!(neither.config.task_network(), None);
}

#[test]
fn a_network_needs_a_subnet_and_no_empty_ids() {
    let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
    v["network"] = serde_json::json!({"subnets": [], "security_groups": [" "], "nat": true});
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    assert!(
        errors[0].contains("nat"),
        "unknown field refused: {errors:?}"
    );
    v["network"] = serde_json::json!({"subnets": [], "security_groups": [" "]});
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    assert_eq!(
        errors,
        [
            "registry parameter /p/web: network.subnets: must name at least one subnet",
            "registry parameter /p/web: network.security_groups: must not hold an empty id",
        ]
    );
    let ids = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>();
    v["network"] =
        serde_json::json!({"subnets": ids("subnet", 17), "security_groups": ids("sg", 6)});
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    assert_eq!(
        errors,
        [
            "registry parameter /p/web: network.subnets: may name at most 16",
            "registry parameter /p/web: network.security_groups: may name at most 5",
        ]
    );
    v["network"] =
        serde_json::json!({"subnets": ids("subnet", 16), "security_groups": ids("sg", 5)});
    assert!(Service::parse("/p/web", Some("web"), &v.to_string(), &home()).is_ok());
}

#[test]
fn a_post_migration_is_checked_and_needs_a_network() {
    let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
    v["post_migration"] = serde_json::json!({"container": "app",
        "command": ["bin/rails", "db:contract"], "timeout_seconds": 600});
    let s = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap();
    assert_eq!(
        s.config.post_migration.unwrap().command,
        ["bin/rails", "db:contract"]
    );

    v["post_migration"] =
        serde_json::json!({"container": "worker", "command": [], "timeout_seconds": 0});
    v["migration"] = serde_json::Value::Null;
    let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
    assert_eq!(
        errors,
        [
            "registry parameter /p/web: post_migration.container: \"worker\" is not in containers",
            "registry parameter /p/web: post_migration.command: must not be empty",
            "registry parameter /p/web: post_migration.timeout_seconds: must be 1..=82800",
            "registry parameter /p/web: post_migration: has no network to run in: add a `network` section (or a `migration` section, whose subnets and security groups it then uses)",
        ]
    );
    v["post_migration"] =
        serde_json::json!({"container": "app", "command": ["x"], "timeout_seconds": 60});
    v["network"] = serde_json::json!({"subnets": ["subnet-9"]});
    assert!(Service::parse("/p/web", Some("web"), &v.to_string(), &home()).is_ok());
}
