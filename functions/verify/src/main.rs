//! verify: the lifecycle hook that checks the new version on the test listener before
//! production traffic — CodeDeploy's `AfterAllowTestTraffic` hook and Amazon ECS's lifecycle
//! hook of services ECS deploys itself. See `berth::verify`.

// The handler's future (CodeDeploy's and ECS's hook answers, the checks) nests deeper than the
// compiler's default query depth when clippy lays it out.
#![recursion_limit = "256"]

use berth::verify::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
