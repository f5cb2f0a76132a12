//! on-pipeline-event: CodePipeline "Pipeline Execution State Change" → release record status.
//! See `berth::on_pipeline_event`.

use berth::on_pipeline_event::Context;
use lambda_runtime::{Error, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    berth::init_tracing();
    let context = berth::init(Context::from_env()).await?;
    let context = &context;
    lambda_runtime::run(service_fn(move |event| context.handle(event))).await
}
