//! `berth releases`: a service's release history, newest first.

use berth::record::{ReleaseRecord, parse_timestamp};
use berth::releases::Releases;
use berth::store::Bucket;
use serde_json::{Value, json};

use crate::common::{Output, aws, display_time, print_json, short_digest};
use crate::exit::Outcome;

#[derive(Debug, clap::Args)]
pub struct ReleasesArgs {
    #[arg(required_unless_present = "group")]
    service: Option<String>,
    /// A release group's releases instead of a service's (newest first).
    #[arg(long, conflicts_with_all = ["service", "all"])]
    group: Option<String>,
    /// How many of the newest releases to show.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i32).range(1..=1000))]
    limit: i32,
    /// Show the whole history (reads every record).
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: ReleasesArgs) -> Outcome {
    let service = match (&args.service, &args.group) {
        (_, Some(group)) => return crate::groups::releases(group, args.limit, args.output).await,
        (Some(service), None) => service.clone(),
        (None, None) => return Err(crate::exit::Failure::usage("name a service or --group")),
    };
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let releases = Releases::new(clients.codepipeline.clone(), bucket);
    indexed(&releases, &service).await?;
    let (mut records, more) = if args.all {
        (releases.list(&service).await?, false)
    } else {
        let page = releases.page(&service, args.limit, None).await?;
        (page.records, page.next.is_some())
    };
    // Executions whose final state change never arrived are asked about directly.
    releases
        .reconcile(&mut records, std::time::SystemTime::now())
        .await?;
    if args.output == Output::Json {
        return print_json(&records.iter().map(row).collect::<Vec<_>>());
    }
    if records.is_empty() {
        println!("no releases of {}", service);
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<21} {:<10} {:<10} {:>8}  images",
        "RELEASE", "STATUS", "STARTED", "SCAN", "MIGRATION", "SECONDS"
    );
    for r in &records {
        print_row(r);
    }
    if more {
        eprintln!(
            "(the {} newest shown; --limit N for more, --all for the whole history)",
            records.len()
        );
    }
    Ok(())
}

/// Indexes the service's records written before the release index existed, once, and says so.
pub async fn indexed(releases: &Releases, service: &str) -> Result<(), crate::exit::Failure> {
    let n = releases.ensure_indexed(service).await?;
    if n > 0 {
        eprintln!("indexed {n} earlier release record(s) of {service} (once)");
    }
    Ok(())
}

fn print_row(r: &ReleaseRecord) {
    let images: Vec<String> = r
        .images
        .iter()
        .map(|(c, i)| format!("{c}={}", short_digest(i)))
        .collect();
    println!(
        "{:<20} {:<12} {:<21} {:<10} {:<10} {:>8}  {}",
        r.release,
        r.status.name(),
        display_time(started(r)),
        r.scan
            .as_ref()
            .map(|s| s.cell())
            .unwrap_or_else(|| "-".into()),
        r.migration
            .as_ref()
            .map(|m| m.outcome.as_str())
            .unwrap_or("-"),
        duration(r)
            .map(|d| d.to_string())
            .unwrap_or_else(|| "-".into()),
        images.join(" ")
    );
    for d in &r.redeployments {
        println!(
            "{:<20} {:<12} {:<21} rollback execution {}",
            "",
            d.status.map(|s| s.name()).unwrap_or_default(),
            display_time(&d.started_at),
            d.pipeline_execution_id
        );
    }
}

fn started(r: &ReleaseRecord) -> &str {
    r.pipeline_started_at.as_deref().unwrap_or(&r.created_at)
}

/// Seconds from the pipeline's start to the release's end.
pub fn duration(r: &ReleaseRecord) -> Option<i64> {
    Some(
        parse_timestamp(r.finished_at.as_deref()?)?
            - parse_timestamp(r.pipeline_started_at.as_deref()?)?,
    )
}

/// A release as `--output json` shows it.
pub fn row(r: &ReleaseRecord) -> Value {
    let rollbacks: Vec<Value> = r
        .redeployments
        .iter()
        .map(|d| json!({"execution": d.pipeline_execution_id, "started": d.started_at, "status": d.status, "by": d.by}))
        .collect();
    json!({
        "release": r.release, "status": r.status, "images": r.images,
        "started": started(r), "finished": r.finished_at,
        "migration": r.migration.as_ref().map(|m| m.outcome.clone()),
        "migration_seconds": r.migration.as_ref().and_then(|m| m.seconds),
        "post_migration": r.post_migration.as_ref().map(|m| m.outcome.clone()),
        "post_migration_seconds": r.post_migration.as_ref().and_then(|m| m.seconds),
        "post_migration_advice": berth::migration::post::advice(r),
        "duration_seconds": duration(r), "pipeline_execution_id": r.pipeline_execution_id,
        "artifact_version_id": r.artifact_version_id, "rollbacks": rollbacks, "scan": r.scan,
        "verification": r.verifications.last().map(|v| json!({
            "deployment_id": v.deployment_id, "verdict": v.verdict, "message": v.message})),
        "interventions": r.interventions,
    })
}
