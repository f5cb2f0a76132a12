//! Facts of what a release touches besides the deployment path: ECR repositories, migration
//! subnets, whether berth's migrate role may pass the task roles, the release bucket.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::Filter;
use aws_sdk_ecr::error::SdkError;
use aws_sdk_ecr::operation::describe_repositories::DescribeRepositoriesError;
use aws_sdk_iam::types::{ContextEntry, ContextKeyTypeEnum};
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{FilterRuleName, LambdaFunctionConfiguration};
use berth::aws::Clients;
use berth::doctor::{
    Bucket, LambdaNotification, PassRole, RepositoryFacts, Seen, Subnet, SubnetFacts,
};
use berth::images::{Home, Repository};
use berth::registry::{Service, ServiceConfig};

use crate::exit::Failure;

/// Each distinct repository of the registry's containers, one request after another (a
/// service names a handful).
pub async fn repositories(
    clients: &Clients,
    service: &Service,
    home: &Home,
) -> Result<Vec<RepositoryFacts>, Failure> {
    let mut containers: BTreeMap<&Repository, Vec<String>> = BTreeMap::new();
    for (container, repo) in &service.repositories {
        containers.entry(repo).or_default().push(container.clone());
    }
    let mut facts = Vec::new();
    for (repo, containers) in containers {
        facts.push(RepositoryFacts {
            containers,
            repository: repo.clone(),
            home: (repo.registry_id.is_empty() || repo.registry_id == home.account_id)
                && repo.region == home.region,
            mutability: tag_mutability(&clients.ecr_in(&repo.region), repo).await?,
        });
    }
    Ok(facts)
}

async fn tag_mutability(
    ecr: &aws_sdk_ecr::Client,
    repo: &Repository,
) -> Result<Seen<String>, Failure> {
    // A bare name of an account that could not be learnt is looked up in the caller's own.
    let registry = Some(repo.registry_id.clone()).filter(|id| !id.is_empty());
    match ecr
        .describe_repositories()
        .set_registry_id(registry)
        .repository_names(&repo.name)
        .send()
        .await
    {
        Ok(out) => Ok(match out.repositories().first() {
            Some(r) => Seen::Found(
                r.image_tag_mutability()
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_else(|| "MUTABLE".to_owned()),
            ),
            None => Seen::Missing("DescribeRepositories returned nothing".into()),
        }),
        Err(SdkError::ServiceError(e))
            if matches!(
                e.err(),
                DescribeRepositoriesError::RepositoryNotFoundException(_)
            ) =>
        {
            Ok(Seen::Missing("RepositoryNotFoundException".into()))
        }
        Err(e) => {
            Err(berth::Error::sdk(format!("ecr:DescribeRepositories {}", repo.uri()))(e).into())
        }
    }
}

/// The registry's migration subnets, by a `subnet-id` filter: unlike `SubnetIds`, a filter
/// answers with the subnets that exist instead of failing the request for one that does not.
pub async fn subnets(
    ec2: &aws_sdk_ec2::Client,
    cfg: &ServiceConfig,
) -> Result<Vec<SubnetFacts>, Failure> {
    let Some(migration) = &cfg.migration else {
        return Ok(Vec::new());
    };
    let out = ec2
        .describe_subnets()
        .filters(
            Filter::builder()
                .name("subnet-id")
                .set_values(Some(migration.subnets.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "ec2:DescribeSubnets {}",
            migration.subnets.join(",")
        )))?;
    Ok(migration
        .subnets
        .iter()
        .map(|id| SubnetFacts {
            id: id.clone(),
            subnet: out
                .subnets()
                .iter()
                .find(|s| s.subnet_id() == Some(id.as_str()))
                .map(|s| Subnet {
                    vpc_id: s.vpc_id().unwrap_or("?").to_owned(),
                    map_public_ip_on_launch: s.map_public_ip_on_launch().unwrap_or(false),
                }),
        })
        .collect())
}

