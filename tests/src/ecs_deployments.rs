//! A stand-in for ECS service deployments, which moto 5.2.5 does not have: it stores services
//! and answers UpdateService, but has no ListServiceDeployments, DescribeServiceDeployments,
//! DescribeServiceRevisions, StopServiceDeployment or ContinueServiceDeployment, drops
//! CreateService's `deploymentConfiguration` (strategy, lifecycle hooks, bake time) and never
//! moves a deployment on. A loopback [`Proxy`] sits in front of moto: it forwards every ECS
//! call, hands the service-deployment calls to this stand-in, and rewrites moto's CreateService,
//! UpdateService, DescribeServices, DeleteService and ListTasks answers with what the stand-in
//! knows. Time moves only when a test says so ([`FakeEcs::advance`], [`FakeEcs::elapse`]).
//!
//! Behaviour, as the ECS documentation describes it:
//!
//! - "Amazon ECS automatically creates a new service deployment when ... A user creates a
//!   service ... A user updates one or more service properties that require a deployment"
//!   (View service history using Amazon ECS service deployments). Here: CreateService, and an
//!   UpdateService that changes the task definition or forces a new deployment.
//! - "Service deployments start in a PENDING state", then IN_PROGRESS; "Completed: A service
//!   deployment has finished (successfully or unsuccessfully): SUCCESSFUL, STOPPED,
//!   ROLLBACK_SUCCESSFUL, ROLLBACK_FAILED"; ongoing: IN_PROGRESS, STOP_REQUESTED,
//!   ROLLBACK_REQUESTED, ROLLBACK_IN_PROGRESS (same page). A rollback goes ROLLBACK_REQUESTED ▸
//!   ROLLBACK_IN_PROGRESS ▸ ROLLBACK_SUCCESSFUL (ROLLBACK_FAILED when there is no revision to
//!   go back to), one state per [`FakeEcs::advance`].
//! - A second deployment supersedes one in progress: the earlier one ends STOPPED as the later
//!   one starts (kayac/ecspresso#899 shows ECS's answer: the earlier deployment's `finishedAt`
//!   0.1 s after the later one's `startedAt`, the later one IN_PROGRESS), and the later one
//!   begins with RECONCILE_SERVICE: "The reconciliation stage that only happens when you start a
//!   new service deployment with more than 1 service revision in an ACTIVE state" (API
//!   reference, ServiceDeployment `lifecycleStage`).
//! - BLUE_GREEN, LINEAR and CANARY walk the lifecycle stages of that field: PRE_SCALE_UP,
//!   SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT ("The green service revision is migrating from
//!   0% to 100% of test traffic"), POST_TEST_TRAFFIC_SHIFT, PRODUCTION_TRAFFIC_SHIFT,
//!   POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME ("both blue and green service revisions are
//!   running simultaneously after the production traffic has shifted"), CLEAN_UP. LINEAR and
//!   CANARY add PRE_PRODUCTION_TRAFFIC_SHIFT: "For linear and canary deployments, this stage is
//!   invoked before every traffic shift step", and PRODUCTION_TRAFFIC_SHIFT "is invoked at
//!   every traffic shift step". LINEAR "shifts production traffic in equal percentage
//!   increments" of `stepPercent` (default 10.0), waiting `stepBakeTimeInMinutes` (default 6)
//!   between steps, "not applied after reaching 100 percent traffic" (LinearConfiguration);
//!   CANARY "shifts a fixed percentage of traffic [canaryPercent, default 5.0] ..., waits for a
//!   specified bake time [canaryBakeTimeInMinutes, default 10], then shifts the remaining
//!   traffic" (CanaryConfiguration). ROLLING deployments have no lifecycle stages.
//! - Lifecycle hooks: "your function must return a JSON object containing a hookStatus field
//!   ... SUCCEEDED – The deployment continues to the next lifecycle stage. FAILED – Amazon ECS
//!   rolls back the deployment to the last successful service revision. IN_PROGRESS – Amazon
//!   ECS invokes the function again after a delay. By default, the delay is 30 seconds ...
//!   callBackDelay"; "If your function doesn't return a valid hookStatus, or if it fails, Amazon
//!   ECS rolls back the deployment"; `hookDetails` returned with IN_PROGRESS is passed back on
//!   the next invocation (Lambda hooks for Amazon ECS service deployments). The stand-in invokes
//!   the compiled hook function behind its Runtime API once per [`FakeEcs::advance`].
//!   The payload carries "serviceArn, targetServiceRevisionArn, testTrafficWeights,
//!   productionTrafficWeights" (Lifecycle hooks: common payload structure), under
//!   `executionDetails`, with `executionId`, `lifecycleStage` and `resourceArn` (the service
//!   deployment). The stand-in runs no hooks during a rollback.
//! - Pause hooks: "Amazon ECS generates a unique hookId ... The deployment remains paused until
//!   you call ContinueServiceDeployment with the hookId and an action of CONTINUE or ROLLBACK,
//!   or until the configured timeout is reached" and DescribeServiceDeployments shows it
//!   `AWAITING_ACTION` with `expiresAt` and `timeoutAction` (Pause hooks). "You can continue a
//!   deployment that has a pause hook in AWAITING_ACTION status. The deployment must be in the
//!   IN_PROGRESS state" (Continuing service deployments): otherwise a ClientException. At
//!   `expiresAt` "Amazon ECS takes the timeout action" and the hook is TIMED_OUT
//!   (DeploymentLifecycleHookDetail).
//! - StopServiceDeployment ROLLBACK: "PENDING - The service deployment moves to the
//!   ROLLBACK_REQUESTED state, and then the rollback operation starts. IN_PROGRESS - [the
//!   same]. STOP_REQUESTED - The service deployment continues to stop. ROLLBACK_REQUESTED /
//!   ROLLBACK_IN_PROGRESS - The service deployment continues the rollback operation" (Stopping
//!   Amazon ECS service deployments). ABORT stops it without a rollback (STOP_REQUESTED ▸
//!   STOPPED).
//! - Circuit breaker: "minimum threshold of 3 and a maximum threshold of 200 ... 0.5 * desired
//!   task count" (ServiceDeploymentCircuitBreaker); "If rollback is on, when a service
//!   deployment fails, the service is rolled back to the last deployment that completed
//!   successfully" (DeploymentCircuitBreaker). Alarms: "set the deployment to failed when it
//!   detects that a specified CloudWatch alarm has gone into the ALARM state ... optionally ...
//!   roll back" (How CloudWatch alarms detect Amazon ECS deployment failures). Without the
//!   rollback option "The service deployment stops when ... the service fails" (ServiceDeployment
//!   `stoppedAt`): STOPPED.
//! - "Amazon ECS doesn't create a new service revision for a rollback operation. Amazon ECS uses
//!   the last successful service revision for the rollback" (Amazon ECS service revisions).
//! - "When you delete a service, Amazon ECS deletes the corresponding service deployments."
//!
//! Failed tasks ([`FakeEcs::fail_tasks`]) are real moto tasks of the target revision, run and
//! stopped with the given `stoppedReason`; ListTasks with `serviceName` (which moto ignores)
//! answers the tasks the stand-in started for that service: "Specifying a serviceName limits
//! the results to tasks that belong to that service" (ListTasks).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::proxy::{Proxy, Routes};
use crate::runtime::{Function, Outcome};
use crate::{ACCOUNT, REGION, StandIn, raw_json};

