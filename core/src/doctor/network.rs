//! Whether `verify` can reach the AWS APIs it calls when it runs in a VPC.
//!
//! verify calls CodeDeploy (`GetDeployment`, `PutLifecycleEventHookExecutionStatus`), SSM (the
//! registry), CodePipeline (`GetPipelineState`) and S3 (the release record). In a VPC a Lambda
//! function reaches them through a NAT gateway or through VPC endpoints: "Lambda functions in a
//! VPC cannot receive public IP addresses, so outbound internet access requires NAT Gateway
//! infrastructure" (aws/agent-toolkit-for-aws, "Enabling Lambda VPC internet access"), so a
//! route to an internet gateway does not do. CodeDeploy: "To connect your VPC to CodeDeploy, you
//! define an interface VPC endpoint for CodeDeploy." S3 also has a gateway endpoint, which works
//! only from the route tables it is added to.

use super::{Finding, RoutedSubnet, VerifyNetwork, VpcEndpoint};

/// The services verify calls, by the last part of their endpoint service name.
pub const VERIFY_SERVICES: [&str; 4] = ["codedeploy", "codepipeline", "ssm", "s3"];

/// One finding per verify subnet; none when verify runs outside a VPC.
pub(super) fn verify(network: Option<&VerifyNetwork>) -> Vec<Finding> {
    let Some(net) = network else {
        return Vec::new();
    };
    net.subnets.iter().map(|s| subnet(net, s)).collect()
}

fn subnet(net: &VerifyNetwork, s: &RoutedSubnet) -> Finding {
    let check = format!("verify-network:{}", s.id);
    let Some(vpc) = &s.vpc_id else {
        return Finding::fail(
            check,
            "no such subnet: verify's network interface cannot be placed in it",
            "correct the platform stack's VerifySubnetIds (verify_subnet_ids)",
        );
    };
    let route = s.default_route.as_deref();
    if route.is_some_and(|r| r.starts_with("nat-")) {
        return Finding::ok(
            check,
            format!("0.0.0.0/0 goes through {}", route.unwrap_or("")),
        );
    }
    let missing: Vec<String> = VERIFY_SERVICES
        .iter()
        .filter(|svc| !reachable(net, vpc, s.route_table.as_deref(), svc))
        .map(|svc| format!("com.amazonaws.{}.{svc}", net.region))
        .collect();
    if missing.is_empty() {
        return Finding::ok(
            check,
            format!("VPC endpoints for {}", VERIFY_SERVICES.join(", ")),
        );
    }
    let table = s.route_table.as_deref().unwrap_or("(none)");
    let why = match route {
        Some(r) if r.starts_with("igw-") => format!(
            "0.0.0.0/0 goes to {r}, which a Lambda function cannot use (its network interface has no public IP)"
        ),
        Some(r) => format!("0.0.0.0/0 goes to {r}, not a NAT gateway"),
        None => format!("route table {table} has no 0.0.0.0/0 route"),
    };
    Finding::fail(
        check,
        format!(
            "{why}, and {vpc} has no endpoint for {}: verify cannot reach them and every deployment fails after CodeDeploy's hour",
            missing.join(", ")
        ),
        fix(vpc, table, &s.id, &missing),
    )
}

fn fix(vpc: &str, table: &str, subnet: &str, missing: &[String]) -> String {
    let endpoints: Vec<String> = missing
        .iter()
        .map(|name| {
            if name.ends_with(".s3") {
                format!("aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Gateway --service-name {name} --route-table-ids {table}")
            } else {
                format!("aws ec2 create-vpc-endpoint --vpc-id {vpc} --vpc-endpoint-type Interface --service-name {name} --private-dns-enabled --subnet-ids {subnet} --security-group-ids <one verify may reach on 443>")
            }
        })
        .collect();
    format!(
        "add a route 0.0.0.0/0 to a NAT gateway in {table}, or create the endpoints: {}",
        endpoints.join("; ")
    )
}

/// Whether `service` has an endpoint verify's subnet can use: an interface endpoint with private
/// DNS (the SDK's default hostname then resolves to it) anywhere in the VPC, or, for S3, a
/// gateway endpoint in the subnet's route table.
fn reachable(net: &VerifyNetwork, vpc: &str, table: Option<&str>, service: &str) -> bool {
    let name = format!("com.amazonaws.{}.{service}", net.region);
    net.endpoints
        .iter()
        .filter(|e: &&VpcEndpoint| e.vpc_id == vpc && e.service_name == name)
        .any(|e| match e.kind.as_str() {
            "Interface" => e.private_dns,
            "Gateway" => table.is_some_and(|t| e.route_tables.iter().any(|r| r == t)),
            _ => false,
        })
}
