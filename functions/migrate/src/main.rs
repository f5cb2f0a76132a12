//! migrate: the pipeline's Migrate action: runs the release's database migration as an ECS task.
//! See `berth::migrate`.

use berth::migrate::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
