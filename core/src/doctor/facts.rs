//! What `berth doctor` reads from the account, as plain values: the checks judge these and
//! never call AWS themselves, so every verdict is testable from a table.

use std::collections::BTreeMap;

use crate::images::Repository;

/// Something looked up by name: what was found, or why nothing was (AWS's own words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen<T> {
    Found(T),
    Missing(String),
}

/// Everything the checks look at, read for one registry entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `BERTH_RELEASE_BUCKET`: where manifests arrive and artifacts are written.
    pub release_bucket: String,
    pub ecs: Seen<EcsService>,
    pub deployment_group: Seen<DeploymentGroup>,
    pub pipeline: Seen<Pipeline>,
    /// One per distinct repository of the registry's `containers`.
    pub repositories: Vec<RepositoryFacts>,
    /// One per subnet of the registry's `migration.subnets`.
    pub subnets: Vec<SubnetFacts>,
    pub pass_role: PassRole,
    pub bucket: Seen<Bucket>,
    /// Where `verify` runs when the platform stack puts it in a VPC (`--verify-subnets`, the
    /// stack's `VerifySubnetIds`); `None` when it runs outside any VPC or was not asked.
    pub verify_network: Option<VerifyNetwork>,
    /// The platform's `verify` function (`BERTH_VERIFY_FUNCTION`), which an ECS lifecycle hook
    /// of a service ECS deploys itself names; `None` when not set.
    pub verify_function: Option<String>,
    /// The roles of the service's Lambda lifecycle hooks (services ECS deploys itself).
    pub hook_roles: Vec<HookRole>,
    /// A task target's schedules, rule targets and their roles (empty for a service).
    pub task_target: super::task::TaskTargetFacts,
}

/// The deployment configuration of a service ECS deploys itself (controller `ECS`), as
/// `DescribeServices` shows it; empty for a CODE_DEPLOY service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NativeConfig {
    /// `deploymentConfiguration.strategy` (`None`: ROLLING).
    pub strategy: Option<String>,
    /// `deploymentCircuitBreaker` (enable, rollback).
    pub circuit_breaker: Option<(bool, bool)>,
    /// `alarms`: the alarm names, whether on, whether they roll back.
    pub alarms: Option<(Vec<String>, bool, bool)>,
    pub bake_time_minutes: Option<i32>,
    pub hooks: Vec<HookConfig>,
    /// The service's load balancers, with their blue/green `advancedConfiguration`.
    pub load_balancers: Vec<Balancer>,
    /// Whether the PRIMARY deployment has Service Connect enabled.
    pub service_connect: bool,
    /// The service's ARN (`serviceArn`), which `ecs tag-resource` takes.
    pub service_arn: Option<String>,
    /// The value of the service's `berth:service` tag (DescribeServices with `include=[TAGS]`);
    /// `None` when it has no such tag.
    pub berth_tag: Option<String>,
}

/// One `deploymentConfiguration.lifecycleHooks` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HookConfig {
    /// `AWS_LAMBDA` or `PAUSE`.
    pub target_type: String,
    pub target_arn: Option<String>,
    pub role_arn: Option<String>,
    pub stages: Vec<String>,
    /// `timeoutConfiguration` (minutes, action) of a pause hook.
    pub timeout: Option<(i32, String)>,
}

/// A load balancer of the service and its `advancedConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Balancer {
    pub target_group: Option<String>,
    /// `None` when the balancer has no `advancedConfiguration`.
    pub advanced: Option<Advanced>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Advanced {
    pub alternate_target_group: Option<String>,
    pub production_listener_rule: Option<String>,
    pub test_listener_rule: Option<String>,
    pub role_arn: Option<String>,
}

/// A lifecycle hook's role: whether ECS may assume it and whether it may invoke the hook's
/// function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRole {
    pub role_arn: String,
    /// The function the hook targets.
    pub function_arn: String,
    /// Whether the role's trust policy lets `ecs.amazonaws.com` assume it (IAM GetRole), or
    /// why it could not be read.
    pub trusts_ecs: Seen<bool>,
    /// The IAM policy simulator's decision for `lambda:InvokeFunction` on the function.
    pub invoke: String,
}

