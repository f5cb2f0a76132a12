"""service.yaml deployed into moto's CloudFormation (on top of platform.yaml), plus the parts
moto cannot create, checked from the template."""

from __future__ import annotations

import json

from conftest import (
    ACCOUNT,
    REGION,
    SERVICE_TEMPLATE,
    create_stack,
    load_template,
    resource_types,
)

# Resource types moto 5.2.5 cannot create through CloudFormation (it warns and leaves them out).
# The test fails if moto skips anything else, or stops skipping one of these.
MOTO_CANNOT_CREATE = {
    "AWS::CodePipeline::Pipeline",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::S3::BucketPolicy",
}

TEMPLATE = load_template(SERVICE_TEMPLATE)
RESOURCES = TEMPLATE["Resources"]

LISTENER = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"

WEB = {
    "ServiceName": "web",
    "ClusterName": "prod",
    "Containers": "app=web/app,nginx=web/nginx",
    "PushTriggerContainer": "app",
    "MigrationContainer": "app",
    "MigrationCommand": "bin/rails,db:migrate",
    "MigrationSubnets": "subnet-0a1b2c",
    "MigrationSecurityGroups": "sg-0d4e5f",
    "AppSpecContainer": "nginx",
    "AppSpecPort": 80,
    "TaskExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/web-task-execution",
    "TaskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/web-task",
    "ProdListenerArn": LISTENER,
    "TestListenerArn": LISTENER.replace("f2f7dc8efc522ab2", "0467ef3c8400ae65"),
    "BlueTargetGroupName": "web-blue",
    "GreenTargetGroupName": "web-green",
    "RollbackAlarmNames": "web-5xx,web-latency",
}

# CONTRACT §2, word for word.
WEB_REGISTRY_ENTRY = {
    "service": "web",
    "cluster": "prod",
    "ecs_service": "web",
    "pipeline": "berth-web",
    "task_family": "web",
    "containers": {"app": "web/app", "nginx": "web/nginx"},
    "push_trigger": {"container": "app", "tag_pattern": "^(v[0-9]+\\.[0-9]+\\.[0-9]+|[0-9a-f]{7,40})$"},
    "migration": {
        "container": "app",
        "command": ["bin/rails", "db:migrate"],
        "timeout_seconds": 1800,
        "subnets": ["subnet-0a1b2c"],
        "security_groups": ["sg-0d4e5f"],
    },
    "appspec": {"container": "nginx", "port": 80},
}

# Field names of the registry entry the functions accept (they refuse unknown fields).
REGISTRY_FIELDS = {
    "service",
    "cluster",
    "ecs_service",
    "pipeline",
    "task_family",
    "containers",
    "push_trigger",
    "migration",
    "appspec",
}


def deploy_service(session, name: str, parameters: dict):
    return create_stack(session.client("cloudformation"), name, SERVICE_TEMPLATE, parameters)


def registry_entry(session, service: str) -> dict:
    value = session.client("ssm").get_parameter(Name=f"/berth/services/{service}")["Parameter"]
    assert value["Type"] == "String"
    entry = json.loads(value["Value"])
    assert set(entry) == REGISTRY_FIELDS
    return entry


def test_service_stack_creates_the_registry_entry_of_the_contract(platform_stack):
    session, _, _ = platform_stack
    stack, skipped = deploy_service(session, "berth-web", WEB)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    # moto may announce one type several times (once per reference), so compare the sets.
    assert set(skipped) == MOTO_CANNOT_CREATE, "moto skipped a different set of resource types than documented"
    assert MOTO_CANNOT_CREATE <= set(resource_types(TEMPLATE))

    summaries = session.client("cloudformation").list_stack_resources(StackName="berth-web")["StackResourceSummaries"]
    created = {s["LogicalResourceId"] for s in summaries if s["LogicalResourceId"]}
    assert created == {n for n, r in RESOURCES.items() if r["Type"] not in MOTO_CANNOT_CREATE}
    assert created == {"RegistryParameter", "ArtifactBucket", "CodeDeployRole", "PipelineRole"}

    assert registry_entry(session, "web") == WEB_REGISTRY_ENTRY


