//! Task targets (deploy kind TASK) end to end through the compiled binaries behind local
//! Runtime APIs: an ECR push goes through on-image-push, on-manifest, the Release stage's
//! Migrate (which reads the template from what the schedules and rules run) and its Deploy
//! action (the `deploy` function), which registers the release's revision and repoints every
//! schedule (GetSchedule → UpdateSchedule) and rule target (ListTargetsByRule → PutTargets) in
//! moto; the `berth` CLI rolls back and shows status.

use berth_tests::task_target::{Tasks, task_target, tasks, web};
use serde_json::{Value, json};

fn succeeded(result: &(String, Value)) -> String {
    assert_eq!(result.0, "PutJobSuccessResult", "{:?}", result.1);
    assert!(result.1["continuationToken"].is_null(), "{:?}", result.1);
    result.1["executionDetails"]["summary"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn failure(result: &(String, Value)) -> String {
    assert_eq!(result.0, "PutJobFailureResult", "{:?}", result.1);
    result.1["failureDetails"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The revision every target runs after the job, checked to be one new revision of `web`.
async fn released(t: &Tasks) -> String {
    let new = t.schedule_runs("nightly").await;
    assert!(
        new.contains(":task-definition/web:") && new != web(1),
        "{new}"
    );
    new
}

#[tokio::test(flavor = "current_thread")]
async fn two_schedules_and_a_rule_release_an_ecr_push_through_migration_to_the_pinned_revision() {
    let mut t = tasks(
        task_target(&["nightly", "weekly"], &[("hourly", "report")]),
        false,
    )
    .await;
    t.schedule("nightly", &web(1), false).await;
    t.schedule("weekly", &web(1), false).await;
    t.rule("hourly", "report", &web(1)).await;
    let mut action = t.to_deploy().await.expect("Migrate succeeded");
    let summary = succeeded(&t.deploy(&mut action).await);
    assert!(summary.contains("3 of 3 targets repointed"), "{summary}");
    let new = released(&t).await;
    assert_eq!(t.schedule_runs("weekly").await, new);
    assert_eq!(t.rule_runs("hourly", "report").await, new);
    let taskdef = berth::taskdef::describe(&t.env.clients.ecs, &new)
        .await
        .unwrap();
    let app = format!(
        "{}@{}",
        berth_tests::repo_uri("web/app"),
        t.env.digest("web/app:v2.0.0")
    );
    assert_eq!(
        berth::render::container_image(&taskdef, "app").unwrap(),
        app,
        "the pushed image, pinned"
    );
    let record = t.record("v2.0.0").await;
    let d = &record["deployment"];
    assert_eq!(
        (d["kind"].as_str(), d["status"].as_str()),
        (Some("TASK"), Some("SUCCESSFUL")),
        "{record}"
    );
    assert_eq!(d["task_definition_arn"], new.as_str());
    assert_eq!(
        d["targets"][0],
        json!({"target": "schedule default/nightly", "previous": web(1), "task_definition_arn": new})
    );
    assert_eq!(
        d["targets"][2]["target"],
        "rule default/hourly target report"
    );
    assert_eq!(
        record["ecs_service"],
        Value::Null,
        "a task target has no ECS service"
    );

    let out = t.berth(&["status", "web", "--output", "json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["kind"], "TASK", "{status}");
    assert_eq!(
        status["targets"].as_array().map(Vec::len),
        Some(3),
        "{status}"
    );
    assert_eq!(
        status["targets"][1],
        json!({"target": "schedule default/weekly", "task_definition_arn": new, "release": "v2.0.0"})
    );
    let out = t.berth(&["status", "web"]).await;
    let shown = text(&out.stdout);
    assert!(
        shown.contains(&format!(
            "target     rule default/hourly target report runs {new} (release v2.0.0)"
        )),
        "{shown}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_schedule_with_every_optional_field_keeps_each_one_when_repointed() {
    let mut t = tasks(task_target(&["nightly"], &[]), false).await;
    t.schedule("nightly", &web(1), true).await;
    let before = t.get_schedule("nightly").await;
    let mut action = t.to_deploy().await.expect("Migrate succeeded");
    succeeded(&t.deploy(&mut action).await);
    let new = released(&t).await;
    let after = t.get_schedule("nightly").await;
    // The one change: the ECS target's task definition. UpdateSchedule would reset every
    // optional field left out ("that field will be set to its system-default value after the
    // update" — EventBridge Scheduler API reference), so each is compared.
    let mut expected = before.clone();
    if let Some(ecs) = expected
        .target
        .as_mut()
        .and_then(|t| t.ecs_parameters.as_mut())
    {
        ecs.task_definition_arn = new.clone();
    }
    assert_eq!(after.description.as_deref(), Some("the nightly report"));
    assert_eq!(after.kms_key_arn, before.kms_key_arn);
    assert!(after.target.as_ref().unwrap().dead_letter_config.is_some());
    assert_eq!(
        Tasks::fields(&after),
        Tasks::fields(&expected),
        "every field as it was but the task definition"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_refused_rule_update_puts_the_schedules_back_and_fails_naming_each() {
    let mut t = tasks(
        task_target(&["nightly", "weekly"], &[("hourly", "report")]),
        true,
    )
    .await;
    t.schedule("nightly", &web(1), true).await;
    t.schedule("weekly", &web(1), false).await;
    t.rule("hourly", "report", &web(1)).await;
    let (nightly, weekly) = (
        t.get_schedule("nightly").await,
        t.get_schedule("weekly").await,
    );
    let mut action = t.to_deploy().await.expect("Migrate succeeded");
    let message = failure(&t.deploy(&mut action).await);
    assert!(
        message.starts_with("rule default/hourly target report could not be repointed"),
        "{message}"
    );
    assert!(
        message.contains("FailedEntryCount") || message.contains("failed entries"),
        "{message}"
    );
    assert!(message.contains("refused by the test"), "{message}");
    assert!(
        message.contains("put back as it was: schedule default/weekly, schedule default/nightly"),
        "{message}"
    );
    for (name, was) in [("nightly", nightly), ("weekly", weekly)] {
        let now = t.get_schedule(name).await;
        assert_eq!(
            Tasks::fields(&now),
            Tasks::fields(&was),
            "{name} is as it was"
        );
    }
    assert_eq!(t.rule_runs("hourly", "report").await, web(1));
    let d = &t.record("v2.0.0").await["deployment"];
    assert_eq!(d["status"], "FAILED", "{d}");
    assert_eq!(d["reason"], message.as_str());
}

#[tokio::test(flavor = "current_thread")]
async fn targets_on_another_family_or_on_different_revisions_are_refused_naming_each() {
    let other = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/billing:3";
    let mut t = tasks(
        task_target(&["nightly", "weekly"], &[("hourly", "report")]),
        false,
    )
    .await;
    t.schedule("nightly", &web(1), false).await;
    t.schedule("weekly", other, false).await;
    t.rule("hourly", "report", &web(2)).await;
    let message = t
        .to_deploy()
        .await
        .err()
        .expect("Migrate refused the release");
    assert!(
        message.contains(&format!(
            "schedule default/weekly runs {other}, not a revision of task family \"web\""
        )),
        "{message}"
    );
    assert_eq!(t.schedule_runs("weekly").await, other, "nothing changed");

    let mut t2 = tasks(task_target(&["nightly"], &[("hourly", "report")]), false).await;
    t2.schedule("nightly", &web(1), false).await;
    t2.rule("hourly", "report", &web(2)).await;
    let message = t2
        .to_deploy()
        .await
        .err()
        .expect("Migrate refused the release");
    assert!(message.contains("run different revisions"), "{message}");
    assert!(
        message.contains(&format!("schedule default/nightly runs {}", web(1))),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "rule default/hourly target report runs {}",
            web(2)
        )),
        "{message}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_register_only_target_makes_the_release_the_family_newest_revision() {
    let mut t = tasks(json!({}), false).await;
    let mut action = t.to_deploy().await.expect("Migrate succeeded");
    let summary = succeeded(&t.deploy(&mut action).await);
    assert!(summary.contains("register only"), "{summary}");
    let newest = berth::taskdef::describe(&t.env.clients.ecs, "web")
        .await
        .unwrap();
    let arn = newest["taskDefinitionArn"].as_str().unwrap();
    let d = &t.record("v2.0.0").await["deployment"];
    assert_eq!(d["task_definition_arn"], arn, "{d}");
    assert_eq!(d["kind"], "TASK");
    let app = format!(
        "{}@{}",
        berth_tests::repo_uri("web/app"),
        t.env.digest("web/app:v2.0.0")
    );
    assert_eq!(berth::render::container_image(&newest, "app").unwrap(), app);
}

#[tokio::test(flavor = "current_thread")]
async fn a_repeated_deploy_invocation_registers_and_repoints_once() {
    let mut t = tasks(task_target(&["nightly"], &[("hourly", "report")]), false).await;
    t.schedule("nightly", &web(1), false).await;
    t.rule("hourly", "report", &web(1)).await;
    let mut action = t.to_deploy().await.expect("Migrate succeeded");
    succeeded(&t.deploy(&mut action).await);
    let new = released(&t).await;
    let modified = t.get_schedule("nightly").await.last_modification_date;
    let revisions = |t: &Tasks| {
        let ecs = t.env.clients.ecs.clone();
        async move {
            ecs.list_task_definitions()
                .family_prefix("web")
                .send()
                .await
                .unwrap()
                .task_definition_arns()
                .len()
        }
    };
    let before = revisions(&t).await;
    // CodePipeline delivers the same job again (at-least-once): one change per job.
    let again = t.deploy.invoke(&action.first.event_json(None)).await;
    assert!(
        matches!(again, berth_tests::runtime::Outcome::Response(_)),
        "{again:?}"
    );
    let (op, _) = t.jobs.last().unwrap();
    assert_eq!(op, "PutJobSuccessResult");
    assert_eq!(revisions(&t).await, before, "nothing registered twice");
    assert_eq!(
        t.get_schedule("nightly").await.last_modification_date,
        modified,
        "not updated twice"
    );
    assert_eq!(t.schedule_runs("nightly").await, new);
}

#[tokio::test(flavor = "current_thread")]
async fn berth_rollback_repoints_the_targets_to_an_earlier_release_through_the_pipeline() {
    let mut t = tasks(task_target(&["nightly"], &[("hourly", "report")]), false).await;
    t.schedule("nightly", &web(1), false).await;
    t.rule("hourly", "report", &web(1)).await;
    let mut first = t.to_deploy().await.expect("Migrate succeeded");
    succeeded(&t.deploy(&mut first).await);
    let v2 = released(&t).await;
    t.next_release("v2.1.0").await;
    let mut second = t.to_deploy().await.expect("Migrate succeeded");
    succeeded(&t.deploy(&mut second).await);
    assert_ne!(t.schedule_runs("nightly").await, v2);

    let out = t.berth(&["rollback", "web", "--output", "json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let started: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        started["kind"], "redeploy",
        "a task target is always redeployed: {started}"
    );
    assert_eq!(
        started["release"], "v2.0.0",
        "the last known good release: {started}"
    );
    let execution = started["pipeline_execution_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let source = t.sources[0].1.clone();
    let mut action = t
        .play(&source, ("job-rollback", &execution), true)
        .await
        .expect("Migrate succeeded");
    succeeded(&t.deploy(&mut action).await);
    let back = t.schedule_runs("nightly").await;
    assert_eq!(t.rule_runs("hourly", "report").await, back);
    let ecs = &t.env.clients.ecs;
    let (was, now) = (
        berth::taskdef::describe(ecs, &v2).await.unwrap(),
        berth::taskdef::describe(ecs, &back).await.unwrap(),
    );
    assert_eq!(
        berth::render::container_image(&now, "app"),
        berth::render::container_image(&was, "app"),
        "v2.0.0's images again, nothing rebuilt"
    );
    let record = t.record("v2.0.0").await;
    let redeployed = &record["redeployments"][0]["deployment"];
    assert_eq!(redeployed["kind"], "TASK", "{record}");
    assert_eq!(redeployed["task_definition_arn"], back.as_str());
}
