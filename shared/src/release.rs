//! The release use case behind `on-manifest`: manifest → validated → every image pinned by
//! digest → artifact version → release record → pipeline execution.
//!
//! Delivery is at least once, so the release record is the guard: it is created with
//! `If-None-Match: *`, updated with `If-Match`, and carries a lease so a retry after a crash
//! resumes where the crashed invocation stopped, while a duplicate of a finished delivery
//! changes nothing.

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_lambda_events::event::s3::S3Event;
use serde::Serialize;

use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::images::{self, Home, ImageRef, Reference};
use crate::keys::{self, MAX_MANIFEST_BYTES, ManifestKey};
use crate::manifest::{self, Problem, ValidManifest};
use crate::pipeline;
use crate::record::{RECORD_SCHEMA, ReleaseRecord, ReleaseStatus, epoch_seconds, timestamp};
use crate::registry::{Registry, Service};
use crate::render::{self, ARTIFACT_SCHEMA, ArtifactRelease, ManifestSource};
use crate::settings::Settings;
use crate::store::{Bucket, Condition, Stored, Written};
use crate::taskdef;

/// User metadata on each artifact version naming the manifest version it was rendered from,
/// so a resumed release finds the artifact a crashed invocation wrote.
const ARTIFACT_MANIFEST_VERSION: &str = "berth-manifest-version";

/// How many recent artifact versions a resumed release searches.
const RESUME_WINDOW: i32 = 20;

/// Everything `on-manifest` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Releaser {
    pub clients: Clients,
    pub settings: Settings,
    pub registry: Registry,
    pub bucket: Bucket,
}

impl Releaser {
    pub fn new(clients: Clients, settings: Settings) -> Self {
        let registry = Registry::new(clients.ssm.clone(), &settings.services_prefix);
        let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
        Self {
            clients,
            settings,
            registry,
            bucket,
        }
    }
}

/// One manifest object version named by an S3 notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    /// The decoded object key.
    pub key: String,
    pub version_id: Option<String>,
}

/// The manifest uploads of an S3 notification; other records are returned as reasons to skip.
pub fn uploads(event: &S3Event) -> Vec<Result<Upload, String>> {
    event
        .records
        .iter()
        .map(|r| {
            let name = r.event_name.as_deref().unwrap_or_default();
            if !name.starts_with("ObjectCreated:") {
                return Err(format!("not an object creation ({name:?})"));
            }
            let raw = r.s3.object.key.as_deref().unwrap_or_default();
            let key = keys::decode_event_key(raw).map_err(|e| e.to_string())?;
            if !key.starts_with("manifests/") {
                return Err(format!("{key:?} is not under manifests/"));
            }
            Ok(Upload {
                bucket: r.s3.bucket.name.clone().unwrap_or_default(),
                key,
                version_id: r.s3.object.version_id.clone().filter(|v| !v.is_empty()),
            })
        })
        .collect()
}

/// How one upload ended. Every variant is a success for Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Started {
        service: String,
        release: String,
        artifact_version_id: String,
        pipeline_execution_id: String,
    },
    /// A repeated delivery of an upload that already started its pipeline.
    Duplicate {
        service: String,
        release: String,
        pipeline_execution_id: String,
    },
    Rejected {
        rejection_key: String,
        errors: Vec<String>,
    },
    Ignored {
        reason: String,
    },
}

/// `rejected/<service>/<release>.json` (CONTRACT §3).
#[derive(Debug, Serialize)]
struct Rejection<'a> {
    manifest: &'a str,
    version_id: Option<&'a str>,
    errors: &'a [String],
}

