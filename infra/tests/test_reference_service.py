"""reference-service.yaml (CloudFormation) and modules/reference-service (Terraform): everything a
berth service stack expects to exist, created from a VPC and subnets. Deployed into moto, its
outputs are fed to service.yaml as they are."""

from __future__ import annotations

import json
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
def reference(platform_stack):
    """The default (BLUE_GREEN) reference service, on a platform whose exports its lifecycle hook reads."""
    aws, _, _ = platform_stack
    stack, skipped, subnets = deploy_reference(aws)
    return aws, stack, skipped, subnets


def outputs(stack) -> dict:
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_reference_service_is_created_with_an_ecs_native_blue_green_service(reference):
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
    assert {k: v for k, v in lb.items() if k != "AdvancedConfiguration"} == {
        "ContainerName": {"Ref": "ContainerName"},
        "ContainerPort": {"Ref": "ContainerPort"},
        "TargetGroupArn": {"Ref": "BlueTargetGroup"},
    }
    assert props["DeploymentController"] == {"Type": {"Fn::If": ["IsCodeDeploy", "CODE_DEPLOY", "ECS"]}}
    assert TEMPLATE["Parameters"]["DeploymentStrategy"]["Default"] == "BLUE_GREEN"
    assert out["DeploymentController"] == "ECS"

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
    stack, _, _ = deploy_reference(aws, ClusterName="prod", DeploymentStrategy="ROLLING")
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    out = outputs(stack)
    assert out["ClusterName"] == "prod"
    assert out["ClusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"
    assert [c for c in aws.client("ecs").list_clusters()["clusterArns"]] == [out["ClusterArn"]]


def test_reference_outputs_satisfy_the_service_stack_inputs(reference):
    """Every output named after a service stack parameter passes that parameter's constraints, and
    the service stack deploys with them as they are."""
    session, stack, _, _ = reference
    out = outputs(stack)
    cloudformation = session.client("cloudformation")

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
        "DeploymentController",
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
    (lifecycle,) = service["lifecycle"]
    # CodeDeploy changes these at every deployment; Terraform must not undo them.
    assert lifecycle["ignore_changes"] == ["${task_definition}", "${load_balancer}", "${desired_count}"] or lifecycle[
        "ignore_changes"
    ] == ["task_definition", "load_balancer", "desired_count"]
    for strategy, controller_type in (("BLUE_GREEN", "ECS"), ("ROLLING", "ECS"), ("CODE_DEPLOY", "CODE_DEPLOY")):
        assert evaluate(controller["type"], {"var": {"deployment_strategy": strategy}}) == controller_type
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



# ------------------------------------------------------------------ deployment strategies


def _resolved(strategy: str, hold: bool = False):
    """The Service's properties with the strategy's conditions resolved (AWS::NoValue dropped)."""
    taken = {"IsBlueGreen": strategy == "BLUE_GREEN", "IsRolling": strategy == "ROLLING",
             "IsCodeDeploy": strategy == "CODE_DEPLOY", "HasHold": strategy == "BLUE_GREEN" and hold}

    def walk(node):
        if isinstance(node, dict):
            if "Fn::If" in node and node["Fn::If"][0] in taken:
                return walk(node["Fn::If"][1] if taken[node["Fn::If"][0]] else node["Fn::If"][2])
            items = {k: walk(v) for k, v in node.items()}
            return {k: v for k, v in items.items() if v != {"Ref": "AWS::NoValue"}}
        if isinstance(node, list):
            return [v for v in map(walk, node) if v != {"Ref": "AWS::NoValue"}]
        return node

    resources = {n: r for n, r in TEMPLATE["Resources"].items() if r.get("Condition") not in taken or taken[r["Condition"]]}
    return walk(resources["Service"]["Properties"]), set(resources)


def test_blue_green_is_ecs_native_with_bake_time_verify_as_hook_and_ecs_shifting_traffic():
    props, resources = _resolved("BLUE_GREEN")
    assert props["DeploymentController"] == {"Type": "ECS"}
    config = props["DeploymentConfiguration"]
    assert (config["Strategy"], config["BakeTimeInMinutes"]) == ("BLUE_GREEN", {"Ref": "BakeTimeInMinutes"})
    # verify checks green through the test listener once it carries all test traffic.
    assert config["LifecycleHooks"] == [{
        "TargetType": "AWS_LAMBDA",
        "HookTargetArn": {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-VerifyFunctionArn"}},
        "RoleArn": {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-EcsHookRoleArn"}},
        "LifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"],
    }]
    (lb,) = props["LoadBalancers"]
    assert lb["AdvancedConfiguration"] == {
        "AlternateTargetGroupArn": {"Ref": "GreenTargetGroup"},
        "ProductionListenerRule": {"Ref": "ProdListenerRule"},
        "TestListenerRule": {"Ref": "TestListenerRule"},
        "RoleArn": {"Fn::GetAtt": ["EcsInfrastructureRole", "Arn"]},
    }
    role = TEMPLATE["Resources"]["EcsInfrastructureRole"]["Properties"]
    assert role["ManagedPolicyArns"] == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"}]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ecs.amazonaws.com"}
    for rule, listener in (("ProdListenerRule", "ProdListener"), ("TestListenerRule", "TestListener")):
        r = TEMPLATE["Resources"][rule]["Properties"]
        assert r["ListenerArn"] == {"Ref": listener}
        (action,) = r["Actions"]
        assert [(t["TargetGroupArn"]["Ref"], t["Weight"]) for t in action["ForwardConfig"]["TargetGroups"]] == [
            ("BlueTargetGroup", 100), ("GreenTargetGroup", 0)
        ]
    assert {"EcsInfrastructureRole", "ProdListenerRule", "TestListenerRule"} <= resources
    assert "DeploymentCircuitBreaker" not in config


def test_hold_for_promote_pauses_before_production_traffic_and_rolls_back_at_its_timeout():
    props, _ = _resolved("BLUE_GREEN", hold=True)
    verify, pause = props["DeploymentConfiguration"]["LifecycleHooks"]
    assert verify["LifecycleStages"] == ["POST_TEST_TRAFFIC_SHIFT"]
    # AWS::ECS::Service DeploymentLifecycleHook: "PAUSE hooks cannot be configured at
    # TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages".
    assert pause == {
        "TargetType": "PAUSE",
        "LifecycleStages": ["PRE_PRODUCTION_TRAFFIC_SHIFT"],
        "TimeoutConfiguration": {"Action": "ROLLBACK", "TimeoutInMinutes": {"Ref": "HoldTimeoutMinutes"}},
    }
    timeout = TEMPLATE["Parameters"]["HoldTimeoutMinutes"]
    assert (timeout["MinValue"], timeout["MaxValue"]) == (1, 1380)  # under CodePipeline's 24 hours
    assert TEMPLATE["Parameters"]["HoldForPromote"]["Default"] == "false"


def test_rolling_has_the_circuit_breaker_with_rollback_and_no_hooks():
    props, resources = _resolved("ROLLING")
    assert props["DeploymentController"] == {"Type": "ECS"}
    config = props["DeploymentConfiguration"]
    assert config["Strategy"] == "ROLLING"
    assert config["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}
    assert "LifecycleHooks" not in config
    (lb,) = props["LoadBalancers"]
    assert "AdvancedConfiguration" not in lb
    assert not {"EcsInfrastructureRole", "ProdListenerRule", "TestListenerRule"} & resources


def test_code_deploy_keeps_the_code_deploy_controlled_service():
    props, resources = _resolved("CODE_DEPLOY")
    assert props["DeploymentController"] == {"Type": "CODE_DEPLOY"}
    assert "DeploymentConfiguration" not in props
    (lb,) = props["LoadBalancers"]
    assert lb == {"ContainerName": {"Ref": "ContainerName"}, "ContainerPort": {"Ref": "ContainerPort"}, "TargetGroupArn": {"Ref": "BlueTargetGroup"}}
    assert not {"EcsInfrastructureRole", "ProdListenerRule", "TestListenerRule"} & resources


@pytest.mark.parametrize("strategy, controller", [("ROLLING", "ECS"), ("CODE_DEPLOY", "CODE_DEPLOY")])
def test_other_strategies_deploy_without_a_platform(aws, strategy, controller):
    stack, _, _ = deploy_reference(aws, DeploymentStrategy=strategy)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert outputs(stack)["DeploymentController"] == controller


def _tf_service(strategy: str, hold: bool = False) -> dict:
    """The Terraform ECS service's dynamic blocks that a strategy renders."""
    service = tf_blocks(load_tf_dir(MODULE), "resource")["aws_ecs_service.service"]
    env = {"var": {"deployment_strategy": strategy, "hold_for_promote": hold},
           "local": {"blue_green": strategy == "BLUE_GREEN", "rolling": strategy == "ROLLING"}}
    out: dict = {}
    for block in service.get("dynamic", []):
        ((name, body),) = block.items()
        if evaluate(body["for_each"], env):
            out.setdefault(name, []).append(body["content"][0])
    (lb,) = service["load_balancer"]
    for block in lb.get("dynamic", []):
        ((name, body),) = block.items()
        if evaluate(body["for_each"], env):
            out.setdefault(name, []).append(body["content"][0])
    if "deployment_configuration" in out:
        (config,) = out["deployment_configuration"]
        hooks = list(config.get("lifecycle_hook", []))
        for block in config.get("dynamic", []):
            if evaluate(block["lifecycle_hook"]["for_each"], env):
                hooks += block["lifecycle_hook"]["content"]
        out["hooks"] = hooks
    return out


def test_terraform_strategies_match_the_cloudformation_ones():
    bg = _tf_service("BLUE_GREEN")
    (config,) = bg["deployment_configuration"]
    assert (config["strategy"], config["bake_time_in_minutes"]) == ("BLUE_GREEN", "${var.bake_time_in_minutes}")
    assert bg["hooks"] == [{"hook_target_arn": "${var.verify_function_arn}", "role_arn": "${var.ecs_hook_role_arn}",
                            "lifecycle_stages": ["POST_TEST_TRAFFIC_SHIFT"]}]
    (advanced,) = bg["advanced_configuration"]
    assert advanced == {
        "alternate_target_group_arn": '${aws_lb_target_group.service["green"].arn}',
        "production_listener_rule": '${aws_lb_listener_rule.service["production"].arn}',
        "test_listener_rule": '${aws_lb_listener_rule.service["test"].arn}',
        "role_arn": "${aws_iam_role.ecs_infrastructure[0].arn}",
    }
    assert "deployment_circuit_breaker" not in bg
    (pause,) = _tf_service("BLUE_GREEN", hold=True)["hooks"][1:]
    assert (pause["target_type"], pause["lifecycle_stages"]) == ("PAUSE", ["PRE_PRODUCTION_TRAFFIC_SHIFT"])
    assert pause["timeout_configuration"] == [{"action": "ROLLBACK", "timeout_in_minutes": "${var.hold_timeout_minutes}"}]
    rolling = _tf_service("ROLLING")
    assert rolling["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    assert rolling["deployment_configuration"] == [{"strategy": "ROLLING"}]
    assert "advanced_configuration" not in rolling and not rolling["hooks"]
    assert _tf_service("CODE_DEPLOY") == {}
    attachment = tf_blocks(load_tf_dir(MODULE), "resource")["aws_iam_role_policy_attachment.ecs_infrastructure"]
    assert attachment["policy_arn"] == "arn:${local.partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
    variables = tf_blocks(load_tf_dir(MODULE), "variable")
    assert variables["deployment_strategy"]["default"] == "BLUE_GREEN"
    (validation,) = variables["hold_timeout_minutes"]["validation"]
    assert [evaluate(validation["condition"], {"var": {"hold_timeout_minutes": m}}) for m in (1, 1380, 1381)] == [True, True, False]
    # The provider release that knows lifecycle_hook target_type (6.66.0, #48128).
    (versions,) = load_tf_dir(MODULE)["versions.tf"]["terraform"]
    assert versions["required_providers"][0]["aws"]["version"] == ">= 6.66, < 7.0"


# ------------------------------------------------------------------ a real database


def test_the_tasks_and_the_migration_reach_the_database_security_group(platform_stack):
    """MigrationSecurityGroups is the tasks' security group: with only HTTPS out, every migration
    would time out connecting to its database. Given the database's security group, the stack opens
    DatabasePort both ways."""
    aws, _, _ = platform_stack
    ec2 = aws.client("ec2")
    vpc, subnets = _network(aws)
    database = ec2.create_security_group(GroupName="db", Description="database", VpcId=vpc)["GroupId"]
    parameters = {"VpcId": vpc, "LoadBalancerSubnetIds": ",".join(subnets[:2]), "ServiceSubnetIds": ",".join(subnets[1:]),
                  "Image": IMAGE, "DatabaseSecurityGroupId": database}
    stack, skipped = create_stack(aws.client("cloudformation"), "web-reference", REFERENCE_TEMPLATE, parameters)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    tasks = outputs(stack)["MigrationSecurityGroups"]
    (group,) = ec2.describe_security_groups(GroupIds=[database])["SecurityGroups"]
    assert [(p["FromPort"], p["ToPort"], [g["GroupId"] for g in p["UserIdGroupPairs"]]) for p in group["IpPermissions"]] == [
        (5432, 5432, [tasks])
    ]
    # moto cannot create AWS::EC2::SecurityGroupEgress: the tasks' side is checked in the template.
    egress = TEMPLATE["Resources"]["ServiceToDatabase"]
    assert egress["Condition"] == "HasDatabaseSecurityGroup"
    assert egress["Properties"]["GroupId"] == {"Fn::GetAtt": ["ServiceSecurityGroup", "GroupId"]}
    assert egress["Properties"]["DestinationSecurityGroupId"] == {"Ref": "DatabaseSecurityGroupId"}
    assert egress["Properties"]["FromPort"] == egress["Properties"]["ToPort"] == {"Ref": "DatabasePort"}
    assert TEMPLATE["Outputs"]["MigrationSecurityGroups"]["Value"] == {"Fn::GetAtt": ["ServiceSecurityGroup", "GroupId"]}
    cidr = TEMPLATE["Resources"]["ServiceToDatabaseCidr"]
    assert (cidr["Condition"], cidr["Properties"]["CidrIp"]) == ("HasDatabaseCidr", {"Ref": "DatabaseCidr"})
    assert TEMPLATE["Parameters"]["DatabasePort"]["Default"] == 5432


def test_without_a_database_the_tasks_only_reach_https(reference):
    session, stack, _, _ = reference
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    for name in ("ServiceToDatabase", "DatabaseFromService"):
        assert TEMPLATE["Resources"][name]["Condition"] == "HasDatabaseSecurityGroup"
    for parameter, good, bad in (("DatabaseSecurityGroupId", "sg-0123456789abcdef0", "db"), ("DatabaseCidr", "10.0.32.0/20", "10.0.32.0")):
        pattern = re.compile(TEMPLATE["Parameters"][parameter]["AllowedPattern"])
        assert pattern.fullmatch("") and pattern.fullmatch(good) and not pattern.fullmatch(bad)


def test_terraform_opens_the_database_like_the_cloudformation_stack():
    files = load_tf_dir(MODULE)
    resources = tf_blocks(files, "resource")
    variables = tf_blocks(files, "variable")
    egress = resources["aws_vpc_security_group_egress_rule.service_to_database"]
    ingress = resources["aws_vpc_security_group_ingress_rule.database_from_service"]
    cidr = resources["aws_vpc_security_group_egress_rule.service_to_database_cidr"]
    for sg, count in ((None, 0), ("sg-0123456789abcdef0", 1)):
        env = {"var": {"database_security_group_id": sg, "database_cidr": None}}
        assert evaluate(egress["count"], env) == evaluate(ingress["count"], env) == count
        assert evaluate(cidr["count"], env) == 0
    assert egress["referenced_security_group_id"] == ingress["security_group_id"] == "${var.database_security_group_id}"
    assert egress["security_group_id"] == ingress["referenced_security_group_id"] == "${aws_security_group.service.id}"
    assert egress["from_port"] == egress["to_port"] == "${var.database_port}"
    assert variables["database_port"]["default"] == TEMPLATE["Parameters"]["DatabasePort"]["Default"]
    for name, good, bad in (("database_security_group_id", "sg-0123456789abcdef0", "db"), ("database_cidr", "10.0.32.0/20", "10.0.32.0")):
        (validation,) = variables[name]["validation"]
        for value, ok in ((None, True), (good, True), (bad, False)):
            assert evaluate(validation["condition"], {"var": {name: value}}) is ok, (name, value)
    assert tf_blocks(files, "output")["migration_security_groups"]["value"] == ["${aws_security_group.service.id}"]


def test_the_ecs_service_is_tagged_for_berths_deploy_function(reference):
    """deploy may call UpdateService only on services tagged berth:service."""
    session, stack, _, _ = reference
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    # moto creates the service without the template's tags: checked in the template.
    assert TEMPLATE["Resources"]["Service"]["Properties"]["Tags"] == [{"Key": "berth:service", "Value": {"Ref": "ServiceName"}}]
    service_tf = tf_blocks(load_tf_dir(MODULE), "resource")["aws_ecs_service.service"]
    assert evaluate(service_tf["tags"], {"var": {"tags": {"app": "x"}, "service_name": "web"}}) == {"app": "x", "berth:service": "web"}


# ------------------------------------------------------------------ updating the stack after releases

# What berth and ECS change after the first release, and CloudFormation would write back if a stack
# update touched them ("AWS CloudFormation compares the changes you submit with the current state
# of your stack and updates only the changed resources"): the listener rules' weights (ECS shifts
# them), the service (its task definition and target group are the last release's), and the first
# task definition. docs/guide/deploy.md, "Updating the reference stack after deployments", names
# the parameters that may change without touching any of them.
OWNED_AFTER_RELEASES = ("ProdListenerRule", "TestListenerRule", "Service", "TaskDefinition")
UPDATE_SAFE_PARAMETERS = {"LoadBalancerIngressCidr", "DatabasePort", "DatabaseSecurityGroupId", "DatabaseCidr"}


# A resource another one refers to changes that one only when it is replaced (its id or ARN
# changes): these properties of theirs require replacement (CloudFormation reference, "Update
# requires: Replacement"); anything else of theirs is updated in place.
REPLACED_BY = {
    "AWS::EC2::SecurityGroup": ("GroupDescription", "VpcId"),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::ElasticLoadBalancingV2::TargetGroup": ("Name", "Port", "Protocol", "VpcId", "TargetType"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("Name", "Scheme", "Type"),
    "AWS::ElasticLoadBalancingV2::Listener": ("LoadBalancerArn",),
}


def _dependencies(logical: str, seen: set, whole: bool = True) -> set:
    """Parameters a resource depends on, through the replacement of every resource it refers to."""
    if logical in seen:
        return set()
    seen.add(logical)
    resource = TEMPLATE["Resources"][logical]
    if not whole and resource["Type"] in REPLACED_BY:
        resource = {"Properties": {k: v for k, v in resource["Properties"].items() if k in REPLACED_BY[resource["Type"]]}}
    text = json.dumps(resource)
    names = set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', text))
    names |= set(re.findall(r'"Fn::GetAtt": \["([A-Za-z0-9]+)"', text))
    names |= set(re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}", text))
    for condition in set(re.findall(r'"Condition": "([A-Za-z0-9]+)"', text)) | ({resource["Condition"]} if "Condition" in resource else set()):
        names |= set(re.findall(r'"Ref": "([A-Za-z0-9]+)"', json.dumps(TEMPLATE["Conditions"][condition])))
    out = {n for n in names if n in TEMPLATE["Parameters"]}
    for n in names & set(TEMPLATE["Resources"]):
        out |= _dependencies(n, seen, whole=False)
    return out


def test_the_parameters_the_guide_calls_update_safe_touch_nothing_ecs_owns_after_a_release():
    touched = set().union(*(_dependencies(r, set()) for r in OWNED_AFTER_RELEASES))
    assert not UPDATE_SAFE_PARAMETERS & touched
    # and the image, the listener ports' rules and the service settings do touch them
    assert {"Image", "ContainerPort", "DesiredCount", "BakeTimeInMinutes"} <= touched