/// Statuses of a service deployment that has not ended.
pub const ACTIVE: [&str; 5] = [
    "PENDING",
    "IN_PROGRESS",
    "STOP_REQUESTED",
    "ROLLBACK_REQUESTED",
    "ROLLBACK_IN_PROGRESS",
];

const STAGES_BEFORE_PRODUCTION: [&str; 5] = [
    "PRE_SCALE_UP",
    "SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
];

const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";

/// A service revision: what one deployment deploys.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    pub arn: String,
    pub task_definition: String,
    pub created_at: i64,
}

/// One lifecycle hook of a deployment, as DescribeServiceDeployments shows it.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: String,
    /// `AWS_LAMBDA` or `PAUSE`.
    pub target_type: String,
    pub target_arn: Option<String>,
    pub stage: String,
    /// `IN_PROGRESS`, `AWAITING_ACTION`, `SUCCEEDED`, `FAILED` or `TIMED_OUT`.
    pub status: String,
    pub expires_at: Option<i64>,
    pub timeout_action: Option<String>,
    /// Times the hook function was invoked.
    pub invocations: usize,
    /// `hookDetails` for the next invocation (configured, or returned with IN_PROGRESS).
    pub details: Option<Value>,
    /// What the hook function answered, invocation by invocation (`null`: an error).
    pub answers: Vec<Value>,
}

/// One service deployment as the stand-in keeps it.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub arn: String,
    pub cluster: String,
    pub service: String,
    pub service_arn: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub strategy: String,
    pub stage: Option<String>,
    pub source: Option<Revision>,
    pub target: Revision,
    pub hooks: Vec<Hook>,
    pub test_weight: f64,
    pub production_weight: f64,
    /// The production weight green reached at each traffic shift step.
    pub shifts: Vec<f64>,
    /// (reason, started at, revision rolled back to).
    pub rollback: Option<(String, i64, String)>,
    pub failures: i32,
    pub threshold: i32,
    pub circuit_breaker: String,
    pub triggered_alarms: Vec<String>,
    pub config: Value,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub stopped_at: Option<i64>,
    reconcile: bool,
}

impl Deployment {
    pub fn ended(&self) -> bool {
        !ACTIVE.contains(&self.status.as_str())
    }

    /// The hook waiting at the current stage, if any.
    pub fn pending_hook(&self) -> Option<&Hook> {
        self.hooks.iter().find(|h| {
            Some(&h.stage) == self.stage.as_ref()
                && matches!(h.status.as_str(), "IN_PROGRESS" | "AWAITING_ACTION")
        })
    }
}

struct Service {
    arn: String,
    config: Value,
    desired: i64,
    /// The revision production runs (the last successful deployment's, or the one rolled back to).
    current: Option<Revision>,
    deleted: bool,
    /// Tasks the stand-in started (and stopped) for the service.
    tasks: Vec<String>,
}

#[derive(Default)]
struct State {
    /// Seconds the stand-in's clock is ahead of the real one.
    skew: i64,
    serial: u64,
    services: BTreeMap<String, Service>,
    deployments: Vec<Deployment>,
    /// Pipeline → (execution whose Deploy action runs, the service it deploys).
    pipelines: BTreeMap<String, (String, String)>,
}

fn real_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl State {
    fn now(&self) -> i64 {
        real_now() + self.skew
    }

    fn next_id(&mut self) -> String {
        self.serial += 1;
        format!("{:021}", self.serial)
    }
}

/// What one [`FakeEcs::advance`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Nothing to move: no deployment, or it has ended.
    Idle,
    /// The deployment moved on: its status and stage now.
    Moved(String, Option<String>),
    /// A pause hook waits for ContinueServiceDeployment (its id).
    Paused(String),
    /// The hook function answered IN_PROGRESS: it is invoked again on the next advance.
    HookInProgress,
}

/// The stand-in, the proxy in front of moto, and clients through it; stopped on drop.
pub struct FakeEcs {
    pub server: StandIn,
    pub proxy: Proxy,
    /// Clients on moto, with ECS through the proxy.
    pub clients: berth::aws::Clients,
    moto: String,
    state: Arc<Mutex<State>>,
    hooks: tokio::sync::Mutex<BTreeMap<String, Function>>,
}

fn error(kind: &str, message: &str) -> (u16, Value) {
    (400, json!({"__type": kind, "message": message}))
}

fn key(cluster: &str, service: &str) -> String {
    format!(
        "{}/{}",
        cluster.rsplit('/').next().unwrap_or(cluster),
        service.rsplit('/').next().unwrap_or(service)
    )
}

fn deployment_arn(cluster: &str, service: &str, id: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{cluster}/{service}/{id}")
}

fn revision_arn(cluster: &str, service: &str, id: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{cluster}/{service}/{id}")
}

