//! History at length: `berth releases <service>` (its first page) against services with 10,
//! 1,000 and 10,000 releases, seeded straight into moto's S3 (records and index entries, as
//! on-manifest writes them) with a bounded number of writes in flight.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use berth::index::{self, List};
use berth_tests::proxy::{Proxy, Routes};
use berth_tests::runtime::moto_env;
use berth_tests::*;
use futures_util::{StreamExt, stream};
use serde_json::Value;

use crate::{ms, percentile};

/// Writes in flight while seeding.
const SEED_CONCURRENCY: usize = 16;

async fn put(env: &Env, key: String, body: Vec<u8>) {
    env.clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key(&key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("seeding {key}: {e:?}"));
}

/// `n` SUCCEEDED releases of `service`, one second apart, shaped like `template` (a record).
async fn seed(env: &Env, service: &str, n: usize, template: &Value) {
    let start = SystemTime::now() - Duration::from_secs(n as u64 + 60);
    let writes = (0..n).flat_map(|i| {
        let at = start + Duration::from_secs(i as u64);
        let release = format!("r{i:05}");
        let mut record = template.clone();
        record["service"] = service.into();
        record["release"] = release.clone().into();
        record["status"] = "SUCCEEDED".into();
        record["created_at"] = berth::record::timestamp(at).into();
        record["updated_at"] = record["created_at"].clone();
        record["lease_until_epoch"] = Value::Null;
        let at_ms = index::millis(record["created_at"].as_str().unwrap_or_default()).unwrap_or(0);
        [
            (
                berth::keys::release_key(service, &release),
                record.to_string().into_bytes(),
            ),
            (
                index::entry_key(service, List::Releases, at_ms, &release),
                Vec::new(),
            ),
        ]
    });
    stream::iter(writes)
        .map(|(key, body)| put(env, key, body))
        .buffer_unordered(SEED_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    put(env, index::marker_key(service), Vec::new()).await;
}

/// One `berth releases` run: (wall time in ms, requests it made).
async fn releases(cli: &Path, service: &str, proxy: &Proxy) -> (f64, usize) {
    proxy.take_seen();
    let at = Instant::now();
    let out = tokio::process::Command::new(cli)
        .args(["releases", service])
        .env_clear()
        .envs(moto_env(&proxy.endpoint))
        .output()
        .await
        .expect("berth runs");
    let took = ms(at.elapsed());
    assert!(
        out.status.success(),
        "berth releases {service}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, proxy.take_seen().len())
}

/// The history table; `template` is a real release record.
pub async fn table(env: &Env, cli: &Path, template: &Value, runs: usize) {
    let proxy = Proxy::start(Routes::to(&env.moto.endpoint)).await;
    println!(
        "| releases in the history | seeding | `berth releases` (first page of 20) median | p95 | requests |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in [10usize, 1_000, 10_000] {
        let service = format!("hist{n}");
        let at = Instant::now();
        seed(env, &service, n, template).await;
        let seeding = at.elapsed().as_secs_f64();
        let (mut times, mut requests) = (Vec::new(), 0);
        for _ in 0..runs {
            let (t, r) = releases(cli, &service, &proxy).await;
            times.push(t);
            requests = r;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "| {n} | {seeding:.1} s | {:.0} ms | {:.0} ms | {requests} |",
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
}
