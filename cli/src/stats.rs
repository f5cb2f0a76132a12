//! `berth stats`: the four DORA keys of a service over the last `--days` (see `berth::stats`
//! for what each counts).

use std::time::SystemTime;

use berth::record::{epoch_seconds, timestamp};
use berth::releases::Releases;
use berth::stats::{Keys, keys};
use berth::store::Bucket;

use crate::common::{Output, aws, print_json};
use crate::exit::Outcome;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    service: String,
    /// The window, in days before now.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    days: u32,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: StatsArgs) -> Outcome {
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let releases = Releases::new(clients.codepipeline.clone(), bucket);
    crate::releases::indexed(&releases, &args.service).await?;
    let now = epoch_seconds(SystemTime::now()) as i64;
    // A release created up to a day before the window may finish inside it.
    let from = now - i64::from(args.days) * 86_400 - 86_400;
    let records = releases.since(&args.service, from).await?;
    let k = keys(&records, args.days, now);
    if args.output == Output::Json {
        let mut doc = serde_json::to_value(&k).unwrap_or_default();
        doc["service"] = args.service.clone().into();
        return print_json(&doc);
    }
    print_text(&args.service, &k);
    Ok(())
}

fn duration(seconds: Option<i64>) -> String {
    match seconds {
        None => "-".into(),
        Some(s) if s >= 86_400 => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
        Some(s) if s >= 3600 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        Some(s) => format!("{}m{:02}s", s / 60, s % 60),
    }
}

fn at(t: i64) -> String {
    timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64))
}

fn print_text(service: &str, k: &Keys) {
    println!("{service}: {} → {} ({} days)", at(k.from), at(k.to), k.days);
    println!(
        "deployment frequency   {:.2} per day ({} successful releases)",
        k.deployments_per_day, k.deployments
    );
    println!(
        "lead time for changes  median {} (manifest to succeeded execution)",
        duration(k.lead_time_median_seconds)
    );
    let rate = k
        .change_failure_rate
        .map_or("-".into(), |r| format!("{:.1}%", r * 100.0));
    println!(
        "change failure rate    {rate} ({} of {} changes: {} failed, {} rolled back)",
        k.failed_changes,
        k.deployments + k.failed_executions,
        k.failed_executions,
        k.rolled_back
    );
    println!(
        "time to restore        median {} ({} of {} restored)",
        duration(k.time_to_restore_median_seconds),
        k.restored,
        k.failed_changes
    );
    println!(
        "migrations             median {} ({} succeeded)",
        duration(k.migration_median_seconds),
        k.migrations
    );
    println!(
        "post migrations        median {} ({} succeeded, {} failed)",
        duration(k.post_migration_median_seconds),
        k.post_migrations,
        k.post_migrations_failed
    );
}
