//! Facts of a task target: each schedule and rule target as the deploy action reads them
//! (Scheduler GetSchedule, EventBridge ListTargetsByRule), and the roles they start tasks with
//! (IAM GetRole: the trust policy).

use aws_sdk_iam::error::SdkError;
use aws_sdk_iam::operation::get_role::GetRoleError;
use berth::aws::Clients;
use berth::doctor::task::{EVENTS, EcsParameters, SCHEDULER, Target, TargetRole, TaskTargetFacts};
use berth::doctor::{Seen, trusts};
use berth::registry::TaskTarget;
use berth::task_targets::{self, Found, Read, TargetClients};

use crate::exit::Failure;

/// Every schedule and rule target of `t`, and their roles.
pub async fn facts(
    clients: &Clients,
    iam: &aws_sdk_iam::Client,
    t: &TaskTarget,
) -> Result<TaskTargetFacts, Failure> {
    let c = TargetClients::new(&clients.config);
    let mut facts = TaskTargetFacts::default();
    for s in &t.schedules {
        let seen = match task_targets::read_schedule(&c, s).await? {
            Some(found) => Seen::Found(target(&found)),
            None => Seen::Missing(format!(
                "scheduler:GetSchedule: there is no schedule {} in group {}",
                s.name, s.group
            )),
        };
        facts.schedules.push((s.clone(), seen));
    }
    for r in &t.rules {
        let seen = match task_targets::read_rule(&c, r).await? {
            Some(found) => Seen::Found(target(&found)),
            None => Seen::Missing(format!(
                "events:ListTargetsByRule: rule {} on event bus {} does not exist or has no target with id {}",
                r.rule, r.event_bus, r.target_id
            )),
        };
        facts.rules.push((r.clone(), seen));
    }
    facts.roles = roles(iam, &facts).await?;
    Ok(facts)
}

/// A target's `EcsParameters` as the checks see them. Scheduler's and EventBridge's are two
/// SDK types of the same shape, hence a macro.
macro_rules! ecs_parameters {
    ($e:expr) => {
        EcsParameters {
            task_definition_arn: $e.task_definition_arn.clone(),
            launch_type: $e.launch_type.as_ref().map(|l| l.as_str().to_owned()),
            capacity_providers: $e
                .capacity_provider_strategy
                .as_ref()
                .is_some_and(|c| !c.is_empty()),
            subnets: $e
                .network_configuration
                .as_ref()
                .and_then(|n| n.awsvpc_configuration.as_ref())
                .map(|v| v.subnets.clone())
                .unwrap_or_default(),
        }
    };
}

/// What the checks look at of a target as read.
fn target(found: &Found) -> Target {
    match &found.read {
        Read::Schedule(s) => s.target.as_ref().map_or_else(Target::default, |t| Target {
            arn: t.arn.clone(),
            role_arn: Some(t.role_arn.clone()).filter(|r| !r.is_empty()),
            ecs: t.ecs_parameters.as_ref().map(|e| ecs_parameters!(e)),
            kms_key_arn: s.kms_key_arn.clone(),
        }),
        Read::Rule(_, t) => Target {
            arn: t.arn.clone(),
            role_arn: t.role_arn.clone(),
            ecs: t.ecs_parameters.as_ref().map(|e| ecs_parameters!(e)),
            kms_key_arn: None,
        },
    }
}

/// Each distinct role of the targets: which of Scheduler and EventBridge its trust policy lets
/// assume it, or why it cannot be read.
async fn roles(
    iam: &aws_sdk_iam::Client,
    facts: &TaskTargetFacts,
) -> Result<Vec<TargetRole>, Failure> {
    let mut arns: Vec<&String> = facts
        .schedules
        .iter()
        .map(|(_, seen)| seen)
        .chain(facts.rules.iter().map(|(_, seen)| seen))
        .filter_map(|seen| match seen {
            Seen::Found(t) => t.role_arn.as_ref(),
            Seen::Missing(_) => None,
        })
        .collect();
    arns.sort();
    arns.dedup();
    let mut roles = Vec::with_capacity(arns.len());
    for arn in arns {
        let trusts = match trust_policy(iam, arn).await? {
            Seen::Found(doc) => Seen::Found(
                [SCHEDULER, EVENTS]
                    .into_iter()
                    .map(|p| (p.to_owned(), trusts(&doc, p)))
                    .collect(),
            ),
            Seen::Missing(why) => Seen::Missing(why),
        };
        roles.push(TargetRole {
            role_arn: arn.clone(),
            trusts,
        });
    }
    Ok(roles)
}

/// The role's trust policy document (IAM GetRole), or why there is none.
pub async fn trust_policy(
    iam: &aws_sdk_iam::Client,
    role_arn: &str,
) -> Result<Seen<String>, Failure> {
    let name = role_arn.rsplit('/').next().unwrap_or(role_arn);
    match iam.get_role().role_name(name).send().await {
        Ok(out) => Ok(Seen::Found(
            out.role()
                .and_then(|r| r.assume_role_policy_document())
                .unwrap_or_default()
                .to_owned(),
        )),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), GetRoleError::NoSuchEntityException(_)) =>
        {
            Ok(Seen::Missing(
                "NoSuchEntity: the role does not exist".into(),
            ))
        }
        Err(e) => Err(berth::Error::sdk(format!("iam:GetRole {name}"))(e).into()),
    }
}

/// The execution and task roles of a task definition revision (DescribeTaskDefinition).
pub async fn revision_roles(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<Vec<String>, Failure> {
    let described = crate::common::task_definition(ecs, arn).await?;
    let td = described.as_ref();
    let roles = [
        td.and_then(|t| t.execution_role_arn()),
        td.and_then(|t| t.task_role_arn()),
    ];
    Ok(roles.into_iter().flatten().map(str::to_owned).collect())
}

/// The revision the targets run (the first ECS target's), whose roles the migrate role must
/// be able to pass; `None` when no target runs an ECS task.
pub fn revision(facts: &TaskTargetFacts) -> Option<&str> {
    facts
        .schedules
        .iter()
        .map(|(_, seen)| seen)
        .chain(facts.rules.iter().map(|(_, seen)| seen))
        .find_map(|seen| match seen {
            Seen::Found(Target { ecs: Some(e), .. }) => Some(e.task_definition_arn.as_str()),
            _ => None,
        })
}
