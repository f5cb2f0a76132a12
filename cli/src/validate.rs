//! `berth validate`: the offline manifest check (a release manifest, or a group manifest and
//! each of its services).

use std::path::PathBuf;

use berth::group::{self, GroupKey, member_problem};
use berth::keys::ManifestKey;
use berth::manifest::{self, Problem};
use berth::registry::Service;
use serde_json::Value;

use crate::common::{offline_registry, own_key, read};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    manifest: PathBuf,
    /// A registry entry (JSON) to also check containers and repositories against. For a group
    /// manifest, repeat it: each entry checks the service it names.
    #[arg(long)]
    registry: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> Outcome {
    let path = &args.manifest;
    let bytes = read(path)?;
    if let Ok(doc) = serde_json::from_slice::<Value>(&bytes)
        && doc["schema"] == group::SCHEMA
    {
        return validate_group(&args, &bytes, &doc);
    }
    if args.registry.len() > 1 {
        return Err(Failure::usage(
            "one --registry for a release manifest (repeat it only for a group manifest)",
        ));
    }
    let service = args
        .registry
        .first()
        .map(|r| offline_registry(r, &bytes))
        .transpose()?;
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
            Err(Failure::refused(format!(
                "{} problem(s) in {}",
                problems.len(),
                path.display()
            )))
        }
    }
}

/// A group manifest: the document, then each service as the release manifest it stands for
/// (against the `--registry` entry naming that service, if one does).
fn validate_group(args: &ValidateArgs, bytes: &[u8], doc: &Value) -> Outcome {
    let path = &args.manifest;
    let name = |field: &str| doc[field].as_str().unwrap_or_default().to_owned();
    let key = GroupKey {
        group: name("group"),
        release: name("release"),
    };
    let (members, mut problems) = group::read(bytes, &key);
    let mut entries: Vec<Service> = Vec::new();
    for r in &args.registry {
        // Bare repository names take the account and region of the service's own images.
        let named: Value = serde_json::from_slice(&read(r)?).unwrap_or(Value::Null);
        let member = members
            .iter()
            .find(|m| named["service"] == m.service.as_str())
            .map_or(bytes, |m| m.manifest.as_slice());
        entries.push(offline_registry(r, member)?);
    }
    for member in &members {
        let entry = entries.iter().find(|e| e.config.service == member.service);
        let member_key = ManifestKey {
            service: member.service.clone(),
            release: key.release.clone(),
        };
        if let Err(found) = manifest::validate(&member.manifest, &member_key, entry) {
            problems.extend(found.iter().map(|p| member_problem(&member.service, p)));
        }
    }
    report_group(path, &key, members.len(), &problems)
}

fn report_group(
    path: &std::path::Path,
    key: &GroupKey,
    services: usize,
    problems: &[Problem],
) -> Outcome {
    if problems.is_empty() {
        println!(
            "{}: valid group manifest for {key} ({services} service(s))",
            path.display()
        );
        return Ok(());
    }
    for p in problems {
        println!("{}: {p}", path.display());
    }
    Err(Failure::refused(format!(
        "{} problem(s) in {}",
        problems.len(),
        path.display()
    )))
}
