//! `berth render`: the files a manifest would produce — offline from local files (tags stay
//! tags), or against AWS exactly as a release would resolve them, with a per-container diff
//! against the task definition the ECS service runs now (a dry run).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth::aws::Clients;
use berth::images::{Home, ImageRef, Reference};
use berth::manifest::{self, Problem};
use berth::on_manifest::{self, Rendering};
use berth::plan;
use berth::platform::Platform;
use berth::registry::{Lookup, Registry, ScanPolicy, Service};
use berth::render;
use berth::scan;
use berth::taskdef::{self, Template};
use serde_json::Value;

use crate::common::{account_of, aws, offline_registry, own_key, read};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    manifest: PathBuf,
    /// A task definition (JSON) to render from offline; needs --registry.
    #[arg(long)]
    task_def: Option<PathBuf>,
    /// The service's registry entry (JSON), for offline rendering.
    #[arg(long)]
    registry: Option<PathBuf>,
}

pub async fn run(args: RenderArgs) -> Outcome {
    let bytes = read(&args.manifest)?;
    match (args.task_def, args.registry) {
        (Some(td), Some(registry)) => offline(&bytes, &td, &registry),
        (Some(_), None) => Err(Failure::usage(
            "--task-def needs --registry (the service's registry entry) to render offline",
        )),
        (None, _) => online(&bytes).await,
    }
}

fn offline(bytes: &[u8], td_path: &Path, registry: &Path) -> Outcome {
    let service = offline_registry(registry, bytes)?;
    let m = manifest::validate(bytes, &own_key(bytes), Some(&service)).map_err(refused)?;
    let td: Value = serde_json::from_slice(&read(td_path)?)
        .map_err(|e| Failure::refused(format!("{}: {e}", td_path.display())))?;
    let td = td.get("taskDefinition").cloned().unwrap_or(td);
    let mut images = BTreeMap::new();
    let mut unresolved = Vec::new();
    for (container, image) in &m.images {
        let shown = match &image.reference {
            Reference::Digest(d) => image.repository.pinned(d),
            Reference::Tag(t) => {
                unresolved.push(format!("{container} ({t})"));
                format!("{}:{t}", image.repository.uri())
            }
        };
        images.insert(container.clone(), shown);
    }
    let taskdef =
        render::render_task_definition(&td, &images).map_err(|e| Failure::refused(e.join("\n")))?;
    let primary = plan::primary_container(&service.config, &images)
        .map(|(_, image)| image.clone())
        .unwrap_or_default();
    print_rendered(
        &taskdef,
        &render::render_appspec(
            service.config.appspec.as_ref(),
            berth::settings::verify_function_from_env().as_deref(),
        ),
        &render::render_image_detail(&primary),
    );
    if !unresolved.is_empty() {
        eprintln!(
            "note: offline, tags stay tags: {}; a release resolves them to digests",
            unresolved.join(", ")
        );
    }
    Ok(())
}

async fn online(bytes: &[u8]) -> Outcome {
    let (clients, settings) = aws().await?;
    let key = own_key(bytes);
    let home = Home {
        account_id: account_of(&clients).await,
        region: clients.region().to_owned(),
    };
    let registry = Registry::new(clients.ssm.clone(), &settings.services_prefix);
    let service = match registry.service(&key.service, &home).await? {
        Lookup::Found(s) => *s,
        Lookup::Unusable(reasons) => return Err(Failure::refused(reasons.join("\n"))),
    };
    let m = manifest::validate(bytes, &key, Some(&service)).map_err(refused)?;
    let rendered = match on_manifest::render(
        &clients,
        &service,
        &m,
        settings.verify_function.as_deref(),
        None,
    )
    .await?
    {
        Rendering::Ready(r) => r,
        Rendering::Refused(problems) => return Err(refused(problems)),
    };
    print_rendered(
        &rendered.task_definition,
        &rendered.appspec,
        &rendered.image_detail,
    );
    let (running, before) = running_images(&clients, &service).await?;
    println!(
        "--- diff against the running task definition ({}) ---",
        running.as_deref().unwrap_or("none")
    );
    for line in diff(&before, &rendered.task_definition) {
        println!("{line}");
    }
    if let Some(policy) = &service.config.scan {
        let runs_on = Platform::of_task_definition(&rendered.task_definition);
        for line in scans(&clients, policy, &rendered.images, &runs_on).await {
            println!("{line}");
        }
    }
    Ok(())
}

