//! `berth post-migration retry|skip SERVICE RELEASE`: settle a release whose post migration
//! (the contract step) failed with its code live. Until one of them, the next release's Migrate
//! action refuses to run (docs/guide/expand-contract.md).
//!
//! `retry` runs the contract step again from here — the release's plan (container, command,
//! timeout) on the revision it recorded, in the registry's task network — prints each state of
//! the task, and records the outcome: a success lets the next releases go. `skip` records that
//! an operator settled it otherwise (`--reason` is kept in the record).

use std::time::{Duration, SystemTime};

use berth::aws::Clients;
use berth::manifest::MigrationPlan;
use berth::one_off;
use berth::record::{MigrationRecord, ReleaseRecord, timestamp};
use berth::registry::Network;
use berth::releases::Releases;
use berth::settings::Settings;
use berth::store::Bucket;
use berth::tasks::{self, OneTask, Started};

use crate::common::{aws, caller, service_config};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct PostMigrationArgs {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the failed post migration again from here; a success lets the next release go.
    Retry(Target),
    /// Record the failed post migration as skipped (the schema is right by other means, or the
    /// step no longer applies); the next release goes on.
    Skip(SkipArgs),
}

#[derive(Debug, clap::Args)]
struct Target {
    service: String,
    release: String,
}

#[derive(Debug, clap::Args)]
struct SkipArgs {
    service: String,
    release: String,
    /// Why it is skipped, kept in the release record.
    #[arg(long)]
    reason: String,
}

pub async fn run(args: PostMigrationArgs) -> Outcome {
    let (clients, settings) = aws().await?;
    let releases = releases(&clients, &settings).await;
    match args.command {
        Command::Skip(a) => {
            let now = SystemTime::now();
            let settled = releases.skip_post_migration(&a.service, &a.release, &a.reason, now);
            let record = settled.await?.map_err(Failure::refused)?;
            let message = record.post_migration.and_then(|m| m.message);
            println!(
                "post migration of {} {} {}; the next release goes on",
                a.service,
                a.release,
                message.as_deref().unwrap_or("skipped")
            );
            Ok(())
        }
        Command::Retry(t) => retry(&clients, &settings, &releases, &t).await,
    }
}

async fn releases(clients: &Clients, settings: &Settings) -> Releases {
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    Releases::new(clients.codepipeline.clone(), bucket).with_caller(Some(caller(clients).await))
}

/// Runs the contract step again and records how it ended.
async fn retry(clients: &Clients, settings: &Settings, releases: &Releases, t: &Target) -> Outcome {
    let record = releases
        .failed_post_migration(&t.service, &t.release)
        .await?
        .map_err(Failure::refused)?;
    let config = service_config(clients, settings, &t.service).await?;
    let network = config.task_network().ok_or_else(|| {
        Failure::refused(format!(
            "the registry entry of {} names no network for the post migration",
            t.service
        ))
    })?;
    let plan = record.post_migration_plan.clone().ok_or_else(|| {
        Failure::refused(format!("release {} has no post migration plan", t.release))
    })?;
    let revision = revision(&record)?;
    let task_arn = start(clients, releases, t, &plan, &revision, &network).await?;
    let deadline = SystemTime::now() + Duration::from_secs(plan.timeout_seconds);
    let ended = follow(
        &clients.ecs,
        &plan.cluster,
        &task_arn,
        &plan.container,
        deadline,
    )
    .await?;
    settle(releases, t, &revision, &task_arn, ended).await
}

