//! A task target (`task_target`): whether each schedule and rule the entry names exists, runs
//! the task family through an ECS target berth can repoint, with a role its service may
//! assume, and whether they all run the same revision — the template a release starts from.
//! Each problem with its fix.

use super::{Finding, Seen};
use crate::registry::{RuleRef, ScheduleRef, ServiceConfig, TaskTarget};

/// What Scheduler and EventBridge show of a task target's targets, read for one entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskTargetFacts {
    /// GetSchedule of each schedule, in the entry's order.
    pub schedules: Vec<(ScheduleRef, Seen<Target>)>,
    /// The target with the entry's id among ListTargetsByRule's, for each rule.
    pub rules: Vec<(RuleRef, Seen<Target>)>,
    /// Each distinct role of the targets, read with IAM GetRole.
    pub roles: Vec<TargetRole>,
}

/// A schedule's or a rule's target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// The target's `Arn`: an ECS cluster's ARN for an ECS target.
    pub arn: String,
    /// The target's `RoleArn`.
    pub role_arn: Option<String>,
    /// `EcsParameters`; `None` when the target is not an ECS task.
    pub ecs: Option<EcsParameters>,
    /// A schedule's customer managed key (`KmsKeyArn`); `None` for the AWS owned key or a rule.
    pub kms_key_arn: Option<String>,
}

/// A target's `EcsParameters` (the same shape in Scheduler and EventBridge).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EcsParameters {
    pub task_definition_arn: String,
    /// `LaunchType` (`EC2`, `FARGATE`, `EXTERNAL`); `None` when left out.
    pub launch_type: Option<String>,
    /// Whether a `CapacityProviderStrategy` is set (then there is no launch type).
    pub capacity_providers: bool,
    /// `NetworkConfiguration.awsvpcConfiguration`: subnets; empty when none is set.
    pub subnets: Vec<String>,
}

/// A target's role, as IAM GetRole shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRole {
    pub role_arn: String,
    /// Whether its trust policy lets the service that uses it (`scheduler.amazonaws.com` or
    /// `events.amazonaws.com`) assume it, for each such service; or why it could not be read.
    pub trusts: Seen<Vec<(String, bool)>>,
}

/// The service principal that assumes a schedule's role: "the IAM role that EventBridge
/// Scheduler will use for this target when the schedule is invoked" (Scheduler API
/// reference, Target `RoleArn`).
pub const SCHEDULER: &str = "scheduler.amazonaws.com";
/// The service principal that assumes a rule target's role: "Before you can use Amazon ECS
/// scheduled tasks with EventBridge rules and targets, the EventBridge service needs
/// permissions to run Amazon ECS tasks on your behalf" (Amazon ECS EventBridge IAM role; its
/// trust policy names `events.amazonaws.com`).
pub const EVENTS: &str = "events.amazonaws.com";

/// Every check of a task target.
pub fn check(config: &ServiceConfig, t: &TaskTarget, facts: &TaskTargetFacts) -> Vec<Finding> {
    if t.register_only() {
        return vec![Finding::ok(
            "task-target",
            format!(
                "register only: no schedule or rule runs task family {}; each release registers a new revision of it, which is the release (for code that starts the family by name); berth run starts it by hand",
                config.task_family
            ),
        )];
    }
    let mut findings = Vec::new();
    for (s, seen) in &facts.schedules {
        let check = format!("schedule:{}/{}", s.group, s.name);
        let missing = format!(
            "create the schedule (aws scheduler create-schedule --name {} --group-name {} ...) with an ECS target running task family {}, or correct task_target.schedules in the registry",
            s.name, s.group, config.task_family
        );
        findings.push(target(config, &check, seen, SCHEDULER, &missing, facts));
    }
    for (r, seen) in &facts.rules {
        let check = format!("rule:{}/{}/{}", r.event_bus, r.rule, r.target_id);
        let missing = format!(
            "give rule {} on event bus {} an ECS target with id {} running task family {} (aws events put-targets), or correct task_target.rules in the registry",
            r.rule, r.event_bus, r.target_id, config.task_family
        );
        findings.push(target(config, &check, seen, EVENTS, &missing, facts));
    }
    findings.push(agree(config, facts));
    findings
}

