//! After the claim: the artifact version, the pipeline execution, and the final record write.
//! The record is written once, at the end; a crash before that is resumed through the
//! artifact's metadata. On failure the claim is handed back.

use std::time::SystemTime;

use super::claim::ARTIFACT_MANIFEST_VERSION;
use super::release::{Claimed, Valid};
use super::{Context, Outcome};
use crate::error::{Error, Result};
use crate::index::{self, List};
use crate::keys;
use crate::pipeline;
use crate::record::{RECORD_SCHEMA, ReleaseRecord, ReleaseStatus, epoch_seconds, timestamp};
use crate::render::{self as artifact, ARTIFACT_SCHEMA, ArtifactRelease, DeployTarget};
use crate::store::{Condition, Written};

impl Context {
    /// [`Context::deploy`], handing the claim back on failure so Lambda's retry need not wait
    /// for the lease.
    pub(super) async fn deploy_or_hand_back(
        &self,
        claimed: Claimed,
        valid: &Valid,
        now: SystemTime,
    ) -> Result<Outcome> {
        match self.deploy(claimed, valid, now).await {
            Ok(outcome) => Ok(outcome),
            Err((e, mut c)) => {
                c.record.lease_until_epoch = None;
                if let Err(release_err) = self
                    .bucket
                    .put_json(&c.key, &c.record, Condition::Matches(&c.etag))
                    .await
                {
                    tracing::warn!(error = %release_err, "could not hand the claim back; it lapses at the lease time");
                }
                Err(e)
            }
        }
    }

    /// Artifact, pipeline, record: the steps after the claim. The index entry is written
    /// while the artifact is written and the pipeline started (a resumed claim writes it
    /// again, so only the final record write must wait for it). The record is written once,
    /// at the end; a crash before that is resumed through the artifact's metadata.
    async fn deploy(
        &self,
        mut claimed: Claimed,
        valid: &Valid,
        now: SystemTime,
    ) -> std::result::Result<Outcome, (Error, Claimed)> {
        let (indexed, started) = tokio::join!(
            self.index_release(&claimed.record),
            self.artifact_and_start(&claimed, valid, now),
        );
        let (artifact_version_id, execution_id) = match started {
            Ok(started) => started,
            Err(e) => return Err((e, claimed)),
        };
        claimed.record.artifact_version_id = Some(artifact_version_id.clone());
        if let Err(e) = indexed {
            return Err((e, claimed));
        }
        let started_at = timestamp(SystemTime::now());
        let r = &mut claimed.record;
        r.status = ReleaseStatus::InProgress;
        r.pipeline_execution_id = Some(execution_id.clone());
        r.pipeline_started_at = Some(started_at.clone());
        r.updated_at = started_at;
        r.lease_until_epoch = None;
        if let Err(e) = self.save(&mut claimed).await {
            return Err((e, claimed));
        }
        tracing::info!(
            service = %valid.manifest.service,
            release = %valid.manifest.release,
            %artifact_version_id,
            pipeline_execution_id = %execution_id,
            images = ?claimed.record.images,
            "pipeline started"
        );
        let started = [crate::metrics::Metric::count("ReleasesStarted")];
        crate::metrics::emit(&valid.manifest.service, now, &started);
        Ok(Outcome::Started {
            service: valid.manifest.service.clone(),
            release: valid.manifest.release.clone(),
            artifact_version_id,
            pipeline_execution_id: execution_id,
        })
    }

    /// The artifact version (a crashed predecessor's, or a new one) and the execution started
    /// from it: (artifact version id, pipeline execution id).
    async fn artifact_and_start(
        &self,
        claimed: &Claimed,
        valid: &Valid,
        now: SystemTime,
    ) -> Result<(String, String)> {
        let artifact_version_id = match claimed.record.artifact_version_id.clone() {
            Some(v) => v,
            None => self.write_artifact(valid, now).await?,
        };
        let token = request_token(valid);
        let execution = pipeline::Execution {
            pipeline: &valid.service.config.pipeline,
            service: &valid.manifest.service,
            release: &valid.manifest.release,
            artifact_version_id: &artifact_version_id,
            rollback: false,
            client_request_token: &token,
        };
        let execution_id = self.start_once(&execution, claimed.resumed).await?;
        Ok((artifact_version_id, execution_id))
    }

    /// Starts the execution, unless a resumed release's crashed predecessor already did.
    async fn start_once(
        &self,
        execution: &pipeline::Execution<'_>,
        resumed: bool,
    ) -> Result<String> {
        let cp = &self.clients.codepipeline;
        if resumed
            && let Some(id) =
                pipeline::find_execution(cp, execution.pipeline, execution.artifact_version_id)
                    .await?
        {
            tracing::info!(pipeline_execution_id = %id, "the crashed invocation had started the pipeline; following that execution");
            return Ok(id);
        }
        pipeline::start(cp, execution).await
    }

    /// Lists the release in the index, by the time it was claimed (a resumed claim keeps its
    /// time, so this writes the same entry again).
    async fn index_release(&self, record: &ReleaseRecord) -> Result<()> {
        let Some(at) = index::millis(&record.created_at) else {
            return Err(Error::Corrupt(format!(
                "release record {}/{} has no readable created_at",
                record.service, record.release
            )));
        };
        self.index
            .put(&record.service, List::Releases, at, &record.release)
            .await
    }

