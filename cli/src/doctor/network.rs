//! Facts of `verify`'s network when the platform stack runs it in a VPC (`--verify-subnets`):
//! each subnet's route table and its `0.0.0.0/0` route, and the VPC endpoints of its VPC. The
//! CLI has no Lambda client, so the subnets are the stack's `VerifySubnetIds`, given by the
//! operator, not read from the function's `VpcConfig`.

use aws_sdk_ec2::types::{Filter, RouteTable};
use berth::doctor::{RoutedSubnet, VerifyNetwork, VpcEndpoint};

use crate::exit::Failure;

fn filter(name: &str, values: Vec<String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values))
        .build()
}

/// `None` when verify runs outside any VPC (no subnets given). One page of each answer: a
/// handful of subnets, their VPC's route tables and endpoints.
pub async fn verify_network(
    ec2: &aws_sdk_ec2::Client,
    region: &str,
    subnets: &[String],
) -> Result<Option<VerifyNetwork>, Failure> {
    if subnets.is_empty() {
        return Ok(None);
    }
    let found = ec2
        .describe_subnets()
        .filters(filter("subnet-id", subnets.to_vec()))
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "ec2:DescribeSubnets {}",
            subnets.join(",")
        )))?;
    let vpc_of = |id: &str| {
        found
            .subnets()
            .iter()
            .find(|s| s.subnet_id() == Some(id))
            .and_then(|s| s.vpc_id())
            .map(str::to_owned)
    };
    let mut vpcs: Vec<String> = subnets.iter().filter_map(|s| vpc_of(s)).collect();
    vpcs.sort();
    vpcs.dedup();
    if vpcs.is_empty() {
        let subnets = subnets.iter().map(|id| routed(id, None, &[])).collect();
        return Ok(Some(VerifyNetwork {
            region: region.to_owned(),
            subnets,
            endpoints: Vec::new(),
        }));
    }
    let tables = ec2
        .describe_route_tables()
        .filters(filter("vpc-id", vpcs.clone()))
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "ec2:DescribeRouteTables {}",
            vpcs.join(",")
        )))?;
    let endpoints = endpoints(ec2, &vpcs).await?;
    Ok(Some(VerifyNetwork {
        region: region.to_owned(),
        subnets: subnets
            .iter()
            .map(|id| routed(id, vpc_of(id), tables.route_tables()))
            .collect(),
        endpoints,
    }))
}

/// The subnet's route table: "A subnet can only be associated with one route table at a time"
/// and "If you don't explicitly associate a subnet with a particular route table, the subnet is
/// implicitly associated with the main route table" (Amazon VPC User Guide, route tables).
fn routed(id: &str, vpc: Option<String>, tables: &[RouteTable]) -> RoutedSubnet {
    let in_vpc = |t: &&RouteTable| vpc.is_some() && t.vpc_id() == vpc.as_deref();
    let explicit = tables
        .iter()
        .filter(in_vpc)
        .find(|t| t.associations().iter().any(|a| a.subnet_id() == Some(id)));
    let main = || {
        tables
            .iter()
            .filter(in_vpc)
            .find(|t| t.associations().iter().any(|a| a.main() == Some(true)))
    };
    let table = explicit.or_else(main);
    RoutedSubnet {
        id: id.to_owned(),
        vpc_id: vpc.clone(),
        route_table: table.and_then(|t| t.route_table_id()).map(str::to_owned),
        default_route: table.and_then(default_route),
    }
}

/// The target of the table's `0.0.0.0/0` route.
fn default_route(table: &RouteTable) -> Option<String> {
    let route = table
        .routes()
        .iter()
        .find(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))?;
    route
        .nat_gateway_id()
        .or(route.gateway_id())
        .or(route.transit_gateway_id())
        .or(route.network_interface_id())
        .or(route.instance_id())
        .map(str::to_owned)
}

async fn endpoints(
    ec2: &aws_sdk_ec2::Client,
    vpcs: &[String],
) -> Result<Vec<VpcEndpoint>, Failure> {
    let out = ec2
        .describe_vpc_endpoints()
        .filters(filter("vpc-id", vpcs.to_vec()))
        .filters(filter("vpc-endpoint-state", vec!["available".into()]))
        .send()
        .await
        .map_err(berth::Error::sdk(format!(
            "ec2:DescribeVpcEndpoints {}",
            vpcs.join(",")
        )))?;
    Ok(out
        .vpc_endpoints()
        .iter()
        .map(|e| VpcEndpoint {
            vpc_id: e.vpc_id().unwrap_or_default().to_owned(),
            service_name: e.service_name().unwrap_or_default().to_owned(),
            kind: e
                .vpc_endpoint_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            private_dns: e.private_dns_enabled().unwrap_or(false),
            route_tables: e.route_table_ids().to_vec(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{Route, RouteTableAssociation};

    use super::*;

    fn table(id: &str, main: bool, subnet: Option<&str>, target: &str) -> RouteTable {
        let association = RouteTableAssociation::builder()
            .main(main)
            .set_subnet_id(subnet.map(str::to_owned))
            .build();
        let route = Route::builder().destination_cidr_block("0.0.0.0/0");
        let route = if target.starts_with("nat-") {
            route.nat_gateway_id(target)
        } else {
            route.gateway_id(target)
        };
        RouteTable::builder()
            .route_table_id(id)
            .vpc_id("vpc-1")
            .associations(association)
            .routes(route.build())
            .build()
    }

    #[test]
    fn a_subnet_uses_its_own_table_else_the_main_one() {
        let tables = [
            table("rtb-main", true, None, "igw-1"),
            table("rtb-private", false, Some("subnet-a"), "nat-1"),
        ];
        let a = routed("subnet-a", Some("vpc-1".into()), &tables);
        assert_eq!(
            (a.route_table.as_deref(), a.default_route.as_deref()),
            (Some("rtb-private"), Some("nat-1"))
        );
        let b = routed("subnet-b", Some("vpc-1".into()), &tables);
        assert_eq!(
            (b.route_table.as_deref(), b.default_route.as_deref()),
            (Some("rtb-main"), Some("igw-1"))
        );
        let gone = routed("subnet-x", None, &tables);
        assert_eq!((gone.vpc_id, gone.route_table), (None, None));
    }
}
