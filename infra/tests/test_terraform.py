"""The Terraform modules, parsed with python-hcl2 (no terraform binary or provider download needed).

Every variable is described, typed and used; every reference resolves to something declared;
the example passes every required variable and only declared ones."""

from __future__ import annotations

import json
import re

import pytest
from conftest import (
    FUNCTIONS,
    SLACK_KEY,
    SLACK_PARAMETER,
    TF,
    load_tf_dir,
    policy_statements_tf,
    tf_blocks,
)
from hcl_eval import evaluate, resolve_locals

MODULES = {
    "platform": TF / "modules" / "platform",
    "service": TF / "modules" / "service",
    "reference-service": TF / "modules" / "reference-service",
}
EXAMPLES = TF / "examples"
# Directories whose variables must be described, typed and used: the modules and the example.
ROOTS = {**MODULES, "examples": EXAMPLES}

_VAR = re.compile(r"\bvar\.([A-Za-z0-9_-]+)")
_LOCAL = re.compile(r"\blocal\.([A-Za-z0-9_]+)")
_RESOURCE = re.compile(r"(?<![\w.])(data\.)?(aws_[a-z0-9_]+)\.([a-z0-9_]+)")
_MODULE_OUTPUT = re.compile(r"\bmodule\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)")


def _expressions(value) -> list[str]:
    """Every string of a parsed block: HCL expressions come back as "${...}" strings."""
    out: list[str] = []
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, list):
        for v in value:
            out.extend(_expressions(v))
    elif isinstance(value, dict):
        for k, v in value.items():
            out.extend(_expressions(k))
            out.extend(_expressions(v))
    return out


def _module_text_without_variable_blocks(files: dict[str, dict]) -> str:
    parts = []
    for parsed in files.values():
        for kind, blocks in parsed.items():
            if kind != "variable":
                parts.extend(e for e in _expressions(blocks) if "${" in e)
    # Validation conditions may only mention their own variable; they do not count as a use.
    return "\n".join(parts)


@pytest.mark.parametrize("name", MODULES)
def test_module_has_the_standard_files(name):
    assert {"main.tf", "variables.tf", "outputs.tf"} <= {p.name for p in MODULES[name].glob("*.tf")}
    files = load_tf_dir(MODULES[name])
    assert set(tf_blocks({"variables.tf": files["variables.tf"]}, "variable")) == set(tf_blocks(files, "variable")), (
        "variables are declared in variables.tf only"
    )
    assert set(tf_blocks({"outputs.tf": files["outputs.tf"]}, "output")) == set(tf_blocks(files, "output"))


@pytest.mark.parametrize("name", ROOTS)
def test_every_variable_has_a_description_and_a_type(name):
    variables = tf_blocks(load_tf_dir(ROOTS[name]), "variable")
    assert variables
    for var, body in variables.items():
        assert isinstance(body.get("description"), str) and body["description"].strip(), (
            f"{name}: var.{var} has no description"
        )
        assert body.get("type"), f"{name}: var.{var} has no type"


@pytest.mark.parametrize("name", ROOTS)
def test_every_variable_is_used_in_its_module(name):
    files = load_tf_dir(ROOTS[name])
    declared = set(tf_blocks(files, "variable"))
    used = set(_VAR.findall(_module_text_without_variable_blocks(files)))
    assert declared - used == set(), f"{name}: declared but never used"
    assert used - declared == set(), f"{name}: used but never declared"


@pytest.mark.parametrize("name", ROOTS)
def test_every_output_is_described(name):
    outputs = tf_blocks(load_tf_dir(ROOTS[name]), "output")
    assert outputs
    for out, body in outputs.items():
        assert isinstance(body.get("description"), str) and body["description"].strip(), f"{name}: output {out}"


@pytest.mark.parametrize("name", MODULES)
def test_every_reference_resolves(name):
    files = load_tf_dir(MODULES[name])
    text = "\n".join(e for e in _expressions(files) if "${" in e)
    locals_ = set(tf_blocks(files, "locals"))
    assert set(_LOCAL.findall(text)) <= locals_, "undeclared local"

    resources = set(tf_blocks(files, "resource"))
    data = set(tf_blocks(files, "data"))
    for is_data, rtype, rname in _RESOURCE.findall(text):
        key = f"{rtype}.{rname}"
        assert key in (data if is_data else resources), f"{name}: {'data.' if is_data else ''}{key} is not declared"


def test_example_calls_match_the_module_interfaces():
    files = load_tf_dir(EXAMPLES)
    calls = tf_blocks(files, "module")
    assert {body["source"] for body in calls.values()} == {"../modules/platform", "../modules/service"}
    outputs_by_call = {}
    for call, body in calls.items():
        module_dir = (EXAMPLES / body["source"]).resolve()
        module_files = load_tf_dir(module_dir)
        variables = tf_blocks(module_files, "variable")
        outputs_by_call[call] = set(tf_blocks(module_files, "output"))
        args = set(body) - {"source"}
        assert args <= set(variables), f"module {call}: unknown arguments {args - set(variables)}"
        required = {v for v, b in variables.items() if "default" not in b}
        assert required <= args, f"module {call}: missing required {required - args}"

    text = "\n".join(e for e in _expressions(files) if "${" in e)
    for call, output in _MODULE_OUTPUT.findall(text):
        assert output in outputs_by_call[call], f"module.{call}.{output} is not an output"
    declared = set(tf_blocks(files, "variable"))
    assert set(_VAR.findall(text)) <= declared


