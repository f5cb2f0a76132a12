//! CodePipeline's Release stage, played from the pipeline's declaration as moto stores it (moto
//! keeps pipelines but runs none). Each action takes the artifacts its declaration names:
//!
//! - Migrate (Lambda invoke) is one job, re-invoked with its continuation token until it ends,
//!   whose event names an output location for each output artifact the action declares ("the
//!   function has access to the action configuration, input artifact locations, output artifact
//!   locations" — Lambda invoke action reference);
//! - Deploy (CodeDeployToECS) registers the task definition from the file its configuration
//!   names (`TaskDefinitionTemplateArtifact`: "The input artifact name that provides the task
//!   definition file to the deployment action"), and a finished deployment leaves the ECS
//!   service's PRIMARY task set running it (the CodeDeploy part is a stand-in: moto has none);
//! - for a service ECS deploys itself, Deploy is the `deploy` function (Lambda invoke) of
//!   DeployArtifact: [`play_to_deploy`] stops before it and [`DeployAction`] plays its job, one
//!   invocation at a time, so a test moves the ECS stand-in between them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::runtime::{Function, Outcome, play_job};
use crate::{Env, Job, StandIn, raw_json};

/// What the stage did.
#[derive(Debug)]
pub struct Played {
    /// The Migrate job's result: operation and request body.
    pub migrate: (String, Value),
    /// The task definition the Deploy action registered, as registered.
    pub deployed: Value,
}

/// The Release stage's actions of `pipeline`, in run order, and the Source action's output
/// artifact name.
async fn declaration(env: &Env, pipeline: &str) -> (String, Vec<Value>) {
    let body = json!({"name": pipeline}).to_string();
    let out = raw_json(
        &env.moto.endpoint,
        "codepipeline",
        "CodePipeline_20150709.GetPipeline",
        &body,
    )
    .await;
    let out: Value = serde_json::from_str(&out).expect("GetPipeline answer");
    let stages = out["pipeline"]["stages"]
        .as_array()
        .expect("stages")
        .clone();
    let stage = |name: &str| {
        stages
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["actions"].as_array().cloned())
            .unwrap_or_else(|| panic!("{pipeline} has no {name} stage"))
    };
    let source = stage("Source")[0]["outputArtifacts"][0]["name"]
        .as_str()
        .expect("the Source action's output artifact")
        .to_owned();
    let mut actions = stage("Release");
    actions.sort_by_key(|a| a["runOrder"].as_i64().unwrap_or(1));
    (source, actions)
}

/// Plays `pipeline`'s Release stage for the source artifact the Source action put at
/// `source_key` (see `Env::stage_artifact`): Migrate as job `job_id`, then Deploy. A failed
/// Migrate job ends the stage before Deploy.
pub async fn play_release_stage(
    env: &Env,
    migrate: &mut Function,
    jobs: &StandIn,
    pipeline: &str,
    job_id: &str,
    source_key: &str,
) -> Option<Played> {
    let (source, actions) = declaration(env, pipeline).await;
    let mut artifacts = BTreeMap::from([(source, source_key.to_owned())]);
    let mut result = None;
    for action in &actions {
        match action["name"].as_str() {
            Some("Migrate") => {
                let (op, body) =
                    run_migrate(migrate, jobs, action, &mut artifacts, job_id, (None, false)).await;
                if op != "PutJobSuccessResult" {
                    return None;
                }
                result = Some((op, body));
            }
            Some("Deploy") => {
                let deployed = deploy(env, action, &artifacts).await;
                return Some(Played {
                    migrate: result.expect("Migrate runs before Deploy"),
                    deployed,
                });
            }
            _ => {}
        }
    }
    panic!("{pipeline}'s Release stage has no Deploy action")
}

/// The Migrate job, with an output location for the action's output artifact when it declares
/// one (the stacks declare at most one); records where the artifact was written.
async fn run_migrate(
    migrate: &mut Function,
    jobs: &StandIn,
    action: &Value,
    artifacts: &mut BTreeMap<String, String>,
    job_id: &str,
    (execution, rollback): (Option<&str>, bool),
) -> (String, Value) {
    let input = action["inputArtifacts"][0]["name"].as_str().expect("input");
    let key = artifacts.get(input).expect("Migrate's input was produced");
    let mut job = Job::new(job_id, key).rollback(rollback);
    if let Some(e) = execution {
        job.execution = e.to_owned();
    }
    let outputs = action["outputArtifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        outputs.len() <= 1,
        "one output artifact at most: {outputs:?}"
    );
    let output = outputs
        .first()
        .and_then(|o| o["name"].as_str())
        .map(|name| {
            // CodePipeline's own layout: <pipeline>/<artifact name, cut short>/<object>.
            let short: String = name.chars().take(10).collect();
            (
                name.to_owned(),
                format!("berth-web/{short}/{}.zip", job.release),
            )
        });
    if let Some((_, key)) = &output {
        job = job.output(key);
    }
    let (_, op, body) = play_job(migrate, jobs, job).await;
    if let Some((name, key)) = output {
        artifacts.insert(name, key);
    }
    (op, body)
}

