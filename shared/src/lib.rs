//! berth's library: the AWS adapters and the Lambda functions' handlers, testable without
//! Lambda. The decisions are the crate `berth_core` (no AWS SDK, no I/O); its modules are
//! re-exported here under the same names, so `berth::manifest` is `berth_core::manifest`.
//!
//! The map, from the inside out:
//!
//! - **Pure cores** (`berth_core`, re-exported): [`keys`], [`json`], [`manifest`], [`registry`]
//!   (parsing), [`images`] (references), [`plan`], [`render`], [`claim`], [`migration`],
//!   [`history`], [`push`], [`sweep`] (the lost-push sweep's rotation), [`record`], [`job`],
//!   [`scan`] (verdicts), [`deployment`] (phases), [`revisions`] (plans), [`index`] (keys),
//!   [`doctor`], [`time`].
//! - **AWS adapters** (thin, over the SDK): [`aws`] (clients), [`store`] (S3 reads and
//!   conditional writes), [`records`] (the release-record update loop), [`index::Index`] (the
//!   release index: history newest first in bounded requests), [`taskdef`] (the template as raw
//!   JSON), [`pipeline`] (starting executions), [`images::resolve`] (ECR digests),
//!   [`registry::Registry`] (SSM), [`push_index::PushIndex`] (which services a repository's
//!   pushes may release), [`deployment::Deployments`] (CodeDeploy: promote, rollback),
//!   [`notify`] (Slack, SNS), [`http`] (the one HTTPS client: AWS through [`connector`], checks
//!   and webhooks; [`warm`] opens connections ahead), [`revisions`] (listing and deregistering
//!   task definition revisions), [`tasks`] (the tasks berth starts itself: RunTask,
//!   DescribeTasks), [`retry`] (named retry policies).
//! - **Functions** (one module each: a `Context` built once at init and a `handle`):
//!   [`on_image_push`], [`on_manifest`], [`migrate`], [`deploy`] (the Deploy action of services
//!   ECS deploys itself), [`scan`] (the scan gate),
//!   [`on_pipeline_event`], [`verify`]; and [`releases`], the history and rollback the CLI uses.
//! - Shared plumbing: [`jobs`] (CodePipeline job inputs and results), [`error`] (faults and
//!   their Lambda `errorType`), [`settings`] (environment), [`invocation`] (what the runtime
//!   tells an invocation).

pub use berth_core::{
    claim, deployed, doctor, history, job, json, keys, manifest, migration, one_off, plan, push,
};
pub use berth_core::{platform, record, render, service_deployment, sweep, task_target, time};

pub mod aws;
pub mod connector;
pub mod deploy;
pub mod deployment;
pub mod error;
pub mod group;
pub mod groups;
pub mod http;
pub mod images;
pub mod index;
pub mod invocation;
pub mod jobs;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod on_image_push;
pub mod on_manifest;
pub mod on_pipeline_event;
pub mod operate;
pub mod pipeline;
pub mod push_index;
pub mod records;
pub mod register;
pub mod registry;
pub mod releases;
pub mod retry;
pub mod revisions;
pub mod scan;
pub mod service_deployments;
pub mod settings;
pub mod stats;
pub mod store;
pub mod task_targets;
pub mod taskdef;
pub mod tasks;
pub mod verify;
pub mod warm;

pub use error::{Error, Result};

/// Builds a function's context at init. A failure is logged with its `errorType` (as an
/// invocation's error is reported) before the process exits with it, so the function's log
/// says what kind of fault stopped it — `Config` for a missing variable, `AccessDenied`, ...
pub async fn init<C>(
    context: impl std::future::Future<Output = Result<C>>,
) -> std::result::Result<C, lambda_runtime::Error> {
    context.await.map_err(|e| {
        tracing::error!(error_type = e.kind(), error = %e, "init failed");
        e.into()
    })
}

/// Sets up logging as Lambda expects, as lambda_runtime's default subscriber does: JSON lines
/// when `AWS_LAMBDA_LOG_FORMAT` is `JSON`, text otherwise; the level from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (a level name), else INFO. No time (CloudWatch
/// stamps each line) and no target.
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let level = settings::log_level()
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = settings::json_logs();
    let logs = tracing_subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_max_level(level);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
}
