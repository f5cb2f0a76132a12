//! The PostMigrate action (the contract step of expand/contract) against moto: ECS tasks, S3
//! artifacts, the release record; CodePipeline's job API mocked (moto lacks it), CodeDeploy on
//! the stand-in where a deployment must stay in its termination wait.

use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use berth_tests::codedeploy::FakeCodeDeploy;
use berth_tests::*;
use serde_json::{Value, json};

/// What the function reported to CodePipeline, in order.
#[derive(Clone, Default)]
struct Reports(Recorder);

impl Reports {
    fn last(&self) -> Value {
        self.0.last().map(|(_, body)| body).unwrap_or(Value::Null)
    }
}

/// The migrate function with CodePipeline's job API mocked into `reports`.
fn migrator(clients: &berth::aws::Clients, reports: &Reports) -> berth::migrate::Context {
    let ok = reports.clone();
    let success = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .match_requests(move |r| {
            let vars: serde_json::Map<String, Value> = r
                .output_variables()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
                .unwrap_or_default();
            ok.0.push(
                "PutJobSuccessResult",
                json!({"kind": "success", "token": r.continuation_token(), "variables": vars,
                    "summary": r.execution_details().and_then(|d| d.summary())}),
            );
            true
        })
        .then_output(|| PutJobSuccessResultOutput::builder().build());
    let bad = reports.clone();
    let failure = mock!(aws_sdk_codepipeline::Client::put_job_failure_result)
        .match_requests(move |r| {
            let message = r.failure_details().map(|d| d.message().to_owned());
            bad.0.push(
                "PutJobFailureResult",
                json!({"kind": "failure", "message": message}),
            );
            true
        })
        .then_output(|| PutJobFailureResultOutput::builder().build());
    let mut clients = clients.clone();
    clients.codepipeline = mock_client!(
        aws_sdk_codepipeline,
        RuleMode::MatchAny,
        [&success, &failure]
    );
    berth::migrate::Context::new(clients, BUCKET)
}

/// `web` with a contract step in the registry.
async fn contracting(env: &Env) {
    let subnets = env.default_subnets().await;
    let mut entry = web_registry(&subnets);
    entry["post_migration"] = json!({"container": "app",
        "command": ["bin/rails", "db:contract"], "timeout_seconds": 900});
    env.put_registry(&entry).await;
}

