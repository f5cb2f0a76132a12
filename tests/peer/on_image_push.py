"""on-image-push written in Python with boto3: the peer `make bench` starts side by side with
berth's binary, behind the same local Lambda Runtime API, to measure the cold-start ratio.

It does the event path of berth's on-image-push: an EventBridge "ECR Image Action" PUSH of a
tag matching a service's push_trigger.tag_pattern becomes manifests/<service>/<tag>.json naming
the pushed image by digest, written with If-None-Match: *. Everything else is ignored. The
clients are built at init, as AWS recommends for any Lambda function ("Initialize SDK clients
and database connections outside of the function handler"). The runtime loop is a few lines of
http.client instead of the awslambdaric the managed Python runtime runs, which only makes the
peer start faster than a real Python function would.
"""

import http.client
import json
import os
import re

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = os.environ["AWS_REGION"]
BUCKET = os.environ["BERTH_RELEASE_BUCKET"]
PREFIX = os.environ.get("BERTH_SERVICES_PREFIX", "/berth/services/")
# A custom endpoint (an emulator) gets path-style addressing, as berth's S3 client does.
S3_CONFIG = Config(s3={"addressing_style": "path"}) if os.environ.get("AWS_ENDPOINT_URL") else None

# Lambda sets AWS_DEFAULT_REGION (which botocore reads) as well as AWS_REGION; name it anyway.
ssm = boto3.client("ssm", region_name=REGION)
s3 = boto3.client("s3", region_name=REGION, config=S3_CONFIG)

TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
RELEASE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
ECR_URI = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(.+)$")


def ignored(reason):
    return {"results": [{"outcome": "ignored", "reason": reason}]}


def repository(value, account, region):
    """(account, region, name) of a registry `containers` value: a name or a full ECR URI."""
    m = ECR_URI.match(value)
    return (m.group(1), m.group(2), m.group(3)) if m else (account, region, value)


def services():
    pages = ssm.get_paginator("get_parameters_by_path").paginate(
        Path=PREFIX.rstrip("/"), Recursive=False
    )
    for page in pages:
        for p in page["Parameters"]:
            try:
                yield json.loads(p["Value"])
            except ValueError:
                continue


def handle(event, function_arn):
    account = function_arn.split(":")[4] if function_arn.count(":") >= 5 else event.get("account")
    if event.get("source") != "aws.ecr" or event.get("detail-type") != "ECR Image Action":
        return ignored("not an ECR image action")
    if event.get("account", account) != account or event.get("region", REGION) != REGION:
        return ignored("push in another account or region")
    d = event.get("detail") or {}
    tag, digest, repo = d.get("image-tag") or "", d.get("image-digest") or "", d.get("repository-name")
    if d.get("action-type") != "PUSH" or d.get("result") != "SUCCESS":
        return ignored("not a successful PUSH")
    if tag == "latest" or not TAG.match(tag) or not RELEASE.match(tag) or not DIGEST.match(digest):
        return ignored("tag or digest cannot name a release")
    results = []
    for svc in services():
        trigger = svc.get("push_trigger") or {}
        value = (svc.get("containers") or {}).get(trigger.get("container"))
        if not value or repository(value, account, REGION) != (account, REGION, repo):
            continue
        if not re.search(trigger.get("tag_pattern", "(?!)"), tag):
            continue
        uri = f"{account}.dkr.ecr.{REGION}.amazonaws.com/{repo}@{digest}"
        manifest = {
            "schema": "berth/v1",
            "service": svc["service"],
            "release": tag,
            "images": {trigger["container"]: uri},
            "rollback_of": None,
        }
        key = f"manifests/{svc['service']}/{tag}.json"
        try:
            out = s3.put_object(
                Bucket=BUCKET,
                Key=key,
                Body=json.dumps(manifest, indent=2).encode() + b"\n",
                ContentType="application/json",
                IfNoneMatch="*",
            )
            results.append({"outcome": "written", "service": svc["service"], "release": tag,
                            "key": key, "version_id": out.get("VersionId")})
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise
            results.append({"outcome": "exists", "service": svc["service"], "key": key})
    return {"results": results} if results else ignored(f"no service has a push trigger for {repo}:{tag}")


def main():
    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
    base = "/2018-06-01/runtime/invocation"
    while True:
        api.request("GET", f"{base}/next")
        r = api.getresponse()
        body = r.read()
        request_id = r.getheader("Lambda-Runtime-Aws-Request-Id")
        arn = r.getheader("Lambda-Runtime-Invoked-Function-Arn") or ""
        try:
            answer, path = handle(json.loads(body), arn), f"{base}/{request_id}/response"
        except Exception as e:  # reported to Lambda, which retries the event
            answer = {"errorType": type(e).__name__, "errorMessage": str(e)}
            path = f"{base}/{request_id}/error"
        api.request("POST", path, json.dumps(answer), {"Content-Type": "application/json"})
        api.getresponse().read()


if __name__ == "__main__":
    main()
