//! The deployed artifact (docs/design/contract.md §4, §6): rendered once per release when it
//! reaches the Release stage — under the stage lock, from the task definition the service runs
//! at that moment — saved create-only at `artifacts/<service>/deployed/<release>.zip`, and
//! written as the Migrate action's output artifact, which the Deploy action deploys. A rollback
//! execution writes the restored release's saved bytes again.

use std::time::SystemTime;

use aws_lambda_events::event::codepipeline_job::CodePipelineJob;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use serde_json::Value;

use super::job::{self, Artifact};
use super::{Context, Halt, Step};
use crate::error::{Error, Result};
use crate::jobs::{self, JobResult};
use crate::keys;
use crate::record::{DeployedRecord, ReleaseRecord};
use crate::records::Change;
use crate::render::{self, ArtifactRelease, DeployTarget};
use crate::store::{Condition, Read, Written};
use crate::task_targets::{self, TargetClients};
use crate::taskdef::{self, Template};

/// A deployed artifact is a few kilobytes; anything larger is not one berth wrote.
const MAX_ARTIFACT_BYTES: u64 = 5 * 1024 * 1024;

impl Context {
    /// The artifact `artifact`'s release deploys: the one saved when it first reached its
    /// stage (so every invocation of a job, and every retry of the stage, deploys the same
    /// bytes), else rendered now from what the service runs and saved. `None`: the artifact
    /// predates this (it has no target), and its source bytes are what it deploys.
    pub(super) async fn deployed(&self, artifact: &Artifact) -> Step<Option<Vec<u8>>> {
        let r = &artifact.release;
        let key = keys::deployed_key(&r.service, &r.release);
        if let Some(zip) = self.saved(&key).await? {
            self.note_deployed(r, &key, &zip).await;
            return Ok(Some(zip));
        }
        let Some(target) = &r.target else {
            return Ok(None);
        };
        let running = self.running(r, target).await?;
        let rendered = crate::deployed::render(&artifact.zip, r, &running).map_err(|m| {
            Halt::Report(format!(
                "release {} could not be rendered from what {} runs now: {m}",
                r.release,
                target.runner()
            ))
        })?;
        let written = self
            .bucket
            .put(
                &key,
                rendered.zip.clone(),
                "application/zip",
                Condition::Absent,
            )
            .await?;
        let zip = match written {
            Written::Ok { .. } => rendered.zip,
            // Another invocation of this job saved it first: that is what deploys.
            Written::ConditionFailed => self.saved(&key).await?.ok_or_else(|| {
                Halt::Report(format!("{key} was written and then could not be read"))
            })?,
        };
        tracing::info!(artifact = %key, "deployed artifact rendered from the task definition the service runs now");
        self.note_deployed(r, &key, &zip).await;
        Ok(Some(zip))
    }

    /// The task definition the release starts from, read now: what the ECS service runs; for a
    /// task target the one revision its schedules and rules all run (else refused, naming each),
    /// or, register only, the family's newest ACTIVE revision.
    async fn running(&self, r: &ArtifactRelease, target: &DeployTarget) -> Step<Value> {
        let ecs = &self.clients.ecs;
        let template = match &target.task_target {
            None => taskdef::running(ecs, &target.cluster, &target.ecs_service).await?,
            Some(t) if t.register_only() => taskdef::newest(ecs, &r.task_family).await?,
            Some(t) => {
                let clients = TargetClients::new(&self.clients.config);
                let found = task_targets::read(&clients, t)
                    .await?
                    .map_err(Halt::Report)?;
                let runs: Vec<_> = found.iter().map(task_targets::Found::runs).collect();
                let arn = crate::task_target::template(&r.task_family, &runs)
                    .map_err(|m| Halt::Report(format!("release {}: {m}", r.release)))?;
                Template::Found(taskdef::describe(ecs, &arn).await?)
            }
        };
        match template {
            Template::Found(t) => Ok(t),
            Template::Missing(reason) => Err(Halt::Report(reason)),
        }
    }

    async fn saved(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.bucket.get(key, None, Some(MAX_ARTIFACT_BYTES)).await? {
            Read::Found(obj) => Ok(Some(obj.body)),
            Read::Missing => Ok(None),
            Read::TooLarge(n) => Err(Error::Corrupt(format!(
                "{key} is {n} bytes: not an artifact"
            ))),
        }
    }