/// One schedule's or rule's target: found, an ECS task of the family, in the entry's
/// cluster, with a network a Fargate task can use and a role its service may assume.
fn target(
    config: &ServiceConfig,
    check: &str,
    seen: &Seen<Target>,
    principal: &str,
    missing: &str,
    facts: &TaskTargetFacts,
) -> Finding {
    let t = match seen {
        Seen::Found(t) => t,
        Seen::Missing(why) => return Finding::fail(check, why.clone(), missing),
    };
    let Some(ecs) = &t.ecs else {
        return Finding::fail(
            check,
            format!(
                "its target {} is not an ECS task (no EcsParameters): berth repoints only an ECS target's task definition",
                t.arn
            ),
            missing,
        );
    };
    if let Some(problem) = family(config, ecs).or_else(|| network(ecs)) {
        return problem.for_check(check);
    }
    if let Some(problem) = role(t, principal, facts) {
        return problem.for_check(check);
    }
    if let Some(key) = &t.kms_key_arn {
        return encrypted(check, key, t.role_arn.as_deref().unwrap_or("-"));
    }
    if ecs.capacity_providers && ecs.subnets.is_empty() {
        return unplaced(check);
    }
    placed(config, check, t, ecs)
}

/// A schedule encrypted with a customer managed key: writing it back and running it use the
/// key — "the execution role associated with your schedule must also have the required AWS KMS
/// related permissions to call the AWS KMS API when decrypting data" (Scheduler user guide,
/// Encryption at rest) — and the platform grants no KMS permission: a warning naming the grants.
fn encrypted(check: &str, key: &str, role: &str) -> Finding {
    Finding::warn(
        check,
        format!(
            "the schedule is encrypted with customer managed key {key}: deploy's UpdateSchedule needs kms:DescribeKey, kms:GenerateDataKey and kms:Decrypt on it, and the schedule's role {role} kms:Decrypt; the platform grants neither"
        ),
        format!(
            "let the deploy function's role and {role} use {key} in the key's policy (kms:ViaService scheduler.<region>.amazonaws.com), or use the AWS owned key"
        ),
    )
}

/// A target running another family: a release would refuse it.
fn family(config: &ServiceConfig, ecs: &EcsParameters) -> Option<Problem> {
    if family_of(&ecs.task_definition_arn) == Some(config.task_family.as_str()) {
        return None;
    }
    Some(Problem {
        detail: format!(
            "it runs {}, not a revision of task family {}: a release would refuse it",
            ecs.task_definition_arn, config.task_family
        ),
        fix: format!(
            "point its ECS target at a revision of {} (or correct task_family or task_target in the registry)",
            config.task_family
        ),
    })
}

/// A capacity provider strategy without an awsvpcConfiguration: fine for EC2 tasks in bridge
/// or host mode, refused for Fargate and every awsvpc task — "This parameter is required for
/// task definitions that use the awsvpc network mode to receive their own elastic network
/// interface" (ECS RunTask `networkConfiguration`) — which the doctor cannot tell apart here.
fn unplaced(check: &str) -> Finding {
    Finding::warn(
        check,
        "its ECS target uses a capacity provider strategy without an awsvpcConfiguration: ECS refuses to run the task if the provider is FARGATE or FARGATE_SPOT, or the task definition uses the awsvpc network mode",
        "give the target an awsvpcConfiguration with the task's subnets (and security groups), unless its tasks run on EC2 in bridge or host mode",
    )
}

/// The verdict on a sound target: ok in the entry's cluster, a warning in another.
fn placed(config: &ServiceConfig, check: &str, t: &Target, ecs: &EcsParameters) -> Finding {
    let cluster = cluster_of(&t.arn);
    if cluster != Some(config.cluster.as_str()) {
        return Finding::warn(
            check,
            format!(
                "it runs {} in cluster {}, not in the entry's cluster {}: berth run starts the job in {}",
                ecs.task_definition_arn,
                cluster.unwrap_or(&t.arn),
                config.cluster,
                config.cluster
            ),
            "make the registry's cluster the one the target runs in, or move the target",
        );
    }
    Finding::ok(
        check,
        format!(
            "runs {} ({}) in cluster {}",
            ecs.task_definition_arn,
            launch(ecs),
            config.cluster
        ),
    )
}