def test_functions_match_the_runtime_contract():
    files = load_tf_dir(MODULES["platform"])
    fn = tf_blocks(files, "resource")["aws_lambda_function.function"]
    assert fn["runtime"] == "provided.al2023"
    assert fn["architectures"] == ["${var.architecture}"]
    assert tf_blocks(files, "variable")["architecture"]["default"] == "arm64"
    assert fn["handler"] == "bootstrap"
    (env,) = fn["environment"]
    extras = {"on-image-push": {"BERTH_SWEEP_LOOKBACK_MINUTES", "BERTH_PUSH_INDEX_PREFIX"}, "on-manifest": {"BERTH_VERIFY_FUNCTION"}}
    for function in FUNCTIONS:
        extra = extras.get(function, set())
        assert set(_environment(env["variables"], function)) == {"BERTH_RELEASE_BUCKET", "BERTH_SERVICES_PREFIX"} | extra
    assert _environment(env["variables"], "on-image-push")["BERTH_SWEEP_LOOKBACK_MINUTES"] == "60"
    assert _environment(env["variables"], "on-image-push")["BERTH_PUSH_INDEX_PREFIX"] == "/berth/push-index/"
    (logging,) = fn["logging_config"]
    assert logging["log_format"] == "JSON"
    assert set(tf_blocks(files, "locals")["functions"]) == set(FUNCTIONS)
    assert set(tf_blocks(files, "locals")["policies"]) == set(tf_blocks(files, "locals")["functions"])

    notification = tf_blocks(files, "resource")["aws_s3_bucket_notification.release"]["lambda_function"][0]
    assert (notification["filter_prefix"], notification["filter_suffix"]) == ("manifests/", ".json")

    pattern = tf_blocks(files, "resource")["aws_cloudwatch_event_rule.ecr_push"]["event_pattern"]
    for literal in ('"aws.ecr"', '"ECR Image Action"', '"PUSH"', '"SUCCESS"', "action-type", "detail-type"):
        assert literal in pattern

    resources = tf_blocks(files, "resource")
    pattern = resources["aws_cloudwatch_event_rule.pipeline_state"]["event_pattern"]
    for literal in (
        '"aws.codepipeline"',
        '"CodePipeline Pipeline Execution State Change"',
        "detail-type",
        "pipeline",
        "prefix",
        "var.pipeline_name_prefix",
    ):
        assert literal in pattern
    target = resources["aws_cloudwatch_event_target.on_pipeline_event"]
    assert target["rule"] == "${aws_cloudwatch_event_rule.pipeline_state.name}"
    assert target["arn"] == '${aws_lambda_function.function["on-pipeline-event"].arn}'
    (dlq,) = target["dead_letter_config"]
    assert dlq["arn"] == "${aws_sqs_queue.failed_events.arn}"
    (retry,) = target["retry_policy"]
    assert retry == {"maximum_retry_attempts": 185, "maximum_event_age_in_seconds": 86400}
    permission = resources["aws_lambda_permission.on_pipeline_event_events"]
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.pipeline_state.arn}"


PLATFORM_VARIABLE_VALUES = {
    "name_prefix": "berth-",
    "verify_subnet_ids": [],
    "services_path": "/berth/services",
    "push_index_path": "/berth/push-index",
    "push_sweep_lookback_minutes": 60,
    "slack_webhook_parameter_name": None,
    "slack_webhook_kms_key_arn": None,
    "create_notification_topic": False,
    "notification_topic_arn": None,
    "notification_topic_kms_key_arn": None,
}


def _platform_env(function: str, **variables) -> dict:
    """An evaluation environment of the platform module for one function (each.key)."""
    files = load_tf_dir(MODULES["platform"])
    env = {
        "var": {**PLATFORM_VARIABLE_VALUES, **variables},
        "each": {"key": function},
        "local": {"release_bucket_name": "berth-releases-123456789012-ap-northeast-1", "region": "ap-northeast-1",
                  "partition": "aws", "account_id": "123456789012"},
        "aws_sns_topic": {"releases": [{"arn": "arn:aws:sns:ap-northeast-1:123456789012:berth-releases"}]},
    }
    resolve_locals(tf_blocks(files, "locals"), env, ["verify_function_name", "notification_topic_arn", "extra_environment"])
    return env


def _environment(variables: str, function: str, **platform_variables) -> dict:
    """One function's environment variables, evaluated from the module."""
    return evaluate(variables, _platform_env(function, **platform_variables))


def _dynamic_sids(document: str, **platform_variables) -> set:
    files = load_tf_dir(MODULES["platform"])
    env = _platform_env("on-pipeline-event", **platform_variables)
    out = set()
    for d in tf_blocks(files, "data")[f"aws_iam_policy_document.{document}"].get("dynamic", []):
        if evaluate(d["statement"]["for_each"], env):
            out.add(d["statement"]["content"][0]["sid"])
    return out


def test_notifications_reach_on_pipeline_event_only_and_grant_exactly_what_they_need():
    files = load_tf_dir(MODULES["platform"])
    fn = tf_blocks(files, "resource")["aws_lambda_function.function"]
    (env,) = fn["environment"]
    assert "slack_webhook_url" not in tf_blocks(files, "variable")
    for function in FUNCTIONS:
        assert not {k for k in _environment(env["variables"], function) if k in ("BERTH_SNS_TOPIC_ARN", "BERTH_SLACK_WEBHOOK_PARAMETER")}
        got = _environment(env["variables"], function, create_notification_topic=True, slack_webhook_parameter_name=SLACK_PARAMETER)
        notify = {k: v for k, v in got.items() if k in ("BERTH_SNS_TOPIC_ARN", "BERTH_SLACK_WEBHOOK_PARAMETER")}
        if function == "on-pipeline-event":
            assert notify == {
                "BERTH_SNS_TOPIC_ARN": "arn:aws:sns:ap-northeast-1:123456789012:berth-releases",
                "BERTH_SLACK_WEBHOOK_PARAMETER": SLACK_PARAMETER,
            }
        else:
            assert notify == {}, function
    given = "arn:aws:sns:ap-northeast-1:123456789012:team"
    assert _environment(env["variables"], "on-pipeline-event", notification_topic_arn=given)["BERTH_SNS_TOPIC_ARN"] == given

    assert _dynamic_sids("on_pipeline_event") == set()
    assert _dynamic_sids("on_pipeline_event", create_notification_topic=True) == {"PublishReleaseNotifications"}
    assert _dynamic_sids("on_pipeline_event", slack_webhook_parameter_name=SLACK_PARAMETER) == {"ReadSlackWebhook"}
    assert _dynamic_sids("on_pipeline_event", slack_webhook_parameter_name=SLACK_PARAMETER, slack_webhook_kms_key_arn=SLACK_KEY) == {
        "ReadSlackWebhook",
        "DecryptSlackWebhook",
    }
    key = "arn:aws:kms:ap-northeast-1:123456789012:key/2f7c"
    assert _dynamic_sids("on_pipeline_event", notification_topic_arn=given, notification_topic_kms_key_arn=key) == {
        "PublishReleaseNotifications",
        "EncryptTopicMessages",
    }
    (topic_validation,) = tf_blocks(files, "variable")["notification_topic_arn"]["validation"]
    for arn, ok in ((None, True), (given, True), (given + ".fifo", False)):
        assert evaluate(topic_validation["condition"], {"var": {"notification_topic_arn": arn}}) is ok
    (validation,) = tf_blocks(files, "variable")["slack_webhook_parameter_name"]["validation"]
    for name, ok in ((SLACK_PARAMETER, True), (None, True), ("", False), ("https://hooks.slack.com/services/T0/B0/X", False)):
        assert evaluate(validation["condition"], {"var": {"slack_webhook_parameter_name": name}}) is ok


