//! A stand-in for CodeDeploy's ECS blue/green deployments, which moto stores but never moves
//! on (and whose ContinueDeployment, StopDeployment and PutLifecycleEventHookExecutionStatus it
//! does not implement), plus CodePipeline's GetPipelineState (moto has none) naming each
//! deployment's execution. State moves as CodeDeploy documents it:
//!
//! - a new deployment runs its replacement task set behind the test listener, with the
//!   `AfterAllowTestTraffic` hook waiting;
//! - the hook's `Succeeded` holds it `Ready` when the group waits for a promote
//!   (`STOP_DEPLOYMENT` with a wait time), else shifts production traffic at once; `Failed`
//!   rolls it back (`Failed`); a second report is `LifecycleEventAlreadyCompletedException`;
//! - `ContinueDeployment` READY_WAIT shifts traffic and starts the termination wait;
//!   TERMINATION_WAIT ends it (`Succeeded`); either out of its phase is
//!   `DeploymentIsNotInReadyStateException`;
//! - `StopDeployment` ends an unfinished deployment as `Stopped`;
//! - the ECS target names its task sets (`taskSetsInfo`): the original, labelled `Blue`, and the
//!   replacement, labelled `Green`, each with its target group. The groups swap roles every
//!   deployment, as CodeDeploy's do: "If you do another deployment, the target group associated
//!   with the current deployment's original task set is associated with the next deployment's
//!   replacement task set" (User Guide, "Deployments on an Amazon ECS compute platform").

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::StandIn;

/// One deployment as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub id: String,
    pub application: String,
    pub group: String,
    pub status: String,
    /// (name, status, end epoch seconds)
    pub events: Vec<(String, String, Option<i64>)>,
    /// The termination wait started (traffic on green, blue kept). The stand-in's own
    /// knowledge: CodeDeploy does not report it for ECS (see [`info`]).
    pub termination_started: bool,
    /// What the hook reported (`Succeeded` / `Failed`), once it did.
    pub hook: Option<String>,
    pub stopped_with_rollback: Option<bool>,
    pub pipeline: String,
    pub execution_id: String,
    /// The target groups of the original (blue) and replacement (green) task sets.
    pub blue_target_group: String,
    pub green_target_group: String,
}

/// The sample service's two target groups.
pub const TARGET_GROUPS: [&str; 2] = ["web-tg-1", "web-tg-2"];

#[derive(Default)]
struct State {
    deployments: Vec<Deployment>,
    /// Minutes the group waits for a promote (None: traffic shifts at once).
    promote_wait: Option<i32>,
    termination_wait: i32,
    /// ListDeployments answers its first page empty, with a `nextToken`: "If a large amount of
    /// information is returned, an identifier is also returned" (CodeDeploy API reference).
    paged: bool,
}

/// The stand-in; stopped on drop.
pub struct FakeCodeDeploy {
    pub server: StandIn,
    state: Arc<Mutex<State>>,
}

const HOOK_EXECUTION: &str = "hook-exec-1";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn error(kind: &str, message: &str) -> (u16, Value) {
    (400, json!({"__type": kind, "message": message}))
}

impl FakeCodeDeploy {
    /// A stand-in whose deployment group waits `promote_wait` minutes for a promote (None:
    /// no hold) and keeps blue `termination_wait` minutes after the shift.
    pub async fn start(promote_wait: Option<i32>, termination_wait: i32) -> FakeCodeDeploy {
        let state = Arc::new(Mutex::new(State {
            promote_wait,
            termination_wait,
            ..State::default()
        }));
        let shared = state.clone();
        let server = StandIn::start(Arc::new(move |op, body| {
            let mut s = shared.lock().expect("state");
            answer(&mut s, op, body)
        }))
        .await;
        FakeCodeDeploy { server, state }
    }

    /// From now on ListDeployments answers in two pages, the first one empty.
    pub fn page_list_deployments(&self) {
        self.state.lock().unwrap().paged = true;
    }

    pub fn endpoint(&self) -> &str {
        &self.server.endpoint
    }

