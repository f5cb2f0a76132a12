//! `berth`: the operator's command line. It talks to AWS through the same library as the
//! functions, with the standard AWS environment (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`)
//! and `BERTH_RELEASE_BUCKET` / `BERTH_SERVICES_PREFIX`.
//!
//! Exit codes: 0 done; 1 the input is invalid or the request was refused (validation errors,
//! nothing to roll back to); 2 usage; 3 an AWS, file or configuration failure; 4 `--wait` saw
//! the execution end other than SUCCEEDED.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use berth::aws::Clients;
use berth::history::History;
use berth::images::{Home, ImageRef, Reference};
use berth::keys::{self, ManifestKey};
use berth::manifest::{self, Manifest};
use berth::record::ReleaseRecord;
use berth::registry::Service;
use berth::release::Releaser;
use berth::render;
use berth::settings::Settings;
use berth::store::{Bucket, Condition, Written};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "Operate berth releases on Amazon ECS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Check a manifest offline; lists every problem.
    Validate {
        manifest: PathBuf,
        /// A registry entry (JSON) to also check containers and repositories against.
        #[arg(long)]
        registry: Option<PathBuf>,
    },
    /// Show the task definition, appspec and imageDetail a manifest would produce. With
    /// --task-def (and --registry) offline; otherwise from AWS with digests resolved and a diff
    /// against the task definition the service runs now.
    Render {
        manifest: PathBuf,
        #[arg(long)]
        task_def: Option<PathBuf>,
        #[arg(long)]
        registry: Option<PathBuf>,
    },
    /// Upload a manifest to manifests/<service>/<release>.json.
    Release {
        manifest: PathBuf,
        /// Follow the pipeline execution until it ends.
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value_t = 3600)]
        timeout_seconds: u64,
    },
    /// Release history of a service, newest first.
    Releases {
        service: String,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// The service's current release and pipeline execution.
    Status {
        service: String,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Redeploy an earlier release's exact artifact (default: the last known good one).
    Rollback {
        service: String,
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

/// A failure with its exit code.
struct Fail(u8, String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(3, e.to_string())
    }
}

type Res = Result<(), Fail>;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { manifest, registry } => validate(&manifest, registry.as_deref()),
        Command::Render {
            manifest,
            task_def,
            registry,
        } => render_cmd(&manifest, task_def.as_deref(), registry.as_deref()).await,
        Command::Release {
            manifest,
            wait,
            timeout_seconds,
        } => release(&manifest, wait, timeout_seconds).await,
        Command::Releases { service, output } => releases(&service, output).await,
        Command::Status { service, output } => status(&service, output).await,
        Command::Rollback {
            service,
            to,
            output,
        } => rollback(&service, to.as_deref(), output).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, message)) => {
            eprintln!("berth: {message}");
            ExitCode::from(code)
        }
    }
}

fn read(path: &std::path::Path) -> Result<Vec<u8>, Fail> {
    std::fs::read(path).map_err(|e| Fail(3, format!("reading {}: {e}", path.display())))
}