impl FakeEcs {
    /// The stand-in in front of `env`'s moto.
    pub async fn start(env: &crate::Env) -> FakeEcs {
        let state: Arc<Mutex<State>> = Arc::default();
        let shared = state.clone();
        let server = StandIn::start(Arc::new(move |op, body| {
            let mut s = shared.lock().expect("state");
            api::answer(&mut s, op, body)
        }))
        .await;
        let mut routes = Routes::to(&env.moto.endpoint);
        let at = server
            .endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("loopback");
        for op in api::OPERATIONS {
            routes.by_operation.insert(op.into(), at);
        }
        let shared = state.clone();
        routes.rewrite = Some(Arc::new(move |op, sent, answer| {
            let mut s = shared.lock().expect("state");
            rewrite::answer(&mut s, op, sent, answer)
        }));
        let proxy = Proxy::start(routes).await;
        let mut clients = env.clients.clone();
        clients.ecs = aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(&env.config)
                .endpoint_url(&proxy.endpoint)
                .build(),
        );
        FakeEcs {
            server,
            proxy,
            clients,
            moto: env.moto.endpoint.clone(),
            state,
            hooks: Default::default(),
        }
    }

    /// `vars` with ECS pointed at the proxy.
    pub fn vars(&self, mut vars: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        vars.push(("AWS_ENDPOINT_URL_ECS", self.proxy.endpoint.clone()));
        vars
    }

    /// [`FakeEcs::vars`] with CodePipeline through the proxy too (GetPipelineState answered
    /// here): what a lifecycle hook function or the CLI talks to.
    pub fn hook_vars(&self, vars: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
        let mut vars = self.vars(vars);
        vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", self.proxy.endpoint.clone()));
        vars
    }

    /// Execution `execution` of `pipeline` runs its Deploy action for `service` (cluster
    /// `prod`): GetPipelineState shows it.
    pub fn deploying(&self, pipeline: &str, execution: &str, service: &str) {
        self.state.lock().expect("state").pipelines.insert(
            pipeline.to_owned(),
            (execution.to_owned(), key("prod", service)),
        );
    }

    /// An ECS call through the proxy, as any client would make it; the answer's JSON.
    pub async fn call(&self, operation: &str, body: &Value) -> Value {
        let out = raw_json(
            &self.proxy.endpoint,
            "ecs",
            &format!("{ECS_TARGET}.{operation}"),
            &body.to_string(),
        )
        .await;
        serde_json::from_str(&out).unwrap_or(Value::Null)
    }

    /// Replaces service `name` of cluster `prod` with one whose deployment controller is `ECS`,
    /// running `task_definition`, deployed with `configuration` (`deploymentConfiguration`).
    pub async fn create_service(&self, name: &str, task_definition: &str, configuration: Value) {
        self.call(
            "DeleteService",
            &json!({"cluster": "prod", "service": name, "force": true}),
        )
        .await;
        let out = self
            .call(
                "CreateService",
                &json!({"cluster": "prod", "serviceName": name, "taskDefinition": task_definition,
                    "desiredCount": 1, "deploymentController": {"type": "ECS"},
                    "deploymentConfiguration": configuration}),
            )
            .await;
        assert!(out["service"]["serviceArn"].is_string(), "{out}");
    }

    /// Makes `function` the target of lifecycle hooks naming its ARN.
    pub async fn hook_function(&self, function: Function) {
        self.hooks.lock().await.insert(function.arn(), function);
    }

    /// Moves the clock on by `minutes`.
    pub fn elapse(&self, minutes: i64) {
        self.state.lock().expect("state").skew += minutes * 60;
    }

    /// Every deployment of `service` (cluster `prod`), oldest first.
    pub fn deployments(&self, service: &str) -> Vec<Deployment> {
        let s = self.state.lock().expect("state");
        s.deployments
            .iter()
            .filter(|d| d.cluster == "prod" && d.service == service)
            .cloned()
            .collect()
    }

    /// The newest deployment of `service`.
    pub fn latest(&self, service: &str) -> Option<Deployment> {
        self.deployments(service).pop()
    }

    /// Moves `service`'s unfinished deployment one step: a state, a stage, or one invocation of
    /// the hook function waiting at its stage.
    pub async fn advance(&self, service: &str) -> Step {
        let action = {
            let mut s = self.state.lock().expect("state");
            flow::step(&mut s, &key("prod", service))
        };
        match action {
            flow::Action::Done(step) => step,
            flow::Action::Invoke {
                deployment,
                hook,
                function,
                payload,
            } => {
                let outcome = self.invoke(&function, &payload).await;
                let mut s = self.state.lock().expect("state");
                flow::hook_answered(&mut s, &deployment, &hook, outcome)
            }
        }
    }

    /// Advances until the deployment ends or waits on a pause hook (at most 100 steps); the
    /// deployment then.
    pub async fn run(&self, service: &str) -> Deployment {
        for _ in 0..100 {
            match self.advance(service).await {
                Step::Idle | Step::Paused(_) => break,
                _ => {}
            }
        }
        self.latest(service).expect("a deployment")
    }

    /// Advances until the deployment reaches `stage` (or ends, or pauses elsewhere).
    pub async fn advance_to(&self, service: &str, stage: &str) -> Deployment {
        for _ in 0..100 {
            let d = self.latest(service).expect("a deployment");
            if d.stage.as_deref() == Some(stage) || d.ended() {
                return d;
            }
            if let Step::Idle | Step::Paused(_) = self.advance(service).await {
                break;
            }
        }
        self.latest(service).expect("a deployment")
    }

    async fn invoke(&self, function: &str, payload: &Value) -> Option<Outcome> {
        let mut hooks = self.hooks.lock().await;
        match hooks.get_mut(function) {
            Some(f) => Some(f.invoke(payload).await),
            None => None,
        }
    }

    /// `n` tasks of the deployment's target revision fail with `reason` (real moto tasks, run
    /// and stopped); the circuit breaker counts them.
    pub async fn fail_tasks(&self, env: &crate::Env, service: &str, n: usize, reason: &str) {
        let Some(d) = self.latest(service).filter(|d| !d.ended()) else {
            panic!("{service} has no deployment in progress");
        };
        let subnets = env.default_subnets().await;
        let mut arns = Vec::new();
        for _ in 0..n {
            arns.push(self.failed_task(&d, &subnets, reason).await);
        }
        let mut s = self.state.lock().expect("state");
        if let Some(svc) = s.services.get_mut(&key("prod", service)) {
            svc.tasks.extend(arns);
        }
        flow::tasks_failed(&mut s, &d.arn, n as i32);
    }

    async fn failed_task(&self, d: &Deployment, subnets: &[String], reason: &str) -> String {
        let id = d.arn.rsplit('/').next().unwrap_or_default();
        let run = json!({"cluster": d.cluster, "taskDefinition": d.target.task_definition,
            "launchType": "FARGATE", "startedBy": format!("ecs-svc/{id}"),
            "group": format!("service:{}", d.service),
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": []}}});
        let out = raw_json(
            &self.moto,
            "ecs",
            &format!("{ECS_TARGET}.RunTask"),
            &run.to_string(),
        )
        .await;
        let out: Value = serde_json::from_str(&out).expect("RunTask answer");
        let arn = out["tasks"][0]["taskArn"]
            .as_str()
            .unwrap_or_else(|| panic!("RunTask: {out}"))
            .to_owned();
        let stop = json!({"cluster": d.cluster, "task": arn, "reason": reason});
        raw_json(
            &self.moto,
            "ecs",
            &format!("{ECS_TARGET}.StopTask"),
            &stop.to_string(),
        )
        .await;
        arn
    }

    /// CloudWatch alarm `name` goes into ALARM; whether a deployment watching it failed.
    pub fn alarm(&self, service: &str, name: &str) -> bool {
        let mut s = self.state.lock().expect("state");
        flow::alarm(&mut s, &key("prod", service), name)
    }

    /// Operations the stand-in answered, in order.
    pub fn operations(&self) -> Vec<String> {
        self.server.calls.operations()
    }
}

/// The ECS deployment configuration for `strategy` with the given lifecycle hooks and bake
/// time (`deploymentConfiguration`), circuit breaker on with rollback.
pub fn configuration(strategy: &str, hooks: Vec<Value>, bake_minutes: i64) -> Value {
    json!({"strategy": strategy, "bakeTimeInMinutes": bake_minutes, "lifecycleHooks": hooks,
        "deploymentCircuitBreaker": {"enable": true, "rollback": true},
        "maximumPercent": 200, "minimumHealthyPercent": 100})
}

/// A Lambda lifecycle hook running `function_arn` at `stages`.
pub fn lambda_hook(function_arn: &str, stages: &[&str]) -> Value {
    json!({"targetType": "AWS_LAMBDA", "hookTargetArn": function_arn,
        "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/berth-ecs-hooks"), "lifecycleStages": stages})
}

/// A pause hook at `stages` that takes `action` after `minutes`.
pub fn pause_hook(stages: &[&str], minutes: i64, action: &str) -> Value {
    json!({"targetType": "PAUSE", "lifecycleStages": stages,
        "timeoutConfiguration": {"timeoutInMinutes": minutes, "action": action}})
}

/// How deployments move: pure functions of the stand-in's state.
mod flow {
    use super::*;

    pub enum Action {
        Done(Step),
        Invoke {
            deployment: String,
            hook: String,
            function: String,
            payload: Value,
        },
    }

    fn active_index(s: &State, service: &str) -> Option<usize> {
        s.deployments
            .iter()
            .rposition(|d| key(&d.cluster, &d.service) == service && !d.ended())
    }

