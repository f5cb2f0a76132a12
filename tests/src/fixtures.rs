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

/// The CodePipeline job event for the Migrate action (fixtures/codepipeline-job.json).
pub fn job_event_json(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> Value {
    let text = include_str!("../fixtures/codepipeline-job.json")
        .replace("{{JOB_ID}}", job_id)
        .replace("{{BUCKET}}", BUCKET)
        .replace("{{KEY}}", artifact_key)
        .replace("{{ROLLBACK}}", if rollback { "true" } else { "false" })
        .replace(
            "{{TOKEN}}",
            &token
                .map(|t| json!(t).to_string())
                .unwrap_or_else(|| "null".into()),
        );
    serde_json::from_str(&text).expect("job fixture")
}

pub fn job_event(
    job_id: &str,
    artifact_key: &str,
    rollback: bool,
    token: Option<&str>,
) -> aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent {
    serde_json::from_value(job_event_json(job_id, artifact_key, rollback, token))
        .expect("job event")
}

/// The EventBridge "CodePipeline Pipeline Execution State Change" event.
pub fn pipeline_event_json(pipeline: &str, execution: &str, state: &str) -> Value {
    let text = include_str!("../fixtures/pipeline-state-change.json")
        .replace("{{PIPELINE}}", pipeline)
        .replace("{{EXECUTION}}", execution)
        .replace("{{STATE}}", state);
    serde_json::from_str(&text).expect("fixture parses")
}
