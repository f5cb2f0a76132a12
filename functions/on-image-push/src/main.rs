//! on-image-push: EventBridge "ECR Image Action" → `manifests/<service>/<tag>.json` for services
//! whose push trigger matches. See berth::push.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use berth::{aws::Clients, handlers, registry::Registry, settings::Settings, store::Bucket};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let clients = Clients::from_env().await;
    let registry = Registry::new(clients.ssm.clone(), &settings.services_prefix);
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let (registry, bucket, region) = (&registry, &bucket, clients.region());
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            let inv = handlers::Invocation::new(
                event.context.invoked_function_arn,
                event.context.deadline,
            );
            handlers::on_image_push(registry, bucket, event.payload, &inv, region)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
