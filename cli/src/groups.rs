//! `berth releases --group` and `berth status --group`: a release group's history, and its
//! newest release member by member.

use berth::group::{GroupRecord, MemberStatus};
use berth::groups::GroupRecords;
use berth::records::Records;
use berth::releases::READ_CONCURRENCY;
use berth::store::Bucket;
use futures_util::StreamExt;

use crate::common::{Output, aws, display_time, print_json, short_digest};
use crate::exit::{Failure, Outcome};

/// `berth releases --group <group>`: the newest `limit` releases of the group.
pub async fn releases(group: &str, limit: i32, output: Output) -> Outcome {
    valid_name(group)?;
    let (clients, settings) = aws().await?;
    let groups = GroupRecords::new(Bucket::new(clients.s3.clone(), &settings.release_bucket));
    let page = groups.page(group, limit).await?;
    let reads = page.entries.iter().map(|e| groups.get(group, &e.release));
    let read: Vec<_> = futures_util::stream::iter(reads)
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    let mut records = Vec::new();
    for r in read {
        records.extend(r?.map(|s| s.value));
    }
    if output == Output::Json {
        return print_json(&records);
    }
    if records.is_empty() {
        println!("no releases of group {group}");
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<21} {:>8}  services",
        "RELEASE", "STATUS", "STARTED", "SECONDS"
    );
    for g in &records {
        let members: Vec<String> = g
            .members
            .iter()
            .map(|(s, m)| format!("{s}={}", m.status.name()))
            .collect();
        println!(
            "{:<20} {:<12} {:<21} {:>8}  {}",
            g.release,
            g.status.name(),
            display_time(&g.created_at),
            seconds(g),
            members.join(" ")
        );
    }
    if page.next.is_some() {
        eprintln!("(the {} newest shown; --limit N for more)", records.len());
    }
    Ok(())
}

/// `berth status --group <group>`: the newest group release; members still running are shown
/// as their own release records say now.
pub async fn status(group: &str, output: Output) -> Outcome {
    valid_name(group)?;
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let groups = GroupRecords::new(bucket.clone());
    let newest = groups.page(group, 1).await?.entries.into_iter().next();
    let Some(entry) = newest else {
        return Err(Failure::refused(format!("no releases of group {group}")));
    };
    let Some(stored) = groups.get(group, &entry.release).await? else {
        return Err(Failure::failed(format!(
            "group {group} lists release {} but its record is missing",
            entry.release
        )));
    };
    let mut record = stored.value;
    live(&Records::new(bucket), &mut record).await?;
    if output == Output::Json {
        return print_json(&record);
    }
    print_status(&record);
    Ok(())
}

/// Members the group record still shows running take their status from their own records.
async fn live(records: &Records, g: &mut GroupRecord) -> Result<(), Failure> {
    let running: Vec<String> = g
        .members
        .iter()
        .filter(|(_, m)| !m.status.is_final())
        .map(|(s, _)| s.clone())
        .collect();
    let reads = running.iter().map(|s| records.get(s, &g.release));
    let read: Vec<_> = futures_util::stream::iter(reads)
        .buffered(READ_CONCURRENCY)
        .collect()
        .await;
    for (service, r) in running.iter().zip(read) {
        let (Some(stored), Some(m)) = (r?, g.members.get_mut(service)) else {
            continue;
        };
        m.status = MemberStatus::of(stored.value.status);
        m.pipeline_execution_id = stored
            .value
            .pipeline_execution_id
            .or(m.pipeline_execution_id.take());
    }
    Ok(())
}

fn print_status(g: &GroupRecord) {
    println!("group:    {} release {}", g.group, g.release);
    println!("status:   {}", g.status.name());
    println!("started:  {}", display_time(&g.created_at));
    if let Some(f) = &g.finished_at {
        println!("finished: {} ({} s)", display_time(f), seconds(g));
    }
    println!(
        "manifest: s3://{}/{} (version {})",
        g.manifest.bucket, g.manifest.key, g.manifest.version_id
    );
    println!(
        "{:<20} {:<12} {:>8}  {:<38} images",
        "SERVICE", "STATUS", "SECONDS", "EXECUTION"
    );
    for (service, m) in &g.members {
        let images: Vec<String> = m
            .images
            .iter()
            .map(|(c, i)| format!("{c}={}", short_digest(i)))
            .collect();
        println!(
            "{:<20} {:<12} {:>8}  {:<38} {}",
            service,
            m.status.name(),
            m.duration_seconds
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            m.pipeline_execution_id.as_deref().unwrap_or("-"),
            images.join(" ")
        );
        if let Some(why) = &m.message {
            println!("{:<20} {why}", "");
        }
    }
}

fn seconds(g: &GroupRecord) -> String {
    g.duration_seconds()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "-".into())
}

fn valid_name(group: &str) -> Result<(), Failure> {
    if berth::keys::is_valid_name(group) {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "--group {group:?} must match [A-Za-z0-9._-]{{1,64}}"
        )))
    }
}
