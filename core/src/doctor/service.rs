//! The ECS service a release replaces, and the CodeDeploy deployment group that replaces it
//! (CODE_DEPLOY services; `native` checks the others).

use super::{DeploymentGroup, EcsService, Finding, Seen};
use crate::registry::ServiceConfig;
use crate::service_deployment::DeployKind;

/// The ECS service exists, is ACTIVE, is deployed by CodeDeploy, runs a task definition of the
/// registry's family, and has tasks running.
pub(super) fn ecs(config: &ServiceConfig, ecs: &Seen<EcsService>) -> Vec<Finding> {
    let name = format!("{}/{}", config.cluster, config.ecs_service_name());
    let s = match ecs {
        Seen::Found(s) => s,
        Seen::Missing(why) => {
            return vec![Finding::fail(
                "ecs-service",
                format!("ECS service {name} not found ({why})"),
                "create it (infra/cloudformation/reference-service.yaml makes one ready for berth), or correct the registry's cluster and ecs_service (the service stack's ClusterName and EcsServiceName)",
            )];
        }
    };
    if s.status != "ACTIVE" {
        return vec![Finding::fail(
            "ecs-service",
            format!("ECS service {name} is {}, not ACTIVE", s.status),
            "a service that is DRAINING or INACTIVE takes no deployment: create it again with the CODE_DEPLOY deployment controller",
        )];
    }
    vec![
        Finding::ok("ecs-service", format!("{name} is ACTIVE")),
        controller(s),
        task_set(config, s),
        tasks(config, s),
    ]
}

fn controller(s: &EcsService) -> Finding {
    // ECS API reference, DeploymentController: "The blue/green (CODE_DEPLOY) deployment type
    // uses the blue/green deployment model powered by AWS CodeDeploy, which allows you to
    // verify a new deployment of a service before sending production traffic to it."
    if s.controller == "CODE_DEPLOY" {
        return Finding::ok("ecs-controller", "CODE_DEPLOY (blue/green by CodeDeploy)");
    }
    match DeployKind::of(Some(&s.controller), s.native.strategy.as_deref()) {
        Ok(kind) => Finding::ok(
            "ecs-controller",
            format!(
                "ECS, strategy {}: ECS deploys it; berth's Deploy action starts each deployment (UpdateService) and follows it",
                kind.as_str()
            ),
        ),
        Err(why) => Finding::fail(
            "ecs-controller",
            why,
            "create the service with the ECS deployment controller and a ROLLING, BLUE_GREEN, LINEAR or CANARY deployment strategy, or with --deployment-controller type=CODE_DEPLOY and a load balancer on the blue target group (docs/guide/deploy.md, \"What must exist first\")",
        ),
    }
}

/// The template of every release is the task definition of the PRIMARY task set, and it must
/// be of the registry's family (on-manifest refuses a release otherwise).
fn task_set(config: &ServiceConfig, s: &EcsService) -> Finding {
    let Some(td) = &s.primary_task_definition else {
        return Finding::fail(
            "ecs-task-set",
            "no PRIMARY task set: nothing runs that a release could start from (its template is the task definition the service runs)",
            format!(
                "create the service with a task definition of family {} so that it gets its first task set",
                config.task_family
            ),
        );
    };
    let family = task_definition_family(td);
    if family != config.task_family {
        return Finding::fail(
            "ecs-task-set",
            format!(
                "the PRIMARY task set runs {td}, of family {family}, not the registry's task_family {}: on-manifest refuses the release",
                config.task_family
            ),
            format!("set task_family to {family} (the service stack's TaskFamily)"),
        );
    }
    Finding::ok("ecs-task-set", format!("the PRIMARY task set runs {td}"))
}

fn tasks(config: &ServiceConfig, s: &EcsService) -> Finding {
    let counts = format!("{} of {} task(s) running", s.running, s.desired);
    if s.desired == 0 {
        return Finding::warn(
            "ecs-tasks",
            format!(
                "{counts}: the replacement task set of a deployment starts as many tasks as the service wants, none"
            ),
            format!(
                "aws ecs update-service --cluster {} --service {} --desired-count 1",
                config.cluster,
                config.ecs_service_name()
            ),
        );
    }
    if s.running == 0 {
        return Finding::warn(
            "ecs-tasks",
            format!("{counts}: the tasks the service runs now do not stay up"),
            format!(
                "read why: aws ecs describe-services --cluster {} --services {} --query 'services[0].events[:5]'",
                config.cluster,
                config.ecs_service_name()
            ),
        );
    }
    Finding::ok("ecs-tasks", counts)
}

/// `arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>` → `<family>`.
fn task_definition_family(arn: &str) -> &str {
    let name = arn.rsplit('/').next().unwrap_or(arn);
    name.split(':').next().unwrap_or(name)
}

/// The deployment group exists, deploys this ECS service, has two target groups (one of them
/// the service's) and a production listener, and a test listener when `verify` needs one.
pub(super) fn codedeploy(
    config: &ServiceConfig,
    ecs: &Seen<EcsService>,
    group: &Seen<DeploymentGroup>,
) -> Vec<Finding> {
    let target = config.deployment_target();
    let name = format!("{}/{}", target.application, target.group);
    let g = match group {
        Seen::Found(g) => g,
        Seen::Missing(why) => {
            return vec![Finding::fail(
                "codedeploy-group",
                format!("deployment group {name} not found ({why})"),
                format!(
                    "deploy the service stack (it creates application {} and deployment group {}), or name yours in the registry's deployment section",
                    target.application, target.group
                ),
            )];
        }
    };
    vec![
        deploys_service(config, &name, g),
        target_groups(ecs, g),
        prod_listener(g),
        test_listener(config, g),
    ]
}

