"""service.yaml deployed into moto's CloudFormation (on top of platform.yaml), plus the parts
moto cannot create, checked from the template."""

from __future__ import annotations

import json
import re

import pytest
from conftest import (
    ACCOUNT,
    PLATFORM_TEMPLATE,
    REGION,
    SERVICE_TEMPLATE,
    create_stack,
    failed_rules,
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

# docs/design/contract.md §2, word for word.
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
    "deployment": {"application": "berth-web", "group": "web"},
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


# Written only when configured (deployment: only with DeploymentController=CODE_DEPLOY; network:
# only with NetworkSubnets).
OPTIONAL_REGISTRY_FIELDS = {"verify", "scan", "deployment", "network", "target_group_alarms", "post_migration"}


def deploy_service(session, name: str, parameters: dict):
    return create_stack(session.client("cloudformation"), name, SERVICE_TEMPLATE, parameters)


def registry_entry(session, service: str) -> dict:
    value = session.client("ssm").get_parameter(Name=f"/berth/services/{service}")["Parameter"]
    assert value["Type"] == "String"
    entry = json.loads(value["Value"])
    assert REGISTRY_FIELDS <= set(entry) <= REGISTRY_FIELDS | OPTIONAL_REGISTRY_FIELDS
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
    # Resources with a Condition are the optional ones: none of them is configured for web here,
    # except the CodeDeploy ones (DeploymentController defaults to CODE_DEPLOY).
    assert created == {
        n for n, r in RESOURCES.items() if r["Type"] not in MOTO_CANNOT_CREATE and r.get("Condition", "IsCodeDeploy") == "IsCodeDeploy"
    }
    assert created == {
        "RegistryParameter",
        "ArtifactBucket",
        "CodeDeployRole",
        "PipelineRole",
    }

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
    assert entry["deployment"] == {"application": "berth-worker", "group": "worker"}


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


# Every string parameter that reaches the registry entry, with a value full of the two characters
# JSON must escape. (Real AWS would refuse some of them by their AllowedPattern first; moto does not
# check patterns, which lets this test show the escaping itself.)
NASTY = 'a"b\\c'
ESCAPED_PARAMETERS = {
    "EcsServiceName": NASTY,
    "TaskFamily": NASTY,
    "Containers": f'{NASTY}=web/{NASTY},nginx=web/nginx',
    "PushTriggerContainer": NASTY,
    "PushTriggerTagPattern": NASTY,
    "MigrationContainer": NASTY,
    "MigrationCommand": f"{NASTY},x",
    "MigrationSubnets": f"{NASTY},subnet-2",
    "MigrationSecurityGroups": f"sg-1,{NASTY}",
    "AppSpecContainer": NASTY,
    "VerifyBaseUrl": f"http://{NASTY}",
    "VerifyPaths": f"/{NASTY},/ok",
    "ScanIgnore": f"{NASTY},CVE-2024-0001",
    "NetworkSubnets": f"{NASTY},subnet-2",
    "NetworkSecurityGroups": f"sg-1,{NASTY}",
    "PostMigrationContainer": NASTY,
    "PostMigrationCommand": f"{NASTY},y",
}


def test_every_string_parameter_is_json_escaped_in_the_registry_entry(platform_stack):
    session, _, _ = platform_stack
    stack, _ = deploy_service(
        session, "berth-nasty", dict(WEB, ServiceName="nasty", ScanBlockSeverities="CRITICAL", **ESCAPED_PARAMETERS)
    )
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    entry = registry_entry(session, "nasty")  # json.loads succeeded
    assert entry["ecs_service"] == NASTY
    assert entry["task_family"] == NASTY
    assert entry["containers"] == {NASTY: f"web/{NASTY}", "nginx": "web/nginx"}
    assert entry["push_trigger"] == {"container": NASTY, "tag_pattern": NASTY}
    assert entry["migration"]["container"] == NASTY
    assert entry["migration"]["command"] == [NASTY, "x"]
    assert entry["migration"]["subnets"] == [NASTY, "subnet-2"]
    assert entry["migration"]["security_groups"] == ["sg-1", NASTY]
    assert entry["appspec"]["container"] == NASTY
    assert entry["verify"]["base_url"] == f"http://{NASTY}"
    assert [c["path"] for c in entry["verify"]["checks"]] == [f"/{NASTY}", "/ok"]
    assert entry["scan"]["ignore"] == [NASTY, "CVE-2024-0001"]
    assert entry["network"] == {"subnets": [NASTY, "subnet-2"], "security_groups": ["sg-1", NASTY], "assign_public_ip": False}
    assert entry["post_migration"] == {"container": NASTY, "command": [NASTY, "y"], "timeout_seconds": 1800}


def test_string_parameters_of_the_registry_entry_refuse_what_escaping_does_not_cover():
    """Parameters that reach the JSON either have a pattern without quotes and backslashes (and are
    not escaped) or are escaped; all of them refuse control characters."""
    value = RESOURCES["RegistryParameter"]["Properties"]["Value"]["Fn::Sub"]
    template, variables = value
    used = set(re.findall(r"\$\{([A-Za-z]+)\}", template))
    for name, spec in TEMPLATE["Parameters"].items():
        if spec["Type"] == "Number" or "AllowedValues" in spec or not _reaches(RESOURCES["RegistryParameter"], name):
            continue
        if name == "PlatformStackName":  # only names the exports read, never part of the JSON
            continue
        pattern = re.compile(spec["AllowedPattern"])
        for bad in ("a\nb", "a\tb", "\x00"):
            assert not pattern.fullmatch(bad), (name, bad)
        if not pattern.fullmatch('a"b') and not pattern.fullmatch("a\\b"):
            continue  # its pattern keeps JSON specials out: it may go in as is
        if name in used:
            raise AssertionError(f"{name} goes into the JSON unescaped but its pattern allows quotes or backslashes")
        else:
            assert name in ESCAPED_PARAMETERS, f"{name} reaches the registry entry: escape it and test it"
    # The platform's pipeline name prefix goes in unescaped too.
    platform = load_template(PLATFORM_TEMPLATE)
    prefix = re.compile(platform["Parameters"]["PipelineNamePrefix"]["AllowedPattern"])
    assert not prefix.fullmatch('a"b') and not prefix.fullmatch("a\\b") and not prefix.fullmatch("a\nb")


def _reaches(node, parameter) -> bool:
    if isinstance(node, dict):
        if node.get("Ref") == parameter:
            return True
        if isinstance(node.get("Fn::Sub"), list) and f"${{{parameter}}}" in node["Fn::Sub"][0]:
            return True
        if isinstance(node.get("Fn::Sub"), str) and f"${{{parameter}}}" in node["Fn::Sub"]:
            return True
        return any(_reaches(v, parameter) for v in node.values())
    if isinstance(node, list):
        return any(_reaches(v, parameter) for v in node)
    return False


def test_every_pipeline_name_fits_codepipeline():
    """CodePipeline API reference: pipeline names have "Maximum length of 100". CloudFormation Rules
    cannot measure a string nor read the platform's export, so the platform bounds its prefix
    instead: the longest prefix plus the longest service name is 100."""
    platform = load_template(PLATFORM_TEMPLATE)
    prefix_max = int(re.search(r"\{1,(\d+)\}\$$", platform["Parameters"]["PipelineNamePrefix"]["AllowedPattern"])[1])
    service_max = int(re.search(r"\{1,(\d+)\}\$$", TEMPLATE["Parameters"]["ServiceName"]["AllowedPattern"])[1])
    assert prefix_max + service_max == 100
    assert re.fullmatch(platform["Parameters"]["PipelineNamePrefix"]["AllowedPattern"], "p" * 36)
    assert not re.fullmatch(platform["Parameters"]["PipelineNamePrefix"]["AllowedPattern"], "p" * 37)


def test_migration_timeout_stays_an_hour_under_codepipelines_24_hours():
    parameter = TEMPLATE["Parameters"]["MigrationTimeoutSeconds"]
    assert (parameter["MinValue"], parameter["MaxValue"]) == (1, 82800)


@pytest.mark.parametrize(
    "missing",
    [
        {"MigrationSubnets": ""},
        {"MigrationSecurityGroups": ""},
        {"MigrationCommand": ""},
        {"MigrationSubnets": "", "MigrationSecurityGroups": "", "MigrationCommand": ""},
    ],
)
def test_a_migration_without_network_or_command_is_refused(missing):
    refused = failed_rules(TEMPLATE, {**WEB, **missing})
    assert len(refused) == len(missing)
    for parameter in missing:
        assert any(parameter in r for r in refused), (parameter, refused)


def test_complete_migrations_and_services_without_one_pass_the_rules():
    assert failed_rules(TEMPLATE, WEB) == []
    no_migration = {k: v for k, v in WEB.items() if not k.startswith("Migration")}
    assert failed_rules(TEMPLATE, no_migration) == []


def test_roles_of_the_service(platform_stack):
    session, _, _ = platform_stack
    deploy_service(session, "berth-web", WEB)
    iam = session.client("iam")
    names = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith("berth-web-")]
    assert sorted(n.split("-")[2] for n in names) == ["CodeDeployRole", "PipelineRole"]
    (codedeploy,) = [n for n in names if "CodeDeploy" in n]
    (policy,) = iam.list_role_policies(RoleName=codedeploy)["PolicyNames"]
    doc = iam.get_role_policy(RoleName=codedeploy, PolicyName=policy)["PolicyDocument"]
    doc = doc if isinstance(doc, dict) else __import__("ast").literal_eval(doc)
    (create,) = [st for st in doc["Statement"] if st["Sid"] == "CreateReplacementTaskSet"]
    assert create["Condition"] == {
        "ArnEquals": {
            "ecs:cluster": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod",
            "ecs:service": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/web",
        }
    }
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
    # "(none)" is not a legal release name: executions berth did not start are recognised.
    assert {v["Name"]: v["DefaultValue"] for v in p["Variables"]} == {
        "BERTH_SERVICE": "(none)",
        "BERTH_RELEASE": "(none)",
        "BERTH_ROLLBACK": "false",
    }
    assert not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", "(none)")
    assert [s["Name"] for s in p["Stages"]] == ["Source", "Release"]


