//! `berth run` against moto, through a proxy that plays the task's life: moto's RunTask starts
//! a task (FARGATE in the default VPC's subnets), but its tasks never move on and carry no exit
//! codes, so the proxy answers each DescribeTasks with the next state of a script — and, for
//! the refusal case, RunTask with the `failures` ECS returns on an HTTP 200 ("failures: Any
//! failures associated with the call", RunTask API reference).

use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use berth::record::MigrationRecord;
use berth::records::{Change, Records};
use berth::store::Bucket;
use berth_tests::proxy::{Proxy, Routes};
use berth_tests::runtime::function_binary;
use berth_tests::*;
use serde_json::{Value, json};

const REVISION: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1";

/// One state DescribeTasks reports: lastStatus, stopCode, stoppedReason, the containers'
/// (name, exitCode, reason).
type State = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Vec<(&'static str, Option<i32>, Option<&'static str>)>,
);

#[derive(Default)]
struct Script {
    states: Vec<State>,
    /// RunTask answers `failures` instead of a task.
    refuse: bool,
    run_tasks: Vec<Value>,
    describes: usize,
}

struct Case {
    env: Env,
    proxy: Proxy,
    script: Arc<Mutex<Script>>,
}

/// `web` with release v1 succeeded (its migration registered web:1) and v2 failed before it
/// registered anything.
async fn case(states: Vec<State>) -> Case {
    let env = Env::start().await;
    for (release, tag, state) in [("v1", "v1.0.0", "SUCCEEDED"), ("v2", "v1.4.2", "FAILED")] {
        let out = env.release_web(release, tag).await;
        let execution = out["pipeline_execution_id"].as_str().unwrap().to_owned();
        env.pipeline_event(&execution, state).await;
    }
    let records = Records::new(Bucket::new(env.clients.s3.clone(), BUCKET));
    records
        .update("web", "v1", SystemTime::now(), |r| {
            r.migration = Some(migration(Some(REVISION)));
            Change::Write(())
        })
        .await
        .unwrap();
    let script = Arc::new(Mutex::new(Script {
        states,
        ..Script::default()
    }));
    let mut routes = Routes::to(&env.moto.endpoint);
    let shared = script.clone();
    routes.rewrite = Some(Arc::new(move |op, sent, answer| {
        rewrite(&mut shared.lock().unwrap(), op, sent, answer)
    }));
    let proxy = Proxy::start(routes).await;
    Case { env, proxy, script }
}

fn migration(arn: Option<&str>) -> MigrationRecord {
    MigrationRecord {
        outcome: "succeeded".into(),
        job_id: None,
        pipeline_execution_id: None,
        first_invoked_epoch: None,
        task_definition_arn: arn.map(str::to_owned),
        task_arn: None,
        seconds: Some(12),
        message: None,
        updated_at: "2026-12-07T06:00:00Z".into(),
    }
}

/// RunTask: noted (and refused when the script says so); DescribeTasks: moto's task with the
/// script's next state (the last one repeats).
fn rewrite(s: &mut Script, op: &str, sent: &Value, answer: &Value) -> Option<Value> {
    match op {
        "RunTask" => {
            s.run_tasks.push(sent.clone());
            s.refuse.then(|| {
                json!({"tasks": [], "failures": [{
                    "arn": "arn:aws:ecs:ap-northeast-1:123456789012:container-instance/prod/x",
                    "reason": "RESOURCE:MEMORY",
                    "detail": "no capacity for 1024 MiB"}]})
            })
        }
        "DescribeTasks" => {
            let (status, stop_code, reason, containers) =
                s.states.get(s.describes).or(s.states.last())?.clone();
            s.describes += 1;
            let mut doc = answer.clone();
            let task = &mut doc["tasks"][0];
            task["lastStatus"] = status.into();
            task["stopCode"] = stop_code.map_or(Value::Null, Value::from);
            task["stoppedReason"] = reason.map_or(Value::Null, Value::from);
            task["containers"] = containers
                .iter()
                .map(|(name, code, why)| json!({"name": name, "exitCode": code, "reason": why}))
                .collect();
            Some(doc)
        }
        _ => None,
    }
}