/// Releases `release` through on-manifest (its manifest's `post_migration` field as given) and
/// stages its artifact; the artifact key and the release's own pipeline execution.
async fn released(env: &Env, release: &str, post: Option<Value>) -> (String, String) {
    let key = format!("manifests/web/{release}.json");
    let mut doc = json!({"schema": "berth/v1", "service": "web", "release": release,
        "images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))}, "migration": null});
    if let Some(p) = post {
        doc["post_migration"] = p;
    }
    let version = env.put_manifest(&key, doc.to_string().as_bytes()).await;
    let out = env.deliver(&key, &version).await.unwrap();
    let result = &out["results"][0];
    assert_eq!(result["outcome"], "started", "{out}");
    let artifact = result["artifact_version_id"].as_str().unwrap();
    let store_key = env.stage_artifact(artifact, release).await;
    let record = env
        .get_json(&format!("releases/web/{release}.json"))
        .await
        .unwrap();
    let execution = record["pipeline_execution_id"].as_str().unwrap().to_owned();
    (store_key, execution)
}

fn post_job(
    id: &str,
    artifact: &str,
    execution: &str,
    token: Option<(&str, usize)>,
) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
    let job = Job::new(id, artifact).post(execution);
    match token {
        None => job.event(None),
        Some((t, n)) => job.continued(n).event(Some(t)),
    }
}

async fn tasks(env: &Env) -> Vec<aws_sdk_ecs::types::Task> {
    let arns = env
        .clients
        .ecs
        .list_tasks()
        .cluster("prod")
        .send()
        .await
        .unwrap();
    if arns.task_arns().is_empty() {
        return Vec::new();
    }
    let described = env.clients.ecs.describe_tasks().cluster("prod");
    let described = described.set_tasks(Some(arns.task_arns().to_vec()));
    described.send().await.unwrap().tasks().to_vec()
}

/// Runs `job` and its continuations until the job ends; the last report.
async fn to_the_end(
    context: &berth::migrate::Context,
    reports: &Reports,
    id: &str,
    artifact: &str,
    execution: &str,
) -> Value {
    context
        .on_job(post_job(id, artifact, execution, None))
        .await
        .unwrap();
    for n in 1..10 {
        let last = reports.last();
        let Some(token) = last["token"].as_str().filter(|_| last["kind"] == "success") else {
            return last;
        };
        let token = token.to_owned();
        context
            .on_job(post_job(id, artifact, execution, Some((&token, n))))
            .await
            .unwrap();
    }
    panic!("the job never ended: {}", reports.last());
}

/// Writes a release record as is (a test's setup).
async fn put_record(env: &Env, release: &str, record: &Value) {
    env.clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(format!("releases/web/{release}.json"))
        .body(aws_sdk_s3::primitives::ByteStream::from(
            record.to_string().into_bytes(),
        ))
        .send()
        .await
        .unwrap();
}

/// The berth command against moto.
fn berth(args: &[&str], vars: &[(&str, String)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(berth_tests::runtime::function_binary("berth"));
    cmd.env_clear().args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().expect("berth runs")
}

fn cli_vars(env: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", env.moto.endpoint.clone()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("BERTH_RELEASE_BUCKET", BUCKET.to_owned()),
        ("BERTH_ACCOUNT_ID", ACCOUNT.to_owned()),
    ]
}

async fn record(env: &Env, release: &str) -> Value {
    env.get_json(&format!("releases/web/{release}.json"))
        .await
        .unwrap()
}

/// Pre only, post only, both: each release's `release.json` and record carry what it asked
/// for, and the PostMigrate action runs the contract step's command (or skips without a task).
#[tokio::test(flavor = "current_thread")]
async fn pre_only_post_only_and_both_run_what_each_release_asks_for() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let context = migrator(&env.clients, &reports);

    // Post only (the manifest skips the pre migration): the contract step runs, one task.
    let (artifact, execution) = released(&env, "v1", None).await;
    let done = to_the_end(&context, &reports, "post-1", &artifact, &execution).await;
    assert_eq!(done["variables"]["POST_MIGRATION"], "succeeded", "{done}");
    let started = tasks(&env).await;
    assert_eq!(started.len(), 1);
    let overrides = started[0].overrides().unwrap().container_overrides();
    assert_eq!(overrides[0].command(), ["bin/rails", "db:contract"]);
    let r = record(&env, "v1").await;
    assert_eq!(r["post_migration"]["outcome"], "succeeded", "{r}");
    assert_eq!(r["post_migration_plan"]["command"][1], "db:contract");
    assert!(r["post_migration"]["seconds"].is_u64(), "{r}");
    assert!(r.get("migration").is_none_or(Value::is_null), "{r}");

    // Pre only: the release sets `post_migration` to null; the action skips, starting nothing.
    let (artifact, execution) = released(&env, "v2", Some(Value::Null)).await;
    let done = to_the_end(&context, &reports, "post-2", &artifact, &execution).await;
    assert_eq!(done["variables"]["POST_MIGRATION"], "skipped", "{done}");
    assert_eq!(tasks(&env).await.len(), 1, "no second task");
    assert!(
        record(&env, "v2")
            .await
            .get("post_migration_plan")
            .is_none()
    );

    // Both: an override of the contract step's command.
    let (artifact, execution) = released(
        &env,
        "v3",
        Some(json!({"command": ["bin/contract", "--drop"]})),
    )
    .await;
    let done = to_the_end(&context, &reports, "post-3", &artifact, &execution).await;
    assert_eq!(done["variables"]["POST_MIGRATION"], "succeeded", "{done}");
    let all = tasks(&env).await;
    assert_eq!(all.len(), 2);
    assert!(all.iter().any(|t| {
        t.overrides().unwrap().container_overrides()[0].command() == ["bin/contract", "--drop"]
    }));
}