    /// Best-effort: the record's `deployed` section, from the saved artifact's `release.json`.
    async fn note_deployed(&self, r: &ArtifactRelease, key: &str, zip: &[u8]) {
        let Ok(deployed) = render::read_artifact_file(zip, render::RELEASE_FILE)
            .and_then(|b| serde_json::from_slice::<ArtifactRelease>(&b).map_err(|e| e.to_string()))
        else {
            return;
        };
        let note = DeployedRecord {
            artifact: key.to_owned(),
            images: deployed.images,
        };
        let edit = |rec: &mut ReleaseRecord| {
            if rec.deployed.as_ref() == Some(&note) {
                return Change::Keep(());
            }
            rec.deployed = Some(note.clone());
            Change::Write(())
        };
        let (service, release) = (&r.service, &r.release);
        if let Err(e) = self
            .records
            .update(service, release, SystemTime::now(), edit)
            .await
        {
            tracing::warn!(%service, %release, error = %e, "deployed artifact not recorded");
        }
    }

    /// Writes the action's output artifact before a success is reported ("If you specify output
    /// artifacts for the action, they must be uploaded to the S3 bucket as part of the function
    /// implementation" — Lambda invoke action reference): the release's deployed artifact, or,
    /// for a release deployed before berth rendered at the stage, its source artifact. A job
    /// without an output artifact (a pipeline not yet updated) writes nothing.
    pub(super) async fn emit(
        &self,
        job: &CodePipelineJob,
        result: JobResult,
        kms_key: Option<&str>,
    ) -> JobResult {
        if !matches!(result, JobResult::Success { .. }) || job.data.out_put_artifacts.is_empty() {
            return result;
        }
        match self.output(job, kms_key).await {
            Ok(()) => result,
            Err(m) => super::failure(
                format!("the Migrate action could not write its output artifact: {m}"),
                None,
            ),
        }
    }

    async fn output(
        &self,
        job: &CodePipelineJob,
        kms_key: Option<&str>,
    ) -> std::result::Result<(), String> {
        let input = match job::read_artifact(&self.clients.config, job).await {
            Ok(a) => a,
            Err(Halt::Report(m)) => return Err(m),
            Err(Halt::Fault(e)) => return Err(e.to_string()),
            Err(Halt::Retry { reason, .. }) => return Err(reason),
            Err(Halt::Answer(_)) => return Err("the input artifact was not read".into()),
        };
        let r = &input.release;
        let key = keys::deployed_key(&r.service, &r.release);
        let bytes = match self.saved(&key).await.map_err(|e| e.to_string())? {
            Some(zip) => zip,
            None => input.zip,
        };
        write_output(&self.clients.config, job, bytes, kms_key).await
    }
}

/// Puts `bytes` at the job's first output artifact location with the job's credentials, under
/// the artifact store's KMS key when the job names one (JobData `encryptionKey`: "Represents
/// information about the key used to encrypt data in the artifact store, such as an AWS Key
/// Management Service (AWS KMS) key").
async fn write_output(
    config: &aws_config::SdkConfig,
    job: &CodePipelineJob,
    bytes: Vec<u8>,
    kms_key: Option<&str>,
) -> std::result::Result<(), String> {
    let out = job
        .data
        .out_put_artifacts
        .first()
        .ok_or("the job has no output artifact")?;
    let loc = &out.location.s3_location;
    let (Some(bucket), Some(key)) = (loc.bucket_name.as_deref(), loc.object_key.as_deref()) else {
        return Err("the output artifact has no S3 location".into());
    };
    let credentials =
        jobs::artifact_credentials(job).ok_or("the job carries no artifact credentials")?;
    let s3 = jobs::artifact_s3_client(config, credentials);
    let mut put = s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("application/zip")
        .body(ByteStream::from(bytes));
    if let Some(kms) = kms_key {
        put = put
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(kms);
    }
    put.send().await.map(|_| ()).map_err(|e| {
        format!(
            "s3://{bucket}/{key}: {}",
            aws_smithy_types::error::display::DisplayErrorContext(e)
        )
    })
}

/// The job's `encryptionKey.id` when its type is KMS, from the raw event (the typed event
/// leaves it out).
pub(super) fn encryption_key(payload: &Value) -> Option<String> {
    let key = payload.pointer("/CodePipeline.job/data/encryptionKey")?;
    let kms = key.get("type").and_then(Value::as_str) == Some("KMS");
    kms.then(|| key.get("id").and_then(Value::as_str).map(str::to_owned))
        .flatten()
}
