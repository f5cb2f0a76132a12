"""Enterprise inputs of every stack and module: a permissions boundary and a role path on every IAM
role, Terraform validations that accept and refuse what the CloudFormation parameters do, and
null (never "") for "not set"."""

from __future__ import annotations

import re

import pytest
from conftest import (
    ACCOUNT,
    CFN,
    PLATFORM_PARAMETERS,
    PLATFORM_TEMPLATE,
    REGION,
    SERVICE_TEMPLATE,
    TF,
    create_stack,
    load_template,
    load_tf_dir,
    tf_blocks,
)
from hcl_eval import evaluate

TEMPLATES = {
    "platform": PLATFORM_TEMPLATE,
    "service": SERVICE_TEMPLATE,
    "reference-service": CFN / "reference-service.yaml",
    "reference-task": CFN / "reference-task.yaml",
}
MODULES = {name: TF / "modules" / name for name in TEMPLATES}

BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/teams/berth-boundary"
PATH = "/berth/"

# IAM CreateRole, Path: "either a forward slash (/) by itself or a string that must begin and end
# with forward slashes ... any ASCII character from the ! (\u0021) through the DEL character
# (\u007F)", length 1 to 512. PermissionsBoundary: the ARN of a managed policy (customer or AWS
# managed, in the aws, aws-cn and aws-us-gov partitions).
BOUNDARY_SAMPLES = [
    "",
    BOUNDARY,
    f"arn:aws:iam::{ACCOUNT}:policy/boundary",
    f"arn:aws-cn:iam::{ACCOUNT}:policy/boundary",
    "arn:aws-us-gov:iam::aws:policy/PowerUserAccess",
    f"arn:aws:iam::{ACCOUNT}:role/boundary",
    "arn:aws:iam::1234:policy/boundary",
    f"arn:aws-iso:iam::{ACCOUNT}:policy/boundary",
    f"arn:aws:iam::{ACCOUNT}:policy/",
    "boundary",
]
PATH_SAMPLES = ["/", PATH, "/a/b-c/", "/~!/", "//", "berth/", "/berth", "", "/a b/", "/" + "a" * 510 + "/", "/" + "a" * 511 + "/"]


def _roles(template: dict) -> dict:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"}


@pytest.mark.parametrize("stack", TEMPLATES)
def test_every_cloudformation_role_takes_the_role_path_and_the_permissions_boundary(stack):
    template = load_template(TEMPLATES[stack])
    roles = _roles(template)
    assert roles
    for name, role in roles.items():
        properties = role["Properties"]
        assert properties["Path"] == {"Ref": "RolePath"}, name
        assert properties["PermissionsBoundary"] == {
            "Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundary"}, {"Ref": "AWS::NoValue"}]
        }, name
    assert template["Conditions"]["HasPermissionsBoundary"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PermissionsBoundary"}, ""]}]
    }
    assert template["Parameters"]["RolePath"]["Default"] == "/"
    assert template["Parameters"]["PermissionsBoundary"]["Default"] == ""


@pytest.mark.parametrize("module", MODULES)
def test_every_terraform_role_takes_role_path_and_permissions_boundary(module):
    files = load_tf_dir(MODULES[module])
    roles = {n: r for n, r in tf_blocks(files, "resource").items() if n.startswith("aws_iam_role.")}
    assert roles
    for name, role in roles.items():
        assert role["path"] == "${var.role_path}", name
        assert role["permissions_boundary"] == "${var.permissions_boundary}", name
    variables = tf_blocks(files, "variable")
    # Not set: no boundary (the provider leaves permissions_boundary out) and IAM's default path.
    assert variables["permissions_boundary"]["default"] is None
    assert variables["role_path"]["default"] == "/"


def _stack_roles(session, stack_name: str) -> list[dict]:
    cloudformation = session.client("cloudformation")
    iam = session.client("iam")
    names = [
        r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        if r["ResourceType"] == "AWS::IAM::Role"
    ]
    return [iam.get_role(RoleName=n)["Role"] for n in names]