/// Each pinned image's scan as the Scan action would judge it now (an image index: its entry
/// for the task's platform), read only (BatchGetImage, DescribeImageScanFindings; a dry run
/// never starts a scan).
async fn scans(
    clients: &Clients,
    policy: &ScanPolicy,
    images: &BTreeMap<String, String>,
    runs_on: &Result<Platform, String>,
) -> Vec<String> {
    let block: Vec<&str> = policy.block.iter().map(|s| s.name()).collect();
    let mut lines = vec![format!(
        "--- scans (scan.block {}; the Scan action waits up to {} s) ---",
        block.join(", "),
        policy.wait_seconds
    )];
    for (container, image) in images {
        let Ok(parsed) = ImageRef::parse(image) else {
            continue;
        };
        let client = clients.ecr_in(&parsed.repository.region);
        let (judged, state) = match scan::target(&client, &parsed, runs_on).await {
            Ok((scanned, judged)) => (judged, read_scan(&client, &scanned).await),
            Err(state) => (None, state),
        };
        let o = scan::Observation {
            container: container.clone(),
            image: image.clone(),
            judged,
            state,
        };
        lines.extend(scan_lines(policy, &o));
    }
    lines
}

async fn read_scan(client: &aws_sdk_ecr::Client, image: &ImageRef) -> scan::State {
    match scan::describe(client, image).await {
        Ok(observed) => scan::state(observed),
        Err(e) => scan::State::Ended {
            status: "UNREADABLE".into(),
            description: Some(e.to_string()),
        },
    }
}

fn scan_lines(policy: &ScanPolicy, o: &scan::Observation) -> Vec<String> {
    let head = match &o.judged {
        None => format!("  {}: {}", o.container, o.image),
        Some(_) => format!("  {}: {}", o.container, o.scanned()),
    };
    match &o.state {
        scan::State::Done {
            status, findings, ..
        } => {
            let blocking = scan::blocked_findings(policy, std::slice::from_ref(o));
            let mut lines = vec![format!(
                "{head} {status}: {} finding(s), {} blocking",
                findings.iter().filter(|f| f.is_live()).count(),
                blocking.len()
            )];
            lines.extend(
                blocking
                    .iter()
                    .map(|(_, f)| format!("    blocks: {} {}", f.severity.name(), f.label())),
            );
            lines
        }
        scan::State::Waiting {
            status,
            description,
        }
        | scan::State::Ended {
            status,
            description,
        } => vec![format!(
            "{head} {status}: {}",
            description.as_deref().unwrap_or("no description")
        )],
    }
}

/// The task definition the ECS service runs now (what a release starts from), and its
/// container images.
async fn running_images(
    clients: &Clients,
    service: &Service,
) -> Result<(Option<String>, BTreeMap<String, String>), Failure> {
    let cfg = &service.config;
    let template = match &cfg.ecs_service {
        Some(name) => taskdef::running(&clients.ecs, &cfg.cluster, name).await?,
        // A task target's release renders under the stage lock from what its schedules and
        // rules run; the dry run starts from the family's newest ACTIVE revision.
        None => taskdef::newest(&clients.ecs, &cfg.task_family).await?,
    };
    let Template::Found(td) = template else {
        return Ok((None, BTreeMap::new()));
    };
    let arn = td
        .get("taskDefinitionArn")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let images = render::container_names(&td)
        .into_iter()
        .map(|c| {
            let image = render::container_image(&td, &c)
                .unwrap_or_default()
                .to_owned();
            (c, image)
        })
        .collect();
    Ok((arn, images))
}

/// One line per container of the rendered task definition: unchanged, changed or new.
fn diff(before: &BTreeMap<String, String>, rendered: &Value) -> Vec<String> {
    render::container_names(rendered)
        .into_iter()
        .map(|c| {
            let after = render::container_image(rendered, &c).unwrap_or_default();
            match before.get(&c) {
                Some(b) if b == after => format!("  {c}: {after} (unchanged)"),
                Some(b) => format!("- {c}: {b}\n+ {c}: {after}"),
                None => format!("+ {c}: {after}"),
            }
        })
        .collect()
}

fn print_rendered(taskdef: &Value, appspec: &str, detail: &Value) {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    println!("--- taskdef.json ---\n{}", pretty(taskdef));
    println!("--- appspec.yaml ---\n{appspec}");
    println!("--- imageDetail.json ---\n{}", pretty(detail));
}

fn refused(problems: Vec<Problem>) -> Failure {
    let lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    Failure::refused(lines.join("\n"))
}