def test_one_release_stage_migrates_then_deploys_under_one_stage_lock():
    (release,) = [s for s in _pipeline()["Stages"] if s["Name"] == "Release"]
    # Scan (only with a scan policy) ▸ Migrate ▸ Deploy.
    assert [(_unwrap(a)["Name"], _unwrap(a)["RunOrder"]) for a in release["Actions"]] == [
        ("Scan", 1),
        ("Migrate", {"Fn::If": ["HasScan", 2, 1]}),
        ("Deploy", {"Fn::If": ["HasScan", 3, 2]}),
        ("PostMigrate", {"Fn::If": ["HasScan", 4, 3]}),
    ]
    assert release["Actions"][0]["Fn::If"][0] == "HasScan"
    # The contract step only with a post migration, after Deploy in the same stage.
    assert release["Actions"][3]["Fn::If"][0] == "HasPostMigration"
    assert release["Actions"][3]["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    # The Deploy action names the deployment group by Ref, so the pipeline waits for it (and is
    # deleted before it); a DependsOn could not name a resource that exists only with CODE_DEPLOY.
    assert "DependsOn" not in RESOURCES["Pipeline"]
    assert _action("Deploy")["Configuration"]["DeploymentGroupName"] == {"Ref": "DeploymentGroup"}


def test_source_action_reads_the_service_artifact_without_polling():
    (action,) = _pipeline()["Stages"][0]["Actions"]
    assert action["Name"] == "Source"  # on-manifest names it in sourceRevisions
    assert action["ActionTypeId"] == {"Category": "Source", "Owner": "AWS", "Provider": "S3", "Version": "1"}
    cfg = action["Configuration"]
    assert cfg["S3ObjectKey"] == {"Fn::Sub": "artifacts/${ServiceName}/source.zip"}
    assert cfg["PollForSourceChanges"] is False
    assert cfg["S3Bucket"] == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-ReleaseBucketName"}}


def _unwrap(action):
    """An optional action is {"Fn::If": [condition, action, AWS::NoValue]}."""
    return action["Fn::If"][1] if "Fn::If" in action else action


def _action(name):
    (action,) = [_unwrap(a) for s in _pipeline()["Stages"] for a in s["Actions"] if _unwrap(a)["Name"] == name]
    return action


def test_migrate_action_passes_the_release_and_rollback_variables():
    action = _action("Migrate")
    assert action["ActionTypeId"] == {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"}
    assert action["Configuration"]["UserParameters"] == (
        '{"release":"#{variables.BERTH_RELEASE}","rollback":"#{variables.BERTH_ROLLBACK}","execution":"#{codepipeline.PipelineExecutionId}"}'
    )
    assert action["Configuration"]["FunctionName"] == {
        "Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-MigrateFunctionName"}
    }
    assert action["InputArtifacts"] == [{"Name": "Release"}]
    # The artifact rendered under the Release stage's lock, from what the service runs then.
    assert action["OutputArtifacts"] == [{"Name": "DeployArtifact"}]


def test_deploy_action_deploys_what_migrate_rendered_without_image_placeholders():
    action = _action("Deploy")
    assert action["ActionTypeId"]["Provider"] == "CodeDeployToECS"
    # Not the Source artifact: on-manifest rendered it at upload, before the releases queued
    # ahead of this one deployed.
    assert action["InputArtifacts"] == [{"Name": "DeployArtifact"}]
    cfg = action["Configuration"]
    assert cfg["TaskDefinitionTemplateArtifact"] == "DeployArtifact"
    assert cfg["TaskDefinitionTemplatePath"] == "taskdef.json"
    assert cfg["AppSpecTemplateArtifact"] == "DeployArtifact"
    assert cfg["AppSpecTemplatePath"] == "appspec.yaml"
    assert not any(k.startswith("Image") for k in cfg)


def test_deployment_group_is_blue_green_with_auto_rollback():
    dg = RESOURCES["DeploymentGroup"]["Properties"]
    assert dg["DeploymentStyle"] == {"DeploymentType": "BLUE_GREEN", "DeploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert dg["DeploymentConfigName"] == {"Ref": "DeploymentConfigName"}
    assert TEMPLATE["Parameters"]["DeploymentConfigName"]["Default"] == "CodeDeployDefault.ECSAllAtOnce"
    # DEPLOYMENT_STOP_ON_REQUEST: berth rollback during a deployment (StopDeployment) returns
    # traffic to blue, and so does a hold nobody promoted in time.
    assert dg["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"],
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



VERIFY = {
    "VerifyBaseUrl": "http://internal-web-123.ap-northeast-1.elb.amazonaws.com:8080",
    "VerifyPaths": "/health,/ready",
    "VerifyExpectedStatus": 204,
    "VerifyAttempts": 4,
    "VerifyIntervalSeconds": 15,
}


def test_verify_section_is_built_from_the_parameters(platform_stack):
    session, _, _ = platform_stack
    stack, _ = deploy_service(session, "berth-web", {**WEB, **VERIFY})
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert registry_entry(session, "web")["verify"] == {
        "base_url": "http://internal-web-123.ap-northeast-1.elb.amazonaws.com:8080",
        "checks": [{"path": "/health", "status": 204}, {"path": "/ready", "status": 204}],
        "attempts": 4,
        "interval_seconds": 15,
        "timeout_seconds": 5,
    }


def test_no_verify_base_url_no_verify_section_and_defaults_check_the_root(platform_stack):
    session, _, _ = platform_stack
    deploy_service(session, "berth-web", WEB)
    assert "verify" not in registry_entry(session, "web")
    deploy_service(session, "berth-api", {**WEB, "ServiceName": "api", "VerifyBaseUrl": "https://api.test:8443"})
    assert registry_entry(session, "api")["verify"] == {
        "base_url": "https://api.test:8443",
        "checks": [{"path": "/", "status": 200}],
        "attempts": 3,
        "interval_seconds": 10,
        "timeout_seconds": 5,
    }


def test_codedeploy_may_invoke_the_verify_function_only():
    statements = RESOURCES["CodeDeployRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    invokes = [st for st in statements if "lambda:InvokeFunction" in str(st.get("Action"))]
    assert invokes == [
        {
            "Sid": "InvokeVerifyHook",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-VerifyFunctionArn"}},
        }
    ]


def test_traffic_reroute_wait_holds_for_promotion_then_stops_the_deployment():
    dg = RESOURCES["DeploymentGroup"]["Properties"]
    assert dg["BlueGreenDeploymentConfiguration"]["DeploymentReadyOption"] == {
        "Fn::If": [
            "HasRerouteWait",
            {"ActionOnTimeout": "STOP_DEPLOYMENT", "WaitTimeInMinutes": {"Ref": "TrafficRerouteWaitMinutes"}},
            {"ActionOnTimeout": "CONTINUE_DEPLOYMENT", "WaitTimeInMinutes": 0},
        ]
    }
    assert TEMPLATE["Parameters"]["TrafficRerouteWaitMinutes"]["Default"] == 0
    assert TEMPLATE["Conditions"]["HasRerouteWait"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "TrafficRerouteWaitMinutes"}, 0]}]
    }