/// Repeated invocations start one task: the same first invocation again (a repeated delivery)
/// follows the task it started, and a new job of the action after success (a retried stage)
/// starts nothing.
#[tokio::test(flavor = "current_thread")]
async fn repeated_invocations_of_the_post_action_start_one_task() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let context = migrator(&env.clients, &reports);
    let (artifact, execution) = released(&env, "v1", None).await;

    context
        .on_job(post_job("post-1", &artifact, &execution, None))
        .await
        .unwrap();
    context
        .on_job(post_job("post-1", &artifact, &execution, None))
        .await
        .unwrap();
    assert_eq!(tasks(&env).await.len(), 1, "one task per job");
    let done = to_the_end(&context, &reports, "post-1", &artifact, &execution).await;
    assert_eq!(done["variables"]["POST_MIGRATION"], "succeeded", "{done}");
    assert_eq!(tasks(&env).await.len(), 1);

    let again = to_the_end(&context, &reports, "post-retry", &artifact, &execution).await;
    assert_eq!(again["kind"], "success", "{again}");
    assert!(
        again["summary"]
            .as_str()
            .unwrap()
            .contains("already succeeded"),
        "{again}"
    );
    assert_eq!(
        tasks(&env).await.len(),
        1,
        "a retried stage runs no second contract step"
    );
}

/// A rollback execution never runs a post migration, even of a release that has one; an
/// execution that is not the release's own never does either.
#[tokio::test(flavor = "current_thread")]
async fn a_rollback_release_never_runs_its_post_migration() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let context = migrator(&env.clients, &reports);
    let (artifact, execution) = released(&env, "v1", None).await;

    let rollback = Job::new("post-rb", &artifact)
        .post("exec-rollback")
        .rollback(true);
    context.on_job(rollback.event(None)).await.unwrap();
    let skipped = reports.last();
    assert_eq!(
        skipped["variables"]["POST_MIGRATION"], "skipped",
        "{skipped}"
    );
    assert!(
        skipped["summary"].as_str().unwrap().contains("rollback"),
        "{skipped}"
    );

    context
        .on_job(post_job("post-x", &artifact, "exec-other", None))
        .await
        .unwrap();
    let refused = reports.last();
    assert_eq!(refused["kind"], "failure", "{refused}");
    assert!(tasks(&env).await.is_empty(), "no contract step ran");
    assert!(record(&env, "v1").await["post_migration"]["outcome"] == "not_run");
    let _ = execution;
}

/// An ECS-native deployment that did not succeed for good (rolled back, abandoned) never runs
/// the contract step: the job fails, the record says `not_run`, no task starts. One that
/// reached SUCCESSFUL runs it.
#[tokio::test(flavor = "current_thread")]
async fn no_post_migration_after_a_failed_or_rolled_back_ecs_deployment() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let context = migrator(&env.clients, &reports);
    let (artifact, execution) = released(&env, "v1", None).await;
    let deployment = |status: &str| {
        json!({"kind": "BLUE_GREEN", "job_id": "deploy-1", "pipeline_execution_id": execution,
            "service_deployment_arn": "arn:aws:ecs:ap-northeast-1:123456789012:service-deployment/prod/web/1",
            "status": status, "reason": "circuit breaker", "updated_at": "2026-11-01T00:00:00Z"})
    };
    for (n, status) in ["ROLLBACK_SUCCESSFUL", "ABANDONED"].into_iter().enumerate() {
        let mut r = record(&env, "v1").await;
        r["deployment"] = deployment(status);
        put_record(&env, "v1", &r).await;
        let id = format!("post-{n}");
        context
            .on_job(post_job(&id, &artifact, &execution, None))
            .await
            .unwrap();
        let failed = reports.last();
        assert_eq!(failed["kind"], "failure", "{failed}");
        let message = failed["message"].as_str().unwrap();
        assert!(
            message.contains(status) && message.contains("not run"),
            "{message}"
        );
        assert!(tasks(&env).await.is_empty(), "{status}: no contract step");
        assert_eq!(
            record(&env, "v1").await["post_migration"]["outcome"],
            "not_run"
        );
    }
    let mut r = record(&env, "v1").await;
    r["deployment"] = deployment("SUCCESSFUL");
    r["post_migration"] = Value::Null;
    put_record(&env, "v1", &r).await;
    let done = to_the_end(&context, &reports, "post-ok", &artifact, &execution).await;
    assert_eq!(done["variables"]["POST_MIGRATION"], "succeeded", "{done}");
    assert_eq!(tasks(&env).await.len(), 1);
}