fn deploys_service(config: &ServiceConfig, name: &str, g: &DeploymentGroup) -> Finding {
    let cluster = config.cluster.rsplit('/').next().unwrap_or(&config.cluster);
    let wanted = format!("{cluster}/{}", config.ecs_service_name());
    let deploys: Vec<String> = g
        .ecs_services
        .iter()
        .map(|(c, s)| format!("{c}/{s}"))
        .collect();
    if deploys.contains(&wanted) {
        return Finding::ok("codedeploy-group", format!("{name} deploys {wanted}"));
    }
    let target = config.deployment_target();
    Finding::fail(
        "codedeploy-group",
        format!(
            "{name} deploys {}, not {wanted}",
            if deploys.is_empty() {
                "no ECS service".to_owned()
            } else {
                deploys.join(", ")
            }
        ),
        format!(
            "aws deploy update-deployment-group --application-name {} --current-deployment-group-name {} --ecs-services clusterName={cluster},serviceName={}, or correct the registry's deployment section",
            target.application,
            target.group,
            config.ecs_service_name()
        ),
    )
}

/// CodeDeploy User Guide: "The use of Elastic Load Balancing load balancers is mandatory in
/// blue/green deployments". TargetGroupPairInfo.targetGroups: "One pair of target groups. One
/// is associated with the original task set. The second is associated with the task set that
/// serves traffic after the deployment is complete."
fn target_groups(ecs: &Seen<EcsService>, g: &DeploymentGroup) -> Finding {
    let pair = g.target_groups.join(" and ");
    if g.target_groups.len() != 2 {
        return Finding::fail(
            "codedeploy-target-groups",
            format!(
                "{} target group(s) ({}): blue/green needs a pair, one for the running task set and one for its replacement",
                g.target_groups.len(),
                if pair.is_empty() { "none" } else { &pair }
            ),
            "give the deployment group both target groups (the service stack's BlueTargetGroupName and GreenTargetGroupName)",
        );
    }
    let Seen::Found(s) = ecs else {
        return Finding::ok("codedeploy-target-groups", pair);
    };
    let attached: Vec<&str> = s
        .target_groups
        .iter()
        .map(|a| target_group_name(a))
        .collect();
    if attached.is_empty() {
        return Finding::fail(
            "codedeploy-target-groups",
            format!(
                "{pair}, but the ECS service has no load balancer: blue/green shifts traffic between target groups"
            ),
            format!(
                "create the ECS service with a load balancer on {}",
                g.target_groups[0]
            ),
        );
    }
    if attached
        .iter()
        .any(|a| g.target_groups.iter().any(|t| t == a))
    {
        return Finding::ok(
            "codedeploy-target-groups",
            format!("{pair}; the service's tasks are in {}", attached.join(", ")),
        );
    }
    Finding::fail(
        "codedeploy-target-groups",
        format!(
            "the ECS service's tasks are in {}, which is neither {pair}: CodeDeploy starts from the target group of the running task set",
            attached.join(", ")
        ),
        "make the service's target group one of the pair (the service stack's BlueTargetGroupName)",
    )
}

/// `arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>` → `<name>`.
fn target_group_name(arn: &str) -> &str {
    arn.split_once("targetgroup/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(arn)
}

fn prod_listener(g: &DeploymentGroup) -> Finding {
    // TargetGroupPairInfo.prodTrafficRoute: "The path used by a load balancer to route
    // production traffic when an Amazon ECS deployment is complete."
    if g.prod_listeners.is_empty() {
        return Finding::fail(
            "codedeploy-listeners",
            "no production listener: CodeDeploy has no production traffic to move to the replacement",
            "give the deployment group its production listener (the service stack's ProdListenerArn)",
        );
    }
    Finding::ok(
        "codedeploy-listeners",
        format!("production listener {}", g.prod_listeners.join(", ")),
    )
}

fn test_listener(config: &ServiceConfig, g: &DeploymentGroup) -> Finding {
    // TargetGroupPairInfo.testTrafficRoute: "An optional path used by a load balancer to route
    // test traffic after an Amazon ECS deployment. Validation can occur while test traffic is
    // served during a deployment."
    if !g.test_listeners.is_empty() {
        return Finding::ok(
            "codedeploy-test-listener",
            format!(
                "test listener {}: the verify hook checks the replacement task set through it",
                g.test_listeners.join(", ")
            ),
        );
    }
    if config.verify.is_none() {
        return Finding::ok(
            "codedeploy-test-listener",
            "no test listener, and none needed: the registry has no verify section",
        );
    }
    Finding::fail(
        "codedeploy-test-listener",
        "no test listener, but the registry has a verify section: its checks would reach the running task set, not the replacement",
        "give the deployment group a test listener (the service stack's TestListenerArn) and point verify's base URL at it",
    )
}
