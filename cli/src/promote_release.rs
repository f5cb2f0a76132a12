//! `berth promote-release`: release in one environment exactly what succeeded in another. The
//! source release record must say SUCCEEDED; the target gets a manifest naming the very digests
//! it ran (no tag is resolved again) and the same migration command, with `promoted_from`
//! saying where it came from. The target's registry decides which repositories it may run: the
//! manifest is checked against it before anything is uploaded.

use std::path::PathBuf;

use berth::images::Home;
use berth::keys::{self, ManifestKey};
use berth::manifest::{self, PromotedFrom};
use berth::record::{ReleaseRecord, ReleaseStatus};
use berth::records::Records;
use berth::registry::{Lookup, Registry};
use berth::store::Bucket;
use serde_json::{Value, json};

use crate::common::{Output, account_of, print_json, upload_new};
use crate::environments::{self, Environment};
use crate::exit::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub struct PromoteReleaseArgs {
    service: String,
    release: String,
    /// The environment the release succeeded in.
    #[arg(long)]
    from: String,
    /// The environment to release it in.
    #[arg(long)]
    to: String,
    /// The environments file (default: $BERTH_ENVIRONMENTS, else ./berth-environments.json).
    #[arg(long)]
    environments: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(args: PromoteReleaseArgs) -> Outcome {
    if args.from == args.to {
        return Err(Failure::usage("--from and --to name the same environment"));
    }
    if !keys::is_valid_name(&args.service) || !keys::is_valid_name(&args.release) {
        return Err(Failure::usage(
            "service and release must match [A-Za-z0-9._-]{1,64}",
        ));
    }
    let path = environments::path(args.environments.as_deref());
    let (source, target) = (
        environments::load(&path, &args.from)?,
        environments::load(&path, &args.to)?,
    );
    let record = succeeded(&source, &args).await?;
    let doc = manifest_of(&record, &args.from);
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| Failure::failed(e.to_string()))?;
    let (clients, settings) = target.connect().await?;
    accepted_by_target(&clients, &settings, &args, &bytes).await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let object = keys::manifest_key(&args.service, &args.release);
    let Ok(version) = upload_new(&bucket, &object, bytes).await? else {
        return Err(Failure::refused(format!(
            "not promoted: {} already has release {} of {} (s3://{}/{object}); releases are immutable",
            args.to, args.release, args.service, bucket.name
        )));
    };
    let out = json!({"service": args.service, "release": args.release, "from": args.from,
        "to": args.to, "manifest": format!("s3://{}/{object}", bucket.name), "version_id": version,
        "images": record.images, "promoted_from": doc["promoted_from"]});
    if args.output == Output::Json {
        return print_json(&out);
    }
    println!(
        "promoted {} {} from {} to {}: uploaded s3://{}/{object} (version {version})",
        args.service, args.release, args.from, args.to, bucket.name
    );
    for (container, image) in &record.images {
        println!("  {container}: {image}");
    }
    Ok(())
}

/// Checks the manifest against the target's registry before anything is uploaded: the target
/// decides which repositories its services may run.
async fn accepted_by_target(
    clients: &berth::aws::Clients,
    settings: &berth::settings::Settings,
    args: &PromoteReleaseArgs,
    bytes: &[u8],
) -> Result<(), Failure> {
    let key = ManifestKey {
        service: args.service.clone(),
        release: args.release.clone(),
    };
    let home = Home {
        account_id: account_of(clients).await,
        region: clients.region().to_owned(),
    };
    let registry = Registry::new(clients.ssm.clone(), &settings.services_prefix);
    let service = match registry.service(&args.service, &home).await? {
        Lookup::Found(s) => *s,
        Lookup::Unusable(reasons) => return Err(refused(&args.to, reasons)),
    };
    if let Err(problems) = manifest::validate(bytes, &key, Some(&service)) {
        return Err(refused(
            &args.to,
            problems.iter().map(|p| p.to_string()).collect(),
        ));
    }
    Ok(())
}

fn refused(environment: &str, problems: Vec<String>) -> Failure {
    Failure::refused(format!(
        "not promoted: {environment} refuses this release:\n- {}",
        problems.join("\n- ")
    ))
}

/// The source's record of the release, if it SUCCEEDED there.
async fn succeeded(
    source: &Environment,
    args: &PromoteReleaseArgs,
) -> Result<ReleaseRecord, Failure> {
    let (clients, settings) = source.connect().await?;
    let records = Records::new(Bucket::new(clients.s3.clone(), &settings.release_bucket));
    let Some(stored) = records.get(&args.service, &args.release).await? else {
        return Err(Failure::refused(format!(
            "not promoted: {} has no release {} of {}",
            args.from, args.release, args.service
        )));
    };
    let record = stored.value;
    if record.status != ReleaseStatus::Succeeded {
        return Err(Failure::refused(format!(
            "not promoted: release {} of {} is {} in {}; only a SUCCEEDED release is promoted",
            args.release,
            args.service,
            record.status.name(),
            args.from
        )));
    }
    Ok(record)
}

/// The manifest naming exactly what the source ran: its pinned digests and its migration
/// command (`null`: it ran none).
fn manifest_of(record: &ReleaseRecord, from: &str) -> Value {
    let migration = match &record.migration_plan {
        Some(plan) => json!({"command": plan.command, "timeout_seconds": plan.timeout_seconds}),
        None => Value::Null,
    };
    let origin = PromotedFrom {
        environment: from.to_owned(),
        release: record.release.clone(),
        pipeline_execution_id: record.pipeline_execution_id.clone(),
    };
    json!({"schema": manifest::SCHEMA, "service": record.service, "release": record.release,
        "images": record.images, "migration": migration, "promoted_from": origin})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_digests_and_the_migration_the_source_ran() {
        let record: ReleaseRecord = serde_json::from_value(json!({
            "schema": "berth/release-record/v1", "service": "web", "release": "v7",
            "status": "SUCCEEDED", "manifest": {"bucket": "b", "key": "k", "version_id": "m"},
            "pipeline": "berth-web", "task_family": "web",
            "images": {"app": "1.dkr.ecr.r.amazonaws.com/web/app@sha256:ab"},
            "migration_plan": {"container": "app", "command": ["rake", "db:migrate"],
                "timeout_seconds": 600, "cluster": "c", "subnets": [], "security_groups": []},
            "pipeline_execution_id": "e-7", "created_at": "t", "updated_at": "t"}))
        .unwrap();
        let doc = manifest_of(&record, "staging");
        assert_eq!(
            doc,
            json!({"schema": "berth/v1", "service": "web", "release": "v7",
                "images": {"app": "1.dkr.ecr.r.amazonaws.com/web/app@sha256:ab"},
                "migration": {"command": ["rake", "db:migrate"], "timeout_seconds": 600},
                "promoted_from": {"environment": "staging", "release": "v7", "pipeline_execution_id": "e-7"}})
        );
    }
}