/// The Deploy action: the task definition from the artifact and path its configuration names,
/// registered, and the service running it.
async fn deploy(env: &Env, action: &Value, artifacts: &BTreeMap<String, String>) -> Value {
    let config = &action["configuration"];
    let name = config["TaskDefinitionTemplateArtifact"]
        .as_str()
        .expect("set");
    let inputs = action["inputArtifacts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        inputs.iter().any(|i| i["name"] == name),
        "{name} is an input artifact of Deploy"
    );
    let key = artifacts
        .get(name)
        .unwrap_or_else(|| panic!("{name} was not written by an earlier action"));
    let zip = env
        .get_object(key, None)
        .await
        .expect("the artifact exists");
    let path = config["TaskDefinitionTemplatePath"]
        .as_str()
        .unwrap_or("taskdef.json");
    let file = berth::render::read_artifact_file(&zip, path).expect("the task definition file");
    let taskdef: Value = serde_json::from_slice(&file).expect("task definition JSON");
    let out = raw_json(
        &env.moto.endpoint,
        "ecs",
        "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
        &taskdef.to_string(),
    )
    .await;
    let out: Value = serde_json::from_str(&out).expect("RegisterTaskDefinition answer");
    let arn = out["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .expect("ARN");
    let service = config["DeploymentGroupName"].as_str().expect("group");
    env.deploy(service, arn).await;
    out["taskDefinition"].clone()
}

/// A Release stage stopped before its Deploy action (a Lambda invoke of `deploy`).
#[derive(Debug)]
pub struct AtDeploy {
    /// The Migrate job's result: operation and request body.
    pub migrate: (String, Value),
    /// The Deploy action's first job: same execution as Migrate's, DeployArtifact as its input.
    pub job: Job,
}

/// Plays `pipeline`'s Release stage of pipeline execution `execution` up to its Deploy action,
/// which must be the `deploy` function (Lambda invoke, DeployArtifact as input, Migrate's
/// UserParameters). `None` when Migrate failed.
pub async fn play_to_deploy(
    env: &Env,
    migrate: &mut Function,
    jobs: &StandIn,
    pipeline: &str,
    job: (&str, &str),
    source_key: &str,
) -> Option<AtDeploy> {
    play_to_deploy_as(env, migrate, jobs, pipeline, job, source_key, false)
        .await
        .ok()
}

/// [`play_to_deploy`] of an ordinary execution or (`rollback`) a rollback execution, whose jobs
/// carry `BERTH_ROLLBACK=true`; `Err` with Migrate's job result when Migrate failed.
pub async fn play_to_deploy_as(
    env: &Env,
    migrate: &mut Function,
    jobs: &StandIn,
    pipeline: &str,
    (job_id, execution): (&str, &str),
    source_key: &str,
    rollback: bool,
) -> Result<AtDeploy, (String, Value)> {
    let (source, actions) = declaration(env, pipeline).await;
    let mut artifacts = BTreeMap::from([(source, source_key.to_owned())]);
    let mut result = None;
    for action in &actions {
        match action["name"].as_str() {
            Some("Migrate") => {
                let (op, body) = run_migrate(
                    migrate,
                    jobs,
                    action,
                    &mut artifacts,
                    job_id,
                    (Some(execution), rollback),
                )
                .await;
                if op != "PutJobSuccessResult" {
                    return Err((op, body));
                }
                result = Some((op, body));
            }
            Some("Deploy") => {
                let mut job = deploy_job(action, &artifacts, job_id).rollback(rollback);
                // One execution runs both actions: #{codepipeline.PipelineExecutionId}.
                job.execution = execution.to_owned();
                let migrate = result.expect("Migrate runs before Deploy");
                return Ok(AtDeploy { migrate, job });
            }
            _ => {}
        }
    }
    panic!("{pipeline}'s Release stage has no Deploy action")
}

fn deploy_job(action: &Value, artifacts: &BTreeMap<String, String>, job_id: &str) -> Job {
    assert_eq!(action["actionTypeId"]["provider"], "Lambda", "{action}");
    let config = &action["configuration"];
    assert_eq!(config["FunctionName"], "berth-deploy");
    assert_eq!(
        config["UserParameters"],
        berth::migrate::USER_PARAMETERS,
        "Migrate's UserParameters"
    );
    let input = action["inputArtifacts"][0]["name"].as_str().expect("input");
    let key = artifacts
        .get(input)
        .unwrap_or_else(|| panic!("{input} was not written by an earlier action"));
    Job::new(&format!("{job_id}-deploy"), key)
}

/// The Deploy action's job as CodePipeline runs it: invoked, then re-invoked as a new job of
/// the same execution with each continuation token it reports, until a result without one.
pub struct DeployAction {
    pub first: Job,
    /// Re-invocations so far.
    pub polls: usize,
    token: Option<String>,
    /// The job result that ended the action.
    pub result: Option<(String, Value)>,
}

impl DeployAction {
    pub fn new(first: Job) -> DeployAction {
        DeployAction {
            first,
            polls: 0,
            token: None,
            result: None,
        }
    }

    /// One invocation; the job result when it ended the action.
    pub async fn poll(&mut self, deploy: &mut Function, jobs: &StandIn) -> Option<(String, Value)> {
        if self.result.is_some() {
            return self.result.clone();
        }
        let job = match self.polls {
            0 => self.first.clone(),
            n => self.first.continued(n),
        };
        self.polls += 1;
        let outcome = deploy.invoke(&job.event_json(self.token.as_deref())).await;
        assert!(
            matches!(outcome, Outcome::Response(_)),
            "deploy answered with an error: {outcome:?}"
        );
        let (op, body) = jobs.last().expect("deploy reported a job result");
        assert_eq!(
            body["jobId"],
            job.id.as_str(),
            "a result for the job it was invoked with"
        );
        match body["continuationToken"].as_str() {
            Some(t) if op == "PutJobSuccessResult" => {
                assert!(t.len() <= 2048, "continuation token of {} chars", t.len());
                self.token = Some(t.to_owned());
                None
            }
            _ => {
                self.result = Some((op, body));
                self.result.clone()
            }
        }
    }
}
