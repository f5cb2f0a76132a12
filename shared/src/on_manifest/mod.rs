//! `on-manifest`: S3 `ObjectCreated` on `manifests/` → validated manifest → every image pinned
//! by digest → artifact version → release record → pipeline execution. On `groups/`: a
//! release group, every member checked, then each released the same way.
//!
//! - `upload`: which records of the notification name manifest uploads (pure).
//! - `release`: the at-least-once protocol of one upload: check, claim, deploy, or reject.
//! - `claim`: creating the release record, or what an existing one means.
//! - `deploy`: artifact version, pipeline execution, final record.
//! - `group`: a group upload: check every member, start each, keep the group record.
//! - `render`: the template and digests a release resolves (also `berth render`'s dry run).

mod claim;
mod deploy;
mod group;
mod release;
mod render;
mod seen;
mod upload;

use std::time::SystemTime;

use aws_lambda_events::event::s3::S3Event;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use crate::aws::{self, Clients};
use crate::error::{Error, Result};
use crate::groups::GroupRecords;
use crate::index::Index;
use crate::invocation::{Invocation, event_of};
use crate::records::Records;
use crate::registry::Registry;
use crate::settings::Settings;
use crate::store::Bucket;

pub use group::MEMBER_CONCURRENCY;
pub use render::{Rendered, Rendering, render};
pub use upload::{Skipped, Upload, uploads};

/// Everything `on-manifest` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub clients: Clients,
    pub settings: Settings,
    pub registry: Registry,
    pub bucket: Bucket,
    pub records: Records,
    pub index: Index,
    pub groups: GroupRecords,
    /// Where each service's ECS service was found by earlier releases in this instance.
    pub seen: seen::Seen,
}

/// How one upload ended. Every variant is a success for Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
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
        #[serde(rename = "rejection")]
        rejection_key: String,
        errors: Vec<String>,
    },
    Ignored {
        reason: String,
    },
    /// A group upload: each member's own outcome.
    Group {
        group: String,
        release: String,
        members: Vec<Outcome>,
    },
}

/// The function's answer: one outcome per record of the notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    pub results: Vec<Outcome>,
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        // What a release calls, in order; S3 twice, as the artifact and the index entry are
        // written at once.
        let bucket = aws::Endpoint::Bucket(&settings.release_bucket);
        let endpoints = [
            bucket,
            aws::SSM,
            aws::ECS,
            aws::ECR,
            bucket,
            aws::CODEPIPELINE,
        ];
        let clients = Clients::for_lambda(&endpoints)?;
        Ok(Self::new(clients, settings))
    }

    pub fn new(clients: Clients, settings: Settings) -> Self {
        let registry = Registry::new(clients.ssm.clone(), &settings.services_prefix);
        let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
        Self {
            records: Records::new(bucket.clone()),
            index: Index::new(bucket.clone()),
            groups: GroupRecords::new(bucket.clone()),
            seen: seen::Seen::default(),
            clients,
            settings,
            registry,
            bucket,
        }
    }

    /// The Lambda handler.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Output> {
        let inv = Invocation::from_context(&event.context);
        match event_of::<S3Event>(event.payload, "an S3 notification") {
            Ok(notification) => self.on_event(notification, &inv).await,
            Err(reason) => Ok(Output {
                results: vec![Outcome::Ignored { reason }],
            }),
        }
    }

    /// Every manifest upload in an S3 notification. `Err` (the first fault) only when an
    /// upload could not be processed; the others were processed regardless.
    pub async fn on_event(&self, event: S3Event, inv: &Invocation) -> Result<Output> {
        let home = inv.home(self.clients.region());
        let mut results = Vec::new();
        let mut first_error: Option<Error> = None;
        for upload in uploads(&event) {
            let upload = match upload {
                Ok(u) => u,
                Err(Skipped(reason)) => {
                    tracing::info!(%reason, "record ignored");
                    results.push(Outcome::Ignored { reason });
                    continue;
                }
            };
            let span = tracing::info_span!(
                "manifest",
                manifest = %upload.key,
                version_id = upload.version_id.as_deref().unwrap_or("-")
            );
            // Boxed: the release future is large, and nesting it in the runtime's own futures
            // otherwise exceeds the compiler's layout depth in optimized builds.
            let released = Box::pin(self.release(&upload, &home, SystemTime::now(), inv.deadline))
                .instrument(span.clone())
                .await;
            match released {
                Ok(outcome) => {
                    span.in_scope(|| log(&outcome));
                    results.push(outcome);
                }
                Err(e) => {
                    span.in_scope(|| {
                        tracing::error!(error = %e, kind = e.kind(), "manifest could not be processed; the invocation will be retried")
                    });
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(Output { results }),
        }
    }
}

fn log(outcome: &Outcome) {
    match outcome {
        Outcome::Started { .. } | Outcome::Rejected { .. } | Outcome::Group { .. } => {}
        Outcome::Duplicate {
            service,
            release,
            pipeline_execution_id,
        } => {
            tracing::info!(%service, %release, %pipeline_execution_id, "repeated delivery; pipeline already started")
        }
        Outcome::Ignored { reason } => tracing::info!(%reason, "manifest ignored"),
    }
}