impl Case {
    /// Runs the CLI off the test's thread, so the proxy on it keeps answering.
    async fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(function_binary("berth"));
        cmd.env_clear().args(args);
        for (k, v) in [
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", &self.proxy.endpoint),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("BERTH_RELEASE_BUCKET", BUCKET),
            ("BERTH_ACCOUNT_ID", ACCOUNT),
        ] {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().expect("berth runs"))
            .await
            .unwrap()
    }

    fn run_tasks(&self) -> Vec<Value> {
        self.script.lock().unwrap().run_tasks.clone()
    }

    fn describes(&self) -> usize {
        self.script.lock().unwrap().describes
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn exited(container: &'static str, code: i32) -> State {
    (
        "STOPPED",
        Some("EssentialContainerExited"),
        Some("Essential container in task exited"),
        vec![(container, Some(code), None), ("datadog", Some(143), None)],
    )
}

#[tokio::test(flavor = "current_thread")]
async fn run_prints_each_state_and_exits_0_with_the_container() {
    let c = case(vec![
        ("PROVISIONING", None, None, vec![("app", None, None)]),
        ("PENDING", None, None, vec![("app", None, None)]),
        ("PENDING", None, None, vec![("app", None, None)]),
        ("RUNNING", None, None, vec![("app", None, None)]),
        exited("app", 0),
    ])
    .await;
    let out = c
        .berth(&["run", "web", "--", "bin/report", "--dry-run"])
        .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let states: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_once("Z ").map(|(_, state)| state))
        .collect();
    assert_eq!(
        states,
        [
            "PROVISIONING",
            "PENDING",
            "RUNNING",
            "STOPPED (stop code EssentialContainerExited; Essential container in task exited)"
        ],
        "one line per change:\n{stdout}"
    );
    assert!(stdout.contains("running web release v1 (arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1) in cluster prod, watching container app"), "{stdout}");
    assert!(
        stdout.contains("container app exited with code 0"),
        "{stdout}"
    );

    // One RunTask: the release's revision, FARGATE, awsvpc in the migration's subnets without
    // a public IP (the entry has no network section), the command on the migration container.
    let runs = c.run_tasks();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0];
    assert_eq!(run["taskDefinition"], REVISION);
    assert_eq!(run["cluster"], "prod");
    assert_eq!(run["launchType"], "FARGATE");
    assert_eq!(run["count"], 1);
    let vpc = &run["networkConfiguration"]["awsvpcConfiguration"];
    assert_eq!(vpc["subnets"], json!(c.env.default_subnets().await));
    assert_eq!(vpc["securityGroups"], json!(["sg-0d4e5f"]));
    assert_eq!(vpc["assignPublicIp"], "DISABLED");
    assert_eq!(
        run["overrides"]["containerOverrides"],
        json!([{"name": "app", "command": ["bin/report", "--dry-run"]}])
    );
    assert_eq!(run["startedBy"], "berth/run/v1");
}

#[tokio::test(flavor = "current_thread")]
async fn a_failing_exit_code_is_the_commands_and_the_network_section_decides_where() {
    let c = case(vec![exited("nginx", 3)]).await;
    // The registry's network section wins over the migration's subnets.
    let mut entry = web_registry(&c.env.default_subnets().await);
    entry["network"] = json!({"subnets": c.env.default_subnets().await, "security_groups": ["sg-0aa"], "assign_public_ip": true});
    c.env.put_registry_entry(&entry).await;
    let out = c
        .berth(&["run", "web", "--release", "v1", "--container", "nginx"])
        .await;
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("container nginx exited with code 3"),
        "{}",
        text(&out.stderr)
    );
    let run = &c.run_tasks()[0];
    let vpc = &run["networkConfiguration"]["awsvpcConfiguration"];
    assert_eq!(vpc["securityGroups"], json!(["sg-0aa"]));
    assert_eq!(vpc["assignPublicIp"], "ENABLED");
    assert!(
        run.get("overrides").is_none_or(Value::is_null),
        "no command, no override: {run}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_stopped_without_an_exit_code_exits_6_with_the_stopped_reason() {
    let c = case(vec![(
        "STOPPED",
        Some("TaskFailedToStart"),
        Some("CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref"),
        vec![("app", None, Some("CannotPullContainerError: ref not found"))],
    )])
    .await;
    let out = c.berth(&["run", "web"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("container app has no exit code (CannotPullContainerError: ref not found)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("TaskFailedToStart; CannotPullContainerError: pull image manifest"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn runtask_failures_on_http_200_fail_the_command_naming_them() {
    let c = case(vec![exited("app", 0)]).await;
    c.script.lock().unwrap().refuse = true;
    let out = c.berth(&["run", "web"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(
            "ECS started no task in cluster prod: RESOURCE:MEMORY (no capacity for 1024 MiB)"
        ),
        "{stderr}"
    );
    assert_eq!(c.describes(), 0, "nothing to follow");
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_release_or_one_without_a_revision_is_refused_before_anything_runs() {
    let c = case(vec![exited("app", 0)]).await;
    let out = c.berth(&["run", "web", "--release", "v9"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("service \"web\" has no release \"v9\""),
        "{}",
        text(&out.stderr)
    );
    let out = c.berth(&["run", "web", "--release", "v2"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr)
            .contains("release \"v2\" of web never registered a task definition revision"),
        "{}",
        text(&out.stderr)
    );
    // Two registry containers and a migration: an unknown name is RunTask's to refuse, but no
    // container and no migration is berth's usage error.
    let mut entry = web_registry(&c.env.default_subnets().await);
    entry["network"] = json!({"subnets": c.env.default_subnets().await});
    entry.as_object_mut().unwrap().remove("migration");
    c.env.put_registry_entry(&entry).await;
    let out = c.berth(&["run", "web"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("name one with --container"),
        "{}",
        text(&out.stderr)
    );
    assert!(c.run_tasks().is_empty());
}

/// A revision deregistered outside the record (by `berth prune` or by hand) is refused before
/// RunTask, naming it.
#[tokio::test(flavor = "current_thread")]
async fn a_revision_deregistered_since_is_refused_before_anything_runs() {
    let c = case(vec![exited("app", 0)]).await;
    c.env
        .clients
        .ecs
        .deregister_task_definition()
        .task_definition(REVISION)
        .send()
        .await
        .unwrap();
    let out = c.berth(&["run", "web", "--release", "v1"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!("{REVISION}, was deregistered (INACTIVE)")),
        "{}",
        text(&out.stderr)
    );
    assert!(c.run_tasks().is_empty());
}