    pub fn step(s: &mut State, service: &str) -> Action {
        let now = s.now();
        let Some(i) = active_index(s, service) else {
            return Action::Done(Step::Idle);
        };
        let d = &mut s.deployments[i];
        d.updated_at = now;
        match d.status.as_str() {
            "PENDING" => {
                d.status = "IN_PROGRESS".into();
                d.started_at = Some(now);
                if d.strategy == "ROLLING" {
                    return moved(d);
                }
                let first = if d.reconcile {
                    "RECONCILE_SERVICE"
                } else {
                    "PRE_SCALE_UP"
                };
                enter(s, i, first)
            }
            "IN_PROGRESS" => in_progress(s, i),
            "ROLLBACK_REQUESTED" => {
                d.status = "ROLLBACK_IN_PROGRESS".into();
                moved(d)
            }
            "ROLLBACK_IN_PROGRESS" => {
                let back = d.source.clone();
                d.status = "ROLLBACK_SUCCESSFUL".into();
                d.finished_at = Some(now);
                let k = key(&d.cluster, &d.service);
                let step = moved(d);
                if let Some(svc) = s.services.get_mut(&k) {
                    svc.current = back;
                }
                step
            }
            _ => {
                // STOP_REQUESTED: "The service deployment continues to stop".
                d.status = "STOPPED".into();
                d.stopped_at = Some(now);
                d.finished_at = Some(now);
                moved(d)
            }
        }
    }

    fn moved(d: &Deployment) -> Action {
        Action::Done(Step::Moved(d.status.clone(), d.stage.clone()))
    }

    fn in_progress(s: &mut State, i: usize) -> Action {
        let now = s.now();
        let d = &mut s.deployments[i];
        if d.strategy == "ROLLING" {
            return succeed(s, i);
        }
        if let Some(h) = d.pending_hook().cloned() {
            return waiting_hook(s, i, h, now);
        }
        match next_stage(d) {
            Some(stage) => {
                leave(d);
                s.skew += leave_minutes(&s.deployments[i]) * 60;
                enter(s, i, stage)
            }
            None => succeed(s, i),
        }
    }

    fn waiting_hook(s: &mut State, i: usize, h: Hook, now: i64) -> Action {
        let d = &mut s.deployments[i];
        if h.expires_at.is_some_and(|at| now >= at) {
            let rollback = h.timeout_action.as_deref() != Some("CONTINUE");
            set_hook(d, &h.id, "TIMED_OUT");
            if rollback {
                let reason = format!("lifecycle hook {} timed out at {}", h.id, h.stage);
                roll_back(d, &reason, now);
            }
            return moved(d);
        }
        if h.target_type == "PAUSE" {
            return Action::Done(Step::Paused(h.id));
        }
        invocation(d, &h)
    }

    fn invocation(d: &mut Deployment, h: &Hook) -> Action {
        let source = d.source.as_ref().map(|r| r.arn.clone()).unwrap_or_default();
        let weights =
            |green: f64| json!({source.clone(): 100.0 - green, d.target.arn.clone(): green});
        let mut payload = json!({
            "executionDetails": {"testTrafficWeights": weights(d.test_weight),
                "productionTrafficWeights": weights(d.production_weight),
                "serviceArn": d.service_arn, "targetServiceRevisionArn": d.target.arn},
            "executionId": format!("{}-{}", h.id, h.invocations + 1),
            "lifecycleStage": h.stage, "resourceArn": d.arn});
        if let Some(details) = &h.details {
            payload["hookDetails"] = details.clone();
        }
        if let Some(hook) = d.hooks.iter_mut().find(|x| x.id == h.id) {
            hook.invocations += 1;
        }
        Action::Invoke {
            deployment: d.arn.clone(),
            hook: h.id.clone(),
            function: h.target_arn.clone().unwrap_or_default(),
            payload,
        }
    }

    /// Applies the hook function's answer.
    pub fn hook_answered(
        s: &mut State,
        deployment: &str,
        hook: &str,
        outcome: Option<Outcome>,
    ) -> Step {
        let now = s.now();
        let Some(d) = s.deployments.iter_mut().find(|d| d.arn == deployment) else {
            return Step::Idle;
        };
        let answer = match outcome {
            Some(Outcome::Response(v)) => v,
            Some(Outcome::Error(e)) => json!({"error": e}),
            None => Value::Null,
        };
        if let Some(h) = d.hooks.iter_mut().find(|h| h.id == hook) {
            h.answers.push(answer.clone());
        }
        match answer["hookStatus"].as_str() {
            Some("SUCCEEDED") => set_hook(d, hook, "SUCCEEDED"),
            Some("IN_PROGRESS") => {
                if let Some(h) = d.hooks.iter_mut().find(|h| h.id == hook)
                    && let Some(returned) = answer["hookDetails"].as_object()
                {
                    // "Amazon ECS merges this data" into what the next invocation gets.
                    let mut merged = h.details.clone().unwrap_or_else(|| json!({}));
                    for (k, v) in returned {
                        merged[k] = v.clone();
                    }
                    h.details = Some(merged);
                }
                let delay = answer["callBackDelay"].as_i64().unwrap_or(30);
                s.skew += delay;
                return Step::HookInProgress;
            }
            _ => {
                set_hook(d, hook, "FAILED");
                let stage = d.stage.clone().unwrap_or_default();
                roll_back(d, &format!("lifecycle hook {hook} failed at {stage}"), now);
            }
        }
        Step::Moved(d.status.clone(), d.stage.clone())
    }

    fn set_hook(d: &mut Deployment, id: &str, status: &str) {
        if let Some(h) = d.hooks.iter_mut().find(|h| h.id == id) {
            h.status = status.into();
        }
    }

    /// Starts the rollback to the source revision (ROLLBACK_FAILED when there is none).
    pub fn roll_back(d: &mut Deployment, reason: &str, now: i64) {
        d.status_reason = Some(reason.to_owned());
        d.test_weight = 0.0;
        d.production_weight = 0.0;
        match &d.source {
            Some(source) => {
                d.status = "ROLLBACK_REQUESTED".into();
                d.rollback = Some((reason.to_owned(), now, source.arn.clone()));
            }
            None => {
                d.status = "ROLLBACK_FAILED".into();
                d.finished_at = Some(now);
            }
        }
    }

    /// Ends a failed deployment: a rollback when `rollback`, else STOPPED.
    pub fn fail(d: &mut Deployment, reason: &str, rollback: bool, now: i64) {
        if rollback {
            roll_back(d, reason, now);
        } else {
            d.status = "STOPPED".into();
            d.status_reason = Some(reason.to_owned());
            d.stopped_at = Some(now);
            d.finished_at = Some(now);
        }
    }

    fn succeed(s: &mut State, i: usize) -> Action {
        let now = s.now();
        let d = &mut s.deployments[i];
        d.status = "SUCCESSFUL".into();
        d.finished_at = Some(now);
        if d.circuit_breaker == "MONITORING" {
            d.circuit_breaker = "MONITORING_COMPLETE".into();
        }
        let (key, target) = (key(&d.cluster, &d.service), d.target.clone());
        let step = moved(d);
        if let Some(svc) = s.services.get_mut(&key) {
            svc.current = Some(target);
        }
        step
    }

    fn shifts_in_steps(d: &Deployment) -> bool {
        matches!(d.strategy.as_str(), "LINEAR" | "CANARY")
    }

