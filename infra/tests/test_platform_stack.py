"""platform.yaml deployed into moto's CloudFormation."""

from __future__ import annotations

import ast
import json
import re

from conftest import (
    ACCOUNT,
    CODE_BUCKET,
    CODE_PREFIX,
    FUNCTIONS,
    PLATFORM_PARAMETERS,
    PLATFORM_TEMPLATE,
    REGION,
    SLACK_KEY,
    SLACK_PARAMETER,
    TOPIC_KEY,
    create_stack,
    load_template,
    resource_types,
)

# Resource types moto 5.2.5 cannot create through CloudFormation (it warns and leaves them out).
# The test fails if moto skips anything else, or stops skipping one of these.
MOTO_CANNOT_CREATE = {
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::Lambda::EventInvokeConfig",
}

# Properties moto accepts but does not apply; for these the template itself is checked.
MOTO_IGNORES = {
    "AWS::S3::Bucket": {"VersioningConfiguration", "LifecycleConfiguration", "NotificationConfiguration"},
    "AWS::Lambda::Function": {"Architectures", "LoggingConfig"},
}

RELEASE_BUCKET = f"berth-releases-{ACCOUNT}-{REGION}"
# Logical ids of each function and its role, by function name.
FUNCTION_IDS = {
    "on-image-push": "OnImagePush",
    "on-manifest": "OnManifest",
    "migrate": "Migrate",
    "deploy": "Deploy",
    "on-pipeline-event": "OnPipelineEvent",
    "verify": "Verify",
    "scan-gate": "ScanGate",
}
ROLES = tuple(f"{FUNCTION_IDS[name]}Role" for name in FUNCTIONS)
TEMPLATE = load_template(PLATFORM_TEMPLATE)
RESOURCES = TEMPLATE["Resources"]


def test_create_stack_completes_and_skips_only_the_known_types(platform_stack):
    session, stack, skipped = platform_stack
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")

    # moto may announce one type several times (once per reference), so compare the sets.
    assert set(skipped) == MOTO_CANNOT_CREATE, "moto skipped a different set of resource types than documented"
    assert MOTO_CANNOT_CREATE <= set(resource_types(TEMPLATE))

    summaries = session.client("cloudformation").list_stack_resources(StackName="berth-platform")[
        "StackResourceSummaries"
    ]
    created = {s["LogicalResourceId"] for s in summaries if s["LogicalResourceId"]}
    # Resources whose condition is off with the default parameters: the notification topic.
    wanted = {name for name, r in RESOURCES.items() if r["Type"] not in MOTO_CANNOT_CREATE and r.get("Condition") != "CreateTopic"}
    assert created == wanted
    assert all(s["ResourceStatus"] == "CREATE_COMPLETE" for s in summaries)


