//! migrate: the CodePipeline Lambda invoke action that runs the release's database migration
//! as an ECS task. See berth::migrate.

use aws_lambda_events::event::codepipeline_job::CodePipelineJobEvent;
use berth::{aws::Clients, migrate::Migrator, settings::Settings};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let migrator = Migrator::new(Clients::from_env().await, &settings.release_bucket);
    let migrator = &migrator;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CodePipelineJobEvent>| async move {
            migrator.handle(event.payload).await.map_err(Error::from)
        },
    ))
    .await
}
