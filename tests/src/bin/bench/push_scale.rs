//! One push at registry size: the on-image-push binary behind its Runtime API, its requests
//! counted by a loopback proxy in front of moto, with 10, 100 and 1,000 services registered
//! (each with a push trigger on its own repository, so each also has a push-index entry). Next to
//! it, what reading the whole registry costs, which is what every push cost before the index.

use std::path::Path;
use std::time::Instant;

use berth::images::Home;
use berth::registry::Registry;
use berth_tests::proxy::{Proxy, Routes, levels};
use berth_tests::runtime::{Function, moto_env};
use berth_tests::*;

use crate::{ms, percentile};

/// The whole registry read as a push read it before the index: (requests, milliseconds).
async fn full_registry_read(env: &Env) -> (usize, f64) {
    let recorder = Recorder::default();
    let clients = recorded_clients(&env.config, &recorder);
    let registry = Registry::new(clients.ssm.clone(), "/berth/services/");
    let home = Home {
        account_id: ACCOUNT.into(),
        region: REGION.into(),
    };
    let at = Instant::now();
    registry.all(&home).await.expect("registry read");
    (recorder.count(), ms(at.elapsed()))
}

/// The table: for each registry size, `runs` pushes through one warm process (its first
/// invocation, the cold start, not counted).
pub async fn table(env: &mut Env, dir: &Path, runs: usize) {
    let proxy = Proxy::start(Routes::to(&env.moto.endpoint)).await;
    let mut push = Function::spawn_binary(
        &dir.join("on-image-push"),
        "on-image-push",
        &moto_env(&proxy.endpoint),
    )
    .await;
    println!(
        "| registered services | push → manifest median | p95 | AWS requests | of which SSM | sequential round trips | the whole registry read (before the index): requests | its time |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut registered, mut tag) = (1usize, 0usize); // web
    for total in [10usize, 100, 1_000] {
        env.register_services(registered - 1, total - 1, false)
            .await;
        registered = total;
        let (mut times, mut requests, mut ssm, mut hops) = (Vec::new(), 0, 0, 0);
        for run in 0..=runs {
            tag += 1;
            let tag = format!("v9.{tag}.0");
            let digest = env.push_image("web/app", &tag).await;
            proxy.take_seen();
            let at = Instant::now();
            let out = push
                .invoke(&ecr_event_json("PUSH", "SUCCESS", "web/app", &tag, &digest))
                .await
                .response();
            let took = ms(at.elapsed());
            assert_eq!(out["results"][0]["outcome"], "written", "{out}");
            let seen = proxy.take_seen();
            if run > 0 {
                times.push(took);
            }
            requests = seen.len();
            ssm = seen
                .iter()
                .filter(|s| s.operation.starts_with("GetParameter"))
                .count();
            hops = levels(&seen);
        }
        times.sort_by(f64::total_cmp);
        let (full, full_ms) = full_registry_read(env).await;
        println!(
            "| {total} | {:.1} ms | {:.1} ms | {requests} | {ssm} | {hops} | {full} | {full_ms:.0} ms |",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
        );
    }
}
