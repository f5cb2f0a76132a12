//! Critical path in round trips: a loopback proxy in front of moto holds every AWS request one
//! round trip (and every new connection two: TCP, then TLS 1.3) so that a release waiting for
//! its calls one after another shows it. One proxy per service endpoint, as a function talking
//! to AWS opens one connection per service (`AWS_ENDPOINT_URL_<SERVICE>`).

use std::time::{Duration, Instant};

use berth_tests::proxy::{Proxy, Routes, Seen, levels};
use berth_tests::runtime::{Function, moto_env};
use berth_tests::*;
use serde_json::Value;

use crate::{manifest, ms, percentile};

/// The round trip every request and connection is held for.
pub const RTT: Duration = Duration::from_millis(50);

/// Requests one invocation may make before the bench stops reading (bounds the tables).
const MAX_SEEN: usize = 1000;

/// Proxies in front of moto: one per service the release path calls, and one for the rest.
pub struct Delayed {
    proxies: Vec<(&'static str, Proxy)>,
}

impl Delayed {
    pub async fn start(moto: &str, rtt: Duration) -> Delayed {
        let mut routes = Routes::to(moto);
        routes.request_delay = rtt;
        routes.connect_delay = rtt * 2;
        let mut proxies = Vec::new();
        for var in [
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL_SSM",
            "AWS_ENDPOINT_URL_ECS",
            "AWS_ENDPOINT_URL_ECR",
            "AWS_ENDPOINT_URL_CODEPIPELINE",
        ] {
            proxies.push((var, Proxy::start(routes.clone()).await));
        }
        Delayed { proxies }
    }

    /// The functions' environment: every service behind its own proxy.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        let mut vars = moto_env(&self.proxies[0].1.endpoint);
        vars.retain(|(k, _)| *k != "AWS_ENDPOINT_URL");
        vars.extend(self.proxies.iter().map(|(k, p)| (*k, p.endpoint.clone())));
        vars
    }

    /// Every request seen since the last call, all services.
    pub fn take_seen(&self) -> Vec<Seen> {
        let mut all: Vec<Seen> = self
            .proxies
            .iter()
            .flat_map(|(_, p)| p.take_seen())
            .collect();
        all.sort_by_key(|s| s.started);
        all.truncate(MAX_SEEN);
        all
    }
}

/// One size's figures: (warm levels, warm ms, fresh levels, fresh ms, fresh first `/next` ms).
struct Figures {
    warm: Vec<(usize, f64)>,
    fresh: Vec<(usize, f64)>,
    first_next: Vec<f64>,
}

/// Round trips of on-manifest releases of `images` (service `wide<n>`): each run is a fresh
/// process's first release, then a second release in the same (now warm) process.
async fn measure(
    env: &Env,
    on_manifest: &std::path::Path,
    n: usize,
    images: &Value,
    runs: usize,
) -> Figures {
    let delayed = Delayed::start(&env.moto.endpoint, RTT).await;
    let service = format!("wide{n}");
    let mut figures = Figures {
        warm: vec![],
        fresh: vec![],
        first_next: vec![],
    };
    for run in 0..runs {
        let key = |i: usize| format!("manifests/{service}/hop{run}-{i}.json");
        let release = |i: usize| format!("hop{run}-{i}");
        let body = manifest(&service, &release(0), images).to_string();
        let version = env.put_manifest(&key(0), body.as_bytes()).await;
        delayed.take_seen();
        let mut f = Function::spawn_binary(on_manifest, "on-manifest", &delayed.vars()).await;
        let out = f.invoke(&s3_event_json(&key(0), &version)).await.response();
        let answered = Instant::now();
        assert_eq!(out["results"][0]["outcome"], "started", "{out}");
        let ready = f.api.first_next().expect("asked for work");
        figures.first_next.push(ms(ready - f.spawned_at));
        figures
            .fresh
            .push((levels(&delayed.take_seen()), ms(answered - ready)));
        let body = manifest(&service, &release(1), images).to_string();
        let version = env.put_manifest(&key(1), body.as_bytes()).await;
        delayed.take_seen();
        let at = Instant::now();
        let out = f.invoke(&s3_event_json(&key(1), &version)).await.response();
        let took = ms(at.elapsed());
        assert_eq!(out["results"][0]["outcome"], "started", "{out}");
        figures.warm.push((levels(&delayed.take_seen()), took));
    }
    figures
}

fn median_of(v: &[(usize, f64)]) -> (usize, f64) {
    let mut l: Vec<usize> = v.iter().map(|x| x.0).collect();
    l.sort();
    let mut t: Vec<f64> = v.iter().map(|x| x.1).collect();
    t.sort_by(f64::total_cmp);
    (l[l.len() / 2], percentile(&t, 0.5))
}

/// The round-trip table for 1, 10 and 50 containers (`sizes`: n → the manifest's images).
pub async fn table(
    env: &Env,
    on_manifest: &std::path::Path,
    sizes: &[(usize, Value)],
    runs: usize,
) {
    let rtt = ms(RTT);
    println!(
        "| containers | warm: sequential round trips | warm: time | warm: round-trip equivalents | fresh process: sequential round trips | fresh: time | fresh: round-trip equivalents | fresh: first `/next` |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (n, images) in sizes {
        let f = measure(env, on_manifest, *n, images, runs).await;
        let (wl, wt) = median_of(&f.warm);
        let (fl, ft) = median_of(&f.fresh);
        let mut next = f.first_next.clone();
        next.sort_by(f64::total_cmp);
        println!(
            "| {n} | {wl} | {wt:.0} ms | {:.1} | {fl} | {ft:.0} ms | {:.1} | {:.2} ms |",
            wt / rtt,
            ft / rtt,
            percentile(&next, 0.5)
        );
    }
}
