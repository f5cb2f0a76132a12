//! The service registry (CONTRACT §2): one SSM String parameter of JSON per service, written by
//! the infra team's per-service stack.

use std::collections::BTreeMap;

use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::images::{Home, Repository};
use crate::keys::is_valid_name;

/// One service's entry. Unknown fields are refused so a typo in a stack parameter surfaces
/// as an error instead of a silently ignored setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub service: String,
    pub cluster: String,
    pub ecs_service: String,
    pub pipeline: String,
    pub task_family: String,
    /// Container name in the task definition → ECR repository (name or full URI).
    pub containers: BTreeMap<String, String>,
    #[serde(default)]
    pub push_trigger: Option<PushTrigger>,
    #[serde(default)]
    pub migration: Option<MigrationDefaults>,
    pub appspec: AppSpecTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushTrigger {
    pub container: String,
    pub tag_pattern: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationDefaults {
    pub container: String,
    pub command: Vec<String>,
    pub timeout_seconds: u64,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSpecTarget {
    pub container: String,
    pub port: u16,
}

/// Longest migration berth will wait for, in seconds: 23 hours. CodePipeline fails a Lambda
/// invoke action after 24 hours ("If not successful after 24 hours, CodePipeline sets the
/// Lambda invoke action state to failed" — CodePipeline quotas), and then never invokes it
/// again; the hour of margin covers the time before the task starts and the last poll.
pub const MAX_MIGRATION_TIMEOUT_SECONDS: u64 = 82_800;

/// A registry entry with its repositories resolved against the home account and region.
#[derive(Debug, Clone)]
pub struct Service {
    pub config: ServiceConfig,
    pub repositories: BTreeMap<String, Repository>,
    pub tag_pattern: Option<regex_lite::Regex>,
}

impl Service {
    /// Parses and checks a parameter value. Every problem is listed, each naming its field.
    pub fn parse(
        parameter: &str,
        expected_service: Option<&str>,
        value: &str,
        home: &Home,
    ) -> Result<Self, Vec<String>> {
        let strict = crate::json::parse(value.as_bytes())
            .map_err(|e| vec![format!("registry parameter {parameter}: {e}")])?;
        let duplicates: Vec<String> = strict
            .duplicates
            .iter()
            .map(|path| format!("registry parameter {parameter}: {path}: duplicate key"))
            .collect();
        let config: ServiceConfig = match serde_json::from_value(strict.value) {
            Ok(c) => c,
            Err(e) => {
                let mut all = duplicates;
                all.push(format!("registry parameter {parameter}: {e}"));
                return Err(all);
            }
        };
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut err = |field: &str, msg: String| problems.push((field.to_owned(), msg));
        check_names(&config, expected_service, &mut err);
        let repositories = check_containers(&config, home, &mut err);
        let tag_pattern = check_push_trigger(&config, &mut err);
        check_migration(&config, &mut err);
        if problems.is_empty() && duplicates.is_empty() {
            Ok(Self {
                config,
                repositories,
                tag_pattern,
            })
        } else {
            let described = problems
                .into_iter()
                .map(|(field, msg)| format!("registry parameter {parameter}: {field}: {msg}"));
            Err(duplicates.into_iter().chain(described).collect())
        }
    }

    /// Whether a pushed tag starts a release: it must match the pattern, and `latest` never does.
    pub fn tag_triggers(&self, tag: &str) -> bool {
        tag != "latest" && self.tag_pattern.as_ref().is_some_and(|re| re.is_match(tag))
    }
}

/// `service` (a legal name, the one the parameter is for) and the non-empty names.
fn check_names(config: &ServiceConfig, expected: Option<&str>, err: &mut impl FnMut(&str, String)) {
    if let Some(expected) = expected
        && config.service != expected
    {
        err(
            "service",
            format!(
                "is {:?}, but the parameter is for {expected:?}",
                config.service
            ),
        );
    }
    if !is_valid_name(&config.service) {
        err("service", "must match [A-Za-z0-9._-]{1,64}".into());
    }
    for (field, value) in [
        ("cluster", &config.cluster),
        ("ecs_service", &config.ecs_service),
        ("pipeline", &config.pipeline),
        ("task_family", &config.task_family),
        ("appspec.container", &config.appspec.container),
    ] {
        if value.trim().is_empty() {
            err(field, "must not be empty".into());
        }
    }
}

/// `containers`: at least one, each an ECR repository.
fn check_containers(
    config: &ServiceConfig,
    home: &Home,
    err: &mut impl FnMut(&str, String),
) -> BTreeMap<String, Repository> {
    if config.containers.is_empty() {
        err("containers", "must map at least one container".into());
    }
    let mut repositories = BTreeMap::new();
    for (container, repo) in &config.containers {
        match Repository::parse(repo, home) {
            Ok(r) => {
                repositories.insert(container.clone(), r);
            }
            Err(e) => err(&format!("containers.{container}"), e),
        }
    }
    repositories
}

/// `push_trigger`: a registry container and a regular expression that compiles.
fn check_push_trigger(
    config: &ServiceConfig,
    err: &mut impl FnMut(&str, String),
) -> Option<regex_lite::Regex> {
    let trigger = config.push_trigger.as_ref()?;
    if !config.containers.contains_key(&trigger.container) {
        err(
            "push_trigger.container",
            format!("{:?} is not in containers", trigger.container),
        );
    }
    match regex_lite::Regex::new(&trigger.tag_pattern) {
        Ok(re) => Some(re),
        Err(e) => {
            err("push_trigger.tag_pattern", format!("invalid regex: {e}"));
            None
        }
    }
}

/// `migration`: a registry container, a command, a timeout in range, subnets.
fn check_migration(config: &ServiceConfig, err: &mut impl FnMut(&str, String)) {
    let Some(m) = &config.migration else { return };
    if !config.containers.contains_key(&m.container) {
        err(
            "migration.container",
            format!("{:?} is not in containers", m.container),
        );
    }
    if m.command.is_empty() {
        err("migration.command", "must not be empty".into());
    } else if let Err(why) = crate::migration::check_overrides(&m.container, &m.command) {
        err("migration.command", why);
    }
    if !(1..=MAX_MIGRATION_TIMEOUT_SECONDS).contains(&m.timeout_seconds) {
        err(
            "migration.timeout_seconds",
            format!("must be 1..={MAX_MIGRATION_TIMEOUT_SECONDS}"),
        );
    }
    if m.subnets.is_empty() {
        err("migration.subnets", "must name at least one subnet".into());
    }
}

/// Reads the registry from SSM.
#[derive(Debug, Clone)]
pub struct Registry {
    ssm: aws_sdk_ssm::Client,
    prefix: String,
}

/// What a registry lookup found. An unusable entry is the user's problem, not a fault.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Box<Service>),
    /// Missing or invalid: every reason, each naming its field.
    Unusable(Vec<String>),
}

impl Registry {
    pub fn new(ssm: aws_sdk_ssm::Client, prefix: impl Into<String>) -> Self {
        Self {
            ssm,
            prefix: prefix.into(),
        }
    }

    pub fn parameter_name(&self, service: &str) -> String {
        format!("{}{}", self.prefix, service)
    }

    /// One service's entry.
    pub async fn service(&self, service: &str, home: &Home) -> Result<Lookup> {
        let name = self.parameter_name(service);
        let value = match self.ssm.get_parameter().name(&name).send().await {
            Ok(out) => out.parameter.and_then(|p| p.value),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), GetParameterError::ParameterNotFound(_)) =>
            {
                return Ok(Lookup::Unusable(vec![format!(
                    "service {service:?} is not in the registry (no SSM parameter {name})"
                )]));
            }
            Err(e) => return Err(Error::sdk(format!("ssm:GetParameter {name}"))(e)),
        };
        let Some(value) = value else {
            return Ok(Lookup::Unusable(vec![format!(
                "registry parameter {name} has no value"
            )]));
        };
        Ok(match Service::parse(&name, Some(service), &value, home) {
            Ok(s) => Lookup::Found(Box::new(s)),
            Err(reasons) => Lookup::Unusable(reasons),
        })
    }

    /// Every entry under the prefix, valid ones only; invalid ones are logged and skipped so a
    /// broken entry of one service cannot stop the pushes of another.
    pub async fn all(&self, home: &Home) -> Result<Vec<Service>> {
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(self.prefix.trim_end_matches('/'))
            .recursive(false)
            .into_paginator()
            .send();
        let mut services = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(Error::sdk(format!(
                "ssm:GetParametersByPath {}",
                self.prefix
            )))?;
            for p in page.parameters() {
                let (Some(name), Some(value)) = (p.name(), p.value()) else {
                    continue;
                };
                let expected = name.strip_prefix(&self.prefix);
                match Service::parse(name, expected, value, home) {
                    Ok(s) => services.push(s),
                    Err(errors) => {
                        tracing::warn!(parameter = name, ?errors, "skipping invalid registry entry")
                    }
                }
            }
        }
        Ok(services)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn home() -> Home {
        Home {
            account_id: "123456789012".into(),
            region: "ap-northeast-1".into(),
        }
    }

    /// The registry example of CONTRACT §2.
    pub(crate) const WEB: &str = r#"{
      "service": "web",
      "cluster": "prod",
      "ecs_service": "web",
      "pipeline": "berth-web",
      "task_family": "web",
      "containers": { "app": "web/app", "nginx": "web/nginx" },
      "push_trigger": { "container": "app", "tag_pattern": "^(v[0-9]+\\.[0-9]+\\.[0-9]+|[0-9a-f]{7,40})$" },
      "migration": {
        "container": "app",
        "command": ["bin/rails", "db:migrate"],
        "timeout_seconds": 1800,
        "subnets": ["subnet-0a1b2c"],
        "security_groups": ["sg-0d4e5f"]
      },
      "appspec": { "container": "nginx", "port": 80 }
    }"#;

    pub(crate) fn web() -> Service {
        Service::parse("/berth/services/web", Some("web"), WEB, &home()).unwrap()
    }

    #[test]
    fn contract_example_parses() {
        let s = web();
        assert_eq!(s.config.pipeline, "berth-web");
        assert_eq!(
            s.repositories["nginx"].uri(),
            "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/nginx"
        );
    }

    #[test]
    fn tag_trigger_rules() {
        let s = web();
        for (tag, want) in [
            ("v1.4.2", true),
            ("3f9c2e1", true),
            ("latest", false),
            ("v1.4", false),
            ("feature-x", false),
            ("3F9C2E1", false),
        ] {
            assert_eq!(s.tag_triggers(tag), want, "{tag}");
        }
        let mut no_trigger = s.clone();
        no_trigger.tag_pattern = None;
        assert!(!no_trigger.tag_triggers("v1.4.2"));
    }

    #[test]
    fn bad_entries_name_every_field() {
        let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
        v["service"] = "api".into();
        v["containers"]["app"] = "docker.io/app".into();
        v["push_trigger"]["container"] = "worker".into();
        v["push_trigger"]["tag_pattern"] = "(".into();
        v["migration"]["timeout_seconds"] = 82_801.into();
        v["migration"]["subnets"] = serde_json::json!([]);
        let errors = Service::parse("/berth/services/web", Some("web"), &v.to_string(), &home())
            .unwrap_err();
        for field in [
            ": service:",
            "containers.app",
            "push_trigger.container",
            "push_trigger.tag_pattern",
            "migration.timeout_seconds",
            "migration.subnets",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(field)),
                "{field}: {errors:?}"
            );
        }
    }

    #[test]
    fn duplicate_keys_in_an_entry_are_refused_by_path() {
        let dup = WEB.replacen(
            r#""pipeline": "berth-web","#,
            r#""pipeline": "berth-web", "pipeline": "other","#,
            1,
        );
        let dup = dup.replacen(
            r#""app": "web/app","#,
            r#""app": "web/app", "app": "evil/app","#,
            1,
        );
        let errors = Service::parse("/p/web", Some("web"), &dup, &home()).unwrap_err();
        assert_eq!(
            errors,
            [
                "registry parameter /p/web: pipeline: duplicate key",
                "registry parameter /p/web: containers.app: duplicate key"
            ]
        );
    }

    #[test]
    fn unknown_registry_fields_are_refused() {
        let mut v: serde_json::Value = serde_json::from_str(WEB).unwrap();
        v["pipline"] = "typo".into();
        let errors = Service::parse("/p/web", Some("web"), &v.to_string(), &home()).unwrap_err();
        assert!(errors[0].contains("pipline"), "{errors:?}");
    }
}