def test_dashboard_and_group_notifications():
    files = load_tf_dir(MODULES["platform"])
    env = {"var": {}, "local": {"region": "ap-northeast-1"}}
    resolve_locals(tf_blocks(files, "locals"), env, ["search"])
    body = json.loads(evaluate(tf_blocks(files, "resource")["aws_cloudwatch_dashboard.releases"]["dashboard_body"], env))
    expressions = [m[0]["expression"] for w in body["widgets"] for m in w["properties"]["metrics"]]
    for metric in ("ReleasesStarted", "ReleasesSucceeded", "ReleasesFailed", "Rollbacks", "LeadTimeSeconds", "MigrationSeconds", "DeploymentSeconds"):
        (expression,) = [e for e in expressions if f'MetricName="{metric}"' in e]
        assert expression.startswith("SEARCH('{berth,Service} ")
    notification = tf_blocks(files, "resource")["aws_s3_bucket_notification.release"]["lambda_function"]
    assert [(n["filter_prefix"], n["filter_suffix"]) for n in notification] == [("manifests/", ".json"), ("groups/", ".json")]


def test_pipeline_matches_the_handoff_contract():
    files = load_tf_dir(MODULES["service"])
    resources = tf_blocks(files, "resource")
    p = resources["aws_codepipeline.service"]
    assert (p["pipeline_type"], p["execution_mode"]) == ("V2", "QUEUED")
    assert {v["name"]: v["default_value"] for v in p["variable"]} == {
        "BERTH_SERVICE": "(none)",
        "BERTH_RELEASE": "(none)",
        "BERTH_ROLLBACK": "false",
    }
    stages = {s["name"]: s["action"] for s in p["stage"]}
    assert list(stages) == ["Source", "Release"]
    (source,) = stages["Source"]
    assert source["name"] == "Source"
    assert source["configuration"]["PollForSourceChanges"] == "false"
    assert source["configuration"]["S3ObjectKey"] == "artifacts/${var.service_name}/source.zip"
    for controller in ("CODE_DEPLOY", "ECS"):
        for scan, orders in ((None, [("Migrate", 1), ("Deploy", 2)]), ({"block": ["HIGH"]}, [("Scan", 1), ("Migrate", 2), ("Deploy", 3)])):
            env = {"var": {"scan": scan, "deployment_controller": controller}, "local": {"code_deploy": controller == "CODE_DEPLOY"}}
            assert [(a["name"], evaluate(a["run_order"], env)) for a in release_actions(controller, scan)] == orders
    (release,) = [st for st in p["stage"] if st["name"] == "Release"]
    scan_action = release["dynamic"][0]
    content = scan_action["action"]["content"][0]
    assert (content["name"], content["run_order"], content["configuration"]["UserParameters"]) == (
        "Scan",
        1,
        "${local.lambda_user_parameters}",
    )
    assert scan_action["action"]["for_each"] == "${var.scan == null ? [] : [1]}"
    actions = {a["name"]: a for a in release_actions("CODE_DEPLOY", None)}
    user_parameters = tf_blocks(files, "locals")["lambda_user_parameters"]
    assert actions["Migrate"]["configuration"]["UserParameters"] == "${local.lambda_user_parameters}"
    assert user_parameters == '{"release":"#{variables.BERTH_RELEASE}","rollback":"#{variables.BERTH_ROLLBACK}","execution":"#{codepipeline.PipelineExecutionId}"}'
    assert actions["Deploy"]["provider"] == "CodeDeployToECS"
    assert not any(k.startswith("Image") for k in actions["Deploy"]["configuration"])
    # Deploy deploys what Migrate rendered under the stage lock, not the Source artifact.
    assert actions["Migrate"]["input_artifacts"] == ["Release"]
    assert actions["Migrate"]["output_artifacts"] == ["DeployArtifact"]
    assert actions["Deploy"]["input_artifacts"] == ["DeployArtifact"]
    cfg = actions["Deploy"]["configuration"]
    assert (cfg["TaskDefinitionTemplateArtifact"], cfg["AppSpecTemplateArtifact"]) == ("DeployArtifact", "DeployArtifact")
    assert content["input_artifacts"] == ["Release"], "the scan gate is unchanged"
    # The Deploy action reads the deployment group's name from the resource: Terraform creates the
    # group first (the CloudFormation template refers to it too).
    assert actions["Deploy"]["configuration"]["DeploymentGroupName"] == (
        "${aws_codedeploy_deployment_group.service[0].deployment_group_name}"
    )

    dg = resources["aws_codedeploy_deployment_group.service"]
    (rollback,) = dg["auto_rollback_configuration"]
    assert rollback["events"] == ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]
    (style,) = dg["deployment_style"]
    assert style == {"deployment_type": "BLUE_GREEN", "deployment_option": "WITH_TRAFFIC_CONTROL"}


def release_actions(controller: str, scan, post_migration=None) -> list[dict]:
    """The Release stage's actions for one deployment controller and scan policy, in order:
    dynamic blocks whose for_each is empty are left out (Terraform renders dynamic blocks after the
    static ones of the same type, so the order is the declared order of Scan, Migrate, Deploy,
    PostMigrate)."""
    files = load_tf_dir(MODULES["service"])
    p = tf_blocks(files, "resource")["aws_codepipeline.service"]
    (release,) = [st for st in p["stage"] if st["name"] == "Release"]
    env = {
        "var": {"scan": scan, "deployment_controller": controller, "post_migration": post_migration},
        "local": {"code_deploy": controller == "CODE_DEPLOY"},
    }
    taken = [d["action"]["content"][0] for d in release.get("dynamic", []) if evaluate(d["action"]["for_each"], env)]
    scan_actions = [a for a in taken if a["name"] == "Scan"]
    deploy_actions = [a for a in taken if a["name"] == "Deploy"]
    post_actions = [a for a in taken if a["name"] == "PostMigrate"]
    return scan_actions + list(release.get("action", [])) + deploy_actions + post_actions


POST_MIGRATION = {"container": "app", "command": ["bin/rails", "db:contract"], "timeout_seconds": 600}


