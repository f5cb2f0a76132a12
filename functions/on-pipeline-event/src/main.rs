//! on-pipeline-event: CodePipeline "Pipeline Execution State Change" → release record status.
//! See berth::history.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use berth::{
    aws::Clients, handlers, history::History, notify::Notifier, settings::Settings, store::Bucket,
};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let clients = Clients::from_env().await;
    let history = History::new(
        clients.codepipeline.clone(),
        Bucket::new(clients.s3.clone(), &settings.release_bucket),
    );
    let notifier = Notifier::from_env()?;
    let (history, notifier) = (&history, &notifier);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            handlers::on_pipeline_event(history, notifier, event.payload)
                .await
                .map_err(Error::from)
        },
    ))
    .await
}
