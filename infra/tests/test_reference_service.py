"""reference-service.yaml (CloudFormation) and modules/reference-service (Terraform): everything a
berth service stack expects to exist, created from a VPC and subnets. Deployed into moto, its
outputs are fed to service.yaml as they are."""

from __future__ import annotations

import re

import pytest
from conftest import (
    ACCOUNT,
    CFN,
    REGION,
    SERVICE_TEMPLATE,
    TF,
    create_stack,
    failed_rules,
    load_template,
    load_tf_dir,
    policy_statements_tf,
    resource_types,
    tf_blocks,
)
from hcl_eval import evaluate

REFERENCE_TEMPLATE = CFN / "reference-service.yaml"
TEMPLATE = load_template(REFERENCE_TEMPLATE)
SERVICE = load_template(SERVICE_TEMPLATE)
MODULE = TF / "modules" / "reference-service"
SERVICE_MODULE = TF / "modules" / "service"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web/app:v1.0.0"

# Resource types moto 5.2.5 cannot create through CloudFormation (it warns and leaves them out).
MOTO_CANNOT_CREATE = {"AWS::EC2::SecurityGroupEgress"}
# Outputs that are not parameters of the service stack, and what they are for.
NOT_SERVICE_INPUTS = {"ClusterArn": "platform ClusterArns", "LogGroupName": "humans",
                      "VerifySecurityGroupId": "platform VerifySecurityGroupIds"}


def _network(session):
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for i, az in enumerate("acd")
    ]
    return vpc, subnets


def deploy_reference(session, **overrides):
    vpc, subnets = _network(session)
    parameters = {
        "VpcId": vpc,
        "LoadBalancerSubnetIds": ",".join(subnets[:2]),
        "ServiceSubnetIds": ",".join(subnets[1:]),
        "Image": IMAGE,
        **overrides,
    }
    stack, skipped = create_stack(session.client("cloudformation"), "web-reference", REFERENCE_TEMPLATE, parameters)
    return stack, skipped, subnets


@pytest.fixture
def reference(aws):
    stack, skipped, subnets = deploy_reference(aws)
    return aws, stack, skipped, subnets


def outputs(stack) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_reference_service_is_created_with_a_code_deploy_controlled_service(reference):
    session, stack, skipped, subnets = reference
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert set(skipped) == MOTO_CANNOT_CREATE, "moto skipped a different set of resource types than documented"

    out = outputs(stack)
    ecs = session.client("ecs")
    (service,) = ecs.describe_services(cluster=out["ClusterName"], services=[out["EcsServiceName"]])["services"]
    # moto accepts DeploymentController and LaunchType without applying them (it reports ECS and
    # EC2): checked in the template.
    assert TEMPLATE["Resources"]["Service"]["Properties"]["LaunchType"] == "FARGATE"
    assert service["serviceName"] == "web"
    props = TEMPLATE["Resources"]["Service"]["Properties"]
    (lb,) = props["LoadBalancers"]  # moto does not report it either
    assert lb == {
        "ContainerName": {"Ref": "ContainerName"},
        "ContainerPort": {"Ref": "ContainerPort"},
        "TargetGroupArn": {"Ref": "BlueTargetGroup"},
    }
    assert props["DeploymentController"] == {"Type": "CODE_DEPLOY"}

    taskdef = ecs.describe_task_definition(taskDefinition=out["TaskFamily"])["taskDefinition"]
    (container,) = taskdef["containerDefinitions"]
    assert container["image"] == IMAGE
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-group"] == out["LogGroupName"] == "/ecs/web"
    # moto does not keep the roles of a CloudFormation task definition: checked in the template.
    taskdef_props = TEMPLATE["Resources"]["TaskDefinition"]["Properties"]
    assert taskdef_props["ExecutionRoleArn"] == {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}
    assert taskdef_props["TaskRoleArn"] == {"Fn::GetAtt": ["TaskRole", "Arn"]}
    assert (taskdef_props["NetworkMode"], taskdef_props["RequiresCompatibilities"]) == ("awsvpc", ["FARGATE"])

    elb = session.client("elbv2")
    groups = elb.describe_target_groups(Names=["web-blue", "web-green"])["TargetGroups"]
    for group in groups:
        assert (group["TargetType"], group["Protocol"], group["Port"]) == ("ip", "HTTP", 80)
        assert group["HealthCheckPath"] == "/"
    listeners = elb.describe_listeners(LoadBalancerArn=out["LoadBalancerArn"])["Listeners"]
    assert sorted(listener["Port"] for listener in listeners) == [80, 8080]
    assert {listener["ListenerArn"] for listener in listeners} == {out["ProdListenerArn"], out["TestListenerArn"]}
    assert out["VerifyBaseUrl"].startswith("http://") and out["VerifyBaseUrl"].endswith(":8080")
    assert out["MigrationSubnets"] == ",".join(subnets[1:])