@pytest.mark.parametrize("given", [True, False])
def test_every_role_the_stacks_create_has_the_path_and_boundary_given(code_uploaded, given):
    """platform, reference service and service stacks created in moto: each role they create has
    RolePath and PermissionsBoundary when given, and / and no boundary when not."""
    from test_reference_service import deploy_reference
    from test_service_stack import WEB

    session = code_uploaded
    iam_inputs = {"RolePath": PATH, "PermissionsBoundary": BOUNDARY} if given else {}
    cloudformation = session.client("cloudformation")
    create_stack(cloudformation, "berth-platform", PLATFORM_TEMPLATE, {**PLATFORM_PARAMETERS, **iam_inputs})
    deploy_reference(session, **iam_inputs)
    create_stack(cloudformation, "berth-web", SERVICE_TEMPLATE, {**WEB, **iam_inputs})
    counts = {}
    for stack in ("berth-platform", "web-reference", "berth-web"):
        roles = _stack_roles(session, stack)
        counts[stack] = len(roles)
        for role in roles:
            assert role["Path"] == (PATH if given else "/"), role["RoleName"]
            boundary = role.get("PermissionsBoundary", {}).get("PermissionsBoundaryArn")
            assert boundary == (BOUNDARY if given else None), role["RoleName"]
            assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role{role['Path']}{role['RoleName']}"
    # Every role of the templates was created (the reference's default strategy is BLUE_GREEN,
    # the service's controller CODE_DEPLOY: all their roles exist; the platform's 9th is the role
    # task targets run their tasks with).
    assert counts == {"berth-platform": 9, "web-reference": 3, "berth-web": 2}


# ------------------------------------------------------------------ validation parity


def _cfn_accepts(spec: dict, raw: str) -> bool:
    """What CloudFormation accepts for a parameter value (AllowedPattern is matched against the
    whole value, and against each item of a CommaDelimitedList)."""
    if "MinLength" in spec and len(raw) < int(spec["MinLength"]):
        return False
    if "MaxLength" in spec and len(raw) > int(spec["MaxLength"]):
        return False
    items = raw.split(",") if spec["Type"] == "CommaDelimitedList" else [raw]
    for item in items:
        if spec["Type"] == "Number":
            try:
                number = float(item)
            except ValueError:
                return False
            if "MinValue" in spec and number < float(spec["MinValue"]):
                return False
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                return False
            if "AllowedValues" in spec and number not in [float(v) for v in spec["AllowedValues"]]:
                return False
        else:
            if "AllowedValues" in spec and item not in [str(v) for v in spec["AllowedValues"]]:
                return False
            if "AllowedPattern" in spec and re.fullmatch(spec["AllowedPattern"], item) is None:
                return False
    return True


CONSTRAINTS = ("AllowedPattern", "AllowedValues", "MinValue", "MaxValue", "MinLength", "MaxLength")

ALB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/50dc6c495c0c9188"
TARGET_GROUP = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web-blue/1"
LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
VERIFY = {"base_url": "http://test:8080", "paths": ["/"], "expected_status": 200, "attempts": 3, "interval_seconds": 10}
SCAN = {"block": ["HIGH"], "wait_seconds": 900, "ignore": []}
MIGRATION = {"container": "app", "command": ["db:migrate"], "timeout_seconds": 1800, "subnets": ["subnet-1"], "security_groups": ["sg-1"]}
POST_MIGRATION = {"container": "app", "command": ["db:contract"], "timeout_seconds": 1800}
PUSH_TRIGGER = {"container": "app", "tag_pattern": "^v.*$"}
NETWORK = {"subnets": ["subnet-1"], "security_groups": [], "assign_public_ip": False}
ALARMS = {
    "load_balancer_arn": ALB, "blue_target_group_arn": TARGET_GROUP, "green_target_group_arn": TARGET_GROUP,
    "target_5xx_threshold": 5, "unhealthy_host_threshold": 1, "period_seconds": 60, "evaluation_periods": 2,
}

