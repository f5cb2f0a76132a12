//! A task target's checks, one broken fact at a time, against two schedules and a rule that
//! all run `report:7` on Fargate with roles that trust their services.

use serde_json::json;

use super::*;
use crate::doctor::Status;

const REVISION: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/report:7";
const CLUSTER: &str = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/prod";
const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/report-scheduler";
const EVENTS_ROLE: &str = "arn:aws:iam::123456789012:role/report-events";

fn config() -> ServiceConfig {
    serde_json::from_value(json!({
        "service": "report", "cluster": "prod", "pipeline": "berth-report",
        "task_family": "report", "containers": {"job": "report/job"},
        "task_target": {
            "schedules": [{"name": "nightly-report"}, {"name": "weekly-report", "group": "reports"}],
            "rules": [{"rule": "hourly-report", "target_id": "report"}]
        }
    }))
    .expect("a task target entry")
}

fn target(role: &str) -> Target {
    Target {
        arn: CLUSTER.into(),
        role_arn: Some(role.into()),
        ecs: Some(EcsParameters {
            task_definition_arn: REVISION.into(),
            launch_type: Some("FARGATE".into()),
            capacity_providers: false,
            subnets: vec!["subnet-0a1b2c".into()],
        }),
        kms_key_arn: None,
    }
}

fn healthy() -> (ServiceConfig, TaskTargetFacts) {
    let config = config();
    let t = config.task_target.clone().expect("task target");
    let facts = TaskTargetFacts {
        schedules: t
            .schedules
            .iter()
            .map(|s| (s.clone(), Seen::Found(target(SCHEDULER_ROLE))))
            .collect(),
        rules: t
            .rules
            .iter()
            .map(|r| (r.clone(), Seen::Found(target(EVENTS_ROLE))))
            .collect(),
        roles: vec![
            TargetRole {
                role_arn: SCHEDULER_ROLE.into(),
                trusts: Seen::Found(vec![(SCHEDULER.into(), true), (EVENTS.into(), false)]),
            },
            TargetRole {
                role_arn: EVENTS_ROLE.into(),
                trusts: Seen::Found(vec![(SCHEDULER.into(), false), (EVENTS.into(), true)]),
            },
        ],
    };
    (config, facts)
}

fn run(config: &ServiceConfig, facts: &TaskTargetFacts) -> Vec<Finding> {
    check(
        config,
        config.task_target.as_ref().expect("task target"),
        facts,
    )
}

fn finding<'a>(findings: &'a [Finding], check: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.check == check)
        .unwrap_or_else(|| panic!("no {check} in {findings:#?}"))
}

/// The healthy setup with one fact changed: the finding of `check`.
fn broken(check: &str, change: impl FnOnce(&mut TaskTargetFacts)) -> Finding {
    let (config, mut facts) = healthy();
    change(&mut facts);
    finding(&run(&config, &facts), check).clone()
}

fn ecs(seen: &mut Seen<Target>) -> &mut EcsParameters {
    match seen {
        Seen::Found(Target { ecs: Some(e), .. }) => e,
        _ => unreachable!("the healthy setup has ECS targets"),
    }
}

#[test]
fn a_healthy_task_target_passes_every_check() {
    let (config, facts) = healthy();
    let findings = run(&config, &facts);
    let names: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(
        names,
        [
            "schedule:default/nightly-report",
            "schedule:reports/weekly-report",
            "rule:default/hourly-report/report",
            "task-targets-agree"
        ]
    );
    assert!(
        findings.iter().all(|f| f.status == Status::Ok),
        "{findings:#?}"
    );
    assert!(
        finding(&findings, "task-targets-agree")
            .detail
            .contains("3 target(s) run")
    );
}

#[test]
fn register_only_is_information() {
    let mut config = config();
    config.task_target = Some(TaskTarget::default());
    let findings = run(&config, &TaskTargetFacts::default());
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].status, Status::Ok);
    assert!(
        findings[0].detail.starts_with("register only"),
        "{:?}",
        findings[0]
    );
}

#[test]
fn a_missing_schedule_fails_with_how_to_create_it() {
    let f = broken("schedule:reports/weekly-report", |f| {
        f.schedules[1].1 = Seen::Missing(
            "ResourceNotFoundException: Schedule weekly-report does not exist.".into(),
        );
    });
    assert_eq!(f.status, Status::Fail);
    assert!(f.detail.contains("does not exist"));
    assert!(
        f.fix
            .unwrap()
            .contains("aws scheduler create-schedule --name weekly-report --group-name reports")
    );
}

#[test]
fn a_rule_without_the_target_id_fails() {
    let f = broken("rule:default/hourly-report/report", |f| {
        f.rules[0].1 = Seen::Missing(
            "rule hourly-report has no target with id report (targets: other)".into(),
        );
    });
    assert_eq!(f.status, Status::Fail);
    assert!(f.fix.unwrap().contains("aws events put-targets"));
}

#[test]
fn a_target_that_is_not_an_ecs_task_fails() {
    let f = broken("schedule:default/nightly-report", |f| {
        if let Seen::Found(t) = &mut f.schedules[0].1 {
            t.ecs = None;
            t.arn = "arn:aws:lambda:ap-northeast-1:123456789012:function:report".into();
        }
    });
    assert_eq!(f.status, Status::Fail);
    assert!(f.detail.contains("is not an ECS task"), "{f:?}");
}

#[test]
fn a_target_running_another_family_fails() {
    let f = broken("rule:default/hourly-report/report", |f| {
        ecs(&mut f.rules[0].1).task_definition_arn =
            "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/billing:3".into();
    });
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.detail.contains("not a revision of task family report"),
        "{f:?}"
    );
}

