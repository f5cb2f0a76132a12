//! deploy: the Deploy action of services ECS deploys itself (rolling, blue/green, linear,
//! canary): registers the release's task definition, updates the service and follows its
//! service deployment. See `berth::deploy`.

use berth::deploy::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
