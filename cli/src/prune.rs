//! `berth prune`: deregister the service's task definition revisions older than those of its N
//! newest successful releases — never one the ECS service uses, nor one of the release running
//! now or the last known good one. A dry run unless `--yes`.

use std::time::SystemTime;

use berth::images::Home;
use berth::registry::{Lookup, Registry};
use berth::releases::Releases;
use berth::revisions::{self, prune::Prune};
use berth::store::Bucket;

use crate::common::{Output, account_of, aws, print_json};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    service: String,
    /// How many of the newest successful releases keep their revisions (at least 1).
    #[arg(long)]
    keep: usize,
    /// Deregister; without it, only show what would be deregistered and why.
    #[arg(long, conflicts_with = "dry_run")]
    yes: bool,
    /// Only show what would be deregistered and why (the default; says so explicitly).
    #[arg(long)]
    dry_run: bool,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: PruneArgs) -> Outcome {
    if args.keep == 0 {
        return Err(Failure::usage(
            "--keep must be at least 1: the newest successful release always keeps its revisions",
        ));
    }
    let (clients, settings) = aws().await?;
    let home = Home {
        account_id: account_of(&clients).await,
        region: clients.region().to_owned(),
    };
    let registry = Registry::new(clients.ssm.clone(), &settings.services_prefix);
    let service = match registry.service(&args.service, &home).await? {
        Lookup::Found(s) => *s,
        Lookup::Unusable(reasons) => return Err(Failure::refused(reasons.join("\n"))),
    };
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let releases = Releases::new(clients.codepipeline.clone(), bucket);
    crate::releases::indexed(&releases, &args.service).await?;
    let now = SystemTime::now();
    let planned =
        revisions::prune::plan(&clients, &releases, &service.config, args.keep, now).await?;
    let plan = planned.map_err(|why| Failure::refused(format!("not pruning: {why}")))?;
    let (done, failed) = if args.yes {
        revisions::apply(&clients.ecs, &plan.revisions).await
    } else {
        (Vec::new(), Vec::new())
    };
    if args.output == Output::Json {
        print_json(&serde_json::json!({
            "service": plan.service, "family": plan.family, "dry_run": !args.yes,
            "kept_releases": plan.kept_releases, "revisions": plan.revisions,
            "deregistered": done, "errors": failed,
        }))?;
    } else {
        print_plan(&plan, args.yes, &done);
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::failed(failed.join("\n")))
    }
}

fn print_plan(plan: &Prune, acting: bool, done: &[String]) {
    let chosen = plan.revisions.iter().filter(|d| d.deregister).count();
    println!(
        "{} ({} ACTIVE revisions of family {}; keeping the revisions of {})",
        plan.service,
        plan.revisions.len(),
        plan.family,
        plan.kept_releases.join(", ")
    );
    for d in &plan.revisions {
        let action = if d.deregister { "deregister" } else { "keep" };
        println!("{action:<10}  {}  {}", d.arn, d.why);
    }
    if acting {
        println!("deregistered {} of {chosen} revisions", done.len());
    } else {
        println!(
            "dry run: {chosen} revision{} would be deregistered; run again with --yes to deregister",
            if chosen == 1 { "" } else { "s" }
        );
    }
}
