# berth platform: deploy once per account and region. Mirrors infra/cloudformation/platform.yaml.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  # Every service, service deployment and service revision of the clusters berth may touch
  # (cluster_arns): the platform's roles act on any of them, so no service module edits a platform
  # role's policy (docs/reference/iam.md, "Scaling to many services").
  cluster_service_arns            = [for arn in var.cluster_arns : "${replace(arn, ":cluster/", ":service/")}/*"]
  cluster_service_deployment_arns = [for arn in var.cluster_arns : "${replace(arn, ":cluster/", ":service-deployment/")}/*"]
  cluster_service_revision_arns   = [for arn in var.cluster_arns : "${replace(arn, ":cluster/", ":service-revision/")}/*"]

  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  release_bucket_name   = "${var.release_bucket_name_prefix}-${local.account_id}-${local.region}"
  release_bucket_arn    = "arn:${local.partition}:s3:::${local.release_bucket_name}"
  registry_arn_prefix   = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.services_path}"
  push_index_arn_prefix = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.push_index_path}"
  account_root_arn      = "arn:${local.partition}:iam::${local.account_id}:root"
  push_sweep            = var.push_sweep_schedule != null

  notification_topic_arn = var.create_notification_topic ? aws_sns_topic.releases[0].arn : var.notification_topic_arn

  # Variables only some functions get, by function.
  extra_environment = {
    "on-image-push" = {
      BERTH_SWEEP_LOOKBACK_MINUTES = tostring(var.push_sweep_lookback_minutes)
      BERTH_PUSH_INDEX_PREFIX      = "${var.push_index_path}/"
    }
    # Every rendered appspec.yaml gets "Hooks: - AfterAllowTestTraffic: <this>".
    "on-manifest" = { BERTH_VERIFY_FUNCTION = local.verify_function_name }
    "migrate"     = {}
    "deploy"      = {}
    # Only on-pipeline-event notifies; without a topic or a webhook parameter the variables are absent.
    "on-pipeline-event" = merge(
      local.notification_topic_arn == null ? {} : { BERTH_SNS_TOPIC_ARN = local.notification_topic_arn },
      var.slack_webhook_parameter_name == null ? {} : { BERTH_SLACK_WEBHOOK_PARAMETER = var.slack_webhook_parameter_name },
    )
    "verify"    = {}
    "scan-gate" = {}
  }

  # Who may write manifests/ and groups/ (see the release bucket policy).
  all_release_writers     = distinct(concat(var.release_writer_arns, flatten([for s, arns in var.service_release_writer_arns : arns])))
  restrict_release_writes = length(var.release_writer_arns) > 0
  # Statement ids must be alphanumeric: the services are numbered in name order.
  service_release_writers = { for i, s in sort(keys(var.service_release_writer_arns)) : tostring(i) => s }

  # One entry per function: the zip is <code_prefix><key>.zip.
  functions = {
    "on-image-push" = {
      description       = "berth: writes manifests/<service>/<release>.json when a tag matching a service's push trigger is pushed to ECR."
      memory_size       = 256
      timeout           = 30
      max_event_age_sec = 21600
    }
    "on-manifest" = {
      description       = "berth: validates manifests/<service>/<release>.json, pins images by digest, renders the artifact and starts the pipeline."
      memory_size       = 512
      timeout           = 120
      max_event_age_sec = 21600
    }
    "migrate" = {
      description       = "berth: CodePipeline Lambda action that runs a release's migration task and reports its outcome."
      memory_size       = 256
      timeout           = 60
      max_event_age_sec = 3600
    }
    # Same settings as migrate: both are Release stage Lambda actions that answer and are invoked
    # again (continuation tokens) instead of waiting.
    "deploy" = {
      description       = "berth: CodePipeline Lambda action Deploy of ECS-controlled services and task targets; registers the rendered task definition, then updates the service and follows its service deployment, or repoints the schedules and rule targets."
      memory_size       = 256
      timeout           = 60
      max_event_age_sec = 3600
    }
    "on-pipeline-event" = {
      description       = "berth: records a berth pipeline's execution state changes (status, timings, rollbacks) in releases/<service>/<release>.json; publishes finished releases to SNS and Slack when configured."
      memory_size       = 256
      timeout           = 30
      max_event_age_sec = 21600
    }
    "scan-gate" = {
      description       = "berth: CodePipeline Lambda action Scan; waits for the release images' scan findings and fails the release on blocked severities."
      memory_size       = 256
      timeout           = 60
      max_event_age_sec = 3600
    }
    "verify" = {
      description       = "berth: CodeDeploy AfterAllowTestTraffic hook; checks the replacement task set through the test listener and reports the hook's status."
      memory_size       = 256
      timeout           = 300 # the function reports to CodeDeploy before its own deadline
      max_event_age_sec = 3600
    }
  }

  verify_function_name = "${var.name_prefix}verify"
  verify_in_vpc        = length(var.verify_subnet_ids) > 0

  policies = {
    "on-image-push"     = data.aws_iam_policy_document.on_image_push.json
    "on-manifest"       = data.aws_iam_policy_document.on_manifest.json
    "migrate"           = data.aws_iam_policy_document.migrate.json
    "deploy"            = data.aws_iam_policy_document.deploy.json
    "on-pipeline-event" = data.aws_iam_policy_document.on_pipeline_event.json
    "verify"            = data.aws_iam_policy_document.verify.json
    "scan-gate"         = data.aws_iam_policy_document.scan_gate.json
  }
}