def test_release_bucket_is_versioned_encrypted_and_deterministically_named(platform_stack):
    session, stack, _ = platform_stack
    s3 = session.client("s3")
    s3.head_bucket(Bucket=RELEASE_BUCKET)

    rules = s3.get_bucket_encryption(Bucket=RELEASE_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    versioning = s3.get_bucket_versioning(Bucket=RELEASE_BUCKET).get("Status")
    if versioning is None:
        assert "VersioningConfiguration" in MOTO_IGNORES["AWS::S3::Bucket"]
    else:
        assert versioning == "Enabled"
    assert RESOURCES["ReleaseBucket"]["DeletionPolicy"] == "Retain"
    bucket = RESOURCES["ReleaseBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}

    # Lifecycle: only noncurrent versions expire, never current ones.
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert set(rule) == {"Id", "Status", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload"}
    assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == {"Ref": "NoncurrentVersionExpirationDays"}

    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    deny, writers = RESOURCES["ReleaseBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert writers["Fn::If"][0] == "HasReleaseWriters"

    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs["ReleaseBucketName"] == RELEASE_BUCKET


def test_only_manifests_notify_on_manifest_without_a_dependency_cycle():
    bucket = RESOURCES["ReleaseBucket"]
    config, _groups = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Function"] == {"Fn::GetAtt": ["OnManifestFunction", "Arn"]}
    assert config["Filter"]["S3Key"]["Rules"] == [
        {"Name": "prefix", "Value": "manifests/"},
        {"Name": "suffix", "Value": ".json"},
    ]
    # The bucket waits for the permission, whose SourceArn is computed from the fixed name.
    assert bucket["DependsOn"] == "OnManifestS3Permission"
    permission = RESOURCES["OnManifestS3Permission"]["Properties"]
    assert permission["Principal"] == "s3.amazonaws.com"
    source_arn = permission["SourceArn"]["Fn::Sub"]
    assert source_arn == "arn:${AWS::Partition}:s3:::${ReleaseBucketNamePrefix}-${AWS::AccountId}-${AWS::Region}"
    assert source_arn.endswith(RESOURCES["ReleaseBucket"]["Properties"]["BucketName"]["Fn::Sub"])


def test_functions_exist_with_runtime_environment_and_own_roles(platform_stack):
    session, _, _ = platform_stack
    lam = session.client("lambda")
    roles = set()
    for name in FUNCTIONS:
        cfg = lam.get_function(FunctionName=f"berth-{name}")["Configuration"]
        assert cfg["Runtime"] == "provided.al2023"
        assert cfg["Handler"] == "bootstrap"
        # No SlackWebhookUrl given: no BERTH_SLACK_WEBHOOK_URL either, not even an empty one.
        assert _env(cfg) == {
            "BERTH_RELEASE_BUCKET": RELEASE_BUCKET,
            "BERTH_SERVICES_PREFIX": "/berth/services/",
            **FUNCTION_ENV[name],
        }
        roles.add(cfg["Role"])
    assert len(roles) == len(FUNCTIONS), "each function has its own role"

    assert set(FUNCTION_IDS) == set(FUNCTIONS)
    assert {n for n, r in RESOURCES.items() if r["Type"] == "AWS::Lambda::Function"} == {
        f"{i}Function" for i in FUNCTION_IDS.values()
    }
    for logical in (f"{i}Function" for i in FUNCTION_IDS.values()):
        props = RESOURCES[logical]["Properties"]
        assert props["Architectures"] == [{"Ref": "Architecture"}]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["Code"]["S3Bucket"] == {"Ref": "CodeBucket"}
    assert TEMPLATE["Parameters"]["Architecture"]["Default"] == "arm64"
    for name, i in FUNCTION_IDS.items():
        assert RESOURCES[f"{i}Function"]["Properties"]["Code"]["S3Key"] == {"Fn::Sub": f"${{CodePrefix}}{name}.zip"}
    # The dummy zips were read from the code bucket.
    assert session.client("s3").list_objects_v2(Bucket=CODE_BUCKET, Prefix=CODE_PREFIX)["KeyCount"] == len(FUNCTIONS)


# Variables only some functions get, with the defaults of the parameters behind them.
FUNCTION_ENV = {
    "on-image-push": {"BERTH_SWEEP_LOOKBACK_MINUTES": "60", "BERTH_PUSH_INDEX_PREFIX": "/berth/push-index/"},
    "on-manifest": {"BERTH_VERIFY_FUNCTION": "berth-verify"},
    "migrate": {},
    "deploy": {},
    "on-pipeline-event": {},
    "verify": {},
    "scan-gate": {},
}


def _env(cfg) -> dict:
    # moto keeps a Number parameter as an int where Lambda stores strings.
    return {k: str(v) for k, v in cfg["Environment"]["Variables"].items()}


def _refers_to(value, parameter: str) -> bool:
    """Whether a template fragment reads a parameter (Ref, or ${...} in Fn::Sub)."""
    if isinstance(value, dict):
        if value.get("Ref") == parameter:
            return True
        sub = value.get("Fn::Sub")
        template = sub[0] if isinstance(sub, list) else sub
        if isinstance(template, str) and re.search(r"\$\{" + re.escape(parameter) + r"\}", template):
            return True
        return any(_refers_to(v, parameter) for v in value.values())
    if isinstance(value, list):
        return any(_refers_to(v, parameter) for v in value)
    return False


def test_the_slack_webhook_is_read_from_a_secure_string_parameter_not_the_environment():
    assert "SlackWebhookUrl" not in TEMPLATE["Parameters"]
    parameter = TEMPLATE["Parameters"]["SlackWebhookParameterName"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch(SLACK_PARAMETER) and pattern.fullmatch("")
    assert not pattern.fullmatch("https://hooks.slack.com/services/T0/B0/X")  # a URL is refused: it is a secret
    env = RESOURCES["OnPipelineEventFunction"]["Properties"]["Environment"]["Variables"]
    assert env["BERTH_SLACK_WEBHOOK_PARAMETER"] == {
        "Fn::If": ["HasSlackWebhook", {"Ref": "SlackWebhookParameterName"}, {"Ref": "AWS::NoValue"}]
    }
    assert {name for name, r in RESOURCES.items() if _refers_to(r, "SlackWebhookParameterName")} == {
        "OnPipelineEventFunction",
        "OnPipelineEventRole",
    }


def _role_statements(session, logical) -> dict:
    iam = session.client("iam")
    (role,) = [r["RoleName"] for r in iam.list_roles()["Roles"] if f"-{logical}-" in r["RoleName"]]
    (policy,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    doc = policy_document(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
    return {st["Sid"]: st for st in doc["Statement"] if st is not None}


def test_only_on_pipeline_event_gets_the_topic_and_the_slack_parameter_and_may_read_them(code_uploaded):
    cloudformation = code_uploaded.client("cloudformation")
    parameters = {
        **PLATFORM_PARAMETERS,
        "CreateNotificationTopic": "true",
        "SlackWebhookParameterName": SLACK_PARAMETER,
        "SlackWebhookKmsKeyArn": SLACK_KEY,
    }
    stack, _ = create_stack(cloudformation, "berth-platform", PLATFORM_TEMPLATE, parameters)
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    (topic,) = [t["TopicArn"] for t in code_uploaded.client("sns").list_topics()["Topics"]]
    assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:berth-releases"
    # moto leaves out an output whose condition combines other conditions: checked in the template.
    assert TEMPLATE["Outputs"]["NotificationTopicArn"]["Condition"] == "HasTopic"
    assert TEMPLATE["Conditions"]["HasTopic"] == {"Fn::Or": [{"Condition": "CreateTopic"}, {"Condition": "UseGivenTopic"}]}

    lam = code_uploaded.client("lambda")
    common = {"BERTH_RELEASE_BUCKET": RELEASE_BUCKET, "BERTH_SERVICES_PREFIX": "/berth/services/"}
    for name in FUNCTIONS:
        env = _env(lam.get_function(FunctionName=f"berth-{name}")["Configuration"])
        if name == "on-pipeline-event":
            assert env == {**common, "BERTH_SNS_TOPIC_ARN": topic, "BERTH_SLACK_WEBHOOK_PARAMETER": SLACK_PARAMETER}
        else:
            assert env == {**common, **FUNCTION_ENV[name]}, f"{name} must not notify"

    statements = _role_statements(code_uploaded, "OnPipelineEventRole")
    assert statements["PublishReleaseNotifications"]["Action"] == "sns:Publish"
    assert statements["PublishReleaseNotifications"]["Resource"] == topic
    assert statements["ReadSlackWebhook"]["Action"] == "ssm:GetParameter"
    assert statements["ReadSlackWebhook"]["Resource"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{SLACK_PARAMETER}"
    assert statements["DecryptSlackWebhook"]["Resource"] == SLACK_KEY
    assert statements["DecryptSlackWebhook"]["Condition"] == {"StringEquals": {"kms:ViaService": f"ssm.{REGION}.amazonaws.com"}}


def test_a_given_topic_is_used_as_is(code_uploaded):
    given = f"arn:aws:sns:{REGION}:{ACCOUNT}:team-releases"
    stack, _ = create_stack(
        code_uploaded.client("cloudformation"),
        "berth-platform",
        PLATFORM_TEMPLATE,
        {**PLATFORM_PARAMETERS, "NotificationTopicArn": given, "NotificationTopicKmsKeyArn": TOPIC_KEY},
    )
    env = _env(code_uploaded.client("lambda").get_function(FunctionName="berth-on-pipeline-event")["Configuration"])
    assert env["BERTH_SNS_TOPIC_ARN"] == given
    assert "BERTH_SLACK_WEBHOOK_PARAMETER" not in env
    statements = _role_statements(code_uploaded, "OnPipelineEventRole")
    assert statements["PublishReleaseNotifications"]["Resource"] == given
    assert sorted(statements["EncryptTopicMessages"]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statements["EncryptTopicMessages"]["Resource"] == TOPIC_KEY
    assert statements["EncryptTopicMessages"]["Condition"] == {"StringEquals": {"kms:ViaService": f"sns.{REGION}.amazonaws.com"}}
    assert "ReadSlackWebhook" not in statements and "DecryptSlackWebhook" not in statements
    assert code_uploaded.client("sns").list_topics()["Topics"] == []


def test_without_notifications_nothing_is_granted(platform_stack):
    session, _, _ = platform_stack
    statements = _role_statements(session, "OnPipelineEventRole")
    assert not {"PublishReleaseNotifications", "EncryptTopicMessages", "ReadSlackWebhook", "DecryptSlackWebhook"} & set(statements)
    assert statements["ReadWriteGroupReleases"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/group-releases/*"


def test_release_dashboard_shows_the_embedded_metric_format_metrics(platform_stack):
    session, _, _ = platform_stack
    body = json.loads(session.client("cloudwatch").get_dashboard(DashboardName="berth-releases")["DashboardBody"])
    expressions = [m[0]["expression"] for w in body["widgets"] for m in w["properties"]["metrics"]]
    for metric in ("ReleasesStarted", "ReleasesSucceeded", "ReleasesFailed", "Rollbacks", "LeadTimeSeconds", "MigrationSeconds", "DeploymentSeconds"):
        (expression,) = [e for e in expressions if f'MetricName="{metric}"' in e]
        assert expression.startswith("SEARCH('{berth,Service} ")


def test_group_manifests_notify_on_manifest_too(platform_stack):
    configs = RESOURCES["ReleaseBucket"]["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert [c["Filter"]["S3Key"]["Rules"][0]["Value"] for c in configs] == ["manifests/", "groups/"]
    for c in configs:
        assert c["Filter"]["S3Key"]["Rules"][1] == {"Name": "suffix", "Value": ".json"}
        assert c["Function"] == {"Fn::GetAtt": ["OnManifestFunction", "Arn"]}
    session, _, _ = platform_stack
    statements = _role_statements(session, "OnManifestRole")
    assert statements["ReadGroupManifests"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/groups/*"
    assert statements["ReadWriteGroupReleases"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/group-releases/*"


def test_async_failures_end_in_the_failed_events_queue(platform_stack):
    session, stack, _ = platform_stack
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    queue_arn = outputs["FailedEventsQueueArn"]
    attrs = session.client("sqs").get_queue_attributes(
        QueueUrl=outputs["FailedEventsQueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    assert attrs["QueueArn"] == queue_arn
    assert RESOURCES["FailedEventsQueue"]["Properties"]["SqsManagedSseEnabled"] is True

    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
    }
    assert set(configs) == {f"{i}Function" for i in FUNCTION_IDS.values()}
    for cfg in configs.values():
        props = cfg["Properties"]
        assert props["MaximumRetryAttempts"] == {"Ref": "MaximumRetryAttempts"}
        assert props["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}


def test_ecr_push_rule_targets_on_image_push_with_a_dead_letter_queue(platform_stack):
    session, stack, _ = platform_stack
    events = session.client("events")
    rule = events.describe_rule(Name="berth-ecr-image-push")
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.ecr"],
        "detail-type": ["ECR Image Action"],
        "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"]},
    }
    (target,) = events.list_targets_by_rule(Rule="berth-ecr-image-push")["Targets"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert target["Arn"] == outputs["OnImagePushFunctionArn"]
    assert target["DeadLetterConfig"]["Arn"] == outputs["FailedEventsQueueArn"]


def test_pipeline_state_rule_targets_on_pipeline_event_for_berth_pipelines_only(platform_stack):
    session, stack, _ = platform_stack
    events = session.client("events")
    rule = events.describe_rule(Name="berth-pipeline-execution-state")
    assert rule["State"] == "ENABLED"
    assert json.loads(rule["EventPattern"]) == {
        "source": ["aws.codepipeline"],
        "detail-type": ["CodePipeline Pipeline Execution State Change"],
        "detail": {"pipeline": [{"prefix": "berth-"}]},
    }
    (target,) = events.list_targets_by_rule(Rule="berth-pipeline-execution-state")["Targets"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert target["Arn"] == outputs["OnPipelineEventFunctionArn"]
    assert outputs["OnPipelineEventFunctionArn"].endswith(":function:berth-on-pipeline-event")
    assert target["DeadLetterConfig"]["Arn"] == outputs["FailedEventsQueueArn"]

    # Same delivery guarantees as the ECR rule; the prefix is the PipelineNamePrefix parameter.
    props = RESOURCES["PipelineStateRule"]["Properties"]
    assert props["EventPattern"]["detail"]["pipeline"] == [{"prefix": {"Ref": "PipelineNamePrefix"}}]
    (template_target,) = props["Targets"]
    (ecr_target,) = RESOURCES["EcrPushRule"]["Properties"]["Targets"]
    assert template_target["RetryPolicy"] == ecr_target["RetryPolicy"]
    assert template_target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]}}

    permission = RESOURCES["OnPipelineEventEventsPermission"]["Properties"]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["FunctionName"] == {"Ref": "OnPipelineEventFunction"}
    assert permission["SourceArn"] == {"Fn::GetAtt": ["PipelineStateRule", "Arn"]}


def test_only_the_three_rules_may_dead_letter_into_the_failed_events_queue():
    # moto cannot create the queue policy: checked in the template.
    statements = [
        s["Fn::If"][1] if "Fn::If" in s else s
        for s in RESOURCES["FailedEventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    ]
    allowed = {
        s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0]
        for s in statements
        if s["Effect"] == "Allow"
    }
    assert allowed == {"EcrPushRule", "PipelineStateRule", "PushSweepRule"}
    for s in statements:
        if s["Effect"] == "Allow":
            assert s["Principal"] == {"Service": "events.amazonaws.com"}
            assert s["Action"] == "sqs:SendMessage"


def test_roles_are_scoped_to_their_bucket_prefixes_registry_pipelines_and_clusters(platform_stack):
    session, _, _ = platform_stack
    iam = session.client("iam")
    documents = {}
    for role in iam.list_roles()["Roles"]:
        for logical in ROLES:
            if f"-{logical}-" in role["RoleName"]:
                (policy,) = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
                doc = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy)["PolicyDocument"]
                documents[logical] = policy_document(doc)
    assert set(documents) == set(ROLES)

    def by_sid(doc):
        # moto leaves an AWS::NoValue list item as None where CloudFormation drops it.
        return {s["Sid"]: s for s in doc["Statement"] if s is not None}

    push = by_sid(documents["OnImagePushRole"])
    assert push["WriteManifests"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/manifests/*"
    assert push["ReadServiceRegistry"]["Resource"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/berth/services",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/berth/services/*",
    ]
    # A push lists its repository's push-index entries and reads the entries they name, nothing
    # else; the sweep keeps its cursor under sweep/ only.
    assert push["FindPushTriggers"]["Action"] == "ssm:GetParametersByPath"
    assert push["FindPushTriggers"]["Resource"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/berth/push-index/*"
    assert push["ReadPushTriggeredEntries"]["Action"] == "ssm:GetParameters"
    assert push["ReadPushTriggeredEntries"]["Resource"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/berth/services/*"
    assert push["KeepSweepCursor"]["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert push["KeepSweepCursor"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/sweep/*"

    manifest = by_sid(documents["OnManifestRole"])
    assert manifest["StartBerthPipelines"]["Resource"] == f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:berth-*"
    assert "ResolveCrossAccountImageDigests" not in manifest  # none configured

    migrate = by_sid(documents["MigrateRole"])
    assert migrate["RunMigrationTask"]["Condition"] == {
        "ArnEquals": {"ecs:cluster": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"]}
    }
    assert migrate["PassTaskRolesToEcs"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    }
    assert migrate["PassTaskRolesToEcs"]["Resource"] == PLATFORM_PARAMETERS["PassableRoleArns"].split(",")
    # An abandoned Deploy's deployment: migrate lists the group's active ones before migrating.
    assert migrate["WaitForAbandonedDeployments"]["Action"] == "codedeploy:ListDeployments"
    assert migrate["WaitForAbandonedDeployments"]["Resource"] == (
        f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:berth-*/*"
    )

    pipeline_event = by_sid(documents["OnPipelineEventRole"])
    assert set(pipeline_event) == {
        "WriteLogs",
        "ReadBerthPipelineExecutions",
        "ReadWriteReleaseRecords",
        "WriteReleaseIndex",
        "TellMissingKeysApart",
        "StopAbandonedMigrationTask",
        "ReadTaskDefinitions",
        "DeregisterFailedReleaseTaskDefinitions",
        "ReadRunningServices",
        "ReadWriteGroupReleases",
        "ReportFailedEvents",
    }
    clusters = {"ArnEquals": {"ecs:cluster": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"]}}
    assert pipeline_event["StopAbandonedMigrationTask"]["Condition"] == clusters
    assert pipeline_event["StopAbandonedMigrationTask"]["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/*"
    # No resource type exists for the task definition actions; DescribeServices has one.
    assert pipeline_event["ReadTaskDefinitions"]["Resource"] == "*"
    assert pipeline_event["DeregisterFailedReleaseTaskDefinitions"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": REGION}
    }
    assert pipeline_event["ReadRunningServices"]["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/*"
    assert pipeline_event["ReadRunningServices"]["Condition"] == clusters
    # The release index (empty objects under index/<service>/): written by on-manifest and
    # on-pipeline-event, listed by on-image-push's sweep.
    for role in (manifest, pipeline_event):
        assert role["WriteReleaseIndex"] == {
            "Sid": "WriteReleaseIndex",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{RELEASE_BUCKET}/index/*",
        }
    assert push["FindRecentPushes"]["Action"] == "ecr:DescribeImages"
    assert push["FindRecentPushes"]["Resource"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"
    assert "FindRecentCrossAccountPushes" not in push
    assert push["ListReleaseIndex"] == {
        "Sid": "ListReleaseIndex",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": f"arn:aws:s3:::{RELEASE_BUCKET}",
    }
    assert pipeline_event["ReadBerthPipelineExecutions"]["Action"] == "codepipeline:GetPipelineExecution"
    assert pipeline_event["ReadBerthPipelineExecutions"]["Resource"] == f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:berth-*"
    assert sorted(pipeline_event["ReadWriteReleaseRecords"]["Action"]) == ["s3:GetObject", "s3:PutObject"]
    assert pipeline_event["ReadWriteReleaseRecords"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/releases/*"
    assert pipeline_event["TellMissingKeysApart"]["Action"] == "s3:ListBucket"
    assert pipeline_event["TellMissingKeysApart"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}"


def policy_document(doc) -> dict:
    """moto hands back inline policies written by CloudFormation as the repr() of a dict."""
    if isinstance(doc, dict):
        return doc
    try:
        return json.loads(doc)
    except ValueError:
        return ast.literal_eval(doc)


def test_log_groups_have_retention(platform_stack):
    session, _, _ = platform_stack
    groups = session.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/berth-")["logGroups"]
    assert {g["logGroupName"]: g.get("retentionInDays") for g in groups} == {
        f"/aws/lambda/berth-{name}": 365 for name in FUNCTIONS
    }


def test_exports_for_the_service_stack(platform_stack):
    session, _, _ = platform_stack
    exports = {e["Name"]: e["Value"] for e in session.client("cloudformation").list_exports()["Exports"]}
    assert exports["berth-platform-ReleaseBucketName"] == RELEASE_BUCKET
    assert exports["berth-platform-MigrateFunctionName"] == "berth-migrate"
    assert exports["berth-platform-ServicesPath"] == "/berth/services"
    assert exports["berth-platform-PipelineNamePrefix"] == "berth-"
    assert exports["berth-platform-MigrateFunctionArn"].endswith(":function:berth-migrate")
    assert exports["berth-platform-OnPipelineEventFunctionArn"].endswith(":function:berth-on-pipeline-event")


def test_push_sweep_rule_invokes_on_image_push_on_a_schedule(platform_stack):
    session, stack, _ = platform_stack
    events = session.client("events")
    rule = events.describe_rule(Name="berth-push-sweep")
    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert rule["State"] == "ENABLED"
    (target,) = events.list_targets_by_rule(Rule="berth-push-sweep")["Targets"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert target["Arn"] == outputs["OnImagePushFunctionArn"]
    assert target["DeadLetterConfig"]["Arn"] == outputs["FailedEventsQueueArn"]
    permission = RESOURCES["OnImagePushSweepPermission"]
    assert permission["Condition"] == "HasPushSweep"
    assert permission["Properties"]["Principal"] == "events.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == {"Fn::GetAtt": ["PushSweepRule", "Arn"]}
    assert RESOURCES["PushSweepRule"]["Condition"] == "HasPushSweep"


def test_an_empty_push_sweep_schedule_turns_the_sweep_off(code_uploaded):
    cloudformation = code_uploaded.client("cloudformation")
    stack, _ = create_stack(
        cloudformation, "berth-platform", PLATFORM_TEMPLATE, {**PLATFORM_PARAMETERS, "PushSweepSchedule": ""}
    )
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    names = [r["Name"] for r in code_uploaded.client("events").list_rules()["Rules"]]
    assert "berth-push-sweep" not in names
    assert "berth-ecr-image-push" in names
    pattern = re.compile(TEMPLATE["Parameters"]["PushSweepSchedule"]["AllowedPattern"])
    for ok in ("", "rate(5 minutes)", "cron(0/10 * * * ? *)"):
        assert pattern.fullmatch(ok)
    assert not pattern.fullmatch("5 minutes")


def test_release_writers_are_the_only_principals_that_write_manifests_and_groups():
    (statement,) = [
        s["Fn::If"][1]
        for s in RESOURCES["ReleaseBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if "Fn::If" in s
    ]
    assert statement["Sid"] == "OnlyReleaseWritersWriteManifests"
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == [
        {"Fn::Sub": "${ReleaseBucket.Arn}/manifests/*"},
        {"Fn::Sub": "${ReleaseBucket.Arn}/groups/*"},
    ]
    (key,) = statement["Condition"]["ArnNotLike"]
    assert key == "aws:PrincipalArn"
    allowed = statement["Condition"]["ArnNotLike"][key]["Fn::Split"][1]["Fn::Join"][1]
    assert allowed == [
        {"Fn::Join": [",", {"Ref": "ReleaseWriterArns"}]},
        {"Fn::GetAtt": ["OnImagePushRole", "Arn"]},  # berth itself writes manifests on a push
        {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"},  # the account can always fix things
    ]
    assert TEMPLATE["Conditions"]["HasReleaseWriters"] == {
        "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ReleaseWriterArns"}]}, ""]}]
    }


def test_verify_runs_five_minutes_with_its_own_role_and_is_named_to_on_manifest(platform_stack):
    session, stack, _ = platform_stack
    lam = session.client("lambda")
    cfg = lam.get_function(FunctionName="berth-verify")["Configuration"]
    assert cfg["Timeout"] == 300
    assert not cfg.get("VpcConfig", {}).get("SubnetIds")  # no VerifySubnetIds: outside any VPC
    props = RESOURCES["VerifyFunction"]["Properties"]
    assert props["Code"]["S3Key"] == {"Fn::Sub": "${CodePrefix}verify.zip"}
    assert props["VpcConfig"] == {
        "Fn::If": [
            "HasVerifyVpc",
            {"SubnetIds": {"Ref": "VerifySubnetIds"}, "SecurityGroupIds": {"Ref": "VerifySecurityGroupIds"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    exports = {e["Name"]: e["Value"] for e in session.client("cloudformation").list_exports()["Exports"]}
    assert exports["berth-platform-VerifyFunctionName"] == "berth-verify"
    assert exports["berth-platform-VerifyFunctionArn"].endswith(":function:berth-verify")

    iam = session.client("iam")
    (role,) = [r["RoleName"] for r in iam.list_roles()["Roles"] if "-VerifyRole-" in r["RoleName"]]
    (policy,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    doc = policy_document(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
    verify = {st["Sid"]: st for st in doc["Statement"] if st is not None}
    assert set(verify) == {
        "WriteLogs",
        "ReadBerthDeployments",
        "ReportHookStatus",
        "ReadServiceRegistry",
        "ReadBerthPipelines",
        "ReadServiceRevisions",
        "ReadWriteReleaseRecords",
        "ListReleaseIndex",
        "ReportFailedEvents",
        "ListDeploymentsInFlight",
        "RollBackOnAlarmsAboutGreen",
    }
    assert verify["ReadBerthDeployments"]["Resource"] == f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:berth-*/*"
    # The target group alarm rule: the deployment in flight, its ECS target, a stop with rollback.
    assert verify["ListDeploymentsInFlight"]["Action"] == "codedeploy:ListDeployments"
    assert verify["ListDeploymentsInFlight"]["Resource"] == f"arn:aws:codedeploy:{REGION}:{ACCOUNT}:deploymentgroup:berth-*/*"
    rollback = verify["RollBackOnAlarmsAboutGreen"]
    assert sorted(rollback["Action"]) == ["codedeploy:GetDeploymentTarget", "codedeploy:ListDeploymentTargets", "codedeploy:StopDeployment"]
    assert (rollback["Resource"], rollback["Condition"]) == ("*", {"StringEquals": {"aws:RequestedRegion": REGION}})
    assert verify["ReportHookStatus"]["Resource"] == "*"
    assert verify["ReportHookStatus"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": REGION}}
    assert sorted(verify["ReadBerthPipelines"]["Action"]) == ["codepipeline:GetPipelineExecution", "codepipeline:GetPipelineState"]
    assert verify["ReadBerthPipelines"]["Resource"] == f"arn:aws:codepipeline:{REGION}:{ACCOUNT}:berth-*"
    assert verify["ReadWriteReleaseRecords"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/releases/*"
    assert verify["ReadServiceRegistry"]["Action"] == "ssm:GetParametersByPath"
    assert verify["ReadServiceRevisions"]["Action"] == "ecs:DescribeServiceRevisions"
    assert sorted(verify["ReadServiceRevisions"]["Resource"]) == [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/*",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/*",
    ]


def test_verify_in_a_vpc_gets_the_network_interface_permissions_lambda_needs():
    statements = RESOURCES["VerifyRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    vpc = {s["Fn::If"][1]["Sid"]: s for s in statements if "Fn::If" in s}
    assert set(vpc) == {"ManageVpcNetworkInterfaces", "DescribeVpcNetwork"}
    for statement in vpc.values():
        assert statement["Fn::If"][0] == "HasVerifyVpc"
    manage = vpc["ManageVpcNetworkInterfaces"]["Fn::If"][1]
    assert sorted(manage["Action"]) == [
        "ec2:AssignPrivateIpAddresses",
        "ec2:CreateNetworkInterface",
        "ec2:DeleteNetworkInterface",
        "ec2:UnassignPrivateIpAddresses",
    ]
    assert manage["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:*/*"}
    describe = vpc["DescribeVpcNetwork"]["Fn::If"][1]
    assert (sorted(describe["Action"]), describe["Resource"]) == (
        ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
        "*",
    )


def test_scan_gate_role_reads_the_scan_findings_of_the_repositories_on_manifest_resolves(platform_stack):
    """No service stack grants scan-gate anything (adding a service must not edit a shared role):
    it reads the repositories of this account and region, as on-manifest does."""
    session, _, _ = platform_stack
    iam = session.client("iam")
    (role,) = [r["RoleName"] for r in iam.list_roles()["Roles"] if "-ScanGateRole-" in r["RoleName"]]
    gate = _role_statements(session, "ScanGateRole")
    assert set(gate) == {"WriteLogs", "ReportJobResult", "ReadScanFindings", "ReadWriteReleaseRecords", "TellMissingKeysApart", "ReportFailedEvents"}
    assert _actions(gate["ReadScanFindings"]) == ["ecr:BatchGetImage", "ecr:DescribeImageScanFindings", "ecr:DescribeImages", "ecr:StartImageScan"]
    on_manifest = _role_statements(session, "OnManifestRole")
    assert gate["ReadScanFindings"]["Resource"] == on_manifest["ResolveImageDigests"]["Resource"]
    assert gate["ReadScanFindings"]["Resource"] == f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/*"
    exports = {e["Name"]: e["Value"] for e in session.client("cloudformation").list_exports()["Exports"]}
    assert exports["berth-platform-ScanGateRoleName"] == role
    assert exports["berth-platform-ScanGateFunctionName"] == "berth-scan-gate"
    assert "OnManifestRole" in exports["berth-platform-OnManifestRoleName"]


# ------------------------------------------------------------------ deploy and the ECS hook role

# What the deploy action calls: docs/reference/iam.md, "deploy". Services, service deployments and
# revisions of the platform's clusters only; the one write (UpdateService) only on services tagged
# berth:service.
DEPLOY_STATEMENTS = {
    "WriteLogs": ["logs:CreateLogStream", "logs:PutLogEvents"],
    "ReportJobResult": ["codepipeline:PutJobFailureResult", "codepipeline:PutJobSuccessResult"],
    "RegisterReleaseTaskDefinition": ["ecs:RegisterTaskDefinition"],
    "PassTaskRolesToEcs": ["iam:PassRole"],
    "ReadReleaseTasks": ["ecs:DescribeTasks"],
    "ListReleaseTasks": ["ecs:ListTasks"],
    "FollowServiceDeployments": ["ecs:DescribeServiceDeployments", "ecs:DescribeServiceRevisions", "ecs:DescribeServices", "ecs:ListServiceDeployments"],
    "UpdateTaggedServices": ["ecs:UpdateService"],
    "ReadWriteDeployMarkers": ["s3:GetObject", "s3:PutObject"],
    "ReadServiceRegistry": ["ssm:GetParameter"],
    "ReadWriteReleaseRecords": ["s3:GetObject", "s3:PutObject"],
    "TellMissingKeysApart": ["s3:ListBucket"],
    "ReportFailedEvents": ["sqs:SendMessage"],
}


def _actions(statement) -> list[str]:
    action = statement["Action"]
    return sorted([action] if isinstance(action, str) else action)


def test_deploy_role_grants_exactly_the_deploy_actions_and_passes_roles_as_migrate_does(platform_stack):
    session, _, _ = platform_stack
    deploy = _role_statements(session, "DeployRole")
    assert {sid: _actions(st) for sid, st in deploy.items()} == DEPLOY_STATEMENTS
    for statement in deploy.values():
        assert statement["Effect"] == "Allow"
        assert not any("*" in a for a in _actions(statement)), statement
    migrate = _role_statements(session, "MigrateRole")
    # The same roles, only to ECS tasks, and the same region-bound task definition registration.
    assert deploy["PassTaskRolesToEcs"] == migrate["PassTaskRolesToEcs"]
    assert deploy["PassTaskRolesToEcs"]["Resource"] == PLATFORM_PARAMETERS["PassableRoleArns"].split(",")
    assert deploy["RegisterReleaseTaskDefinition"]["Condition"] == migrate["RegisterMigrationTaskDefinition"]["Condition"]
    clusters = {"ArnEquals": {"ecs:cluster": [f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod"]}}
    assert deploy["ReadReleaseTasks"]["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/*"
    assert deploy["ReadReleaseTasks"]["Condition"] == clusters
    # Service authorization reference: ListTasks takes the container-instance resource type.
    assert deploy["ListReleaseTasks"]["Resource"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:container-instance/*"
    assert deploy["ListReleaseTasks"]["Condition"] == clusters
    assert deploy["ReadWriteReleaseRecords"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/releases/*"
    assert deploy["ReadServiceRegistry"]["Resource"] == f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/berth/services/*"
    # Services of the platform's clusters only (ClusterArns: cluster/prod), and their deployments
    # and revisions (service authorization reference: service-deployment/<cluster>/<service>/<id>).
    assert deploy["FollowServiceDeployments"]["Resource"] == [
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/*",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/prod/*",
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/prod/*",
    ]
    # The one write needs the owner's opt-in: the tag berth:service on the ECS service (the service
    # resource type takes aws:ResourceTag/${TagKey} for UpdateService).
    assert deploy["UpdateTaggedServices"]["Resource"] == [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/*"]
    assert deploy["UpdateTaggedServices"]["Condition"] == {"Null": {"aws:ResourceTag/berth:service": "false"}}
    assert deploy["ReadWriteDeployMarkers"]["Resource"] == f"arn:aws:s3:::{RELEASE_BUCKET}/artifacts/*/deploys/*"
    assert "ecs:TagResource" not in {a for st in deploy.values() for a in _actions(st)}


def test_service_arns_follow_every_cluster_of_cluster_arns(code_uploaded):
    """Two clusters: the read and update grants name the services of both, and no other."""
    parameters = dict(PLATFORM_PARAMETERS, ClusterArns=f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod,arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/batch")
    create_stack(code_uploaded.client("cloudformation"), "berth-platform", PLATFORM_TEMPLATE, parameters)
    deploy = _role_statements(code_uploaded, "DeployRole")
    services = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/prod/*", f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/batch/*"]
    assert deploy["UpdateTaggedServices"]["Resource"] == services
    assert _role_statements(code_uploaded, "OnManifestRole")["ReadServicesOfBerthClusters"]["Resource"] == services
    assert _role_statements(code_uploaded, "MigrateRole")["ReadServicesOfBerthClusters"]["Resource"] == services


def test_deploy_runs_like_migrate_and_is_exported_for_the_service_stacks(platform_stack):
    session, _, _ = platform_stack
    deploy, migrate = (RESOURCES[f"{i}Function"]["Properties"] for i in ("Deploy", "Migrate"))
    for key in ("Runtime", "Architectures", "Handler", "MemorySize", "Timeout", "LoggingConfig", "Environment"):
        if key == "LoggingConfig":
            assert {k: v for k, v in deploy[key].items() if k != "LogGroup"} == {
                k: v for k, v in migrate[key].items() if k != "LogGroup"
            }
        else:
            assert deploy[key] == migrate[key], key
    assert deploy["FunctionName"] == {"Fn::Sub": "${NamePrefix}deploy"}
    invoke = {k: v for k, v in RESOURCES["DeployInvokeConfig"]["Properties"].items() if k != "FunctionName"}
    assert invoke == {k: v for k, v in RESOURCES["MigrateInvokeConfig"]["Properties"].items() if k != "FunctionName"}

    exports = {e["Name"]: e["Value"] for e in session.client("cloudformation").list_exports()["Exports"]}
    assert exports["berth-platform-DeployFunctionName"] == "berth-deploy"
    assert exports["berth-platform-DeployFunctionArn"].endswith(":function:berth-deploy")
    assert "-DeployRole-" in exports["berth-platform-DeployRoleName"]
    cfg = session.client("lambda").get_function(FunctionName="berth-deploy")["Configuration"]
    assert (cfg["Timeout"], cfg["MemorySize"]) == (60, 256)


def test_ecs_lifecycle_hooks_may_invoke_verify_and_nothing_else(platform_stack):
    session, _, _ = platform_stack
    iam = session.client("iam")
    (role,) = [r for r in iam.list_roles()["Roles"] if "-EcsHookRole-" in r["RoleName"]]
    # ECS developer guide, "Permissions required for Lambda functions in Amazon ECS blue/green
    # deployments": the role's trust policy allows "ecs.amazonaws.com" to sts:AssumeRole, and it
    # needs "lambda:InvokeFunction".
    trust = role["AssumeRolePolicyDocument"]
    trust = trust if isinstance(trust, dict) else policy_document(trust)
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "ecs.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    (policy,) = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    doc = policy_document(iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy)["PolicyDocument"])
    (invoke,) = doc["Statement"]
    exports = {e["Name"]: e["Value"] for e in session.client("cloudformation").list_exports()["Exports"]}
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"] == exports["berth-platform-VerifyFunctionArn"]
    assert exports["berth-platform-EcsHookRoleArn"] == role["Arn"]
