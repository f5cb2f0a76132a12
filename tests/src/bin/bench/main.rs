//! `make bench` measurements (the build sizes come from scripts/bench.sh): cold start (with
//! the Python/boto3 peer), peak RSS, AWS calls per release, on-manifest latency by manifest
//! size, round trips on the critical path, push → pipeline start, and history at length.
//! Prints Markdown.
//!
//! Usage: bench <tuned bin dir> <baseline bin dir> [runs]
//! `BENCH_PEER_PYTHON`: a Python with boto3 for the peer (tests/peer); `BENCH_CLI`: the berth
//! CLI binary for the history figures (each section is left out without its program);
//! `BENCH_ONLY=cold`: the cold-start table only; `BENCH_ONLY=push-scale`: the push-at-registry-size
//! table only (`bench target/debug '' 5` measures the debug build without building a release).

mod cold;
mod e2e;
mod history;
mod hops;
mod push_scale;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_tests::StandIn;
use berth_tests::runtime::{Function, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

const FUNCTIONS: [&str; 6] = [
    "on-image-push",
    "on-manifest",
    "migrate",
    "on-pipeline-event",
    "verify",
    "scan-gate",
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn manifest(service: &str, release: &str, images: &Value) -> Value {
    json!({"schema": "berth/v1", "service": service, "release": release, "images": images})
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tuned = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("target/release"));
    let baseline = PathBuf::from(args.get(2).map(String::as_str).unwrap_or("target/baseline"));
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(20);

    let mut env = Env::start().await;
    if std::env::var("BENCH_ONLY").as_deref() == Ok("push-scale") {
        push_scale_section(&mut env, &tuned, runs).await;
        return;
    }
    immediate_task_progress(&env.moto.endpoint).await;
    let jobs = StandIn::job_api().await;

    let peer = std::env::var_os("BENCH_PEER_PYTHON").map(PathBuf::from);
    println!("### Cold start (local Runtime API, {runs} fresh processes each, in turn)\n");
    let (ours, theirs) = cold::table(
        &tuned,
        &baseline,
        peer.as_deref(),
        runs,
        &env.moto.endpoint,
        &jobs,
    )
    .await;
    if let Some(theirs) = theirs {
        println!(
            "\nTo first `/next`, on-image-push (tuned) is **{:.1}×** faster than its Python 3 + boto3 peer ({ours:.2} ms against {theirs:.1} ms, medians of the same run).",
            theirs / ours
        );
    }

    if std::env::var("BENCH_ONLY").as_deref() == Ok("cold") {
        return;
    }

    // Peak RSS of one real invocation each (tuned build).
    println!("\n### Peak RSS of one real invocation (tuned build, VmHWM)\n");
    println!("| function | invocation | peak RSS |");
    println!("|---|---|---:|");
    let vars = moto_env(&env.moto.endpoint);
    let digest = env.push_image("web/app", "v5.0.0").await;
    let mut push =
        Function::spawn_binary(&tuned.join("on-image-push"), "on-image-push", &vars).await;
    let out = push
        .invoke(&ecr_event_json(
            "PUSH", "SUCCESS", "web/app", "v5.0.0", &digest,
        ))
        .await
        .response();
    println!(
        "| on-image-push | push → manifest written | {} KiB |",
        peak_rss_kib(push.pid().unwrap_or(0))
    );
    let written = &out["results"][0];
    let mut on_manifest =
        Function::spawn_binary(&tuned.join("on-manifest"), "on-manifest", &vars).await;
    let out = on_manifest
        .invoke(&s3_event_json(
            written["key"].as_str().unwrap_or(""),
            written["version_id"].as_str().unwrap_or(""),
        ))
        .await
        .response();
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    println!(
        "| on-manifest | single-image release | {} KiB |",
        peak_rss_kib(on_manifest.pid().unwrap_or(0))
    );
    let artifact_version = out["results"][0]["artifact_version_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let artifact = env.stage_artifact(&artifact_version, "v5.0.0").await;
    let mut mvars = vars.clone();
    mvars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    let mut migrate = Function::spawn_binary(&tuned.join("migrate"), "migrate", &mvars).await;
    migrate
        .invoke(&job_event_json("bench-1", &artifact, false, None))
        .await
        .response();
    println!(
        "| migrate | first invocation (RunTask) | {} KiB |",
        peak_rss_kib(migrate.pid().unwrap_or(0))
    );

    // AWS calls per release (library with every client recorded).
    let recorder = Recorder::default();
    let releaser =
        berth::on_manifest::Context::new(recorded_clients(&env.config, &recorder), env.settings());
    println!("\n### AWS calls per release (on-manifest)\n");
    println!("| release | calls | of which ECR | operations |");
    println!("|---|---:|---:|---|");
    let digest = env.push_image("web/app", "v5.1.0").await;
    let key = "manifests/web/v5.1.0.json";
    let doc = manifest(
        "web",
        "v5.1.0",
        &json!({"app": format!("{}@{digest}", repo_uri("web/app"))}),
    );
    let version = env.put_manifest(key, doc.to_string().as_bytes()).await;
    recorder.clear();
    let out = releaser
        .on_event(s3_event(key, &version), &env.invocation())
        .await
        .map(|o| serde_json::to_value(o).unwrap())
        .expect("handled");
    assert_eq!(out["results"][0]["outcome"], "started", "{out}");
    let ops = recorder.operations();
    let ecr = ecr_calls(&ops);
    println!(
        "| single-image push release (web, 2 containers) | {} | {ecr} | {} |",
        ops.len(),
        short(&ops)
    );

    // Handler latency by manifest size, through the tuned binary.
    println!(
        "\n### on-manifest latency by manifest size (tuned binary behind the Runtime API, against moto)\n"
    );
    println!("| containers | repositories | median | p95 | AWS calls | ECR calls |");
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut sizes = Vec::new();
    for n in [1usize, 10, 50] {
        let images = env.seed_wide_service(n).await;
        sizes.push((n, images.clone()));
        let service = format!("wide{n}");
        let mut times = Vec::new();
        for r in 0..7 {
            let release = format!("r{r}");
            let key = format!("manifests/{service}/{release}.json");
            let version = env
                .put_manifest(
                    &key,
                    manifest(&service, &release, &images).to_string().as_bytes(),
                )
                .await;
            let at = Instant::now();
            let out = on_manifest
                .invoke(&s3_event_json(&key, &version))
                .await
                .response();
            times.push(ms(at.elapsed()));
            assert_eq!(out["results"][0]["outcome"], "started", "{out}");
        }
        times.sort_by(f64::total_cmp);
        let key = format!("manifests/{service}/counted.json");
        let version = env
            .put_manifest(
                &key,
                manifest(&service, "counted", &images)
                    .to_string()
                    .as_bytes(),
            )
            .await;
        recorder.clear();
        releaser
            .on_event(s3_event(&key, &version), &env.invocation())
            .await
            .map(|o| serde_json::to_value(o).unwrap())
            .expect("handled");
        let ops = recorder.operations();
        let ecr = ecr_calls(&ops);
        println!(
            "| {n} | {n} | {:.1} ms | {:.1} ms | {} | {ecr} |",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            ops.len()
        );
    }
    drop((push, on_manifest, migrate));

    println!(
        "\n### Critical path in round trips (on-manifest; every AWS request held {} ms, every new connection {} ms)\n",
        hops::RTT.as_millis(),
        hops::RTT.as_millis() * 2
    );
    hops::table(&env, &tuned.join("on-manifest"), &sizes, 3).await;

    println!("\n### Push to pipeline start (web: on-image-push, then on-manifest)\n");
    e2e::table(&mut env, &tuned, 5).await;

    if let Some(cli) = std::env::var_os("BENCH_CLI").map(PathBuf::from) {
        let template = env
            .get_json("releases/web/v5.1.0.json")
            .await
            .expect("a record");
        println!("\n### History at length (`berth releases`, the CLI's own build, against moto)\n");
        history::table(&env, &cli, &template, 5).await;
    }

    push_scale_section(&mut env, &tuned, runs.min(10)).await;
}

async fn push_scale_section(env: &mut Env, dir: &std::path::Path, runs: usize) {
    let build = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?");
    println!(
        "\n### One push at registry size (on-image-push, `{build}` build behind the Runtime API, {runs} warm pushes each, against moto)\n"
    );
    push_scale::table(env, dir, runs).await;
}

/// Operation names without protocol prefixes, e.g. `ssm.GetParameter`, `s3 PUT releases/…`.
fn short(ops: &[String]) -> String {
    ops.iter()
        .map(|o| {
            let rest = o
                .split_once(' ')
                .filter(|(m, _)| matches!(*m, "GET" | "PUT" | "HEAD" | "POST" | "DELETE"));
            if let (None, Some((svc, op))) = (rest, o.split_once('.')) {
                let svc = if svc.contains("EC2ContainerRegistry") {
                    "ecr"
                } else if svc.contains("EC2ContainerService") {
                    "ecs"
                } else if svc.contains("CodePipeline") {
                    "codepipeline"
                } else if svc.contains("AmazonSSM") {
                    "ssm"
                } else {
                    svc
                };
                format!("{svc}:{op}")
            } else {
                let (method, path) = o.split_once(' ').unwrap_or((o, ""));
                let path = path
                    .split_once(&format!("/{BUCKET}/"))
                    .map(|(_, p)| p)
                    .unwrap_or(path);
                let prefix = path.split('/').next().unwrap_or("");
                format!("s3:{method} {prefix}/")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many of the recorded operations went to ECR.
fn ecr_calls(ops: &[String]) -> usize {
    ops.iter()
        .filter(|o| o.contains("AmazonEC2ContainerRegistry"))
        .count()
}