/// The network of `verify`'s subnets: how each reaches AWS, and the VPC endpoints there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyNetwork {
    /// The region endpoint names are in (`com.amazonaws.<region>.<service>`).
    pub region: String,
    pub subnets: Vec<RoutedSubnet>,
    /// The `available` VPC endpoints of the subnets' VPCs.
    pub endpoints: Vec<VpcEndpoint>,
}

/// One subnet (`DescribeSubnets`) and its route table (`DescribeRouteTables`: the table
/// associated with it, else its VPC's main table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedSubnet {
    pub id: String,
    /// `None` when no such subnet exists.
    pub vpc_id: Option<String>,
    pub route_table: Option<String>,
    /// The target of the table's `0.0.0.0/0` route (`nat-…`, `igw-…`, …), if any.
    pub default_route: Option<String>,
}

/// A VPC endpoint (`DescribeVpcEndpoints`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcEndpoint {
    pub vpc_id: String,
    pub service_name: String,
    /// `Interface` or `Gateway`.
    pub kind: String,
    pub private_dns: bool,
    /// Route tables a gateway endpoint is in.
    pub route_tables: Vec<String>,
}

/// The ECS service as `DescribeServices` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsService {
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub controller: String,
    /// The task definition of the PRIMARY task set (PRIMARY deployment for `ECS`), if any.
    pub primary_task_definition: Option<String>,
    /// Target group ARNs the running tasks are registered in.
    pub target_groups: Vec<String>,
    pub running: i32,
    pub desired: i32,
    /// How ECS deploys it, when the controller is `ECS`.
    pub native: NativeConfig,
}

/// A CodeDeploy deployment group (`GetDeploymentGroup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentGroup {
    /// `(cluster name, service name)` pairs of `ecsServices`.
    pub ecs_services: Vec<(String, String)>,
    /// Target group names of `loadBalancerInfo.targetGroupPairInfoList`.
    pub target_groups: Vec<String>,
    pub prod_listeners: Vec<String>,
    pub test_listeners: Vec<String>,
}

/// A pipeline's declaration (`GetPipeline`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// `V1` or `V2`.
    pub pipeline_type: Option<String>,
    /// `QUEUED`, `SUPERSEDED` or `PARALLEL`.
    pub execution_mode: Option<String>,
    pub variables: Vec<Variable>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub name: String,
    pub category: String,
    pub provider: String,
    /// 1 when the declaration leaves it out, as CodePipeline does.
    pub run_order: i32,
    pub configuration: BTreeMap<String, String>,
    /// Names of the artifacts the action reads and writes, as declared.
    pub input_artifacts: Vec<String>,
    pub output_artifacts: Vec<String>,
}

/// An ECR repository the registry names, and its tag mutability (`MUTABLE`, `IMMUTABLE`, or
/// either `_WITH_EXCLUSION`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryFacts {
    /// The registry containers that take their images from it.
    pub containers: Vec<String>,
    pub repository: Repository,
    /// Whether the repository is in the account and region berth runs in.
    pub home: bool,
    pub mutability: Seen<String>,
}

/// A migration subnet (`DescribeSubnets`); `None` when no such subnet exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetFacts {
    pub id: String,
    pub subnet: Option<Subnet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub vpc_id: String,
    pub map_public_ip_on_launch: bool,
}

/// Whether berth's migrate role may pass the running task definition's roles to ECS tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassRole {
    /// No task definition runs (the ECS checks say why), so there are no roles to look at.
    Unknown,
    /// No `--migrate-role-arn` was given: the roles that would have been checked.
    NotAsked(Vec<String>),
    /// The IAM policy simulator's decision (`allowed`, `implicitDeny`, `explicitDeny`) for
    /// each role, with `migrate_role` as the principal.
    Simulated {
        migrate_role: String,
        decisions: Vec<(String, String)>,
    },
}

/// The release bucket's versioning and its Lambda notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// `Enabled`, `Suspended`, or `None` when versioning was never set.
    pub versioning: Option<String>,
    pub notifications: Vec<LambdaNotification>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaNotification {
    pub function_arn: String,
    pub events: Vec<String>,
    pub prefix: Option<String>,
    pub suffix: Option<String>,
}
