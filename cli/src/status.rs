//! `berth status`: the service's latest release, its current execution and stage states.

use berth::aws::Clients;
use berth::releases::Releases;
use berth::store::Bucket;
use serde_json::{Value, json};

use crate::common::{Output, aws, print_json};
use crate::exit::{Failure, Outcome};
use crate::releases::row;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    service: String,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: StatusArgs) -> Outcome {
    let service = &args.service;
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let releases = Releases::new(clients.codepipeline.clone(), bucket);
    crate::releases::indexed(&releases, service).await?;
    let (newest, running) = releases
        .newest_and_current(service, std::time::SystemTime::now())
        .await?;
    let Some(latest) = newest.as_ref() else {
        return Err(Failure::refused(format!("no releases of {service}")));
    };
    let pipeline = latest.pipeline.as_str();
    let executions = clients
        .codepipeline
        .list_pipeline_executions()
        .pipeline_name(pipeline)
        .max_results(1)
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "codepipeline:ListPipelineExecutions {pipeline}"
        )))?;
    let execution = executions.pipeline_execution_summaries().first().map(|c| {
        json!({"id": c.pipeline_execution_id(), "status": c.status().map(|s| s.as_str().to_owned())})
    });
    let (stages, deployment) = stages(&clients, pipeline).await;
    let doc = json!({
        "service": service, "pipeline": pipeline, "latest_release": row(latest),
        "running_release": running.as_ref().map(|r| r.release.clone()),
        "current_execution": execution, "stages": stages, "codedeploy_deployment_id": deployment,
    });
    if args.output == Output::Json {
        return print_json(&doc);
    }
    print_text(&doc);
    Ok(())
}

/// Stage states and the CodeDeploy deployment id of the Deploy action, where the endpoint
/// answers `GetPipelineState`.
async fn stages(clients: &Clients, pipeline: &str) -> (Vec<Value>, Option<String>) {
    let Ok(state) = clients
        .codepipeline
        .get_pipeline_state()
        .name(pipeline)
        .send()
        .await
    else {
        return (Vec::new(), None);
    };
    let deployment = state
        .stage_states()
        .iter()
        .flat_map(|st| st.action_states())
        .find(|a| a.action_name() == Some("Deploy"))
        .and_then(|a| a.latest_execution())
        .and_then(|e| e.external_execution_id())
        .map(str::to_owned);
    let stages = state
        .stage_states()
        .iter()
        .map(|st| {
            json!({"stage": st.stage_name(),
                   "status": st.latest_execution().map(|e| e.status().as_str().to_owned())})
        })
        .collect();
    (stages, deployment)
}

fn print_text(doc: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    println!(
        "service    {}\npipeline   {}",
        s(&doc["service"]),
        s(&doc["pipeline"])
    );
    let latest = &doc["latest_release"];
    println!(
        "release    {} ({})",
        s(&latest["release"]),
        s(&latest["status"])
    );
    if let Some(scan) = scan_line(&latest["scan"]) {
        println!("scan       {scan}");
    }
    if doc["current_execution"].is_object() {
        let c = &doc["current_execution"];
        println!("execution  {} {}", s(&c["id"]), s(&c["status"]));
    }
    let stages = doc["stages"].as_array().cloned().unwrap_or_default();
    for st in &stages {
        println!("  {:<10} {}", s(&st["stage"]), s(&st["status"]));
    }
    if stages.is_empty() {
        println!("  (stage states unavailable from this endpoint)");
    }
    println!("deployment {}", s(&doc["codedeploy_deployment_id"]));
}

/// `blocked:3 — app COMPLETE (CRITICAL 1, HIGH 2); nginx COMPLETE (no findings)`: the latest
/// release's scan summary on one line.
fn scan_line(scan: &Value) -> Option<String> {
    let summary: berth::scan::ScanSummary = serde_json::from_value(scan.clone()).ok()?;
    let images: Vec<String> = summary
        .images
        .iter()
        .map(|(c, i)| {
            let mut counts: Vec<(&String, &u32)> = i.counts.iter().collect();
            counts.sort_by_key(|(s, _)| {
                std::cmp::Reverse(berth::registry::Severity::parse(s).map_or(0, berth::scan::rank))
            });
            let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
            let counts = if counts.is_empty() {
                "no findings".to_owned()
            } else {
                counts.join(", ")
            };
            format!("{c} {} ({counts})", i.status)
        })
        .collect();
    Some(if images.is_empty() {
        summary.cell()
    } else {
        format!("{} — {}", summary.cell(), images.join("; "))
    })
}
