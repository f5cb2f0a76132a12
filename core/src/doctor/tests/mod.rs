//! Every check, one broken fact at a time, against a healthy setup shaped like the stacks'.

mod native;
mod network;
mod pipeline;
mod resources;
mod service;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::images::Repository;
use crate::job::USER_PARAMETERS;
use crate::registry::ServiceConfig;

pub(super) const BUCKET: &str = "berth-releases-123456789012-ap-northeast-1";
pub(super) const EXEC_ROLE: &str = "arn:aws:iam::123456789012:role/web-exec";
pub(super) const TASK_ROLE: &str = "arn:aws:iam::123456789012:role/web-task";

/// The registry entry of docs/design/contract.md §2, as the service stack writes it.
pub(super) fn entry() -> Value {
    json!({
        "service": "web", "cluster": "prod", "ecs_service": "web", "pipeline": "berth-web",
        "task_family": "web",
        "containers": {"app": "web/app", "nginx": "web/nginx"},
        "migration": {"container": "app", "command": ["bin/rails", "db:migrate"],
                      "timeout_seconds": 1800, "subnets": ["subnet-0a1b2c"],
                      "security_groups": ["sg-0d4e5f"]},
        "appspec": {"container": "nginx", "port": 80}
    })
}

fn action(
    name: &str,
    category: &str,
    provider: &str,
    run_order: i32,
    config: &[(&str, &str)],
) -> Action {
    Action {
        name: name.into(),
        category: category.into(),
        provider: provider.into(),
        run_order,
        configuration: config
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        input_artifacts: Vec::new(),
        output_artifacts: Vec::new(),
    }
}

/// The service stack's pipeline: Source ▸ Release [Migrate ▸ Deploy].
pub(super) fn stack_pipeline() -> Pipeline {
    let var = |name: &str, default: &str| Variable {
        name: name.into(),
        default: Some(default.into()),
    };
    let source = action(
        "Source",
        "Source",
        "S3",
        1,
        &[
            ("S3Bucket", BUCKET),
            ("S3ObjectKey", "artifacts/web/source.zip"),
            ("PollForSourceChanges", "false"),
        ],
    );
    let mut migrate = action(
        "Migrate",
        "Invoke",
        "Lambda",
        1,
        &[
            ("FunctionName", "berth-migrate"),
            ("UserParameters", USER_PARAMETERS),
        ],
    );
    migrate.input_artifacts = vec!["Release".into()];
    migrate.output_artifacts = vec!["DeployArtifact".into()];
    let mut deploy = action(
        "Deploy",
        "Deploy",
        "CodeDeployToECS",
        2,
        &[
            ("ApplicationName", "berth-web"),
            ("DeploymentGroupName", "web"),
            ("TaskDefinitionTemplateArtifact", "DeployArtifact"),
            ("AppSpecTemplateArtifact", "DeployArtifact"),
        ],
    );
    deploy.input_artifacts = vec!["DeployArtifact".into()];
    Pipeline {
        pipeline_type: Some("V2".into()),
        execution_mode: Some("QUEUED".into()),
        variables: vec![
            var("BERTH_SERVICE", "(none)"),
            var("BERTH_RELEASE", "(none)"),
            var("BERTH_ROLLBACK", "false"),
        ],
        stages: vec![
            Stage {
                name: "Source".into(),
                actions: vec![source],
            },
            Stage {
                name: "Release".into(),
                actions: vec![migrate, deploy],
            },
        ],
    }
}

fn repository(container: &str, name: &str) -> RepositoryFacts {
    RepositoryFacts {
        containers: vec![container.into()],
        repository: Repository {
            registry_id: "123456789012".into(),
            region: "ap-northeast-1".into(),
            name: name.into(),
        },
        home: true,
        mutability: Seen::Found("IMMUTABLE".into()),
    }
}

/// Facts of a setup that can take its first release.
pub(super) fn healthy() -> Facts {
    Facts {
        release_bucket: BUCKET.into(),
        ecs: Seen::Found(EcsService {
            status: "ACTIVE".into(),
            controller: "CODE_DEPLOY".into(),
            primary_task_definition: Some(
                "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:7".into(),
            ),
            target_groups: vec![
                "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/web-blue/0123456789abcdef".into(),
            ],
            running: 2,
            desired: 2,
            native: NativeConfig::default(),
        }),
        deployment_group: Seen::Found(DeploymentGroup {
            ecs_services: vec![("prod".into(), "web".into())],
            target_groups: vec!["web-blue".into(), "web-green".into()],
            prod_listeners: vec!["arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/web/1/80".into()],
            test_listeners: vec!["arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/web/1/8080".into()],
        }),
        pipeline: Seen::Found(stack_pipeline()),
        repositories: vec![repository("app", "web/app"), repository("nginx", "web/nginx")],
        subnets: vec![SubnetFacts {
            id: "subnet-0a1b2c".into(),
            subnet: Some(Subnet { vpc_id: "vpc-1".into(), map_public_ip_on_launch: false }),
        }],
        pass_role: PassRole::Simulated {
            migrate_role: "arn:aws:iam::123456789012:role/berth-migrate".into(),
            decisions: vec![(EXEC_ROLE.into(), "allowed".into()), (TASK_ROLE.into(), "allowed".into())],
        },
        bucket: Seen::Found(Bucket {
            versioning: Some("Enabled".into()),
            notifications: vec![LambdaNotification {
                function_arn: "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-on-manifest".into(),
                events: vec!["s3:ObjectCreated:*".into()],
                prefix: Some("manifests/".into()),
                suffix: Some(".json".into()),
            }],
        }),
        verify_network: Some(VerifyNetwork {
            region: "ap-northeast-1".into(),
            subnets: vec![RoutedSubnet {
                id: "subnet-0v1".into(),
                vpc_id: Some("vpc-1".into()),
                route_table: Some("rtb-1".into()),
                default_route: Some("nat-0a1b".into()),
            }],
            endpoints: Vec::new(),
        }),
        verify_function: Some("berth-verify".into()),
        hook_roles: Vec::new(),
        task_target: Default::default(),
    }
}

