//! The demo's scheduled job, on its own moto: a task target (the registry entry `web` without
//! an ECS service, family `web`) whose revision two EventBridge Scheduler schedules and an
//! EventBridge rule target run. Two releases from ECR pushes through on-image-push, on-manifest,
//! Migrate and the `deploy` action, each repointing every target to its pinned revision; then
//! `berth rollback` through the pipeline, `berth status` and `berth run`. moto keeps schedules
//! and rule targets as written; the demo plays CodePipeline's part as in the other scenes, and
//! a proxy plays the life of the task `berth run` starts (moto's tasks stop at once, without a
//! stop code).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use berth_tests::pipeline_event_json;
use berth_tests::proxy::{Proxy, Routes};
use berth_tests::release_stage::DeployAction;
use berth_tests::runtime::{Function, Outcome, moto_env};
use berth_tests::task_target::{Tasks, task_target, tasks, web};
use serde_json::Value;

use crate::{Timeline, last_slack_text, s};

const SCHEDULES: [&str; 2] = ["nightly", "weekly"];
const RULE: (&str, &str) = ("hourly", "report");

/// The task target's harness and on-pipeline-event, which records each execution's end.
struct Scheduled {
    tasks: Tasks,
    events: Function,
}

/// Every scene, in order; the rollback returns to the first release.
pub async fn scenes(t: &mut Timeline) {
    let at = Instant::now();
    let mut job = setup().await;
    let before = running(&job.tasks).await;
    t.step(at, "setup", "task target web: 2 schedules, 1 rule", all_run(&before, &web(1)),
        &format!("a third moto; registry entry web: task_target (no ecs_service), family web, migration bin/rails db:migrate\npipeline berth-web: Source ▸ Release [Migrate ▸ Deploy (the deploy function)]\n{}", shown(&before)));
    let Some(first) = release(t, &mut job, "v2.0.0", &web(1)).await else {
        return;
    };
    let Some(second) = release(t, &mut job, "v2.1.0", &first).await else {
        return;
    };
    rollback(t, &mut job, (&first, &second)).await;
    status(t, &job).await;
    run_once(t, &job).await;
    drop(job); // stops moto by PID
}

async fn setup() -> Scheduled {
    let rules = [RULE];
    let tasks = tasks(task_target(&SCHEDULES, &rules), false).await;
    for name in SCHEDULES {
        tasks.schedule(name, &web(1), false).await;
    }
    tasks.rule(RULE.0, RULE.1, &web(1)).await;
    let mut vars = moto_env(&tasks.env.moto.endpoint);
    vars.push((
        "BERTH_SLACK_WEBHOOK_URL",
        format!("{}/slack", tasks.jobs.endpoint),
    ));
    let events = Function::spawn("on-pipeline-event", &vars).await;
    Scheduled { tasks, events }
}

/// What each schedule and the rule target runs now, read live (GetSchedule, ListTargetsByRule).
async fn running(tasks: &Tasks) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for name in SCHEDULES {
        let arn = tasks.schedule_runs(name).await;
        found.push((format!("schedule default/{name}"), arn));
    }
    let arn = tasks.rule_runs(RULE.0, RULE.1).await;
    found.push((format!("rule default/{} target {}", RULE.0, RULE.1), arn));
    found
}

fn all_run(running: &[(String, String)], arn: &str) -> bool {
    running.iter().all(|(_, runs)| runs == arn)
}