def test_a_post_migration_adds_post_migrate_after_deploy_as_cloudformation_does():
    files = load_tf_dir(MODULES["service"])
    for controller in ("CODE_DEPLOY", "ECS", "TASK"):
        for scan, first in ((None, 1), ({"block": ["HIGH"]}, 2)):
            env = {"var": {"scan": scan, "post_migration": POST_MIGRATION}, "local": {}}
            actions = release_actions(controller, scan, POST_MIGRATION)
            names = [(a["name"], evaluate(a["run_order"], env)) for a in actions][-3:]
            assert names == [("Migrate", first), ("Deploy", first + 1), ("PostMigrate", first + 2)]
            assert [a["name"] for a in release_actions(controller, scan)][-1] == "Deploy"
    (post,) = [a for a in release_actions("ECS", None, POST_MIGRATION) if a["name"] == "PostMigrate"]
    assert post["configuration"]["FunctionName"] == "${var.migrate_function_name}"
    assert post["input_artifacts"] == ["DeployArtifact"]
    user_parameters = tf_blocks(files, "locals")["post_migrate_user_parameters"]
    assert json.loads(user_parameters)["migration"] == "post"
    entry = tf_blocks(files, "locals")["registry_entry"]
    env = {"var": {"post_migration": POST_MIGRATION}}
    assert evaluate(entry["post_migration"], env) == POST_MIGRATION
    assert evaluate(entry["post_migration"], {"var": {"post_migration": None}}) is None
    validations = tf_blocks(files, "variable")["post_migration"]["validation"]
    for value, ok in ((POST_MIGRATION, True), ({**POST_MIGRATION, "command": []}, False),
                      ({**POST_MIGRATION, "timeout_seconds": 0}, False), (None, True)):
        results = [evaluate(v["condition"], {"var": {"post_migration": value}}) for v in validations]
        assert all(results) is ok, (value, results)


def _service_env(service_name="web", prefix="berth-", **variables):
    files = load_tf_dir(MODULES["service"])
    env = {"var": {"service_name": service_name, "pipeline_name_prefix": prefix, **variables}, "local": {}}
    locals_ = tf_blocks(files, "locals")
    env["local"]["pipeline_name"] = evaluate(locals_["pipeline_name"], env)
    return files, env


def test_pipeline_names_over_100_characters_are_refused():
    files, _ = _service_env()
    (lifecycle,) = tf_blocks(files, "resource")["aws_codepipeline.service"]["lifecycle"]
    precondition = lifecycle["precondition"][0]
    for prefix, service, ok in (("berth-", "web", True), ("p" * 36, "s" * 64, True), ("p" * 37, "s" * 64, False)):
        _, env = _service_env(service, prefix)
        assert evaluate(precondition["condition"], env) is ok, (len(prefix), len(service))
    # The platform keeps every prefix it accepts at 36 characters or fewer.
    (validation,) = tf_blocks(load_tf_dir(MODULES["platform"]), "variable")["pipeline_name_prefix"]["validation"]
    for prefix, ok in (("berth-", True), ("p" * 36, True), ("p" * 37, False), ("bad/", False)):
        assert evaluate(validation["condition"], {"var": {"pipeline_name_prefix": prefix}}) is ok, prefix


@pytest.mark.parametrize(
    "service",
    ["web", "Web_App.v2", "UPPER", "a" * 64, "...", "_-_", "x.y", "a" * 20 + "_" + "b" * 43],
)
def test_artifact_bucket_names_are_valid_for_every_legal_service_name(service):
    """S3: "Bucket names must be between 3 (min) and 63 (max) characters long" and "can consist
    only of lowercase letters, numbers, periods (.), and hyphens (-)", starting and ending with a
    letter or number. bucket_prefix is followed by 26 generated characters (digits)."""
    files, env = _service_env(service)
    resolve_locals(tf_blocks(files, "locals"), env, ["artifact_bucket_base", "artifact_bucket_name"])
    prefix = evaluate(tf_blocks(files, "resource")["aws_s3_bucket.artifacts"]["bucket_prefix"], env)
    assert len(prefix) <= 37, prefix
    name = prefix + "0" * 26
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]", name), name
    assert not name.startswith("xn--")


def test_long_service_names_keep_distinct_artifact_bucket_prefixes():
    names = set()
    for service in ("a" * 40 + "x", "a" * 40 + "y"):
        files, env = _service_env(service)
        resolve_locals(tf_blocks(files, "locals"), env, ["artifact_bucket_base", "artifact_bucket_name"])
        names.add(env["local"]["artifact_bucket_name"])
    assert len(names) == 2


MIGRATION = {
    "container": "app",
    "command": ["bin/rails", "db:migrate"],
    "timeout_seconds": 1800,
    "subnets": ["subnet-1"],
    "security_groups": ["sg-1"],
}


@pytest.mark.parametrize(
    "migration, ok",
    [
        (None, True),
        (MIGRATION, True),
        ({**MIGRATION, "timeout_seconds": 82800}, True),
        ({**MIGRATION, "timeout_seconds": 82801}, False),
        ({**MIGRATION, "timeout_seconds": 0}, False),
        ({**MIGRATION, "subnets": []}, False),
        ({**MIGRATION, "security_groups": []}, False),
        ({**MIGRATION, "command": []}, False),
        ({**MIGRATION, "subnets": [""]}, False),
    ],
)
def test_migration_validation(migration, ok):
    validations = tf_blocks(load_tf_dir(MODULES["service"]), "variable")["migration"]["validation"]
    results = [evaluate(v["condition"], {"var": {"migration": migration}}) for v in validations]
    assert all(results) is ok, results


def test_registry_entry_names_the_deployment():
    files, env = _service_env()
    entry = tf_blocks(files, "locals")["registry_entry"]
    for controller, deployment in (("CODE_DEPLOY", {"application": "berth-web", "group": "web"}), ("ECS", None)):
        env = {"var": {"service_name": "web"}, "local": {"code_deploy": controller == "CODE_DEPLOY", "codedeploy_app_name": "berth-web"}}
        # An ECS-controlled service has no CodeDeploy application or group.
        assert evaluate(entry["deployment"], env) == deployment, controller
    assert tf_blocks(files, "locals")["code_deploy"] == '${var.deployment_controller == "CODE_DEPLOY"}'
    assert tf_blocks(files, "locals")["codedeploy_app_name"] == "${local.pipeline_name}"


