//! What several commands share: AWS set-up, reading local files, output formats.

use std::path::Path;

use berth::aws::Clients;
use berth::images::{Home, ImageRef};
use berth::keys::ManifestKey;
use berth::registry::Service;
use berth::settings::Settings;
use clap::ValueEnum;
use serde::Serialize;
use serde_json::Value;

use crate::exit::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// Clients and settings from the standard AWS environment and `BERTH_*` variables.
pub async fn aws() -> Result<(Clients, Settings), Failure> {
    let settings = Settings::from_env()?;
    Ok((Clients::from_env().await, settings))
}

pub fn read(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::failed(format!("reading {}: {e}", path.display())))
}

pub fn print_json<T: Serialize>(value: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::failed(format!("writing JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// The key a manifest will be uploaded under, from its own `service` and `release`.
pub fn own_key(bytes: &[u8]) -> ManifestKey {
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

/// Account and region for bare repository names offline: the manifest's own images decide.
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

/// A registry entry from a local file, for offline checks of `manifest_bytes`.
pub fn offline_registry(path: &Path, manifest_bytes: &[u8]) -> Result<Service, Failure> {
    let text = String::from_utf8(read(path)?)
        .map_err(|_| Failure::failed(format!("{} is not UTF-8", path.display())))?;
    let home = home_from_images(manifest_bytes);
    Service::parse(&path.display().to_string(), None, &text, &home)
        .map_err(|errors| Failure::refused(errors.join("\n")))
}

/// The account the credentials belong to, for bare repository names (ECR's registry id is the
/// account id): `BERTH_ACCOUNT_ID`, else STS GetCallerIdentity, which needs no permission.
pub async fn account_of(clients: &Clients) -> String {
    if let Some(a) = berth::settings::account_id() {
        return a;
    }
    aws_sdk_sts::Client::new(&clients.config)
        .get_caller_identity()
        .send()
        .await
        .ok()
        .and_then(|r| r.account().map(str::to_owned))
        .unwrap_or_default()
}

/// Who the CLI acts as: the caller identity's ARN (STS GetCallerIdentity needs no permission:
/// "No permissions are required to perform this operation"), noted in release records.
pub async fn caller(clients: &Clients) -> String {
    let sts = aws_sdk_sts::Client::new(&clients.config);
    match sts.get_caller_identity().send().await {
        Ok(out) => out.arn().unwrap_or("unknown caller").to_owned(),
        Err(e) => format!(
            "unknown caller (sts:GetCallerIdentity: {})",
            berth::Error::sdk("sts:GetCallerIdentity")(e)
        ),
    }
}

/// The registry entry of `service`, or the reasons it is unusable.
pub async fn service_config(
    clients: &Clients,
    settings: &Settings,
    service: &str,
) -> Result<berth::registry::ServiceConfig, Failure> {
    let registry = berth::registry::Registry::new(clients.ssm.clone(), &settings.services_prefix);
    let home = Home {
        account_id: account_of(clients).await,
        region: clients.region().to_owned(),
    };
    match registry.service(service, &home).await? {
        berth::registry::Lookup::Found(s) => Ok(s.config),
        berth::registry::Lookup::Unusable(reasons) => Err(Failure::refused(reasons.join("\n"))),
    }
}

/// `2026-11-23T20:09:56Z` for a table: fractions of a second dropped.
/// A task definition revision as DescribeTaskDefinition shows it.
pub async fn task_definition(
    ecs: &aws_sdk_ecs::Client,
    arn: &str,
) -> Result<Option<aws_sdk_ecs::types::TaskDefinition>, Failure> {
    let out = ecs
        .describe_task_definition()
        .task_definition(arn)
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "ecs:DescribeTaskDefinition {arn}"
        )))?;
    Ok(out.task_definition)
}

pub fn display_time(at: &str) -> String {
    match at.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => at.to_owned(),
    }
}

/// `sha256:` and the first 12 hex digits of a pinned image's digest.
pub fn short_digest(image: &str) -> String {
    match image.split_once("@sha256:") {
        Some((_, d)) => format!("sha256:{}", &d[..d.len().min(12)]),
        None => image.to_owned(),
    }
}

/// Uploads `bytes` to `key` unless the key exists (releases are immutable); the new version, or
/// `Err(None)` when the key already exists, for the caller to say why that refuses it.
pub async fn upload_new(
    bucket: &berth::store::Bucket,
    key: &str,
    bytes: Vec<u8>,
) -> Result<Result<String, ()>, Failure> {
    let written = bucket
        .put(
            key,
            bytes,
            "application/json",
            berth::store::Condition::Absent,
        )
        .await?;
    Ok(match written {
        berth::store::Written::Ok { version_id, .. } => Ok(version_id.unwrap_or_default()),
        berth::store::Written::ConditionFailed => Err(()),
    })
}