/// Asks the IAM policy simulator whether `migrate_role` may pass each role to ECS tasks, as
/// RunTask does. The context entry matters: the stacks grant `iam:PassRole` only with
/// `iam:PassedToService` = `ecs-tasks.amazonaws.com`, and the simulator knows that value only
/// when told (IAM API reference, ContextEntry.ContextKeyValues: "The value (or values, if the
/// condition context key supports multiple values) to provide to the simulation when the key
/// is referenced by a Condition element in an input policy.").
pub async fn pass_role(
    iam: &aws_sdk_iam::Client,
    migrate_role: Option<&str>,
    roles: Option<Vec<String>>,
) -> Result<PassRole, Failure> {
    let Some(roles) = roles else {
        return Ok(PassRole::Unknown);
    };
    let Some(migrate_role) = migrate_role else {
        return Ok(PassRole::NotAsked(roles));
    };
    let mut decisions = Vec::new();
    for role in roles {
        let decision = simulate(iam, migrate_role, &role).await?;
        decisions.push((role, decision));
    }
    Ok(PassRole::Simulated {
        migrate_role: migrate_role.to_owned(),
        decisions,
    })
}

/// One role, one request, so each answer is that role's decision. SimulatePrincipalPolicy: "The
/// policy simulator results can differ from your live Amazon Web Services environment": a
/// pass here is strong evidence, not proof (the first migration is).
async fn simulate(
    iam: &aws_sdk_iam::Client,
    principal: &str,
    role: &str,
) -> Result<String, Failure> {
    let to_ecs_tasks = ContextEntry::builder()
        .context_key_name("iam:PassedToService")
        .context_key_type(ContextKeyTypeEnum::String)
        .context_key_values("ecs-tasks.amazonaws.com")
        .build();
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(principal)
        .action_names("iam:PassRole")
        .resource_arns(role)
        .context_entries(to_ecs_tasks)
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "iam:SimulatePrincipalPolicy {principal} iam:PassRole {role}"
        )))?;
    Ok(out
        .evaluation_results()
        .first()
        .map(|r| r.eval_decision().as_str().to_owned())
        .unwrap_or_else(|| "no decision".to_owned()))
}

/// The release bucket's versioning and the Lambda functions its notifications invoke.
pub async fn bucket(s3: &aws_sdk_s3::Client, name: &str) -> Result<Seen<Bucket>, Failure> {
    let versioning = match s3.get_bucket_versioning().bucket(name).send().await {
        Ok(out) => out.status().map(|s| s.as_str().to_owned()),
        Err(e) if e.code() == Some("NoSuchBucket") => {
            return Ok(Seen::Missing("NoSuchBucket".into()));
        }
        Err(e) => {
            return Err(berth::Error::sdk(format!("s3:GetBucketVersioning {name}"))(e).into());
        }
    };
    let out = s3
        .get_bucket_notification_configuration()
        .bucket(name)
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "s3:GetBucketNotificationConfiguration {name}"
        )))?;
    Ok(Seen::Found(Bucket {
        versioning,
        notifications: out
            .lambda_function_configurations()
            .iter()
            .map(notification)
            .collect(),
    }))
}

