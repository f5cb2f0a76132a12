//! `berth doctor`: whether a service's setup can take its first release, judged from
//! [`Facts`] the CLI reads beforehand. Nothing here calls AWS.
//!
//! Each check turns facts into [`Finding`]s: `ok`; `warn` when berth works but not as well as
//! it could (mutable tags, a subnet that looks public); `fail` when a release would be refused
//! or would fail. Every warning and failure names its fix.

mod facts;
mod native;
mod network;
mod pipeline;
mod resources;
mod service;
pub mod task;

pub use facts::*;
pub use native::{DEPLOY_TAG, trusts};

use serde::Serialize;

use crate::registry::ServiceConfig;
use crate::service_deployment::DeployKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

/// One check's verdict: what was checked, what was seen, and how to mend it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's name; per-item checks carry the item (`ecr:web/app`).
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it; `None` when the check is ok.
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            check: check.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(
        check: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            check: check.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Every check of a registry entry that parsed, in the order a release meets them.
pub fn examine(config: &ServiceConfig, parameter: &str, facts: &Facts) -> Vec<Finding> {
    let mut findings = vec![Finding::ok(
        "registry",
        format!(
            "{parameter} parses: {} in cluster {}, pipeline {}",
            config.runner(),
            config.cluster,
            config.pipeline
        ),
    )];
    // A task target's Deploy invokes berth's deploy function, as a service ECS deploys does.
    let deploy_function = match &config.task_target {
        Some(t) => {
            findings.extend(task::check(config, t, &facts.task_target));
            true
        }
        None => {
            findings.extend(deployment(config, facts));
            matches!(&facts.ecs, Seen::Found(s) if s.controller == "ECS")
        }
    };
    findings.extend(pipeline::check(
        config,
        &facts.release_bucket,
        &facts.pipeline,
        deploy_function,
    ));
    findings.extend(resources::repositories(&facts.repositories));
    findings.extend(resources::migration(
        config,
        &facts.subnets,
        &facts.pass_role,
    ));
    findings.extend(resources::bucket(
        config,
        &facts.release_bucket,
        &facts.bucket,
    ));
    findings.extend(network::verify(facts.verify_network.as_ref()));
    findings
}

/// The ECS service's checks, and those of what deploys it: ECS itself (native) or CodeDeploy.
fn deployment(config: &ServiceConfig, facts: &Facts) -> Vec<Finding> {
    let mut findings = service::ecs(config, &facts.ecs);
    let kind = kind(&facts.ecs);
    match (&facts.ecs, kind) {
        (Seen::Found(s), Some(k)) if k.is_native() => findings.extend(native::check(
            config,
            s,
            k,
            facts.verify_function.as_deref(),
            &facts.hook_roles,
        )),
        // A controller berth does not deploy (EXTERNAL, an unknown strategy) has no deployment
        // group to look at either: ecs-controller names the problem.
        (Seen::Found(s), None) if s.controller != "CODE_DEPLOY" => {}
        _ => findings.extend(service::codedeploy(
            config,
            &facts.ecs,
            &facts.deployment_group,
        )),
    }
    findings
}

/// The deploy kind of the service, when it exists and berth deploys its kind.
pub fn kind(ecs: &Seen<EcsService>) -> Option<DeployKind> {
    match ecs {
        Seen::Found(s) => DeployKind::of(Some(&s.controller), s.native.strategy.as_deref()).ok(),
        Seen::Missing(_) => None,
    }
}

/// The one finding when the registry entry is missing or does not parse: nothing else can be
/// checked without it.
pub fn unusable_registry(parameter: &str, reasons: &[String]) -> Finding {
    Finding::fail(
        "registry",
        reasons.join("; "),
        format!(
            "the service stack writes {parameter} (infra/cloudformation/service.yaml); deploy it, or correct the parameter it was given"
        ),
    )
}

/// How many findings have `status`; one `Fail` refuses the setup.
pub fn count(findings: &[Finding], status: Status) -> usize {
    findings.iter().filter(|f| f.status == status).count()
}

#[cfg(test)]
mod tests;
