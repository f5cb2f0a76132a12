//! `berth run`: start a release's task definition once, by hand — a scheduled job now, or a
//! one-off command on exactly the released bytes — in the registry's cluster and network,
//! print each state the task reaches, and exit with its container's exit code, as
//! `ecspresso run` does with its watched container.

use std::time::{Duration, SystemTime};

use berth::aws::Clients;
use berth::index::List;
use berth::one_off::{self, Ended};
use berth::record::ReleaseRecord;
use berth::registry::ServiceConfig;
use berth::releases::Releases;
use berth::settings::Settings;
use berth::store::Bucket;
use berth::tasks::{self, OneTask, Started};

use crate::common::{aws, display_time, service_config};
use crate::exit::{Exit, Failure};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    service: String,
    /// The release whose task definition runs (default: the current one, the release that
    /// most recently succeeded).
    #[arg(long)]
    release: Option<String>,
    /// The container whose exit code is reported and whose command `-- command…` replaces
    /// (default: the entry's only container, else its migration's container).
    #[arg(long)]
    container: Option<String>,
    /// The command to run instead of the container's own (after `--`).
    #[arg(last = true)]
    command: Vec<String>,
}

/// What the command ends with: the container's exit code, or a failure of berth's own.
pub type Ran = Result<u8, Failure>;

pub async fn run(args: RunArgs) -> Ran {
    let (clients, settings) = aws().await?;
    let config = service_config(&clients, &settings, &args.service).await?;
    let network = config.task_network().ok_or_else(|| {
        Failure::refused(format!(
            "the registry entry of {} names no network for a task (add `network`, or a migration with its subnets)",
            args.service
        ))
    })?;
    let container = watched(&config, &args)?;
    let record = release(&clients, &settings, &args).await?;
    let task_definition = one_off::revision(&record).map_err(Failure::refused)?;
    active(&clients.ecs, &record.release, &task_definition).await?;
    let started_by = berth::job::started_by(&format!("run/{}", record.release));
    let task = OneTask {
        cluster: &config.cluster,
        task_definition: &task_definition,
        network: &network,
        container: &container,
        command: (!args.command.is_empty()).then_some(args.command.as_slice()),
        started_by: &started_by,
        client_token: None,
    };
    println!(
        "running {} release {} ({task_definition}) in cluster {}, watching container {container}",
        args.service, record.release, config.cluster
    );
    let task_arn = match tasks::run(&clients.ecs, &task).await? {
        Started::Task(arn) | Started::Adopted(arn) => arn,
        Started::Refused(reasons) => {
            return Err(Failure::failed(format!(
                "ECS started no task in cluster {}: {}",
                config.cluster,
                reasons.join("; ")
            )));
        }
    };
    println!("task {task_arn}");
    follow(&clients.ecs, &config.cluster, &task_arn, &container).await
}

/// Refuses a revision ECS no longer runs: deregistered by `berth prune` or by hand. "You cannot
/// run new tasks or create new services with a task definition in the INACTIVE state" (Amazon
/// ECS task definition states).
async fn active(ecs: &aws_sdk_ecs::Client, release: &str, arn: &str) -> Result<(), Failure> {
    let described = crate::common::task_definition(ecs, arn).await?;
    let status = described.as_ref().and_then(|t| t.status());
    match status {
        Some(s) if s.as_str() != "ACTIVE" => Err(Failure::refused(format!(
            "the revision of release {release:?}, {arn}, was deregistered ({}): ECS runs no new task of it",
            s.as_str()
        ))),
        _ => Ok(()),
    }
}

/// The watched container, and the command override checked against RunTask's limit.
fn watched(config: &ServiceConfig, args: &RunArgs) -> Result<String, Failure> {
    let names: Vec<String> = config.containers.keys().cloned().collect();
    let migration = config.migration.as_ref().map(|m| m.container.as_str());
    let container =
        one_off::container(args.container.as_deref(), &names, migration).map_err(Failure::usage)?;
    if !args.command.is_empty() {
        berth::migration::check_overrides(&container, &args.command)
            .map_err(|why| Failure::refused(format!("the command {why}")))?;
    }
    Ok(container)
}

/// The record of `--release`, else of the current release.
async fn release(
    clients: &Clients,
    settings: &Settings,
    args: &RunArgs,
) -> Result<ReleaseRecord, Failure> {
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let releases = Releases::new(clients.codepipeline.clone(), bucket);
    crate::releases::indexed(&releases, &args.service).await?;
    let service = &args.service;
    let name = match &args.release {
        Some(name) => name.clone(),
        None => match releases.index.newest(service, List::Deployed).await? {
            Some(entry) => entry.release,
            None => {
                return Err(Failure::refused(format!(
                    "no release of {service} has succeeded yet; name one with --release"
                )));
            }
        },
    };
    match releases.records.get(service, &name).await? {
        Some(stored) => Ok(stored.value),
        None => Err(Failure::refused(format!(
            "service {service:?} has no release {name:?}"
        ))),
    }
}

/// Polls the task until it stops, printing each state it reaches; its container's exit code.
async fn follow(ecs: &aws_sdk_ecs::Client, cluster: &str, task_arn: &str, container: &str) -> Ran {
    let since = SystemTime::now();
    let mut last: Option<String> = None;
    let mut poll = 0u32;
    loop {
        match tasks::describe(ecs, cluster, task_arn).await? {
            Some(task) => {
                if let Some(line) = one_off::change(last.as_deref(), &task) {
                    println!(
                        "{} {line}",
                        display_time(&berth::record::timestamp(SystemTime::now()))
                    );
                    last = Some(task.last_status.clone());
                    poll = 0;
                }
                if let Some(ended) = one_off::ended(&task, container) {
                    return Ok(verdict(ended));
                }
            }
            None => unseen(since, task_arn)?,
        }
        tokio::time::sleep(Duration::from_secs(one_off::poll_delay_seconds(poll))).await;
        poll = poll.saturating_add(1);
    }
}

/// DescribeTasks does not return the task yet: eventual consistency, for a while ("run the
/// DescribeTasks command repeatedly, starting with a couple of seconds of wait time and
/// increasing gradually up to five minutes of wait time", RunTask API reference).
fn unseen(since: SystemTime, task_arn: &str) -> Result<(), Failure> {
    let waited = since.elapsed().unwrap_or_default().as_secs();
    if waited < berth::migration::EVENTUAL_CONSISTENCY_GRACE_SECONDS {
        return Ok(());
    }
    Err(Failure::failed(format!(
        "ECS has not described task {task_arn} for {waited} seconds; it is unknown"
    )))
}

/// The exit status for how the task ended, with the message on standard error.
fn verdict(ended: Ended) -> u8 {
    match ended {
        Ended::Exited { code: 0, message } => {
            println!("{message}");
            0
        }
        Ended::Exited { code, message } => {
            eprintln!("berth: {message}");
            code
        }
        Ended::NoExitCode { message } => {
            eprintln!("berth: {message}");
            Exit::NoExitCode as u8
        }
    }
}
