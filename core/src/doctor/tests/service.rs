//! The ECS service and the CodeDeploy deployment group.

use serde_json::json;

use super::{Row, keep_entry, keep_facts, run};
use crate::doctor::{EcsService, Facts, Seen, Status};

fn ecs(f: &mut Facts) -> &mut EcsService {
    match &mut f.ecs {
        Seen::Found(s) => s,
        Seen::Missing(_) => unreachable!("the healthy setup has the service"),
    }
}

fn group(f: &mut Facts) -> &mut crate::doctor::DeploymentGroup {
    match &mut f.deployment_group {
        Seen::Found(g) => g,
        Seen::Missing(_) => unreachable!("the healthy setup has the group"),
    }
}

#[test]
fn ecs_service_checks() {
    run(&[
        Row {
            name: "the service does not exist",
            entry: keep_entry,
            facts: |f| {
                f.ecs = Seen::Missing("MISSING".into());
                f.pass_role = crate::doctor::PassRole::Unknown;
            },
            check: "ecs-service",
            status: Status::Fail,
            detail: "ECS service prod/web not found (MISSING)",
            fix: "ClusterName and EcsServiceName",
        },
        Row {
            name: "the service was deleted",
            entry: keep_entry,
            facts: |f| ecs(f).status = "INACTIVE".into(),
            check: "ecs-service",
            status: Status::Fail,
            detail: "is INACTIVE, not ACTIVE",
            fix: "CODE_DEPLOY deployment controller",
        },
        Row {
            name: "a service a third-party controller deploys",
            entry: keep_entry,
            facts: |f| ecs(f).controller = "EXTERNAL".into(),
            check: "ecs-controller",
            status: Status::Fail,
            detail: "the service uses the EXTERNAL deployment controller",
            fix: "--deployment-controller type=CODE_DEPLOY",
        },
        Row {
            name: "no PRIMARY task set",
            entry: keep_entry,
            facts: |f| ecs(f).primary_task_definition = None,
            check: "ecs-task-set",
            status: Status::Fail,
            detail: "no PRIMARY task set",
            fix: "family web",
        },
        Row {
            name: "another family runs",
            entry: keep_entry,
            facts: |f| {
                ecs(f).primary_task_definition =
                    Some("arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web-v2:3".into())
            },
            check: "ecs-task-set",
            status: Status::Fail,
            detail: "of family web-v2, not the registry's task_family web",
            fix: "set task_family to web-v2",
        },
        Row {
            name: "scaled to zero",
            entry: keep_entry,
            facts: |f| {
                ecs(f).desired = 0;
                ecs(f).running = 0;
            },
            check: "ecs-tasks",
            status: Status::Warn,
            detail: "0 of 0 task(s) running",
            fix: "--desired-count 1",
        },
        Row {
            name: "tasks do not stay up",
            entry: keep_entry,
            facts: |f| ecs(f).running = 0,
            check: "ecs-tasks",
            status: Status::Warn,
            detail: "0 of 2 task(s) running",
            fix: "aws ecs describe-services --cluster prod --services web",
        },
    ]);
}

#[test]
fn deployment_group_checks() {
    run(&[
        Row {
            name: "no deployment group",
            entry: keep_entry,
            facts: |f| {
                f.deployment_group = Seen::Missing("DeploymentGroupDoesNotExistException".into())
            },
            check: "codedeploy-group",
            status: Status::Fail,
            detail: "deployment group berth-web/web not found",
            fix: "creates application berth-web and deployment group web",
        },
        Row {
            name: "the registry names its own deployment group",
            entry: |e| e["deployment"] = json!({"application": "apps", "group": "web-bg"}),
            facts: |f| {
                f.deployment_group = Seen::Missing("ApplicationDoesNotExistException".into());
                if let Seen::Found(p) = &mut f.pipeline {
                    let deploy = &mut p.stages[1].actions[1].configuration;
                    super::set(deploy, "ApplicationName", "apps");
                    super::set(deploy, "DeploymentGroupName", "web-bg");
                }
            },
            check: "codedeploy-group",
            status: Status::Fail,
            detail: "deployment group apps/web-bg not found",
            fix: "name yours in the registry's deployment section",
        },
        Row {
            name: "it deploys another service",
            entry: keep_entry,
            facts: |f| group(f).ecs_services = vec![("prod".into(), "api".into())],
            check: "codedeploy-group",
            status: Status::Fail,
            detail: "berth-web/web deploys prod/api, not prod/web",
            fix: "--ecs-services clusterName=prod,serviceName=web",
        },
        Row {
            name: "a cluster ARN in the registry names the same cluster",
            entry: |e| e["cluster"] = json!("arn:aws:ecs:ap-northeast-1:123456789012:cluster/prod"),
            facts: keep_facts,
            check: "codedeploy-group",
            status: Status::Ok,
            detail: "deploys prod/web",
            fix: "",
        },
        Row {
            name: "one target group",
            entry: keep_entry,
            facts: |f| group(f).target_groups = vec!["web-blue".into()],
            check: "codedeploy-target-groups",
            status: Status::Fail,
            detail: "1 target group(s) (web-blue)",
            fix: "BlueTargetGroupName and GreenTargetGroupName",
        },
        Row {
            name: "the service is in another target group",
            entry: keep_entry,
            facts: |f| {
                ecs(f).target_groups = vec![
                    "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/old/1"
                        .into(),
                ]
            },
            check: "codedeploy-target-groups",
            status: Status::Fail,
            detail: "tasks are in old, which is neither web-blue and web-green",
            fix: "one of the pair",
        },
        Row {
            name: "the service has no load balancer",
            entry: keep_entry,
            facts: |f| ecs(f).target_groups.clear(),
            check: "codedeploy-target-groups",
            status: Status::Fail,
            detail: "the ECS service has no load balancer",
            fix: "a load balancer on web-blue",
        },
        Row {
            name: "no production listener",
            entry: keep_entry,
            facts: |f| group(f).prod_listeners.clear(),
            check: "codedeploy-listeners",
            status: Status::Fail,
            detail: "no production listener",
            fix: "ProdListenerArn",
        },
        Row {
            name: "no test listener and no verify section",
            entry: keep_entry,
            facts: |f| group(f).test_listeners.clear(),
            check: "codedeploy-test-listener",
            status: Status::Ok,
            detail: "none needed",
            fix: "",
        },
        Row {
            name: "no test listener for verify",
            entry: |e| e["verify"] = json!({"base_url": "http://web.internal:8080"}),
            facts: |f| group(f).test_listeners.clear(),
            check: "codedeploy-test-listener",
            status: Status::Fail,
            detail: "the registry has a verify section",
            fix: "TestListenerArn",
        },
        Row {
            name: "a test listener for verify",
            entry: |e| e["verify"] = json!({"base_url": "http://web.internal:8080"}),
            facts: keep_facts,
            check: "codedeploy-test-listener",
            status: Status::Ok,
            detail: "the verify hook checks the replacement task set through it",
            fix: "",
        },
    ]);
}
