"""reference-task.yaml (CloudFormation) and modules/reference-task (Terraform): a scheduled job as
a task target - its first task definition and an EventBridge Scheduler schedule whose ECS target
runs it with the platform's TaskTargetRole, in a schedule group the platform's deploy role may
update. Deployed into moto, its outputs are fed to service.yaml (DeploymentController TASK)."""

from __future__ import annotations

import fnmatch
import json

from conftest import (
    ACCOUNT,
    CFN,
    PLATFORM_TEMPLATE,
    REGION,
    SERVICE_TEMPLATE,
    TF,
    create_stack,
    load_template,
    load_tf_dir,
    tf_blocks,
)
from test_reference_service import _network

REFERENCE_TASK = CFN / "reference-task.yaml"
TEMPLATE = load_template(REFERENCE_TASK)
RESOURCES = TEMPLATE["Resources"]
MODULE = TF / "modules" / "reference-task"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/report/job:v1"
SERVICE_PARAMETERS = set(load_template(SERVICE_TEMPLATE)["Parameters"])


def _deploy(session):
    vpc, subnets = _network(session)
    parameters = {"VpcId": vpc, "SubnetIds": ",".join(subnets[:2]), "ClusterName": "prod", "Image": IMAGE}
    return create_stack(session.client("cloudformation"), "report-reference", REFERENCE_TASK, parameters), subnets


def test_the_reference_job_feeds_a_task_target_service_stack_whose_entry_names_its_schedule(platform_stack):
    session, _, _ = platform_stack
    (stack, skipped), subnets = _deploy(session)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    # moto 5.2.5 creates no EventBridge Scheduler resource through CloudFormation (it warns and
    # leaves them out): the schedule is checked in the template below.
    assert set(skipped) == {"AWS::Scheduler::ScheduleGroup", "AWS::Scheduler::Schedule"}
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert set(out) - {"LogGroupName"} <= SERVICE_PARAMETERS  # named after the service stack's parameters
    # Ref of a schedule group is its name (<PipelineNamePrefix><ServiceName>); moto created none,
    # so the stack's output keeps the reference and the test passes the name CloudFormation gives.
    assert TEMPLATE["Outputs"]["TaskSchedules"]["Value"] == {"Fn::Sub": "name=${ServiceName}|group=${ScheduleGroup}"}
    out["TaskSchedules"] = "name=report|group=berth-report"
    (family,) = {d.split("/")[-1].split(":")[0] for d in session.client("ecs").list_task_definitions()["taskDefinitionArns"]}
    assert family == out["TaskFamily"] == "report"

    params = {k: v for k, v in out.items() if k != "LogGroupName"}
    params |= {"ServiceName": "report", "Containers": "job=report/job", "ProdListenerArn": "",
               "MigrationContainer": "job", "MigrationCommand": "bin/migrate",
               "MigrationSubnets": out["NetworkSubnets"], "MigrationSecurityGroups": out["NetworkSecurityGroups"]}
    service, _ = create_stack(session.client("cloudformation"), "berth-report", SERVICE_TEMPLATE, params)
    assert service["StackStatus"] == "CREATE_COMPLETE", service.get("StackStatusReason")
    entry = json.loads(session.client("ssm").get_parameter(Name="/berth/services/report")["Parameter"]["Value"])
    assert entry["task_target"] == {"schedules": [{"name": "report", "group": "berth-report"}], "rules": []}
    assert entry["network"] == {"subnets": subnets[:2], "security_groups": [out["NetworkSecurityGroups"]], "assign_public_ip": False}
    assert "ecs_service" not in entry and "appspec" not in entry


def test_the_schedule_runs_the_family_with_the_platforms_task_target_role_in_a_group_deploy_may_update():
    schedule = RESOURCES["Schedule"]["Properties"]
    target = schedule["Target"]
    assert target["RoleArn"] == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-TaskTargetRoleArn"}}
    assert target["EcsParameters"]["TaskDefinitionArn"] == {"Ref": "TaskDefinition"}
    assert target["EcsParameters"]["LaunchType"] == "FARGATE"
    assert schedule["GroupName"] == {"Ref": "ScheduleGroup"}
    group = RESOURCES["ScheduleGroup"]["Properties"]
    assert group["Name"]["Fn::Sub"][0] == "${Prefix}${ServiceName}"
    assert group["Tags"] == [{"Key": "berth:service", "Value": {"Ref": "ServiceName"}}]
    # The platform exports both; its deploy role's schedule resource covers <prefix>*/* groups.
    platform = load_template(PLATFORM_TEMPLATE)
    assert {"TaskTargetRoleArn", "PipelineNamePrefix"} <= set(platform["Outputs"])
    (statement,) = [s for s in platform["Resources"]["DeployTaskTargetsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
                    if s["Sid"] == "RepointTaskTargetSchedules"]
    pattern = statement["Resource"]["Fn::If"][2]["Fn::Sub"]
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/berth-report/report"
    resolved = pattern.replace("${AWS::Partition}", "aws").replace("${AWS::Region}", REGION).replace(
        "${AWS::AccountId}", ACCOUNT).replace("${PipelineNamePrefix}", "berth-")
    assert fnmatch.fnmatchcase(arn, resolved)
    assert not fnmatch.fnmatchcase(arn.replace("berth-report", "default"), resolved)


def test_the_terraform_module_builds_the_same_schedule_and_leaves_the_released_revision_alone():
    files = load_tf_dir(MODULE)
    resources = tf_blocks(files, "resource")
    group = resources["aws_scheduler_schedule_group.job"]
    assert group["name"] == "${local.schedule_group_name}"
    assert tf_blocks(files, "locals")["schedule_group_name"] == "${var.pipeline_name_prefix}${var.service_name}"
    assert group["tags"] == '${merge(var.tags, {"berth:service" = var.service_name})}'
    schedule = resources["aws_scheduler_schedule.job"]
    (target,) = schedule["target"]
    assert target["role_arn"] == "${var.task_target_role_arn}"
    (ecs,) = target["ecs_parameters"]
    assert (ecs["task_definition_arn"], ecs["launch_type"]) == ("${aws_ecs_task_definition.first.arn}", "FARGATE")
    (lifecycle,) = schedule["lifecycle"]
    # berth repoints the schedule at every release; an apply must not put the first revision back.
    assert lifecycle["ignore_changes"] == ["${target[0].ecs_parameters[0].task_definition_arn}"]
    outputs = tf_blocks(files, "output")
    assert {"task_family", "task_target", "network", "task_execution_role_arn", "task_role_arn", "cluster_name"} <= set(outputs)
    service_inputs = set(tf_blocks(load_tf_dir(TF / "modules" / "service"), "variable"))
    assert set(outputs) - {"log_group_name"} <= service_inputs