/// The migrate context on the CodeDeploy stand-in, with one deployment of web's group that the
/// release's Deploy action started, in its termination wait (CodeDeploy says InProgress).
async fn on_codedeploy(
    env: &Env,
    reports: &Reports,
    execution: &str,
) -> (
    berth::migrate::Context,
    FakeCodeDeploy,
    String,
    aws_sdk_codedeploy::Client,
) {
    let fake = FakeCodeDeploy::start(None, 60).await;
    let id = fake.deploy("berth-web", "web", "berth-web", execution);
    let mut context = migrator(&env.clients, reports);
    let client = aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::config::Builder::from(&env.config)
            .endpoint_url(fake.endpoint())
            .build(),
    );
    context.clients.codedeploy = client.clone();
    // The verify hook passes: traffic shifts to green, and the termination wait begins.
    client
        .put_lifecycle_event_hook_execution_status()
        .deployment_id(&id)
        .lifecycle_event_hook_execution_id("hook-exec-1")
        .status(aws_sdk_codedeploy::types::LifecycleEventStatus::Succeeded)
        .send()
        .await
        .unwrap();
    assert!(fake.deployment(&id).unwrap().termination_started);
    (context, fake, id, client)
}

/// CODE_DEPLOY: the Deploy action may end while blue still runs (the termination wait); the
/// contract step waits, token-polled and starting nothing, until CodeDeploy retired blue, then
/// runs.
#[tokio::test(flavor = "current_thread")]
async fn the_post_migration_waits_out_the_termination_wait_then_runs() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let (artifact, execution) = released(&env, "v1", None).await;
    let (context, fake, id, client) = on_codedeploy(&env, &reports, &execution).await;

    context
        .on_job(post_job("post-1", &artifact, &execution, None))
        .await
        .unwrap();
    let waiting = reports.last();
    let token = waiting["token"]
        .as_str()
        .expect("a waiting token")
        .to_owned();
    assert!(
        waiting["summary"].as_str().unwrap().contains(&id),
        "{waiting}"
    );
    assert!(
        tasks(&env).await.is_empty(),
        "blue still runs: no contract step"
    );
    assert!(fake.operations().contains(&"ListDeployments".to_owned()));

    // CodeDeploy ends the termination wait (as `berth finish` asks it to): blue is retired.
    client
        .continue_deployment()
        .deployment_id(&id)
        .deployment_wait_type(aws_sdk_codedeploy::types::DeploymentWaitType::TerminationWait)
        .send()
        .await
        .unwrap();
    assert_eq!(fake.deployment(&id).unwrap().status, "Succeeded");
    context
        .on_job(post_job("post-1", &artifact, &execution, Some((&token, 1))))
        .await
        .unwrap();
    assert_eq!(tasks(&env).await.len(), 1, "the contract step runs now");
    let r = record(&env, "v1").await;
    assert_eq!(r["post_migration"]["job_id"], "post-1", "{r}");
}

