//! A task target: a schedule and a rule target in moto (which keeps both as written: GetSchedule,
//! ListTargetsByRule) running the family `report` on Fargate, with roles that trust Scheduler
//! and EventBridge (IAM in moto: GetRole); then one thing broken at a time.

use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
use aws_sdk_eventbridge::types as events;
use aws_sdk_scheduler::types as scheduler;
use serde_json::{Value, json};

use super::*;

const CLUSTER_ARN: &str = "arn:aws:ecs:ap-northeast-1:123456789012:cluster/prod";
const SCHEDULER_ROLE: &str = "arn:aws:iam::123456789012:role/report-scheduler";
const EVENTS_ROLE: &str = "arn:aws:iam::123456789012:role/report-events";

fn report(revision: u32) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/report:{revision}")
}

/// The family `report` (two revisions), the two roles, the schedule and the rule target, and
/// the registry entry naming them.
async fn task_target(task_target: Value) -> Env {
    let env = Env::start().await;
    for _ in 0..2 {
        env.clients
            .ecs
            .register_task_definition()
            .family("report")
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("job")
                    .image(format!("{}:v1", repo_uri("report/job")))
                    .memory(512)
                    .build(),
            )
            .send()
            .await
            .expect("register report");
    }
    role(&env, "report-scheduler", "scheduler.amazonaws.com").await;
    role(&env, "report-events", "events.amazonaws.com").await;
    schedule(&env).await;
    rule_target(&env, &report(1), EVENTS_ROLE).await;
    env.put_registry_entry(&json!({
        "service": "report", "cluster": "prod", "pipeline": "berth-report",
        "task_family": "report", "containers": {"job": "report/job"},
        "network": {"subnets": ["subnet-0a1b2c"]},
        "task_target": task_target
    }))
    .await;
    env
}

async fn role(env: &Env, name: &str, service: &str) {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]});
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={}",
        urlencode(&trust.to_string())
    );
    raw_query(&env.moto.endpoint, "iam", &body).await;
}

fn network() -> (
    scheduler::NetworkConfiguration,
    events::NetworkConfiguration,
) {
    (
        scheduler::NetworkConfiguration::builder()
            .awsvpc_configuration(
                scheduler::AwsVpcConfiguration::builder()
                    .subnets("subnet-0a1b2c")
                    .build()
                    .unwrap(),
            )
            .build(),
        events::NetworkConfiguration::builder()
            .awsvpc_configuration(
                events::AwsVpcConfiguration::builder()
                    .subnets("subnet-0a1b2c")
                    .build()
                    .unwrap(),
            )
            .build(),
    )
}

async fn schedule(env: &Env) {
    let ecs = scheduler::EcsParameters::builder()
        .task_definition_arn(report(1))
        .launch_type(scheduler::LaunchType::Fargate)
        .network_configuration(network().0)
        .build()
        .unwrap();
    let target = scheduler::Target::builder()
        .arn(CLUSTER_ARN)
        .role_arn(SCHEDULER_ROLE)
        .ecs_parameters(ecs)
        .build()
        .unwrap();
    aws_sdk_scheduler::Client::new(&env.config)
        .create_schedule()
        .name("nightly-report")
        .schedule_expression("cron(0 3 * * ? *)")
        .flexible_time_window(
            scheduler::FlexibleTimeWindow::builder()
                .mode(scheduler::FlexibleTimeWindowMode::Off)
                .build()
                .unwrap(),
        )
        .target(target)
        .send()
        .await
        .expect("create schedule");
}

/// Rule `hourly-report` with ECS target `report` running `task_definition` as `role`.
async fn rule_target(env: &Env, task_definition: &str, role: &str) {
    let client = aws_sdk_eventbridge::Client::new(&env.config);
    client
        .put_rule()
        .name("hourly-report")
        .schedule_expression("rate(1 hour)")
        .send()
        .await
        .expect("put rule");
    let ecs = events::EcsParameters::builder()
        .task_definition_arn(task_definition)
        .launch_type(events::LaunchType::Fargate)
        .network_configuration(network().1)
        .build()
        .unwrap();
    let target = events::Target::builder()
        .id("report")
        .arn(CLUSTER_ARN)
        .role_arn(role)
        .ecs_parameters(ecs)
        .build()
        .unwrap();
    client
        .put_targets()
        .rule("hourly-report")
        .targets(target)
        .send()
        .await
        .expect("put targets");
}

