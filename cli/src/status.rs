//! `berth status`: the service's latest release, its current execution and stage states.

use berth::aws::Clients;
use berth::deployment::{Deployments, phase};
use berth::pipeline;
use berth::record::ReleaseRecord;
use berth::records::Records;
use berth::registry::ServiceConfig;
use berth::releases::Releases;
use berth::service_deployments::{DeployKind, describe_service};
use berth::settings::Settings;
use berth::store::Bucket;
use serde_json::{Value, json};

use crate::common::{Output, aws, print_json, service_config};
use crate::exit::{Failure, Outcome};
use crate::releases::row;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    #[arg(required_unless_present = "group")]
    service: Option<String>,
    /// The newest release of a release group instead, member by member.
    #[arg(long, conflicts_with = "service")]
    group: Option<String>,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: StatusArgs) -> Outcome {
    let service = match (&args.service, &args.group) {
        (_, Some(group)) => return crate::groups::status(group, args.output).await,
        (Some(service), None) => service,
        (None, None) => return Err(Failure::usage("name a service or --group")),
    };
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
    let seen = (latest, running.as_ref());
    let (kind, guarded) = view(&clients, &settings, service, deployment.as_deref(), seen).await;
    // For a service ECS deploys itself the Deploy action's external id is the service
    // deployment's ARN, not a CodeDeploy deployment id.
    let codedeploy_id = if kind.is_some_and(|k| k != DeployKind::CodeDeploy) {
        None
    } else {
        deployment
    };
    let doc = json!({
        "service": service, "pipeline": pipeline, "latest_release": row(latest),
        "running_release": running.as_ref().map(|r| r.release.clone()), "contract": contract(&releases, service).await,
        "current_execution": execution, "stages": stages, "codedeploy_deployment_id": codedeploy_id,
        "kind": kind.map(|k| k.as_str()),
        "deployment": guarded.deployment, "verification": guarded.verification,
        "interventions": guarded.interventions,
        "targets": guarded.targets,
    });
    if args.output == Output::Json {
        return print_json(&doc);
    }
    print_text(&doc);
    Ok(())
}

/// The service's deploy kind (DescribeServices; `None` when unreadable) and its deployment
/// view: CodeDeploy's, or the ECS service deployment's for a service ECS deploys itself.
async fn view(
    clients: &Clients,
    settings: &Settings,
    service: &str,
    stage_deployment: Option<&str>,
    (latest, running): (&ReleaseRecord, Option<&ReleaseRecord>),
) -> (Option<DeployKind>, Guarded) {
    let config = service_config(clients, settings, service).await.ok();
    let kind = match &config {
        Some(c) if c.task_target.is_some() => Some(DeployKind::Task),
        Some(c) => describe_service(&clients.ecs, &c.cluster, c.ecs_service_name())
            .await
            .ok()
            .flatten()
            .map(|(k, _)| k),
        None => None,
    };
    let guarded = match (&config, kind) {
        (Some(c), Some(DeployKind::Task)) => {
            let known: Vec<&ReleaseRecord> =
                [Some(latest), running].into_iter().flatten().collect();
            Guarded {
                deployment: serde_json::to_value(&latest.deployment).unwrap_or(Value::Null),
                verification: Value::Null,
                interventions: Value::Null,
                targets: crate::status_task::targets(clients, c, &known).await,
            }
        }
        (Some(c), Some(k)) if k.is_native() => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            crate::status_native::guarded(clients, settings, c, latest, now).await
        }
        _ => guarded(clients, config.as_ref(), stage_deployment, latest, settings).await,
    };
    (kind, guarded)
}

/// The blue/green view: the deployment in flight (else the one the Deploy action shows), its
/// phase and deadline, and the verification and interventions of the release it deploys.
pub struct Guarded {
    pub deployment: Value,
    pub verification: Value,
    pub interventions: Value,
    /// A task target's schedules and rules and what each runs (`null` for a service).
    pub targets: Value,
}

