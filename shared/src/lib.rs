//! berth's library: everything the Lambda functions and the CLI do, testable without Lambda.
//!
//! The map, from the inside out:
//!
//! - **Pure cores** (no I/O, table-tested): [`keys`] (bucket layout, S3 key decoding),
//!   [`json`] (strict parsing: duplicate keys named), [`manifest`] (strict validation, every
//!   problem at once), [`registry`] (entry parsing),
//!   [`images`] (image references), [`plan`] (which image each container runs), [`render`]
//!   (the artifact files), [`claim`] (the release claim rules), [`migration`] (what a task's
//!   state means), [`history`] (execution states, last known good), [`push`] (which pushes
//!   release what), [`record`] (the release record), [`retry`] (named retry policies),
//!   [`doctor`] (`berth doctor`'s verdicts on a service's setup, from facts the CLI reads).
//! - **AWS adapters** (thin, over the SDK): [`aws`] (clients), [`store`] (S3 reads and
//!   conditional writes), [`records`] (the release-record update loop), [`index`] (the
//!   release index: history newest first in bounded requests), [`taskdef`] (the
//!   template as raw JSON), [`pipeline`] (starting executions), [`images::resolve`] (ECR
//!   digests), [`registry::Registry`] (SSM), [`deployment`] (CodeDeploy blue/green phases,
//!   promote, rollback), [`notify`] (Slack, SNS), [`http`] (the one HTTPS client: AWS through
//!   [`connector`], checks and webhooks; [`warm`] opens connections ahead),
//!   [`revisions`] (task definition revisions: which to deregister, pure, in `revisions::plan`).
//! - **Functions** (one module each: a `Context` built once at init and a `handle`):
//!   [`on_image_push`], [`on_manifest`], [`migrate`], [`scan`] (the scan gate),
//!   [`on_pipeline_event`], [`verify`]; and
//!   [`releases`], the history and rollback the CLI uses.
//! - Shared plumbing: [`jobs`] (CodePipeline job inputs and results), [`error`] (faults and
//!   their Lambda `errorType`), [`settings`]
//!   (environment), [`invocation`] (what the runtime tells an invocation).

pub mod aws;
pub mod claim;
pub mod connector;
pub mod deployment;
pub mod doctor;
pub mod error;
pub mod group;
pub mod groups;
pub mod history;
pub mod http;
pub mod images;
pub mod index;
pub mod invocation;
pub mod jobs;
pub mod json;
pub mod keys;
pub mod manifest;
pub mod metrics;
pub mod migrate;
pub mod migration;
pub mod notify;
pub mod on_image_push;
pub mod on_manifest;
pub mod on_pipeline_event;
pub mod operate;
pub mod pipeline;
pub mod plan;
pub mod push;
pub mod record;
pub mod records;
pub mod registry;
pub mod releases;
pub mod render;
pub mod retry;
pub mod revisions;
pub mod scan;
pub mod settings;
pub mod stats;
pub mod store;
pub mod taskdef;
pub mod verify;
pub mod warm;

pub use error::{Error, Result};

/// Sets up logging as Lambda expects, as lambda_runtime's default subscriber does: JSON lines
/// when `AWS_LAMBDA_LOG_FORMAT` is `JSON`, text otherwise; the level from
/// `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (a level name), else INFO. No time (CloudWatch
/// stamps each line) and no target.
pub fn init_tracing() {
    use tracing_subscriber::filter::LevelFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG"));
    let level = level
        .ok()
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
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