    /// Zips the artifact and writes it as a new version of `artifacts/<service>/source.zip`.
    async fn write_artifact(&self, valid: &Valid, now: SystemTime) -> Result<String> {
        let (service, manifest, rendered) = (&valid.service, &valid.manifest, &valid.rendered);
        let release_doc = ArtifactRelease {
            schema: ARTIFACT_SCHEMA.into(),
            service: manifest.service.clone(),
            release: manifest.release.clone(),
            task_family: service.config.task_family.clone(),
            manifest: valid.source.clone(),
            images: rendered.images.clone(),
            migration: manifest.migration_plan(service),
            post_migration: manifest.post_migration_plan(service),
            rollback_of: manifest.rollback_of.clone(),
            rendered_at: timestamp(now),
            scan: service.config.scan.clone(),
            target: Some(deploy_target(valid)),
        };
        let zip = artifact::zip_artifact(
            &rendered.task_definition,
            &rendered.appspec,
            &rendered.image_detail,
            &release_doc,
        )
        .map_err(|e| Error::Corrupt(format!("zipping the artifact: {e}")))?;
        let artifact_key = keys::artifact_key(&manifest.service);
        let metadata = [
            (ARTIFACT_MANIFEST_VERSION, valid.source.version_id.as_str()),
            ("berth-release", manifest.release.as_str()),
        ];
        let written = self
            .bucket
            .put_with_metadata(
                &artifact_key,
                zip,
                "application/zip",
                Condition::None,
                &metadata,
            )
            .await?;
        match written {
            Written::Ok {
                version_id: Some(v),
                ..
            } => Ok(v),
            _ => Err(Error::Config(format!(
                "s3://{}/{artifact_key} has no version id: the release bucket must have versioning enabled",
                self.bucket.name
            ))),
        }
    }

    async fn save(&self, claimed: &mut Claimed) -> Result<()> {
        match self
            .bucket
            .put_json(
                &claimed.key,
                &claimed.record,
                Condition::Matches(&claimed.etag),
            )
            .await?
        {
            Written::Ok { etag, .. } => {
                claimed.etag = etag;
                Ok(())
            }
            Written::ConditionFailed => Err(Error::Busy {
                service: claimed.record.service.clone(),
                release: claimed.record.release.clone(),
                until: "the record changed under this invocation".into(),
            }),
        }
    }
}

/// StartPipelineExecution's idempotency token: the manifest version, so a retried start of the
/// same upload is the same request. One group upload starts one execution per member: each
/// member's token also names its service.
fn request_token(valid: &Valid) -> String {
    let source = &valid.source;
    let mut parts = vec![&*source.bucket, &*source.key, &*source.version_id];
    if source.key.starts_with("groups/") {
        parts.push(&valid.manifest.service);
    }
    pipeline::request_token(&parts)
}

/// The claim: a new record in `RENDERING`, leased to this invocation until `lease_until`.
pub(super) fn new_record(valid: &Valid, now: SystemTime, lease_until: SystemTime) -> ReleaseRecord {
    let (service, manifest) = (&valid.service, &valid.manifest);
    ReleaseRecord {
        schema: RECORD_SCHEMA.into(),
        service: manifest.service.clone(),
        release: manifest.release.clone(),
        status: ReleaseStatus::Rendering,
        manifest: valid.source.clone(),
        pipeline: service.config.pipeline.clone(),
        task_family: service.config.task_family.clone(),
        cluster: Some(service.config.cluster.clone()),
        ecs_service: service.config.ecs_service.clone(),
        images: valid.rendered.images.clone(),
        migration_plan: manifest.migration_plan(service),
        migration: None,
        post_migration_plan: manifest.post_migration_plan(service),
        post_migration: None,
        rollback_of: manifest.rollback_of.clone(),
        promoted_from: manifest.promoted_from.clone(),
        group: manifest.group.clone(),
        artifact_version_id: None,
        pipeline_execution_id: None,
        created_at: timestamp(now),
        updated_at: timestamp(now),
        pipeline_started_at: None,
        finished_at: None,
        lease_until_epoch: Some(epoch_seconds(lease_until)),
        redeployments: Vec::new(),
        verifications: Vec::new(),
        interventions: Vec::new(),
        scan: None,
        deregistration: None,
        deployed: None,
        deployment: None,
    }
}

/// What the release is deployed to: the service (or task target) and its cluster, the
/// containers the manifest names, the primary container, and the service's deployment.
fn deploy_target(valid: &Valid) -> DeployTarget {
    let config = &valid.service.config;
    DeployTarget {
        cluster: config.cluster.clone(),
        ecs_service: config.ecs_service.clone().unwrap_or_default(),
        task_target: config.task_target.clone(),
        requested: valid.manifest.images.keys().cloned().collect(),
        primary: crate::plan::primary_container(config, &valid.rendered.images)
            .map(|(c, _)| c.clone())
            .unwrap_or_default(),
        deployment: config
            .ecs_service
            .is_some()
            .then(|| config.deployment_target()),
    }
}
