//! `berth`: the operator's command line. It talks to AWS through the same library as the
//! functions, with the standard AWS environment (`AWS_REGION`, `AWS_PROFILE`,
//! `AWS_ENDPOINT_URL`) and `BERTH_RELEASE_BUCKET` / `BERTH_SERVICES_PREFIX`.
//!
//! This file only parses and dispatches; each command lives in its own file, and the exit
//! codes in `exit.rs`.

mod common;
mod doctor;
mod environments;
mod exit;
mod groups;
mod post_migration;
mod promote;
mod promote_release;
mod prune;
mod release;
mod release_group;
mod releases;
mod render;
mod rollback;
mod run;
mod stats;
mod status;
mod status_native;
mod status_task;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit::Exit;

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Operate berth releases on Amazon ECS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a manifest offline; lists every problem.
    Validate(validate::ValidateArgs),
    /// Show the task definition, appspec and imageDetail a manifest would produce. With
    /// --task-def (and --registry) offline; otherwise from AWS with digests resolved and a diff
    /// against the task definition the service runs now.
    Render(render::RenderArgs),
    /// Upload a manifest to manifests/<service>/<release>.json.
    Release(release::ReleaseArgs),
    /// Release history of a service, newest first.
    Releases(releases::ReleasesArgs),
    /// The service's current release and pipeline execution.
    Status(status::StatusArgs),
    /// Go back: stop a deployment in flight with rollback (traffic back to blue, in seconds),
    /// else redeploy an earlier release's exact artifact (default: the last known good one).
    Rollback(rollback::RollbackArgs),
    /// The four DORA keys over the last --days: deployment frequency, lead time, change failure
    /// rate, time to restore.
    Stats(stats::StatsArgs),
    /// Release in another environment exactly what succeeded in one: the same digests and
    /// migration, recorded as promoted from there.
    PromoteRelease(promote_release::PromoteReleaseArgs),
    /// Reroute production traffic to a deployment that waits for promote.
    Promote(promote::DeploymentArgs),
    /// End a deployment's termination wait now, retiring the original (blue) task set.
    Finish(promote::DeploymentArgs),
    /// Check, read-only, everything a service's first release depends on; each problem with
    /// its fix.
    Doctor(doctor::DoctorArgs),
    /// Start a release's task definition once (default: the current release) in the registry's
    /// cluster and network, print each state of the task, and exit with its container's exit
    /// code; `-- command…` replaces the container's command.
    Run(run::RunArgs),
    /// Deregister task definition revisions older than the N newest successful releases' (a dry
    /// run unless --yes).
    Prune(prune::PruneArgs),
    /// Settle a release whose post migration (the contract step) failed with its code live:
    /// `retry` runs it again, `skip` records it skipped; the next release waits until then.
    PostMigration(post_migration::PostMigrationArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let outcome = match Cli::parse().command {
        Command::Validate(args) => validate::run(args),
        Command::Render(args) => render::run(args).await,
        Command::Release(args) => release::run(args).await,
        Command::Releases(args) => releases::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::Rollback(args) => rollback::run(args).await,
        Command::Stats(args) => stats::run(args).await,
        Command::PromoteRelease(args) => promote_release::run(args).await,
        Command::Promote(args) => promote::promote(args).await,
        Command::Finish(args) => promote::finish(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Prune(args) => prune::run(args).await,
        Command::PostMigration(args) => post_migration::run(args).await,
        // The container's exit code is the command's own.
        Command::Run(args) => match run::run(args).await {
            Ok(code) => return ExitCode::from(code),
            Err(failure) => Err(failure),
        },
    };
    match outcome {
        Ok(()) => Exit::Done.into(),
        Err(failure) => {
            eprintln!("berth: {}", failure.message);
            failure.exit.into()
        }
    }
}
