//! Fault injection through the compiled functions: a loopback proxy between them and moto
//! answers one chosen AWS call with throttling, a 500, a 503, a dropped connection, or a lost
//! answer (the call was done, its answer never came back). For every operation on the release
//! paths and every fault, the invocation either succeeds or fails so that Lambda's retries (two
//! for asynchronous invocations) converge, and then: exactly one artifact version, at most one
//! pipeline execution and at most one migration task per release, and no release record left
//! claimed. The matrix is printed (operation × fault → outcome).
//!
//! The functions run with `AWS_MAX_ATTEMPTS=1`, so every fault reaches berth's own handling
//! instead of being absorbed by the SDK's retries.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use berth_tests::proxy::{Fault, Proxy, Routes};
use berth_tests::runtime::{Function, Outcome, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

/// A short invocation deadline: a claim lost with a failed invocation lapses quickly.
const DEADLINE: Duration = Duration::from_secs(3);

/// Lambda retries a failed asynchronous invocation twice.
const LAMBDA_ATTEMPTS: usize = 3;

struct Rig {
    env: Env,
    proxy: Proxy,
    jobs: StandIn,
    push: Function,
    manifest: Function,
    migrate: Function,
    pipeline_event: Function,
    n: usize,
}

impl Rig {
    async fn start() -> Rig {
        let env = Env::start().await;
        immediate_task_progress(&env.moto.endpoint).await;
        let jobs = StandIn::job_api().await;
        let mut routes = Routes::to(&env.moto.endpoint);
        for op in ["PutJobSuccessResult", "PutJobFailureResult"] {
            let addr = jobs.endpoint.trim_start_matches("http://").parse().unwrap();
            routes.by_operation.insert(op.to_owned(), addr);
        }
        let proxy = Proxy::start(routes).await;
        let vars = moto_env(&proxy.endpoint);
        Rig {
            push: Function::spawn("on-image-push", &vars).await,
            manifest: Function::spawn("on-manifest", &vars).await,
            migrate: Function::spawn("migrate", &vars).await,
            pipeline_event: Function::spawn("on-pipeline-event", &vars).await,
            env,
            proxy,
            jobs,
            n: 0,
        }
    }

    fn next_release(&mut self) -> String {
        self.n += 1;
        format!("f{}", self.n)
    }

    /// Invokes like Lambda delivers an asynchronous event: once, then again on an error (after
    /// the failed invocation's claim has lapsed), up to three times. How many it took.
    async fn deliver(f: &mut Function, event: &Value) -> Result<usize, String> {
        let mut last = String::new();
        for attempt in 1..=LAMBDA_ATTEMPTS {
            match f.invoke_for(event, DEADLINE).await {
                Outcome::Response(_) => return Ok(attempt),
                Outcome::Error(e) => {
                    last = e.to_string();
                    if e["errorType"] == "Busy" {
                        tokio::time::sleep(DEADLINE).await;
                    }
                }
            }
        }
        Err(format!(
            "no success in {LAMBDA_ATTEMPTS} invocations: {last}"
        ))
    }

    async fn manifest_upload(&self, release: &str) -> (String, String) {
        let key = format!("manifests/web/{release}.json");
        let doc = json!({"schema": "berth/v1", "service": "web", "release": release,
            "images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))},
            "migration": {"timeout_seconds": 600}});
        let version = self
            .env
            .put_manifest(&key, doc.to_string().as_bytes())
            .await;
        (key, version)
    }

    /// on-manifest for a new release under `fault`; checks the invariants.
    async fn on_manifest(&mut self, op: &str, nth: usize, fault: Fault) -> Result<usize, String> {
        let release = self.next_release();
        let (key, version) = self.manifest_upload(&release).await;
        let artifacts = self.env.versions("artifacts/web/source.zip").await.len();
        let executions = self.env.executions("berth-web").await.len();
        self.proxy.arm(op, fault, nth);
        let taken = Self::deliver(&mut self.manifest, &s3_event_json(&key, &version)).await;
        let fired = self.proxy.disarm();
        let taken = taken?;
        let artifacts = self.env.versions("artifacts/web/source.zip").await.len() - artifacts;
        let executions = self.env.executions("berth-web").await.len() - executions;
        let record = self
            .env
            .get_json(&format!("releases/web/{release}.json"))
            .await
            .unwrap_or(Value::Null);
        check(
            fired,
            [
                (artifacts == 1, format!("{artifacts} artifact versions")),
                (executions == 1, format!("{executions} pipeline executions")),
                (
                    record["status"] == "IN_PROGRESS"
                        && record["pipeline_execution_id"].is_string(),
                    format!("record {}", record["status"]),
                ),
            ],
        )?;
        Ok(taken)
    }

    /// A released artifact staged for the Migrate action, without faults.
    async fn released(&mut self) -> (String, String, String) {
        let release = self.next_release();
        let (key, version) = self.manifest_upload(&release).await;
        let out = Self::deliver(&mut self.manifest, &s3_event_json(&key, &version)).await;
        assert!(out.is_ok(), "setup release: {out:?}");
        let record = self
            .env
            .get_json(&format!("releases/web/{release}.json"))
            .await
            .unwrap();
        let artifact = record["artifact_version_id"].as_str().unwrap();
        let staged = self.env.stage_artifact(artifact, &release).await;
        let execution = record["pipeline_execution_id"].as_str().unwrap().to_owned();
        (release, staged, execution)
    }

    /// The Migrate action under `fault`, played as CodePipeline plays it; checks the invariants.
    async fn migrate(&mut self, op: &str, nth: usize, fault: Fault) -> Result<usize, String> {
        let (release, staged, execution) = self.released().await;
        let mut job = Job::new(&format!("job-{release}"), &staged);
        job.execution = execution;
        self.proxy.arm(op, fault, nth);
        let (mut token, mut taken, mut result) = (None::<String>, 0, String::new());
        for poll in 0..20 {
            let current = if poll == 0 {
                job.clone()
            } else {
                job.continued(poll)
            };
            taken = taken.max(
                Self::deliver(&mut self.migrate, &current.event_json(token.as_deref())).await?,
            );
            let (op, body) = self.jobs.last().ok_or("no job result")?;
            match body["continuationToken"].as_str() {
                Some(t) if op == "PutJobSuccessResult" => token = Some(t.to_owned()),
                _ => {
                    let message = body["failureDetails"]["message"]
                        .as_str()
                        .unwrap_or_default();
                    result = format!("{op} {message}").trim().to_owned();
                    break;
                }
            }
        }
        let fired = self.proxy.disarm();
        let started_by = format!("berth/{release}");
        let tasks = self.tasks_started_by(&started_by).await;
        let record = self
            .env
            .get_json(&format!("releases/web/{release}.json"))
            .await
            .unwrap_or(Value::Null);
        check(
            fired,
            [
                (tasks == 1, format!("{tasks} migration tasks")),
                (
                    result == "PutJobSuccessResult",
                    format!("job ended {result}"),
                ),
                (
                    record["migration"]["outcome"] == "succeeded",
                    format!("migration {}", record["migration"]["outcome"]),
                ),
            ],
        )?;
        Ok(taken)
    }

    async fn tasks_started_by(&self, started_by: &str) -> usize {
        let ecs = &self.env.clients.ecs;
        let mut n = 0;
        for status in [
            aws_sdk_ecs::types::DesiredStatus::Running,
            aws_sdk_ecs::types::DesiredStatus::Stopped,
        ] {
            let listed = ecs
                .list_tasks()
                .cluster("prod")
                .started_by(started_by)
                .desired_status(status)
                .send()
                .await;
            n += listed.map(|l| l.task_arns().len()).unwrap_or(0);
        }
        n
    }

    /// on-pipeline-event for a release's success under `fault`; checks the record and index.
    async fn pipeline_event(
        &mut self,
        op: &str,
        nth: usize,
        fault: Fault,
    ) -> Result<usize, String> {
        let (release, _, execution) = self.released().await;
        self.proxy.arm(op, fault, nth);
        let event = pipeline_event_json("berth-web", &execution, "SUCCEEDED");
        let taken = Self::deliver(&mut self.pipeline_event, &event).await;
        let fired = self.proxy.disarm();
        let taken = taken?;
        let record = self
            .env
            .get_json(&format!("releases/web/{release}.json"))
            .await
            .unwrap_or(Value::Null);
        let indexed = self.index_has("deployed", &release).await;
        check(
            fired,
            [
                (
                    record["status"] == "SUCCEEDED",
                    format!("record {}", record["status"]),
                ),
                (indexed, "not in the deployed index".to_owned()),
            ],
        )?;
        Ok(taken)
    }

    async fn index_has(&self, list: &str, release: &str) -> bool {
        let out = self
            .env
            .clients
            .s3
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(format!("index/web/{list}/"))
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key())
            .any(|k| k.ends_with(&format!("-{release}")))
    }

    /// on-image-push for a new tag under `fault`; checks one manifest version.
    async fn push(&mut self, op: &str, nth: usize, fault: Fault) -> Result<usize, String> {
        self.n += 1;
        let tag = format!("v9.{}.0", self.n);
        let digest = self.env.push_image("web/app", &tag).await;
        self.proxy.arm(op, fault, nth);
        let event = ecr_event_json("PUSH", "SUCCESS", "web/app", &tag, &digest);
        let taken = Self::deliver(&mut self.push, &event).await;
        let fired = self.proxy.disarm();
        let taken = taken?;
        let versions = self
            .env
            .versions(&format!("manifests/web/{tag}.json"))
            .await
            .len();
        check(
            fired,
            [(versions == 1, format!("{versions} manifest versions"))],
        )?;
        Ok(taken)
    }
}

