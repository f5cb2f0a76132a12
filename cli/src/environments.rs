//! Named environments (staging, production, …) for `berth promote-release`: each a release
//! bucket with its credentials and region, from a small JSON file:
//!
//! ```json
//! {
//!   "staging":    { "bucket": "berth-releases-111111111111-ap-northeast-1", "profile": "staging" },
//!   "production": { "bucket": "berth-releases-222222222222-ap-northeast-1",
//!                   "role_arn": "arn:aws:iam::222222222222:role/berth-release",
//!                   "region": "ap-northeast-1", "services_prefix": "/berth/services/" }
//! }
//! ```
//!
//! `profile` names an AWS profile; `role_arn` a role assumed (from the profile's or the default
//! credentials); neither: the default credentials. The file is `--environments`, else
//! `$BERTH_ENVIRONMENTS`, else `berth-environments.json` in the current directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_config::{BehaviorVersion, Region};
use berth::aws::{Clients, https_client};
use berth::settings::{DEFAULT_SERVICES_PREFIX, Settings};
use serde::Deserialize;

use crate::common::read;
use crate::exit::Failure;

/// One environment as the file names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    pub bucket: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub role_arn: Option<String>,
    #[serde(default)]
    pub services_prefix: Option<String>,
}

/// The environments file's path.
pub fn path(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(berth::settings::environments_file)
        .unwrap_or_else(|| PathBuf::from("berth-environments.json"))
}

/// The environments in `bytes` (strict: duplicate keys and unknown fields are refused).
pub fn parse(bytes: &[u8], origin: &str) -> Result<BTreeMap<String, Environment>, Failure> {
    let strict =
        berth::json::parse(bytes).map_err(|e| Failure::refused(format!("{origin}: {e}")))?;
    if let Some(path) = strict.duplicates.first() {
        return Err(Failure::refused(format!("{origin}: {path}: duplicate key")));
    }
    let envs: BTreeMap<String, Environment> = serde_json::from_value(strict.value)
        .map_err(|e| Failure::refused(format!("{origin}: {e}")))?;
    for (name, env) in &envs {
        if env.bucket.trim().is_empty() {
            return Err(Failure::refused(format!(
                "{origin}: {name}.bucket must not be empty"
            )));
        }
    }
    Ok(envs)
}

/// Environment `name` from the file at `path`.
pub fn load(path: &Path, name: &str) -> Result<Environment, Failure> {
    let envs = parse(&read(path)?, &path.display().to_string())?;
    envs.get(name).cloned().ok_or_else(|| {
        let known: Vec<&str> = envs.keys().map(String::as_str).collect();
        Failure::refused(format!(
            "{}: no environment {name:?} (known: {})",
            path.display(),
            known.join(", ")
        ))
    })
}

impl Environment {
    /// Clients with this environment's credentials and region, and its settings.
    pub async fn connect(&self) -> Result<(Clients, Settings), Failure> {
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).http_client(https_client());
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &self.region {
            loader = loader.region(Region::new(r.clone()));
        }
        let mut config = loader.load().await;
        if let Some(role) = &self.role_arn {
            let provider = aws_config::sts::AssumeRoleProvider::builder(role)
                .session_name("berth-promote-release")
                .configure(&config)
                .build()
                .await;
            config = config
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(provider),
                )
                .build();
        }
        let prefix = self.services_prefix.clone();
        let settings = Settings::from_lookup(|name| match name {
            "BERTH_RELEASE_BUCKET" => Some(self.bucket.clone()),
            "BERTH_SERVICES_PREFIX" => prefix.clone().or(Some(DEFAULT_SERVICES_PREFIX.into())),
            _ => None,
        })?;
        Ok((Clients::new(&config), settings))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_parse_strictly() {
        let ok = br#"{"staging": {"bucket": "a", "profile": "s"}, "production": {"bucket": "b", "role_arn": "arn:aws:iam::2:role/r"}}"#;
        let envs = parse(ok, "f").unwrap();
        assert_eq!(envs["staging"].profile.as_deref(), Some("s"));
        assert_eq!(
            envs["production"].role_arn.as_deref(),
            Some("arn:aws:iam::2:role/r")
        );
        for (bad, why) in [
            (
                &br#"{"a": {"bucket": "x", "bucket": "y"}}"#[..],
                "a.bucket: duplicate key",
            ),
            (
                br#"{"a": {"bucket": "x", "profil": "s"}}"#,
                "unknown field `profil`",
            ),
            (br#"{"a": {"profile": "s"}}"#, "missing field `bucket`"),
            (br#"{"a": {"bucket": " "}}"#, "a.bucket must not be empty"),
        ] {
            let err = parse(bad, "f").unwrap_err().message;
            assert!(err.contains(why), "{err}");
        }
    }
}
