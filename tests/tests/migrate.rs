//! migrate against moto (ECS tasks, S3 artifacts, the release record) with CodePipeline's job
//! API mocked, since moto does not implement PutJobSuccessResult/PutJobFailureResult.

use aws_sdk_codepipeline::operation::put_job_failure_result::PutJobFailureResultOutput;
use aws_sdk_codepipeline::operation::put_job_success_result::PutJobSuccessResultOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use berth_tests::*;
use serde_json::{Value, json};

/// The migrate function's context, answering with its JSON output.
struct Migrator(berth::migrate::Context);

impl Migrator {
    fn new(clients: berth::aws::Clients, bucket: &str) -> Self {
        Self(berth::migrate::Context::new(clients, bucket))
    }

    async fn handle(
        &self,
        job: aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent,
    ) -> berth::Result<Value> {
        let out = self.0.on_job(job).await?;
        Ok(serde_json::to_value(out).expect("output serializes"))
    }
}

/// What the function reported to CodePipeline, in order (mocked job API rules that record into
/// the harness's one [`Recorder`]).
#[derive(Clone, Default)]
struct Reports(Recorder);

impl Reports {
    fn rules(&self) -> (Rule, Rule) {
        let ok = self.clone();
        let success = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
            .match_requests(move |r| {
                let vars: serde_json::Map<String, Value> = r
                    .output_variables()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
                    .unwrap_or_default();
                ok.0.push(
                    "PutJobSuccessResult",
                    json!({
                        "kind": "success", "job": r.job_id(), "token": r.continuation_token(),
                        "variables": vars,
                        "summary": r.execution_details().and_then(|d| d.summary()),
                    }),
                );
                true
            })
            .then_output(|| PutJobSuccessResultOutput::builder().build());
        let bad = self.clone();
        let failure = mock!(aws_sdk_codepipeline::Client::put_job_failure_result)
            .match_requests(move |r| {
                let d = r.failure_details();
                bad.0.push(
                    "PutJobFailureResult",
                    json!({
                        "kind": "failure", "job": r.job_id(),
                        "type": d.map(|d| d.r#type().as_str().to_owned()),
                        "message": d.map(|d| d.message().to_owned()),
                    }),
                );
                true
            })
            .then_output(|| PutJobFailureResultOutput::builder().build());
        (success, failure)
    }

    fn last(&self) -> Value {
        self.0.last().map(|(_, body)| body).unwrap_or(Value::Null)
    }

    fn len(&self) -> usize {
        self.0.count()
    }
}

/// A released artifact (through on-manifest) and a migrator whose CodePipeline is mocked.
async fn released(env: &Env, release: &str, timeout_seconds: u64) -> (String, Migrator, Reports) {
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let key = format!("manifests/web/{release}.json");
    let doc = json!({"schema": "berth/v1", "service": "web", "release": release,
        "images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))},
        "migration": {"timeout_seconds": timeout_seconds}});
    let version = env.put_manifest(&key, doc.to_string().as_bytes()).await;
    let out = releaser
        .on_event(s3_event(&key, &version), &env.invocation())
        .await
        .map(|o| serde_json::to_value(o).unwrap())
        .unwrap();
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let artifact_version = out["results"][0]["artifact_version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The pipeline's Source action copies that version into its artifact store.
    let store_key = env.stage_artifact(&artifact_version, release).await;
    let reports = Reports::default();
    let (success, failure) = reports.rules();
    let mut clients = env.clients.clone();
    clients.codepipeline = mock_client!(
        aws_sdk_codepipeline,
        RuleMode::MatchAny,
        [&success, &failure]
    );
    (store_key, Migrator::new(clients, BUCKET), reports)
}

fn job(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
    job_event(job_id, artifact_key, rollback, token)
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
    env.clients
        .ecs
        .describe_tasks()
        .cluster("prod")
        .set_tasks(Some(arns.task_arns().to_vec()))
        .send()
        .await
        .unwrap()
        .tasks()
        .to_vec()
}

#[tokio::test(flavor = "current_thread")]
async fn first_invocation_starts_a_task_then_polls_to_success() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let (artifact, migrator, reports) = released(&env, "v7", 900).await;

    let out = migrator
        .handle(job("job-1", &artifact, false, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    let first = reports.last();
    let token = first["token"]
        .as_str()
        .expect("continuation token")
        .to_owned();
    assert!(token.len() <= 2048);
    assert!(
        first["variables"].as_object().unwrap().is_empty(),
        "no variables with a token"
    );

    // The task: Fargate, private subnets, the release's images, the command overridden.
    let started = tasks(&env).await;
    assert_eq!(started.len(), 1);
    let task = &started[0];
    assert_eq!(task.started_by(), Some("berth/v7"));
    assert_eq!(task.launch_type().map(|l| l.as_str()), Some("FARGATE"));
    let overrides = task.overrides().unwrap().container_overrides();
    assert_eq!(overrides[0].name(), Some("app"));
    assert_eq!(overrides[0].command(), ["bin/rails", "db:migrate"]);
    let td = env
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(task.task_definition_arn().unwrap())
        .send()
        .await
        .unwrap();
    let app = &td.task_definition().unwrap().container_definitions()[0];
    assert_eq!(
        app.image(),
        Some(format!("{}@{}", repo_uri("web/app"), env.digest("web/app:v1.4.2")).as_str())
    );

    // The same first invocation again (a repeated delivery): no second task.
    migrator
        .handle(job("job-1", &artifact, false, None))
        .await
        .unwrap();
    assert_eq!(tasks(&env).await.len(), 1, "one task per job");

    // CodePipeline re-invokes with the token until the task has stopped.
    let mut token = token;
    let mut polls = 0;
    loop {
        polls += 1;
        assert!(polls < 10, "task never finished");
        let out = migrator
            .handle(job("job-1", &artifact, false, Some(&token)))
            .await
            .unwrap();
        if out["result"] != "continue" {
            assert_eq!(out["result"], "success", "{out}");
            break;
        }
        token = reports.last()["token"].as_str().unwrap().to_owned();
    }
    let done = reports.last();
    assert_eq!(done["variables"]["MIGRATION"], "succeeded");
    assert_eq!(
        done["variables"]["MIGRATION_TASK_ARN"],
        task.task_arn().unwrap()
    );
    assert!(
        done["variables"]["MIGRATION_SECONDS"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    let record = env.get_json("releases/web/v7.json").await.unwrap();
    assert_eq!(record["migration"]["outcome"], "succeeded");
    assert_eq!(record["migration"]["task_arn"], task.task_arn().unwrap());
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_past_its_deadline_is_stopped_and_the_job_fails_with_forensics() {
    let env = Env::start().await;
    // Tasks stay RUNNING (no immediate progression); a 1-second deadline passes.
    let (artifact, migrator, reports) = released(&env, "v8", 1).await;
    migrator
        .handle(job("job-2", &artifact, false, None))
        .await
        .unwrap();
    let token = reports.last()["token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let out = migrator
        .handle(job("job-2", &artifact, false, Some(&token)))
        .await
        .unwrap();
    assert_eq!(out["result"], "failure", "{out}");
    let failure = reports.last();
    assert_eq!(failure["type"], "JobFailed");
    let message = failure["message"].as_str().unwrap();
    assert!(
        message.contains("did not finish within 1 seconds"),
        "{message}"
    );
    assert!(
        message.contains("CloudWatch Logs group /ecs/web, stream web/app/"),
        "{message}"
    );
    let task = &tasks(&env).await[0];
    assert_eq!(task.last_status(), Some("STOPPED"));
    assert_eq!(
        task.stopped_reason(),
        Some("berth: migration deadline passed")
    );
    let record = env.get_json("releases/web/v8.json").await.unwrap();
    assert_eq!(record["migration"]["outcome"], "failed");
}

#[tokio::test(flavor = "current_thread")]
async fn rollbacks_and_releases_without_migration_skip_it() {
    let env = Env::start().await;
    let (artifact, migrator, reports) = released(&env, "v9", 60).await;
    let out = migrator
        .handle(job("job-3", &artifact, true, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "success", "{out}");
    assert_eq!(reports.last()["variables"], json!({"MIGRATION": "skipped"}));
    assert!(tasks(&env).await.is_empty());
    assert_eq!(reports.len(), 1);
    let record = env.get_json("releases/web/v9.json").await.unwrap();
    assert_eq!(record["migration"]["outcome"], "skipped");

    // A token that is not berth's, and an artifact that is missing, fail the job clearly.
    migrator
        .handle(job("job-4", &artifact, false, Some("garbage")))
        .await
        .unwrap();
    assert!(
        reports.last()["message"]
            .as_str()
            .unwrap()
            .contains("not berth's")
    );
    migrator
        .handle(job("job-5", "nope.zip", false, None))
        .await
        .unwrap();
    assert!(
        reports.last()["message"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
}

/// RunTask answers an emulator cannot give: throttling, then a placement failure.
#[tokio::test(flavor = "current_thread")]
async fn run_task_throttling_is_retried_and_placement_failures_fail_the_job() {
    use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
    use aws_sdk_ecs::operation::run_task::RunTaskOutput;
    use aws_sdk_ecs::types::{Failure, Task, TaskDefinition};
    let env = Env::start().await;
    let (artifact, migrator, reports) = released(&env, "v10", 60).await;
    let register = mock!(aws_sdk_ecs::Client::register_task_definition).then_output(|| {
        RegisterTaskDefinitionOutput::builder()
            .task_definition(
                TaskDefinition::builder()
                    .task_definition_arn(
                        "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:9",
                    )
                    .build(),
            )
            .build()
    });
    let run = mock!(aws_sdk_ecs::Client::run_task)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .output(|| {
            RunTaskOutput::builder()
                .tasks(
                    Task::builder()
                        .task_arn("arn:aws:ecs:ap-northeast-1:123456789012:task/prod/abc")
                        .build(),
                )
                .build()
        })
        .output(|| {
            RunTaskOutput::builder()
                .failures(
                    Failure::builder()
                        .arn("arn:aws:ecs:ap-northeast-1:123456789012:container-instance/x")
                        .reason("RESOURCE:MEMORY")
                        .build(),
                )
                .build()
        })
        .build();
    let mut context = migrator.0.clone();
    context.clients.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&register, &run], |c| c
        .retry_config(
            aws_smithy_types::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(std::time::Duration::from_millis(1))
        ));
    let m = Migrator(context);

    let out = m
        .handle(job("job-6", &artifact, false, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    assert_eq!(run.num_calls(), 2, "throttled once, then one task");
    let token: Value = serde_json::from_str(reports.last()["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        token["task_arn"],
        "arn:aws:ecs:ap-northeast-1:123456789012:task/prod/abc"
    );

    // A new job for another release: ECS cannot place the task.
    let (artifact, _, _) = released(&env, "v11", 60).await;
    let out = m
        .handle(job("job-7", &artifact, false, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "failure", "{out}");
    let failure = reports.last();
    assert_eq!(failure["type"], "JobFailed");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("RESOURCE:MEMORY"),
        "{failure}"
    );
}