# ------------------------------------------------------------------ release bucket

resource "aws_s3_bucket" "release" {
  #checkov:skip=CKV_AWS_18:Access logging needs a separate log bucket the account owns; every write is already recorded by the functions' logs and release records.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice of the account, not something berth needs.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) encrypts at rest; a KMS key would force every uploader (app CI) and CodePipeline to hold key grants for objects that hold no secrets.
  bucket        = local.release_bucket_name
  force_destroy = var.force_destroy_release_bucket
  tags          = var.tags
}

resource "aws_s3_bucket_versioning" "release" {
  bucket = aws_s3_bucket.release.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "release" {
  bucket = aws_s3_bucket.release.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "release" {
  bucket                  = aws_s3_bucket.release.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "release" {
  bucket = aws_s3_bucket.release.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "release_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.release.arn, "${aws_s3_bucket.release.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # Writing a manifest is a privilege: a manifest chooses the images and the migration command,
  # which runs inside the VPC with the service's task role. Only the listed principals (those of
  # every service included, so per-service writers are not locked out here), berth's on-image-push
  # role and the account root user (who can always change this policy) may write manifests/ and
  # groups/.
  dynamic "statement" {
    for_each = local.restrict_release_writes ? [1] : []
    content {
      sid       = "OnlyReleaseWritersWriteManifests"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.release.arn}/manifests/*", "${aws_s3_bucket.release.arn}/groups/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = concat(local.all_release_writers, [aws_iam_role.function["on-image-push"].arn, local.account_root_arn])
      }
    }
  }

  # Per service (Terraform only): manifests/<service>/ only for that service's writers and the
  # platform-wide ones.
  dynamic "statement" {
    for_each = local.service_release_writers
    content {
      sid       = "OnlyServiceReleaseWritersWriteManifests${statement.key}"
      effect    = "Deny"
      actions   = ["s3:PutObject"]
      resources = ["${aws_s3_bucket.release.arn}/manifests/${statement.value}/*"]
      principals {
        type        = "*"
        identifiers = ["*"]
      }
      condition {
        test     = "ArnNotLike"
        variable = "aws:PrincipalArn"
        values   = concat(var.service_release_writer_arns[statement.value], var.release_writer_arns, [aws_iam_role.function["on-image-push"].arn, local.account_root_arn])
      }
    }
  }
}

resource "aws_s3_bucket_policy" "release" {
  bucket     = aws_s3_bucket.release.id
  policy     = data.aws_iam_policy_document.release_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.release]
}

resource "aws_s3_bucket_lifecycle_configuration" "release" {
  bucket = aws_s3_bucket.release.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days           = var.noncurrent_version_expiration_days
      newer_noncurrent_versions = var.noncurrent_versions_to_keep
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.release]
}

resource "aws_lambda_permission" "on_manifest_s3" {
  statement_id   = "release-bucket-manifests"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.function["on-manifest"].function_name
  principal      = "s3.amazonaws.com"
  source_account = local.account_id
  source_arn     = aws_s3_bucket.release.arn
}

resource "aws_s3_bucket_notification" "release" {
  bucket = aws_s3_bucket.release.id

  lambda_function {
    lambda_function_arn = aws_lambda_function.function["on-manifest"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "manifests/"
    filter_suffix       = ".json"
  }

  # Release groups: one manifest releasing several services together.
  lambda_function {
    lambda_function_arn = aws_lambda_function.function["on-manifest"].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "groups/"
    filter_suffix       = ".json"
  }

  depends_on = [aws_lambda_permission.on_manifest_s3]
}

# ------------------------------------------------------------------ notifications and dashboard

resource "aws_sns_topic" "releases" {
  #checkov:skip=CKV_AWS_26:Messages hold service and release names, statuses, durations and image digests, no secrets; a KMS key would make every subscriber and publisher need key grants. Pass notification_topic_arn to use an encrypted topic.
  count        = var.create_notification_topic ? 1 : 0
  name         = "${var.name_prefix}releases"
  display_name = "berth releases"
  tags         = var.tags
}

locals {
  # The Embedded Metric Format metrics on-pipeline-event emits (namespace berth, dimension Service);
  # SEARCH shows every service without the platform knowing them.
  search = { for m in ["ReleasesStarted", "ReleasesSucceeded", "ReleasesFailed", "Rollbacks", "LeadTimeSeconds", "MigrationSeconds", "DeploymentSeconds"] :
    m => "SEARCH('{berth,Service} MetricName=\"${m}\"', '${contains(["LeadTimeSeconds"], m) ? "p50" : contains(["MigrationSeconds", "DeploymentSeconds"], m) ? "Maximum" : "Sum"}', 3600)"
  }
}

resource "aws_cloudwatch_dashboard" "releases" {
  dashboard_name = "${var.name_prefix}releases"
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title   = "Releases started, succeeded, failed and rollbacks", region = local.region, view = "timeSeries", stat = "Sum", period = 3600
          metrics = [for id, m in { started = "ReleasesStarted", succeeded = "ReleasesSucceeded", failed = "ReleasesFailed", rollbacks = "Rollbacks" } : [{ expression = local.search[m], id = id }]]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title   = "Lead time (push to production), seconds", region = local.region, view = "timeSeries", stat = "p50", period = 3600
          metrics = [[{ expression = local.search["LeadTimeSeconds"], id = "lead" }]]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Migration, seconds", region = local.region, view = "timeSeries", stat = "Maximum", period = 3600
          metrics = [[{ expression = local.search["MigrationSeconds"], id = "migration" }]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title   = "Deployment, seconds", region = local.region, view = "timeSeries", stat = "Maximum", period = 3600
          metrics = [[{ expression = local.search["DeploymentSeconds"], id = "deployment" }]]
        }
      },
    ]
  })
}

# ------------------------------------------------------------------ failed events

resource "aws_sqs_queue" "failed_events" {
  name                      = "${var.name_prefix}failed-events"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = var.tags
}

data "aws_iam_policy_document" "failed_events" {
  statement {
    sid       = "EcrPushRuleDeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.ecr_push.arn]
    }
  }

  statement {
    sid       = "PipelineStateRuleDeadLetters"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.pipeline_state.arn]
    }
  }

  dynamic "statement" {
    for_each = local.push_sweep ? [1] : []
    content {
      sid       = "PushSweepRuleDeadLetters"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.failed_events.arn]
      principals {
        type        = "Service"
        identifiers = ["events.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [aws_cloudwatch_event_rule.push_sweep[0].arn]
      }
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.failed_events.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "failed_events" {
  queue_url = aws_sqs_queue.failed_events.id
  policy    = data.aws_iam_policy_document.failed_events.json
}

resource "aws_cloudwatch_metric_alarm" "failed_events" {
  alarm_name          = "${var.name_prefix}failed-events"
  alarm_description   = "A berth function gave up on an event (or EventBridge could not deliver one). Read the message in the failed-events queue: it holds the event and the error."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failed_events.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  ok_actions          = var.alarm_topic_arn == null ? [] : [var.alarm_topic_arn]
  tags                = var.tags
}

# ------------------------------------------------------------------ functions

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:Logs hold release names, digests, task ARNs and rejection reasons, no secrets; CloudWatch Logs encrypts them at rest with a service key.
  for_each          = local.functions
  name              = "/aws/lambda/${var.name_prefix}${each.key}"
  retention_in_days = var.log_retention_days
  skip_destroy      = var.retain_log_groups
  tags              = var.tags
}

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each             = local.functions
  name_prefix          = substr("${var.name_prefix}${each.key}-", 0, 38)
  description          = "berth ${each.key}: least-privilege execution role"
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.lambda_assume.json
  tags                 = var.tags
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = each.key
  role     = aws_iam_role.function[each.key].id
  policy   = local.policies[each.key]
}

resource "aws_lambda_function" "function" {
  #checkov:skip=CKV_AWS_116:Failed asynchronous invocations go to the failed-events queue through the on-failure destination of aws_lambda_function_event_invoke_config (a superset of a DLQ).
  #checkov:skip=CKV_AWS_115:Reserved concurrency is left to the account; reserving it fails on accounts with the default low concurrency quota.
  #checkov:skip=CKV_AWS_173:The environment holds a bucket name, an SSM path, and names of an SNS topic, a function and an SSM parameter, no secrets (the Slack webhook URL stays in its SecureString).
  #checkov:skip=CKV_AWS_50:X-Ray is not used; active tracing would need xray:Put* on "*".
  #checkov:skip=CKV_AWS_272:The code is built from this repository and uploaded by the infra team; Lambda code signing needs an AWS Signer profile the project does not assume.
  for_each      = local.functions
  function_name = "${var.name_prefix}${each.key}"
  description   = each.value.description
  runtime       = "provided.al2023"
  architectures = [var.architecture]
  handler       = "bootstrap"
  memory_size   = each.value.memory_size
  timeout       = each.value.timeout
  role          = aws_iam_role.function[each.key].arn
  s3_bucket     = var.code_bucket
  s3_key        = "${var.code_prefix}${each.key}.zip"

  environment {
    variables = merge(
      {
        BERTH_RELEASE_BUCKET  = local.release_bucket_name
        BERTH_SERVICES_PREFIX = "${var.services_path}/"
      },
      local.extra_environment[each.key],
    )
  }

  # Only verify, and only when given subnets: it then reaches an internal load balancer's test listener.
  dynamic "vpc_config" {
    for_each = each.key == "verify" && local.verify_in_vpc ? [1] : []
    content {
      subnet_ids         = var.verify_subnet_ids
      security_group_ids = var.verify_security_group_ids
    }
  }

  logging_config {
    log_format            = "JSON"
    application_log_level = var.log_level
    system_log_level      = "WARN"
    log_group             = aws_cloudwatch_log_group.function[each.key].name
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.function]

  lifecycle {
    precondition {
      # A variable validation may not read another variable before Terraform 1.9.
      condition     = length(var.verify_security_group_ids) > 0 || length(var.verify_subnet_ids) == 0
      error_message = "verify_security_group_ids must be set with verify_subnet_ids."
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "function" {
  for_each                     = local.functions
  function_name                = aws_lambda_function.function[each.key].function_name
  qualifier                    = "$LATEST"
  maximum_retry_attempts       = var.maximum_retry_attempts
  maximum_event_age_in_seconds = each.value.max_event_age_sec

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failed_events.arn
    }
  }
}

# ------------------------------------------------------------------ ECR push -> on-image-push

resource "aws_cloudwatch_event_rule" "ecr_push" {
  name        = "${var.name_prefix}ecr-image-push"
  description = "berth: successful ECR image pushes go to on-image-push."
  event_pattern = jsonencode({
    source      = ["aws.ecr"]
    detail-type = ["ECR Image Action"]
    detail = {
      action-type = ["PUSH"]
      result      = ["SUCCESS"]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "on_image_push" {
  rule      = aws_cloudwatch_event_rule.ecr_push.name
  target_id = "on-image-push"
  arn       = aws_lambda_function.function["on-image-push"].arn

  retry_policy {
    maximum_retry_attempts       = 185
    maximum_event_age_in_seconds = 86400
  }

  dead_letter_config {
    arn = aws_sqs_queue.failed_events.arn
  }
}

resource "aws_lambda_permission" "on_image_push_events" {
  statement_id  = "ecr-image-push-rule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["on-image-push"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.ecr_push.arn
}

# ------------------------------------------------------------------ lost-push sweep -> on-image-push

resource "aws_cloudwatch_event_rule" "push_sweep" {
  count               = local.push_sweep ? 1 : 0
  name                = "${var.name_prefix}push-sweep"
  description         = "berth: periodic sweep for pushes whose event never reached on-image-push."
  schedule_expression = var.push_sweep_schedule
  tags                = var.tags
}

resource "aws_cloudwatch_event_target" "push_sweep" {
  count     = local.push_sweep ? 1 : 0
  rule      = aws_cloudwatch_event_rule.push_sweep[0].name
  target_id = "on-image-push"
  arn       = aws_lambda_function.function["on-image-push"].arn

  retry_policy {
    maximum_retry_attempts       = 185
    maximum_event_age_in_seconds = 86400
  }

  dead_letter_config {
    arn = aws_sqs_queue.failed_events.arn
  }
}

resource "aws_lambda_permission" "on_image_push_sweep" {
  count         = local.push_sweep ? 1 : 0
  statement_id  = "push-sweep-rule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["on-image-push"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.push_sweep[0].arn
}

# ------------------------------------------------------------------ pipeline state changes -> on-pipeline-event

resource "aws_cloudwatch_event_rule" "pipeline_state" {
  name        = "${var.name_prefix}pipeline-execution-state"
  description = "berth: execution state changes of the berth pipelines go to on-pipeline-event."
  event_pattern = jsonencode({
    source      = ["aws.codepipeline"]
    detail-type = ["CodePipeline Pipeline Execution State Change"]
    detail = {
      pipeline = [{ prefix = var.pipeline_name_prefix }]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "on_pipeline_event" {
  rule      = aws_cloudwatch_event_rule.pipeline_state.name
  target_id = "on-pipeline-event"
  arn       = aws_lambda_function.function["on-pipeline-event"].arn

  retry_policy {
    maximum_retry_attempts       = 185
    maximum_event_age_in_seconds = 86400
  }

  dead_letter_config {
    arn = aws_sqs_queue.failed_events.arn
  }
}

resource "aws_lambda_permission" "on_pipeline_event_events" {
  statement_id  = "pipeline-execution-state-rule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["on-pipeline-event"].function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.pipeline_state.arn
}

# ------------------------------------------------------------------ role policies
# Statement ids match infra/cloudformation/platform.yaml; infra/tests checks the two stay equal.

data "aws_iam_policy_document" "on_image_push" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["on-image-push"].arn}:*"]
  }
  statement {
    # A push: the services the push index names for the repository, then their entries by name.
    sid       = "FindPushTriggers"
    actions   = ["ssm:GetParametersByPath"]
    resources = ["${local.push_index_arn_prefix}/*"]
  }
  statement {
    sid       = "ReadPushTriggeredEntries"
    actions   = ["ssm:GetParameters"]
    resources = ["${local.registry_arn_prefix}/*"]
  }
  statement {
    # The sweep: the registry's pages, one run at a time ...
    sid       = "ReadServiceRegistry"
    actions   = ["ssm:GetParametersByPath"]
    resources = [local.registry_arn_prefix, "${local.registry_arn_prefix}/*"]
  }
  statement {
    # ... and where the last run stopped (sweep/cursor.json).
    sid       = "KeepSweepCursor"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/sweep/*"]
  }
  statement {
    sid       = "WriteManifests"
    actions   = ["s3:PutObject"]
    resources = ["${local.release_bucket_arn}/manifests/*"]
  }
  statement {
    # The lost-push sweep reads recent pushes of the push-triggered repositories.
    sid       = "FindRecentPushes"
    actions   = ["ecr:DescribeImages"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/*"]
  }
  dynamic "statement" {
    for_each = length(var.cross_account_repository_arns) > 0 ? [1] : []
    content {
      sid       = "FindRecentCrossAccountPushes"
      actions   = ["ecr:DescribeImages"]
      resources = var.cross_account_repository_arns
    }
  }
  statement {
    # ... and lists index/<service>/ to find each service's newest release.
    sid       = "ListReleaseIndex"
    actions   = ["s3:ListBucket"]
    resources = [local.release_bucket_arn]
  }
  statement {
    sid       = "ReportFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
  }
}

data "aws_iam_policy_document" "on_manifest" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["on-manifest"].arn}:*"]
  }
  statement {
    sid       = "ReadManifests"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.release_bucket_arn}/manifests/*"]
  }
  statement {
    sid       = "ReadWriteReleaseRecords"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/releases/*"]
  }
  statement {
    # Without it, reading a key that does not exist yet answers 403 instead of 404 (NoSuchKey).
    sid       = "TellMissingKeysApart"
    actions   = ["s3:ListBucket"]
    resources = [local.release_bucket_arn]
  }
  statement {
    # A release resumed after a crash looks up the artifact version the crashed run wrote.
    sid       = "FindArtifactOfResumedRelease"
    actions   = ["s3:ListBucketVersions"]
    resources = [local.release_bucket_arn]
  }
  statement {
    sid       = "ReadArtifactMetadata"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.release_bucket_arn}/artifacts/*"]
  }
  statement {
    sid       = "WriteArtifactsAndRejections"
    actions   = ["s3:PutObject"]
    resources = ["${local.release_bucket_arn}/artifacts/*", "${local.release_bucket_arn}/rejected/*"]
  }
  statement {
    sid       = "WriteReleaseIndex"
    actions   = ["s3:PutObject"]
    resources = ["${local.release_bucket_arn}/index/*"]
  }
  statement {
    sid       = "ReadGroupManifests"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.release_bucket_arn}/groups/*"]
  }
  statement {
    sid       = "ReadWriteGroupReleases"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/group-releases/*"]
  }
  statement {
    sid       = "ReadServiceRegistry"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.registry_arn_prefix}/*"]
  }
  statement {
    sid       = "ResolveImageDigests"
    actions   = ["ecr:BatchGetImage", "ecr:DescribeImages"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/*"]
  }
  dynamic "statement" {
    for_each = length(var.cross_account_repository_arns) > 0 ? [1] : []
    content {
      sid       = "ResolveCrossAccountImageDigests"
      actions   = ["ecr:BatchGetImage", "ecr:DescribeImages"]
      resources = var.cross_account_repository_arns
    }
  }
  statement {
    # DescribeTaskDefinition has no resource-level permissions; it is read-only.
    sid       = "ReadTaskDefinitionTemplate"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"]
  }
  statement {
    # The running service a release is rendered from: read-only, any service of cluster_arns.
    sid       = "ReadServicesOfBerthClusters"
    actions   = ["ecs:DescribeServices"]
    resources = local.cluster_service_arns
  }
  statement {
    sid       = "StartBerthPipelines"
    actions   = ["codepipeline:StartPipelineExecution"]
    resources = ["arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${var.pipeline_name_prefix}*"]
  }
  # A release resumed after a crash looks for the execution its predecessor started (by source
  # revision) before starting one.
  statement {
    sid       = "FindExecutionOfResumedRelease"
    actions   = ["codepipeline:ListPipelineExecutions"]
    resources = ["arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${var.pipeline_name_prefix}*"]
  }
  statement {
    sid       = "ReportFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
  }
}

data "aws_iam_policy_document" "migrate" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["migrate"].arn}:*"]
  }
  statement {
    sid       = "ReportJobResult"
    actions   = ["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    sid       = "RegisterMigrationTaskDefinition"
    actions   = ["ecs:RegisterTaskDefinition"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    sid       = "RunMigrationTask"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = var.cluster_arns
    }
  }
  statement {
    sid       = "WatchAndStopMigrationTask"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = var.cluster_arns
    }
  }
  statement {
    sid       = "PassTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = var.passable_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadServiceRegistry"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.registry_arn_prefix}/*"]
  }
  statement {
    sid       = "ReadWriteReleaseRecords"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/releases/*"]
  }
  statement {
    # Without it, reading a key that does not exist yet answers 403 instead of 404 (NoSuchKey).
    sid       = "TellMissingKeysApart"
    actions   = ["s3:ListBucket"]
    resources = [local.release_bucket_arn]
  }
  statement {
    # Rendering the release again under the Release stage's lock (and, for an ECS-controlled
    # service, waiting while it has a service deployment that has not ended): read-only, any
    # service of cluster_arns.
    sid       = "ReadServicesOfBerthClusters"
    actions   = ["ecs:DescribeServices", "ecs:ListServiceDeployments"]
    resources = local.cluster_service_arns
  }
  statement {
    # DescribeTaskDefinition has no resource-level permissions; it is read-only.
    sid       = "ReadRunningTaskDefinition"
    actions   = ["ecs:DescribeTaskDefinition"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadWriteDeployedArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/artifacts/*/deployed/*"]
  }
  statement {
    # A post migration (contract step) that failed holds the next releases: an empty object
    # written when it fails, deleted when it succeeds; every ordinary release's Migrate lists it.
    sid       = "HoldReleasesBehindFailedPostMigration"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.release_bucket_arn}/index/*/post-migration-failed/*"]
  }
  statement {
    # An execution stopped and abandoned during Deploy leaves its deployment running: migrate
    # waits until the service's deployment group has none active.
    sid       = "WaitForAbandonedDeployments"
    actions   = ["codedeploy:ListDeployments"]
    resources = ["arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:deploymentgroup:${var.pipeline_name_prefix}*/*"]
  }
  statement {
    sid       = "ReportFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
  }
}

# The Deploy action of services whose deployment controller is ECS. It reads any service, service
# deployment and service revision of cluster_arns, and updates only services tagged berth:service
# (no service module edits this role). Statement ids match infra/cloudformation/platform.yaml.
data "aws_iam_policy_document" "deploy" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["deploy"].arn}:*"]
  }
  statement {
    sid       = "ReportJobResult"
    actions   = ["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    # No resource type exists for RegisterTaskDefinition. Registered without tags: no ecs:TagResource.
    sid       = "RegisterReleaseTaskDefinition"
    actions   = ["ecs:RegisterTaskDefinition"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    sid       = "PassTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = var.passable_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    # A failed deployment names its stopped tasks' stop reasons.
    sid       = "ReadReleaseTasks"
    actions   = ["ecs:DescribeTasks"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = var.cluster_arns
    }
  }
  statement {
    # ListTasks takes the container-instance resource type and the ecs:cluster condition key.
    sid       = "ListReleaseTasks"
    actions   = ["ecs:ListTasks"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:container-instance/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = var.cluster_arns
    }
  }
  statement {
    # Service authorization reference: DescribeServices and UpdateService take the service
    # resource type, ListServiceDeployments the service, DescribeServiceDeployments the service and
    # service-deployment types, DescribeServiceRevisions the service and service-revision types.
    sid       = "FollowServiceDeployments"
    actions   = ["ecs:DescribeServices", "ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments", "ecs:DescribeServiceRevisions"]
    resources = concat(local.cluster_service_arns, local.cluster_service_deployment_arns, local.cluster_service_revision_arns)
  }
  statement {
    # The one write: only services their owners tagged berth:service (the service resource type
    # takes aws:ResourceTag/${TagKey} for UpdateService).
    sid       = "UpdateTaggedServices"
    actions   = ["ecs:UpdateService"]
    resources = local.cluster_service_arns
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/berth:service"
      values   = ["false"]
    }
  }
  statement {
    # The marker written before UpdateService (one UpdateService per release).
    sid       = "ReadWriteDeployMarkers"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/artifacts/*/deploys/*"]
  }
  statement {
    sid       = "ReadServiceRegistry"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.registry_arn_prefix}/*"]
  }
  statement {
    sid       = "ReadWriteReleaseRecords"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/releases/*"]
  }
  statement {
    sid       = "TellMissingKeysApart"
    actions   = ["s3:ListBucket"]
    resources = [local.release_bucket_arn]
  }
  statement {
    sid       = "ReportFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
  }
}

# ------------------------------------------------------------------ task targets

locals {
  # Schedules carry no tags ("You can only assign tags to schedule groups", Scheduler API
  # reference, TagResource; the schedule resource type has no condition key), so they are scoped
  # by their group, part of the ARN: every group named <pipeline_name_prefix>*, plus schedule_arns.
  task_target_schedule_arns = concat(
    ["arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule/${var.pipeline_name_prefix}*/*"],
    var.schedule_arns,
  )
  # Rules of the default bus (rule/<name>) and of custom buses (rule/<bus>/<name>).
  task_target_rule_arns = ["arn:${local.partition}:events:${local.region}:${local.account_id}:rule/*"]
}

# What migrate reads of a task target: the task definition its schedules and rule targets run.
# Read-only. A managed policy of its own, not inline: it grows with cluster_arns, schedule_arns and
# task_target_role_arns, and a role's inline policies share one quota ("Role policy size cannot
# exceed 10,240 characters", IAM and AWS STS quotas), while each managed policy has its own ("The
# maximum character limit for managed policies is 6,144", AWS Knowledge Center,
# iam-increase-policy-size). No service module edits it.
data "aws_iam_policy_document" "migrate_task_targets" {
  statement {
    sid       = "ReadTaskTargetSchedules"
    actions   = ["scheduler:GetSchedule"]
    resources = local.task_target_schedule_arns
  }
  statement {
    # Only rules their owners tagged berth:service (the rule resource types take
    # aws:ResourceTag/${TagKey}; EventBridge user guide, "Tag-based policies").
    sid       = "ReadTaggedRuleTargets"
    actions   = ["events:ListTargetsByRule"]
    resources = local.task_target_rule_arns
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/berth:service"
      values   = ["false"]
    }
  }
}

# What deploy reads and repoints of a task target (a managed policy, as migrate's).
data "aws_iam_policy_document" "deploy_task_targets" {
  statement {
    # GetSchedule then UpdateSchedule writing every field back but the task definition.
    sid       = "RepointTaskTargetSchedules"
    actions   = ["scheduler:GetSchedule", "scheduler:UpdateSchedule"]
    resources = local.task_target_schedule_arns
  }
  statement {
    sid       = "ReadTaggedRuleTargets"
    actions   = ["events:ListTargetsByRule"]
    resources = local.task_target_rule_arns
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/berth:service"
      values   = ["false"]
    }
  }
  statement {
    # PutTargets with the target otherwise unchanged, only on tagged rules, and the target put back
    # must still be a cluster of cluster_arns: events:TargetArn "Filters access by the ARN of a
    # target that can be put to a rule to PutTargets actions" (Service Authorization Reference).
    sid       = "RepointTaggedRuleTargets"
    actions   = ["events:PutTargets"]
    resources = local.task_target_rule_arns
    condition {
      test     = "Null"
      variable = "aws:ResourceTag/berth:service"
      values   = ["false"]
    }
    condition {
      test     = "ForAllValues:ArnEquals"
      variable = "events:TargetArn"
      values   = var.cluster_arns
    }
  }
  statement {
    # UpdateSchedule and PutTargets pass the target's own role again (iam:PassedToService
    # scheduler.amazonaws.com / events.amazonaws.com): only task_target and task_target_role_arns.
    sid       = "PassTaskTargetRoles"
    actions   = ["iam:PassRole"]
    resources = concat([aws_iam_role.task_target.arn], var.task_target_role_arns)
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com", "events.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "migrate_task_targets" {
  name_prefix = substr("${var.name_prefix}migrate-task-targets-", 0, 102)
  description = "berth migrate: task targets (EventBridge Scheduler schedules, EventBridge rule targets)."
  path        = var.role_path
  policy      = data.aws_iam_policy_document.migrate_task_targets.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "migrate_task_targets" {
  role       = aws_iam_role.function["migrate"].name
  policy_arn = aws_iam_policy.migrate_task_targets.arn
}

resource "aws_iam_policy" "deploy_task_targets" {
  name_prefix = substr("${var.name_prefix}deploy-task-targets-", 0, 102)
  description = "berth deploy: task targets (EventBridge Scheduler schedules, EventBridge rule targets)."
  path        = var.role_path
  policy      = data.aws_iam_policy_document.deploy_task_targets.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "deploy_task_targets" {
  role       = aws_iam_role.function["deploy"].name
  policy_arn = aws_iam_policy.deploy_task_targets.arn
}

# The role a task target's schedules and rule targets run its ECS tasks with (their target's
# RoleArn). ECS developer guide, "Amazon ECS EventBridge IAM Role": "the EventBridge service needs
# permissions to run Amazon ECS tasks on your behalf", and "If your scheduled tasks require the use
# of the task execution role, a task role, or a task role override, then you must add iam:PassRole
# permissions for each". One role for every task target: RunTask only in cluster_arns, passing only
# passable_role_arns to ECS tasks, tagging only the tasks it starts.
data "aws_iam_policy_document" "task_target_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "task_target" {
  statement {
    sid       = "RunTasksInBerthClusters"
    actions   = ["ecs:RunTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = var.cluster_arns
    }
  }
  statement {
    sid       = "PassTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = var.passable_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    # AmazonEC2ContainerServiceEventsRole: "ecs:TagResource" with "ecs:CreateAction": ["RunTask"].
    sid       = "TagStartedTasks"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/*"]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }
}

resource "aws_iam_role" "task_target" {
  name_prefix          = substr("${var.name_prefix}task-target-", 0, 38)
  description          = "berth: EventBridge Scheduler schedules and EventBridge rules run task targets' ECS tasks with this role."
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.task_target_assume.json
  tags                 = var.tags
}

resource "aws_iam_role_policy" "task_target" {
  name   = "run-task-targets"
  role   = aws_iam_role.task_target.id
  policy = data.aws_iam_policy_document.task_target.json
}

# ------------------------------------------------------------------ ECS lifecycle hooks

# The role an ECS service's LAMBDA lifecycle hook names: ECS assumes it to invoke verify. ECS
# developer guide, "Permissions required for Lambda functions in Amazon ECS blue/green deployments":
# "This role allows Amazon ECS to invoke your Lambda functions", "lambda:InvokeFunction – Allows
# Amazon ECS to invoke Lambda functions configured as lifecycle hooks", trusted by
# "ecs.amazonaws.com". The guide's trust policy has no condition, and a role is only ever passed to
# a service of its own account (iam:PassRole). It may invoke verify and nothing else.
data "aws_iam_policy_document" "ecs_hook_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "ecs_hook" {
  statement {
    sid       = "InvokeVerifyHook"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.function["verify"].arn]
  }
}

resource "aws_iam_role" "ecs_hook" {
  name_prefix          = substr("${var.name_prefix}ecs-hook-", 0, 38)
  description          = "berth: ECS lifecycle hooks (LAMBDA target) invoke the verify function with this role."
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.ecs_hook_assume.json
  tags                 = var.tags
}

resource "aws_iam_role_policy" "ecs_hook" {
  name   = "invoke-verify"
  role   = aws_iam_role.ecs_hook.id
  policy = data.aws_iam_policy_document.ecs_hook.json
}

data "aws_iam_policy_document" "on_pipeline_event" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["on-pipeline-event"].arn}:*"]
  }
  statement {
    # Reads the execution's trigger and variables (BERTH_SERVICE, BERTH_RELEASE, BERTH_ROLLBACK).
    sid       = "ReadBerthPipelineExecutions"
    actions   = ["codepipeline:GetPipelineExecution"]
    resources = ["arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${var.pipeline_name_prefix}*"]
  }
  statement {
    sid       = "ReadWriteReleaseRecords"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/releases/*"]
  }
  statement {
    sid       = "WriteReleaseIndex"
    actions   = ["s3:PutObject"]
    resources = ["${local.release_bucket_arn}/index/*"]
  }
  statement {
    # Without it, reading a key that does not exist yet answers 403 instead of 404 (NoSuchKey).
    sid       = "TellMissingKeysApart"
    actions   = ["s3:ListBucket"]
    resources = [local.release_bucket_arn]
  }
  statement {
    # Stops the migration task of an abandoned execution.
    sid       = "StopAbandonedMigrationTask"
    actions   = ["ecs:DescribeTasks", "ecs:StopTask"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = var.cluster_arns
    }
  }
  statement {
    # No resource type exists for these (service authorization reference); read-only.
    sid       = "ReadTaskDefinitions"
    actions   = ["ecs:ListTaskDefinitions", "ecs:DescribeTaskDefinition"]
    resources = ["*"]
  }
  statement {
    # Deregisters a failed release's revisions; no resource type exists: "*" in this region.
    sid       = "DeregisterFailedReleaseTaskDefinitions"
    actions   = ["ecs:DeregisterTaskDefinition"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    sid       = "ReadWriteGroupReleases"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/group-releases/*"]
  }
  dynamic "statement" {
    for_each = local.notification_topic_arn == null ? [] : [1]
    content {
      sid       = "PublishReleaseNotifications"
      actions   = ["sns:Publish"]
      resources = [local.notification_topic_arn]
    }
  }
  dynamic "statement" {
    for_each = !var.create_notification_topic && var.notification_topic_arn != null && var.notification_topic_kms_key_arn != null ? [1] : []
    content {
      sid       = "EncryptTopicMessages"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.notification_topic_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${local.region}.amazonaws.com"]
      }
    }
  }
  dynamic "statement" {
    for_each = var.slack_webhook_parameter_name == null ? [] : [1]
    content {
      sid       = "ReadSlackWebhook"
      actions   = ["ssm:GetParameter"]
      resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${var.slack_webhook_parameter_name}"]
    }
  }
  dynamic "statement" {
    for_each = var.slack_webhook_parameter_name != null && var.slack_webhook_kms_key_arn != null ? [1] : []
    content {
      sid       = "DecryptSlackWebhook"
      actions   = ["kms:Decrypt"]
      resources = [var.slack_webhook_kms_key_arn]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["ssm.${local.region}.amazonaws.com"]
      }
    }
  }
  statement {
    # ... never one a service runs. DescribeServices has the service resource type.
    sid       = "ReadRunningServices"
    actions   = ["ecs:DescribeServices"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = var.cluster_arns
    }
  }
  statement {
    sid       = "ReportFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
  }
}

data "aws_iam_policy_document" "verify" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["verify"].arn}:*"]
  }
  statement {
    sid       = "ReadBerthDeployments"
    actions   = ["codedeploy:GetDeployment"]
    resources = ["arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:deploymentgroup:${var.pipeline_name_prefix}*/*"]
  }
  statement {
    # No resource type exists for this action (service authorization reference): "*".
    sid       = "ReportHookStatus"
    actions   = ["codedeploy:PutLifecycleEventHookExecutionStatus"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    sid       = "ReadServiceRegistry"
    actions   = ["ssm:GetParametersByPath"]
    resources = [local.registry_arn_prefix, "${local.registry_arn_prefix}/*"]
  }
  # The service modules' target group alarm rule invokes verify: it lists the service's deployment
  # in flight, reads its ECS target (the replacement task set, labelled GREEN, and its target
  # group) and stops it with rollback when the alarm is about that group
  # (docs/guide/guarded-deployments.md, "Alarms during an incident").
  statement {
    sid       = "ListDeploymentsInFlight"
    actions   = ["codedeploy:ListDeployments"]
    resources = ["arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:deploymentgroup:${var.pipeline_name_prefix}*/*"]
  }
  statement {
    # No resource type for these actions (service authorization reference), as for the operator's.
    sid       = "RollBackOnAlarmsAboutGreen"
    actions   = ["codedeploy:ListDeploymentTargets", "codedeploy:GetDeploymentTarget", "codedeploy:StopDeployment"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    sid       = "ReadBerthPipelines"
    actions   = ["codepipeline:GetPipelineState", "codepipeline:GetPipelineExecution"]
    resources = ["arn:${local.partition}:codepipeline:${local.region}:${local.account_id}:${var.pipeline_name_prefix}*"]
  }
  statement {
    # As an ECS lifecycle hook: the task definition of the deployment's target service revision
    # (service authorization reference: DescribeServiceRevisions takes the service and
    # service-revision resource types). Read-only; any service of this account and region.
    sid     = "ReadServiceRevisions"
    actions = ["ecs:DescribeServiceRevisions"]
    resources = [
      "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/*",
      "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service-revision/*",
    ]
  }
  statement {
    sid       = "ReadWriteReleaseRecords"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/releases/*"]
  }
  statement {
    sid       = "ListReleaseIndex"
    actions   = ["s3:ListBucket"]
    resources = [local.release_bucket_arn]
  }
  # In a VPC, Lambda manages the function's network interfaces with its role (the
  # AWSLambdaVPCAccessExecutionRole actions); DescribeNetworkInterfaces only works on "*".
  dynamic "statement" {
    for_each = local.verify_in_vpc ? [1] : []
    content {
      sid       = "ManageVpcNetworkInterfaces"
      actions   = ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
      resources = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:*/*"]
    }
  }
  dynamic "statement" {
    for_each = local.verify_in_vpc ? [1] : []
    content {
      sid       = "DescribeVpcNetwork"
      actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
      resources = ["*"]
    }
  }
  statement {
    sid       = "ReportFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
  }
}

# ECR permissions are granted per service by the service module, on that service's repositories.
data "aws_iam_policy_document" "scan_gate" {
  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function["scan-gate"].arn}:*"]
  }
  statement {
    # The scan findings of a release's images and their manifests: the repositories on-manifest
    # resolves digests in (this account and region, and cross_account_repository_arns).
    sid       = "ReadScanFindings"
    actions   = ["ecr:DescribeImageScanFindings", "ecr:StartImageScan", "ecr:DescribeImages", "ecr:BatchGetImage"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/*"]
  }
  dynamic "statement" {
    for_each = length(var.cross_account_repository_arns) > 0 ? [1] : []
    content {
      sid       = "ReadCrossAccountScanFindings"
      actions   = ["ecr:DescribeImageScanFindings", "ecr:StartImageScan", "ecr:DescribeImages", "ecr:BatchGetImage"]
      resources = var.cross_account_repository_arns
    }
  }
  statement {
    sid       = "ReportJobResult"
    actions   = ["codepipeline:PutJobSuccessResult", "codepipeline:PutJobFailureResult"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
  statement {
    sid       = "ReadWriteReleaseRecords"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.release_bucket_arn}/releases/*"]
  }
  statement {
    sid       = "TellMissingKeysApart"
    actions   = ["s3:ListBucket"]
    resources = [local.release_bucket_arn]
  }
  statement {
    sid       = "ReportFailedEvents"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_events.arn]
  }
}
