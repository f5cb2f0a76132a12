//! on-manifest: S3 ObjectCreated on `manifests/` → validated, pinned, rendered release → pipeline execution.
//! See `berth::on_manifest`.

use berth::on_manifest::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