/// S3 API reference, FilterRule.Name: "The object key name prefix or suffix identifying one or
/// more objects to which the filtering rule applies." S3 answers `Prefix` and `Suffix` where
/// the request says `prefix` and `suffix`, so the names are compared without case.
fn notification(c: &LambdaFunctionConfiguration) -> LambdaNotification {
    let rules = c
        .filter()
        .and_then(|f| f.key())
        .map(|k| k.filter_rules())
        .unwrap_or_default();
    let rule = |name: FilterRuleName| {
        rules
            .iter()
            .find(|r| {
                r.name()
                    .is_some_and(|n| n.as_str().eq_ignore_ascii_case(name.as_str()))
            })
            .and_then(|r| r.value().map(str::to_owned))
    };
    LambdaNotification {
        function_arn: c.lambda_function_arn().to_owned(),
        events: c.events().iter().map(|e| e.as_str().to_owned()).collect(),
        prefix: rule(FilterRuleName::Prefix),
        suffix: rule(FilterRuleName::Suffix),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::operation::simulate_principal_policy::{
        SimulatePrincipalPolicyInput, SimulatePrincipalPolicyOutput,
    };
    use aws_sdk_iam::types::{EvaluationResult, PolicyEvaluationDecisionType as Decision};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;
    use crate::exit::Exit;

    const MIGRATE: &str = "arn:aws:iam::123456789012:role/berth-migrate";
    const EXEC: &str = "arn:aws:iam::123456789012:role/web-exec";
    const TASK: &str = "arn:aws:iam::123456789012:role/web-task";

    fn answer(decision: Decision) -> SimulatePrincipalPolicyOutput {
        let result = EvaluationResult::builder()
            .eval_action_name("iam:PassRole")
            .eval_decision(decision)
            .build()
            .expect("a complete evaluation result");
        SimulatePrincipalPolicyOutput::builder()
            .evaluation_results(result)
            .build()
    }

    /// The request RunTask's permission check amounts to: the migrate role passing `role` to
    /// ECS tasks, one role per request.
    fn asks_to_pass(r: &SimulatePrincipalPolicyInput, role: &str) -> bool {
        let context = r.context_entries();
        r.policy_source_arn() == Some(MIGRATE)
            && r.action_names() == ["iam:PassRole"]
            && r.resource_arns() == [role]
            && context.len() == 1
            && context[0].context_key_name() == Some("iam:PassedToService")
            && context[0].context_key_type() == Some(&ContextKeyTypeEnum::String)
            && context[0].context_key_values() == ["ecs-tasks.amazonaws.com"]
    }

    /// moto has no policy simulator (SimulatePrincipalPolicy is unchecked in its IAM coverage),
    /// so the request and the decisions are checked on the SDK client here.
    #[tokio::test]
    async fn each_role_is_simulated_as_the_migrate_role_passing_it_to_ecs_tasks() {
        let exec = mock!(aws_sdk_iam::Client::simulate_principal_policy)
            .match_requests(|r| asks_to_pass(r, EXEC))
            .then_output(|| answer(Decision::Allowed));
        let task = mock!(aws_sdk_iam::Client::simulate_principal_policy)
            .match_requests(|r| asks_to_pass(r, TASK))
            .then_output(|| answer(Decision::ImplicitDeny));
        let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&exec, &task]);
        let got = pass_role(&iam, Some(MIGRATE), Some(vec![EXEC.into(), TASK.into()]))
            .await
            .expect("simulated");
        assert_eq!(
            got,
            PassRole::Simulated {
                migrate_role: MIGRATE.into(),
                decisions: vec![
                    (EXEC.into(), "allowed".into()),
                    (TASK.into(), "implicitDeny".into())
                ],
            }
        );
        assert_eq!((exec.num_calls(), task.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn nothing_is_asked_without_the_role_or_a_running_task_definition() {
        let rule = mock!(aws_sdk_iam::Client::simulate_principal_policy)
            .then_output(|| answer(Decision::Allowed));
        let iam = mock_client!(aws_sdk_iam, [&rule]);
        let not_asked = pass_role(&iam, None, Some(vec![EXEC.into()])).await;
        assert_eq!(not_asked.ok(), Some(PassRole::NotAsked(vec![EXEC.into()])));
        let unknown = pass_role(&iam, Some(MIGRATE), None).await;
        assert_eq!(unknown.ok(), Some(PassRole::Unknown));
        assert_eq!(rule.num_calls(), 0);
    }

    /// The operator's own credentials need iam:SimulatePrincipalPolicy; without it the command
    /// ends as an AWS failure naming the call, not as a verdict on the setup.
    #[tokio::test]
    async fn a_denied_simulation_is_an_aws_failure_naming_the_call() {
        let denied = mock!(aws_sdk_iam::Client::simulate_principal_policy).then_http_response(|| {
            Response::new(
                StatusCode::try_from(403).expect("status"),
                SdkBody::from(
                    "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized</Message></Error></ErrorResponse>",
                ),
            )
        });
        let iam = mock_client!(aws_sdk_iam, [&denied]);
        let Err(failure) = pass_role(&iam, Some(MIGRATE), Some(vec![EXEC.into()])).await else {
            panic!("a denied simulation is no decision");
        };
        assert_eq!(failure.exit, Exit::Failed);
        assert!(
            failure.message.contains("iam:SimulatePrincipalPolicy"),
            "{}",
            failure.message
        );
    }
}
