//! scan-gate: the pipeline's Scan action: holds a release until ECR's scans of its images pass
//! the service's scan policy. See `berth::scan`.

use berth::scan::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
