"""One install for 1,000 services: the IAM quotas of the platform's shared roles hold.

IAM and AWS STS quotas: "You can add as many inline policies as you want to an IAM user, role, or
group. But the total aggregate policy size (the sum size of all inline policies) per entity cannot
exceed the following quotas" - "Role policy size cannot exceed 10,240 characters" - and "IAM does
not count white space when calculating the size of a policy against these quotas". "Managed
policies attached to an IAM role": 10 by default, 20 at most.

The platform and service stacks are created in moto; each role's policies are read back from IAM,
measured as minified JSON, and the growth per service stack (measured on the largest service
stacks the template allows) is extrapolated to 1,000 services."""

from __future__ import annotations

import json

from conftest import ACCOUNT, PLATFORM_PARAMETERS, PLATFORM_TEMPLATE, REGION, SERVICE_TEMPLATE, create_stack
from test_platform_stack import policy_document

ROLE_POLICY_QUOTA = 10_240  # characters, all inline policies of a role, white space not counted
# AWS Knowledge Center (iam-increase-policy-size): "The maximum character limit for managed policies
# is 6,144" (the task-target policies of migrate and deploy are managed policies).
MANAGED_POLICY_QUOTA = 6_144
MANAGED_POLICIES_PER_ROLE = 10  # default quota (adjustable to 20)
SERVICES = 1_000