def test_push_sweep_schedule_targets_on_image_push_and_can_be_turned_off():
    files = load_tf_dir(MODULES["platform"])
    resources = tf_blocks(files, "resource")
    rule = resources["aws_cloudwatch_event_rule.push_sweep"]
    assert rule["schedule_expression"] == "${var.push_sweep_schedule}"
    assert tf_blocks(files, "variable")["push_sweep_schedule"]["default"] == "rate(5 minutes)"
    target = resources["aws_cloudwatch_event_target.push_sweep"]
    assert target["arn"] == '${aws_lambda_function.function["on-image-push"].arn}'
    (dlq,) = target["dead_letter_config"]
    assert dlq["arn"] == "${aws_sqs_queue.failed_events.arn}"
    permission = resources["aws_lambda_permission.on_image_push_sweep"]
    assert (permission["principal"], permission["source_arn"]) == (
        "events.amazonaws.com",
        "${aws_cloudwatch_event_rule.push_sweep[0].arn}",
    )
    for schedule, count in (("rate(5 minutes)", 1), ("cron(0/10 * * * ? *)", 1), (None, 0)):
        env = {"var": {"push_sweep_schedule": schedule}, "local": {}}
        resolve_locals(tf_blocks(files, "locals"), env, ["push_sweep"])
        for name in ("aws_cloudwatch_event_rule.push_sweep", "aws_cloudwatch_event_target.push_sweep",
                     "aws_lambda_permission.on_image_push_sweep"):
            assert evaluate(resources[name]["count"], env) == count, (name, schedule)
    (validation,) = tf_blocks(files, "variable")["push_sweep_schedule"]["validation"]
    for schedule, ok in (("rate(5 minutes)", True), (None, True), ("", False), ("cron(0 * * * ? *)", True), ("5 minutes", False)):
        assert evaluate(validation["condition"], {"var": {"push_sweep_schedule": schedule}}) is ok


def _release_bucket_statements(**variables):
    files = load_tf_dir(MODULES["platform"])
    env = {
        "var": {"release_writer_arns": [], "service_release_writer_arns": {}, **variables},
        "local": {"account_root_arn": "arn:aws:iam::123456789012:root"},
        "aws_s3_bucket": {"release": {"arn": "arn:aws:s3:::bucket"}},
        "aws_iam_role": {"function": {"on-image-push": {"arn": "arn:aws:iam::123456789012:role/push"}}},
    }
    resolve_locals(tf_blocks(files, "locals"), env, ["all_release_writers", "restrict_release_writes", "service_release_writers"])
    doc = tf_blocks(files, "data")["aws_iam_policy_document.release_bucket"]
    out = []
    for dynamic in doc["dynamic"]:
        block = dynamic["statement"]
        for key, value in _iterate(evaluate(block["for_each"], env)):
            env["statement"] = {"key": key, "value": value}
            (content,) = block["content"]
            (condition,) = content["condition"]
            out.append(
                {
                    "sid": evaluate(content["sid"], env),
                    "effect": content["effect"],
                    "resources": evaluate(content["resources"], env),
                    "not_like": evaluate(condition["values"], env),
                    "test": (condition["test"], condition["variable"]),
                }
            )
    return out


def _iterate(collection):
    return collection.items() if isinstance(collection, dict) else enumerate(collection)


def test_release_writers_restrict_manifest_writes_platform_wide_and_per_service():
    assert _release_bucket_statements() == []
    ci = "arn:aws:iam::123456789012:role/ci-*"
    web_ci = "arn:aws:iam::123456789012:role/web-ci"
    (everyone,) = _release_bucket_statements(release_writer_arns=[ci])
    assert everyone["sid"] == "OnlyReleaseWritersWriteManifests" and everyone["effect"] == "Deny"
    assert everyone["resources"] == ["arn:aws:s3:::bucket/manifests/*", "arn:aws:s3:::bucket/groups/*"]
    assert everyone["test"] == ("ArnNotLike", "aws:PrincipalArn")
    assert everyone["not_like"] == [ci, "arn:aws:iam::123456789012:role/push", "arn:aws:iam::123456789012:root"]

    statements = _release_bucket_statements(release_writer_arns=[ci], service_release_writer_arns={"web": [web_ci]})
    everyone, web = statements
    assert web_ci in everyone["not_like"]  # not locked out of their own service by the platform-wide deny
    assert web["sid"] == "OnlyServiceReleaseWritersWriteManifests0"
    assert web["resources"] == ["arn:aws:s3:::bucket/manifests/web/*"]
    assert web["not_like"] == [web_ci, ci, "arn:aws:iam::123456789012:role/push", "arn:aws:iam::123456789012:root"]

    # Per-service writers only: those services are protected, nothing platform-wide.
    (web,) = _release_bucket_statements(service_release_writer_arns={"web": [web_ci]})
    assert web["resources"] == ["arn:aws:s3:::bucket/manifests/web/*"]


def test_verify_function_in_a_vpc_only_when_given_subnets():
    files = load_tf_dir(MODULES["platform"])
    fn = tf_blocks(files, "resource")["aws_lambda_function.function"]
    (vpc,) = [d["vpc_config"] for d in fn["dynamic"] if "vpc_config" in d]
    for function, subnets, count in (("verify", ["subnet-1"], 1), ("verify", [], 0), ("on-manifest", ["subnet-1"], 0)):
        env = {"var": {"verify_subnet_ids": subnets}, "each": {"key": function}, "local": {}}
        resolve_locals(tf_blocks(files, "locals"), env, ["verify_in_vpc"])
        assert len(evaluate(vpc["for_each"], env)) == count, (function, subnets)
    assert tf_blocks(files, "locals")["functions"]["verify"]["timeout"] == 300
    doc = tf_blocks(files, "data")["aws_iam_policy_document.verify"]
    vpc_sids = {d["statement"]["content"][0]["sid"] for d in doc["dynamic"]}
    assert vpc_sids == {"ManageVpcNetworkInterfaces", "DescribeVpcNetwork"}
    for d in doc["dynamic"]:
        assert d["statement"]["for_each"] == "${local.verify_in_vpc ? [1] : []}"


