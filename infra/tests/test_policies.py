"""IAM policies of both flavours: least-privilege rules, and CloudFormation == Terraform.

The two flavours share statement ids; for each role the ids, actions and condition keys must
match, so a permission added to one and forgotten in the other fails here."""

from __future__ import annotations

import pytest
from conftest import (
    CFN,
    PLATFORM_TEMPLATE,
    SERVICE_TEMPLATE,
    TF,
    load_template,
    load_tf_dir,
    policy_statements_tf,
    tf_blocks,
)

# (template, logical id of the role or resource policy) -> (terraform module, policy document name)
PAIRS = {
    (PLATFORM_TEMPLATE.name, "OnImagePushRole"): ("platform", "on_image_push"),
    (PLATFORM_TEMPLATE.name, "OnManifestRole"): ("platform", "on_manifest"),
    (PLATFORM_TEMPLATE.name, "MigrateRole"): ("platform", "migrate"),
    (PLATFORM_TEMPLATE.name, "DeployRole"): ("platform", "deploy"),
    (PLATFORM_TEMPLATE.name, "EcsHookRole"): ("platform", "ecs_hook"),
    (PLATFORM_TEMPLATE.name, "MigrateTaskTargetsPolicy"): ("platform", "migrate_task_targets"),
    (PLATFORM_TEMPLATE.name, "DeployTaskTargetsPolicy"): ("platform", "deploy_task_targets"),
    (PLATFORM_TEMPLATE.name, "TaskTargetRole"): ("platform", "task_target"),
    (PLATFORM_TEMPLATE.name, "OnPipelineEventRole"): ("platform", "on_pipeline_event"),
    (PLATFORM_TEMPLATE.name, "VerifyRole"): ("platform", "verify"),
    (PLATFORM_TEMPLATE.name, "ScanGateRole"): ("platform", "scan_gate"),
    (PLATFORM_TEMPLATE.name, "ReleaseBucketPolicy"): ("platform", "release_bucket"),
    (PLATFORM_TEMPLATE.name, "FailedEventsQueuePolicy"): ("platform", "failed_events"),
    (SERVICE_TEMPLATE.name, "CodeDeployRole"): ("service", "codedeploy"),
    (SERVICE_TEMPLATE.name, "PipelineRole"): ("service", "pipeline"),
    (SERVICE_TEMPLATE.name, "ArtifactBucketPolicy"): ("service", "artifacts_bucket"),
    ("reference-service.yaml", "TaskExecutionRole"): ("reference-service", "task_execution"),
    ("reference-task.yaml", "TaskExecutionRole"): ("reference-task", "task_execution"),
}

# Actions allowed on Resource "*", and why. Read-only ones need nothing more; the others must
# carry a condition.
STAR_READ_ONLY = {
    "ecs:DescribeTaskDefinition",  # no resource-level permissions exist
    "elasticloadbalancing:DescribeTargetGroups",  # Describe* accept only "*"
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "lambda:ListFunctions",  # no resource-level permission; CodePipeline's Lambda invoke action needs it
    "ec2:DescribeNetworkInterfaces",  # Lambda VPC networking: "only works if it's allowed on all resources"
    "ec2:DescribeSubnets",
    "ecs:ListTaskDefinitions",  # no resource type exists
    "ecr:GetAuthorizationToken",  # no resource type exists (reference service's image pulls)
    "codedeploy:ListDeploymentTargets",  # no resource type (verify: the replacement task set)
    "codedeploy:GetDeploymentTarget",
}
STAR_WRITE_WITH_CONDITION = {
    "codepipeline:PutJobSuccessResult",  # the API accepts only "*"
    "codepipeline:PutJobFailureResult",
    "ecs:RegisterTaskDefinition",  # no resource-level permissions exist
    "ecs:CreateTaskSet",  # resource "*" only; ecs:cluster condition
    "codedeploy:PutLifecycleEventHookExecutionStatus",  # no resource type; region condition
    "ecs:DeregisterTaskDefinition",  # no resource type; region condition
    "codedeploy:StopDeployment",  # no resource type; region condition (verify's alarm rollback)
}

TEMPLATES = {p.name: load_template(p) for p in (PLATFORM_TEMPLATE, SERVICE_TEMPLATE, CFN / "reference-service.yaml", CFN / "reference-task.yaml")}
TF_DATA = {m: tf_blocks(load_tf_dir(TF / "modules" / m), "data") for m in ("platform", "service", "reference-service", "reference-task")}


def _list(value):
    return value if isinstance(value, list) else [value]