/// `berth doctor report --output json`, IAM in moto: exit code and findings.
async fn report_findings(env: &Env) -> (Option<i32>, Vec<Value>) {
    let iam = simulator(allow_all);
    let moto = env.moto.endpoint.clone();
    let (code, stdout, stderr) = doctor_with(
        env,
        &iam,
        &["report", "--output", "json"],
        &[("AWS_ENDPOINT_URL_IAM", &moto)],
    )
    .await;
    let findings: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {stdout:?}, stderr {stderr:?}"));
    (code, findings.as_array().cloned().unwrap_or_default())
}

fn finding<'a>(findings: &'a [Value], check: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {findings:#?}"))
}

fn both() -> Value {
    json!({"schedules": [{"name": "nightly-report"}],
           "rules": [{"rule": "hourly-report", "target_id": "report"}]})
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_target_is_checked_target_by_target_without_an_ecs_service() {
    let env = task_target(both()).await;
    let (_, findings) = report_findings(&env).await;
    for (check, detail) in [
        (
            "schedule:default/nightly-report",
            format!("runs {} (launch type FARGATE) in cluster prod", report(1)),
        ),
        (
            "rule:default/hourly-report/report",
            format!("runs {} (launch type FARGATE) in cluster prod", report(1)),
        ),
        (
            "task-targets-agree",
            format!("2 target(s) run {}", report(1)),
        ),
    ] {
        let f = finding(&findings, check);
        assert_eq!(f["status"], "ok", "{f:#}");
        assert!(f["detail"].as_str().unwrap().contains(&detail), "{f:#}");
    }
    let registry = finding(&findings, "registry");
    assert!(
        registry["detail"]
            .as_str()
            .unwrap()
            .contains("schedule default/nightly-report, rule default/hourly-report target report in cluster prod"),
        "{registry:#}"
    );
    let service_checks: Vec<&Value> = findings
        .iter()
        .filter(|f| {
            let c = f["check"].as_str().unwrap_or_default();
            c.starts_with("ecs-") || c.starts_with("codedeploy")
        })
        .collect();
    assert!(
        service_checks.is_empty(),
        "no ECS service: {service_checks:#?}"
    );

    // The rule target moves to another revision and to the schedule's role.
    rule_target(&env, &report(2), SCHEDULER_ROLE).await;
    let (code, findings) = report_findings(&env).await;
    assert_eq!(code, Some(1));
    let agree = finding(&findings, "task-targets-agree");
    assert_eq!(agree["status"], "fail", "{agree:#}");
    let detail = agree["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "schedule default/nightly-report runs {}",
            report(1)
        )) && detail.contains(&format!(
            "rule default/hourly-report target report runs {}",
            report(2)
        )),
        "{agree:#}"
    );
    let rule = finding(&findings, "rule:default/hourly-report/report");
    assert_eq!(rule["status"], "fail", "{rule:#}");
    assert!(
        rule["detail"]
            .as_str()
            .unwrap()
            .contains("does not trust events.amazonaws.com"),
        "{rule:#}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_schedule_fails_and_register_only_is_information() {
    let env =
        task_target(json!({"schedules": [{"name": "weekly-report", "group": "reports"}]})).await;
    let (code, findings) = report_findings(&env).await;
    assert_eq!(code, Some(1));
    let f = finding(&findings, "schedule:reports/weekly-report");
    assert_eq!(f["status"], "fail", "{f:#}");
    assert!(
        f["fix"]
            .as_str()
            .unwrap()
            .contains("aws scheduler create-schedule --name weekly-report --group-name reports"),
        "{f:#}"
    );

    let mut entry: Value =
        serde_json::from_str(&env.get_parameter("/berth/services/report").await).unwrap();
    entry["task_target"] = json!({});
    env.put_registry_entry(&entry).await;
    let (_, findings) = report_findings(&env).await;
    let f = finding(&findings, "task-target");
    assert_eq!(f["status"], "ok", "{f:#}");
    assert!(
        f["detail"].as_str().unwrap().starts_with("register only"),
        "{f:#}"
    );
    assert!(
        findings
            .iter()
            .all(|f| !f["check"].as_str().unwrap().starts_with("schedule:"))
    );
}