/// Starts the contract step's task on `revision` and records it running; a task ECS refused
/// to start is recorded failed.
async fn start(
    clients: &Clients,
    releases: &Releases,
    t: &Target,
    plan: &MigrationPlan,
    revision: &str,
    network: &Network,
) -> Result<String, Failure> {
    let started_by = berth::job::started_by(&format!("post/{}", t.release));
    let task = OneTask {
        cluster: &plan.cluster,
        task_definition: revision,
        network,
        container: &plan.container,
        command: Some(&plan.command),
        started_by: &started_by,
        client_token: None,
    };
    let task_arn = match tasks::run(&clients.ecs, &task).await? {
        Started::Task(arn) | Started::Adopted(arn) => arn,
        Started::Refused(reasons) => {
            let why = format!("ECS started no task: {}", reasons.join("; "));
            note(releases, t, outcome("failed", revision, None, Some(&why))).await?;
            return Err(Failure::failed(why));
        }
    };
    println!(
        "post migration of {} {}: task {task_arn}",
        t.service, t.release
    );
    let running = outcome("running", revision, Some(&task_arn), None);
    note(releases, t, running).await?;
    Ok(task_arn)
}

/// Records how the task ended: succeeded (the next release goes on) or failed again.
async fn settle(
    releases: &Releases,
    t: &Target,
    revision: &str,
    task_arn: &str,
    ended: Result<u64, String>,
) -> Outcome {
    match ended {
        Ok(seconds) => {
            let mut done = outcome("succeeded", revision, Some(task_arn), None);
            done.seconds = Some(seconds);
            note(releases, t, done).await?;
            println!("post migration succeeded in {seconds} s; the next release goes on");
            Ok(())
        }
        Err(why) => {
            let failed = outcome("failed", revision, Some(task_arn), Some(&why));
            note(releases, t, failed).await?;
            Err(Failure::execution_failed(format!(
                "post migration failed again: {why}"
            )))
        }
    }
}

/// The revision the contract step runs: the one its failed attempt registered, else the
/// release's own.
fn revision(record: &ReleaseRecord) -> Result<String, Failure> {
    if let Some(arn) = record
        .post_migration
        .as_ref()
        .and_then(|m| m.task_definition_arn.clone())
    {
        return Ok(arn);
    }
    one_off::revision(record).map_err(Failure::refused)
}

fn outcome(
    outcome: &str,
    revision: &str,
    task_arn: Option<&str>,
    message: Option<&str>,
) -> MigrationRecord {
    MigrationRecord {
        outcome: outcome.into(),
        job_id: Some("berth post-migration retry".into()),
        pipeline_execution_id: None,
        first_invoked_epoch: None,
        task_definition_arn: Some(revision.to_owned()),
        task_arn: task_arn.map(str::to_owned),
        seconds: None,
        message: message.map(str::to_owned),
        updated_at: timestamp(SystemTime::now()),
    }
}

async fn note(releases: &Releases, t: &Target, m: MigrationRecord) -> Outcome {
    releases
        .note_post_migration(&t.service, &t.release, m, SystemTime::now())
        .await?
        .map(|_| ())
        .map_err(Failure::refused)
}

/// Polls the task until it stops (or the plan's timeout passes, when it is stopped): its run
/// time on exit code 0, else why it failed.
async fn follow(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    task_arn: &str,
    container: &str,
    deadline: SystemTime,
) -> Result<Result<u64, String>, Failure> {
    let since = SystemTime::now();
    let mut poll = 0u32;
    loop {
        if let Some(task) = tasks::describe(ecs, cluster, task_arn).await?
            && let Some(ended) = one_off::ended(&task, container)
        {
            let seconds = since.elapsed().unwrap_or_default().as_secs();
            return Ok(match ended {
                one_off::Ended::Exited { code: 0, .. } => Ok(seconds),
                one_off::Ended::Exited { message, .. } | one_off::Ended::NoExitCode { message } => {
                    Err(message)
                }
            });
        }
        if SystemTime::now() > deadline {
            let stop = ecs.stop_task().cluster(cluster).task(task_arn);
            let reason = "berth: post migration deadline passed";
            stop.reason(reason)
                .send()
                .await
                .map_err(|e| Failure::failed(format!("ecs:StopTask {task_arn}: {e}")))?;
            return Ok(Err(format!(
                "the task did not finish in time; stopped ({reason})"
            )));
        }
        tokio::time::sleep(Duration::from_secs(one_off::poll_delay_seconds(poll))).await;
        poll = poll.saturating_add(1);
    }
}
