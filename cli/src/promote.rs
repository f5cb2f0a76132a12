//! `berth promote` and `berth finish`: move a held deployment on. For a CODE_DEPLOY service,
//! promote reroutes production traffic to the replacement (green) task set of a deployment
//! waiting for it and finish ends the termination wait now, retiring the original (blue) task
//! set. For a service ECS deploys itself (BLUE_GREEN, LINEAR, CANARY), promote continues the
//! pause hook awaiting action; finish has no ECS counterpart and says so (exit 5), as does
//! promote for a ROLLING service. Both note who asked in the release record.

use std::time::SystemTime;

use berth::aws::Clients;
use berth::deployment::Deployments;
use berth::operate::{Acted, Ask, Operator};
use berth::records::Records;
use berth::service_deployments::DeployKind;
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
        ecs: clients.ecs.clone(),
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
    let kind = operator.deploy_kind(&config).await?;
    let acted = if kind == DeployKind::CodeDeploy {
        operator.act(&config, ask, SystemTime::now()).await?
    } else {
        operator
            .act_native(&config, kind, ask, SystemTime::now())
            .await?
    };
    let (deployment_id, release, by, unrecorded) = match &acted {
        Acted::Done {
            deployment_id,
            release,
            by,
            unrecorded,
            ..
        } => (deployment_id, release, by, unrecorded),
        Acted::Refused { reason } => return Err(Failure::refused(format!("not done: {reason}"))),
        Acted::NotForKind { reason } => {
            return Err(Failure::not_for_kind(format!("not possible: {reason}")));
        }
    };
    if args.output == Output::Json {
        return print_json(&acted);
    }
    let what = release.as_deref().unwrap_or("(release unknown)");
    let service = &args.service;
    match (ask, kind) {
        (Ask::Promote, DeployKind::CodeDeploy) => println!(
            "promoted {service} {what}: production traffic is moving to the replacement task set (deployment {deployment_id})"
        ),
        (Ask::Promote, _) => println!(
            "promoted {service} {what}: ECS continues the {} deployment past its pause hook (deployment {deployment_id})",
            kind.as_str()
        ),
        (Ask::Finish, _) => println!(
            "finished {service} {what}: the termination wait ended; the original task set is being retired (deployment {deployment_id})"
        ),
    }
    println!("by {by}");
    if let Some(why) = unrecorded {
        eprintln!("warning: not noted in the release record: {why}");
    }
    Ok(())
}