# CloudFormation parameter -> (Terraform variable, kind, object field, base object, "" = object null)
# kinds: str ("" = null where the variable defaults to null), num, list (comma-separated), map
# (name=value items).
PAIRS = {
    "platform": {
        "CodeBucket": ("code_bucket", "str"),
        "CodePrefix": ("code_prefix", "str"),
        "Architecture": ("architecture", "str"),
        "NamePrefix": ("name_prefix", "str"),
        "ReleaseBucketNamePrefix": ("release_bucket_name_prefix", "str"),
        "ServicesPath": ("services_path", "str"),
        "PushIndexPath": ("push_index_path", "str"),
        "PipelineNamePrefix": ("pipeline_name_prefix", "str"),
        "ScheduleArns": ("schedule_arns", "list"),
        "TaskTargetRoleArns": ("task_target_role_arns", "list"),
        "NoncurrentVersionExpirationDays": ("noncurrent_version_expiration_days", "num"),
        "NoncurrentVersionsToKeep": ("noncurrent_versions_to_keep", "num"),
        "LogRetentionDays": ("log_retention_days", "num"),
        "LogLevel": ("log_level", "str"),
        "MaximumRetryAttempts": ("maximum_retry_attempts", "num"),
        "NotificationTopicArn": ("notification_topic_arn", "str"),
        "NotificationTopicKmsKeyArn": ("notification_topic_kms_key_arn", "str"),
        "SlackWebhookParameterName": ("slack_webhook_parameter_name", "str"),
        "SlackWebhookKmsKeyArn": ("slack_webhook_kms_key_arn", "str"),
        "PushSweepSchedule": ("push_sweep_schedule", "null-if-empty"),
        "PushSweepLookbackMinutes": ("push_sweep_lookback_minutes", "num"),
        "PermissionsBoundary": ("permissions_boundary", "str"),
        "RolePath": ("role_path", "str"),
    },
    "reference-service": {
        "ServiceName": ("service_name", "str"),
        "ClusterName": ("cluster_name", "null-if-empty"),
        "ContainerName": ("container_name", "str"),
        "ContainerPort": ("container_port", "num"),
        "Cpu": ("cpu", "num"),
        "DesiredCount": ("desired_count", "num"),
        "LoadBalancerIngressCidr": ("load_balancer_ingress_cidr", "str"),
        "DatabasePort": ("database_port", "num"),
        "DatabaseSecurityGroupId": ("database_security_group_id", "str"),
        "DatabaseCidr": ("database_cidr", "str"),
        "ProdListenerPort": ("prod_listener_port", "num"),
        "TestListenerPort": ("test_listener_port", "num"),
        "HealthCheckPath": ("health_check_path", "str"),
        "LogRetentionDays": ("log_retention_days", "num"),
        "DeploymentStrategy": ("deployment_strategy", "str"),
        "BakeTimeInMinutes": ("bake_time_in_minutes", "num"),
        "HoldTimeoutMinutes": ("hold_timeout_minutes", "num"),
        "PermissionsBoundary": ("permissions_boundary", "str"),
        "RolePath": ("role_path", "str"),
    },
    "service": {
        "ServiceName": ("service_name", "str"),
        "ClusterName": ("cluster_name", "str"),
        "EcsServiceName": ("ecs_service_name", "str"),
        "TaskFamily": ("task_family", "str"),
        "Containers": ("containers", "map"),
        "DeploymentController": ("deployment_controller", "str"),
        "PushTriggerContainer": ("push_trigger", "str", "container", PUSH_TRIGGER, True),
        "PushTriggerTagPattern": ("push_trigger", "str", "tag_pattern", PUSH_TRIGGER, False),
        "MigrationContainer": ("migration", "str", "container", MIGRATION, True),
        "MigrationCommand": ("migration", "list", "command", MIGRATION, True),
        "MigrationTimeoutSeconds": ("migration", "num", "timeout_seconds", MIGRATION, False),
        "MigrationSubnets": ("migration", "list", "subnets", MIGRATION, True),
        "MigrationSecurityGroups": ("migration", "list", "security_groups", MIGRATION, True),
        "PostMigrationContainer": ("post_migration", "str", "container", POST_MIGRATION, True),
        "PostMigrationCommand": ("post_migration", "list", "command", POST_MIGRATION, True),
        "PostMigrationTimeoutSeconds": ("post_migration", "num", "timeout_seconds", POST_MIGRATION, False),
        "NetworkSubnets": ("network", "list", "subnets", NETWORK, True),
        "NetworkSecurityGroups": ("network", "list", "security_groups", NETWORK, False),
        "AppSpecContainer": ("appspec_container", "str"),
        "AppSpecPort": ("appspec_port", "num"),
        "TaskExecutionRoleArn": ("task_execution_role_arn", "str"),
        "ProdListenerArn": ("prod_listener_arn", "str"),
        "TerminationWaitMinutes": ("termination_wait_minutes", "num"),
        "TrafficRerouteWaitMinutes": ("traffic_reroute_wait_minutes", "num"),
        "RollbackAlarmNames": ("rollback_alarm_names", "list"),
        "LoadBalancerArn": ("target_group_alarms", "str", "load_balancer_arn", ALARMS, True),
        "BlueTargetGroupArn": ("target_group_alarms", "str", "blue_target_group_arn", ALARMS, True),
        "GreenTargetGroupArn": ("target_group_alarms", "str", "green_target_group_arn", ALARMS, True),
        "Target5xxThreshold": ("target_group_alarms", "num", "target_5xx_threshold", ALARMS, False),
        "UnhealthyHostThreshold": ("target_group_alarms", "num", "unhealthy_host_threshold", ALARMS, False),
        "AlarmPeriodSeconds": ("target_group_alarms", "num", "period_seconds", ALARMS, False),
        "AlarmEvaluationPeriods": ("target_group_alarms", "num", "evaluation_periods", ALARMS, False),
        "VerifyBaseUrl": ("verify", "str", "base_url", VERIFY, True),
        "VerifyPaths": ("verify", "list", "paths", VERIFY, False),
        "VerifyExpectedStatus": ("verify", "num", "expected_status", VERIFY, False),
        "VerifyAttempts": ("verify", "num", "attempts", VERIFY, False),
        "VerifyIntervalSeconds": ("verify", "num", "interval_seconds", VERIFY, False),
        "ScanBlockSeverities": ("scan", "list", "block", SCAN, True),
        "ScanWaitSeconds": ("scan", "num", "wait_seconds", SCAN, False),
        "ScanIgnore": ("scan", "list", "ignore", SCAN, False),
        "ArtifactRetentionDays": ("artifact_retention_days", "num"),
        "PermissionsBoundary": ("permissions_boundary", "str"),
        "RolePath": ("role_path", "str"),
    },
    "reference-task": {
        "ServiceName": ("service_name", "str"),
        "ClusterName": ("cluster_name", "str"),
        "ContainerName": ("container_name", "str"),
        "Cpu": ("cpu", "num"),
        "ScheduleExpression": ("schedule_expression", "str"),
        "ScheduleTimezone": ("schedule_timezone", "str"),
        "LogRetentionDays": ("log_retention_days", "num"),
        "PermissionsBoundary": ("permissions_boundary", "str"),
        "RolePath": ("role_path", "str"),
    },
}

