//! Facts of the deployment path: the ECS service and its task definition's roles, the
//! CodeDeploy deployment group, the pipeline. A name that does not exist is a fact (`Missing`);
//! any other AWS failure ends the command (exit 3).

use aws_sdk_codedeploy::operation::get_deployment_group::GetDeploymentGroupError;
use aws_sdk_codedeploy::types::DeploymentGroupInfo;
use aws_sdk_codepipeline::operation::get_pipeline::GetPipelineError;
use aws_sdk_codepipeline::types::{ActionDeclaration, PipelineDeclaration};
use aws_sdk_ecs::error::SdkError;
use aws_sdk_ecs::operation::describe_services::DescribeServicesError;
use aws_sdk_ecs::types::ServiceField;
use berth::doctor::{Action, DeploymentGroup, EcsService, Pipeline, Seen, Stage, Variable};
use berth::registry::ServiceConfig;
use berth::taskdef::running_task_definition;

use crate::exit::Failure;

/// The ECS service, with the target groups of its PRIMARY task set (a CODE_DEPLOY service's
/// own `loadBalancers` show only what it was created with).
pub async fn ecs_service(
    ecs: &aws_sdk_ecs::Client,
    cfg: &ServiceConfig,
) -> Result<Seen<EcsService>, Failure> {
    let action = format!(
        "ecs:DescribeServices {}/{}",
        cfg.cluster,
        cfg.ecs_service_name()
    );
    let out = match ecs
        .describe_services()
        .cluster(&cfg.cluster)
        .services(cfg.ecs_service_name())
        // "If TAGS is specified, the tags are included in the response. If this field is
        // omitted, tags aren't included in the response" (DescribeServices `include`): the
        // `berth:service` tag the platform's deploy role requires of a service ECS deploys.
        .include(ServiceField::Tags)
        .send()
        .await
    {
        Ok(out) => out,
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), DescribeServicesError::ClusterNotFoundException(_)) =>
        {
            return Ok(Seen::Missing(format!("no cluster {}", cfg.cluster)));
        }
        Err(e) => return Err(berth::Error::sdk(action)(e).into()),
    };
    let found = out.services().iter().find(|s| {
        s.service_name() == Some(cfg.ecs_service_name())
            || s.service_arn()
                .is_some_and(|a| a.ends_with(&format!("/{}", cfg.ecs_service_name())))
    });
    let Some(s) = found else {
        let why = out
            .failures()
            .iter()
            .find_map(|f| f.reason())
            .unwrap_or("MISSING");
        return Ok(Seen::Missing(why.to_owned()));
    };
    Ok(Seen::Found(seen_service(s)))
}

