//! End to end: an image push to `StartPipelineExecution`, through the compiled on-image-push
//! and on-manifest behind their Runtime APIs (the S3 notification between them handed over at
//! once; in AWS its delivery adds its own latency).

use std::path::Path;
use std::time::{Duration, Instant};

use berth_tests::proxy::levels;
use berth_tests::runtime::Function;
use berth_tests::*;

use crate::hops::{Delayed, RTT};
use crate::{ms, percentile};

/// Both functions, started when their first event arrives (fresh) or kept between releases.
struct Pair {
    push: Option<Function>,
    manifest: Option<Function>,
}

async fn function<'a>(
    slot: &'a mut Option<Function>,
    dir: &Path,
    name: &str,
    delayed: &Delayed,
) -> &'a mut Function {
    if slot.is_none() {
        *slot = Some(Function::spawn_binary(&dir.join(name), name, &delayed.vars()).await);
    }
    slot.as_mut().expect("spawned above")
}

/// One push of `tag`: (push → StartPipelineExecution answered, sequential round trips).
async fn one(
    env: &mut Env,
    dir: &Path,
    delayed: &Delayed,
    pair: &mut Pair,
    tag: &str,
) -> (f64, usize) {
    let digest = env.push_image("web/app", tag).await;
    delayed.take_seen();
    let at = Instant::now();
    let event = ecr_event_json("PUSH", "SUCCESS", "web/app", tag, &digest);
    let out = function(&mut pair.push, dir, "on-image-push", delayed)
        .await
        .invoke(&event)
        .await
        .response();
    let written = &out["results"][0];
    assert_eq!(written["outcome"], "written", "{out}");
    let event = s3_event_json(
        written["key"].as_str().unwrap_or_default(),
        written["version_id"].as_str().unwrap_or_default(),
    );
    let out = function(&mut pair.manifest, dir, "on-manifest", delayed)
        .await
        .invoke(&event)
        .await
        .response();
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let seen = delayed.take_seen();
    let start = seen
        .iter()
        .find(|s| s.operation == "StartPipelineExecution")
        .map(|s| s.ended)
        .expect("the pipeline was started");
    (ms(start - at), levels(&seen))
}

/// The push → start table: warm and fresh processes, without and with a 50 ms round trip.
pub async fn table(env: &mut Env, dir: &Path, runs: usize) {
    println!(
        "| round trip | processes | push → `StartPipelineExecution` median | p95 | sequential round trips |"
    );
    println!("|---:|---|---:|---:|---:|");
    let mut tag = 0;
    for rtt in [Duration::ZERO, RTT] {
        let delayed = Delayed::start(&env.moto.endpoint, rtt).await;
        for fresh in [false, true] {
            let mut pair = Pair {
                push: None,
                manifest: None,
            };
            let (mut times, mut hops) = (Vec::new(), Vec::new());
            for run in 0..runs + usize::from(!fresh) {
                if fresh {
                    pair = Pair {
                        push: None,
                        manifest: None,
                    };
                }
                tag += 1;
                let (took, h) = one(env, dir, &delayed, &mut pair, &format!("v8.{tag}.0")).await;
                // A warm pair's first release is its cold start: not counted.
                if fresh || run > 0 {
                    times.push(took);
                    hops.push(h);
                }
            }
            times.sort_by(f64::total_cmp);
            hops.sort();
            println!(
                "| {} ms | {} | {:.1} ms | {:.1} ms | {} |",
                rtt.as_millis(),
                if fresh {
                    "fresh (cold start of both)"
                } else {
                    "warm"
                },
                percentile(&times, 0.5),
                percentile(&times, 0.95),
                hops[hops.len() / 2]
            );
        }
    }
}