# Constrained parameters without a Terraform twin of the same shape, and why.
NOT_PAIRED = {
    ("platform", "CreateNotificationTopic"): "bool create_notification_topic: the type allows only true and false",
    ("reference-service", "LoadBalancerScheme"): "bool load_balancer_internal",
    ("reference-service", "AssignPublicIp"): "bool assign_public_ip",
    ("reference-service", "HoldForPromote"): "bool hold_for_promote",
    ("service", "PushTriggerRepository"): "Terraform derives the repository from containers[push_trigger.container]",
    ("service", "CreateTargetGroupAlarms"): "Terraform: target_group_alarms = null",
    ("service", "NetworkAssignPublicIp"): "bool network.assign_public_ip",
    ("service", "TaskSchedules"): "Terraform: task_target.schedules, a list of objects (test_terraform.py compares both)",
    ("service", "TaskRules"): "Terraform: task_target.rules, a list of objects (test_terraform.py compares both)",
}

CONTROL = "a\x01b"
# Values to try on parameters whose constraint is a pattern (numbers and allowed values get theirs
# from the constraint itself).
SAMPLES = {
    "CodeBucket": ["berth-code", "my.bucket.1", "Berth", "ab", "a" * 64, "-berth", ""],
    "CodePrefix": ["berth/", "berth/0.1.0/", "", "berth", "a b/", "a//"],
    "NamePrefix": ["berth-", "x", "a" * 20, "a" * 21, "", "a.b"],
    "ReleaseBucketNamePrefix": ["berth-releases", "Berth", "a", "a" * 31, "a" * 32, "-a"],
    "ServicesPath": ["/berth/services", "/a", "/berth/", "berth", "", "/a b"],
    "PushIndexPath": ["/berth/push-index", "/x", "/x/", "x/y", ""],
    "PipelineNamePrefix": ["berth-", "a@b.c_", "p" * 36, "p" * 37, "", "bad/"],
    "NotificationTopicArn": ["", f"arn:aws:sns:{REGION}:{ACCOUNT}:releases", f"arn:aws:sns:{REGION}:{ACCOUNT}:r.fifo", "releases"],
    "NotificationTopicKmsKeyArn": ["", KMS_KEY, "alias/aws/sns", f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/x"],
    "SlackWebhookParameterName": ["", "/berth/slack-webhook", "berth", "https://hooks.slack.com/services/T0/B0/X"],
    "SlackWebhookKmsKeyArn": ["", KMS_KEY, "1234abcd"],
    "ScheduleArns": ["", f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/nightly-*",
                     f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/*/*,arn:aws-cn:scheduler:cn-north-1:{ACCOUNT}:schedule/g/n",
                     f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default", f"arn:aws:events:{REGION}:{ACCOUNT}:rule/x", "default"],
    "TaskTargetRoleArns": ["", f"arn:aws:iam::{ACCOUNT}:role/ecsEventsRole", f"arn:aws:iam::{ACCOUNT}:role/jobs/*",
                           f"arn:aws:iam::{ACCOUNT}:user/x", "ecsEventsRole", f"arn:aws:iam::{ACCOUNT}:role/a b"],
    "ScheduleExpression": ["cron(0 3 * * ? *)", "rate(1 hour)", "at(2026-12-24T00:00:00)", "0 3 * * *", "cron()", ""],
    "ScheduleTimezone": ["UTC", "Asia/Tokyo", "Etc/GMT+9", "Asia Tokyo", ""],
    "PushSweepSchedule": ["", "rate(5 minutes)", "cron(0/10 * * * ? *)", "5 minutes", "rate()"],
    "PermissionsBoundary": BOUNDARY_SAMPLES,
    "RolePath": PATH_SAMPLES,
    "ServiceName": ["web", "a" * 26, "a" * 27, "-web", "web-", "w_b", "Web_App.v2", "a" * 64, "a" * 65, ""],
    "ClusterName": ["", "prod", "a" * 255, "a" * 256, "a b", "a.b"],
    "ContainerName": ["app", "a" * 256, "", "a b"],
    "LoadBalancerIngressCidr": ["10.0.0.0/8", "0.0.0.0/0", "10.0.0.0", "", "::/0"],
    "DatabaseSecurityGroupId": ["", "sg-0123abcd", "sg-0123456789abcdef0", "sg-12", "sg-XYZ12345", "0123abcd"],
    "DatabaseCidr": ["", "10.0.32.0/20", "10.0.32.0", "any"],
    "HealthCheckPath": ["/", "/health", "health", ""],
    "EcsServiceName": ["", "web", CONTROL],
    "TaskFamily": ["", "web", CONTROL],
    "Containers": ["app=web/app", "app=web/app,nginx=web/nginx", f"app=web/{CONTROL}"],
    "PushTriggerContainer": ["", "app", CONTROL],
    "PushTriggerTagPattern": ["^v.*$", CONTROL],
    "MigrationContainer": ["", "app", CONTROL],
    "MigrationCommand": ["bin/rails,db:migrate", f"bin/rails,{CONTROL}"],
    "PostMigrationContainer": ["", "app", CONTROL],
    "PostMigrationCommand": ["bin/rails,db:contract", f"bin/rails,{CONTROL}"],
    "MigrationSubnets": ["subnet-1,subnet-2", CONTROL],
    "MigrationSecurityGroups": ["sg-1", CONTROL],
    "NetworkSubnets": ["", "subnet-1,subnet-2", CONTROL, f"subnet-1,{CONTROL}"],
    "NetworkSecurityGroups": ["", "sg-1", "sg-1,sg-2", CONTROL],
    "AppSpecContainer": ["nginx", CONTROL],
    "TaskExecutionRoleArn": [f"arn:aws:iam::{ACCOUNT}:role/web-task-execution", f"arn:aws-cn:iam::{ACCOUNT}:role/x",
                             f"arn:aws:iam::{ACCOUNT}:user/x", "web-task-execution", ""],
    "ProdListenerArn": ["", LISTENER, ALB],
    "RollbackAlarmNames": ["", "a", "a,b,c,d,e", "a,b,c,d,e,f", f"a,{CONTROL}", "a,,b"],
    "LoadBalancerArn": ["", ALB, TARGET_GROUP, ALB.replace("app/", "net/")],
    "BlueTargetGroupArn": ["", TARGET_GROUP, ALB],
    "GreenTargetGroupArn": ["", TARGET_GROUP, ALB],
    "VerifyBaseUrl": ["", "http://test:8080", "https://internal.example.com/base", "ftp://x", 'http://a"b', "http://a b"],
    "VerifyPaths": ["/", "/health,/ready", "/a,/b,/c,/d,/e", "/a,/b,/c,/d,/e,/f", "health", f"/{CONTROL}"],
    "ScanBlockSeverities": ["", "CRITICAL", "CRITICAL,HIGH", "SEVERE", "critical"],
    "ScanIgnore": ["", "CVE-2024-0001", f"CVE,{CONTROL}"],
}


def _constraint_samples(spec: dict) -> list[str]:
    """Values on both sides of a parameter's numeric or allowed-value constraints."""
    out = []
    if "AllowedValues" in spec:
        values = [str(v) for v in spec["AllowedValues"]]
        out += values + ["2" if spec["Type"] == "Number" else "bogus", values[0].lower() if values[0].isupper() else "X"]
    for bound, step in (("MinValue", -1), ("MaxValue", 1)):
        if bound in spec:
            out += [str(spec[bound]), str(int(spec[bound]) + step)]
    return out


def _terraform_value(pair: tuple, raw: str, default):
    """The Terraform variable's value for a CloudFormation parameter value."""
    var, kind, *field = pair
    if kind == "num":
        value = int(float(raw))  # a value no number parses to is refused by the type
    elif kind == "list":
        value = [] if raw == "" else raw.split(",")
    elif kind == "map":
        value = dict(item.split("=", 1) for item in raw.split(","))
    elif kind == "null-if-empty" or (kind == "str" and raw == "" and default is None and not field):
        value = None if raw == "" else raw
    else:
        value = raw
    if not field:
        return value
    name, base, empty_is_null = field
    if empty_is_null and raw == "":
        return None
    return {**base, name: value}


def _terraform_accepts(validations: list, var: str, value) -> bool:
    return all(evaluate(v["condition"], {"var": {var: value}}) for v in validations)


@pytest.mark.parametrize("stack", TEMPLATES)
def test_terraform_validations_accept_and_refuse_what_the_cloudformation_parameters_do(stack):
    parameters = load_template(TEMPLATES[stack])["Parameters"]
    variables = tf_blocks(load_tf_dir(MODULES[stack]), "variable")
    constrained = {n for n, spec in parameters.items() if set(spec) & set(CONSTRAINTS)}
    pairs = PAIRS[stack]
    unpaired = constrained - set(pairs) - {p for s, p in NOT_PAIRED if s == stack}
    assert unpaired == set(), f"{stack}: constrained parameters without a Terraform validation pairing"
    for parameter, pair in pairs.items():
        spec = parameters[parameter]
        var = pair[0]
        validations = variables[var].get("validation", [])
        assert validations, f"{var} has no validation"
        samples = SAMPLES.get(parameter, []) + _constraint_samples(spec)
        verdicts = {}
        for raw in samples:
            cfn = _cfn_accepts(spec, raw)
            try:
                value = _terraform_value(pair, raw, variables[var].get("default"))
            except ValueError:
                tf = False  # not a value of the variable's type
            else:
                tf = _terraform_accepts(validations, var, value)
            assert tf is cfn, f"{stack} {parameter}={raw!r}: CloudFormation {'accepts' if cfn else 'refuses'}, var.{var} {'accepts' if tf else 'refuses'}"
            verdicts[raw] = cfn
        # Each pairing is exercised on both sides.
        assert True in verdicts.values() and False in verdicts.values(), (parameter, verdicts)


# ------------------------------------------------------------------ null for "not set"


@pytest.mark.parametrize("module", MODULES)
def test_no_optional_terraform_variable_defaults_to_an_empty_string(module):
    """Not set is null: "" reaching a provider argument makes an invalid call at apply. The one
    string whose "" is a value rather than "not set" is code_prefix (zips at the bucket's root)."""
    variables = tf_blocks(load_tf_dir(MODULES[module]), "variable")
    empty = {name for name, body in variables.items() if body.get("default") == "" and name != "code_prefix"}
    assert empty == set()
    text = "\n".join(p.read_text() for p in MODULES[module].glob("*.tf"))
    # Optional strings are tested against null, never against "".
    assert not re.findall(r"var\.\w+ [!=]= \"\"", text)


# ------------------------------------------------------------------ what deletion keeps

# CloudFormation, DeletionPolicy attribute: "For Amazon S3 buckets, you must delete all objects in
# the bucket for deletion to succeed." The versioned buckets are never empty once used, so they
# are retained; log groups are deleted with the stack. Both by an explicit attribute.
KEPT = {"AWS::S3::Bucket": "Retain", "AWS::Logs::LogGroup": "Delete"}


@pytest.mark.parametrize("stack", TEMPLATES)
def test_every_bucket_and_log_group_has_an_explicit_deletion_policy(stack):
    resources = load_template(TEMPLATES[stack])["Resources"]
    found = {n: r for n, r in resources.items() if r["Type"] in KEPT}
    assert found
    for name, resource in found.items():
        policy = KEPT[resource["Type"]]
        assert (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy")) == (policy, policy), name


REMOVAL_VARIABLES = {
    "aws_s3_bucket": ("force_destroy", {"platform": "force_destroy_release_bucket", "service": "force_destroy_artifact_bucket"}),
    "aws_cloudwatch_log_group": ("skip_destroy", {"platform": "retain_log_groups", "reference-service": "retain_log_groups", "reference-task": "retain_log_groups"}),
}


@pytest.mark.parametrize("module", MODULES)
def test_every_terraform_bucket_and_log_group_is_kept_or_destroyed_by_a_variable(module):
    files = load_tf_dir(MODULES[module])
    variables = tf_blocks(files, "variable")
    found = 0
    for name, body in tf_blocks(files, "resource").items():
        rtype = name.split(".")[0]
        if rtype not in REMOVAL_VARIABLES:
            continue
        found += 1
        argument, by_module = REMOVAL_VARIABLES[rtype]
        var = by_module[module]
        assert body[argument] == f"${{var.{var}}}", name
        # Not set: buckets are not emptied and log groups not kept, like the CloudFormation stacks.
        assert variables[var]["type"] in ("bool", "${bool}") and variables[var]["default"] is False, var
    assert found
