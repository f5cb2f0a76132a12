//! verify's subnets: a NAT route, or a VPC endpoint for each service verify calls.

use super::{Row, examine_with, keep_entry, keep_facts, run};
use crate::doctor::{Facts, RoutedSubnet, Status, VpcEndpoint};

fn subnet(f: &mut Facts) -> &mut RoutedSubnet {
    match &mut f.verify_network {
        Some(n) => &mut n.subnets[0],
        None => unreachable!("the healthy setup runs verify in a VPC"),
    }
}

fn endpoint(service: &str, kind: &str, private_dns: bool, tables: &[&str]) -> VpcEndpoint {
    VpcEndpoint {
        vpc_id: "vpc-1".into(),
        service_name: format!("com.amazonaws.ap-northeast-1.{service}"),
        kind: kind.into(),
        private_dns,
        route_tables: tables.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// No NAT route; interface endpoints with private DNS for all but S3, and S3's gateway in rtb-1.
fn endpoints_only(f: &mut Facts) {
    subnet(f).default_route = None;
    if let Some(n) = &mut f.verify_network {
        n.endpoints = vec![
            endpoint("codedeploy", "Interface", true, &[]),
            endpoint("codepipeline", "Interface", true, &[]),
            endpoint("ssm", "Interface", true, &[]),
            endpoint("s3", "Gateway", false, &["rtb-1"]),
        ];
    }
}

fn endpoints(f: &mut Facts) -> &mut Vec<VpcEndpoint> {
    match &mut f.verify_network {
        Some(n) => &mut n.endpoints,
        None => unreachable!("the healthy setup runs verify in a VPC"),
    }
}

#[test]
fn verify_in_a_vpc_reaches_every_service_it_calls() {
    run(&[
        Row {
            name: "a NAT gateway route reaches them all",
            entry: keep_entry,
            facts: keep_facts,
            check: "verify-network:subnet-0v1",
            status: Status::Ok,
            detail: "0.0.0.0/0 goes through nat-0a1b",
            fix: "",
        },
        Row {
            name: "an endpoint for each service does too",
            entry: keep_entry,
            facts: endpoints_only,
            check: "verify-network:subnet-0v1",
            status: Status::Ok,
            detail: "VPC endpoints for codedeploy, codepipeline, ssm, s3",
            fix: "",
        },
        Row {
            name: "an internet gateway route does not: Lambda's interface has no public IP",
            entry: keep_entry,
            facts: |f| subnet(f).default_route = Some("igw-9z".into()),
            check: "verify-network:subnet-0v1",
            status: Status::Fail,
            detail: "0.0.0.0/0 goes to igw-9z, which a Lambda function cannot use",
            fix: "add a route 0.0.0.0/0 to a NAT gateway in rtb-1",
        },
        Row {
            name: "no route and no CodeDeploy endpoint",
            entry: keep_entry,
            facts: |f| {
                endpoints_only(f);
                endpoints(f).remove(0);
            },
            check: "verify-network:subnet-0v1",
            status: Status::Fail,
            detail: "no endpoint for com.amazonaws.ap-northeast-1.codedeploy",
            fix: "--vpc-endpoint-type Interface --service-name com.amazonaws.ap-northeast-1.codedeploy --private-dns-enabled",
        },
        Row {
            name: "an interface endpoint without private DNS is not used by the SDK's hostname",
            entry: keep_entry,
            facts: |f| {
                endpoints_only(f);
                endpoints(f)[2].private_dns = false;
            },
            check: "verify-network:subnet-0v1",
            status: Status::Fail,
            detail: "no endpoint for com.amazonaws.ap-northeast-1.ssm",
            fix: "--service-name com.amazonaws.ap-northeast-1.ssm",
        },
        Row {
            name: "an S3 gateway endpoint in another route table",
            entry: keep_entry,
            facts: |f| {
                endpoints_only(f);
                endpoints(f)[3].route_tables = vec!["rtb-other".into()];
            },
            check: "verify-network:subnet-0v1",
            status: Status::Fail,
            detail: "route table rtb-1 has no 0.0.0.0/0 route, and vpc-1 has no endpoint for com.amazonaws.ap-northeast-1.s3",
            fix: "--vpc-endpoint-type Gateway --service-name com.amazonaws.ap-northeast-1.s3 --route-table-ids rtb-1",
        },
        Row {
            name: "a subnet that does not exist",
            entry: keep_entry,
            facts: |f| subnet(f).vpc_id = None,
            check: "verify-network:subnet-0v1",
            status: Status::Fail,
            detail: "no such subnet",
            fix: "VerifySubnetIds",
        },
    ]);
}

#[test]
fn verify_outside_a_vpc_is_not_checked() {
    let findings = examine_with(keep_entry, |f| f.verify_network = None);
    assert!(
        findings
            .iter()
            .all(|f| !f.check.starts_with("verify-network"))
    );
}
