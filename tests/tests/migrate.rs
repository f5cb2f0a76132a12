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

/// The job `job_id`, or with a continuation token a new job of the same execution, as
/// CodePipeline creates one per re-invocation.
fn job(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
    static CONTINUATIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
    let first = Job::new(job_id, artifact_key).rollback(rollback);
    match token {
        None => first.event(None),
        Some(t) => {
            let n = CONTINUATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            first.continued(n).event(Some(t))
        }
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
    let record = env.get_json("releases/web/v7.json").await.unwrap();
    assert_eq!(
        record["migration"]["job_id"], "job-1",
        "the action's first job"
    );
    assert!(
        record["migration"]["task_definition_arn"].is_string(),
        "{record}"
    );
    assert!(
        record["migration"]["first_invoked_epoch"].is_u64(),
        "{record}"
    );
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
    tasks_never_finish(&env.moto.endpoint).await;
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

/// A rollback execution skips the migration and says so on its redeployment; the restored
/// release keeps its own migration outcome.
#[tokio::test(flavor = "current_thread")]
async fn rollbacks_and_releases_without_migration_skip_it() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let (artifact, migrator, reports) = released(&env, "v9", 60).await;
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let out = migrator
            .handle(job("job-2a", &artifact, false, token.as_deref()))
            .await
            .unwrap();
        if out["result"] != "continue" {
            assert_eq!(out["result"], "success", "{out}");
            break;
        }
        token = reports.last()["token"].as_str().map(str::to_owned);
    }
    let tasks_before = tasks(&env).await.len();
    let berth::releases::RollbackOutcome::Started(rollback) = env
        .releases()
        .rollback("web", Some("v9"), std::time::SystemTime::now())
        .await
        .unwrap()
    else {
        panic!("v9 has an artifact to redeploy")
    };
    let mut redeploy = Job::new("job-3", &artifact).rollback(true);
    redeploy.execution = rollback.pipeline_execution_id.clone();
    let out = migrator.handle(redeploy.event(None)).await.unwrap();
    assert_eq!(out["result"], "success", "{out}");
    assert_eq!(reports.last()["variables"], json!({"MIGRATION": "skipped"}));
    assert_eq!(tasks(&env).await.len(), tasks_before, "no migration task");
    let record = env.get_json("releases/web/v9.json").await.unwrap();
    assert_eq!(
        record["migration"]["outcome"], "succeeded",
        "v9 keeps its own migration outcome"
    );
    assert_eq!(
        record["redeployments"][0]["pipeline_execution_id"],
        rollback.pipeline_execution_id.as_str()
    );
    assert_eq!(record["redeployments"][0]["migration"], "skipped");

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
    let service = code_deploy_service();
    let rules = [&register, &run, &service];
    context.clients.ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules, |c| c.retry_config(
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

/// The migrator of `released`, with ECS answering from `rules` (no SDK retries, so each rule
/// answer reaches the function as ECS gave it).
fn with_ecs(migrator: &Migrator, rules: &[&aws_smithy_mocks::Rule]) -> Migrator {
    let mut context = migrator.0.clone();
    // Migrate reads the service's deployment controller before it waits for its deployments:
    // the harness's web is a CODE_DEPLOY service, so it waits for its CodeDeploy group.
    let service = code_deploy_service();
    let rules = rules.iter().copied().chain([&service]);
    context.clients.ecs =
        aws_smithy_mocks::mock_client!(aws_sdk_ecs, RuleMode::MatchAny, rules, |c| c
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
    Migrator(context)
}

/// DescribeServices answering the harness's web, ACTIVE, deployment controller CODE_DEPLOY.
fn code_deploy_service() -> Rule {
    use aws_sdk_ecs::operation::describe_services::DescribeServicesOutput;
    use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType, Service};
    mock!(aws_sdk_ecs::Client::describe_services).then_output(|| {
        let controller = DeploymentController::builder()
            .r#type(DeploymentControllerType::CodeDeploy)
            .build()
            .unwrap();
        DescribeServicesOutput::builder()
            .services(
                Service::builder()
                    .service_name("web")
                    .status("ACTIVE")
                    .deployment_controller(controller)
                    .build(),
            )
            .build()
    })
}

fn registered() -> Rule {
    use aws_sdk_ecs::operation::register_task_definition::RegisterTaskDefinitionOutput;
    use aws_sdk_ecs::types::TaskDefinition;
    mock!(aws_sdk_ecs::Client::register_task_definition).then_output(|| {
        RegisterTaskDefinitionOutput::builder()
            .task_definition(
                TaskDefinition::builder()
                    .task_definition_arn(
                        "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:9",
                    )
                    .build(),
            )
            .build()
    })
}

fn http(status: u16, body: &'static str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(status).unwrap(),
        aws_smithy_types::body::SdkBody::from(body),
    )
}

const TASK: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task/prod/first";

/// Every RunTask client token sent, in order.
#[derive(Clone, Default)]
struct ClientTokens(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl ClientTokens {
    fn record(
        &self,
    ) -> impl Fn(&aws_sdk_ecs::operation::run_task::RunTaskInput) -> bool + Send + Sync + 'static
    {
        let seen = self.0.clone();
        move |r| {
            seen.lock()
                .unwrap()
                .push(r.client_token().unwrap_or_default().to_owned());
            true
        }
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A first invocation that registered the task definition and then failed to hear RunTask's
/// answer is invoked again: it registers nothing new (the revision was recorded before
/// RunTask), and RunTask's answer to the repeated client token — ConflictException naming the
/// task already started — is followed, not reported as a failure.
#[tokio::test(flavor = "current_thread")]
async fn a_repeated_start_registers_once_and_follows_the_task_its_client_token_started() {
    let env = Env::start().await;
    let (artifact, migrator, reports) = released(&env, "v12", 600).await;
    let register = registered();
    let tokens = ClientTokens::default();
    let run = mock!(aws_sdk_ecs::Client::run_task)
        .match_requests(tokens.record())
        .sequence()
        .http_response(|| http(500, r#"{"__type":"ServerException","message":"internal"}"#))
        .http_response(|| {
            http(
                400,
                r#"{"__type":"ConflictException","message":"The provided clientToken is already in use with a different RunTask request.","resourceIds":["arn:aws:ecs:ap-northeast-1:123456789012:task/prod/first"]}"#,
            )
        })
        .build();
    let m = with_ecs(&migrator, &[&register, &run]);

    let out = m
        .handle(job("job-12", &artifact, false, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    let pending = reports.last()["token"].as_str().unwrap().to_owned();
    assert!(pending.contains("\"phase\":\"starting\""), "{pending}");
    let record = env.get_json("releases/web/v12.json").await.unwrap();
    assert_eq!(record["migration"]["outcome"], "starting");
    assert_eq!(
        record["migration"]["task_definition_arn"],
        "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:9"
    );

    let out = m
        .handle(job("job-12", &artifact, false, Some(&pending)))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    assert_eq!(out["external_id"], TASK);
    assert_eq!(register.num_calls(), 1, "one revision per job");
    assert_eq!(run.num_calls(), 2);
    let sent = tokens.all();
    assert_eq!(
        sent[0], sent[1],
        "a lost answer is asked again with the same client token"
    );
    let token: Value = serde_json::from_str(reports.last()["token"].as_str().unwrap()).unwrap();
    assert_eq!(token["task_arn"], TASK);
    let first: Value = serde_json::from_str(&pending).unwrap();
    assert_eq!(
        token["deadline_epoch"], first["deadline_epoch"],
        "the deadline counts from the action's first invocation"
    );
    let record = env.get_json("releases/web/v12.json").await.unwrap();
    assert_eq!(
        (
            record["migration"]["outcome"].as_str(),
            record["migration"]["task_arn"].as_str()
        ),
        (Some("running"), Some(TASK))
    );
}

/// Fargate without capacity and concurrent registrations of one family are passing: the job
/// answers with a continuation token and tries again on the next invocation — until the
/// migration's deadline, counted from the first invocation.
#[tokio::test(flavor = "current_thread")]
async fn passing_ecs_faults_are_retried_through_the_token_until_the_deadline() {
    use aws_sdk_ecs::operation::run_task::RunTaskOutput;
    use aws_sdk_ecs::types::{Failure, Task};
    let env = Env::start().await;
    let (artifact, migrator, reports) = released(&env, "v13", 600).await;
    let register = mock!(aws_sdk_ecs::Client::register_task_definition)
        .sequence()
        .http_response(|| {
            http(
                400,
                r#"{"__type":"ClientException","message":"Too many concurrent attempts to create a new revision of the specified family."}"#,
            )
        })
        .build();
    let no_capacity = || {
        RunTaskOutput::builder()
            .failures(
                Failure::builder()
                    .reason("Capacity is unavailable at this time. Please try again later or in a different availability zone")
                    .build(),
            )
            .build()
    };
    let tokens = ClientTokens::default();
    let run = mock!(aws_sdk_ecs::Client::run_task)
        .match_requests(tokens.record())
        .sequence()
        .output(no_capacity)
        .output(|| {
            RunTaskOutput::builder()
                .tasks(Task::builder().task_arn(TASK).build())
                .build()
        })
        .build();
    let registered = registered();
    let m = with_ecs(&migrator, &[&register, &registered, &run]);
    let mut token: Option<String> = None;
    let mut summaries = Vec::new();
    for _ in 0..3 {
        let out = m
            .handle(job("job-13", &artifact, false, token.as_deref()))
            .await
            .unwrap();
        assert_eq!(out["result"], "continue", "{out}");
        summaries.push(
            reports.last()["summary"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
        token = reports.last()["token"].as_str().map(str::to_owned);
    }
    assert!(
        summaries[0].contains("Too many concurrent attempts"),
        "{summaries:?}"
    );
    assert!(
        summaries[1].contains("Capacity is unavailable") && summaries[1].contains("attempt 2"),
        "{summaries:?}"
    );
    assert_eq!(summaries[2], format!("migration task {TASK} started"));
    let sent = tokens.all();
    assert_ne!(
        sent[0], sent[1],
        "after ECS refused, the next start is a new request, not a replay of the refusal"
    );
    assert_eq!(
        reports
            .0
            .all()
            .iter()
            .filter(|(op, _)| op == "PutJobFailureResult")
            .count(),
        0
    );

    // With a deadline that passes while ECS has no capacity, the job fails saying so.
    let (artifact, migrator, reports) = released(&env, "v14", 1).await;
    let run = mock!(aws_sdk_ecs::Client::run_task).then_output(no_capacity);
    let m = with_ecs(&migrator, &[&registered, &run]);
    m.handle(job("job-14", &artifact, false, None))
        .await
        .unwrap();
    let pending = reports.last()["token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = m
        .handle(job("job-14", &artifact, false, Some(&pending)))
        .await
        .unwrap();
    assert_eq!(out["result"], "failure", "{out}");
    let message = reports.last()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("could not be started within 1 seconds (2 attempts)")
            && message.contains("Capacity is unavailable"),
        "{message}"
    );
}

/// A job that no longer takes a result (a repeated delivery already reported it, or its
/// execution ended) answers InvalidJobStateException: the invocation is done, not an error for
/// Lambda to retry into the failed-events queue.
#[tokio::test(flavor = "current_thread")]
async fn a_job_already_reported_is_done_not_an_error() {
    let env = Env::start().await;
    let (artifact, migrator, _) = released(&env, "v15", 60).await;
    let gone = mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_http_response(|| {
        http(400, r#"{"__type":"InvalidJobStateException","message":"The job state was specified in an invalid format."}"#)
    });
    let mut context = migrator.0.clone();
    context.clients.codepipeline = aws_smithy_mocks::mock_client!(aws_sdk_codepipeline, [&gone]);
    let out = Migrator(context)
        .handle(Job::new("job-15", &artifact).rollback(true).event(None))
        .await
        .expect("a late report is not a fault");
    assert_eq!(out["result"], "success");
    assert_eq!(gone.num_calls(), 1);
    let not_found = mock!(aws_sdk_codepipeline::Client::put_job_success_result).then_http_response(|| {
        http(400, r#"{"__type":"JobNotFoundException","message":"The job was specified in an invalid format or cannot be found."}"#)
    });
    let mut context = migrator.0.clone();
    context.clients.codepipeline =
        aws_smithy_mocks::mock_client!(aws_sdk_codepipeline, [&not_found]);
    Migrator(context)
        .handle(Job::new("job-15b", &artifact).rollback(true).event(None))
        .await
        .expect("a job that is gone is not a fault");

    let broken = mock!(aws_sdk_codepipeline::Client::put_job_success_result)
        .then_http_response(|| http(500, r#"{"__type":"InternalServerError","message":"x"}"#));
    let mut context = migrator.0.clone();
    context.clients.codepipeline =
        aws_smithy_mocks::mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&broken], |c| c
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
    let err = Migrator(context)
        .handle(Job::new("job-16", &artifact).rollback(true).event(None))
        .await
        .expect_err("a result that could not be reported is an error, so Lambda retries");
    assert!(
        err.to_string().contains("codepipeline:PutJobSuccessResult"),
        "{err}"
    );
}

/// An execution berth did not start (pipeline creation, the console's Release change) runs
/// with the variables' defaults: the job fails, saying how to release, and starts nothing.
#[tokio::test(flavor = "current_thread")]
async fn an_execution_berth_did_not_start_migrates_nothing() {
    let env = Env::start().await;
    let (artifact, migrator, reports) = released(&env, "v17", 60).await;
    let mut manual = Job::new("job-17", &artifact);
    manual.release = "(none)".into();
    let out = migrator.handle(manual.event(None)).await.unwrap();
    assert_eq!(out["result"], "failure", "{out}");
    let message = reports.last()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains("not started by berth") && message.contains("berth release"),
        "{message}"
    );
    assert!(tasks(&env).await.is_empty());
}

/// CodePipeline fails a Lambda action after 24 hours, and "Stop and abandon" never invokes it
/// again: when the execution ends while the migration task runs, on-pipeline-event stops the
/// task, naming the execution, and records it.
#[tokio::test(flavor = "current_thread")]
async fn an_execution_that_ends_while_its_migration_runs_stops_the_task() {
    let env = Env::start().await;
    tasks_never_finish(&env.moto.endpoint).await;
    let (artifact, migrator, _) = released(&env, "v18", 600).await;
    let record = env.get_json("releases/web/v18.json").await.unwrap();
    let execution = record["pipeline_execution_id"].as_str().unwrap().to_owned();
    let mut job = Job::new("job-18", &artifact);
    job.execution = execution.clone();
    let out = migrator.handle(job.event(None)).await.unwrap();
    assert_eq!(out["result"], "continue", "{out}");

    let out = env.pipeline_event(&execution, "STOPPED").await;
    assert_eq!(out["status"], "STOPPED", "{out}");
    assert_eq!(out["migration"], "stopped", "{out}");
    let task = &tasks(&env).await[0];
    assert_eq!(task.desired_status(), Some("STOPPED"));
    assert_eq!(
        task.stopped_reason(),
        Some(format!("berth: pipeline execution {execution} ended STOPPED").as_str())
    );
    let record = env.get_json("releases/web/v18.json").await.unwrap();
    assert_eq!(record["migration"]["outcome"], "stopped");
    assert!(
        record["migration"]["message"]
            .as_str()
            .unwrap()
            .contains(&execution)
    );
}

/// Release A changes nginx (to 1.29, pushed here); release B, uploaded before A deploys,
/// names only app. Returns nginx 1.29's digest and the two manifest keys.
async fn queued_pair(env: &mut Env) -> (String, String, String) {
    let nginx = env.push_image("web/nginx", "1.29").await;
    let a = uploaded(
        env,
        "a",
        json!({"nginx": format!("{}:1.29", repo_uri("web/nginx"))}),
    )
    .await;
    let b = uploaded(
        env,
        "b",
        json!({"app": format!("{}:v1.4.2", repo_uri("web/app"))}),
    )
    .await;
    (nginx, a, b)
}

/// Uploads release `release` of `web` naming `images` (no migration) and stages its source
/// artifact as the pipeline's Source action would; returns the staged key.
async fn uploaded(env: &Env, release: &str, images: Value) -> String {
    let releaser = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let key = format!("manifests/web/{release}.json");
    let doc = json!({"schema": "berth/v1", "service": "web", "release": release,
        "images": images, "migration": null});
    let version = env.put_manifest(&key, doc.to_string().as_bytes()).await;
    let out = releaser
        .on_event(s3_event(&key, &version), &env.invocation())
        .await
        .map(|o| serde_json::to_value(o).unwrap())
        .unwrap();
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let artifact_version = out["results"][0]["artifact_version_id"].as_str().unwrap();
    env.stage_artifact(artifact_version, release).await
}

/// The task definition in an artifact zip.
fn taskdef_of(zip: &[u8]) -> Value {
    let file = berth::render::read_artifact_file(zip, berth::render::TASKDEF_FILE).unwrap();
    serde_json::from_slice(&file).unwrap()
}

fn image_of<'a>(taskdef: &'a Value, container: &str) -> &'a str {
    berth::render::container_image(taskdef, container).unwrap()
}

/// What a finished CodeDeploy deployment of `zip` leaves: its task definition registered and
/// the service's PRIMARY task set running it (CodeDeploy is a stand-in: moto has none).
async fn deploy_artifact(env: &Env, zip: &[u8]) {
    let body = taskdef_of(zip).to_string();
    let out = raw_json(
        &env.moto.endpoint,
        "ecs",
        "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
        &body,
    )
    .await;
    let out: Value = serde_json::from_str(&out).unwrap();
    let arn = out["taskDefinition"]["taskDefinitionArn"].as_str().unwrap();
    env.deploy("web", arn).await;
}

/// Release A changes nginx; release B, uploaded while A waits in the Release stage, names only
/// app. The pipeline is QUEUED and its Release stage locked while A is in it, so B's source
/// artifact was rendered from the revision before A. When B reaches its stage after A deployed,
/// B's deployed task definition keeps A's nginx.
#[tokio::test(flavor = "current_thread")]
async fn a_release_queued_behind_another_deploys_what_the_one_ahead_left_running() {
    let mut env = Env::start().await;
    let (nginx_new, a, b) = queued_pair(&mut env).await;
    let b_source = env.get_object(&b, None).await.unwrap();
    let pinned_nginx = format!("{}@{nginx_new}", repo_uri("web/nginx"));
    assert_ne!(
        image_of(&taskdef_of(&b_source), "nginx"),
        pinned_nginx,
        "B was rendered before A deployed"
    );
    let (migrator, reports) = mocked(&env);

    let a_job = Job::new("job-a", &a).output("berth-web/DeployArti/a.zip");
    let out = migrator.handle(a_job.event(None)).await.unwrap();
    assert_eq!(out["result"], "success", "{out}");
    let a_deployed = env
        .get_object("berth-web/DeployArti/a.zip", None)
        .await
        .unwrap();
    assert_eq!(image_of(&taskdef_of(&a_deployed), "nginx"), pinned_nginx);
    deploy_artifact(&env, &a_deployed).await;

    let b_job = Job::new("job-b", &b).output("berth-web/DeployArti/b.zip");
    let out = migrator.handle(b_job.event(None)).await.unwrap();
    assert_eq!(out["result"], "success", "{out}");
    assert_eq!(reports.last()["kind"], "success");
    let b_deployed = env
        .get_object("berth-web/DeployArti/b.zip", None)
        .await
        .unwrap();
    let td = taskdef_of(&b_deployed);
    assert_eq!(image_of(&td, "nginx"), pinned_nginx, "A's nginx is kept");
    let app = format!("{}@{}", repo_uri("web/app"), env.digest("web/app:v1.4.2"));
    assert_eq!(image_of(&td, "app"), app, "B's own app");
    assert_eq!(
        env.get_object("artifacts/web/deployed/b.zip", None)
            .await
            .unwrap(),
        b_deployed
    );
    let record = env.get_json("releases/web/b.json").await.unwrap();
    assert_eq!(
        record["deployed"]["artifact"],
        "artifacts/web/deployed/b.zip"
    );
    assert_eq!(record["deployed"]["images"]["nginx"], pinned_nginx.as_str());
    assert_ne!(
        record["images"]["nginx"],
        pinned_nginx.as_str(),
        "what was requested stays"
    );
}

/// A repeated first invocation of B's job, after the service moved on, writes the bytes it
/// rendered the first time; a rollback execution to B writes exactly those bytes again.
#[tokio::test(flavor = "current_thread")]
async fn the_deployed_artifact_is_rendered_once_and_a_rollback_deploys_its_exact_bytes() {
    let mut env = Env::start().await;
    let (_, a, b) = queued_pair(&mut env).await;
    let (migrator, _) = mocked(&env);
    let a_job = Job::new("job-a", &a).output("berth-web/DeployArti/a.zip");
    migrator.handle(a_job.event(None)).await.unwrap();
    let a_deployed = env
        .get_object("berth-web/DeployArti/a.zip", None)
        .await
        .unwrap();
    deploy_artifact(&env, &a_deployed).await;
    let b_job = Job::new("job-b", &b).output("berth-web/DeployArti/b.zip");
    migrator.handle(b_job.event(None)).await.unwrap();
    let first = env
        .get_object("berth-web/DeployArti/b.zip", None)
        .await
        .unwrap();

    // The service runs the first revision again (another release ahead, or a rollback).
    env.deploy("web", "web:1").await;
    let again = Job::new("job-b", &b).output("berth-web/DeployArti/b-again.zip");
    let out = migrator.handle(again.event(None)).await.unwrap();
    assert_eq!(out["result"], "success", "{out}");
    let second = env
        .get_object("berth-web/DeployArti/b-again.zip", None)
        .await
        .unwrap();
    assert_eq!(second, first, "rendered once");

    let b_source = env.get_object(&b, None).await.unwrap();
    assert_ne!(
        b_source, first,
        "B deployed something else than its source artifact"
    );
    let rollback = Job::new("job-r", &b)
        .rollback(true)
        .output("berth-web/DeployArti/rollback.zip");
    let out = migrator.handle(rollback.event(None)).await.unwrap();
    assert_eq!(out["result"], "success", "{out}");
    let redeployed = env
        .get_object("berth-web/DeployArti/rollback.zip", None)
        .await
        .unwrap();
    assert_eq!(redeployed, first, "the exact earlier bytes");
}

/// A migrator whose CodePipeline job API is mocked, and what it reported.
fn mocked(env: &Env) -> (Migrator, Reports) {
    let reports = Reports::default();
    let (success, failure) = reports.rules();
    let mut clients = env.clients.clone();
    clients.codepipeline = mock_client!(
        aws_sdk_codepipeline,
        RuleMode::MatchAny,
        [&success, &failure]
    );
    (Migrator::new(clients, BUCKET), reports)
}

/// The migrator of `released` with CodeDeploy on the stand-in (moto never moves a deployment
/// on), holding one deployment of web's group that an abandoned execution left running.
async fn behind_an_abandoned_deployment(
    env: &Env,
    release: &str,
) -> (
    String,
    Migrator,
    Reports,
    berth_tests::codedeploy::FakeCodeDeploy,
    String,
) {
    let (artifact, migrator, reports) = released(env, release, 900).await;
    let fake = berth_tests::codedeploy::FakeCodeDeploy::start(Some(60), 30).await;
    let abandoned = fake.deploy("berth-web", "web", "berth-web", "exec-abandoned");
    let mut context = migrator.0.clone();
    context.clients.codedeploy = aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::config::Builder::from(&env.config)
            .endpoint_url(fake.endpoint())
            .build(),
    );
    (artifact, Migrator(context), reports, fake, abandoned)
}

/// "Stop and abandon" unlocks the stage while the Deploy action's CodeDeploy deployment goes
/// on ("the action execution is in an Abandoned state … The stage unlocks." — CodePipeline User
/// Guide): the next release waits for the group through continuation tokens, starting no task,
/// and migrates once the deployment has ended.
#[tokio::test(flavor = "current_thread")]
async fn a_release_behind_an_abandoned_deployment_waits_for_it_then_migrates() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let (artifact, migrator, reports, fake, abandoned) =
        behind_an_abandoned_deployment(&env, "v30").await;

    let out = migrator
        .handle(job("job-30", &artifact, false, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    let waiting = reports.last();
    let summary = waiting["summary"].as_str().unwrap();
    assert!(
        summary.contains(&abandoned) && summary.contains("berth rollback web"),
        "{summary}"
    );
    assert!(
        tasks(&env).await.is_empty(),
        "no migration task while it deploys"
    );
    assert!(fake.operations().contains(&"ListDeployments".to_owned()));
    let token = waiting["token"].as_str().unwrap().to_owned();

    // Still active on the next invocation: still waiting, from the same start.
    let out = migrator
        .handle(job("job-30", &artifact, false, Some(&token)))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    assert!(tasks(&env).await.is_empty());
    let token = reports.last()["token"].as_str().unwrap().to_owned();
    assert!(token.contains("\"phase\":\"waiting\""), "{token}");

    // The operator takes it back (`berth rollback web` stops it); the next invocation migrates.
    aws_sdk_codedeploy::Client::from_conf(
        aws_sdk_codedeploy::config::Builder::from(&env.config)
            .endpoint_url(fake.endpoint())
            .build(),
    )
    .stop_deployment()
    .deployment_id(&abandoned)
    .auto_rollback_enabled(true)
    .send()
    .await
    .unwrap();
    let out = migrator
        .handle(job("job-30", &artifact, false, Some(&token)))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    assert!(
        reports.last()["summary"]
            .as_str()
            .unwrap()
            .contains("migration task"),
        "{}",
        reports.last()
    );
    assert_eq!(tasks(&env).await.len(), 1, "the migration runs now");
    let record = env.get_json("releases/web/v30.json").await.unwrap();
    assert_eq!(
        record["migration"]["job_id"], "job-30",
        "the action's first job"
    );
}

/// The wait is bounded: past it, the job fails naming the deployment, and nothing migrates.
#[tokio::test(flavor = "current_thread")]
async fn a_wait_past_its_bound_fails_naming_the_deployment() {
    let env = Env::start().await;
    let (artifact, migrator, reports, _fake, abandoned) =
        behind_an_abandoned_deployment(&env, "v31").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let bound = berth::migration::busy::wait_bound(900);
    let since = now - bound - 1;
    let token = berth::migration::Waiting::new("job-31", since, &abandoned).encode();
    let out = migrator
        .handle(job("job-31", &artifact, false, Some(&token)))
        .await
        .unwrap();
    assert_eq!(out["result"], "failure", "{out}");
    let message = reports.last()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&abandoned) && message.contains("has not ended"),
        "{message}"
    );
    assert!(tasks(&env).await.is_empty());
}

/// A rollback execution is the operator's way out: it never asks CodeDeploy, nor waits.
#[tokio::test(flavor = "current_thread")]
async fn a_rollback_execution_does_not_wait_for_the_group() {
    let env = Env::start().await;
    let (artifact, migrator, reports, fake, _abandoned) =
        behind_an_abandoned_deployment(&env, "v32").await;
    let out = migrator
        .handle(job("job-32", &artifact, true, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "success", "{out}");
    assert_eq!(reports.last()["variables"], json!({"MIGRATION": "skipped"}));
    assert!(
        !fake.operations().contains(&"ListDeployments".to_owned()),
        "{:?}",
        fake.operations()
    );
}

/// The migrator of `release` with ECS through the stand-in (`berth_tests::ecs_deployments`: moto
/// has no service deployments), whose `web` is a ROLLING service ECS deploys itself running the
/// task definition moto's service runs, with one service deployment (UpdateService with
/// `forceNewDeployment`) that has not ended: an abandoned Deploy's, or someone else's.
async fn behind_an_unended_service_deployment(
    env: &Env,
    release: &str,
) -> (
    String,
    Migrator,
    Reports,
    berth_tests::ecs_deployments::FakeEcs,
    String,
) {
    let (artifact, migrator, reports) = released(env, release, 900).await;
    let fake = berth_tests::ecs_deployments::FakeEcs::start(env).await;
    let running = env
        .clients
        .ecs
        .describe_services()
        .cluster("prod")
        .services("web")
        .send()
        .await
        .unwrap()
        .services()[0]
        .task_definition()
        .unwrap()
        .to_owned();
    fake.create_service(
        "web",
        &running,
        berth_tests::ecs_deployments::configuration("ROLLING", vec![], 0),
    )
    .await;
    let out = fake
        .call(
            "UpdateService",
            &json!({"cluster": "prod", "service": "web", "forceNewDeployment": true}),
        )
        .await;
    assert!(out["service"].is_object(), "{out}");
    let unended = fake.latest("web").expect("a service deployment");
    assert!(!unended.ended(), "{unended:?}");
    let mut context = migrator.0.clone();
    context.clients.ecs = fake.clients.ecs.clone();
    (artifact, Migrator(context), reports, fake, unended.arn)
}

/// The CODE_DEPLOY wait's counterpart for a service ECS deploys itself: while the service has a
/// service deployment whose status is not final, the release waits through continuation tokens
/// and starts no task; once it ended (SUCCESSFUL), the next invocation migrates.
#[tokio::test(flavor = "current_thread")]
async fn a_release_behind_an_unended_ecs_service_deployment_waits_for_it_then_migrates() {
    let env = Env::start().await;
    immediate_task_progress(&env.moto.endpoint).await;
    let (artifact, migrator, reports, fake, unended) =
        behind_an_unended_service_deployment(&env, "v40").await;

    let out = migrator
        .handle(job("job-40", &artifact, false, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    let summary = reports.last()["summary"].as_str().unwrap().to_owned();
    assert!(
        summary.contains(&unended) && summary.contains("berth rollback web"),
        "{summary}"
    );
    assert!(
        tasks(&env).await.is_empty(),
        "no migration task while it deploys"
    );
    assert!(
        fake.operations()
            .contains(&"ListServiceDeployments".to_owned()),
        "{:?}",
        fake.operations()
    );
    let token = reports.last()["token"].as_str().unwrap().to_owned();
    assert!(token.contains("\"phase\":\"waiting\""), "{token}");

    // The deployment ends; the next invocation of the same execution migrates.
    let ended = fake.run("web").await;
    assert_eq!(ended.status, "SUCCESSFUL", "{ended:?}");
    let out = migrator
        .handle(job("job-40", &artifact, false, Some(&token)))
        .await
        .unwrap();
    assert_eq!(out["result"], "continue", "{out}");
    assert!(
        reports.last()["summary"]
            .as_str()
            .unwrap()
            .contains("migration task"),
        "{}",
        reports.last()
    );
    assert_eq!(tasks(&env).await.len(), 1, "the migration runs now");
}

/// A rollback execution is the operator's way out for a service ECS deploys too: it neither
/// asks ECS for service deployments nor waits.
#[tokio::test(flavor = "current_thread")]
async fn a_rollback_execution_does_not_wait_for_an_ecs_service_deployment() {
    let env = Env::start().await;
    let (artifact, migrator, reports, fake, _unended) =
        behind_an_unended_service_deployment(&env, "v41").await;
    let out = migrator
        .handle(job("job-41", &artifact, true, None))
        .await
        .unwrap();
    assert_eq!(out["result"], "success", "{out}");
    assert_eq!(reports.last()["variables"], json!({"MIGRATION": "skipped"}));
    assert!(
        !fake
            .operations()
            .contains(&"ListServiceDeployments".to_owned()),
        "{:?}",
        fake.operations()
    );
}