/// CODE_DEPLOY: a deployment stopped with rollback during its termination wait (`berth
/// rollback`) sent traffic back to blue — the contract step is not run.
#[tokio::test(flavor = "current_thread")]
async fn no_post_migration_after_a_codedeploy_rollback() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let (artifact, execution) = released(&env, "v1", None).await;
    let (context, fake, id, client) = on_codedeploy(&env, &reports, &execution).await;
    client
        .stop_deployment()
        .deployment_id(&id)
        .auto_rollback_enabled(true)
        .send()
        .await
        .unwrap();
    // The stopped deployment is on ListDeployments' second page: every page is read.
    fake.page_list_deployments();
    context
        .on_job(post_job("post-1", &artifact, &execution, None))
        .await
        .unwrap();
    let failed = reports.last();
    assert_eq!(failed["kind"], "failure", "{failed}");
    assert!(
        failed["message"].as_str().unwrap().contains(&id),
        "{failed}"
    );
    assert!(tasks(&env).await.is_empty());
    assert_eq!(
        record(&env, "v1").await["post_migration"]["outcome"],
        "not_run"
    );
    // An operator who checked otherwise settles it: skip (or retry) accepts a step not run,
    // and refuses one that is settled already.
    let vars = cli_vars(&env);
    let skip = [
        "post-migration",
        "skip",
        "web",
        "v1",
        "--reason",
        "done by hand",
    ];
    let out = berth(&skip, &vars);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        record(&env, "v1").await["post_migration"]["outcome"],
        "skipped"
    );
    let again = berth(&skip, &vars);
    assert_eq!(again.status.code(), Some(1));
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("neither failed nor not run"), "{said}");
}

/// A failed contract step: the job fails saying the code is live and the contract step is
/// not; the execution's FAILED leaves the release SUCCEEDED; the next release's Migrate
/// action is refused, naming both commands, until an operator skips (or re-runs) it.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_post_migration_holds_the_next_release_until_skipped() {
    let env = Env::start().await;
    tasks_never_finish(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let context = migrator(&env.clients, &reports);
    let (artifact, execution) = released(&env, "v1", Some(json!({"timeout_seconds": 1}))).await;

    context
        .on_job(post_job("post-1", &artifact, &execution, None))
        .await
        .unwrap();
    let token = reports.last()["token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    context
        .on_job(post_job("post-1", &artifact, &execution, Some((&token, 1))))
        .await
        .unwrap();
    let failed = reports.last();
    assert_eq!(failed["kind"], "failure", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("code of v1 is live")
            && message.contains("berth post-migration retry web v1"),
        "{message}"
    );
    assert_eq!(
        record(&env, "v1").await["post_migration"]["outcome"],
        "failed"
    );

    // The execution ends FAILED (in PostMigrate): the code is live, the release SUCCEEDED.
    let out = env.pipeline_event(&execution, "FAILED").await;
    assert_eq!(out["status"], "SUCCEEDED", "{out}");
    assert_eq!(out["post_migration"], "failed", "{out}");

    // The next release's Migrate action is refused, naming the way out.
    let (next, _) = released(&env, "v2", None).await;
    context
        .on_job(Job::new("pre-2", &next).event(None))
        .await
        .unwrap();
    let refused = reports.last();
    assert_eq!(refused["kind"], "failure", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("\"v1\"")
            && message.contains("berth post-migration retry web v1")
            && message.contains("berth post-migration skip web v1"),
        "{message}"
    );

    // `berth status` says what to do; `berth releases --output json` shows both migrations.
    let vars = cli_vars(&env);
    let status = berth(&["status", "web"], &vars);
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        text.contains("contract   the code of v1 is live")
            && text.contains("berth post-migration retry web v1"),
        "{text}"
    );
    let listed = berth(&["releases", "web", "--output", "json"], &vars);
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let v1 = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["release"] == "v1")
        .unwrap();
    assert_eq!(v1["post_migration"], "failed", "{v1}");
    assert_eq!(v1["status"], "SUCCEEDED", "{v1}");

    // Skipped by an operator (`berth post-migration skip`): the next release goes on.
    let skipped = berth(
        &[
            "post-migration",
            "skip",
            "web",
            "v1",
            "--reason",
            "dropped the column by hand",
        ],
        &vars,
    );
    assert!(
        skipped.status.success(),
        "{}",
        String::from_utf8_lossy(&skipped.stderr)
    );
    let r = record(&env, "v1").await;
    assert_eq!(r["post_migration"]["outcome"], "skipped");
    assert!(
        r["post_migration"]["message"]
            .as_str()
            .unwrap()
            .contains("dropped the column by hand"),
        "{r}"
    );
    let again = berth(
        &["post-migration", "skip", "web", "v1", "--reason", "x"],
        &vars,
    );
    assert_eq!(again.status.code(), Some(1), "nothing left to skip");
    context
        .on_job(Job::new("pre-3", &next).event(None))
        .await
        .unwrap();
    assert_eq!(reports.last()["kind"], "success", "{}", reports.last());
}