ALB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/web/50dc6c495c0c9188"
TARGET_GROUPS = {
    "LoadBalancerArn": ALB,
    "BlueTargetGroupArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web-blue/73e2d6bc24d8a067",
    "GreenTargetGroupArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/web-green/2453ed029918f21f",
}
TARGET_GROUP_ALARMS = ("BlueTarget5xxAlarm", "GreenTarget5xxAlarm", "BlueUnhealthyHostsAlarm", "GreenUnhealthyHostsAlarm")


def test_alarms_watch_both_target_groups_because_codedeploy_swaps_them(platform_stack):
    session, _, _ = platform_stack
    stack, skipped = deploy_service(session, "berth-web", {**WEB, **TARGET_GROUPS})
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert set(skipped) == MOTO_CANNOT_CREATE | {"AWS::CloudWatch::Alarm"}  # moto has no CloudFormation alarms

    dims = {}
    for logical in TARGET_GROUP_ALARMS:
        alarm = RESOURCES[logical]
        assert alarm["Condition"] == "HasTargetGroupAlarms"
        props = alarm["Properties"]
        assert props["Namespace"] == "AWS/ApplicationELB"
        assert props["TreatMissingData"] == "notBreaching"  # the idle target group has no data
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        metric = props["MetricName"]
        assert metric == ("HTTPCode_Target_5XX_Count" if "5xx" in logical else "UnHealthyHostCount")
        dims[logical] = {d["Name"]: d["Value"] for d in props["Dimensions"]}
    # The metric dimensions are the ARN suffixes: "app/<name>/<id>" and "targetgroup/<name>/<id>".
    for logical, d in dims.items():
        colour = "Blue" if logical.startswith("Blue") else "Green"
        assert d["TargetGroup"] == {"Fn::Select": [5, {"Fn::Split": [":", {"Ref": f"{colour}TargetGroupArn"}]}]}
        assert d["LoadBalancer"] == {"Fn::Select": [1, {"Fn::Split": [":loadbalancer/", {"Ref": "LoadBalancerArn"}]}]}
    assert ALB.split(":loadbalancer/")[1] == "app/web/50dc6c495c0c9188"
    assert TARGET_GROUPS["BlueTargetGroupArn"].split(":")[5] == "targetgroup/web-blue/73e2d6bc24d8a067"



