//! on-manifest: S3 ObjectCreated on `manifests/` → validated, pinned, rendered release →
//! pipeline execution. See berth::release.

use aws_lambda_events::event::s3::S3Event;
use berth::{aws::Clients, handlers, release::Releaser, settings::Settings};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let releaser = Releaser::new(Clients::from_env().await, Settings::from_env()?);
    let releaser = &releaser;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<S3Event>| async move {
        let inv =
            handlers::Invocation::new(event.context.invoked_function_arn, event.context.deadline);
        handlers::on_manifest(releaser, event.payload, &inv)
            .await
            .map_err(Error::from)
    }))
    .await
}