    fn next_stage(d: &Deployment) -> Option<&'static str> {
        let stage = d.stage.as_deref().unwrap_or("");
        if stage == "RECONCILE_SERVICE" {
            return Some("PRE_SCALE_UP");
        }
        if let Some(i) = STAGES_BEFORE_PRODUCTION.iter().position(|s| *s == stage) {
            return Some(match STAGES_BEFORE_PRODUCTION.get(i + 1) {
                Some(next) => next,
                None if shifts_in_steps(d) => "PRE_PRODUCTION_TRAFFIC_SHIFT",
                None => "PRODUCTION_TRAFFIC_SHIFT",
            });
        }
        match stage {
            "PRE_PRODUCTION_TRAFFIC_SHIFT" => Some("PRODUCTION_TRAFFIC_SHIFT"),
            "PRODUCTION_TRAFFIC_SHIFT" if d.production_weight < 100.0 => {
                Some("PRE_PRODUCTION_TRAFFIC_SHIFT")
            }
            "PRODUCTION_TRAFFIC_SHIFT" => Some("POST_PRODUCTION_TRAFFIC_SHIFT"),
            "POST_PRODUCTION_TRAFFIC_SHIFT" => Some("BAKE_TIME"),
            "BAKE_TIME" => Some("CLEAN_UP"),
            _ => None,
        }
    }

    fn minutes(config: &Value, pointer: &str, default: i64) -> i64 {
        config
            .pointer(pointer)
            .and_then(Value::as_i64)
            .unwrap_or(default)
    }

    /// Minutes that pass while the deployment leaves its stage: the bake time, or the wait
    /// between two traffic shift steps.
    fn leave_minutes(d: &Deployment) -> i64 {
        match (d.stage.as_deref(), d.strategy.as_str()) {
            (Some("BAKE_TIME"), _) => minutes(&d.config, "/bakeTimeInMinutes", 0),
            (Some("PRODUCTION_TRAFFIC_SHIFT"), "LINEAR") if d.production_weight < 100.0 => {
                minutes(&d.config, "/linearConfiguration/stepBakeTimeInMinutes", 6)
            }
            (Some("PRODUCTION_TRAFFIC_SHIFT"), "CANARY") if d.production_weight < 100.0 => minutes(
                &d.config,
                "/canaryConfiguration/canaryBakeTimeInMinutes",
                10,
            ),
            _ => 0,
        }
    }

    fn leave(d: &mut Deployment) {
        if d.stage.as_deref() == Some("CLEAN_UP") {
            d.test_weight = 0.0;
        }
    }

    /// The production weight of green after the next shift step.
    fn next_weight(d: &Deployment) -> f64 {
        let w = d.production_weight;
        let f = |p: &str, default: f64| {
            d.config
                .pointer(p)
                .and_then(Value::as_f64)
                .unwrap_or(default)
        };
        match d.strategy.as_str() {
            "LINEAR" => (w + f("/linearConfiguration/stepPercent", 10.0)).min(100.0),
            "CANARY" if w == 0.0 => f("/canaryConfiguration/canaryPercent", 5.0),
            _ => 100.0,
        }
    }

    fn enter(s: &mut State, i: usize, stage: &str) -> Action {
        let now = s.now();
        let mut serial = s.serial;
        let d = &mut s.deployments[i];
        d.stage = Some(stage.to_owned());
        match stage {
            "TEST_TRAFFIC_SHIFT" => d.test_weight = 100.0,
            "PRODUCTION_TRAFFIC_SHIFT" => {
                d.production_weight = next_weight(d);
                d.shifts.push(d.production_weight);
            }
            _ => {}
        }
        let configured: Vec<Value> = d.config["lifecycleHooks"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|h| {
                h["lifecycleStages"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == stage))
            })
            .collect();
        for h in configured {
            serial += 1;
            d.hooks.push(new_hook(&h, stage, serial, now));
        }
        s.serial = serial;
        let d = &mut s.deployments[i];
        match d.pending_hook().cloned() {
            Some(h) if h.target_type == "AWS_LAMBDA" => invocation(d, &h),
            Some(h) => Action::Done(Step::Paused(h.id)),
            None => moved(d),
        }
    }

    fn new_hook(config: &Value, stage: &str, serial: u64, now: i64) -> Hook {
        let pause = config["targetType"] == "PAUSE";
        let timeout = &config["timeoutConfiguration"];
        Hook {
            id: format!("ecs-{}-{serial:08}", if pause { "pause" } else { "lambda" }),
            target_type: if pause { "PAUSE" } else { "AWS_LAMBDA" }.into(),
            target_arn: config["hookTargetArn"].as_str().map(str::to_owned),
            stage: stage.to_owned(),
            status: if pause {
                "AWAITING_ACTION"
            } else {
                "IN_PROGRESS"
            }
            .into(),
            // "default 1,440 minutes, ROLLBACK" (as core::ecs_hook quotes the guide).
            expires_at: Some(now + timeout["timeoutInMinutes"].as_i64().unwrap_or(1440) * 60),
            timeout_action: Some(timeout["action"].as_str().unwrap_or("ROLLBACK").to_owned()),
            invocations: 0,
            answers: Vec::new(),
            details: config.get("hookDetails").filter(|v| !v.is_null()).cloned(),
        }
    }

    /// Failed tasks of a deployment: the circuit breaker trips at its threshold.
    pub fn tasks_failed(s: &mut State, deployment: &str, n: i32) {
        let now = s.now();
        let Some(d) = s.deployments.iter_mut().find(|d| d.arn == deployment) else {
            return;
        };
        d.failures += n;
        let breaker = &d.config["deploymentCircuitBreaker"];
        if d.ended() || breaker["enable"] != true || d.failures < d.threshold {
            return;
        }
        d.circuit_breaker = "TRIGGERED".into();
        let reason = format!(
            "circuit breaker: {} tasks failed to start (threshold {})",
            d.failures, d.threshold
        );
        fail(d, &reason, breaker["rollback"] == true, now);
    }

    /// A CloudWatch alarm in ALARM: fails the service's deployment that watches it.
    pub fn alarm(s: &mut State, service: &str, name: &str) -> bool {
        let now = s.now();
        let Some(i) = active_index(s, service) else {
            return false;
        };
        let d = &mut s.deployments[i];
        let alarms = &d.config["alarms"];
        let watched = alarms["alarmNames"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == name));
        if alarms["enable"] != true || !watched || d.status != "IN_PROGRESS" {
            return false;
        }
        d.triggered_alarms.push(name.to_owned());
        let rollback = alarms["rollback"] == true;
        fail(
            d,
            &format!("CloudWatch alarm {name} is in ALARM"),
            rollback,
            now,
        );
        true
    }
}

/// The service-deployment API, answered from the stand-in's state.
mod api {
    use super::*;

    pub const OPERATIONS: [&str; 6] = [
        "GetPipelineState",
        "ListServiceDeployments",
        "DescribeServiceDeployments",
        "DescribeServiceRevisions",
        "StopServiceDeployment",
        "ContinueServiceDeployment",
    ];

    pub fn answer(s: &mut State, op: &str, body: &Value) -> (u16, Value) {
        match op {
            "ListServiceDeployments" => list(s, body),
            "DescribeServiceDeployments" => describe(s, body),
            "DescribeServiceRevisions" => revisions(s, body),
            "StopServiceDeployment" => stop(s, body),
            "ContinueServiceDeployment" => continue_hook(s, body),
            "GetPipelineState" => pipeline_state(s, body),
            _ => error("UnknownOperationException", op),
        }
    }