def cfn_statements(template: str, logical: str) -> list[dict]:
    props = TEMPLATES[template]["Resources"][logical]["Properties"]
    doc = props["PolicyDocument"] if "PolicyDocument" in props else props["Policies"][0]["PolicyDocument"]
    out = []
    for st in doc["Statement"]:
        if "Fn::If" in st:  # optional statement: [condition, statement, AWS::NoValue]
            st = st["Fn::If"][1]
        out.append(st)
    return out


def tf_statements(module: str, document: str) -> list[dict]:
    return policy_statements_tf(TF_DATA[module][f"aws_iam_policy_document.{document}"])


# Statements only Terraform has, and why: CloudFormation has no map parameter to give each service
# its own writers (see docs/guide/deploy.md, "Who may release").
TF_ONLY_SIDS = {("platform", "release_bucket"): ("OnlyServiceReleaseWritersWriteManifests",)}


def cfn_shape(statements) -> dict:
    shape = {}
    for st in statements:
        conditions = {(op, key) for op, kv in st.get("Condition", {}).items() for key in kv}
        shape[st["Sid"]] = (st["Effect"], sorted(_list(st["Action"])), sorted(conditions))
    return shape


def tf_shape(statements) -> dict:
    shape = {}
    for st in statements:
        conditions = {(c["test"], c["variable"]) for c in st.get("condition", [])}
        shape[st["sid"]] = (st.get("effect", "Allow"), sorted(st["actions"]), sorted(conditions))
    return shape


def all_statements():
    for (template, logical), (module, document) in PAIRS.items():
        for st in cfn_statements(template, logical):
            yield (
                f"{template}:{logical}",
                st["Effect"],
                _list(st["Action"]),
                _list(st["Resource"]),
                bool(st.get("Condition")),
            )
        for st in tf_statements(module, document):
            yield (
                f"{module}:{document}",
                st.get("effect", "Allow"),
                st["actions"],
                _list(st["resources"]),
                bool(st.get("condition")),
            )


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: p[1])
def test_cloudformation_and_terraform_grant_the_same(pair):
    module, document = PAIRS[pair]
    only_tf = TF_ONLY_SIDS.get((module, document), ())
    tf = {sid: v for sid, v in tf_shape(tf_statements(module, document)).items() if not sid.startswith(only_tf or ("\0",))}
    assert cfn_shape(cfn_statements(*pair)) == tf


def test_every_role_of_the_templates_is_compared():
    for name, template in TEMPLATES.items():
        # Roles with permissions (the reference service's task role has none until the app needs one).
        roles = {
            logical
            for logical, r in template["Resources"].items()
            if (r["Type"] == "AWS::IAM::Role" and r["Properties"].get("Policies")) or r["Type"] == "AWS::IAM::ManagedPolicy"
        }
        assert roles <= {logical for (t, logical) in PAIRS if t == name}


def test_no_wildcard_actions_and_star_resources_only_where_the_api_needs_them():
    for where, effect, actions, resources, has_condition in all_statements():
        if effect != "Allow":
            continue
        for action in actions:
            assert "*" not in action, f"{where}: wildcard action {action}"
        if "*" in resources:
            assert set(actions) <= STAR_READ_ONLY | STAR_WRITE_WITH_CONDITION, f"{where}: {actions} on *"
            if set(actions) & STAR_WRITE_WITH_CONDITION:
                assert has_condition, f"{where}: {actions} on * without a condition"


# iam:PassRole goes to ECS tasks (task and execution roles), except deploy's PassTaskTargetRoles:
# UpdateSchedule and PutTargets pass a schedule's or rule target's own role to EventBridge
# Scheduler and EventBridge ("iam:PassRole ... iam:PassedToService scheduler.amazonaws.com",
# Service Authorization Reference), never to anything else.
TASK_TARGET_PASSED_TO = ["scheduler.amazonaws.com", "events.amazonaws.com"]


def test_pass_role_is_always_limited_to_ecs_tasks_or_to_the_schedulers_of_task_targets():
    seen = {"ecs-tasks": 0, "task-targets": 0}
    for (template, logical), (module, document) in PAIRS.items():
        for st in cfn_statements(template, logical):
            if "iam:PassRole" in _list(st["Action"]):
                passed_to = st["Condition"]["StringEquals"]["iam:PassedToService"]
                if st["Sid"] == "PassTaskTargetRoles":
                    seen["task-targets"] += 1
                    assert passed_to == TASK_TARGET_PASSED_TO
                else:
                    seen["ecs-tasks"] += 1
                    assert passed_to == "ecs-tasks.amazonaws.com"
                assert "*" not in _list(st["Resource"])
        for st in tf_statements(module, document):
            if "iam:PassRole" in st["actions"]:
                (cond,) = st["condition"]
                expected = TASK_TARGET_PASSED_TO if st["sid"] == "PassTaskTargetRoles" else ["ecs-tasks.amazonaws.com"]
                seen["task-targets" if st["sid"] == "PassTaskTargetRoles" else "ecs-tasks"] += 1
                assert (cond["variable"], cond["values"]) == ("iam:PassedToService", expected)
    # migrate, deploy, the task-target role, CodeDeploy and pipeline roles; deploy's task targets.
    assert seen == {"ecs-tasks": 10, "task-targets": 2}


