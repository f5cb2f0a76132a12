"""Shared helpers for the infra checks: template loaders, an in-process moto account, and a
parser that turns python-hcl2's output into plain Python values."""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import pytest

INFRA = Path(__file__).resolve().parent.parent
CFN = INFRA / "cloudformation"
TF = INFRA / "terraform"
PLATFORM_TEMPLATE = CFN / "platform.yaml"
SERVICE_TEMPLATE = CFN / "service.yaml"

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"  # moto's default account
CODE_BUCKET = "berth-code"
CODE_PREFIX = "berth/0.1.0/"
FUNCTIONS = ("on-image-push", "on-manifest", "migrate", "deploy", "on-pipeline-event", "verify", "scan-gate")

PLATFORM_PARAMETERS = {
    "CodeBucket": CODE_BUCKET,
    "CodePrefix": CODE_PREFIX,
    "ClusterArns": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/prod",
    "PassableRoleArns": f"arn:aws:iam::{ACCOUNT}:role/web-task,arn:aws:iam::{ACCOUNT}:role/web-task-execution",
}

# The SSM SecureString parameter holding the Slack webhook URL (the team creates it).
SLACK_PARAMETER = "/berth/slack-webhook"
SLACK_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5678abcd-12ab-34cd-56ef-1234567890ab"

_MOTO_SKIP = re.compile(r"Tried to parse (\S+) but it's not supported by moto's CloudFormation implementation")


# ------------------------------------------------------------------ CloudFormation


def load_template(path: Path) -> dict:
    """The template as cfn-lint reads it: short-form tags become {"Fn::...": ...} / {"Ref": ...}."""
    from cfnlint.decode import cfn_yaml

    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def resource_types(template: dict) -> Counter:
    return Counter(r["Type"] for r in template["Resources"].values())


def as_parameters(values: dict) -> list[dict]:
    return [{"ParameterKey": k, "ParameterValue": str(v)} for k, v in values.items()]


def create_stack(cloudformation, name: str, path: Path, parameters: dict) -> tuple[dict, Counter]:
    """Creates a stack in moto and returns it with the resource types moto said it skipped.

    moto announces every resource type it cannot create with a UserWarning and leaves the
    resource out; the tests compare that list with the one they expect instead of letting
    it pass unnoticed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=path.read_text(),
            Parameters=as_parameters(parameters),
            Capabilities=["CAPABILITY_IAM"],
        )
    skipped = Counter(m.group(1) for w in caught if (m := _MOTO_SKIP.search(str(w.message))) is not None)
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return stack, skipped


@pytest.fixture
def aws(monkeypatch):
    """An empty in-process AWS account (moto) with fake credentials, nothing read from ~/.aws."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")

    import boto3
    from moto import mock_aws

    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


@pytest.fixture
def code_uploaded(aws):
    """Dummy function zips at the keys platform.yaml reads them from."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\nexit 0\n")
    for name in FUNCTIONS:
        s3.put_object(Bucket=CODE_BUCKET, Key=f"{CODE_PREFIX}{name}.zip", Body=buf.getvalue())
    return aws


@pytest.fixture
def platform_stack(code_uploaded):
    """platform.yaml created in moto as stack "berth-platform"; yields (session, stack, skipped)."""
    cloudformation = code_uploaded.client("cloudformation")
    stack, skipped = create_stack(cloudformation, "berth-platform", PLATFORM_TEMPLATE, PLATFORM_PARAMETERS)
    return code_uploaded, stack, skipped


# ------------------------------------------------------------------ Terraform


def _unquote(value):
    """python-hcl2 keeps string literals quoted ("\"abc\"") and expressions as "${...}"."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            try:
                return json.loads(value)
            except ValueError:
                return value[1:-1]
        return value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


def load_tf(path: Path) -> dict:
    import hcl2

    with path.open() as f:
        return _unquote(hcl2.load(f))


def load_tf_dir(directory: Path) -> dict[str, dict]:
    """Every .tf file of a directory, parsed, by file name."""
    return {p.name: load_tf(p) for p in sorted(directory.glob("*.tf"))}


def tf_blocks(parsed_files: dict[str, dict], kind: str) -> dict:
    """Merges the blocks of one kind (variable, output, locals, ...) across files.

    resource/data blocks come back as {"type.name": body}; variable/output/module as {name: body}."""
    out: dict = {}
    for parsed in parsed_files.values():
        for block in parsed.get(kind, []):
            if kind in ("resource", "data"):
                for rtype, named in block.items():
                    for name, body in named.items():
                        out[f"{rtype}.{name}"] = body
            else:
                out.update(block)
    return out


def policy_statements_tf(document: dict) -> list[dict]:
    """Statements of a data "aws_iam_policy_document", dynamic ones included."""
    statements = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for content in dynamic.get("statement", {}).get("content", []):
            statements.append(content)
    return statements


# ------------------------------------------------------------------ CloudFormation Rules
# moto does not evaluate a template's Rules section; these evaluate it as CloudFormation does
# (AWS rule functions: Fn::And, Fn::Or, Fn::Not, Fn::Equals, Fn::Contains, Fn::EachMemberIn,
# Fn::EachMemberEquals, Ref), so the tests can show which parameter sets a stack refuses.


def parameter_values(template: dict, given: dict) -> dict:
    values = {}
    for name, spec in template["Parameters"].items():
        raw = str(given[name]) if name in given else str(spec.get("Default", ""))
        values[name] = raw.split(",") if spec["Type"] in ("CommaDelimitedList", "List<String>") else raw
    return values


def _rule_value(node, values):
    if isinstance(node, dict):
        (fn, arg), *rest = node.items()
        assert not rest, node
        if fn == "Ref":
            return values[arg]
        if fn == "Fn::And":
            return all(_rule_value(a, values) for a in arg)
        if fn == "Fn::Or":
            return any(_rule_value(a, values) for a in arg)
        if fn == "Fn::Not":
            return not _rule_value(arg[0], values)
        if fn == "Fn::Equals":
            return _rule_value(arg[0], values) == _rule_value(arg[1], values)
        if fn == "Fn::Contains":
            return _rule_value(arg[1], values) in _rule_value(arg[0], values)
        if fn == "Fn::EachMemberIn":
            return set(_rule_value(arg[0], values)) <= set(_rule_value(arg[1], values))
        if fn == "Fn::EachMemberEquals":
            return all(v == _rule_value(arg[1], values) for v in _rule_value(arg[0], values))
        raise AssertionError(f"rule function {fn} not supported here")
    if isinstance(node, list):
        return [_rule_value(v, values) for v in node]
    return node


def failed_rules(template: dict, given: dict) -> list[str]:
    """The AssertDescriptions of every rule assertion the parameters break."""
    values = parameter_values(template, given)
    failed = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
            continue
        failed += [a["AssertDescription"] for a in rule["Assertions"] if not _rule_value(a["Assert"], values)]
    return failed