def _deployment_group_alarm_refs():
    """Every resource the deployment group's AlarmConfiguration names, by logical id."""
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"Ref"} and node["Ref"] in RESOURCES:
                refs.append(node["Ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(RESOURCES["DeploymentGroup"]["Properties"]["AlarmConfiguration"])
    return refs


def test_an_alarm_about_blue_never_stops_the_deployment_of_its_replacement():
    # CodeDeploy stops a deployment on the alarms of its AlarmConfiguration, whichever task set the
    # alarm is about, and "If you do another deployment, the target group associated with the
    # current deployment's original task set is associated with the next deployment's replacement
    # task set": a target group alarm is about blue every other deployment. During an incident
    # blue's is the one in ALARM, so none of them may be in the deployment group.
    refs = _deployment_group_alarm_refs()
    for logical in refs:
        dims = RESOURCES[logical].get("Properties", {}).get("Dimensions", [])
        assert "TargetGroup" not in {d["Name"] for d in dims}, logical
    assert not set(TARGET_GROUP_ALARMS) & set(refs)
    assert "HasAnyAlarm" not in TEMPLATE["Conditions"]


def test_alarms_about_the_new_version_still_stop_and_roll_back():
    # The caller's RollbackAlarmNames (alarms about the new version or the whole service) stay in
    # the group, and an alarm stopping a deployment rolls it back (DEPLOYMENT_STOP_ON_ALARM).
    config = RESOURCES["DeploymentGroup"]["Properties"]["AlarmConfiguration"]["Fn::If"]
    assert config[0] == "HasAlarm1"
    names = config[1]["Alarms"]
    names_list = {"Fn::Split": [",", {"Ref": "RollbackAlarmNames"}]}
    assert {"Name": {"Fn::Select": [0, names_list]}} in names
    for i in range(1, 5):
        assert {"Fn::If": [f"HasAlarm{i + 1}", {"Name": {"Fn::Select": [i, names_list]}}, {"Ref": "AWS::NoValue"}]} in names
    # CloudFormation reference, AlarmConfiguration: "A maximum of 10 alarms can be added."
    assert len(names) <= 10
    events = RESOURCES["DeploymentGroup"]["Properties"]["AutoRollbackConfiguration"]["Events"]
    assert "DEPLOYMENT_STOP_ON_ALARM" in events
    # verify's Failed verdict (its checks run on the test listener, i.e. on green only) fails
    # the deployment, and DEPLOYMENT_FAILURE rolls it back.
    assert "DEPLOYMENT_FAILURE" in events


def test_target_group_alarms_go_to_verify_which_rolls_back_only_the_version_they_are_about(platform_stack):
    # The alarms stay out of the deployment group (above); their changes to ALARM go to verify,
    # which stops the deployment in flight only when the alarm is about its replacement task
    # set's target group (tests/tests/verify.rs shows both cases). "CloudWatch sends events to
    # Amazon EventBridge whenever a CloudWatch alarm is created, updated, deleted, or changes
    # alarm state" (CloudWatch User Guide, "Alarm events and EventBridge").
    assert TEMPLATE["Conditions"]["HasAlarmRollback"] == {
        "Fn::And": TEMPLATE["Conditions"]["HasTargetGroupAlarms"]["Fn::And"]
        + [{"Fn::Equals": [{"Ref": "DeploymentController"}, "CODE_DEPLOY"]}]
    }
    rule = RESOURCES["TargetGroupAlarmRule"]
    assert (rule["Type"], rule["Condition"]) == ("AWS::Events::Rule", "HasAlarmRollback")
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.cloudwatch"]
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    # The event names the alarm by ARN (arn:...:cloudwatch:<region>:<account>:alarm:<name>).
    arn = "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${%s}"
    assert sorted(r["Fn::Sub"] for r in pattern["resources"]) == sorted(arn % a for a in TARGET_GROUP_ALARMS)
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}, "only a change to ALARM acts"
    verify = {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-VerifyFunctionArn"}}
    assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [verify]
    permission = RESOURCES["TargetGroupAlarmPermission"]
    assert permission["Condition"] == "HasAlarmRollback"
    assert permission["Properties"] == {
        "FunctionName": verify,
        "Action": "lambda:InvokeFunction",
        "Principal": "events.amazonaws.com",
        "SourceArn": {"Fn::GetAtt": ["TargetGroupAlarmRule", "Arn"]},
    }
    # The registry entry lists the four alarms (Ref of an alarm is its name), so verify knows
    # whose they are; an ECS-controlled service gets neither the rule nor the list.
    alarms_json = RESOURCES["RegistryParameter"]["Properties"]["Value"]["Fn::Sub"][1]["AlarmsJson"]["Fn::If"]
    assert alarms_json[0] == "HasAlarmRollback" and alarms_json[2] == ""
    text, names = alarms_json[1]["Fn::Sub"]
    assert sorted(v["Ref"] for v in names.values()) == sorted(TARGET_GROUP_ALARMS)
    for key in names:
        text = text.replace("${" + key + "}", f"berth-web-{key}")
    assert json.loads("{" + text.lstrip(",") + "}") == {"target_group_alarms": [f"berth-web-{k}" for k in "ABCD"]}
    session, _, _ = platform_stack
    stack, _ = deploy_service(session, "berth-web", {**WEB, **TARGET_GROUPS})
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert len(registry_entry(session, "web")["target_group_alarms"]) == 4


def test_target_group_alarms_need_all_three_arns_and_can_be_turned_off():
    condition = TEMPLATE["Conditions"]["HasTargetGroupAlarms"]["Fn::And"]
    assert {"Fn::Equals": [{"Ref": "CreateTargetGroupAlarms"}, "true"]} in condition
    for parameter in TARGET_GROUPS:
        assert {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]} in condition
    assert TEMPLATE["Parameters"]["CreateTargetGroupAlarms"]["Default"] == "true"
    for parameter, value in TARGET_GROUPS.items():
        pattern = re.compile(TEMPLATE["Parameters"][parameter]["AllowedPattern"])
        assert pattern.fullmatch(value) and pattern.fullmatch("")



SCAN = {"ScanBlockSeverities": "CRITICAL,HIGH", "ScanWaitSeconds": 600, "ScanIgnore": "CVE-2024-0001"}


def test_scan_policy_adds_the_scan_section_action_and_grants(platform_stack):
    session, _, _ = platform_stack
    params = {**WEB, **SCAN, "Containers": f"app=web/app,nginx={ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/shared/nginx"}
    stack, _ = deploy_service(session, "berth-web", params)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert registry_entry(session, "web")["scan"] == {"block": ["CRITICAL", "HIGH"], "wait_seconds": 600, "ignore": ["CVE-2024-0001"]}

    scan = _action("Scan")
    assert scan["ActionTypeId"] == {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"}
    assert scan["Configuration"]["UserParameters"] == _action("Migrate")["Configuration"]["UserParameters"]
    assert scan["Configuration"]["FunctionName"] == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-ScanGateFunctionName"}}

    # No per-service policy: scan-gate reads the repositories of the platform's own grant
    # (test_scan_gate_role_reads_the_scan_findings_of_the_repositories_on_manifest_resolves).
    iam = session.client("iam")
    (role,) = [r["RoleName"] for r in iam.list_roles()["Roles"] if "-ScanGateRole-" in r["RoleName"]]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["scan-gate"]


def test_without_a_scan_policy_there_is_no_scan_section_nor_grant(platform_stack):
    session, _, _ = platform_stack
    deploy_service(session, "berth-web", WEB)
    assert "scan" not in registry_entry(session, "web")
    iam = session.client("iam")
    (role,) = [r["RoleName"] for r in iam.list_roles()["Roles"] if "-ScanGateRole-" in r["RoleName"]]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["scan-gate"]
    (invoke,) = [
        st["Fn::If"] for st in RESOURCES["PipelineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        if "Fn::If" in st and st["Fn::If"][0] == "HasScan"
    ]
    assert invoke[0] == "HasScan" and invoke[1]["Sid"] == "InvokeScanGate"


def _platform_role_policies(session) -> dict:
    iam = session.client("iam")
    return {
        r["RoleName"]: sorted(iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"])
        + sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=r["RoleName"])["AttachedPolicies"])
        for r in iam.list_roles()["Roles"]
        if r["RoleName"].startswith("berth-platform-")
    }


def test_adding_services_never_edits_a_platform_role(platform_stack):
    """IAM caps a role's inline policies at 10,240 characters in total and its managed policies at
    10 (20 at most): a per-service grant on a shared role would cap the services of one install. No
    service stack, of any kind, attaches anything to the platform's roles."""
    session, _, _ = platform_stack
    before = _platform_role_policies(session)
    for i, extra in enumerate(({}, VERIFY, SCAN, ECS, {**ECS, **SCAN})):
        stack, _ = deploy_service(session, f"berth-svc{i}", {**WEB, **extra, "ServiceName": f"svc{i}"})
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert _platform_role_policies(session) == before
    assert not [n for n, r in RESOURCES.items() if r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy")]


def _berth_cli():
    """The compiled `berth` command (make test builds it first)."""
    import os
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    cli = pathlib.Path(os.environ.get("BERTH_CLI", root / "target" / "debug" / "berth"))
    if not cli.exists():
        pytest.skip(f"{cli} is not built (make test builds it before these checks)")
    return cli


def test_the_functions_accept_every_entry_the_stack_writes(platform_stack, tmp_path):
    """The functions refuse unknown fields and check every section: each entry the stack can
    write must pass `berth validate --registry`, which runs the functions' own parser."""
    import subprocess

    cli = _berth_cli()
    session, _, _ = platform_stack
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"schema": "berth/v1", "service": "web", "release": "v1",
        "images": {"app": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web/app:v1"}}))
    # An ECS-controlled service's entry has no deployment section.
    # A task target's entry has task_target, network and no ecs_service, appspec or verify.
    variants = ({}, VERIFY, SCAN, {**VERIFY, **SCAN}, {"DeploymentController": "ECS"}, NETWORK,
                {**TASK_ONLY, **NETWORK}, {**TASK_ONLY, "TaskSchedules": "", "TaskRules": ""})
    for i, extra in enumerate(variants):
        name = f"web{i}"
        base = {**WEB, "ProdListenerArn": ""} if extra.get("DeploymentController") == "TASK" else WEB
        if extra.get("DeploymentController") == "TASK":
            base = {k: v for k, v in base.items() if k not in ("AppSpecContainer", "AppSpecPort")}
        stack, _ = deploy_service(session, f"berth-{name}", {**base, **extra, "ServiceName": name})
        assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
        entry = tmp_path / "entry.json"
        entry.write_text(json.dumps(_entry(session, name)))
        done = subprocess.run([cli, "validate", manifest, "--registry", entry], capture_output=True, text=True)
        assert done.returncode == 0, f"{extra}: {done.stdout}{done.stderr}"


def test_the_most_verify_attempts_the_stack_accepts_make_a_usable_entry(platform_stack, tmp_path):
    """The template's bound on VerifyAttempts is the registry's (1 to 10): an entry the stack
    writes at its largest value still passes the functions' own parser."""
    import subprocess

    cli = _berth_cli()
    session, _, _ = platform_stack
    most = TEMPLATE["Parameters"]["VerifyAttempts"]["MaxValue"]
    params = {**WEB, **VERIFY, "VerifyAttempts": most, "VerifyIntervalSeconds": 1,
              "ServiceName": "webmax"}
    stack, _ = deploy_service(session, "berth-webmax", params)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"schema": "berth/v1", "service": "webmax", "release": "v1",
        "images": {"app": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/web/app:v1"}}))
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps(registry_entry(session, "webmax")))
    done = subprocess.run([cli, "validate", manifest, "--registry", entry], capture_output=True, text=True)
    assert done.returncode == 0, f"VerifyAttempts={most}: {done.stdout}{done.stderr}"




# ------------------------------------------------------------------ DeploymentController


ECS = {**{k: v for k, v in WEB.items() if k not in ("ProdListenerArn", "TestListenerArn", "BlueTargetGroupName", "GreenTargetGroupName", "RollbackAlarmNames")},
       "DeploymentController": "ECS", "ProdListenerArn": ""}
def test_the_default_controller_is_code_deploy_so_existing_stacks_update_unchanged():
    parameter = TEMPLATE["Parameters"]["DeploymentController"]
    assert (parameter["Default"], sorted(parameter["AllowedValues"])) == ("CODE_DEPLOY", ["CODE_DEPLOY", "ECS", "TASK"])


def test_an_ecs_controlled_service_gets_no_codedeploy_resources_and_a_registry_entry_without_them(platform_stack):
    session, _, _ = platform_stack
    stack, skipped = deploy_service(session, "berth-web", ECS)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert set(skipped) == {"AWS::CodePipeline::Pipeline", "AWS::S3::BucketPolicy"}
    summaries = session.client("cloudformation").list_stack_resources(StackName="berth-web")["StackResourceSummaries"]
    assert {s["LogicalResourceId"] for s in summaries if s["LogicalResourceId"]} == {
        "RegistryParameter", "ArtifactBucket", "PipelineRole",
    }
    assert not {n for n, r in RESOURCES.items() if r["Type"].startswith("AWS::CodeDeploy::") and r.get("Condition") != "IsCodeDeploy"}
    assert RESOURCES["CodeDeployRole"]["Condition"] == "IsCodeDeploy"
    # The entry keeps its shape; an ECS-controlled service has no CodeDeploy application or group.
    expected = {k: v for k, v in WEB_REGISTRY_ENTRY.items() if k != "deployment"}
    value = session.client("ssm").get_parameter(Name="/berth/services/web")["Parameter"]["Value"]
    assert json.loads(value) == expected
    outputs = {o["OutputKey"] for o in stack.get("Outputs", [])}
    assert not {"CodeDeployApplicationName", "DeploymentGroupName"} & outputs


def test_the_ecs_deploy_action_invokes_deploy_after_migrate_with_migrates_artifact_and_parameters():
    (release,) = [s for s in _pipeline()["Stages"] if s["Name"] == "Release"]
    (deploy,) = [a for a in release["Actions"] if "Fn::If" in a and a["Fn::If"][0] == "IsCodeDeploy"]
    code_deploy, ecs = deploy["Fn::If"][1:]
    assert code_deploy["ActionTypeId"]["Provider"] == "CodeDeployToECS"
    migrate = _action("Migrate")
    assert ecs == {
        "Name": "Deploy",
        "ActionTypeId": {"Category": "Invoke", "Owner": "AWS", "Provider": "Lambda", "Version": "1"},
        "Configuration": {
            "FunctionName": {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-DeployFunctionName"}},
            "UserParameters": migrate["Configuration"]["UserParameters"],
        },
        "InputArtifacts": [{"Name": "DeployArtifact"}],
        "RunOrder": {"Fn::If": ["HasScan", 3, 2]},
    }
    assert migrate["RunOrder"] == {"Fn::If": ["HasScan", 2, 1]}  # Deploy runs right after Migrate
    assert migrate["OutputArtifacts"] == [{"Name": "DeployArtifact"}]


def _resolve(node, taken: dict):
    """The template fragment with Fn::If on the given conditions resolved and AWS::NoValue dropped;
    every other intrinsic function is left as it is."""
    if isinstance(node, dict):
        if "Fn::If" in node and node["Fn::If"][0] in taken:
            condition, yes, no = node["Fn::If"]
            return _resolve(yes if taken[condition] else no, taken)
        resolved = {k: (v, _resolve(v, taken)) for k, v in node.items()}
        return {k: r for k, (v, r) in resolved.items() if not _dropped(v, r, taken)}
    if isinstance(node, list):
        return [r for v, r in ((v, _resolve(v, taken)) for v in node) if not _dropped(v, r, taken)]
    return node


def _dropped(original, resolved, taken) -> bool:
    """An Fn::If on a resolved condition that chose AWS::NoValue disappears, as in CloudFormation."""
    chosen = isinstance(original, dict) and "Fn::If" in original and original["Fn::If"][0] in taken
    return chosen and resolved == {"Ref": "AWS::NoValue"}


def _rendering(controller: str) -> dict:
    taken = {"IsCodeDeploy": controller == "CODE_DEPLOY", "UsesDeployFunction": controller != "CODE_DEPLOY",
             "IsTaskTarget": controller == "TASK"}
    out = {}
    for name, resource in RESOURCES.items():
        if resource.get("Condition") in taken:
            if not taken[resource["Condition"]]:
                continue
            resource = {k: v for k, v in resource.items() if k != "Condition"}
        out[name] = _resolve(resource, taken)
    return out


def _digest(value) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


# Every resource of service.yaml before DeploymentController existed (commit bfb024c), as the
# first 16 hex digits of the SHA-256 of its canonical JSON (load_template, sort_keys, no spaces);
# without the per-service policies on the platform's roles, which no service stack has any more.
CODE_DEPLOY_RESOURCES = {
    "ArtifactBucket": "8add2bae16a571ff",
    "ArtifactBucketPolicy": "e5b18319edb01e32",
    "BlueTarget5xxAlarm": "94eab2c02f7b73fe",
    "BlueUnhealthyHostsAlarm": "bef0226d930f7c9f",
    "CodeDeployApplication": "0a599456ea17a48e",
    "CodeDeployRole": "d30dba9411f7f5ac",
    "DeploymentGroup": "6e54318a53667136",
    "GreenTarget5xxAlarm": "59717dc4affd5e80",
    "GreenUnhealthyHostsAlarm": "a9fb1c6e22178722",
    "Pipeline": "ab32575c6185a6f3",
    "PipelineRole": "0413b173ec3c1343",
    "RegistryParameter": "f982d0e46368c803",
}


def test_code_deploy_renders_the_resources_of_before_deployment_controller():
    rendering = _rendering("CODE_DEPLOY")
    # Two equivalent rewrites, undone here: the pipeline names the deployment group by Ref (the
    # same name, and the same create-first, delete-last order its DependsOn gave), and the registry
    # entry's deployment section moved into a variable (its value for web is checked word for word
    # in test_service_stack_creates_the_registry_entry_of_the_contract).
    pipeline = json.loads(json.dumps(rendering["Pipeline"]))
    (release,) = [s for s in pipeline["Properties"]["Stages"] if s["Name"] == "Release"]
    # Added since: the PostMigrate action, only with a post migration (its own tests above).
    release["Actions"] = [a for a in release["Actions"] if a.get("Fn::If", [None])[0] != "HasPostMigration"]
    deploy = [a for a in release["Actions"] if not ("Fn::If" in a) and a["Name"] == "Deploy"][0]
    assert deploy["Configuration"]["DeploymentGroupName"] == {"Ref": "DeploymentGroup"}
    deploy["Configuration"]["DeploymentGroupName"] = {"Ref": "ServiceName"}
    pipeline = {"Type": pipeline["Type"], "DependsOn": "DeploymentGroup", "Properties": pipeline["Properties"]}
    rendering["Pipeline"] = pipeline
    registry = rendering.pop("RegistryParameter")
    rendering.pop("PushIndexEntry", None)  # added since (the push index; its own tests below)
    for role in ("CodeDeployRole", "PipelineRole"):  # added since: RolePath, PermissionsBoundary (test_iam_inputs.py)
        rendering[role]["Properties"].pop("Path")
        rendering[role]["Properties"].pop("PermissionsBoundary", None)
    # Added since: the artifact bucket is retained explicitly (test_iam_inputs.py).
    assert rendering["ArtifactBucket"].pop("DeletionPolicy") == rendering["ArtifactBucket"].pop("UpdateReplacePolicy") == "Retain"
    # RollbackAlarmNames became a String (its pattern refuses a sixth name): each slot selects from
    # the same list, split where it is used.
    rendering["DeploymentGroup"] = json.loads(json.dumps(rendering["DeploymentGroup"]).replace(
        '{"Fn::Split": [",", {"Ref": "RollbackAlarmNames"}]}', '{"Ref": "RollbackAlarmNames"}'))
    # Added since: the target group alarms' changes to ALARM go to verify (their own tests below),
    # and their descriptions say so.
    for added in ("TargetGroupAlarmRule", "TargetGroupAlarmPermission"):
        assert rendering.pop(added)["Condition"] == "HasAlarmRollback"
    for alarm in ("BlueTarget5xxAlarm", "GreenTarget5xxAlarm", "BlueUnhealthyHostsAlarm", "GreenUnhealthyHostsAlarm"):
        props = rendering[alarm]["Properties"]
        now = props["AlarmDescription"]["Fn::Sub"]
        assert now.endswith("; rolls back a CodeDeploy deployment whose replacement task set serves this group, never one that replaces it.")
        props["AlarmDescription"]["Fn::Sub"] = now.replace(
            "; rolls back a CodeDeploy deployment whose replacement task set serves this group, never one that replaces it.",
            "; for operators, not wired into CodeDeploy (blue alarming must not stop the fix).")
    expected = dict(CODE_DEPLOY_RESOURCES)
    expected.pop("RegistryParameter")
    assert {name: _digest(r) for name, r in rendering.items()} == expected
    assert "IsCodeDeploy" in json.dumps(RESOURCES["RegistryParameter"]) and registry["Type"] == "AWS::SSM::Parameter"


def test_code_deploy_needs_its_listener_and_target_groups_and_ecs_does_not():
    assert failed_rules(TEMPLATE, WEB) == []
    refused = failed_rules(TEMPLATE, {**WEB, "ProdListenerArn": "", "BlueTargetGroupName": ""})
    assert len(refused) == 2 and all("CODE_DEPLOY" in r for r in refused)
    assert failed_rules(TEMPLATE, ECS) == []


# ------------------------------------------------------------------ no silently dropped list items


def _selected_parameters(node, out: dict):
    """{parameter: highest index} of every Fn::Select whose list comes from a parameter."""
    if isinstance(node, dict):
        if "Fn::Select" in node:
            index, source = node["Fn::Select"]
            # A list: a CommaDelimitedList parameter, or a value split on commas.
            comma_split = isinstance(source, dict) and "Fn::Split" in source and source["Fn::Split"][0] == ","
            for name in _refs(source):
                spec = TEMPLATE["Parameters"].get(name)
                if spec and isinstance(index, int) and (comma_split or spec["Type"] == "CommaDelimitedList"):
                    out[name] = max(out.get(name, 0), index)
        for value in node.values():
            _selected_parameters(value, out)
    elif isinstance(node, list):
        for value in node:
            _selected_parameters(value, out)
    return out


def _refs(node):
    if isinstance(node, dict):
        if "Ref" in node:
            yield node["Ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _items(n: int, make) -> str:
    return ",".join(make(i) for i in range(n))


def test_every_list_the_template_takes_apart_in_slots_refuses_more_items_than_slots():
    """A list parameter read item by item (Fn::Select) has one slot per item it reads: the
    parameter's own pattern must refuse any item past the last slot, so nothing is dropped
    silently. (Containers, the scan-gate grants and the registry entry are built whole.)"""
    lists = _selected_parameters(TEMPLATE["Conditions"], _selected_parameters(TEMPLATE["Resources"], {}))
    assert {"VerifyPaths": 4, "RollbackAlarmNames": 4}.items() <= lists.items()
    for name, top in lists.items():
        spec = TEMPLATE["Parameters"][name]
        assert spec["Type"] == "String", name  # a CommaDelimitedList's pattern applies per item
        pattern = re.compile(spec["AllowedPattern"])
        make = (lambda i: f"/p{i}") if name == "VerifyPaths" else (lambda i: f"item{i}=repo{i}")
        assert pattern.fullmatch(_items(top + 1, make)), name
        assert not pattern.fullmatch(_items(top + 2, make)), f"{name}: a {top + 2}th item would be dropped"
        assert str(top + 1) in spec["ConstraintDescription"], "the refusal names the limit"


def test_verify_paths_and_alarm_names_keep_their_item_rules():
    paths = re.compile(TEMPLATE["Parameters"]["VerifyPaths"]["AllowedPattern"])
    for value, ok in (("/", True), ("/health,/ready", True), ("health", False), ("/a,b", False), ("/a,", False), ("", False), ("/a\n", False)):
        assert bool(paths.fullmatch(value)) is ok, value
    alarms = re.compile(TEMPLATE["Parameters"]["RollbackAlarmNames"]["AllowedPattern"])
    for value, ok in (("", True), ("web-5xx", True), ("a,b", True), ("a,,b", False), (",a", False)):
        assert bool(alarms.fullmatch(value)) is ok, value


def test_five_verify_paths_all_reach_the_registry_entry(platform_stack):
    session, _, _ = platform_stack
    paths = _items(5, lambda i: f"/p{i}")
    stack, _ = deploy_service(session, "berth-web", {**WEB, **VERIFY, "VerifyPaths": paths})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    checks = registry_entry(session, "web")["verify"]["checks"]
    assert [c["path"] for c in checks] == paths.split(",")


def test_a_push_trigger_with_its_repository_writes_the_push_index_entry(platform_stack):
    """docs/reference/registry.md#the-push-index: <PushIndexPath>/<repository>/<service> = <service>."""
    session, _, _ = platform_stack
    ssm = session.client("ssm")
    stack, _ = deploy_service(session, "berth-indexed", {**WEB, "ServiceName": "indexed", "PushTriggerRepository": "web/app"})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    entry = ssm.get_parameter(Name="/berth/push-index/web/app/indexed")["Parameter"]
    assert (entry["Type"], entry["Value"]) == ("String", "indexed")
    # Without the repository (an older stack's parameters): no entry, the sweep releases its pushes.
    stack, _ = deploy_service(session, "berth-unindexed", {**WEB, "ServiceName": "unindexed"})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    listed = ssm.get_parameters_by_path(Path="/berth/push-index/web/app")["Parameters"]
    assert [p["Name"] for p in listed] == ["/berth/push-index/web/app/indexed"]


def test_a_push_index_repository_needs_a_push_trigger():
    assert failed_rules(TEMPLATE, {**WEB, "PushTriggerRepository": "web/app"}) == []
    manifest_only = {**WEB, "PushTriggerContainer": "", "PushTriggerRepository": "web/app"}
    assert any("PushTriggerRepository" in f for f in failed_rules(TEMPLATE, manifest_only))
    pattern = re.compile(TEMPLATE["Parameters"]["PushTriggerRepository"]["AllowedPattern"])
    for value, ok in (("", True), ("web/app", True), ("a/b.c/d-e_f", True), ("Web/App", False),
                      ("web//app", False), ("/web/app", False)):
        assert bool(pattern.fullmatch(value)) is ok, value



# ------------------------------------------------------------------ task targets (DeploymentController TASK)

TASK_ONLY = {
    "DeploymentController": "TASK",
    "TaskSchedules": "name=nightly-report|group=berth-report,name=weekly-report",
    "TaskRules": f"rule=hourly-report|target_id=report,rule=on-upload|target_id=t.1|event_bus=arn:aws:events:{REGION}:{ACCOUNT}:event-bus/uploads",
}
NETWORK = {"NetworkSubnets": "subnet-1,subnet-2", "NetworkSecurityGroups": "sg-1", "NetworkAssignPublicIp": "true"}
REPORT = {
    "ServiceName": "report",
    "ClusterName": "prod",
    "Containers": "job=report/job",
    "PushTriggerContainer": "job",
    "PushTriggerTagPattern": "^v[0-9]+$",
    "TaskExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/report-task-execution",
    "ProdListenerArn": "",
    **TASK_ONLY,
}

# /work/plan: the registry entry of a task target, word for word (docs/reference/registry.md).
REPORT_REGISTRY_ENTRY = {
    "service": "report",
    "cluster": "prod",
    "pipeline": "berth-report",
    "task_family": "report",
    "containers": {"job": "report/job"},
    "push_trigger": {"container": "job", "tag_pattern": "^v[0-9]+$"},
    "migration": None,
    "task_target": {
        "schedules": [{"name": "nightly-report", "group": "berth-report"}, {"name": "weekly-report"}],
        "rules": [
            {"rule": "hourly-report", "target_id": "report"},
            {"rule": "on-upload", "target_id": "t.1", "event_bus": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/uploads"},
        ],
    },
}


def _entry(session, service: str) -> dict:
    value = session.client("ssm").get_parameter(Name=f"/berth/services/{service}")["Parameter"]
    assert value["Type"] == "String"
    return json.loads(value["Value"])


def test_a_task_target_gets_its_schedules_and_rules_in_the_entry_and_no_service_sections(platform_stack):
    session, _, _ = platform_stack
    stack, skipped = deploy_service(session, "berth-report", REPORT)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert set(skipped) == {"AWS::CodePipeline::Pipeline", "AWS::S3::BucketPolicy"}
    summaries = session.client("cloudformation").list_stack_resources(StackName="berth-report")["StackResourceSummaries"]
    assert {s["LogicalResourceId"] for s in summaries if s["LogicalResourceId"]} == {"RegistryParameter", "ArtifactBucket", "PipelineRole"}
    # No ecs_service, appspec, deployment or verify: the registry refuses them beside task_target.
    assert _entry(session, "report") == REPORT_REGISTRY_ENTRY
    outputs = {o["OutputKey"] for o in stack.get("Outputs", [])}
    assert not {"CodeDeployApplicationName", "DeploymentGroupName"} & outputs


def test_a_task_target_without_schedules_or_rules_is_register_only(platform_stack):
    session, _, _ = platform_stack
    stack, _ = deploy_service(session, "berth-report", {**REPORT, "TaskSchedules": "", "TaskRules": ""})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert _entry(session, "report")["task_target"] == {"schedules": [], "rules": []}


def test_the_network_section_is_written_for_any_entry_when_given(platform_stack):
    session, _, _ = platform_stack
    stack, _ = deploy_service(session, "berth-web", {**WEB, **NETWORK})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    entry = _entry(session, "web")
    assert entry["network"] == {"subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"], "assign_public_ip": True}
    assert {k: v for k, v in entry.items() if k != "network"} == WEB_REGISTRY_ENTRY
    stack, _ = deploy_service(session, "berth-report", {**REPORT, "NetworkSubnets": "subnet-1"})
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    assert _entry(session, "report")["network"] == {"subnets": ["subnet-1"], "security_groups": [], "assign_public_ip": False}


def test_a_task_target_deploys_with_the_deploy_function_like_an_ecs_controlled_service():
    """Source -> Release [Scan?] -> Migrate -> Deploy invoking <prefix>-deploy: TASK takes the
    Lambda branch of the Deploy action, and its pipeline role may invoke deploy and no CodeDeploy."""
    rendering = _rendering("TASK")
    assert not {n for n, r in RESOURCES.items() if r["Type"].startswith("AWS::CodeDeploy::")} & set(rendering)
    (release,) = [s for s in rendering["Pipeline"]["Properties"]["Stages"] if s["Name"] == "Release"]
    assert [a["Name"] for a in release["Actions"] if "Name" in a][-2:] == ["Migrate", "Deploy"]
    deploy = [a for a in release["Actions"] if a.get("Name") == "Deploy"][-1]
    assert deploy["ActionTypeId"]["Provider"] == "Lambda"
    assert deploy["Configuration"]["FunctionName"] == {"Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-DeployFunctionName"}}
    sids = [st["Sid"] for st in rendering["PipelineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"] if isinstance(st, dict) and "Sid" in st]
    assert "InvokeDeploy" in sids and not {"DeployWithCodeDeploy", "RegisterRevision", "PassTaskRolesToEcs"} & set(sids)
    assert rendering == {**_rendering("ECS"), "RegistryParameter": rendering["RegistryParameter"]}


def test_task_targets_and_services_refuse_each_others_settings():
    task = {k: v for k, v in REPORT.items() if k not in ("AppSpecContainer", "AppSpecPort")}
    assert failed_rules(TEMPLATE, task) == []
    refused = failed_rules(TEMPLATE, {**task, "VerifyBaseUrl": "http://test:8080", "EcsServiceName": "report", "AppSpecContainer": "job"})
    assert len(refused) == 3 and all("TASK" in r for r in refused)
    # A service needs its appspec container and port, and has no schedules or rules.
    assert failed_rules(TEMPLATE, ECS) == []
    refused = failed_rules(TEMPLATE, {**ECS, "AppSpecContainer": "", "AppSpecPort": 0, "TaskSchedules": "name=a"})
    assert [r.split(" needs ")[1].split(",")[0] if " needs " in r else r for r in refused] == [
        "AppSpecContainer", "AppSpecPort", "TaskSchedules and TaskRules belong to a task target (DeploymentController TASK).",
    ]
    # The network section needs subnets.
    assert len(failed_rules(TEMPLATE, {**WEB, "NetworkSecurityGroups": "sg-1"})) == 1
    assert len(failed_rules(TEMPLATE, {**WEB, "NetworkAssignPublicIp": "true"})) == 1
    assert failed_rules(TEMPLATE, {**WEB, **NETWORK}) == []


def test_schedule_and_rule_items_follow_the_api_references_and_stop_at_20():
    schedules = re.compile(TEMPLATE["Parameters"]["TaskSchedules"]["AllowedPattern"])
    for value, ok in (("", True), ("name=a", True), ("name=a|group=default", True), ("name=a.b_c-D9", True),
                      ("name=" + "n" * 64, True), ("name=" + "n" * 65, False), ("group=g|name=a", False),
                      ("name=a b", False), ("name=a/b", False), ("name=a,", False), ("name=a|group=", False),
                      (_items(20, lambda i: f"name=s{i}"), True), (_items(21, lambda i: f"name=s{i}"), False)):
        assert bool(schedules.fullmatch(value)) is ok, value
    rules = re.compile(TEMPLATE["Parameters"]["TaskRules"]["AllowedPattern"])
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/uploads"
    for value, ok in (("", True), ("rule=r|target_id=t", True), (f"rule=r|target_id=t|event_bus={bus}", True),
                      ("rule=r|target_id=t|event_bus=aws.partner/example.com/1", True), ("rule=r", False),
                      ("target_id=t|rule=r", False), ("rule=r|target_id=t|event_bus=", False),
                      ("rule=r|target_id=" + "t" * 65, False), ("rule=r|target_id=t|event_bus=a b", False),
                      (_items(20, lambda i: f"rule=r{i}|target_id=t"), True), (_items(21, lambda i: f"rule=r{i}|target_id=t"), False)):
        assert bool(rules.fullmatch(value)) is ok, value


def test_post_migrate_action_is_the_migrate_function_told_post_on_the_deployed_artifact():
    action = _action("PostMigrate")
    assert action["Configuration"]["FunctionName"] == {
        "Fn::ImportValue": {"Fn::Sub": "${PlatformStackName}-MigrateFunctionName"}
    }
    params = json.loads(action["Configuration"]["UserParameters"])
    assert params["migration"] == "post"
    assert params["rollback"] == "#{variables.BERTH_ROLLBACK}"
    assert action["InputArtifacts"] == [{"Name": "DeployArtifact"}]
    assert "OutputArtifacts" not in action


def test_a_post_migration_is_written_to_the_registry_and_needs_a_command(platform_stack):
    session, _, _ = platform_stack
    params = dict(WEB, PostMigrationContainer="app", PostMigrationCommand="bin/rails,db:contract",
                  PostMigrationTimeoutSeconds="600")
    stack, _ = deploy_service(session, "berth-web", params)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    entry = registry_entry(session, "web")
    assert entry["post_migration"] == {"container": "app", "command": ["bin/rails", "db:contract"],
                                       "timeout_seconds": 600}
    assert failed_rules(TEMPLATE, params) == []
    no_command = failed_rules(TEMPLATE, {**params, "PostMigrationCommand": ""})
    assert len(no_command) == 1 and "PostMigrationCommand" in no_command[0], no_command
    no_migration = {k: v for k, v in params.items() if not k.startswith("Migration")}
    nowhere = failed_rules(TEMPLATE, no_migration)
    assert len(nowhere) == 1 and "NetworkSubnets (or MigrationSubnets)" in nowhere[0], nowhere
    assert failed_rules(TEMPLATE, {**no_migration, "NetworkSubnets": "subnet-1"}) == []
