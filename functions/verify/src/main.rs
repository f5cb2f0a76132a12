//! verify: the CodeDeploy lifecycle hook that checks the replacement task set on the test
//! listener before production traffic. See `berth::verify`.

use berth::verify::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
