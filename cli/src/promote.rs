//! `berth promote` and `berth finish`: move a held blue/green deployment on. Promote reroutes
//! production traffic to the replacement (green) task set of a deployment waiting for it;
//! finish ends the termination wait now, retiring the original (blue) task set. Both note who
//! asked in the release record.

use std::time::SystemTime;

use berth::aws::Clients;
use berth::deployment::Deployments;
use berth::operate::{Acted, Ask, Operator};
use berth::records::Records;
use berth::settings::Settings;
use berth::store::Bucket;

use crate::common::{Output, aws, caller, print_json, service_config};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct DeploymentArgs {
    service: String,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// The operator as the caller the CLI runs as.
pub async fn operator(clients: &Clients, settings: &Settings) -> Operator {
    Operator {
        deployments: Deployments::new(clients.codedeploy.clone()),
        codepipeline: clients.codepipeline.clone(),
        records: Records::new(Bucket::new(clients.s3.clone(), &settings.release_bucket)),
        by: caller(clients).await,
    }
}

pub async fn promote(args: DeploymentArgs) -> Outcome {
    run(args, Ask::Promote).await
}

pub async fn finish(args: DeploymentArgs) -> Outcome {
    run(args, Ask::Finish).await
}

async fn run(args: DeploymentArgs, ask: Ask) -> Outcome {
    let (clients, settings) = aws().await?;
    let config = service_config(&clients, &settings, &args.service).await?;
    let operator = operator(&clients, &settings).await;
    let acted = operator.act(&config, ask, SystemTime::now()).await?;
    let (deployment_id, release, by, unrecorded) = match &acted {
        Acted::Done {
            deployment_id,
            release,
            by,
            unrecorded,
        } => (deployment_id, release, by, unrecorded),
        Acted::Refused { reason } => return Err(Failure::refused(format!("not done: {reason}"))),
    };
    if args.output == Output::Json {
        return print_json(&acted);
    }
    let what = release.as_deref().unwrap_or("(release unknown)");
    match ask {
        Ask::Promote => println!(
            "promoted {} {what}: production traffic is moving to the replacement task set (deployment {deployment_id})",
            args.service
        ),
        Ask::Finish => println!(
            "finished {} {what}: the termination wait ended; the original task set is being retired (deployment {deployment_id})",
            args.service
        ),
    }
    println!("by {by}");
    if let Some(why) = unrecorded {
        eprintln!("warning: not noted in the release record: {why}");
    }
    Ok(())
}
