//! The service registry (docs/design/contract.md §2): one SSM String parameter of JSON per
//! service, written by the infra team's per-service stack. This is the parsing; reading SSM is
//! `berth::registry::Registry`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod checks;
mod guards;
mod task;

use crate::images::{Home, Repository};
pub use guards::{DeploymentTarget, ScanPolicy, Severity, VerifyCheck, VerifyConfig};
pub use task::{MAX_TARGETS, RuleRef, ScheduleRef, TaskTarget};

/// One service's entry. Unknown fields are refused so a typo in a stack parameter surfaces
/// as an error instead of a silently ignored setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    pub service: String,
    pub cluster: String,
    /// The ECS service that runs the task family; absent for a task target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs_service: Option<String>,
    pub pipeline: String,
    pub task_family: String,
    /// Container name in the task definition → ECR repository (name or full URI).
    pub containers: BTreeMap<String, String>,
    #[serde(default)]
    pub push_trigger: Option<PushTrigger>,
    #[serde(default)]
    pub migration: Option<MigrationDefaults>,
    /// The contract step: a second migration the Release stage runs once the deployment has
    /// finished for good (see docs/guide/expand-contract.md). It runs in [`Self::task_network`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_migration: Option<PostMigrationDefaults>,
    /// The container and port CodeDeploy routes traffic to; a service's, never a task target's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appspec: Option<AppSpecTarget>,
    /// The CodeDeploy application and deployment group (default: the pipeline's name and the
    /// service's name, as the stacks create them).
    #[serde(default)]
    pub deployment: Option<DeploymentTarget>,
    /// Checks the `verify` hook runs against the test listener before production traffic.
    #[serde(default)]
    pub verify: Option<VerifyConfig>,
    /// CloudWatch alarms about the service's target groups (their `TargetGroup` dimension).
    /// One that goes into ALARM about the target group of a CodeDeploy deployment's replacement
    /// task set stops that deployment with rollback; about the other group it changes nothing
    /// (`berth_core::alarm`). The service stacks list the target group alarms they create.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_group_alarms: Vec<String>,
    /// The image-scan gate's policy; absent = no gate.
    #[serde(default)]
    pub scan: Option<ScanPolicy>,
    /// Where a one-off task (`berth run`) and a post-deployment migration run; absent = the
    /// migration's subnets and security groups.
    #[serde(default)]
    pub network: Option<Network>,
    /// What runs the task family instead of an ECS service: schedules, rule targets, or nothing
    /// (register only). Exactly one of `ecs_service` and `task_target`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_target: Option<TaskTarget>,
}

impl ServiceConfig {
    /// The CodeDeploy application and deployment group that deploy this service.
    pub fn deployment_target(&self) -> DeploymentTarget {
        self.deployment.clone().unwrap_or_else(|| DeploymentTarget {
            application: self.pipeline.clone(),
            group: self.service.clone(),
        })
    }

    /// The ECS service's name, for the paths only a service takes (CodeDeploy, service
    /// deployments, doctor's service checks); empty for a task target, whose paths branch on
    /// `task_target` before they get there.
    pub fn ecs_service_name(&self) -> &str {
        self.ecs_service.as_deref().unwrap_or_default()
    }

    /// What runs the task family, as messages name it: `ECS service "web"`, or a task target's
    /// schedules and rules.
    pub fn runner(&self) -> String {
        match (&self.ecs_service, &self.task_target) {
            (Some(name), _) => format!("ECS service {name:?}"),
            (None, Some(t)) if !t.register_only() => t.names().join(", "),
            _ => format!("task family {:?}", self.task_family),
        }
    }

    /// The network a task berth starts by itself runs in: `network`, else the migration's
    /// subnets and security groups (never a public IP); `None` when the entry names neither.
    pub fn task_network(&self) -> Option<Network> {
        if let Some(network) = &self.network {
            return Some(network.clone());
        }
        self.migration.as_ref().map(|m| Network {
            subnets: m.subnets.clone(),
            security_groups: m.security_groups.clone(),
            assign_public_ip: false,
        })
    }
}

/// The awsvpc settings of a task berth starts (Fargate tasks use the `awsvpc` network mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Whether the task gets a public IP: needed only in a public subnet without a NAT gateway,
    /// to pull images and reach AWS.
    #[serde(default)]
    pub assign_public_ip: bool,
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

/// The post-deployment migration's defaults: what runs, and for how long at most. Where it runs
/// is the entry's [`ServiceConfig::task_network`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMigrationDefaults {
    pub container: String,
    pub command: Vec<String>,
    pub timeout_seconds: u64,
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
        checks::check_names(&config, expected_service, &mut err);
        let repositories = checks::check_containers(&config, home, &mut err);
        let tag_pattern = checks::check_push_trigger(&config, &mut err);
        checks::check_migration(&config, &mut err);
        checks::check_post_migration(&config, &mut err);
        checks::check_network(&config, &mut err);
        guards::check(&config, &mut err);
        checks::check_kind(&config, &mut err);
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

/// What a registry lookup found. An unusable entry is the user's problem, not a fault.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Box<Service>),
    /// Missing or invalid: every reason, each naming its field.
    Unusable(Vec<String>),
}

#[cfg(test)]
pub(crate) mod tests;