def _sizes(session) -> dict[str, tuple[int, int]]:
    """Per platform role: (characters of its inline policies, minified; managed policies attached)."""
    iam = session.client("iam")
    sizes = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        if not name.startswith("berth-platform-"):
            continue
        inline = 0
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            doc = policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
            inline += len(json.dumps(doc, separators=(",", ":")))
        managed = len(iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"])
        sizes[name] = (inline, managed)
    return sizes


def _largest_service(i: int, controller: str) -> dict:
    """A service stack with every optional section and names at their longest (64 characters)."""
    name = f"s{i:03d}" + "x" * 60
    return {
        "ServiceName": name,
        "ClusterName": "prod",
        "EcsServiceName": "e" * 200 + str(i),
        "TaskFamily": "f" * 200 + str(i),
        "Containers": ",".join(f"c{n}={ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team/repo-{i}-{n}" for n in range(20)),
        "DeploymentController": controller,
        "PushTriggerContainer": "c0",
        "MigrationContainer": "c0",
        "MigrationCommand": "bin/migrate,up",
        "MigrationSubnets": "subnet-0a1b2c,subnet-0a1b2d",
        "MigrationSecurityGroups": "sg-0d4e5f",
        "AppSpecContainer": "c0",
        "AppSpecPort": 80,
        "TaskExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/web-task-execution",
        "TaskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/web-task",
        "ProdListenerArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2",
        "TestListenerArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web/50dc6c495c0c9188/0467ef3c8400ae65",
        "BlueTargetGroupName": "web-blue",
        "GreenTargetGroupName": "web-green",
        "VerifyBaseUrl": "http://internal-web-123.ap-northeast-1.elb.amazonaws.com:8080",
        "VerifyPaths": "/a,/b,/c,/d,/e",
        "ScanBlockSeverities": "CRITICAL,HIGH",
        "ScanIgnore": "CVE-2024-0001",
    }


def test_a_thousand_services_keep_every_platform_role_under_the_iam_quotas(code_uploaded):
    # The platform at its largest too: several clusters, roles and cross-account repositories.
    platform = {
        **PLATFORM_PARAMETERS,
        "ClusterArns": ",".join(f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/cluster-{n:02d}" for n in range(10)),
        "PassableRoleArns": ",".join(f"arn:aws:iam::{ACCOUNT}:role/team-{n:02d}-*" for n in range(10)),
        "CrossAccountRepositoryArns": ",".join(f"arn:aws:ecr:{REGION}:2109876543{n:02d}:repository/*" for n in range(10)),
        "ScheduleArns": ",".join(f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/team-{n:02d}-jobs/*" for n in range(10)),
        "TaskTargetRoleArns": ",".join(f"arn:aws:iam::{ACCOUNT}:role/team-{n:02d}-events-*" for n in range(10)),
    }
    cloudformation = code_uploaded.client("cloudformation")
    stack, _ = create_stack(cloudformation, "berth-platform", PLATFORM_TEMPLATE, platform)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    base = _sizes(code_uploaded)
    assert len(base) >= 8  # the function roles and the ECS hook role

    controllers = ("ECS", "CODE_DEPLOY", "ECS", "TASK")
    for i, controller in enumerate(controllers):
        service = _largest_service(i, controller)
        if controller == "TASK":  # a task target: 20 schedules and rules, no ECS service
            for key in ("EcsServiceName", "AppSpecContainer", "AppSpecPort", "VerifyBaseUrl", "VerifyPaths"):
                service.pop(key)
            service["TaskSchedules"] = ",".join(f"name={'s' * 60}{n:02d}|group={'g' * 64}" for n in range(10))
            service["TaskRules"] = ",".join(f"rule={'r' * 62}{n:02d}|target_id={'t' * 64}" for n in range(10))
        stack, _ = create_stack(cloudformation, f"berth-svc-{i}", SERVICE_TEMPLATE, service)
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    after = _sizes(code_uploaded)
    assert set(after) == set(base)

    for role, (inline, managed) in base.items():
        grown_inline = after[role][0] - inline
        grown_managed = after[role][1] - managed
        per_service_inline = -(-grown_inline // len(controllers))  # rounded up
        per_service_managed = -(-grown_managed // len(controllers))
        at_scale = inline + SERVICES * per_service_inline
        assert at_scale <= ROLE_POLICY_QUOTA, f"{role}: {inline} + {SERVICES} x {per_service_inline} characters"
        assert managed + SERVICES * per_service_managed <= MANAGED_POLICIES_PER_ROLE, role
        # The headroom the platform itself leaves (docs/reference/iam.md, "Scaling to many services").
        assert inline <= ROLE_POLICY_QUOTA * 3 // 4, f"{role}: {inline} characters at the platform's largest"


def _managed_policy_sizes(session) -> dict[str, int]:
    """Characters (minified) of each customer managed policy the platform creates."""
    iam = session.client("iam")
    sizes = {}
    for policy in iam.list_policies(Scope="Local")["Policies"]:
        version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
        doc = policy_document(version["PolicyVersion"]["Document"])
        sizes[policy["PolicyName"]] = len(json.dumps(doc, separators=(",", ":")))
    return sizes


def test_the_task_target_policies_stay_under_the_managed_policy_quota_at_the_platforms_largest(code_uploaded):
    """migrate's and deploy's task-target permissions grow with ClusterArns (events:TargetArn),
    ScheduleArns and TaskTargetRoleArns, never with services: their managed policies hold at 10 of
    each with a quarter of the quota to spare."""
    platform = {
        **PLATFORM_PARAMETERS,
        "ClusterArns": ",".join(f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/cluster-{n:02d}" for n in range(10)),
        "ScheduleArns": ",".join(f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/team-{n:02d}-jobs/*" for n in range(10)),
        "TaskTargetRoleArns": ",".join(f"arn:aws:iam::{ACCOUNT}:role/team-{n:02d}-events-*" for n in range(10)),
    }
    stack, _ = create_stack(code_uploaded.client("cloudformation"), "berth-platform", PLATFORM_TEMPLATE, platform)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    sizes = _managed_policy_sizes(code_uploaded)
    task_targets = {name: size for name, size in sizes.items() if "TaskTargetsPolicy" in name}
    assert len(task_targets) == 2, sizes
    for name, size in task_targets.items():
        assert size <= MANAGED_POLICY_QUOTA * 3 // 4, f"{name}: {size} characters"