#[test]
fn targets_running_different_revisions_fail_naming_each() {
    let f = broken("task-targets-agree", |f| {
        ecs(&mut f.schedules[1].1).task_definition_arn = REVISION.replace(":7", ":6");
    });
    assert_eq!(f.status, Status::Fail);
    assert!(f.detail.contains("schedule reports/weekly-report runs arn:aws:ecs:ap-northeast-1:123456789012:task-definition/report:6"), "{f:?}");
    assert!(
        f.detail.contains("schedule default/nightly-report runs "),
        "{f:?}"
    );
}

#[test]
fn a_fargate_target_without_subnets_fails() {
    let f = broken("schedule:default/nightly-report", |f| {
        ecs(&mut f.schedules[0].1).subnets.clear();
    });
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.detail.contains("FARGATE without an awsvpcConfiguration"),
        "{f:?}"
    );
    // An EC2 task in bridge mode needs none.
    let f = broken("schedule:default/nightly-report", |f| {
        let e = ecs(&mut f.schedules[0].1);
        e.subnets.clear();
        e.launch_type = Some("EC2".into());
    });
    assert_eq!(f.status, Status::Ok, "{f:?}");
}

#[test]
fn a_role_that_is_missing_or_trusts_the_wrong_service_fails() {
    let f = broken("schedule:default/nightly-report", |f| {
        if let Seen::Found(t) = &mut f.schedules[0].1 {
            t.role_arn = None;
        }
    });
    assert!(
        f.status == Status::Fail && f.detail.contains("no RoleArn"),
        "{f:?}"
    );
    let f = broken("schedule:default/nightly-report", |f| {
        f.roles[0].trusts = Seen::Missing(
            "NoSuchEntity: The role with name report-scheduler cannot be found.".into(),
        );
    });
    assert!(
        f.status == Status::Fail && f.detail.contains("cannot be read"),
        "{f:?}"
    );
    // The rule's role trusts EventBridge, not Scheduler: a schedule pointed at it fails.
    let f = broken("schedule:default/nightly-report", |f| {
        if let Seen::Found(t) = &mut f.schedules[0].1 {
            t.role_arn = Some(EVENTS_ROLE.into());
        }
    });
    assert_eq!(f.status, Status::Fail);
    assert!(
        f.detail.contains("does not trust scheduler.amazonaws.com"),
        "{f:?}"
    );
    assert!(f.fix.unwrap().contains("sts:AssumeRole"));
}

#[test]
fn a_target_in_another_cluster_warns() {
    let f = broken("schedule:default/nightly-report", |f| {
        if let Seen::Found(t) = &mut f.schedules[0].1 {
            t.arn = CLUSTER.replace("/prod", "/batch");
        }
    });
    assert_eq!(f.status, Status::Warn);
    assert!(
        f.detail
            .contains("in cluster batch, not in the entry's cluster prod"),
        "{f:?}"
    );
}

#[test]
fn a_schedule_with_a_customer_managed_key_warns_naming_the_grants() {
    let key = "arn:aws:kms:ap-northeast-1:123456789012:key/k-1";
    let f = broken("schedule:default/nightly-report", |f| {
        if let Seen::Found(t) = &mut f.schedules[0].1 {
            t.kms_key_arn = Some(key.into());
        }
    });
    assert_eq!(f.status, Status::Warn);
    assert!(
        f.detail.contains(key)
            && f.detail.contains("kms:GenerateDataKey")
            && f.detail.contains(SCHEDULER_ROLE),
        "{f:?}"
    );
}

#[test]
fn a_capacity_provider_target_without_subnets_warns() {
    let f = broken("rule:default/hourly-report/report", |f| {
        let e = ecs(&mut f.rules[0].1);
        e.launch_type = None;
        e.capacity_providers = true;
        e.subnets.clear();
    });
    assert_eq!(f.status, Status::Warn);
    assert!(
        f.detail
            .contains("capacity provider strategy without an awsvpcConfiguration"),
        "{f:?}"
    );
    let with_subnets = broken("rule:default/hourly-report/report", |f| {
        let e = ecs(&mut f.rules[0].1);
        e.launch_type = None;
        e.capacity_providers = true;
    });
    assert_eq!(with_subnets.status, Status::Ok, "{with_subnets:?}");
}

#[test]
fn family_and_cluster_names_come_from_their_arns() {
    assert_eq!(family_of(REVISION), Some("report"));
    assert_eq!(family_of("report:7"), Some("report"));
    assert_eq!(family_of("report"), None);
    assert_eq!(cluster_of(CLUSTER), Some("prod"));
}

#[test]
fn examine_checks_a_task_target_instead_of_an_ecs_service() {
    let (config, task_facts) = healthy();
    let mut facts = crate::doctor::tests::healthy();
    facts.task_target = task_facts;
    let findings = crate::doctor::examine(&config, "/berth/services/report", &facts);
    let checks: Vec<&str> = findings.iter().map(|f| f.check.as_str()).collect();
    assert!(
        checks.contains(&"schedule:reports/weekly-report"),
        "{checks:?}"
    );
    assert!(checks.contains(&"task-targets-agree"), "{checks:?}");
    assert!(
        !checks
            .iter()
            .any(|c| c.starts_with("ecs-") || c.starts_with("codedeploy")),
        "no ECS service or deployment group: {checks:?}"
    );
    assert!(
        findings[0]
            .detail
            .contains("schedule default/nightly-report"),
        "{:?}",
        findings[0]
    );
}
