//! on-image-push: EventBridge "ECR Image Action" → `manifests/<service>/<tag>.json` for services whose push trigger matches.
//! See `berth::on_image_push`.

use berth::on_image_push::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