/// Last known good stays honest: a rollback past a release whose contract step ran is refused,
/// naming the step, unless the operator passes the flag (`--past-contract`).
#[tokio::test(flavor = "current_thread")]
async fn a_rollback_past_a_contracted_release_is_refused_without_the_flag() {
    use berth::releases::RollbackOutcome;
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let context = migrator(&env.clients, &reports);
    let (_, first) = released(&env, "v1", Some(Value::Null)).await;
    env.pipeline_event(&first, "SUCCEEDED").await;
    // Distinct start times (records carry seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (artifact, second) = released(&env, "v2", None).await;
    let done = to_the_end(&context, &reports, "post-2", &artifact, &second).await;
    assert_eq!(done["variables"]["POST_MIGRATION"], "succeeded", "{done}");
    env.pipeline_event(&second, "SUCCEEDED").await;

    let now = std::time::SystemTime::now();
    let refused = env.releases().rollback("web", None, now).await.unwrap();
    let RollbackOutcome::Refused(why) = refused else {
        panic!("a rollback past v2's contract step must be refused: {refused:?}");
    };
    assert!(
        why.contains("release v2 ran `bin/rails db:contract`") && why.contains("--past-contract"),
        "{why}"
    );
    let allowed = env.releases().past_contract(true);
    let started = allowed.rollback("web", None, now).await.unwrap();
    let RollbackOutcome::Started(r) = started else {
        panic!("the flag allows it: {started:?}");
    };
    assert_eq!(r.release, "v1");
}

/// "Stop and abandon" while the contract step runs: nothing invokes PostMigrate again, so the
/// execution's STOPPED stops the task, records the step `stopped` and holds the next releases,
/// as a failed one does.
#[tokio::test(flavor = "current_thread")]
async fn an_execution_ending_while_its_post_migration_runs_stops_it_and_holds_the_next() {
    let env = Env::start().await;
    tasks_never_finish(&env.moto.endpoint).await;
    contracting(&env).await;
    let reports = Reports::default();
    let context = migrator(&env.clients, &reports);
    let (artifact, execution) = released(&env, "v1", None).await;
    context
        .on_job(post_job("post-1", &artifact, &execution, None))
        .await
        .unwrap();
    assert_eq!(reports.last()["kind"], "success", "continues");
    assert_eq!(
        record(&env, "v1").await["post_migration"]["outcome"],
        "running"
    );

    let out = env.pipeline_event(&execution, "STOPPED").await;
    assert_eq!(out["post_migration"], "stopped", "{out}");
    let task = &tasks(&env).await[0];
    assert_eq!(task.desired_status(), Some("STOPPED"));
    let r = record(&env, "v1").await;
    assert!(
        r["post_migration"]["message"]
            .as_str()
            .unwrap()
            .contains("while the post migration task ran"),
        "{r}"
    );
    let index = berth::index::Index::new(berth::store::Bucket::new(env.clients.s3.clone(), BUCKET));
    let held = index.post_migration_failed("web", 10).await.unwrap();
    assert_eq!(held, ["v1"], "the next releases are held behind v1");
}
