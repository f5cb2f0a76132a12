//! Test harness: a moto server on 127.0.0.1 per test, SDK clients pointed at it, seeding of a
//! sample service, real AWS event fixtures, local stand-ins for what moto lacks, and a Lambda
//! Runtime API that runs the compiled function binaries.
//!
//! - `moto`: the moto process and SDK config for it.
//! - `env`, `seed`: a seeded moto ([`Env`]) and the reads tests make of it.
//! - `fixtures`: event JSON. `raw`: calls berth has no SDK client for.
//! - `recorder`: the one request recorder. `standin`: local HTTP stand-ins.
//! - `runtime`: the Runtime API and function processes.
//! - `proxy`: a loopback proxy that names operations, injects faults and adds latency.
//! - `codedeploy`: a CodeDeploy blue/green stand-in. `listener`: a service's test listener.
//! - `ecs_deployments`: ECS service deployments (rolling, blue/green, linear, canary) over moto.
//!   `native`: a service ECS deploys itself, released through every function and the CLI.
//! - `revisions`: task definition revisions as the pipeline leaves them.
//! - `release_stage`: the Release stage played from the pipeline's declaration.
//! - `sns`: a topic with an SQS subscription, and the messages it received.

pub mod codedeploy;
pub mod ecs_deployments;
mod env;
mod fixtures;
pub mod listener;
mod moto;
pub mod native;
pub mod proxy;
mod raw;
mod recorder;
pub mod release_stage;
mod revisions;
pub mod runtime;
mod seed;
pub mod sns;
mod standin;
pub mod task_target;

pub use env::{Env, repo_uri, web_registry};
pub use fixtures::*;
pub use moto::{Moto, sdk_config, workspace_root};
pub use raw::*;
pub use recorder::{Recorder, recorded_clients};
pub use standin::{Answer, Answering, StandIn};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "ap-northeast-1";
pub const BUCKET: &str = "berth-releases";
pub const FUNCTION_ARN: &str = "arn:aws:lambda:ap-northeast-1:123456789012:function:berth";
