//! `berth rollback`: redeploy an earlier release's exact artifact (default: the last known
//! good one), without migrating.

use std::time::SystemTime;

use berth::releases::{Releases, RollbackOutcome};
use berth::store::Bucket;

use crate::common::{Output, aws, print_json};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    service: String,
    /// The release to return to (default: the last known good one).
    #[arg(long)]
    to: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: RollbackArgs) -> Outcome {
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let releases = Releases::new(clients.codepipeline.clone(), bucket);
    crate::releases::indexed(&releases, &args.service).await?;
    let r = match releases
        .rollback(&args.service, args.to.as_deref(), SystemTime::now())
        .await?
    {
        RollbackOutcome::Started(r) => r,
        RollbackOutcome::Refused(reason) => {
            return Err(Failure::refused(format!("not rolling back: {reason}")));
        }
    };
    if args.output == Output::Json {
        return print_json(&r);
    }
    println!(
        "rolling {} back to {} (artifact version {})\npipeline {} execution {} (BERTH_ROLLBACK=true, migration skipped)",
        args.service, r.release, r.artifact_version_id, r.pipeline, r.pipeline_execution_id
    );
    Ok(())
}
