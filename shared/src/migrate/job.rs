//! The Migrate job's inputs: its UserParameters and its input artifact.

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use serde_json::Value;

use super::{Halt, Step};
use crate::render::{self, ArtifactRelease};
use crate::store::{Bucket, Read};

/// The release in the input artifact: `release.json` and `taskdef.json`.
pub(super) struct Artifact {
    pub release: ArtifactRelease,
    pub zip: Vec<u8>,
}

impl Artifact {
    /// `taskdef.json`, read only when a task is to run.
    pub fn task_definition(&self) -> Step<Value> {
        render::read_artifact_file(&self.zip, render::TASKDEF_FILE)
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("taskdef.json: {e}")))
            .map_err(|m| {
                Halt::Report(format!(
                    "the input artifact has no usable task definition: {m}"
                ))
            })
    }
}

/// Reads the input artifact with the job's own short-lived credentials.
pub(super) async fn read_artifact(config: &SdkConfig, job: &CodePipelineJob) -> Step<Artifact> {
    let report = |m: &str| Halt::Report(m.to_owned());
    let input = job
        .data
        .input_artifacts
        .first()
        .ok_or_else(|| report("the Migrate action has no input artifact"))?;
    let loc = &input.location.s3_location;
    let (Some(bucket), Some(key)) = (loc.bucket_name.as_deref(), loc.object_key.as_deref()) else {
        return Err(report("the input artifact has no S3 location"));
    };
    let creds = &job.data.artifact_credentials;
    let (Some(ak), Some(sk)) = (creds.access_key_id.clone(), creds.secret_access_key.clone())
    else {
        return Err(report("the job carries no artifact credentials"));
    };
    let credentials = Credentials::new(
        ak,
        sk,
        creds.session_token.clone(),
        None,
        "codepipeline-job",
    );
    let store = Bucket::new(artifact_s3_client(config, credentials), bucket);
    let Read::Found(obj) = store.get(key, None, None).await? else {
        return Err(Halt::Report(format!(
            "input artifact s3://{bucket}/{key} does not exist"
        )));
    };
    let release: ArtifactRelease = render::read_artifact_file(&obj.body, render::RELEASE_FILE)
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("release.json: {e}")))
        .map_err(|m| Halt::Report(format!("the input artifact is not a berth artifact: {m}")))?;
    Ok(Artifact {
        release,
        zip: obj.body,
    })
}

/// An S3 client that uses the job's artifact credentials instead of the function's role.
pub fn artifact_s3_client(config: &SdkConfig, creds: Credentials) -> aws_sdk_s3::Client {
    let config = config
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .build();
    crate::aws::s3_client(&config)
}

/// `berth/<release>` within ECS's `startedBy` rules: 36 characters of `[A-Za-z0-9/_-]`.
pub fn started_by(release: &str) -> String {
    format!("berth/{release}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(36)
        .collect()
}

/// `{"rollback": "true"|"false"}`, the Migrate action's UserParameters. Absent = not a rollback.
pub fn parse_user_parameters(raw: Option<&str>) -> Result<bool, String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(false);
    };
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        format!("the Migrate action's UserParameters must be JSON like {{\"rollback\":\"#{{variables.BERTH_ROLLBACK}}\"}}: {e}")
    })?;
    match v.get("rollback") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(format!(
            "UserParameters.rollback must be \"true\" or \"false\", got {other}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_by_fits_ecs_rules() {
        assert_eq!(started_by("v1.4.2"), "berth/v1_4_2");
        let long = started_by(&"a".repeat(64));
        assert_eq!(long.len(), 36);
        assert!(long.starts_with("berth/aaa"));
    }

    #[test]
    fn user_parameters() {
        assert_eq!(parse_user_parameters(None), Ok(false));
        assert_eq!(parse_user_parameters(Some("  ")), Ok(false));
        assert_eq!(
            parse_user_parameters(Some(r#"{"rollback":"true"}"#)),
            Ok(true)
        );
        assert_eq!(
            parse_user_parameters(Some(r#"{"rollback":"false"}"#)),
            Ok(false)
        );
        assert_eq!(
            parse_user_parameters(Some(r#"{"rollback":true}"#)),
            Ok(true)
        );
        assert!(parse_user_parameters(Some("rollback")).is_err());
        assert!(
            parse_user_parameters(Some(r##"{"rollback":"#{variables.BERTH_ROLLBACK}"}"##)).is_err()
        );
    }
}