    fn list(s: &State, body: &Value) -> (u16, Value) {
        let service = key(
            body["cluster"].as_str().unwrap_or("default"),
            body["service"].as_str().unwrap_or_default(),
        );
        let statuses: Vec<&str> = body["status"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let after = body["createdAt"]["after"].as_f64();
        let before = body["createdAt"]["before"].as_f64();
        let mut briefs: Vec<Value> = s
            .deployments
            .iter()
            .rev()
            .filter(|d| key(&d.cluster, &d.service) == service)
            .filter(|d| statuses.is_empty() || statuses.contains(&d.status.as_str()))
            .filter(|d| after.is_none_or(|t| d.created_at as f64 >= t))
            .filter(|d| before.is_none_or(|t| (d.created_at as f64) <= t))
            .map(brief)
            .collect();
        let start: usize = body["nextToken"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let max = body["maxResults"].as_u64().unwrap_or(20) as usize;
        let rest = briefs.split_off(start.min(briefs.len()));
        let page: Vec<Value> = rest.iter().take(max).cloned().collect();
        let mut out = json!({"serviceDeployments": page});
        if rest.len() > max {
            out["nextToken"] = json!((start + max).to_string());
        }
        (200, out)
    }

    fn brief(d: &Deployment) -> Value {
        let mut b = json!({"serviceDeploymentArn": d.arn, "serviceArn": d.service_arn,
            "clusterArn": cluster_arn(&d.cluster), "createdAt": d.created_at,
            "targetServiceRevisionArn": d.target.arn, "status": d.status});
        set(&mut b, "startedAt", d.started_at.map(Value::from));
        set(&mut b, "finishedAt", d.finished_at.map(Value::from));
        set(
            &mut b,
            "statusReason",
            d.status_reason.clone().map(Value::from),
        );
        b
    }

    fn set(v: &mut Value, field: &str, value: Option<Value>) {
        if let Some(x) = value {
            v[field] = x;
        }
    }

    fn cluster_arn(cluster: &str) -> String {
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{cluster}")
    }

    fn summary(r: &Revision, test: f64, production: f64, running: bool) -> Value {
        let n = i32::from(running);
        json!({"arn": r.arn, "requestedTaskCount": 1, "runningTaskCount": n,
            "pendingTaskCount": 1 - n, "requestedTestTrafficWeight": test,
            "requestedProductionTrafficWeight": production})
    }

    pub fn full(d: &Deployment) -> Value {
        let mut v = brief(d);
        v["updatedAt"] = json!(d.updated_at);
        set(&mut v, "stoppedAt", d.stopped_at.map(Value::from));
        let live = !d.ended();
        v["sourceServiceRevisions"] = json!(
            d.source
                .iter()
                .map(|r| summary(r, 100.0 - d.test_weight, 100.0 - d.production_weight, true))
                .collect::<Vec<_>>()
        );
        v["targetServiceRevision"] = summary(&d.target, d.test_weight, d.production_weight, live);
        set(&mut v, "lifecycleStage", d.stage.clone().map(Value::from));
        v["lifecycleHookDetails"] = json!(d.hooks.iter().map(hook).collect::<Vec<_>>());
        v["deploymentConfiguration"] = d.config.clone();
        if let Some((reason, at, arn)) = &d.rollback {
            v["rollback"] = json!({"reason": reason, "startedAt": at, "serviceRevisionArn": arn});
        }
        v["deploymentCircuitBreaker"] = json!({"status": d.circuit_breaker,
            "failureCount": d.failures, "threshold": d.threshold});
        let alarms = &d.config["alarms"];
        if alarms["enable"] == true {
            let status = if d.triggered_alarms.is_empty() {
                "MONITORING"
            } else {
                "TRIGGERED"
            };
            v["alarms"] = json!({"status": status, "alarmNames": alarms["alarmNames"],
                "triggeredAlarmNames": d.triggered_alarms});
        }
        v
    }

    fn hook(h: &Hook) -> Value {
        let mut v = json!({"hookId": h.id, "targetType": h.target_type, "status": h.status});
        set(&mut v, "targetArn", h.target_arn.clone().map(Value::from));
        set(&mut v, "expiresAt", h.expires_at.map(Value::from));
        set(
            &mut v,
            "timeoutAction",
            h.timeout_action.clone().map(Value::from),
        );
        v
    }

    fn describe(s: &State, body: &Value) -> (u16, Value) {
        let (mut found, mut failures) = (Vec::new(), Vec::new());
        for arn in body["serviceDeploymentArns"]
            .as_array()
            .into_iter()
            .flatten()
        {
            match s.deployments.iter().find(|d| *arn == d.arn.as_str()) {
                Some(d) => found.push(full(d)),
                None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
            }
        }
        (
            200,
            json!({"serviceDeployments": found, "failures": failures}),
        )
    }

    fn revisions(s: &State, body: &Value) -> (u16, Value) {
        let (mut found, mut failures) = (Vec::new(), Vec::new());
        let known = s
            .deployments
            .iter()
            .flat_map(|d| d.source.iter().chain([&d.target]).map(move |r| (d, r)));
        let known: Vec<_> = known.collect();
        for arn in body["serviceRevisionArns"].as_array().into_iter().flatten() {
            match known.iter().find(|(_, r)| *arn == r.arn.as_str()) {
                Some((d, r)) => found.push(json!({"serviceRevisionArn": r.arn,
                    "serviceArn": d.service_arn, "clusterArn": cluster_arn(&d.cluster),
                    "taskDefinition": r.task_definition, "launchType": "FARGATE",
                    "createdAt": r.created_at})),
                None => failures.push(json!({"arn": arn, "reason": "MISSING"})),
            }
        }
        (
            200,
            json!({"serviceRevisions": found, "failures": failures}),
        )
    }

    /// CodePipeline's GetPipelineState (moto has none): the execution [`FakeEcs::deploying`]
    /// named runs its Release stage, its Deploy action reporting the service's newest
    /// deployment as its external execution id, as berth's deploy action does.
    fn pipeline_state(s: &State, body: &Value) -> (u16, Value) {
        let name = body["name"].as_str().unwrap_or_default();
        let Some((execution, service)) = s.pipelines.get(name) else {
            return (200, json!({"pipelineName": name, "stageStates": []}));
        };
        let mut deploy = json!({"status": "InProgress"});
        if let Some(d) = s
            .deployments
            .iter()
            .rev()
            .find(|d| key(&d.cluster, &d.service) == *service)
        {
            deploy["externalExecutionId"] = json!(d.arn);
        }
        let stage = json!({"stageName": "Release",
            "latestExecution": {"pipelineExecutionId": execution, "status": "InProgress"},
            "actionStates": [{"actionName": "Deploy", "latestExecution": deploy}]});
        (200, json!({"pipelineName": name, "stageStates": [stage]}))
    }

    fn not_found() -> (u16, Value) {
        error(
            "ServiceDeploymentNotFoundException",
            "The service deployment does not exist.",
        )
    }

    fn stop(s: &mut State, body: &Value) -> (u16, Value) {
        let now = s.now();
        let arn = body["serviceDeploymentArn"].as_str().unwrap_or_default();
        let Some(d) = s.deployments.iter_mut().find(|d| d.arn == arn) else {
            return not_found();
        };
        if d.ended() {
            return error(
                "ClientException",
                "The service deployment has already completed.",
            );
        }
        if matches!(d.status.as_str(), "PENDING" | "IN_PROGRESS") {
            if body["stopType"] == "ABORT" {
                d.status = "STOP_REQUESTED".into();
                d.status_reason = Some("stopped by user (ABORT)".into());
            } else {
                flow::roll_back(d, "stopped by user (ROLLBACK)", now);
            }
        }
        (200, json!({"serviceDeploymentArn": arn}))
    }

    fn continue_hook(s: &mut State, body: &Value) -> (u16, Value) {
        let now = s.now();
        let arn = body["serviceDeploymentArn"].as_str().unwrap_or_default();
        let id = body["hookId"].as_str().unwrap_or_default();
        let Some(d) = s.deployments.iter_mut().find(|d| d.arn == arn) else {
            return not_found();
        };
        let paused = d
            .hooks
            .iter()
            .any(|h| h.id == id && h.status == "AWAITING_ACTION");
        if d.status != "IN_PROGRESS" || !paused {
            return error(
                "ClientException",
                "The service deployment is not paused at a lifecycle hook awaiting action.",
            );
        }
        let rollback = body["action"] == "ROLLBACK";
        for h in d.hooks.iter_mut().filter(|h| h.id == id) {
            h.status = if rollback { "FAILED" } else { "SUCCEEDED" }.into();
        }
        if rollback {
            let stage = d.stage.clone().unwrap_or_default();
            flow::roll_back(d, &format!("rolled back at pause hook {id} ({stage})"), now);
        }
        (200, json!({"serviceDeploymentArn": arn}))
    }
}

/// moto's ECS answers with what the stand-in knows.
mod rewrite {
    use super::*;

    pub fn answer(s: &mut State, op: &str, sent: &Value, answer: &Value) -> Option<Value> {
        match op {
            "CreateService" => Some(created(s, sent, answer.clone())),
            "UpdateService" => Some(updated(s, sent, answer.clone())),
            "DescribeServices" => Some(described(s, answer.clone())),
            "DeleteService" => {
                deleted(s, &answer["service"]);
                None
            }
            "ListTasks" => listed(s, sent, answer.clone()),
            _ => None,
        }
    }

    fn revision(s: &mut State, cluster: &str, service: &str, task_definition: &str) -> Revision {
        let id = s.next_id();
        Revision {
            arn: revision_arn(cluster, service, &id),
            task_definition: task_definition.to_owned(),
            created_at: s.now(),
        }
    }

    fn names(service: &Value) -> (String, String) {
        let cluster = service["clusterArn"].as_str().unwrap_or_default();
        let cluster = cluster.rsplit('/').next().unwrap_or(cluster).to_owned();
        (
            cluster,
            service["serviceName"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        )
    }

    fn created(s: &mut State, sent: &Value, mut answer: Value) -> Value {
        let (cluster, name) = names(&answer["service"]);
        let task_definition = answer["service"]["taskDefinition"]
            .as_str()
            .unwrap_or_default();
        let target = revision(s, &cluster, &name, task_definition);
        s.services.insert(
            key(&cluster, &name),
            Service {
                arn: answer["service"]["serviceArn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                config: sent["deploymentConfiguration"].clone(),
                desired: sent["desiredCount"].as_i64().unwrap_or(1),
                current: Some(target.clone()),
                deleted: false,
                tasks: Vec::new(),
            },
        );
        let d = new_deployment(s, &cluster, &name, None, target);
        let now = s.now();
        if let Some(d) = s.deployments.iter_mut().find(|x| x.arn == d) {
            d.status = "SUCCESSFUL".into();
            d.started_at = Some(now);
            d.finished_at = Some(now);
        }
        patch(s, &mut answer["service"]);
        answer
    }

    /// Records a new deployment: PENDING, superseding the service's unfinished ones.
    fn new_deployment(
        s: &mut State,
        cluster: &str,
        service: &str,
        source: Option<Revision>,
        target: Revision,
    ) -> String {
        let now = s.now();
        let k = key(cluster, service);
        let id = s.next_id();
        let arn = deployment_arn(cluster, service, &id);
        let mut reconcile = false;
        for d in s
            .deployments
            .iter_mut()
            .filter(|d| key(&d.cluster, &d.service) == k)
        {
            if !d.ended() {
                reconcile |= d.status == "IN_PROGRESS";
                d.status = "STOPPED".into();
                d.status_reason = Some(format!("superseded by service deployment {arn}"));
                d.stopped_at = Some(now);
                d.finished_at = Some(now);
            }
        }
        let svc = &s.services[&k];
        let service_arn = svc.arn.clone();
        let config = svc.config.clone();
        let desired = svc.desired;
        let strategy = config["strategy"].as_str().unwrap_or("ROLLING").to_owned();
        let enabled = config["deploymentCircuitBreaker"]["enable"] == true;
        s.deployments.push(Deployment {
            arn: arn.clone(),
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            service_arn,
            status: "PENDING".into(),
            status_reason: None,
            strategy,
            stage: None,
            source,
            target,
            hooks: Vec::new(),
            test_weight: 0.0,
            production_weight: 0.0,
            shifts: Vec::new(),
            rollback: None,
            failures: 0,
            threshold: ((desired + 1) / 2).clamp(3, 200) as i32,
            circuit_breaker: if enabled { "MONITORING" } else { "DISABLED" }.into(),
            triggered_alarms: Vec::new(),
            config,
            created_at: now,
            started_at: None,
            updated_at: now,
            finished_at: None,
            stopped_at: None,
            reconcile,
        });
        arn
    }

    fn updated(s: &mut State, sent: &Value, mut answer: Value) -> Value {
        let (cluster, name) = names(&answer["service"]);
        let k = key(&cluster, &name);
        let Some(svc) = s.services.get_mut(&k) else {
            return answer;
        };
        if sent["deploymentConfiguration"].is_object() {
            svc.config = sent["deploymentConfiguration"].clone();
        }
        let requested = answer["service"]["taskDefinition"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let latest = s
            .deployments
            .iter()
            .rev()
            .find(|d| key(&d.cluster, &d.service) == k)
            .map(|d| d.target.task_definition.clone());
        let changed = sent["taskDefinition"].is_string() && latest.as_deref() != Some(&requested);
        if changed || sent["forceNewDeployment"] == true {
            let source = s.services[&k].current.clone();
            let target = revision(s, &cluster, &name, &requested);
            new_deployment(s, &cluster, &name, source, target);
        }
        patch(s, &mut answer["service"]);
        answer
    }

    fn described(s: &State, mut answer: Value) -> Value {
        if let Some(services) = answer["services"].as_array_mut() {
            for svc in services {
                patch(s, svc);
            }
        }
        answer
    }

    fn deleted(s: &mut State, service: &Value) {
        let (cluster, name) = names(service);
        let k = key(&cluster, &name);
        if let Some(svc) = s.services.get_mut(&k) {
            svc.deleted = true;
        }
        s.deployments.retain(|d| key(&d.cluster, &d.service) != k);
    }

    fn listed(s: &State, sent: &Value, mut answer: Value) -> Option<Value> {
        let name = sent["serviceName"].as_str()?;
        let cluster = sent["cluster"].as_str().unwrap_or("default");
        let tasks = s
            .services
            .get(&key(cluster, name))
            .map(|svc| svc.tasks.clone())
            .unwrap_or_default();
        answer["taskArns"] = json!(
            answer["taskArns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| tasks.iter().any(|t| *a == t.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        );
        Some(answer)
    }

    /// A described service as ECS shows it: its deployment configuration, and its PRIMARY
    /// deployment (the newest unfinished one's target, else what production runs), with the
    /// revision it replaces ACTIVE while the deployment runs.
    fn patch(s: &State, service: &mut Value) {
        let (cluster, name) = names(service);
        let k = key(&cluster, &name);
        let Some(svc) = s.services.get(&k) else {
            return;
        };
        if svc.deleted || service["status"] != "ACTIVE" {
            return;
        }
        service["deploymentConfiguration"] = svc.config.clone();
        let live = s
            .deployments
            .iter()
            .rev()
            .find(|d| key(&d.cluster, &d.service) == k && !d.ended());
        let rolling_back = live.is_some_and(|d| d.status.starts_with("ROLLBACK"));
        let mut list = Vec::new();
        let primary = match live {
            Some(d) if !rolling_back => Some((&d.target, "IN_PROGRESS")),
            _ => svc.current.as_ref().map(|r| (r, "COMPLETED")),
        };
        if let Some((r, rollout)) = primary {
            service["taskDefinition"] = json!(r.task_definition);
            list.push(
                json!({"id": format!("ecs-svc/{}", r.arn.rsplit('/').next().unwrap_or("")),
                "status": "PRIMARY", "taskDefinition": r.task_definition,
                "desiredCount": svc.desired, "rolloutState": rollout, "createdAt": r.created_at}),
            );
        }
        if let Some(source) = live
            .filter(|_| !rolling_back)
            .and_then(|d| d.source.as_ref())
        {
            list.push(
                json!({"id": format!("ecs-svc/{}", source.arn.rsplit('/').next().unwrap_or("")),
                "status": "ACTIVE", "taskDefinition": source.task_definition,
                "desiredCount": svc.desired, "createdAt": source.created_at}),
            );
        }
        service["deployments"] = json!(list);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state_with(config: Value) -> State {
        let mut s = State::default();
        let created = json!({"service": {"clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"),
            "serviceName": "web", "serviceArn": "arn:svc", "taskDefinition": "web:1", "status": "ACTIVE"}});
        rewrite::answer(
            &mut s,
            "CreateService",
            &json!({"deploymentConfiguration": config, "desiredCount": 1}),
            &created,
        );
        s
    }

    fn update(s: &mut State, task_definition: &str) {
        let answer = json!({"service": {"clusterArn": "arn:aws:ecs:x:1:cluster/prod",
            "serviceName": "web", "taskDefinition": task_definition, "status": "ACTIVE"}});
        rewrite::answer(
            s,
            "UpdateService",
            &json!({"taskDefinition": task_definition}),
            &answer,
        );
    }

    fn run(s: &mut State) -> Vec<Step> {
        let mut steps = Vec::new();
        for _ in 0..40 {
            match flow::step(s, "prod/web") {
                flow::Action::Done(Step::Idle) => break,
                flow::Action::Done(step @ Step::Paused(_)) => {
                    steps.push(step);
                    break;
                }
                flow::Action::Done(step) => steps.push(step),
                flow::Action::Invoke { .. } => panic!("no Lambda hooks here"),
            }
        }
        steps
    }

    fn stages(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Moved(status, Some(stage)) if status == "IN_PROGRESS" => Some(stage.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_blue_green_deployment_walks_every_stage_and_production_runs_green() {
        let mut s = state_with(configuration("BLUE_GREEN", vec![], 5));
        update(&mut s, "web:2");
        let steps = run(&mut s);
        assert_eq!(
            stages(&steps),
            [
                "PRE_SCALE_UP",
                "SCALE_UP",
                "POST_SCALE_UP",
                "TEST_TRAFFIC_SHIFT",
                "POST_TEST_TRAFFIC_SHIFT",
                "PRODUCTION_TRAFFIC_SHIFT",
                "POST_PRODUCTION_TRAFFIC_SHIFT",
                "BAKE_TIME",
                "CLEAN_UP"
            ]
        );
        let d = s.deployments.last().unwrap();
        assert_eq!(d.status, "SUCCESSFUL");
        assert_eq!(s.skew, 5 * 60, "the bake time passed");
        assert_eq!(
            s.services["prod/web"]
                .current
                .as_ref()
                .unwrap()
                .task_definition,
            "web:2"
        );
    }

    #[test]
    fn linear_steps_shift_in_equal_increments_with_a_wait_between_them() {
        let mut config = configuration("LINEAR", vec![], 0);
        config["linearConfiguration"] = json!({"stepPercent": 25.0, "stepBakeTimeInMinutes": 2});
        let mut s = state_with(config);
        update(&mut s, "web:2");
        run(&mut s);
        let d = s.deployments.last().unwrap();
        assert_eq!(d.shifts, [25.0, 50.0, 75.0, 100.0]);
        assert_eq!(s.skew, 3 * 2 * 60, "no wait after 100 percent");
    }

    #[test]
    fn a_pause_hook_waits_then_times_out_into_a_rollback() {
        let hooks = vec![pause_hook(&["POST_TEST_TRAFFIC_SHIFT"], 30, "ROLLBACK")];
        let mut s = state_with(configuration("BLUE_GREEN", hooks, 0));
        update(&mut s, "web:2");
        let steps = run(&mut s);
        assert!(matches!(steps.last(), Some(Step::Paused(_))), "{steps:?}");
        assert!(matches!(
            flow::step(&mut s, "prod/web"),
            flow::Action::Done(Step::Paused(_))
        ));
        s.skew += 30 * 60;
        run(&mut s);
        let d = s.deployments.last().unwrap();
        assert_eq!(d.status, "ROLLBACK_SUCCESSFUL");
        assert_eq!(d.hooks[0].status, "TIMED_OUT");
        assert_eq!(
            s.services["prod/web"]
                .current
                .as_ref()
                .unwrap()
                .task_definition,
            "web:1"
        );
    }

    #[test]
    fn continue_is_refused_unless_a_hook_awaits_action() {
        let hooks = vec![pause_hook(&["POST_TEST_TRAFFIC_SHIFT"], 30, "ROLLBACK")];
        let mut s = state_with(configuration("BLUE_GREEN", hooks, 0));
        update(&mut s, "web:2");
        let arn = s.deployments.last().unwrap().arn.clone();
        let early = api::answer(
            &mut s,
            "ContinueServiceDeployment",
            &json!({"serviceDeploymentArn": arn, "hookId": "ecs-pause-00000001"}),
        );
        assert_eq!(early.0, 400);
        run(&mut s);
        let id = s.deployments.last().unwrap().hooks[0].id.clone();
        let ok = api::answer(
            &mut s,
            "ContinueServiceDeployment",
            &json!({"serviceDeploymentArn": arn, "hookId": id, "action": "CONTINUE"}),
        );
        assert_eq!(ok.0, 200, "{ok:?}");
        run(&mut s);
        assert_eq!(s.deployments.last().unwrap().status, "SUCCESSFUL");
    }

    #[test]
    fn a_second_update_stops_the_first_and_reconciles() {
        let mut s = state_with(configuration("BLUE_GREEN", vec![], 0));
        update(&mut s, "web:2");
        flow::step(&mut s, "prod/web");
        update(&mut s, "web:3");
        let first = &s.deployments[1];
        assert_eq!(first.status, "STOPPED");
        flow::step(&mut s, "prod/web");
        assert_eq!(s.deployments[2].stage.as_deref(), Some("RECONCILE_SERVICE"));
    }

    #[test]
    fn the_circuit_breaker_trips_at_three_failed_tasks_and_rolls_back() {
        let mut s = state_with(configuration("ROLLING", vec![], 0));
        update(&mut s, "web:2");
        flow::step(&mut s, "prod/web");
        let arn = s.deployments.last().unwrap().arn.clone();
        flow::tasks_failed(&mut s, &arn, 2);
        assert_eq!(s.deployments.last().unwrap().status, "IN_PROGRESS");
        flow::tasks_failed(&mut s, &arn, 1);
        assert_eq!(s.deployments.last().unwrap().status, "ROLLBACK_REQUESTED");
        assert_eq!(s.deployments.last().unwrap().circuit_breaker, "TRIGGERED");
    }
}
