//! Cold start of every function (tuned and default release build) and of the Python/boto3 peer
//! of on-image-push, run by run in turn, so drift on a shared machine touches all alike.

use std::path::{Path, PathBuf};
use std::time::Instant;

use berth_tests::StandIn;
use berth_tests::runtime::{Function, Outcome, moto_env};
use berth_tests::*;
use serde_json::Value;

use crate::{FUNCTIONS, ms, percentile};

/// One program measured: a function binary, or an interpreter and its script.
struct Subject {
    name: &'static str,
    label: &'static str,
    program: PathBuf,
    args: Vec<String>,
    /// (to first /next, to first response) in ms, one pair per run.
    next: Vec<f64>,
    first: Vec<f64>,
}

/// An event each function handles without calling AWS (or, for migrate and scan-gate, with one
/// call to the local job API): the cold start is then the program's own.
fn cheap_event(name: &str) -> Value {
    match name {
        "on-image-push" => ecr_event_json("DELETE", "SUCCESS", "web/app", "v0.0.1", "sha256:00"),
        "on-manifest" => s3_event_json("manifests/web/x.json", "v")
            .to_string()
            .replace(BUCKET, "elsewhere")
            .parse()
            .unwrap_or(Value::Null),
        "migrate" | "scan-gate" => job_event_json("cold", "nope.zip", false, Some("not-a-token")),
        "verify" => serde_json::json!({"DeploymentId": "", "LifecycleEventHookExecutionId": ""}),
        _ => pipeline_event_json("berth-web", "e", "STOPPING"),
    }
}

fn subjects(tuned: &Path, baseline: &Path, peer: Option<&Path>) -> Vec<Subject> {
    let mut all = Vec::new();
    for name in FUNCTIONS {
        for (label, dir) in [("tuned", tuned), ("default release", baseline)] {
            if dir.join(name).exists() {
                all.push(Subject::new(name, label, dir.join(name), Vec::new()));
            }
        }
        if let (Some(python), "on-image-push") = (peer, name) {
            let script = workspace_root().join("tests/peer/on_image_push.py");
            let args = vec![script.display().to_string()];
            all.push(Subject::new(name, "Python 3 + boto3", python.into(), args));
        }
    }
    all
}

impl Subject {
    fn new(name: &'static str, label: &'static str, program: PathBuf, args: Vec<String>) -> Self {
        Subject {
            name,
            label,
            program,
            args,
            next: Vec::new(),
            first: Vec::new(),
        }
    }

    /// One fresh process: spawned, handed the cheap event at its first `/next`, answered.
    async fn run(&self, vars: &[(&str, String)]) -> (f64, f64) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut f = Function::spawn_program(&self.program, &args, self.name, vars).await;
        let out = f.invoke(&cheap_event(self.name)).await;
        let answered = Instant::now();
        assert!(
            matches!(out, Outcome::Response(_)),
            "{} ({}): {out:?}",
            self.name,
            self.label
        );
        let ready = f.api.first_next().expect("asked for work");
        (ms(ready - f.spawned_at), ms(answered - f.spawned_at))
    }
}

/// The cold-start table; returns (on-image-push tuned median, peer median) to first `/next`.
pub async fn table(
    tuned: &Path,
    baseline: &Path,
    peer: Option<&Path>,
    runs: usize,
    endpoint: &str,
    jobs: &StandIn,
) -> (f64, Option<f64>) {
    let mut vars = moto_env(endpoint);
    vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", jobs.endpoint.clone()));
    let mut all = subjects(tuned, baseline, peer);
    // One unmeasured run each: page cache, and the peer's bytecode cache (as Lambda's own
    // Python runtime ships boto3 compiled).
    for s in &all {
        s.run(&vars).await;
    }
    for _ in 0..runs {
        for s in &mut all {
            let (next, first) = s.run(&vars).await;
            s.next.push(next);
            s.first.push(first);
        }
    }
    println!(
        "| function | build | to first `/next` median | p95 | to first response median | p95 |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let (mut ours, mut theirs) = (f64::NAN, None);
    for s in &mut all {
        s.next.sort_by(f64::total_cmp);
        s.first.sort_by(f64::total_cmp);
        let (n50, n95) = (percentile(&s.next, 0.5), percentile(&s.next, 0.95));
        let (f50, f95) = (percentile(&s.first, 0.5), percentile(&s.first, 0.95));
        println!(
            "| {} | {} | {n50:.2} ms | {n95:.2} ms | {f50:.2} ms | {f95:.2} ms |",
            s.name, s.label
        );
        match (s.name, s.label) {
            ("on-image-push", "tuned") => ours = n50,
            ("on-image-push", "Python 3 + boto3") => theirs = Some(n50),
            _ => {}
        }
    }
    (ours, theirs)
}