def test_service_verify_section_alarms_and_reroute_wait():
    files = load_tf_dir(MODULES["service"])
    locals_ = tf_blocks(files, "locals")
    verify = {"base_url": "http://test:8080", "paths": ["/health", "/ready"], "expected_status": 204, "attempts": 4, "interval_seconds": 15}
    env = {"var": {"verify": verify}, "local": {}}
    section = evaluate(locals_["registry_entry"]["verify"], env)
    assert section == {
        "base_url": "http://test:8080",
        "checks": [{"path": "/health", "status": 204}, {"path": "/ready", "status": 204}],
        "attempts": 4,
        "interval_seconds": 15,
        "timeout_seconds": 5,
    }
    assert evaluate(locals_["registry_entry"]["verify"], {"var": {"verify": None}, "local": {}}) is None
    validations = tf_blocks(files, "variable")["verify"]["validation"]
    cases = (
        (verify, True), (None, True), ({**verify, "base_url": "ftp://x"}, False),
        ({**verify, "paths": ["health"]}, False),
        # The registry allows 1 to 10 attempts: the module refuses what the functions would.
        ({**verify, "attempts": 10}, True), ({**verify, "attempts": 11}, False),
        ({**verify, "attempts": 0}, False), ({**verify, "interval_seconds": 61}, False),
    )
    for v, ok in cases:
        passed = all(evaluate(rule["condition"], {"var": {"verify": v}}) for rule in validations)
        assert passed is ok, v

    alarms_in = {
        "load_balancer_arn": "arn:aws:elasticloadbalancing:r:1:loadbalancer/app/web/abc",
        "blue_target_group_arn": "arn:aws:elasticloadbalancing:r:1:targetgroup/web-blue/1",
        "green_target_group_arn": "arn:aws:elasticloadbalancing:r:1:targetgroup/web-green/2",
        "target_5xx_threshold": 5, "unhealthy_host_threshold": 1, "period_seconds": 60, "evaluation_periods": 2,
    }
    env = {"var": {"target_group_alarms": alarms_in, "blue_target_group_name": "web-blue", "green_target_group_name": "web-green"}, "local": {}}
    alarms = evaluate(locals_["target_group_alarms"], env)
    assert {(a["metric"], a["target_group"].split(":")[5]) for a in alarms.values()} == {
        ("HTTPCode_Target_5XX_Count", "targetgroup/web-blue/1"),
        ("HTTPCode_Target_5XX_Count", "targetgroup/web-green/2"),
        ("UnHealthyHostCount", "targetgroup/web-blue/1"),
        ("UnHealthyHostCount", "targetgroup/web-green/2"),
    }
    alarm = tf_blocks(files, "resource")["aws_cloudwatch_metric_alarm.target_group"]
    env["each"] = {"key": "blue-target-5xx", "value": alarms["blue-target-5xx"]}
    assert evaluate(alarm["dimensions"], env) == {"LoadBalancer": "app/web/abc", "TargetGroup": "targetgroup/web-blue/1"}
    assert alarm["treat_missing_data"] == "notBreaching"
    assert evaluate(locals_["target_group_alarms"], {"var": {"target_group_alarms": None}, "local": {}}) == {}
    # An alarm about blue never stops its replacement: the deployment group watches only the
    # caller's alarms, never the target group alarms (guide: "Alarms during an incident").
    mine = evaluate(locals_["deployment_alarms"], {"var": {"rollback_alarm_names": ["web-new-version-5xx"]}, "local": {}})
    assert mine == ["web-new-version-5xx"]
    assert "aws_cloudwatch_metric_alarm" not in locals_["deployment_alarms"]
    limits = tf_blocks(files, "variable")["rollback_alarm_names"]["validation"]
    for names, ok in ((["a"] * 5, True), (["a"] * 6, False), (["a,b"], False)):
        assert all(evaluate(v["condition"], {"var": {"rollback_alarm_names": names}}) for v in limits) is ok, names

    (bg,) = tf_blocks(files, "resource")["aws_codedeploy_deployment_group.service"]["blue_green_deployment_config"]
    (ready,) = bg["deployment_ready_option"]
    for wait, action, minutes in ((0, "CONTINUE_DEPLOYMENT", None), (30, "STOP_DEPLOYMENT", 30)):
        env = {"var": {"traffic_reroute_wait_minutes": wait}}
        assert (evaluate(ready["action_on_timeout"], env), evaluate(ready["wait_time_in_minutes"], env)) == (action, minutes)

    codedeploy = {st["sid"]: st for st in policy_statements_tf(tf_blocks(files, "data")["aws_iam_policy_document.codedeploy"])}
    assert codedeploy["InvokeVerifyHook"]["actions"] == ["lambda:InvokeFunction"]
    assert codedeploy["InvokeVerifyHook"]["resources"] == ["${local.verify_function}"]


def test_target_group_alarms_go_to_verify_which_rolls_back_only_the_version_they_are_about():
    """As the CloudFormation stack: the target group alarms' changes to ALARM go to verify (an
    EventBridge rule and the permission to invoke it), and the registry entry lists the alarms so
    verify knows whose they are; only a CODE_DEPLOY service has a replacement task set to weigh
    them against (tests/tests/verify.rs shows an alarm about blue ignored, one about green rolled
    back)."""
    files = load_tf_dir(MODULES["service"])
    locals_ = tf_blocks(files, "locals")
    resources = tf_blocks(files, "resource")
    groups = {"blue-target-5xx": {}, "green-target-5xx": {}, "blue-unhealthy-hosts": {}, "green-unhealthy-hosts": {}}
    listed = locals_["registry_entry"]["target_group_alarms"]
    env = {"local": {"code_deploy": True, "target_group_alarms": groups, "pipeline_name": "berth-web"}}
    assert evaluate(listed, env) == [
        "berth-web-blue-target-5xx", "berth-web-blue-unhealthy-hosts", "berth-web-green-target-5xx", "berth-web-green-unhealthy-hosts",
    ]
    alarm = resources["aws_cloudwatch_metric_alarm.target_group"]
    assert alarm["alarm_name"] == "${local.pipeline_name}-${each.key}", "the names the registry lists"
    assert evaluate(listed, {"local": {**env["local"], "code_deploy": False}}) == []
    assert evaluate(listed, {"local": {**env["local"], "target_group_alarms": {}}}) == []

    rule = resources["aws_cloudwatch_event_rule.target_group_alarms"]
    for code_deploy, alarms, count in ((True, groups, 1), (False, groups, 0), (True, {}, 0)):
        assert evaluate(rule["count"], {"local": {"code_deploy": code_deploy, "target_group_alarms": alarms}}) == count
    arns = {k: {"arn": f"arn:aws:cloudwatch:r:1:alarm:berth-web-{k}"} for k in groups}
    pattern = json.loads(evaluate(rule["event_pattern"], {
        "local": env["local"], "aws_cloudwatch_metric_alarm": {"target_group": arns}}))
    assert pattern == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": [arns[k]["arn"] for k in sorted(groups)],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    target = resources["aws_cloudwatch_event_target.target_group_alarms"]
    assert target["arn"] == "${local.verify_function}"
    permission = resources["aws_lambda_permission.target_group_alarms"]
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["function_name"] == "${local.verify_function}"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.target_group_alarms[0].arn}"

    platform = load_tf_dir(MODULES["platform"])
    verify = {st["sid"]: st for st in policy_statements_tf(tf_blocks(platform, "data")["aws_iam_policy_document.verify"])}
    assert verify["ListDeploymentsInFlight"]["actions"] == ["codedeploy:ListDeployments"]
    assert sorted(verify["RollBackOnAlarmsAboutGreen"]["actions"]) == [
        "codedeploy:GetDeploymentTarget", "codedeploy:ListDeploymentTargets", "codedeploy:StopDeployment"]
    assert verify["RollBackOnAlarmsAboutGreen"]["resources"] == ["*"]