/// `Ok` when every invariant holds and the fault was delivered.
fn check<const N: usize>(fired: bool, invariants: [(bool, String); N]) -> Result<(), String> {
    if !fired {
        return Err("the fault was never delivered (operation not called)".into());
    }
    let broken: Vec<String> = invariants
        .into_iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, m)| m)
        .collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(broken.join("; "))
    }
}

/// (path, operation as the proxy names it, which occurrence).
const CASES: &[(&str, &str, usize)] = &[
    ("on-image-push", "GetParametersByPath", 1),
    ("on-image-push", "GetParameters", 1),
    ("on-image-push", "s3:PutObject manifests", 1),
    ("on-manifest", "s3:GetObject manifests", 1),
    ("on-manifest", "GetParameter", 1),
    ("on-manifest", "DescribeServices", 1),
    ("on-manifest", "DescribeTaskDefinition", 1),
    ("on-manifest", "BatchGetImage", 1),
    ("on-manifest", "s3:PutObject releases", 1),
    ("on-manifest", "s3:PutObject index", 1),
    ("on-manifest", "s3:PutObject artifacts", 1),
    ("on-manifest", "StartPipelineExecution", 1),
    ("on-manifest", "s3:PutObject releases", 2),
    ("migrate", "s3:GetObject berth-web", 1),
    ("migrate", "RegisterTaskDefinition", 1),
    ("migrate", "RunTask", 1),
    ("migrate", "s3:PutObject releases", 1),
    ("migrate", "PutJobSuccessResult", 1),
    ("migrate", "DescribeTasks", 1),
    ("migrate", "PutJobSuccessResult", 2),
    ("on-pipeline-event", "GetPipelineExecution", 1),
    ("on-pipeline-event", "s3:PutObject releases", 1),
    ("on-pipeline-event", "s3:PutObject index", 1),
];