/// A Fargate target without subnets: EcsParameters' NetworkConfiguration "is required if
/// LaunchType is FARGATE because the awsvpc mode is required for Fargate tasks" (EventBridge
/// API reference; Scheduler's EcsParameters takes the same structure).
fn network(ecs: &EcsParameters) -> Option<Problem> {
    let fargate = ecs.launch_type.as_deref() == Some("FARGATE");
    if !fargate || !ecs.subnets.is_empty() {
        return None;
    }
    Some(Problem {
        detail: "its ECS target launches on FARGATE without an awsvpcConfiguration: ECS refuses to run the task".into(),
        fix: "give the target an awsvpcConfiguration with the task's subnets (and security groups), as Fargate requires".into(),
    })
}

/// A failed check of a target, and its fix; the check's name is added by the caller.
struct Problem {
    detail: String,
    fix: String,
}

impl Problem {
    fn for_check(self, check: &str) -> Finding {
        Finding::fail(check, self.detail, self.fix)
    }
}

/// Whether the target has a role that exists and trusts `principal`.
fn role(t: &Target, principal: &str, facts: &TaskTargetFacts) -> Option<Problem> {
    let Some(arn) = &t.role_arn else {
        return Some(Problem {
            detail: "its target has no RoleArn: nothing may start the task".into(),
            fix: format!(
                "give the target a role that trusts {principal} and may ecs:RunTask the family and iam:PassRole its task roles"
            ),
        });
    };
    let seen = facts.roles.iter().find(|r| &r.role_arn == arn)?;
    match &seen.trusts {
        Seen::Missing(why) => Some(Problem {
            detail: format!("its role {arn} cannot be read: {why}"),
            fix: format!(
                "create the role (trusting {principal}) or point the target at one that exists"
            ),
        }),
        Seen::Found(trusts) if !trusts.iter().any(|(p, ok)| p == principal && *ok) => {
            Some(Problem {
                detail: format!(
                    "its role {arn} does not trust {principal}, which assumes it to start the task"
                ),
                fix: format!(
                    "add a trust policy statement allowing {principal} sts:AssumeRole to {arn}"
                ),
            })
        }
        Seen::Found(_) => None,
    }
}

/// Every target found runs the same revision: a release starts from it (and refuses targets
/// that disagree, naming each).
fn agree(config: &ServiceConfig, facts: &TaskTargetFacts) -> Finding {
    let check = "task-targets-agree";
    let running: Vec<(String, &str)> = facts
        .schedules
        .iter()
        .map(|(s, seen)| (s.describe(), seen))
        .chain(facts.rules.iter().map(|(r, seen)| (r.describe(), seen)))
        .filter_map(|(name, seen)| match seen {
            Seen::Found(Target { ecs: Some(e), .. }) => {
                Some((name, e.task_definition_arn.as_str()))
            }
            _ => None,
        })
        .collect();
    let Some((_, first)) = running.first() else {
        return Finding::fail(
            check,
            "no schedule or rule target runs an ECS task: a release has no task definition to start from",
            "fix the targets above",
        );
    };
    if running.iter().all(|(_, arn)| arn == first) {
        return Finding::ok(
            check,
            format!(
                "{} target(s) run {first}: the next release starts from it",
                running.len()
            ),
        );
    }
    let each: Vec<String> = running
        .iter()
        .map(|(name, arn)| format!("{name} runs {arn}"))
        .collect();
    Finding::fail(
        check,
        format!(
            "the targets run different revisions ({}): a release refuses to choose",
            each.join("; ")
        ),
        format!(
            "point every target at the same revision of {} (the one the job should run now), then release",
            config.task_family
        ),
    )
}

/// `family` of `arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>` (or of
/// `family:revision`).
fn family_of(task_definition: &str) -> Option<&str> {
    let name = task_definition
        .rsplit_once(":task-definition/")
        .map_or(task_definition, |(_, n)| n);
    name.rsplit_once(':').map(|(family, _)| family)
}

/// `name` of `arn:aws:ecs:<region>:<account>:cluster/<name>`.
fn cluster_of(arn: &str) -> Option<&str> {
    arn.rsplit_once(":cluster/").map(|(_, name)| name)
}

fn launch(ecs: &EcsParameters) -> String {
    match (&ecs.launch_type, ecs.capacity_providers) {
        (Some(l), _) => format!("launch type {l}"),
        (None, true) => "capacity provider strategy".into(),
        (None, false) => "no launch type".into(),
    }
}

#[cfg(test)]
mod tests;