    /// A deployment CodeDeploy started for `execution_id` of `pipeline` (as the Deploy action
    /// does), now on test traffic with its hook waiting; its id.
    pub fn deploy(
        &self,
        application: &str,
        group: &str,
        pipeline: &str,
        execution_id: &str,
    ) -> String {
        let mut s = self.state.lock().expect("state");
        let id = format!("d-FAKE{:05}", s.deployments.len() + 1);
        let t = now();
        let turn = s.deployments.len() % 2;
        s.deployments.push(Deployment {
            id: id.clone(),
            application: application.into(),
            group: group.into(),
            status: "InProgress".into(),
            events: vec![
                ("Install".into(), "Succeeded".into(), Some(t)),
                ("AllowTestTraffic".into(), "Succeeded".into(), Some(t)),
                ("AfterAllowTestTraffic".into(), "InProgress".into(), None),
            ],
            termination_started: false,
            hook: None,
            stopped_with_rollback: None,
            pipeline: pipeline.into(),
            execution_id: execution_id.into(),
            blue_target_group: TARGET_GROUPS[turn].into(),
            green_target_group: TARGET_GROUPS[1 - turn].into(),
        });
        id
    }

    pub fn deployment(&self, id: &str) -> Option<Deployment> {
        let s = self.state.lock().expect("state");
        s.deployments.iter().find(|d| d.id == id).cloned()
    }

    /// The hook event CodeDeploy sends for deployment `id`.
    pub fn hook_event(id: &str) -> Value {
        json!({"DeploymentId": id, "LifecycleEventHookExecutionId": HOOK_EXECUTION})
    }

    /// Operations the stand-in answered, in order.
    pub fn operations(&self) -> Vec<String> {
        self.server.calls.operations()
    }
}

fn answer(s: &mut State, op: &str, body: &Value) -> (u16, Value) {
    let id = body["deploymentId"].as_str().unwrap_or_default().to_owned();
    match op {
        "ListDeployments" => list(s, body),
        "GetPipelineState" => pipeline_state(s, body),
        _ => {
            let (promote_wait, termination_wait) = (s.promote_wait, s.termination_wait);
            let Some(d) = s.deployments.iter_mut().find(|d| d.id == id) else {
                return error("DeploymentDoesNotExistException", "no such deployment");
            };
            match op {
                "GetDeployment" => (
                    200,
                    json!({"deploymentInfo": info(d, promote_wait, termination_wait)}),
                ),
                "ListDeploymentTargets" => (200, json!({"targetIds": ["prod:web"]})),
                "GetDeploymentTarget" => (200, target(d)),
                "PutLifecycleEventHookExecutionStatus" => hook(d, body, promote_wait.is_some()),
                "ContinueDeployment" => continue_deployment(d, body),
                "StopDeployment" => stop(d, body),
                _ => error("UnknownOperationException", op),
            }
        }
    }
}

/// The status of a pipeline execution whose Deploy action ran a deployment here: in progress
/// while its newest deployment is, else as that deployment ended (CodePipeline's action ends
/// with the deployment). moto would say `Succeeded` at once.
fn execution_status(s: &State, execution_id: &str) -> Option<String> {
    let d = s
        .deployments
        .iter()
        .rev()
        .find(|d| d.execution_id == execution_id)?;
    Some(
        match d.status.as_str() {
            "Succeeded" => "Succeeded",
            "Failed" => "Failed",
            "Stopped" => "Stopped",
            _ => "InProgress",
        }
        .to_owned(),
    )
}