fn shown(running: &[(String, String)]) -> String {
    running
        .iter()
        .map(|(target, arn)| format!("{target} → {}", revision(arn)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `web:3` of a task definition ARN.
fn revision(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// Release `tag` from its ECR push to its targets, which ran `before`; the revision every
/// target runs after it, `None` when the release did not reach Deploy.
async fn release(t: &mut Timeline, job: &mut Scheduled, tag: &str, before: &str) -> Option<String> {
    if job.tasks.release != tag {
        job.tasks.next_release(tag).await;
    }
    let (execution, mut action) = to_deploy(t, job, before).await?;
    let at = Instant::now();
    let name = job.tasks.release.clone();
    let (op, body) = job.tasks.deploy(&mut action).await;
    let after = running(&job.tasks).await;
    let new = after[0].1.clone();
    let record = job.tasks.record(&name).await;
    let d = &record["deployment"];
    t.step(
        at,
        "deploy",
        &format!("{name}: register, repoint every target"),
        op == "PutJobSuccessResult"
            && new != before
            && all_run(&after, &new)
            && d["kind"] == "TASK"
            && d["status"] == "SUCCESSFUL"
            && d["task_definition_arn"] == new.as_str(),
        &format!(
            "{op}: {}\n{}\nrelease record: deployment {} {}, task definition {}",
            s(&body["executionDetails"]["summary"]),
            shown(&after),
            s(&d["kind"]),
            s(&d["status"]),
            revision(s(&d["task_definition_arn"]))
        ),
    );
    let said = format!("web release {name} succeeded");
    ended(t, job, (&said, &name), &execution).await;
    Some(new)
}

/// The push of web/app:<release> through on-image-push and on-manifest, then Migrate, whose
/// template is `before`, what the targets run; the execution and its Deploy action.
async fn to_deploy(
    t: &mut Timeline,
    job: &mut Scheduled,
    before: &str,
) -> Option<(String, DeployAction)> {
    let at = Instant::now();
    let name = job.tasks.release.clone();
    let (source, execution) = job.tasks.pushed().await;
    let record = job.tasks.record(&name).await;
    let digest = job.tasks.env.digest(&format!("web/app:{name}")).to_owned();
    t.step(
        at,
        "on-manifest",
        &format!("push web/app:{name} → manifest → pipeline"),
        s(&record["images"]["app"]).ends_with(&digest),
        &format!("app {}\nexecution {execution}", s(&record["images"]["app"])),
    );
    let at = Instant::now();
    let job_id = format!("job-{name}");
    let played = job.tasks.play(&source, (&job_id, &execution), false).await;
    let record = job.tasks.record(&name).await;
    let m = &record["migration"];
    t.step(
        at,
        "migrate",
        &format!("{name}: template from the targets, migration"),
        played.is_ok() && m["outcome"] == "succeeded",
        &format!(
            "template {} (what every target runs) with the pushed image pinned\ntask {} ran bin/rails db:migrate on {}: {}\n{}",
            revision(before),
            s(&m["task_arn"]),
            revision(s(&m["task_definition_arn"])),
            s(&m["outcome"]),
            played.as_ref().err().map_or("", String::as_str)
        ),
    );
    Some((execution, played.ok()?))
}

/// CodePipeline's SUCCEEDED for `execution`, delivered to on-pipeline-event, whose
/// notification must say `said`.
async fn ended(t: &mut Timeline, job: &mut Scheduled, (said, what): (&str, &str), execution: &str) {
    let at = Instant::now();
    let event = pipeline_event_json("berth-web", execution, "SUCCEEDED");
    let status = match job.events.invoke(&event).await {
        Outcome::Response(v) => s(&v["status"]).to_owned(),
        Outcome::Error(e) => e.to_string(),
    };
    let message = last_slack_text(&job.tasks.jobs);
    t.step(
        at,
        "on-pipeline-event",
        &format!("{what} SUCCEEDED → record, notification"),
        status == "SUCCEEDED" && message.contains(said),
        &message,
    );
}

/// `berth rollback web` back to the first release: a rollback execution whose Deploy job
/// repoints every target to a revision of the first release's bytes.
async fn rollback(t: &mut Timeline, job: &mut Scheduled, (first, second): (&str, &str)) {
    let at = Instant::now();
    let out = job.tasks.berth(&["rollback", "web"]).await;
    let text = printed(&out);
    let execution = text
        .split_once(" execution ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    let source = job.tasks.sources[0].1.clone();
    let played = job
        .tasks
        .play(&source, ("job-rollback", &execution), true)
        .await;
    let (op, body) = match played {
        Ok(mut action) => job.tasks.deploy(&mut action).await,
        Err(why) => ("(Migrate failed)".into(), Value::String(why)),
    };
    let after = running(&job.tasks).await;
    let back = after[0].1.clone();
    let same = same_images(&job.tasks, first, &back).await;
    let record = job.tasks.record("v2.0.0").await;
    let redeployed = &record["redeployments"][0]["deployment"];
    t.step(
        at,
        "berth rollback",
        "back to v2.0.0 through the pipeline",
        out.status.success()
            && text.contains("back to v2.0.0 by redeploy")
            && op == "PutJobSuccessResult"
            && back != second
            && all_run(&after, &back)
            && same.is_some()
            && redeployed["kind"] == "TASK"
            && redeployed["task_definition_arn"] == back.as_str(),
        &format!(
            "$ berth rollback web\n{text}Migrate: migration skipped; Deploy {op}: {}\n{}\n{} runs v2.0.0's app image {}, nothing rebuilt\nrelease record v2.0.0: redeployment {} {}",
            s(&body["executionDetails"]["summary"]),
            shown(&after),
            revision(&back),
            same.as_deref().unwrap_or("(differs)"),
            s(&redeployed["kind"]),
            s(&redeployed["status"])
        ),
    );
    let said = "web rollback (redeploy) to v2.0.0 succeeded";
    ended(t, job, (said, "rollback"), &execution).await;
}

/// The app image both revisions run, when it is the same.
async fn same_images(tasks: &Tasks, was: &str, now: &str) -> Option<String> {
    let ecs = &tasks.env.clients.ecs;
    let was = berth::taskdef::describe(ecs, was).await.ok()?;
    let now = berth::taskdef::describe(ecs, now).await.ok()?;
    let image = berth::render::container_image(&now, "app")?;
    (berth::render::container_image(&was, "app") == Some(image)).then(|| image.to_owned())
}

async fn status(t: &mut Timeline, job: &Scheduled) {
    let at = Instant::now();
    let out = job.tasks.berth(&["status", "web"]).await;
    let text = printed(&out);
    let back = job.tasks.schedule_runs(SCHEDULES[0]).await;
    let targets = text.lines().filter(|l| l.starts_with("target ")).count();
    let on_back = format!("runs {back} (release v2.0.0)");
    t.step(
        at,
        "berth status",
        "each target, its revision and release, live",
        out.status.success() && targets == 3 && text.matches(&on_back).count() == 3,
        &format!("$ berth status web\n{text}"),
    );
}

/// `berth run web -- …`: the current release's revision once, followed to its container's exit.
async fn run_once(t: &mut Timeline, job: &Scheduled) {
    let at = Instant::now();
    let (life, proxy) = task_life(&job.tasks.env.moto.endpoint).await;
    let mut vars = moto_env(&proxy.endpoint);
    vars.retain(|(k, _)| *k != "AWS_LAMBDA_LOG_FORMAT");
    let args = ["run", "web", "--", "bin/report", "--date", "2026-12-01"];
    let (exited, text) = crate::cli(&vars, &args).await;
    let states: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("Z ").map(|(_, state)| state))
        .collect();
    let run_tasks = life.lock().map(|l| l.run_tasks.clone()).unwrap_or_default();
    let record = job.tasks.record("v2.0.0").await;
    let released = s(&record["deployment"]["task_definition_arn"]);
    let ran = run_tasks.first().map_or("-", |r| s(&r["taskDefinition"]));
    let command = run_tasks
        .first()
        .map(|r| r["overrides"]["containerOverrides"][0]["command"].clone());
    t.step(
        at,
        "berth run",
        "v2.0.0's revision once, to its exit code",
        exited
            && text.contains("container app exited with code 0")
            && states.len() == LIFE.len()
            && states
                .iter()
                .zip(LIFE)
                .all(|(l, (state, _))| l.starts_with(state))
            && run_tasks.len() == 1
            && ran == released
            && command == Some(serde_json::json!(args[3..])),
        &format!(
            "$ berth {}\n{text}RunTask {} (the revision release v2.0.0 deployed), command {}",
            args.join(" "),
            revision(ran),
            command.unwrap_or_default()
        ),
    );
}

/// The states DescribeTasks reports, one per call: lastStatus, then the app container's exit
/// code once stopped.
const LIFE: [(&str, Option<i32>); 4] = [
    ("PROVISIONING", None),
    ("PENDING", None),
    ("RUNNING", None),
    ("STOPPED", Some(0)),
];

#[derive(Default)]
struct Life {
    described: usize,
    run_tasks: Vec<Value>,
}

/// A proxy to moto that plays a job's life: moto's task is STOPPED at its first DescribeTasks
/// without a stop code, so each answer gets the next of [`LIFE`]; RunTask requests are kept.
async fn task_life(moto: &str) -> (Arc<Mutex<Life>>, Proxy) {
    let life = Arc::new(Mutex::new(Life::default()));
    let kept = life.clone();
    let mut routes = Routes::to(moto);
    routes.rewrite = Some(Arc::new(move |op, sent, answer| {
        let mut life = kept.lock().ok()?;
        match op {
            "RunTask" => {
                life.run_tasks.push(sent.clone());
                None
            }
            "DescribeTasks" => {
                let (status, code) = LIFE[life.described.min(LIFE.len() - 1)];
                life.described += 1;
                let mut doc = answer.clone();
                let task = &mut doc["tasks"][0];
                task["lastStatus"] = status.into();
                task["containers"] = serde_json::json!([{"name": "app", "exitCode": code}]);
                if code.is_some() {
                    task["stopCode"] = "EssentialContainerExited".into();
                    task["stoppedReason"] = "Essential container in task exited".into();
                }
                Some(doc)
            }
            _ => None,
        }
    }));
    (life, Proxy::start(routes).await)
}

/// What the CLI printed, standard output then standard error.
fn printed(out: &std::process::Output) -> String {
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text
}