def test_the_service_module_attaches_nothing_to_roles_it_does_not_create():
    """Adding a service never edits a shared role's policy: every role policy of the service module
    belongs to a role of the module, and nothing is attached to another role."""
    files = load_tf_dir(MODULES["service"])
    resources = tf_blocks(files, "resource")
    assert not [n for n in resources if n.split(".")[0] in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment", "aws_iam_policy")]
    for name, body in resources.items():
        if name.startswith("aws_iam_role_policy."):
            assert re.fullmatch(r"\$\{aws_iam_role\.\w+(\[0\])?\.(id|name)\}", body["role"]), (name, body["role"])
    variables = tf_blocks(files, "variable")
    assert not [v for v in variables if v.endswith("_role_name")]


def test_an_ecs_controlled_service_needs_the_deploy_function():
    files, env = _service_env()
    (lifecycle,) = tf_blocks(files, "resource")["aws_codepipeline.service"]["lifecycle"]
    (precondition,) = [p for p in lifecycle["precondition"] if "deploy_function_name" in p["condition"]]
    for controller, function, ok in (("CODE_DEPLOY", None, True), ("ECS", None, False), ("ECS", "berth-deploy", True)):
        env["var"]["deployment_controller"], env["var"]["deploy_function_name"] = controller, function
        resolve_locals(tf_blocks(files, "locals"), env, ["code_deploy"])
        assert evaluate(precondition["condition"], env) is ok, (controller, function)


def test_scan_policy_is_validated_like_the_cloudformation_parameters():
    files = load_tf_dir(MODULES["service"])
    entry = tf_blocks(files, "locals")["registry_entry"]
    scan = {"block": ["CRITICAL"], "wait_seconds": 900, "ignore": []}
    assert evaluate(entry["scan"], {"var": {"scan": scan}}) == scan
    validations = tf_blocks(files, "variable")["scan"]["validation"]
    for value, ok in ((scan, True), (None, True), ({**scan, "block": ["SEVERE"]}, False), ({**scan, "wait_seconds": 30}, False)):
        assert all(evaluate(v["condition"], {"var": {"scan": value}}) for v in validations) is ok


def test_platform_exports_deploy_and_the_ecs_hook_role_like_the_cloudformation_stack():
    files = load_tf_dir(MODULES["platform"])
    outputs = tf_blocks(files, "output")
    assert outputs["deploy_function_name"]["value"] == '${aws_lambda_function.function["deploy"].function_name}'
    assert outputs["deploy_function_arn"]["value"] == '${aws_lambda_function.function["deploy"].arn}'
    assert outputs["deploy_role_name"]["value"] == '${aws_iam_role.function["deploy"].name}'
    assert outputs["ecs_hook_role_arn"]["value"] == "${aws_iam_role.ecs_hook.arn}"
    functions = tf_blocks(files, "locals")["functions"]
    assert {k: v for k, v in functions["deploy"].items() if k != "description"} == {
        k: v for k, v in functions["migrate"].items() if k != "description"
    }
    data = tf_blocks(files, "data")
    (trust,) = data["aws_iam_policy_document.ecs_hook_assume"]["statement"]
    assert trust["actions"] == ["sts:AssumeRole"]
    assert trust["principals"] == [{"type": "Service", "identifiers": ["ecs.amazonaws.com"]}]
    (invoke,) = policy_statements_tf(data["aws_iam_policy_document.ecs_hook"])
    assert (invoke["actions"], invoke["resources"]) == (["lambda:InvokeFunction"], ['${aws_lambda_function.function["verify"].arn}'])
    role = tf_blocks(files, "resource")["aws_iam_role.ecs_hook"]
    assert role["assume_role_policy"] == "${data.aws_iam_policy_document.ecs_hook_assume.json}"


def test_the_service_module_writes_the_push_index_entry_of_its_push_trigger():
    """docs/reference/registry.md#the-push-index: <push_index_path>/<repository>/<service> = <service>,
    only with a push trigger, the repository's name also when the container names a full URI."""
    files = load_tf_dir(MODULES["service"])
    entry = tf_blocks(files, "resource")["aws_ssm_parameter.push_index"]
    assert entry["name"] == "${var.push_index_path}/${local.push_trigger_repository}/${var.service_name}"
    assert entry["value"] == "${var.service_name}" and entry["type"] == "String"
    assert tf_blocks(files, "variable")["push_index_path"]["default"] == "/berth/push-index"
    uri = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app"
    for containers, trigger, count, repository in (
        ({"app": "web/app", "nginx": "web/nginx"}, {"container": "app"}, 1, "web/app"),
        ({"app": uri}, {"container": "app"}, 1, "web/app"),
        ({"app": "web/app"}, None, 0, None),
    ):
        env = {"var": {"containers": containers, "push_trigger": trigger}, "local": {}}
        resolve_locals(tf_blocks(files, "locals"), env, ["push_trigger_repository"])
        assert env["local"]["push_trigger_repository"] == repository, containers
        assert evaluate(entry["count"], env) == count


# ------------------------------------------------------------------ task targets (deployment_controller TASK)


def _task_env(**variables):
    files, env = _service_env("report", **{"cluster_name": "prod", "containers": {"job": "report/job"},
                                            "push_trigger": {"container": "job", "tag_pattern": "^v[0-9]+$"},
                                            "migration": None, "post_migration": None, "scan": None, "verify": None, "network": None,
                                            "task_family": None, "ecs_service_name": None, "task_target": None,
                                            "appspec_container": None, "appspec_port": None,
                                            "deployment_controller": "TASK", **variables})
    resolve_locals(tf_blocks(files, "locals"), env, ["code_deploy", "task_target", "ecs_service_name", "task_family", "codedeploy_app_name"])
    return files, env


def _entry_tf(files, env) -> dict:
    """The registry entry the module writes: jsonencode of every field, nulls included."""
    entry = tf_blocks(files, "locals")["registry_entry"]
    return {key: evaluate(value, env) for key, value in entry.items()}


def test_a_task_targets_entry_matches_the_cloudformation_one():
    """Same schedules, rules and sections as the CloudFormation stack writes for the same inputs
    (test_service_stack.REPORT_REGISTRY_ENTRY). Terraform writes optional sections as null, as it
    does for every entry, and each default (group, event_bus) explicitly."""
    from test_service_stack import REPORT_REGISTRY_ENTRY

    task_target = {
        "schedules": [{"name": "nightly-report", "group": "berth-report"}, {"name": "weekly-report", "group": "default"}],
        "rules": [{"rule": "hourly-report", "target_id": "report", "event_bus": "default"},
                  {"rule": "on-upload", "target_id": "t.1", "event_bus": REPORT_REGISTRY_ENTRY["task_target"]["rules"][1]["event_bus"]}],
    }
    files, env = _task_env(task_target=task_target)
    entry = _entry_tf(files, env)
    expected = json.loads(json.dumps(REPORT_REGISTRY_ENTRY))
    expected["task_target"]["schedules"][1]["group"] = "default"
    expected["task_target"]["rules"][0]["event_bus"] = "default"
    assert {k: entry.get(k) for k in expected} == expected
    # Every other field is unset (null, or an empty list), as the stack leaves it out.
    assert all(v in (None, []) for k, v in entry.items() if k not in expected), entry
    # Register only: null, or both lists empty.
    files, env = _task_env()
    assert _entry_tf(files, env)["task_target"] == {"schedules": [], "rules": []}
    # A service keeps ecs_service and appspec, and has no task_target.
    files, env = _task_env(deployment_controller="ECS", appspec_container="app", appspec_port=80)
    entry = _entry_tf(files, env)
    assert (entry["ecs_service"], entry["appspec"], entry["task_target"]) == ("report", {"container": "app", "port": 80}, None)


def test_task_target_names_are_validated_like_the_cloudformation_parameters():
    """The same names pass the module's validations and the stack's TaskSchedules/TaskRules
    patterns (Terraform takes objects, CloudFormation key=value items), and both stop at 20."""
    from test_service_stack import TEMPLATE as SERVICE

    validations = tf_blocks(load_tf_dir(MODULES["service"]), "variable")["task_target"]["validation"]

    def tf(task_target):
        return all(evaluate(v["condition"], {"var": {"task_target": task_target}}) for v in validations)

    schedules = re.compile(SERVICE["Parameters"]["TaskSchedules"]["AllowedPattern"])
    rules = re.compile(SERVICE["Parameters"]["TaskRules"]["AllowedPattern"])
    bus = "arn:aws:events:ap-northeast-1:123456789012:event-bus/uploads"
    for name in ("a", "a.b_c-D9", "n" * 64, "n" * 65, "a b", "a/b", "a=b", "a|b", ""):
        for item, value in ((f"name={name}", {"schedules": [{"name": name, "group": "default"}], "rules": []}),
                            (f"name=s|group={name}", {"schedules": [{"name": "s", "group": name}], "rules": []}),
                            (f"rule={name}|target_id=t", {"schedules": [], "rules": [{"rule": name, "target_id": "t", "event_bus": "default"}]}),
                            (f"rule=r|target_id={name}", {"schedules": [], "rules": [{"rule": "r", "target_id": name, "event_bus": "default"}]})):
            cfn = bool((schedules if item.startswith("name") else rules).fullmatch(item))
            assert tf(value) is cfn, (item, cfn)
    for event_bus in ("default", "uploads", "aws.partner/example.com/1", bus, "a b", "", "e" * 257):
        cfn = bool(rules.fullmatch(f"rule=r|target_id=t|event_bus={event_bus}"))
        assert tf({"schedules": [], "rules": [{"rule": "r", "target_id": "t", "event_bus": event_bus}]}) is cfn, event_bus
    twenty = [{"name": f"s{i}", "group": "default"} for i in range(20)]
    assert tf({"schedules": twenty, "rules": []}) and bool(schedules.fullmatch(",".join(f"name=s{i}" for i in range(20))))
    assert not tf({"schedules": twenty, "rules": [{"rule": "r", "target_id": "t", "event_bus": "default"}]})
    assert not schedules.fullmatch(",".join(f"name=s{i}" for i in range(21)))


def test_a_task_target_refuses_service_settings_and_a_service_needs_its_appspec():
    files, _ = _task_env()
    (lifecycle,) = tf_blocks(files, "resource")["aws_ssm_parameter.registry"]["lifecycle"]
    preconditions = lifecycle["precondition"]
    for variables, ok in (({}, True), ({"verify": {"base_url": "http://x"}}, False), ({"ecs_service_name": "report"}, False),
                          ({"appspec_container": "job"}, False),
                          ({"deployment_controller": "ECS"}, False),
                          ({"deployment_controller": "ECS", "appspec_container": "app", "appspec_port": 80}, True),
                          ({"deployment_controller": "ECS", "appspec_container": "app", "appspec_port": 80,
                            "task_target": {"schedules": [], "rules": []}}, False)):
        _, env = _task_env(**variables)
        assert all(evaluate(p["condition"], env) for p in preconditions) is ok, variables


def test_the_functions_accept_the_task_target_entry_the_module_writes(tmp_path):
    """jsonencode writes unset sections as null: the functions' own parser (berth validate
    --registry) must take the module's task-target entry, with and without schedules and rules."""
    import subprocess

    from test_service_stack import _berth_cli

    cli = _berth_cli()
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"schema": "berth/v1", "service": "report", "release": "v1",
                                    "images": {"job": "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/report/job:v1"}}))
    task_target = {"schedules": [{"name": "nightly-report", "group": "berth-report"}],
                   "rules": [{"rule": "hourly-report", "target_id": "report", "event_bus": "default"}]}
    network = {"subnets": ["subnet-1"], "security_groups": [], "assign_public_ip": False}
    for variables in ({"task_target": task_target, "network": network}, {}):
        files, env = _task_env(**variables)
        entry = tmp_path / "entry.json"
        entry.write_text(json.dumps(_entry_tf(files, env)))
        done = subprocess.run([cli, "validate", manifest, "--registry", entry], capture_output=True, text=True)
        assert done.returncode == 0, f"{variables}: {done.stdout}{done.stderr}"