#[tokio::test(flavor = "current_thread")]
async fn fault_matrix_every_operation_and_fault_converges() {
    let mut rig = Rig::start().await;
    let mut cells: BTreeMap<(usize, Fault), Result<usize, String>> = BTreeMap::new();
    for (i, (path, op, nth)) in CASES.iter().enumerate() {
        for fault in Fault::ALL {
            let outcome = match *path {
                "on-image-push" => rig.push(op, *nth, fault).await,
                "on-manifest" => rig.on_manifest(op, *nth, fault).await,
                "migrate" => rig.migrate(op, *nth, fault).await,
                _ => rig.pipeline_event(op, *nth, fault).await,
            };
            cells.insert((i, fault), outcome);
        }
    }
    let mut table = String::from("| function | operation (nth call) |");
    for fault in Fault::ALL {
        let _ = write!(table, " {} |", fault.name());
    }
    table.push_str("\n|---|---|");
    table.push_str(&"---|".repeat(Fault::ALL.len()));
    let mut failures = Vec::new();
    for (i, (path, op, nth)) in CASES.iter().enumerate() {
        let _ = write!(table, "\n| {path} | {op} ({nth}) |");
        for fault in Fault::ALL {
            let cell = match &cells[&(i, fault)] {
                Ok(1) => "ok".to_owned(),
                Ok(n) => format!("retried, ok after {n}"),
                Err(e) => {
                    failures.push(format!("{path} {op} ({nth}) × {}: {e}", fault.name()));
                    "FAILED".to_owned()
                }
            };
            let _ = write!(table, " {cell} |");
        }
    }
    println!("{table}");
    std::fs::write(workspace_root().join("target/fault-matrix.md"), &table).ok();
    assert!(failures.is_empty(), "{table}\n\n{}", failures.join("\n"));
}

/// A function that cannot start says why in its log, with the `errorType` an operator filters
/// on, before the process exits: here on-manifest without its release bucket (`Config`).
#[tokio::test]
async fn an_init_failure_logs_its_error_type_before_the_process_exits() {
    let vars = [
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
        ("AWS_REGION", REGION.to_owned()),
    ];
    let mut f = Function::spawn_capturing("on-manifest", &vars).await;
    let status = f.exited(Duration::from_secs(20)).await;
    assert!(status.is_some_and(|s| !s.success()), "{status:?}");
    let mut logged = None;
    for _ in 0..50 {
        logged = f.stdout().into_iter().find(|l| l.contains("init failed"));
        if logged.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let line: Value = serde_json::from_str(&logged.expect("an init failure line")).unwrap();
    assert_eq!(line["level"], "ERROR", "{line}");
    assert_eq!(line["fields"]["error_type"], "Config", "{line}");
    let why = line["fields"]["error"].as_str().unwrap_or_default();
    assert!(why.contains("BERTH_RELEASE_BUCKET"), "{line}");
}