impl Releaser {
    /// Processes one manifest upload. `lease_until` is this invocation's deadline: until then no
    /// other delivery of the same upload takes the release over.
    pub async fn release(
        &self,
        upload: &Upload,
        home: &Home,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Outcome> {
        if upload.bucket != self.bucket.name {
            return Ok(Outcome::Ignored {
                reason: format!(
                    "object is in bucket {:?}, not the release bucket {:?}",
                    upload.bucket, self.bucket.name
                ),
            });
        }
        let Some(version_id) = upload.version_id.as_deref() else {
            return Err(Error::Config(format!(
                "s3://{}/{} arrived without a version id: the release bucket must have versioning enabled",
                upload.bucket, upload.key
            )));
        };
        let key = match ManifestKey::parse(&upload.key) {
            Ok(k) => k,
            Err(e) => {
                let rejection_key = keys::rejected_key_for(&upload.key);
                return self
                    .reject(upload, rejection_key, vec![e.to_string()])
                    .await;
            }
        };
        let rejection_key = keys::rejected_key(&key.service, &key.release);
        let record_key = keys::release_key(&key.service, &key.release);

        let body = match self
            .bucket
            .get(&upload.key, Some(version_id), Some(MAX_MANIFEST_BYTES))
            .await?
        {
            None => {
                return Ok(Outcome::Ignored {
                    reason: format!(
                        "manifest version {version_id} of {} no longer exists",
                        upload.key
                    ),
                });
            }
            Some(Err(size)) => {
                let problem = Problem::new(
                    "manifest",
                    format!("is {size} bytes; the limit is {MAX_MANIFEST_BYTES} bytes (256 KiB)"),
                );
                return self
                    .reject_unless_released(
                        upload,
                        &key,
                        rejection_key,
                        vec![problem.to_string()],
                        now,
                    )
                    .await;
            }
            Some(Ok(obj)) => obj.body,
        };

        let service = self.registry.service(&key.service, home).await?;
        let mut errors: Vec<String> = match &service {
            Ok(_) => Vec::new(),
            Err(reasons) => reasons.clone(),
        };
        let manifest = match manifest::validate(&body, &key, service.as_ref().ok()) {
            Ok(m) => Some(m),
            Err(p) => {
                errors.extend(strings(p));
                None
            }
        };
        let (Ok(service), Some(manifest), true) = (service, manifest, errors.is_empty()) else {
            return self
                .reject_unless_released(upload, &key, rejection_key, errors, now)
                .await;
        };

        let rendered = match self.render(&service, &manifest).await? {
            Ok(r) => r,
            Err(problems) => {
                return self
                    .reject_unless_released(upload, &key, rejection_key, strings(problems), now)
                    .await;
            }
        };

        let source = ManifestSource {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            version_id: version_id.to_owned(),
        };
        let mut record = ReleaseRecord {
            schema: RECORD_SCHEMA.into(),
            service: key.service.clone(),
            release: key.release.clone(),
            status: ReleaseStatus::Rendering,
            manifest: source.clone(),
            pipeline: service.config.pipeline.clone(),
            task_family: service.config.task_family.clone(),
            images: rendered.images.clone(),
            migration_plan: manifest.migration_plan(&service),
            migration: None,
            rollback_of: manifest.rollback_of.clone(),
            artifact_version_id: None,
            pipeline_execution_id: None,
            created_at: timestamp(now),
            updated_at: timestamp(now),
            pipeline_started_at: None,
            finished_at: None,
            lease_until_epoch: Some(epoch_seconds(lease_until)),
            redeployments: Vec::new(),
        };
        // The claim: creating the record succeeds for exactly one delivery. Only when it
        // already exists is it read, to tell a repeated delivery from a conflicting upload.
        let etag = match self
            .bucket
            .put_json(&record_key, &record, Condition::Absent)
            .await?
        {
            Written::Ok { etag, .. } => etag,
            Written::ConditionFailed => {
                let existing: Option<Stored<ReleaseRecord>> =
                    self.bucket.get_json(&record_key).await?;
                let stored = match previous_claim(existing, upload, &key, now) {
                    Previous::Takeover(stored) => stored,
                    Previous::Done(outcome) => return Ok(outcome),
                    Previous::Conflict(problem) => {
                        return self
                            .reject(upload, rejection_key, vec![problem.to_string()])
                            .await;
                    }
                    Previous::Busy(until) => {
                        return Err(Error::Busy {
                            service: key.service,
                            release: key.release,
                            until,
                        });
                    }
                };
                // Resuming a crashed delivery: reuse the artifact it wrote, if it got that far,
                // so a pipeline it may have started and the record agree.
                record.artifact_version_id = self
                    .bucket
                    .find_version(
                        &keys::artifact_key(&key.service),
                        ARTIFACT_MANIFEST_VERSION,
                        version_id,
                        RESUME_WINDOW,
                    )
                    .await?;
                record.created_at = stored.value.created_at.clone();
                match self
                    .bucket
                    .put_json(&record_key, &record, Condition::Matches(&stored.etag))
                    .await?
                {
                    Written::Ok { etag, .. } => etag,
                    Written::ConditionFailed => {
                        return Err(Error::Busy {
                            service: key.service,
                            release: key.release,
                            until: "another invocation claimed it just now".into(),
                        });
                    }
                }
            }
        };
        let claimed = Claimed {
            key: record_key,
            record,
            etag,
        };
        match self
            .deploy(claimed, &service, &manifest, rendered, source, now)
            .await
        {
            Ok(outcome) => Ok(outcome),
            Err((e, mut c)) => {
                // Give the release back so Lambda's retry need not wait for the lease.
                c.record.lease_until_epoch = None;
                if let Err(release_err) = self
                    .bucket
                    .put_json(&c.key, &c.record, Condition::Matches(&c.etag))
                    .await
                {
                    tracing::warn!(error = %release_err, "could not release the claim; it lapses at the lease time");
                }
                Err(e)
            }
        }
    }

    /// Artifact, pipeline, record: the steps after the claim. The record is written once, at
    /// the end; a crash before that is resumed through the artifact's metadata. On failure the
    /// claim is handed back so the caller can release it.
    async fn deploy(
        &self,
        mut claimed: Claimed,
        service: &Service,
        manifest: &ValidManifest,
        rendered: Rendered,
        source: ManifestSource,
        now: SystemTime,
    ) -> std::result::Result<Outcome, (Error, Claimed)> {
        let artifact_version_id = match claimed.record.artifact_version_id.clone() {
            Some(v) => v,
            None => {
                let release_doc = ArtifactRelease {
                    schema: ARTIFACT_SCHEMA.into(),
                    service: manifest.service.clone(),
                    release: manifest.release.clone(),
                    task_family: service.config.task_family.clone(),
                    manifest: source.clone(),
                    images: rendered.images.clone(),
                    migration: manifest.migration_plan(service),
                    rollback_of: manifest.rollback_of.clone(),
                    rendered_at: timestamp(now),
                };
                let zip = match render::zip_artifact(
                    &rendered.task_definition,
                    &rendered.appspec,
                    &rendered.image_detail,
                    &release_doc,
                ) {
                    Ok(z) => z,
                    Err(e) => {
                        let e = Error::Corrupt(format!("zipping the artifact: {e}"));
                        return Err((e, claimed));
                    }
                };
                let artifact_key = keys::artifact_key(&manifest.service);
                let written = match self
                    .bucket
                    .put_with_metadata(
                        &artifact_key,
                        zip,
                        "application/zip",
                        Condition::None,
                        &[
                            (ARTIFACT_MANIFEST_VERSION, &source.version_id),
                            ("berth-release", &manifest.release),
                        ],
                    )
                    .await
                {
                    Ok(w) => w,
                    Err(e) => return Err((e, claimed)),
                };
                let Written::Ok {
                    version_id: Some(v),
                    ..
                } = written
                else {
                    let e = Error::Config(format!(
                        "s3://{}/{artifact_key} has no version id: the release bucket must have versioning enabled",
                        self.bucket.name
                    ));
                    return Err((e, claimed));
                };
                claimed.record.artifact_version_id = Some(v.clone());
                v
            }
        };
        let token = pipeline::request_token(&[&source.bucket, &source.key, &source.version_id]);
        let started = pipeline::start(
            &self.clients.codepipeline,
            &pipeline::Execution {
                pipeline: &service.config.pipeline,
                service: &manifest.service,
                release: &manifest.release,
                artifact_version_id: &artifact_version_id,
                rollback: false,
                client_request_token: &token,
            },
        )
        .await;
        let execution_id = match started {
            Ok(id) => id,
            Err(e) => return Err((e, claimed)),
        };
        let started_at = timestamp(SystemTime::now());
        claimed.record.status = ReleaseStatus::InProgress;
        claimed.record.pipeline_execution_id = Some(execution_id.clone());
        claimed.record.pipeline_started_at = Some(started_at.clone());
        claimed.record.updated_at = started_at;
        claimed.record.lease_until_epoch = None;
        if let Err(e) = self.save(&mut claimed).await {
            return Err((e, claimed));
        }
        tracing::info!(
            service = %manifest.service,
            release = %manifest.release,
            artifact_version_id = %artifact_version_id,
            pipeline_execution_id = %execution_id,
            images = ?claimed.record.images,
            "pipeline started"
        );
        Ok(Outcome::Started {
            service: manifest.service.clone(),
            release: manifest.release.clone(),
            artifact_version_id,
            pipeline_execution_id: execution_id,
        })
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

    /// Template, digests and the artifact files, or every problem that prevents them. Public
    /// so the CLI's dry run renders exactly what a release would.
    pub async fn render(
        &self,
        service: &Service,
        manifest: &ValidManifest,
    ) -> Result<std::result::Result<Rendered, Vec<Problem>>> {
        let cfg = &service.config;
        let template = match taskdef::latest_active(&self.clients.ecs, &cfg.task_family).await? {
            Ok(t) => t,
            Err(reason) => return Ok(Err(vec![Problem::new("task_family", reason)])),
        };
        let in_template = render::container_names(&template);
        let mut problems = Vec::new();
        // Which image each registry container runs: the release's, or the one it runs today.
        let mut wanted: BTreeMap<String, (ImageRef, String)> = BTreeMap::new();
        let mut running: BTreeMap<String, String> = BTreeMap::new();
        for (container, image) in &manifest.images {
            if in_template.contains(container) {
                wanted.insert(
                    container.clone(),
                    (image.clone(), format!("images.{container}")),
                );
            } else {
                problems.push(Problem::new(
                    format!("images.{container}"),
                    format!(
                        "container {container:?} is not in task definition family {:?}",
                        cfg.task_family
                    ),
                ));
            }
        }
        for (container, repo) in &service.repositories {
            if manifest.images.contains_key(container) {
                continue;
            }
            let Some(current) = render::container_image(&template, container) else {
                continue;
            };
            let field = format!("task_definition.{container}");
            match ImageRef::parse(current) {
                // Already pinned in what runs today: kept as is, no lookup.
                Ok(ImageRef {
                    reference: Reference::Digest(digest),
                    repository,
                }) if repository == *repo => {
                    running.insert(container.clone(), repo.pinned(&digest));
                }
                Ok(r) if r.repository == *repo => {
                    wanted.insert(container.clone(), (r, field));
                }
                Ok(_) => problems.push(Problem::new(
                    field,
                    format!(
                        "the template runs {current:?}, outside the registry repository {repo}; berth pins every registry container by digest"
                    ),
                )),
                Err(e) => problems.push(Problem::new(field, format!("the template's image: {e}"))),
            }
        }
        if !in_template.contains(&cfg.appspec.container) {
            problems.push(Problem::new(
                "appspec.container",
                format!(
                    "registry names {:?}, which is not in task definition family {:?}",
                    cfg.appspec.container, cfg.task_family
                ),
            ));
        }
        if let Some(plan) = manifest.migration_plan(service)
            && !in_template.contains(&plan.container)
        {
            problems.push(Problem::new(
                "migration.container",
                format!(
                    "registry names {:?}, which is not in task definition family {:?}",
                    plan.container, cfg.task_family
                ),
            ));
        }
        let resolution = images::resolve(
            |region| self.clients.ecr_in(region),
            wanted.values().map(|(r, _)| r.clone()),
        )
        .await?;
        let mut pinned = running;
        for (container, (image, field)) in &wanted {
            match resolution.get(image) {
                Some(Ok(digest)) => {
                    pinned.insert(container.clone(), image.repository.pinned(digest));
                }
                Some(Err(reason)) => problems.push(Problem::new(field.clone(), reason.clone())),
                None => problems.push(Problem::new(field.clone(), "was not looked up")),
            }
        }
        if !problems.is_empty() {
            return Ok(Err(problems));
        }
        let task_definition = match render::render_task_definition(&template, &pinned) {
            Ok(td) => td,
            Err(errors) => {
                return Ok(Err(errors
                    .into_iter()
                    .map(|e| Problem::new("task_definition", e))
                    .collect()));
            }
        };
        let primary = [
            cfg.push_trigger.as_ref().map(|t| t.container.as_str()),
            Some(cfg.appspec.container.as_str()),
        ]
        .into_iter()
        .flatten()
        .find_map(|c| pinned.get(c))
        .or_else(|| pinned.values().next())
        .cloned()
        .unwrap_or_default();
        Ok(Ok(Rendered {
            appspec: render::render_appspec(&cfg.appspec),
            image_detail: render::render_image_detail(&primary),
            task_definition,
            images: pinned,
        }))
    }

    /// Rejects, unless this exact upload was already released (a repeated delivery whose
    /// checks would fail today, e.g. after a tag was deleted): that stays a duplicate. A
    /// different upload of an existing release gets that conflict listed first.
    async fn reject_unless_released(
        &self,
        upload: &Upload,
        key: &ManifestKey,
        rejection_key: String,
        mut errors: Vec<String>,
        now: SystemTime,
    ) -> Result<Outcome> {
        let record_key = keys::release_key(&key.service, &key.release);
        let existing: Option<Stored<ReleaseRecord>> = self.bucket.get_json(&record_key).await?;
        match previous_claim(existing, upload, key, now) {
            Previous::Done(outcome) => return Ok(outcome),
            Previous::Conflict(problem) => errors.insert(0, problem.to_string()),
            Previous::Takeover(_) | Previous::Busy(_) => {}
        }
        self.reject(upload, rejection_key, errors).await
    }

    async fn reject(
        &self,
        upload: &Upload,
        rejection_key: String,
        errors: Vec<String>,
    ) -> Result<Outcome> {
        tracing::error!(
            manifest = %upload.key,
            version_id = upload.version_id.as_deref().unwrap_or("-"),
            rejection = %rejection_key,
            errors = ?errors,
            "manifest rejected"
        );
        let doc = Rejection {
            manifest: &upload.key,
            version_id: upload.version_id.as_deref(),
            errors: &errors,
        };
        self.bucket
            .put_json(&rejection_key, &doc, Condition::None)
            .await?;
        Ok(Outcome::Rejected {
            rejection_key,
            errors,
        })
    }
}

/// What an existing release record means for this upload.
enum Previous {
    /// No record, or this upload's own claim that lapsed: (re)claim it.
    Takeover(Box<Stored<ReleaseRecord>>),
    /// This upload already started its pipeline.
    Done(Outcome),
    /// Another upload owns the release.
    Conflict(Problem),
    /// This upload's claim is held by a live invocation until the given time.
    Busy(String),
}

fn previous_claim(
    existing: Option<Stored<ReleaseRecord>>,
    upload: &Upload,
    key: &ManifestKey,
    now: SystemTime,
) -> Previous {
    let Some(stored) = existing else {
        return Previous::Busy("the record vanished while being claimed".into());
    };
    let r = &stored.value;
    if r.manifest.key != upload.key
        || Some(r.manifest.version_id.as_str()) != upload.version_id.as_deref()
    {
        return Previous::Conflict(Problem::new(
            "release",
            format!(
                "{:?} of service {:?} already exists (from manifest version {}, status {:?}); a release is immutable, upload it under a new release name",
                key.release, key.service, r.manifest.version_id, r.status
            ),
        ));
    }
    if let Some(exec) = &r.pipeline_execution_id {
        return Previous::Done(Outcome::Duplicate {
            service: key.service.clone(),
            release: key.release.clone(),
            pipeline_execution_id: exec.clone(),
        });
    }
    match r.lease_until_epoch {
        Some(t) if t > epoch_seconds(now) => Previous::Busy(format!("epoch {t}")),
        _ => Previous::Takeover(Box::new(stored)),
    }
}

/// The record this invocation owns, with the ETag of its last write.
#[derive(Debug)]
struct Claimed {
    key: String,
    record: ReleaseRecord,
    etag: String,
}

/// The artifact files of a release, before zipping.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub task_definition: serde_json::Value,
    pub appspec: String,
    pub image_detail: serde_json::Value,
    /// Container → pinned image, for every registry container.
    pub images: BTreeMap<String, String>,
}

fn strings(problems: Vec<Problem>) -> Vec<String> {
    problems.into_iter().map(|p| p.to_string()).collect()
}
