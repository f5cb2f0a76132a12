//! `make bench` measurements (the build sizes come from scripts/bench.sh): cold start, peak
//! RSS, on-manifest latency by manifest size, and AWS calls per release. Prints Markdown.
//!
//! Usage: bench <tuned bin dir> <baseline bin dir> [runs]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_tests::StandIn;
use berth_tests::runtime::{Function, Outcome, moto_env};
use berth_tests::*;
use serde_json::{Value, json};

const FUNCTIONS: [&str; 5] = [
    "on-image-push",
    "on-manifest",
    "migrate",
    "on-pipeline-event",
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

/// An event each function handles without calling AWS (or, for migrate, with one call to the
/// local job API): the cold start is then the binary's own.
fn cheap_event(name: &str) -> Value {
    match name {
        "on-image-push" => ecr_event_json("DELETE", "SUCCESS", "web/app", "v0.0.1", "sha256:00"),
        "on-manifest" => s3_event_json("manifests/web/x.json", "v")
            .to_string()
            .replace(BUCKET, "elsewhere")
            .parse()
            .unwrap_or(Value::Null),
        "migrate" | "scan-gate" => job_event_json("cold", "nope.zip", false, Some("not-a-token")),
        _ => pipeline_event_json("berth-web", "e", "STOPPING"),
    }
}

/// (to first /next, to first response) in ms, median and p95 over `runs` fresh processes.
async fn cold_start(
    dir: &Path,
    name: &str,
    runs: usize,
    endpoint: &str,
    jobs: &StandIn,
) -> [f64; 4] {
    let mut next = Vec::new();
    let mut first = Vec::new();
    let mut vars = moto_env(endpoint);
    vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    for _ in 0..runs {
        let mut f = Function::spawn_binary(&dir.join(name), name, &vars).await;
        let out = f.invoke(&cheap_event(name)).await;
        let answered = Instant::now();
        assert!(matches!(out, Outcome::Response(_)), "{name}: {out:?}");
        let ready = f.api.first_next().expect("asked for work");
        next.push(ms(ready - f.spawned_at));
        first.push(ms(answered - f.spawned_at));
    }
    next.sort_by(f64::total_cmp);
    first.sort_by(f64::total_cmp);
    [
        percentile(&next, 0.5),
        percentile(&next, 0.95),
        percentile(&first, 0.5),
        percentile(&first, 0.95),
    ]
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
    immediate_task_progress(&env.moto.endpoint).await;
    let jobs = StandIn::job_api().await;

    println!("### Cold start (local Runtime API, {runs} fresh processes each)\n");
    println!(
        "| function | build | to first `/next` median | p95 | to first response median | p95 |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    for name in FUNCTIONS {
        for (label, dir) in [("tuned", &tuned), ("default release", &baseline)] {
            if !dir.join(name).exists() {
                println!("| {name} | {label} | n/a | | | |");
                continue;
            }
            let [n50, n95, f50, f95] = cold_start(dir, name, runs, &env.moto.endpoint, &jobs).await;
            println!(
                "| {name} | {label} | {n50:.2} ms | {n95:.2} ms | {f50:.2} ms | {f95:.2} ms |"
            );
        }
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
    let ecr = ops
        .iter()
        .filter(|o| o.contains("AmazonEC2ContainerRegistry"))
        .count();
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
    for n in [1usize, 10, 50] {
        let images = env.seed_wide_service(n).await;
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
        let ecr = ops
            .iter()
            .filter(|o| o.contains("AmazonEC2ContainerRegistry"))
            .count();
        println!(
            "| {n} | {n} | {:.1} ms | {:.1} ms | {} | {ecr} |",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            ops.len()
        );
    }
    drop((push, on_manifest, migrate));
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