def test_task_target_permissions_are_scoped_to_berth_schedule_groups_and_tagged_rules():
    """Schedules cannot be tagged (tags go on schedule groups) and the schedule resource type has no
    condition key: schedules are scoped by group, <PipelineNamePrefix>* plus ScheduleArns. Rules
    take aws:ResourceTag: only those tagged berth:service. migrate only reads."""
    schedule_arn = "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/${PipelineNamePrefix}*/*"
    for logical, writes in (("MigrateTaskTargetsPolicy", set()), ("DeployTaskTargetsPolicy", {"scheduler:UpdateSchedule", "events:PutTargets"})):
        statements = cfn_statements(PLATFORM_TEMPLATE.name, logical)
        actions = {a for st in statements for a in _list(st["Action"])}
        assert actions - {"scheduler:GetSchedule", "events:ListTargetsByRule", "iam:PassRole"} == writes, logical
        for st in statements:
            acts = set(_list(st["Action"]))
            if acts & {"scheduler:GetSchedule", "scheduler:UpdateSchedule"}:
                taken = st["Resource"]["Fn::If"]
                assert taken[0] == "HasScheduleArns" and taken[2] == {"Fn::Sub": schedule_arn}
                assert {"Fn::Join": [",", {"Ref": "ScheduleArns"}]} in taken[1]["Fn::Split"][1]["Fn::Join"][1]
            if acts & {"events:ListTargetsByRule", "events:PutTargets"}:
                assert st["Condition"]["Null"] == {"aws:ResourceTag/berth:service": "false"}
            if "events:PutTargets" in acts:
                assert st["Condition"]["ForAllValues:ArnEquals"] == {"events:TargetArn": {"Ref": "ClusterArns"}}
    tf = {st["sid"]: st for st in tf_statements("platform", "deploy_task_targets")}
    assert tf["RepointTaskTargetSchedules"]["resources"] == "${local.task_target_schedule_arns}"
    targets = {c["variable"]: c["values"] for c in tf["RepointTaggedRuleTargets"]["condition"]}
    assert targets == {"aws:ResourceTag/berth:service": ["false"], "events:TargetArn": "${var.cluster_arns}"}
    # The schedules and rules are not the functions' own roles' inline policies: managed policies,
    # which have their own size quota, attached to the migrate and deploy roles.
    resources = TEMPLATES[PLATFORM_TEMPLATE.name]["Resources"]
    assert resources["MigrateTaskTargetsPolicy"]["Properties"]["Roles"] == [{"Ref": "MigrateRole"}]
    assert resources["DeployTaskTargetsPolicy"]["Properties"]["Roles"] == [{"Ref": "DeployRole"}]


# Roles ECS itself assumes, with the trust policy of the ECS developer guide, which documents no
# condition for "ecs.amazonaws.com" ("Permissions required for Lambda functions in Amazon ECS
# blue/green deployments"; "Amazon ECS infrastructure IAM role for load balancers"). A role is only
# ever passed to a service of its own account (iam:PassRole), and these may do one narrow thing.
ECS_TRUSTED_ROLES = {(PLATFORM_TEMPLATE.name, "EcsHookRole"), ("reference-service.yaml", "EcsInfrastructureRole")}


def test_trust_policies_are_confined_to_this_account():
    for name, template in TEMPLATES.items():
        for logical, r in template["Resources"].items():
            if r["Type"] != "AWS::IAM::Role":
                continue
            (st,) = r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            if (name, logical) in ECS_TRUSTED_ROLES:
                assert st == {"Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"}, "Action": "sts:AssumeRole"}
                continue
            assert st["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}, logical


def test_migrate_lists_deployments_of_berth_deployment_groups_only():
    # An execution stopped and abandoned during Deploy leaves its deployment running; migrate lists
    # the group's active ones. Resource: "arn:aws:codedeploy:region:account:deploymentgroup:app/group".
    (cfn,) = [s for s in cfn_statements(PLATFORM_TEMPLATE.name, "MigrateRole") if s["Sid"] == "WaitForAbandonedDeployments"]
    assert cfn["Action"] == "codedeploy:ListDeployments"
    assert cfn["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:${PipelineNamePrefix}*/*"
    }
    (tf,) = [s for s in tf_statements("platform", "migrate") if s["sid"] == "WaitForAbandonedDeployments"]
    assert tf["resources"] == [
        "arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:deploymentgroup:${var.pipeline_name_prefix}*/*"
    ]