/// What `examine` says of the healthy setup after `entry` and `facts` are changed.
pub(super) fn examine_with(
    entry_change: fn(&mut Value),
    facts_change: fn(&mut Facts),
) -> Vec<Finding> {
    let mut e = entry();
    entry_change(&mut e);
    let config: ServiceConfig = serde_json::from_value(e).expect("entry parses");
    let mut facts = healthy();
    facts_change(&mut facts);
    examine(&config, "/berth/services/web", &facts)
}

/// One row: a change to the healthy setup, and the finding it must produce.
pub(super) struct Row {
    pub name: &'static str,
    pub entry: fn(&mut Value),
    pub facts: fn(&mut Facts),
    pub check: &'static str,
    pub status: Status,
    /// A part of the detail, and a part of the fix (empty: no fix expected).
    pub detail: &'static str,
    pub fix: &'static str,
}

pub(super) fn keep_entry(_: &mut Value) {}

pub(super) fn keep_facts(_: &mut Facts) {}

/// Runs every row: its check has the status, detail and fix the row says, and every other
/// check stays ok (one broken thing shows as one finding).
pub(super) fn run(rows: &[Row]) {
    for row in rows {
        let findings = examine_with(row.entry, row.facts);
        let found: Vec<&Finding> = findings.iter().filter(|f| f.check == row.check).collect();
        assert_eq!(
            found.len(),
            1,
            "{}: one {} finding in {findings:#?}",
            row.name,
            row.check
        );
        let f = found[0];
        assert_eq!(f.status, row.status, "{}: {f:#?}", row.name);
        assert!(
            f.detail.contains(row.detail),
            "{}: detail {:?} lacks {:?}",
            row.name,
            f.detail,
            row.detail
        );
        match &f.fix {
            Some(fix) => assert!(
                fix.contains(row.fix),
                "{}: fix {fix:?} lacks {:?}",
                row.name,
                row.fix
            ),
            None => assert!(
                row.fix.is_empty(),
                "{}: no fix, expected {:?}",
                row.name,
                row.fix
            ),
        }
        let others: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.check != row.check && f.status != Status::Ok)
            .collect();
        assert!(
            others.is_empty(),
            "{}: other findings not ok: {others:#?}",
            row.name
        );
    }
}

#[test]
fn a_setup_like_the_stacks_passes_every_check() {
    let findings = examine_with(keep_entry, keep_facts);
    let not_ok: Vec<&Finding> = findings.iter().filter(|f| f.status != Status::Ok).collect();
    assert!(not_ok.is_empty(), "{not_ok:#?}");
    assert_eq!(count(&findings, Status::Fail), 0);
    let checks: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(
        checks,
        [
            "registry",
            "ecs-service",
            "ecs-controller",
            "ecs-task-set",
            "ecs-tasks",
            "codedeploy-group",
            "codedeploy-target-groups",
            "codedeploy-listeners",
            "codedeploy-test-listener",
            "pipeline",
            "pipeline-mode",
            "pipeline-variable:BERTH_SERVICE",
            "pipeline-variable:BERTH_RELEASE",
            "pipeline-variable:BERTH_ROLLBACK",
            "pipeline-source",
            "pipeline-release",
            "pipeline-migrate",
            "pipeline-deploy",
            "pipeline-artifact",
            "ecr:web/app",
            "ecr:web/nginx",
            "subnet:subnet-0a1b2c",
            "pass-role:web-exec",
            "pass-role:web-task",
            "bucket-versioning",
            "bucket-notification",
            "verify-network:subnet-0v1",
        ]
    );
    assert!(
        findings.iter().all(|f| f.fix.is_none()),
        "ok findings carry no fix"
    );
}

#[test]
fn an_unusable_registry_entry_is_one_failure_naming_the_stack() {
    let f = unusable_registry(
        "/berth/services/web",
        &["service \"web\" is not in the registry (no SSM parameter /berth/services/web)".into()],
    );
    assert_eq!(f.status, Status::Fail);
    assert!(f.detail.contains("not in the registry"));
    assert!(
        f.fix
            .as_deref()
            .is_some_and(|x| x.contains("service stack writes /berth/services/web"))
    );
    assert_eq!(count(&[f], Status::Fail), 1);
}

#[test]
fn findings_serialize_with_lowercase_statuses() {
    let f = Finding::warn(
        "ecr:web/app",
        "tags are MUTABLE",
        "aws ecr put-image-tag-mutability",
    );
    let v = serde_json::to_value(&f).expect("serializes");
    assert_eq!(
        v,
        json!({"check": "ecr:web/app", "status": "warn", "detail": "tags are MUTABLE",
               "fix": "aws ecr put-image-tag-mutability"})
    );
    let ok = serde_json::to_value(Finding::ok("registry", "parses")).expect("serializes");
    assert_eq!(ok["status"], "ok");
    assert_eq!(ok["fix"], Value::Null);
}

#[test]
fn warnings_alone_do_not_refuse_the_setup() {
    let findings = examine_with(keep_entry, |f| {
        f.repositories[0].mutability = Seen::Found("MUTABLE".into());
    });
    assert!(findings.iter().any(|f| f.status == Status::Warn));
    assert_eq!(count(&findings, Status::Fail), 0);
}

/// Sets one setting of an action's configuration.
pub(super) fn set(config: &mut BTreeMap<String, String>, key: &str, value: &str) {
    config.insert(key.into(), value.into());
}