def test_an_existing_cluster_is_used_instead_of_a_new_one(aws):
    aws.client("ecs").create_cluster(clusterName="prod")
    stack, _, _ = deploy_reference(aws, ClusterName="prod")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    out = outputs(stack)
    assert out["ClusterName"] == "prod"
    assert out["ClusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
    assert [c for c in aws.client("ecs").list_clusters()["clusterArns"]] == [out["ClusterArn"]]


def test_reference_outputs_satisfy_the_service_stack_inputs(reference, code_uploaded):
    """Every output named after a service stack parameter passes that parameter's constraints, and
    the service stack deploys with them as they are."""
    session, stack, _, _ = reference
    out = outputs(stack)
    from conftest import PLATFORM_PARAMETERS, PLATFORM_TEMPLATE

    cloudformation = session.client("cloudformation")
    platform, _ = create_stack(
        cloudformation,
        "berth-platform",
        PLATFORM_TEMPLATE,
        {**PLATFORM_PARAMETERS, "ClusterArns": out["ClusterArn"], "PassableRoleArns": f"{out['TaskExecutionRoleArn']},{out['TaskRoleArn']}"},
    )
    assert platform["StackStatus"] == "CREATE_COMPLETE"

    shared = {k: v for k, v in out.items() if k in SERVICE["Parameters"]}
    assert set(out) - set(shared) == set(NOT_SERVICE_INPUTS)
    assert set(shared) >= {
        "ClusterName",
        "EcsServiceName",
        "TaskFamily",
        "AppSpecContainer",
        "AppSpecPort",
        "TaskExecutionRoleArn",
        "TaskRoleArn",
        "ProdListenerArn",
        "TestListenerArn",
        "BlueTargetGroupName",
        "GreenTargetGroupName",
        "BlueTargetGroupArn",
        "GreenTargetGroupArn",
        "LoadBalancerArn",
        "VerifyBaseUrl",
        "MigrationSubnets",
        "MigrationSecurityGroups",
    }
    for name, value in shared.items():
        spec = SERVICE["Parameters"][name]
        if "AllowedPattern" in spec:
            items = value.split(",") if spec["Type"] == "CommaDelimitedList" else [value]
            for item in items:
                assert re.fullmatch(spec["AllowedPattern"], item), (name, item)
    parameters = {
        **shared,
        "ServiceName": "web",
        "Containers": "app=web/app",
        "PushTriggerContainer": "app",
        "MigrationContainer": "app",
        "MigrationCommand": "bin/migrate",
    }
    assert failed_rules(SERVICE, parameters) == []
    service, _ = create_stack(cloudformation, "berth-web", SERVICE_TEMPLATE, parameters)
    assert service["StackStatus"] == "CREATE_COMPLETE", service.get("StackStatusReason")


def test_task_roles_are_least_privilege():
    execution = TEMPLATE["Resources"]["TaskExecutionRole"]["Properties"]
    (policy,) = execution["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    assert set(statements) == {"GetRegistryToken", "PullImages", "WriteContainerLogs"}
    assert statements["WriteContainerLogs"]["Resource"] == {"Fn::GetAtt": ["LogGroup", "Arn"]}
    assert "Policies" not in TEMPLATE["Resources"]["TaskRole"]["Properties"]  # nothing until the app needs it
    for role in ("TaskExecutionRole", "TaskRole"):
        (trust,) = TEMPLATE["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_target_group_names_fit_elastic_load_balancing():
    """ELB: a name "can have a maximum of 32 characters, must contain only alphanumeric characters
    or hyphens, and must not begin or end with a hyphen"."""
    pattern = TEMPLATE["Parameters"]["ServiceName"]["AllowedPattern"]
    longest = "a" * 26
    assert re.fullmatch(pattern, longest) and not re.fullmatch(pattern, "a" * 27)
    for name in (f"{longest}-green", f"{longest}-blue", f"{longest}-lb"):
        assert len(name) <= 32 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]", name)
    assert not re.fullmatch(pattern, "-web") and not re.fullmatch(pattern, "web-")


# ------------------------------------------------------------------ Terraform


def test_terraform_module_matches_the_cloudformation_template():
    files = load_tf_dir(MODULE)
    resources = tf_blocks(files, "resource")
    service = resources["aws_ecs_service.service"]
    (controller,) = service["deployment_controller"]
    assert controller == {"type": "CODE_DEPLOY"}
    (lifecycle,) = service["lifecycle"]
    # CodeDeploy changes these at every deployment; Terraform must not undo them.
    assert lifecycle["ignore_changes"] == ["${task_definition}", "${load_balancer}", "${desired_count}"] or lifecycle[
        "ignore_changes"
    ] == ["task_definition", "load_balancer", "desired_count"]
    assert {r.split(".")[0] for r in resources} >= {
        "aws_ecs_cluster",
        "aws_lb",
        "aws_lb_target_group",
        "aws_lb_listener",
        "aws_ecs_task_definition",
        "aws_ecs_service",
        "aws_iam_role",
        "aws_cloudwatch_log_group",
        "aws_security_group",
    }
    tf_outputs = set(tf_blocks(files, "output"))
    cfn_outputs = {re.sub(r"(?<!^)(?=[A-Z])", "_", k.replace("AppSpec", "Appspec")).lower() for k in TEMPLATE["Outputs"]}
    assert tf_outputs == cfn_outputs


def test_terraform_outputs_satisfy_the_service_module_inputs():
    outputs_ = set(tf_blocks(load_tf_dir(MODULE), "output"))
    variables = tf_blocks(load_tf_dir(SERVICE_MODULE), "variable")
    for name in ("cluster_name", "ecs_service_name", "task_family", "appspec_container", "appspec_port",
                 "task_execution_role_arn", "task_role_arn", "prod_listener_arn", "test_listener_arn",
                 "blue_target_group_name", "green_target_group_name"):
        assert name in outputs_ and name in variables, name
    # The others feed the service module's objects: target_group_alarms, verify, migration.
    assert {"load_balancer_arn", "blue_target_group_arn", "green_target_group_arn", "verify_base_url",
            "migration_subnets", "migration_security_groups"} <= outputs_


def test_terraform_and_cloudformation_task_execution_policies_match():
    cfn = TEMPLATE["Resources"]["TaskExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    tf = policy_statements_tf(tf_blocks(load_tf_dir(MODULE), "data")["aws_iam_policy_document.task_execution"])
    as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    assert {s["Sid"]: sorted(as_list(s["Action"])) for s in cfn} == {s["sid"]: sorted(s["actions"]) for s in tf}
    names = evaluate(
        tf_blocks(load_tf_dir(MODULE), "variable")["service_name"]["validation"][0]["condition"], {"var": {"service_name": "a" * 27}}
    )
    assert names is False
