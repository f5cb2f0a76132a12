//! The checks of a registry entry's fields; each reports through `err(field, message)`.

use std::collections::BTreeMap;

use super::{MAX_MIGRATION_TIMEOUT_SECONDS, ServiceConfig};
use crate::images::{Home, Repository};
use crate::keys::is_valid_name;

/// `service` (a legal name, the one the parameter is for) and the non-empty names.
pub(super) fn check_names(
    config: &ServiceConfig,
    expected: Option<&str>,
    err: &mut impl FnMut(&str, String),
) {
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
    let named = [
        ("cluster", Some(&config.cluster)),
        ("ecs_service", config.ecs_service.as_ref()),
        ("pipeline", Some(&config.pipeline)),
        ("task_family", Some(&config.task_family)),
        (
            "appspec.container",
            config.appspec.as_ref().map(|a| &a.container),
        ),
    ];
    for (field, value) in named {
        if value.is_some_and(|v| v.trim().is_empty()) {
            err(field, "must not be empty".into());
        }
    }
}

/// What runs the family: exactly one of `ecs_service` (with `appspec`) and `task_target`
/// (without `appspec`, `deployment` or `verify`, which only a service has).
pub(super) fn check_kind(config: &ServiceConfig, err: &mut impl FnMut(&str, String)) {
    let Some(target) = &config.task_target else {
        if config.ecs_service.is_none() {
            err(
                "ecs_service",
                "missing: name the ECS service, or a task_target for a task family no service runs"
                    .into(),
            );
        }
        if config.appspec.is_none() {
            err("appspec", "missing: an ECS service needs it".into());
        }
        return;
    };
    if config.ecs_service.is_some() {
        err(
            "ecs_service",
            "a task target has none: an entry names either ecs_service or task_target, not both"
                .into(),
        );
    }
    for (field, present) in [
        ("appspec", config.appspec.is_some()),
        ("deployment", config.deployment.is_some()),
        ("verify", config.verify.is_some()),
    ] {
        if present {
            err(
                field,
                "a task target has none (it is for an ECS service)".into(),
            );
        }
    }
    super::task::check(target, err);
}

/// `containers`: at least one, each an ECR repository.
pub(super) fn check_containers(
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
pub(super) fn check_push_trigger(
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
pub(super) fn check_migration(config: &ServiceConfig, err: &mut impl FnMut(&str, String)) {
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

/// `network`: 1 to 16 subnets and up to 5 security groups, no empty id. ECS's
/// AwsVpcConfiguration: "There's a limit of 16 subnets that can be specified" and "There's a
/// limit of 5 security groups that can be specified".
pub(super) fn check_network(config: &ServiceConfig, err: &mut impl FnMut(&str, String)) {
    let Some(n) = &config.network else { return };
    if n.subnets.is_empty() {
        err("network.subnets", "must name at least one subnet".into());
    }
    for (field, ids, most) in [
        ("network.subnets", &n.subnets, 16),
        ("network.security_groups", &n.security_groups, 5),
    ] {
        if ids.len() > most {
            err(field, format!("may name at most {most}"));
        }
        if ids.iter().any(|id| id.trim().is_empty()) {
            err(field, "must not hold an empty id".into());
        }
    }
}

/// `post_migration`: a registry container, a command, a timeout in range, and somewhere to run
/// (the `network` section, else the migration's subnets).
pub(super) fn check_post_migration(config: &ServiceConfig, err: &mut impl FnMut(&str, String)) {
    let Some(m) = &config.post_migration else {
        return;
    };
    if !config.containers.contains_key(&m.container) {
        err(
            "post_migration.container",
            format!("{:?} is not in containers", m.container),
        );
    }
    if m.command.is_empty() {
        err("post_migration.command", "must not be empty".into());
    } else if let Err(why) = crate::migration::check_overrides(&m.container, &m.command) {
        err("post_migration.command", why);
    }
    if !(1..=MAX_MIGRATION_TIMEOUT_SECONDS).contains(&m.timeout_seconds) {
        err(
            "post_migration.timeout_seconds",
            format!("must be 1..={MAX_MIGRATION_TIMEOUT_SECONDS}"),
        );
    }
    if config.task_network().is_none() {
        err(
            "post_migration",
            "has no network to run in: add a `network` section (or a `migration` section, whose subnets and security groups it then uses)".into(),
        );
    }
}