/// What the doctor reads of a service DescribeServices found.
fn seen_service(s: &aws_sdk_ecs::types::Service) -> EcsService {
    let primary = s.task_sets().iter().find(|t| t.status() == Some("PRIMARY"));
    let balancers = match primary {
        Some(t) if !t.load_balancers().is_empty() => t.load_balancers(),
        _ => s.load_balancers(),
    };
    EcsService {
        status: s.status().unwrap_or("UNKNOWN").to_owned(),
        controller: s
            .deployment_controller()
            .map(|d| d.r#type().as_str().to_owned())
            .unwrap_or_else(|| "ECS".to_owned()),
        primary_task_definition: running_task_definition(s).ok(),
        target_groups: balancers
            .iter()
            .filter_map(|b| b.target_group_arn().map(str::to_owned))
            .collect(),
        running: s.running_count(),
        desired: s.desired_count(),
        native: super::native::native_config(s),
    }
}

/// The task role and execution role of the task definition the service runs; `None` when it
/// runs none.
pub async fn task_roles(
    ecs: &aws_sdk_ecs::Client,
    service: &Seen<EcsService>,
) -> Result<Option<Vec<String>>, Failure> {
    let Seen::Found(EcsService {
        primary_task_definition: Some(arn),
        ..
    }) = service
    else {
        return Ok(None);
    };
    super::task::revision_roles(ecs, arn).await.map(Some)
}

/// The deployment group the registry names (default: application = pipeline, group = service).
pub async fn deployment_group(
    codedeploy: &aws_sdk_codedeploy::Client,
    cfg: &ServiceConfig,
) -> Result<Seen<DeploymentGroup>, Failure> {
    let target = cfg.deployment_target();
    let out = match codedeploy
        .get_deployment_group()
        .application_name(&target.application)
        .deployment_group_name(&target.group)
        .send()
        .await
    {
        Ok(out) => out,
        Err(SdkError::ServiceError(e))
            if matches!(
                e.err(),
                GetDeploymentGroupError::ApplicationDoesNotExistException(_)
                    | GetDeploymentGroupError::DeploymentGroupDoesNotExistException(_)
            ) =>
        {
            return Ok(Seen::Missing(e.err().to_string()));
        }
        Err(e) => {
            let action = format!(
                "codedeploy:GetDeploymentGroup {}/{}",
                target.application, target.group
            );
            return Err(berth::Error::sdk(action)(e).into());
        }
    };
    Ok(match out.deployment_group_info() {
        Some(info) => Seen::Found(group_facts(info)),
        None => Seen::Missing("GetDeploymentGroup returned no deployment group".into()),
    })
}

fn group_facts(info: &DeploymentGroupInfo) -> DeploymentGroup {
    let pairs = info
        .load_balancer_info()
        .map(|l| l.target_group_pair_info_list())
        .unwrap_or_default();
    let listeners = |route: Option<&aws_sdk_codedeploy::types::TrafficRoute>| {
        route
            .map(|r| r.listener_arns().to_vec())
            .unwrap_or_default()
    };
    DeploymentGroup {
        ecs_services: info
            .ecs_services()
            .iter()
            .map(|s| {
                let name = |v: Option<&str>| v.unwrap_or_default().to_owned();
                (name(s.cluster_name()), name(s.service_name()))
            })
            .collect(),
        target_groups: pairs
            .iter()
            .flat_map(|p| p.target_groups())
            .filter_map(|t| t.name().map(str::to_owned))
            .collect(),
        prod_listeners: pairs
            .iter()
            .flat_map(|p| listeners(p.prod_traffic_route()))
            .collect(),
        test_listeners: pairs
            .iter()
            .flat_map(|p| listeners(p.test_traffic_route()))
            .collect(),
    }
}

pub async fn pipeline(
    codepipeline: &aws_sdk_codepipeline::Client,
    name: &str,
) -> Result<Seen<Pipeline>, Failure> {
    match codepipeline.get_pipeline().name(name).send().await {
        Ok(out) => Ok(match out.pipeline() {
            Some(p) => Seen::Found(pipeline_facts(p)),
            None => Seen::Missing("GetPipeline returned no declaration".into()),
        }),
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), GetPipelineError::PipelineNotFoundException(_)) =>
        {
            Ok(Seen::Missing(e.err().to_string()))
        }
        Err(e) => Err(berth::Error::sdk(format!("codepipeline:GetPipeline {name}"))(e).into()),
    }
}

fn pipeline_facts(p: &PipelineDeclaration) -> Pipeline {
    Pipeline {
        pipeline_type: p.pipeline_type().map(|t| t.as_str().to_owned()),
        execution_mode: p.execution_mode().map(|m| m.as_str().to_owned()),
        variables: p
            .variables()
            .iter()
            .map(|v| Variable {
                name: v.name().to_owned(),
                default: v.default_value().map(str::to_owned),
            })
            .collect(),
        stages: p
            .stages()
            .iter()
            .map(|s| Stage {
                name: s.name().to_owned(),
                actions: s.actions().iter().map(action_facts).collect(),
            })
            .collect(),
    }
}

fn action_facts(a: &ActionDeclaration) -> Action {
    let kind = a.action_type_id();
    Action {
        name: a.name().to_owned(),
        category: kind
            .map(|k| k.category().as_str().to_owned())
            .unwrap_or_default(),
        provider: kind.map(|k| k.provider().to_owned()).unwrap_or_default(),
        // GetPipeline reports each action's runOrder (1 to 999); one left out counts as 1.
        run_order: a.run_order().unwrap_or(1),
        configuration: a
            .configuration()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        input_artifacts: a
            .input_artifacts()
            .iter()
            .map(|i| i.name().to_owned())
            .collect(),
        output_artifacts: a
            .output_artifacts()
            .iter()
            .map(|o| o.name().to_owned())
            .collect(),
    }
}
