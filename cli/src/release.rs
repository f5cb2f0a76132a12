//! `berth release`: upload a manifest, and with `--wait` follow its pipeline execution (a
//! group manifest: see `release_group`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth::aws::Clients;
use berth::keys;
use berth::manifest::Manifest;
use berth::records::Records;
use berth::store::Bucket;
use serde_json::Value;

use crate::common::{aws, read};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct ReleaseArgs {
    manifest: PathBuf,
    /// Follow the pipeline execution until it ends.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this many seconds.
    #[arg(long, default_value_t = 3600)]
    timeout_seconds: u64,
    /// With --wait: seconds between two looks at the release and its execution.
    #[arg(long, default_value_t = 5)]
    poll_seconds: u64,
}

/// How `--wait` waits: a look every `interval` until `deadline`.
pub struct Wait {
    interval: Duration,
    deadline: Instant,
    timeout_seconds: u64,
}

impl Wait {
    /// Sleeps until the next look; `Err` naming `what` once the deadline has passed.
    pub async fn next(&self, what: &str) -> Result<(), Failure> {
        if Instant::now() + self.interval > self.deadline {
            return Err(Failure::failed(format!(
                "gave up waiting for {what} after {} s",
                self.timeout_seconds
            )));
        }
        tokio::time::sleep(self.interval).await;
        Ok(())
    }
}

pub async fn run(args: ReleaseArgs) -> Outcome {
    let bytes = read(&args.manifest)?;
    let wait = args.wait.then(|| Wait {
        interval: Duration::from_secs(args.poll_seconds),
        deadline: Instant::now() + Duration::from_secs(args.timeout_seconds),
        timeout_seconds: args.timeout_seconds,
    });
    if let Ok(doc) = serde_json::from_slice::<Value>(&bytes)
        && doc["schema"] == berth::group::SCHEMA
    {
        return crate::release_group::run(&args.manifest, bytes, &doc, wait).await;
    }
    let doc: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::refused(format!(
            "{}: {e} (run `berth validate` for every problem)",
            args.manifest.display()
        ))
    })?;
    if !keys::is_valid_name(&doc.service) || !keys::is_valid_name(&doc.release) {
        return Err(Failure::refused(
            "service and release must match [A-Za-z0-9._-]{1,64}",
        ));
    }
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let key = keys::manifest_key(&doc.service, &doc.release);
    let Ok(version) = crate::common::upload_new(&bucket, &key, bytes).await? else {
        return Err(Failure::refused(format!(
            "s3://{}/{key} already exists: releases are immutable, use a new release name",
            bucket.name
        )));
    };
    println!("uploaded s3://{}/{key} (version {version})", bucket.name);
    let Some(wait) = wait else {
        return Ok(());
    };
    let (pipeline, execution) = started(&bucket, &doc, &version, &wait).await?;
    println!("pipeline {pipeline} execution {execution} started");
    follow(&clients, &pipeline, &execution, &wait).await
}

/// Waits for on-manifest to start the pipeline for this upload, or to reject it.
async fn started(
    bucket: &Bucket,
    doc: &Manifest,
    version: &str,
    wait: &Wait,
) -> Result<(String, String), Failure> {
    let records = Records::new(bucket.clone());
    let rejected_key = keys::rejected_key(&doc.service, &doc.release);
    loop {
        if let Some(r) = records.get(&doc.service, &doc.release).await?
            && r.value.manifest.version_id == version
            && let Some(e) = r.value.pipeline_execution_id.clone()
        {
            return Ok((r.value.pipeline, e));
        }
        if let Some(r) = bucket.get_json::<Value>(&rejected_key).await?
            && r.value["version_id"] == version
        {
            return Err(refusal(&r.value));
        }
        wait.next("the pipeline to start").await?;
    }
}

/// Prints the execution's status (and stage states, where available) on every change until
/// it ends; exit 4 unless it succeeded.
async fn follow(clients: &Clients, pipeline: &str, execution: &str, wait: &Wait) -> Outcome {
    let mut last_line = String::new();
    loop {
        let exec = clients
            .codepipeline
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution)
            .send()
            .await
            .map_err(berth::Error::sdk(format!(
                "codepipeline:GetPipelineExecution {execution}"
            )))?;
        let status = exec
            .pipeline_execution()
            .and_then(|e| e.status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        let stages = stage_line(clients, pipeline).await;
        let line = format!(
            "{status}{}",
            stages.map(|s| format!("  {s}")).unwrap_or_default()
        );
        if line != last_line {
            println!("{line}");
            last_line = line;
        }
        match status.as_str() {
            "Succeeded" => return Ok(()),
            "Failed" | "Stopped" | "Superseded" | "Cancelled" => {
                return Err(Failure::execution_failed(format!(
                    "execution {execution} ended {status}"
                )));
            }
            _ => wait.next(&format!("execution {execution} to end")).await?,
        }
    }
}

/// `Source:Succeeded Release:InProgress` from GetPipelineState, when available.
pub async fn stage_line(clients: &Clients, pipeline: &str) -> Option<String> {
    let state = clients
        .codepipeline
        .get_pipeline_state()
        .name(pipeline)
        .send()
        .await
        .ok()?;
    let stages: Vec<String> = state
        .stage_states()
        .iter()
        .map(|s| {
            let status = s
                .latest_execution()
                .map(|e| e.status().as_str().to_owned())
                .unwrap_or_else(|| "-".into());
            format!("{}:{status}", s.stage_name().unwrap_or("?"))
        })
        .collect();
    Some(stages.join(" "))
}

/// The refusal for a rejection record (`rejected/...`): its errors, one per line.
pub(crate) fn refusal(rejection: &Value) -> Failure {
    let errors: Vec<&str> = rejection["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    Failure::refused(format!("rejected:\n{}", errors.join("\n")))
}
