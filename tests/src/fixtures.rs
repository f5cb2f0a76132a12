//! Real AWS event JSON (tests/fixtures), with the parts a test varies filled in.

use serde_json::{Value, json};

use crate::BUCKET;

/// The S3 notification AWS sends for a new object version (fixtures/s3-object-created.json).
pub fn s3_event_json(key_encoded: &str, version: &str) -> Value {
    let text = include_str!("../fixtures/s3-object-created.json")
        .replace("{{BUCKET}}", BUCKET)
        .replace("{{KEY}}", key_encoded)
        .replace("{{VERSION}}", version);
    serde_json::from_str(&text).expect("fixture parses")
}

pub fn s3_event(key_encoded: &str, version: &str) -> aws_lambda_events::event::s3::S3Event {
    serde_json::from_value(s3_event_json(key_encoded, version)).expect("S3 event")
}

/// The EventBridge "CloudWatch Alarm State Change" event of a single-metric alarm
/// (fixtures/cloudwatch-alarm-state-change.json, CloudWatch User Guide's sample with an
/// Application Load Balancer metric): alarm `alarm` now in `state`, about target group
/// `target_group` (its `TargetGroup` dimension, `targetgroup/<name>/<id>`).
pub fn alarm_event(alarm: &str, state: &str, target_group: &str) -> Value {
    let text = include_str!("../fixtures/cloudwatch-alarm-state-change.json")
        .replace("{{ALARM}}", alarm)
        .replace("{{STATE}}", state)
        .replace("{{TARGET_GROUP}}", target_group);
    serde_json::from_str(&text).expect("fixture parses")
}

/// The EventBridge "ECR Image Action" event (fixtures/ecr-image-action.json).
pub fn ecr_event_json(
    action: &str,
    result: &str,
    repository: &str,
    tag: &str,
    digest: &str,
) -> Value {
    let text = include_str!("../fixtures/ecr-image-action.json")
        .replace("{{ACTION}}", action)
        .replace("{{RESULT}}", result)
        .replace("{{REPOSITORY}}", repository)
        .replace("{{TAG}}", tag)
        .replace("{{DIGEST}}", digest);
    serde_json::from_str(&text).expect("fixture parses")
}

pub fn ecr_event(
    action: &str,
    result: &str,
    repository: &str,
    tag: &str,
    digest: &str,
) -> aws_lambda_events::event::eventbridge::EventBridgeEvent<Value> {
    serde_json::from_value(ecr_event_json(action, result, repository, tag, digest))
        .expect("ECR event")
}

/// The Migrate (or Scan) action's job, as CodePipeline hands it to the function.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    /// Where the Source action put the artifact (see `Env::stage_artifact`).
    pub artifact_key: String,
    /// `BERTH_RELEASE` as the execution resolved it.
    pub release: String,
    pub rollback: bool,
    /// `#{codepipeline.PipelineExecutionId}`.
    pub execution: String,
    /// The key of the action's output artifact in the bucket, when it declares one.
    pub output: Option<String>,
    /// The PostMigrate action's job (`"migration": "post"` in its UserParameters).
    pub post: bool,
}

impl Job {
    /// A job of execution `exec-<id>` for the artifact at `artifact_key`. The release is the
    /// one `Env::stage_artifact` named the key after (`.../<release>.zip`).
    pub fn new(id: &str, artifact_key: &str) -> Job {
        let release = artifact_key
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".zip"))
            .unwrap_or("(none)")
            .to_owned();
        Job {
            id: id.to_owned(),
            artifact_key: artifact_key.to_owned(),
            release,
            rollback: false,
            execution: format!("exec-{id}"),
            output: None,
            post: false,
        }
    }

    /// The job CodePipeline creates for the `n`th continuation of this one: every re-invocation
    /// with a continuation token is a new job ("Future jobs use this token to identify the
    /// running instance of the action" — PutJobSuccessResult) of the same execution.
    pub fn continued(&self, n: usize) -> Job {
        Job {
            id: format!("{}-{n}", self.id),
            ..self.clone()
        }
    }

    /// The same job in a rollback execution.
    pub fn rollback(mut self, rollback: bool) -> Job {
        self.rollback = rollback;
        self
    }

    /// The same job of the PostMigrate action, in execution `execution`.
    pub fn post(mut self, execution: &str) -> Job {
        self.post = true;
        self.execution = execution.to_owned();
        self
    }

    /// The same job with an output artifact at `key`, as the stacks' Migrate action declares.
    pub fn output(mut self, key: &str) -> Job {
        self.output = Some(key.to_owned());
        self
    }

    /// The event (fixtures/codepipeline-job.json), with a continuation token or none.
    pub fn event_json(&self, token: Option<&str>) -> Value {
        let mut user_parameters = json!({"release": self.release,
            "rollback": if self.rollback { "true" } else { "false" }, "execution": self.execution});
        if self.post {
            user_parameters["migration"] = json!("post");
        }
        let user_parameters = user_parameters.to_string();
        let text = include_str!("../fixtures/codepipeline-job.json")
            .replace("{{JOB_ID}}", &self.id)
            .replace("{{BUCKET}}", BUCKET)
            .replace("{{KEY}}", &self.artifact_key)
            .replace("{{USER_PARAMETERS}}", &json!(user_parameters).to_string())
            .replace("{{OUTPUTS}}", &outputs(self.output.as_deref()).to_string())
            .replace(
                "{{TOKEN}}",
                &token
                    .map(|t| json!(t).to_string())
                    .unwrap_or_else(|| "null".into()),
            );
        serde_json::from_str(&text).expect("job fixture")
    }

    pub fn event(
        &self,
        token: Option<&str>,
    ) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
        serde_json::from_value(self.event_json(token)).expect("job event")
    }
}

/// The event's `outputArtifacts`: the Lambda action's output artifact location ("the function
/// has access to ... output artifact locations" — Lambda invoke action reference).
fn outputs(key: Option<&str>) -> Value {
    match key {
        Some(key) => json!([{"location": {"s3Location": {"bucketName": BUCKET, "objectKey": key},
            "type": "S3"}, "revision": null, "name": "DeployArtifact"}]),
        None => json!([]),
    }
}

/// [`Job::event_json`] of the job `job_id` for `artifact_key`.
pub fn job_event_json(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> Value {
    Job::new(job_id, artifact_key)
        .rollback(rollback)
        .event_json(token)
}

pub fn job_event(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
    Job::new(job_id, artifact_key)
        .rollback(rollback)
        .event(token)
}

/// The EventBridge schedule's event (fixtures/scheduled-event.json): on-image-push's sweep.
pub fn scheduled_event_json() -> Value {
    serde_json::from_str(include_str!("../fixtures/scheduled-event.json")).expect("fixture parses")
}

/// The EventBridge "CodePipeline Pipeline Execution State Change" event.
pub fn pipeline_event_json(pipeline: &str, execution: &str, state: &str) -> Value {
    let text = include_str!("../fixtures/pipeline-state-change.json")
        .replace("{{PIPELINE}}", pipeline)
        .replace("{{EXECUTION}}", execution)
        .replace("{{STATE}}", state);
    serde_json::from_str(&text).expect("fixture parses")
}