def test_manifest_only_service_has_null_push_trigger_and_migration(platform_stack):
    session, _, _ = platform_stack
    params = {
        k: v
        for k, v in WEB.items()
        if not k.startswith(("PushTrigger", "Migration", "RollbackAlarm", "TestListener", "TaskRole"))
    }
    params.update(
        ServiceName="worker",
        EcsServiceName="worker-svc",
        TaskFamily="worker-task",
        Containers="worker=123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/worker/app",
    )
    stack, _ = deploy_service(session, "berth-worker", params)
    assert stack["StackStatus"] == "CREATE_COMPLETE"

    entry = registry_entry(session, "worker")
    assert entry["push_trigger"] is None
    assert entry["migration"] is None
    assert entry["ecs_service"] == "worker-svc"
    assert entry["task_family"] == "worker-task"
    assert entry["pipeline"] == "berth-worker"
    assert entry["containers"] == {"worker": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/worker/app"}


def test_quotes_and_backslashes_in_parameters_stay_valid_json(platform_stack):
    session, _, _ = platform_stack
    pattern = r'^release-"[0-9]+\.[0-9]+"$'
    params = dict(
        WEB,
        ServiceName="api",
        PushTriggerTagPattern=pattern,
        MigrationCommand=r'sh,-c,echo "a\b"',
        MigrationTimeoutSeconds=60,
    )
    stack, _ = deploy_service(session, "berth-api", params)
    assert stack["StackStatus"] == "CREATE_COMPLETE"

    entry = registry_entry(session, "api")
    assert entry["push_trigger"]["tag_pattern"] == pattern
    assert entry["migration"]["command"] == ["sh", "-c", r'echo "a\b"']
    assert entry["migration"]["timeout_seconds"] == 60


def test_roles_of_the_service(platform_stack):
    session, _, _ = platform_stack
    deploy_service(session, "berth-web", WEB)
    iam = session.client("iam")
    names = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("berth-web-")]
    assert sorted(n.split("-")[2] for n in names) == ["CodeDeployRole", "PipelineRole"]
    for name in names:
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        principal = trust["Statement"][0]["Principal"]["Service"]
        assert principal == ("codedeploy.amazonaws.com" if "CodeDeploy" in name else "codepipeline.amazonaws.com")


# ------------------------------------------------------------------ what moto cannot create


def _pipeline():
    return RESOURCES["Pipeline"]["Properties"]


def test_pipeline_is_v2_queued_with_the_berth_variables():
    p = _pipeline()
    assert p["PipelineType"] == "V2"
    assert p["ExecutionMode"] == "QUEUED"
    assert {v["Name"]: v["DefaultValue"] for v in p["Variables"]} == {
        "BERTH_SERVICE": {"Ref": "ServiceName"},
        "BERTH_RELEASE": "manual",
        "BERTH_ROLLBACK": "false",
    }
    assert [s["Name"] for s in p["Stages"]] == ["Source", "Migrate", "Deploy"]


def test_source_action_reads_the_service_artifact_without_polling():
    (action,) = _pipeline()["Stages"][0]["Actions"]
    assert action["Name"] == "Source"  # on-manifest names it in sourceRevisions
    assert action["ActionTypeId"] == {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": "1"}
    cfg = action["Configuration"]
    assert cfg["S3ObjectKey"] == {"Fn::Sub": "artifacts/${ServiceName}/source.zip"}
    assert cfg["PollForSourceChanges"] is False
    assert cfg["S3Bucket"] == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-ReleaseBucketName"}}


def test_migrate_action_passes_the_rollback_variable():
    (action,) = _pipeline()["Stages"][1]["Actions"]
    assert action["ActionTypeId"] == {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"}
    assert action["Configuration"]["UserParameters"] == '{"rollback":"#{variables.BERTH_ROLLBACK}"}'
    assert action["Configuration"]["FunctionName"] == {
        "Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-MigrateFunctionName"}
    }
    assert action["InputArtifacts"] == [{"Name": "Release"}]


def test_deploy_action_uses_the_rendered_taskdef_and_appspec_without_image_placeholders():
    (action,) = _pipeline()["Stages"][2]["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeDeployToECS"
    cfg = action["Configuration"]
    assert cfg["TaskDefinitionTemplateArtifact"] == "Release"
    assert cfg["TaskDefinitionTemplatePath"] == "taskdef.json"
    assert cfg["AppSpecTemplateArtifact"] == "Release"
    assert cfg["AppSpecTemplatePath"] == "appspec.yaml"
    assert not any(k.startswith("Image") for k in cfg)


def test_deployment_group_is_blue_green_with_auto_rollback():
    dg = RESOURCES["DeploymentGroup"]["Properties"]
    assert dg["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert dg["DeploymentConfigName"] == {"Ref": "DeploymentConfigName"}
    assert TEMPLATE["Parameters"]["DeploymentConfigName"]["Default"] == "CodeDeployDefault.ECSAllAtOnce"
    assert dg["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    assert dg["BlueGreenDeploymentConfiguration"]["TerminateBlueInstancesOnDeploymentSuccess"] == {
        "Action": "TERMINATE",
        "TerminationWaitTimeInMinutes": {"Ref": "TerminationWaitMinutes"},
    }
    (pair,) = dg["LoadBalancerInfo"]["TargetGroupPairInfoList"]
    assert [tg["Name"] for tg in pair["TargetGroups"]] == [
        {"Ref": "BlueTargetGroupName"},
        {"Ref": "GreenTargetGroupName"},
    ]
    assert RESOURCES["CodeDeployApplication"]["Properties"]["ComputePlatform"] == "ECS"


def test_artifact_store_is_encrypted_and_private():
    props = RESOURCES["ArtifactBucket"]["Properties"]
    assert (
        props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"][
            "SSEAlgorithm"
        ]
        == "AES256"
    )
    assert all(props["PublicAccessBlockConfiguration"].values())