fn list(s: &State, body: &Value) -> (u16, Value) {
    if s.paged && body.get("nextToken").is_none_or(Value::is_null) {
        return (200, json!({"deployments": [], "nextToken": "page-2"}));
    }
    let wanted: Vec<&str> = body["includeOnlyStatuses"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let ids: Vec<&str> = s
        .deployments
        .iter()
        .filter(|d| body["applicationName"] == d.application.as_str())
        .filter(|d| body["deploymentGroupName"] == d.group.as_str())
        .filter(|d| wanted.is_empty() || wanted.contains(&d.status.as_str()))
        .map(|d| d.id.as_str())
        .collect();
    (200, json!({"deployments": ids}))
}

fn pipeline_state(s: &State, body: &Value) -> (u16, Value) {
    let name = body["name"].as_str().unwrap_or_default();
    let Some(d) = s.deployments.iter().rev().find(|d| d.pipeline == name) else {
        return (200, json!({"pipelineName": name, "stageStates": []}));
    };
    (
        200,
        json!({"pipelineName": name, "stageStates": [{
            "stageName": "Release",
            "latestExecution": {"pipelineExecutionId": d.execution_id, "status": "InProgress"},
            "actionStates": [{"actionName": "Deploy",
                "latestExecution": {"status": "InProgress", "externalExecutionId": d.id}}]
        }]}),
    )
}

fn info(d: &Deployment, promote_wait: Option<i32>, termination_wait: i32) -> Value {
    let ready = match promote_wait {
        Some(m) => json!({"actionOnTimeout": "STOP_DEPLOYMENT", "waitTimeInMinutes": m}),
        None => json!({"actionOnTimeout": "CONTINUE_DEPLOYMENT", "waitTimeInMinutes": 0}),
    };
    json!({
        "deploymentId": d.id, "applicationName": d.application, "deploymentGroupName": d.group,
        "status": d.status, "createTime": 1_795_000_000, "computePlatform": "ECS",
        // False through the wait, as CodeDeploy answers for ECS: "`instanceTerminationWaitTimeStarted`
        // not returning true while in wait phase is a bug in CodeDeploy" (an AWS engineer,
        // aws/containers-roadmap#269).
        "instanceTerminationWaitTimeStarted": false,
        "blueGreenDeploymentConfiguration": {
            "deploymentReadyOption": ready,
            "terminateBlueInstancesOnDeploymentSuccess": {"action": "TERMINATE", "terminationWaitTimeInMinutes": termination_wait}
        }
    })
}

fn target(d: &Deployment) -> Value {
    let events: Vec<Value> = d
        .events
        .iter()
        .map(|(n, st, end)| json!({"lifecycleEventName": n, "status": st, "endTime": end}))
        .collect();
    let updated = d.events.iter().filter_map(|(_, _, end)| *end).max();
    let green_weight = if d.termination_started { 100.0 } else { 0.0 };
    let task_sets = json!([
        {"identifer": "ecs-svc/1", "taskSetLabel": "Blue", "status": "PRIMARY",
         "trafficWeight": 100.0 - green_weight, "targetGroup": {"name": d.blue_target_group}},
        {"identifer": "ecs-svc/2", "taskSetLabel": "Green", "status": "ACTIVE",
         "trafficWeight": green_weight, "targetGroup": {"name": d.green_target_group}}
    ]);
    json!({"deploymentTarget": {"deploymentTargetType": "ECSTarget", "ecsTarget": {
        "deploymentId": d.id, "targetId": "prod:web", "lifecycleEvents": events,
        "status": target_status(d), "lastUpdatedAt": updated, "taskSetsInfo": task_sets}}})
}

/// The target's status: "the deployment starts waiting (if configured) immediately after
/// marking the target status as `Succeeded`" (aws/containers-roadmap#269).
fn target_status(d: &Deployment) -> &str {
    match d.status.as_str() {
        "InProgress" if d.termination_started => "Succeeded",
        other => other,
    }
}

fn set_event(d: &mut Deployment, name: &str, status: &str) {
    let end = Some(now());
    match d.events.iter_mut().find(|(n, _, _)| n == name) {
        Some(e) => {
            e.1 = status.into();
            e.2 = end;
        }
        None => d.events.push((name.into(), status.into(), end)),
    }
}

fn shift(d: &mut Deployment) {
    set_event(d, "BeforeAllowTraffic", "Succeeded");
    set_event(d, "AllowTraffic", "Succeeded");
    set_event(d, "AfterAllowTraffic", "Succeeded");
    d.status = "InProgress".into();
    d.termination_started = true;
}

fn hook(d: &mut Deployment, body: &Value, hold: bool) -> (u16, Value) {
    if d.hook.is_some() || d.status != "InProgress" {
        return error(
            "LifecycleEventAlreadyCompletedException",
            "An attempt to return the status of an already completed lifecycle event occurred.",
        );
    }
    let status = body["status"].as_str().unwrap_or_default().to_owned();
    d.hook = Some(status.clone());
    if status == "Succeeded" {
        set_event(d, "AfterAllowTestTraffic", "Succeeded");
        if hold {
            d.status = "Ready".into();
        } else {
            shift(d);
        }
    } else {
        set_event(d, "AfterAllowTestTraffic", "Failed");
        d.status = "Failed".into();
    }
    (
        200,
        json!({"lifecycleEventHookExecutionId": HOOK_EXECUTION}),
    )
}

fn continue_deployment(d: &mut Deployment, body: &Value) -> (u16, Value) {
    match (body["deploymentWaitType"].as_str(), d.status.as_str()) {
        (Some("READY_WAIT"), "Ready") => shift(d),
        (Some("TERMINATION_WAIT"), "InProgress") if d.termination_started => {
            d.status = "Succeeded".into();
        }
        _ => {
            return error(
                "DeploymentIsNotInReadyStateException",
                "The deployment does not have a status of Ready and can't continue yet.",
            );
        }
    }
    (200, json!({}))
}

fn stop(d: &mut Deployment, body: &Value) -> (u16, Value) {
    if matches!(d.status.as_str(), "Succeeded" | "Failed" | "Stopped") {
        return error(
            "DeploymentAlreadyCompletedException",
            "The deployment is already complete.",
        );
    }
    d.status = "Stopped".into();
    d.stopped_with_rollback = body["autoRollbackEnabled"].as_bool();
    (
        200,
        json!({"status": "Succeeded", "statusMessage": "rolled back"}),
    )
}

/// CodeDeploy on the stand-in and CodePipeline through a proxy that sends GetPipelineState to
/// it (the rest to moto): what functions and the CLI talk to in guarded-deployment tests.
pub struct Guarded {
    pub fake: FakeCodeDeploy,
    pub proxy: crate::proxy::Proxy,
    /// Clients on moto, with CodeDeploy and CodePipeline as above.
    pub clients: berth::aws::Clients,
}

impl Guarded {
    pub async fn start(env: &crate::Env, promote_wait: Option<i32>) -> Guarded {
        let fake = FakeCodeDeploy::start(promote_wait, 30).await;
        let mut routes = crate::proxy::Routes::to(&env.moto.endpoint);
        let at = fake
            .endpoint()
            .trim_start_matches("http://")
            .parse()
            .expect("loopback");
        routes.by_operation.insert("GetPipelineState".into(), at);
        let state = fake.state.clone();
        routes.execution_status = Some(Arc::new(move |id: &str| {
            execution_status(&state.lock().expect("state"), id)
        }));
        let proxy = crate::proxy::Proxy::start(routes).await;
        let mut clients = env.clients.clone();
        clients.codedeploy = aws_sdk_codedeploy::Client::from_conf(
            aws_sdk_codedeploy::config::Builder::from(&env.config)
                .endpoint_url(fake.endpoint())
                .build(),
        );
        clients.codepipeline = aws_sdk_codepipeline::Client::from_conf(
            aws_sdk_codepipeline::config::Builder::from(&env.config)
                .endpoint_url(&proxy.endpoint)
                .build(),
        );
        Guarded {
            fake,
            proxy,
            clients,
        }
    }

    /// `vars` with CodeDeploy and CodePipeline pointed here.
    pub fn vars(&self, mut vars: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        vars.push((
            "AWS_ENDPOINT_URL_CODEDEPLOY",
            self.fake.endpoint().to_owned(),
        ));
        vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", self.proxy.endpoint.clone()));
        vars
    }

    /// The verify function's context on these clients.
    pub fn verify(&self, env: &crate::Env) -> berth::verify::Context {
        berth::verify::Context::new(&self.clients, &env.settings()).expect("verify context")
    }
}

/// The sample service's registry entry with its deployment group and `verify` checks.
pub fn guarded_registry(subnets: &[String], verify: Option<Value>) -> Value {
    let mut entry = crate::web_registry(subnets);
    entry["deployment"] = json!({"application": "berth-web", "group": "web"});
    if let Some(v) = verify {
        entry["verify"] = v;
    }
    entry
}