async fn guarded(
    clients: &Clients,
    config: Option<&ServiceConfig>,
    stage_deployment: Option<&str>,
    latest: &ReleaseRecord,
    settings: &Settings,
) -> Guarded {
    let deployments = Deployments::new(clients.codedeploy.clone());
    let active = match config {
        Some(c) => deployments
            .active(&c.deployment_target())
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let facts = match (active, stage_deployment) {
        (Some(f), _) => Some(f),
        (None, Some(id)) => deployments.facts(id).await.ok(),
        (None, None) => None,
    };
    let mut release = None;
    if let (Some(f), Some(c)) = (&facts, config) {
        let found = pipeline::deployment_release(&clients.codepipeline, &c.pipeline, &f.id).await;
        if let Ok(Some((_, started))) = found {
            let records = Records::new(Bucket::new(clients.s3.clone(), &settings.release_bucket));
            release = records
                .get(&c.service, &started.release)
                .await
                .ok()
                .flatten()
                .map(|s| s.value);
        }
    }
    let record = release.as_ref().unwrap_or(latest);
    let verification = match &facts {
        Some(f) => record
            .verifications
            .iter()
            .rev()
            .find(|v| v.deployment_id == f.id),
        None => record.verifications.last(),
    };
    Guarded {
        deployment: facts.as_ref().map_or(Value::Null, |f| {
            let p = phase(f);
            json!({"id": f.id, "status": f.status, "release": release.as_ref().map(|r| r.release.clone()),
                   "phase": p, "summary": p.describe()})
        }),
        verification: serde_json::to_value(verification).unwrap_or(Value::Null),
        interventions: serde_json::to_value(&record.interventions).unwrap_or(Value::Null),
        targets: Value::Null,
    }
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
    print_steps(latest, &doc["contract"]);
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
    let d = &doc["deployment"];
    if doc["kind"] == "TASK" {
        println!("kind       TASK (task target)");
        for line in crate::status_task::lines(&doc["targets"]) {
            println!("{line}");
        }
        return;
    }
    let native = doc["kind"].as_str().is_some_and(|k| k != "CODE_DEPLOY");
    if native {
        println!("kind       {}", s(&doc["kind"]));
    }
    if native && d.is_object() {
        for line in crate::status_native::lines(d) {
            println!("{line}");
        }
    } else if native {
        println!("deployment (none listed by ECS)");
    } else if d.is_object() {
        println!("deployment {} {}", s(&d["id"]), s(&d["summary"]));
    } else {
        println!("deployment {}", s(&doc["codedeploy_deployment_id"]));
    }
    print_verification(&doc["verification"]);
    for i in doc["interventions"].as_array().into_iter().flatten() {
        println!(
            "{:<10} {} by {} at {}",
            s(&i["action"]),
            s(&i["deployment_id"]),
            s(&i["by"]),
            s(&i["at"])
        );
    }
}

/// What to do about a failed contract step: the release the next releases are held behind
/// (the index's post-migration hold), as its record tells it. Unreadable: nothing to say.
async fn contract(releases: &Releases, service: &str) -> Option<String> {
    let held = releases
        .index
        .post_migration_failed(service, 1)
        .await
        .ok()?;
    let stored = releases.records.get(service, held.first()?).await.ok()??;
    berth::migration::post::advice(&stored.value)
}

/// The release's scan, both migrations, and what to do about a failed contract step.
fn print_steps(latest: &Value, contract: &Value) {
    if let Some(scan) = scan_line(&latest["scan"]) {
        println!("scan       {scan}");
    }
    let outcome = |v: &Value| v.as_str().unwrap_or("none").to_owned();
    if latest["post_migration"].is_string() || latest["migration"].is_string() {
        println!(
            "migration  {}; post migration {}",
            outcome(&latest["migration"]),
            outcome(&latest["post_migration"])
        );
    }
    if let Some(advice) = contract.as_str() {
        println!("contract   {advice}");
    }
}

/// The `verify` hook's verdict and each check's result.
fn print_verification(v: &Value) {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    if v.is_object() {
        println!("verify     {}: {}", s(&v["verdict"]), s(&v["message"]));
        for c in v["checks"].as_array().into_iter().flatten() {
            let status = c["status"].as_u64().map_or("-".into(), |n| n.to_string());
            let ms = c["latency_ms"]
                .as_u64()
                .map_or("-".into(), |n| format!("{n} ms"));
            let mark = if c["passed"] == true { "ok " } else { "BAD" };
            let why = c["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            println!(
                "  {mark} GET {} → {status} in {ms} ({} attempt(s)){why}",
                s(&c["url"]),
                c["attempts"]
            );
        }
    }
}

/// `blocked:3 — app COMPLETE (CRITICAL 1, HIGH 2); nginx COMPLETE (no findings)`: the latest
/// release's scan summary on one line (an image index judged by its entry: `app linux/amd64
/// COMPLETE (…)`).
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
            match &i.judged {
                Some(j) => format!("{c} {} {} ({counts})", j.platform, i.status),
                None => format!("{c} {} ({counts})", i.status),
            }
        })
        .collect();
    Some(if images.is_empty() {
        summary.cell()
    } else {
        format!("{} — {}", summary.cell(), images.join("; "))
    })
}
