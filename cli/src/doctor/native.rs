//! Facts of a service ECS deploys itself: its deployment configuration (strategy, circuit
//! breaker, alarms, lifecycle hooks), its load balancers' blue/green `advancedConfiguration`,
//! Service Connect, and the roles of its Lambda lifecycle hooks (IAM GetRole for the trust
//! policy, the policy simulator for `lambda:InvokeFunction`).

use aws_sdk_ecs::types::{DeploymentConfiguration, Service};
use berth::doctor::{
    Advanced, Balancer, DEPLOY_TAG, EcsService, HookConfig, HookRole, NativeConfig, Seen, trusts,
};

use crate::exit::Failure;

/// What DescribeServices says of how ECS deploys the service.
pub fn native_config(s: &Service) -> NativeConfig {
    let dc = s.deployment_configuration();
    let hooks = hook_configs(dc);
    let load_balancers = s
        .load_balancers()
        .iter()
        .map(|b| Balancer {
            target_group: b.target_group_arn().map(str::to_owned),
            advanced: b.advanced_configuration().map(|a| Advanced {
                alternate_target_group: a.alternate_target_group_arn().map(str::to_owned),
                production_listener_rule: a.production_listener_rule().map(str::to_owned),
                test_listener_rule: a.test_listener_rule().map(str::to_owned),
                role_arn: a.role_arn().map(str::to_owned),
            }),
        })
        .collect();
    let service_connect = s.deployments().iter().any(|d| {
        d.status() == Some("PRIMARY")
            && d.service_connect_configuration()
                .is_some_and(|c| c.enabled())
    });
    NativeConfig {
        strategy: dc
            .and_then(|c| c.strategy())
            .map(|st| st.as_str().to_owned()),
        circuit_breaker: dc
            .and_then(|c| c.deployment_circuit_breaker())
            .map(|cb| (cb.enable(), cb.rollback())),
        alarms: dc
            .and_then(|c| c.alarms())
            .map(|a| (a.alarm_names().to_vec(), a.enable(), a.rollback())),
        bake_time_minutes: dc.and_then(|c| c.bake_time_in_minutes()),
        hooks,
        load_balancers,
        service_connect,
        service_arn: s.service_arn().map(str::to_owned),
        berth_tag: s
            .tags()
            .iter()
            .find(|t| t.key() == Some(DEPLOY_TAG))
            .map(|t| t.value().unwrap_or_default().to_owned()),
    }
}

/// The service's `deploymentConfiguration.lifecycleHooks`.
fn hook_configs(dc: Option<&DeploymentConfiguration>) -> Vec<HookConfig> {
    dc.map(|c| c.lifecycle_hooks())
        .unwrap_or_default()
        .iter()
        .map(|h| HookConfig {
            target_type: h
                .target_type()
                .map_or("AWS_LAMBDA", |t| t.as_str())
                .to_owned(),
            target_arn: h.hook_target_arn().map(str::to_owned),
            role_arn: h.role_arn().map(str::to_owned),
            stages: h
                .lifecycle_stages()
                .iter()
                .map(|st| st.as_str().to_owned())
                .collect(),
            timeout: h
                .timeout_configuration()
                .and_then(|t| Some((t.timeout_in_minutes()?, t.action()?.as_str().to_owned()))),
        })
        .collect()
}

/// The role of each Lambda lifecycle hook: whether ECS may assume it, whether it may invoke
/// the hook's function. None for a CODE_DEPLOY service or one without such hooks.
pub async fn hook_roles(
    iam: &aws_sdk_iam::Client,
    ecs: &Seen<EcsService>,
) -> Result<Vec<HookRole>, Failure> {
    let Seen::Found(s) = ecs else {
        return Ok(Vec::new());
    };
    let mut roles = Vec::new();
    for h in &s.native.hooks {
        let (Some(role), Some(function)) = (&h.role_arn, &h.target_arn) else {
            continue;
        };
        if h.target_type != "AWS_LAMBDA" || roles.iter().any(|r: &HookRole| &r.role_arn == role) {
            continue;
        }
        let trusts_ecs = trust(iam, role).await?;
        let invoke = match trusts_ecs {
            Seen::Found(_) => may_invoke(iam, role, function).await?,
            Seen::Missing(_) => "not simulated".to_owned(),
        };
        roles.push(HookRole {
            role_arn: role.clone(),
            function_arn: function.clone(),
            trusts_ecs,
            invoke,
        });
    }
    Ok(roles)
}

/// Whether the role's trust policy names `ecs.amazonaws.com` (GetRole), or why it is missing.
async fn trust(iam: &aws_sdk_iam::Client, role_arn: &str) -> Result<Seen<bool>, Failure> {
    Ok(match super::task::trust_policy(iam, role_arn).await? {
        Seen::Found(document) => Seen::Found(trusts(&document, "ecs.amazonaws.com")),
        Seen::Missing(_) => Seen::Missing("NoSuchEntity".into()),
    })
}

/// The IAM policy simulator's decision for the role calling `lambda:InvokeFunction` on
/// `function`: "The policy simulator results can differ from your live Amazon Web Services
/// environment", so an `allowed` is strong evidence, not proof.
async fn may_invoke(
    iam: &aws_sdk_iam::Client,
    role: &str,
    function: &str,
) -> Result<String, Failure> {
    let out = iam
        .simulate_principal_policy()
        .policy_source_arn(role)
        .action_names("lambda:InvokeFunction")
        .resource_arns(function)
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "iam:SimulatePrincipalPolicy {role} lambda:InvokeFunction {function}"
        )))?;
    Ok(out
        .evaluation_results()
        .first()
        .map(|r| r.eval_decision().as_str().to_owned())
        .unwrap_or_else(|| "no decision".to_owned()))
}