/// The key a manifest will be uploaded under, from its own `service` and `release`.
fn own_key(bytes: &[u8]) -> ManifestKey {
    let doc: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let field = |f: &str| {
        doc.get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    ManifestKey {
        service: field("service"),
        release: field("release"),
    }
}

/// Account and region for bare repository names: the manifest's own images decide offline.
fn home_from_images(bytes: &[u8]) -> Home {
    let doc: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    doc.get("images")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(Value::as_str)
        .find_map(|i| ImageRef::parse(i).ok())
        .map(|r| Home {
            account_id: r.repository.registry_id,
            region: r.repository.region,
        })
        .unwrap_or(Home {
            account_id: String::new(),
            region: String::new(),
        })
}

fn offline_registry(path: &std::path::Path, bytes: &[u8]) -> Result<Service, Fail> {
    let text = String::from_utf8(read(path)?)
        .map_err(|_| Fail(3, format!("{} is not UTF-8", path.display())))?;
    Service::parse(
        &path.display().to_string(),
        None,
        &text,
        &home_from_images(bytes),
    )
    .map_err(|errors| Fail(1, errors.join("\n")))
}

fn validate(path: &std::path::Path, registry: Option<&std::path::Path>) -> Res {
    let bytes = read(path)?;
    let service = registry.map(|r| offline_registry(r, &bytes)).transpose()?;
    match manifest::validate(&bytes, &own_key(&bytes), service.as_ref()) {
        Ok(m) => {
            println!(
                "{}: valid manifest for {}/{} ({} image(s))",
                path.display(),
                m.service,
                m.release,
                m.images.len()
            );
            Ok(())
        }
        Err(problems) => {
            for p in &problems {
                println!("{}: {p}", path.display());
            }
            Err(Fail(
                1,
                format!("{} problem(s) in {}", problems.len(), path.display()),
            ))
        }
    }
}

async fn render_cmd(
    path: &std::path::Path,
    task_def: Option<&std::path::Path>,
    registry: Option<&std::path::Path>,
) -> Res {
    let bytes = read(path)?;
    let key = own_key(&bytes);
    if let Some(td_path) = task_def {
        let registry = registry.ok_or_else(|| {
            Fail(
                2,
                "--task-def needs --registry (the service's registry entry) to render offline"
                    .into(),
            )
        })?;
        let service = offline_registry(registry, &bytes)?;
        let m = manifest::validate(&bytes, &key, Some(&service)).map_err(|p| Fail(1, join(&p)))?;
        let td: Value = serde_json::from_slice(&read(td_path)?)
            .map_err(|e| Fail(1, format!("{}: {e}", td_path.display())))?;
        let td = td.get("taskDefinition").cloned().unwrap_or(td);
        let mut images = BTreeMap::new();
        let mut unresolved = Vec::new();
        for (container, image) in &m.images {
            match &image.reference {
                Reference::Digest(d) => {
                    images.insert(container.clone(), image.repository.pinned(d))
                }
                Reference::Tag(t) => {
                    unresolved.push(format!("{container} ({t})"));
                    images.insert(container.clone(), format!("{}:{t}", image.repository.uri()))
                }
            };
        }
        let taskdef =
            render::render_task_definition(&td, &images).map_err(|e| Fail(1, e.join("\n")))?;
        let primary = service
            .config
            .push_trigger
            .as_ref()
            .map(|t| t.container.clone())
            .filter(|c| images.contains_key(c))
            .or_else(|| images.keys().next().cloned())
            .and_then(|c| images.get(&c).cloned())
            .unwrap_or_default();
        print_rendered(
            &taskdef,
            &render::render_appspec(&service.config.appspec),
            &render::render_image_detail(&primary),
        );
        if !unresolved.is_empty() {
            eprintln!(
                "note: offline, tags stay tags: {}; a release resolves them to digests",
                unresolved.join(", ")
            );
        }
        return Ok(());
    }
    let (clients, settings) = aws().await?;
    let releaser = Releaser::new(clients.clone(), settings);
    let home = Home {
        account_id: account_of(&clients).await,
        region: clients.region().to_owned(),
    };
    let service = releaser
        .registry
        .service(&key.service, &home)
        .await?
        .map_err(|e| Fail(1, e.join("\n")))?;
    let m = manifest::validate(&bytes, &key, Some(&service)).map_err(|p| Fail(1, join(&p)))?;
    let rendered = releaser
        .render(&service, &m)
        .await?
        .map_err(|p| Fail(1, join(&p)))?;
    print_rendered(
        &rendered.task_definition,
        &rendered.appspec,
        &rendered.image_detail,
    );
    // Dry run: what would change against what the ECS service runs now.
    let running = clients
        .ecs
        .describe_services()
        .cluster(&service.config.cluster)
        .services(&service.config.ecs_service)
        .send()
        .await?;
    let current = running
        .services()
        .first()
        .and_then(|s| s.task_definition())
        .map(str::to_owned);
    println!(
        "--- diff against the running task definition ({}) ---",
        current.as_deref().unwrap_or("none")
    );
    let before: BTreeMap<String, String> = match &current {
        Some(arn) => clients
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await?
            .task_definition()
            .map(|t| {
                t.container_definitions()
                    .iter()
                    .map(|c| {
                        (
                            c.name().unwrap_or_default().to_owned(),
                            c.image().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        None => BTreeMap::new(),
    };
    for c in render::container_names(&rendered.task_definition) {
        let after = render::container_image(&rendered.task_definition, &c).unwrap_or_default();
        match before.get(&c) {
            Some(b) if b == after => println!("  {c}: {after} (unchanged)"),
            Some(b) => println!("- {c}: {b}\n+ {c}: {after}"),
            None => println!("+ {c}: {after}"),
        }
    }
    Ok(())
}

fn print_rendered(taskdef: &Value, appspec: &str, detail: &Value) {
    println!(
        "--- taskdef.json ---\n{}",
        serde_json::to_string_pretty(taskdef).unwrap_or_default()
    );
    println!("--- appspec.yaml ---\n{appspec}");
    println!(
        "--- imageDetail.json ---\n{}",
        serde_json::to_string_pretty(detail).unwrap_or_default()
    );
}

fn join(problems: &[manifest::Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn aws() -> Result<(Clients, Settings), Fail> {
    let settings = Settings::from_env().map_err(|e| Fail(3, e.to_string()))?;
    Ok((Clients::from_env().await, settings))
}

/// The account the credentials belong to, for bare repository names; ECR's registry id.
async fn account_of(clients: &Clients) -> String {
    if let Ok(a) = std::env::var("BERTH_ACCOUNT_ID") {
        return a;
    }
    clients
        .ecr
        .describe_registry()
        .send()
        .await
        .ok()
        .and_then(|r| r.registry_id().map(str::to_owned))
        .unwrap_or_default()
}

async fn release(path: &std::path::Path, wait: bool, timeout_seconds: u64) -> Res {
    let bytes = read(path)?;
    let doc: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        Fail(
            1,
            format!(
                "{}: {e} (run `berth validate` for every problem)",
                path.display()
            ),
        )
    })?;
    if !keys::is_valid_name(&doc.service) || !keys::is_valid_name(&doc.release) {
        return Err(Fail(
            1,
            "service and release must match [A-Za-z0-9._-]{1,64}".into(),
        ));
    }
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let key = keys::manifest_key(&doc.service, &doc.release);
    let version = match bucket
        .put(&key, bytes, "application/json", Condition::Absent)
        .await?
    {
        Written::Ok { version_id, .. } => version_id.unwrap_or_default(),
        Written::ConditionFailed => {
            return Err(Fail(
                1,
                format!(
                    "s3://{}/{key} already exists: releases are immutable, use a new release name",
                    bucket.name
                ),
            ));
        }
    };
    println!("uploaded s3://{}/{key} (version {version})", bucket.name);
    if !wait {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(timeout_seconds);
    let record_key = keys::release_key(&doc.service, &doc.release);
    let rejected_key = keys::rejected_key(&doc.service, &doc.release);
    let (pipeline, execution) = loop {
        if Instant::now() > deadline {
            return Err(Fail(
                3,
                format!("no pipeline execution for {record_key} within {timeout_seconds} s"),
            ));
        }
        if let Some(r) = bucket.get_json::<ReleaseRecord>(&record_key).await?
            && r.value.manifest.version_id == version
            && let Some(e) = r.value.pipeline_execution_id.clone()
        {
            break (r.value.pipeline, e);
        }
        if let Some(r) = bucket.get_json::<Value>(&rejected_key).await?
            && r.value["version_id"] == version.as_str()
        {
            let errors: Vec<String> = r.value["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect();
            return Err(Fail(1, format!("rejected:\n{}", errors.join("\n"))));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    println!("pipeline {pipeline} execution {execution} started");
    let mut last_line = String::new();
    loop {
        if Instant::now() > deadline {
            return Err(Fail(
                3,
                format!("execution {execution} still running after {timeout_seconds} s"),
            ));
        }
        let exec = clients
            .codepipeline
            .get_pipeline_execution()
            .pipeline_name(&pipeline)
            .pipeline_execution_id(&execution)
            .send()
            .await?;
        let status = exec
            .pipeline_execution()
            .and_then(|e| e.status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default();
        let stages = stage_line(&clients, &pipeline).await;
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
                return Err(Fail(4, format!("execution {execution} ended {status}")));
            }
            _ => tokio::time::sleep(Duration::from_secs(10)).await,
        }
    }
}

/// `Source:Succeeded Migrate:InProgress Deploy:-` from GetPipelineState, when available.
async fn stage_line(clients: &Clients, pipeline: &str) -> Option<String> {
    let state = clients
        .codepipeline
        .get_pipeline_state()
        .name(pipeline)
        .send()
        .await
        .ok()?;
    Some(
        state
            .stage_states()
            .iter()
            .map(|s| {
                format!(
                    "{}:{}",
                    s.stage_name().unwrap_or("?"),
                    s.latest_execution()
                        .map(|e| e.status().as_str().to_owned())
                        .unwrap_or_else(|| "-".into())
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn history(clients: &Clients, settings: &Settings) -> History {
    History::new(
        clients.codepipeline.clone(),
        Bucket::new(clients.s3.clone(), &settings.release_bucket),
    )
}

fn row(r: &ReleaseRecord) -> Value {
    json!({
        "release": r.release, "status": r.status, "images": r.images,
        "started": r.pipeline_started_at.as_deref().unwrap_or(&r.created_at),
        "finished": r.finished_at, "migration": r.migration.as_ref().map(|m| m.outcome.clone()),
        "duration_seconds": duration(r), "pipeline_execution_id": r.pipeline_execution_id,
        "artifact_version_id": r.artifact_version_id,
        "rollbacks": r.redeployments.iter().map(|d| json!({"execution": d.pipeline_execution_id, "started": d.started_at, "status": d.status})).collect::<Vec<_>>(),
    })
}

fn duration(r: &ReleaseRecord) -> Option<i64> {
    let parse = |s: &str| aws_smithy_datetime(s);
    Some(parse(r.finished_at.as_deref()?)? - parse(r.pipeline_started_at.as_deref()?)?)
}

fn aws_smithy_datetime(s: &str) -> Option<i64> {
    berth::record::parse_timestamp(s)
}

async fn releases(service: &str, output: Output) -> Res {
    let (clients, settings) = aws().await?;
    let records = history(&clients, &settings).releases(service).await?;
    if output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&records.iter().map(row).collect::<Vec<_>>())?
        );
        return Ok(());
    }
    if records.is_empty() {
        println!("no releases of {service}");
        return Ok(());
    }
    println!(
        "{:<20} {:<12} {:<21} {:<10} {:>8}  images",
        "RELEASE", "STATUS", "STARTED", "MIGRATION", "SECONDS"
    );
    for r in &records {
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let images: Vec<String> = r
            .images
            .iter()
            .map(|(c, i)| format!("{c}={}", short_digest(i)))
            .collect();
        println!(
            "{:<20} {:<12} {:<21} {:<10} {:>8}  {}",
            r.release,
            status,
            display_time(r.pipeline_started_at.as_deref().unwrap_or(&r.created_at)),
            r.migration
                .as_ref()
                .map(|m| m.outcome.as_str())
                .unwrap_or("-"),
            duration(r)
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into()),
            images.join(" ")
        );
        for d in &r.redeployments {
            println!(
                "{:<20} {:<12} {:<21} rollback execution {}",
                "",
                d.status
                    .and_then(|s| serde_json::to_value(s).ok())
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                display_time(&d.started_at),
                d.pipeline_execution_id
            );
        }
    }
    Ok(())
}

/// `2026-11-23T20:09:56Z` for a table: fractions of a second dropped.
fn display_time(at: &str) -> String {
    match at.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => at.to_owned(),
    }
}

fn short_digest(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((_, d)) => format!("sha256:{}", &d[..d.len().min(12)]),
        None => image.to_owned(),
    }
}

async fn status(service: &str, output: Output) -> Res {
    let (clients, settings) = aws().await?;
    let records = history(&clients, &settings).releases(service).await?;
    let Some(latest) = records.first() else {
        return Err(Fail(1, format!("no releases of {service}")));
    };
    let pipeline = latest.pipeline.clone();
    let executions = clients
        .codepipeline
        .list_pipeline_executions()
        .pipeline_name(&pipeline)
        .max_results(1)
        .send()
        .await?;
    let current = executions.pipeline_execution_summaries().first();
    let stages = clients
        .codepipeline
        .get_pipeline_state()
        .name(&pipeline)
        .send()
        .await
        .ok();
    let deployment = stages
        .as_ref()
        .and_then(|s| {
            s.stage_states()
                .iter()
                .flat_map(|st| st.action_states())
                .find(|a| a.action_name() == Some("Deploy"))
        })
        .and_then(|a| a.latest_execution())
        .and_then(|e| e.external_execution_id())
        .map(str::to_owned);
    let stage_list: Vec<Value> = stages.as_ref().map(|s| s.stage_states().iter().map(|st| json!({
        "stage": st.stage_name(), "status": st.latest_execution().map(|e| e.status().as_str().to_owned()),
    })).collect()).unwrap_or_default();
    let doc = json!({
        "service": service, "pipeline": pipeline, "latest_release": row(latest),
        "current_execution": current.map(|c| json!({"id": c.pipeline_execution_id(), "status": c.status().map(|s| s.as_str().to_owned())})),
        "stages": stage_list, "codedeploy_deployment_id": deployment,
    });
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("service    {service}\npipeline   {pipeline}");
    println!(
        "release    {} ({})",
        latest.release,
        doc["latest_release"]["status"].as_str().unwrap_or("-")
    );
    if let Some(c) = current {
        println!(
            "execution  {} {}",
            c.pipeline_execution_id().unwrap_or("-"),
            c.status().map(|s| s.as_str()).unwrap_or("-")
        );
    }
    for s in &stage_list {
        println!(
            "  {:<10} {}",
            s["stage"].as_str().unwrap_or("?"),
            s["status"].as_str().unwrap_or("-")
        );
    }
    if stage_list.is_empty() {
        println!("  (stage states unavailable from this endpoint)");
    }
    println!("deployment {}", deployment.as_deref().unwrap_or("-"));
    Ok(())
}

async fn rollback(service: &str, to: Option<&str>, output: Output) -> Res {
    let (clients, settings) = aws().await?;
    match history(&clients, &settings)
        .rollback(service, to, SystemTime::now())
        .await?
    {
        Ok(r) => {
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "rolling {service} back to {} (artifact version {})\npipeline {} execution {} (BERTH_ROLLBACK=true, migration skipped)",
                    r.release, r.artifact_version_id, r.pipeline, r.pipeline_execution_id
                );
            }
            Ok(())
        }
        Err(reason) => Err(Fail(1, format!("not rolling back: {reason}"))),
    }
}
