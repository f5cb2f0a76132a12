# berth service: deploy once per ECS service. Mirrors infra/cloudformation/service.yaml.
#
# deployment_controller picks the Release stage's Deploy action: CODE_DEPLOY (CodeDeployToECS, with
# this module's CodeDeploy application and deployment group; the default, so existing services
# update unchanged), ECS (the platform's deploy function; ECS runs the service's own strategy and
# no CodeDeploy resource exists) or TASK (a task target: the same deploy function repoints the
# task_target's schedules and rule targets; no ECS service, no CodeDeploy resource).

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  code_deploy      = var.deployment_controller == "CODE_DEPLOY"
  task_target      = var.deployment_controller == "TASK"
  ecs_service_name = coalesce(var.ecs_service_name, var.service_name)
  task_family      = coalesce(var.task_family, var.service_name)
  pipeline_name    = "${var.pipeline_name_prefix}${var.service_name}"

  release_bucket_arn  = "arn:${local.partition}:s3:::${var.release_bucket_name}"
  migrate_function    = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.migrate_function_name}"
  deploy_function     = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${coalesce(var.deploy_function_name, "-")}"
  verify_function     = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.verify_function_name}"
  cluster_arn         = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${var.cluster_name}"
  service_arn         = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:service/${var.cluster_name}/${local.ecs_service_name}"
  listener_arns       = compact([var.prod_listener_arn, var.test_listener_arn])
  listener_rule_arns  = [for arn in local.listener_arns : "${replace(arn, ":listener/", ":listener-rule/")}/*"]
  passable_role_arns  = compact([var.task_execution_role_arn, var.task_role_arn])
  codedeploy_app_name = local.pipeline_name
  scan_gate_function  = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${var.scan_gate_function_name}"

  # Only the caller's alarms: never the target group alarms, whose blue one would stop the
  # deployment of a fix during an incident (guide: "Alarms during an incident").
  deployment_alarms = var.rollback_alarm_names

  # UserParameters of the Release stage's Lambda actions (the exact string the functions expect).
  lambda_user_parameters = "{\"release\":\"#{variables.BERTH_RELEASE}\",\"rollback\":\"#{variables.BERTH_ROLLBACK}\",\"execution\":\"#{codepipeline.PipelineExecutionId}\"}"
  # The PostMigrate action's: the same, and which migration.
  post_migrate_user_parameters = "{\"release\":\"#{variables.BERTH_RELEASE}\",\"rollback\":\"#{variables.BERTH_ROLLBACK}\",\"execution\":\"#{codepipeline.PipelineExecutionId}\",\"migration\":\"post\"}"

  # The artifact bucket's name prefix (bucket_prefix adds 26 characters, so at most 37): service
  # names may hold uppercase letters, "_" and ".", which S3 bucket names may not ("Bucket names can
  # consist only of lowercase letters, numbers, periods (.), and hyphens (-)"; dots are avoided
  # too). Lowercased, every other character replaced by "-", and a long name shortened with a hash
  # of the full pipeline name so two long services stay distinguishable.
  artifact_bucket_base = coalesce(trim(replace(lower(local.pipeline_name), "/[^a-z0-9-]+/", "-"), "-"), "berth")
  artifact_bucket_name = length(local.artifact_bucket_base) <= 26 ? local.artifact_bucket_base : "${substr(local.artifact_bucket_base, 0, 17)}-${substr(sha256(local.pipeline_name), 0, 8)}"

  # The push trigger container's ECR repository name ("web/app", also from a full URI).
  push_trigger_repository = var.push_trigger == null ? null : replace(try(var.containers[var.push_trigger.container], ""), "/^[^/]*\\.amazonaws\\.com[^/]*//", "")

  # The registry entry, exactly the JSON of docs/design/contract.md §2.
  registry_entry = {
    service = var.service_name
    cluster = var.cluster_name
    # A service names its ECS service and the container behind its load balancer; a task target
    # names its schedules and rule targets instead (docs/reference/registry.md).
    ecs_service = local.task_target ? null : local.ecs_service_name
    pipeline    = local.pipeline_name
    task_family = local.task_family
    containers  = var.containers
    push_trigger = var.push_trigger == null ? null : {
      container   = var.push_trigger.container
      tag_pattern = var.push_trigger.tag_pattern
    }
    migration = var.migration == null ? null : {
      container       = var.migration.container
      command         = var.migration.command
      timeout_seconds = var.migration.timeout_seconds
      subnets         = var.migration.subnets
      security_groups = var.migration.security_groups
    }
    # The contract step (docs/guide/expand-contract.md); it runs in `network`, else the
    # migration's subnets and security groups.
    post_migration = var.post_migration == null ? null : {
      container       = var.post_migration.container
      command         = var.post_migration.command
      timeout_seconds = var.post_migration.timeout_seconds
    }
    appspec = local.task_target ? null : {
      container = var.appspec_container
      port      = var.appspec_port
    }
    task_target = local.task_target ? {
      schedules = var.task_target == null ? [] : [for s in var.task_target.schedules : { name = s.name, group = s.group }]
      rules     = var.task_target == null ? [] : [for r in var.task_target.rules : { rule = r.rule, target_id = r.target_id, event_bus = r.event_bus }]
    } : null
    network = var.network == null ? null : {
      subnets          = var.network.subnets
      security_groups  = var.network.security_groups
      assign_public_ip = var.network.assign_public_ip
    }
    # The CodeDeploy application and deployment group; an ECS-controlled service has none.
    deployment = local.code_deploy ? {
      application = local.codedeploy_app_name
      group       = var.service_name
    } : null
    scan = var.scan == null ? null : {
      block        = var.scan.block
      wait_seconds = var.scan.wait_seconds
      ignore       = var.scan.ignore
    }
    # The target group alarms, which verify weighs against the deployment in flight (only a
    # CodeDeploy deployment has a replacement task set to weigh them against).
    target_group_alarms = local.code_deploy ? [for k in sort(keys(local.target_group_alarms)) : "${local.pipeline_name}-${k}"] : []
    verify = var.verify == null ? null : {
      base_url         = var.verify.base_url
      checks           = [for p in var.verify.paths : { path = p, status = var.verify.expected_status }]
      attempts         = var.verify.attempts
      interval_seconds = var.verify.interval_seconds
      timeout_seconds  = 5
    }
  }

  # The target group alarms, NOT in the deployment group (an alarm there stops any deployment,
  # and during an incident blue's is the one alarming): both target groups, because CodeDeploy
  # swaps which one is green at every deployment ("If you do another deployment, the target group
  # associated with the current deployment's original task set is associated with the next
  # deployment's replacement task set"). Their changes to ALARM go to verify (the rule below),
  # which rolls back only a deployment whose replacement task set the alarm is about.
  target_group_alarms = var.target_group_alarms == null ? {} : {
    "blue-target-5xx"       = { metric = "HTTPCode_Target_5XX_Count", statistic = "Sum", threshold = var.target_group_alarms.target_5xx_threshold, target_group = var.target_group_alarms.blue_target_group_arn, name = coalesce(var.blue_target_group_name, "the blue target group") }
    "green-target-5xx"      = { metric = "HTTPCode_Target_5XX_Count", statistic = "Sum", threshold = var.target_group_alarms.target_5xx_threshold, target_group = var.target_group_alarms.green_target_group_arn, name = coalesce(var.green_target_group_name, "the green target group") }
    "blue-unhealthy-hosts"  = { metric = "UnHealthyHostCount", statistic = "Maximum", threshold = var.target_group_alarms.unhealthy_host_threshold, target_group = var.target_group_alarms.blue_target_group_arn, name = coalesce(var.blue_target_group_name, "the blue target group") }
    "green-unhealthy-hosts" = { metric = "UnHealthyHostCount", statistic = "Maximum", threshold = var.target_group_alarms.unhealthy_host_threshold, target_group = var.target_group_alarms.green_target_group_arn, name = coalesce(var.green_target_group_name, "the green target group") }
  }
}

# ------------------------------------------------------------------ service registry

resource "aws_ssm_parameter" "registry" {
  #checkov:skip=CKV2_AWS_34:The registry entry is configuration (repository names, subnet and security group ids), not a secret; the contract fixes it as a String parameter that every berth function reads without KMS grants.
  name        = "${var.services_path}/${var.service_name}"
  description = "berth service registry entry of ${var.service_name}"
  type        = "String"
  tier        = "Standard"
  value       = jsonencode(local.registry_entry)
  tags        = var.tags

  lifecycle {
    precondition {
      condition     = local.task_target || (var.appspec_container != null && var.appspec_port != null && var.appspec_port != 0)
      error_message = "An ECS service (deployment_controller CODE_DEPLOY or ECS) needs appspec_container and appspec_port."
    }
    precondition {
      condition     = local.task_target || var.task_target == null
      error_message = "task_target belongs to a task target (deployment_controller TASK)."
    }
    precondition {
      # The registry refuses appspec, deployment and verify beside task_target.
      condition     = !local.task_target || (var.verify == null && var.ecs_service_name == null && var.appspec_container == null)
      error_message = "deployment_controller TASK takes no verify, ecs_service_name or appspec_container (a task target has no ECS service)."
    }
  }
}

# The push index entry (docs/reference/registry.md#the-push-index): on-image-push lists
# <push_index_path>/<repository> and reads only the registry entries named there. The repository's
# name is the trigger container's, without the registry host of a full URI.
resource "aws_ssm_parameter" "push_index" {
  #checkov:skip=CKV2_AWS_34:The index entry holds a service name, not a secret; on-image-push reads it without KMS grants.
  count       = var.push_trigger == null ? 0 : 1
  name        = "${var.push_index_path}/${local.push_trigger_repository}/${var.service_name}"
  description = "berth push index: the push trigger of ${var.service_name} watches ${local.push_trigger_repository}"
  type        = "String"
  tier        = "Standard"
  value       = var.service_name
  tags        = var.tags
}

# No grant to the platform's roles: they act on any service of the platform's cluster_arns (the one
# write, ecs:UpdateService, only on services tagged berth:service) and on artifacts/*/ keys of the
# release bucket, so adding a service never edits a shared role's policy (docs/reference/iam.md,
# "Scaling to many services").

# ------------------------------------------------------------------ pipeline artifact store

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Holds CodePipeline's transient copies of release artifacts; the release bucket keeps the releases. Access logging is left to the account.
  #checkov:skip=CKV_AWS_144:Transient pipeline copies; cross-region replication adds nothing.
  #checkov:skip=CKV_AWS_145:CodePipeline writes its artifacts with the AWS managed aws/s3 KMS key; the bucket default (SSE-S3) only covers anything else.
  #checkov:skip=CKV2_AWS_62:Nothing needs to react to pipeline artifact writes.
  bucket_prefix = "${local.artifact_bucket_name}-artifacts-"
  force_destroy = var.force_destroy_artifact_bucket
  tags          = var.tags
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
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

resource "aws_s3_bucket_policy" "artifacts" {
  bucket     = aws_s3_bucket.artifacts.id
  policy     = data.aws_iam_policy_document.artifacts_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-pipeline-artifacts"
    status = "Enabled"
    filter {}

    expiration {
      days = var.artifact_retention_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

# ------------------------------------------------------------------ CodeDeploy (CODE_DEPLOY only)

resource "aws_codedeploy_app" "service" {
  count            = local.code_deploy ? 1 : 0
  name             = local.codedeploy_app_name
  compute_platform = "ECS"
  tags             = var.tags
}

data "aws_iam_policy_document" "codedeploy_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codedeploy.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Statement ids match infra/cloudformation/service.yaml; infra/tests checks the two stay equal.
data "aws_iam_policy_document" "codedeploy" {
  statement {
    sid       = "ReadService"
    actions   = ["ecs:DescribeServices"]
    resources = [local.service_arn]
  }
  statement {
    sid       = "CreateReplacementTaskSet"
    actions   = ["ecs:CreateTaskSet"]
    resources = ["*"]
    # No resource-level permission; both condition keys exist for CreateTaskSet.
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [local.cluster_arn]
    }
    condition {
      test     = "ArnEquals"
      variable = "ecs:service"
      values   = [local.service_arn]
    }
  }
  statement {
    sid       = "SwitchAndDeleteTaskSets"
    actions   = ["ecs:UpdateServicePrimaryTaskSet", "ecs:DeleteTaskSet"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-set/${var.cluster_name}/${local.ecs_service_name}/*"]
  }
  statement {
    sid       = "SwitchPrimaryTaskSetOfService"
    actions   = ["ecs:UpdateServicePrimaryTaskSet"]
    resources = [local.service_arn]
  }
  statement {
    sid = "ReadLoadBalancing"
    actions = [
      "elasticloadbalancing:DescribeTargetGroups",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeRules",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "ReadRollbackAlarms"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:*"]
  }
  statement {
    sid       = "ShiftListenerTraffic"
    actions   = ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"]
    resources = concat(local.listener_arns, local.listener_rule_arns)
  }
  statement {
    sid       = "PassTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = local.passable_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    # The AfterAllowTestTraffic hook of every rendered appspec.yaml, and no other function.
    sid       = "InvokeVerifyHook"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.verify_function]
  }
}

resource "aws_cloudwatch_metric_alarm" "target_group" {
  for_each          = local.target_group_alarms
  alarm_name        = "${local.pipeline_name}-${each.key}"
  alarm_description = "berth ${var.service_name}: ${each.value.metric} of ${each.value.name}; rolls back a CodeDeploy deployment whose replacement task set serves this group, never one that replaces it."
  namespace         = "AWS/ApplicationELB"
  metric_name       = each.value.metric
  dimensions = {
    LoadBalancer = split(":loadbalancer/", var.target_group_alarms.load_balancer_arn)[1]
    TargetGroup  = split(":", each.value.target_group)[5]
  }
  statistic           = each.value.statistic
  period              = var.target_group_alarms.period_seconds
  evaluation_periods  = var.target_group_alarms.evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching" # an idle target group has no data
  tags                = var.tags
}

# A target group alarm's change to ALARM goes to verify, which stops the deployment in flight with
# rollback when the alarm is about the target group of its replacement (green) task set, and
# changes nothing when it is about the version being replaced. "CloudWatch sends events to Amazon
# EventBridge whenever a CloudWatch alarm is created, updated, deleted, or changes alarm state"
# (CloudWatch User Guide, "Alarm events and EventBridge").
resource "aws_cloudwatch_event_rule" "target_group_alarms" {
  count       = local.code_deploy && length(local.target_group_alarms) > 0 ? 1 : 0
  name        = "${local.pipeline_name}-target-group-alarms"
  description = "berth ${var.service_name}: target group alarms in ALARM go to verify, which rolls back a deployment whose replacement task set they are about."
  event_pattern = jsonencode({
    source        = ["aws.cloudwatch"]
    "detail-type" = ["CloudWatch Alarm State Change"]
    resources     = [for k in sort(keys(local.target_group_alarms)) : aws_cloudwatch_metric_alarm.target_group[k].arn]
    detail        = { state = { value = ["ALARM"] } }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "target_group_alarms" {
  count     = length(aws_cloudwatch_event_rule.target_group_alarms)
  rule      = aws_cloudwatch_event_rule.target_group_alarms[0].name
  target_id = "verify"
  arn       = local.verify_function
}

resource "aws_lambda_permission" "target_group_alarms" {
  count         = length(aws_cloudwatch_event_rule.target_group_alarms)
  statement_id  = "${local.pipeline_name}-target-group-alarms"
  action        = "lambda:InvokeFunction"
  function_name = local.verify_function
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.target_group_alarms[0].arn
}

resource "aws_iam_role" "codedeploy" {
  count                = local.code_deploy ? 1 : 0
  name_prefix          = substr("${local.pipeline_name}-codedeploy-", 0, 38)
  description          = "berth ${var.service_name}: CodeDeploy blue/green deployments of the ECS service"
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.codedeploy_assume.json
  tags                 = var.tags
}

resource "aws_iam_role_policy" "codedeploy" {
  count  = local.code_deploy ? 1 : 0
  name   = "codedeploy-ecs-blue-green"
  role   = aws_iam_role.codedeploy[0].id
  policy = data.aws_iam_policy_document.codedeploy.json
}

resource "aws_codedeploy_deployment_group" "service" {
  count                  = local.code_deploy ? 1 : 0
  app_name               = aws_codedeploy_app.service[0].name
  deployment_group_name  = var.service_name
  service_role_arn       = aws_iam_role.codedeploy[0].arn
  deployment_config_name = var.deployment_config_name

  deployment_style {
    deployment_type   = "BLUE_GREEN"
    deployment_option = "WITH_TRAFFIC_CONTROL"
  }

  blue_green_deployment_config {
    # STOP_DEPLOYMENT: "If traffic rerouting is not started before the end of the specified wait
    # period, the deployment status is changed to Stopped" (CodeDeploy API, DeploymentReadyOption).
    deployment_ready_option {
      action_on_timeout    = var.traffic_reroute_wait_minutes > 0 ? "STOP_DEPLOYMENT" : "CONTINUE_DEPLOYMENT"
      wait_time_in_minutes = var.traffic_reroute_wait_minutes > 0 ? var.traffic_reroute_wait_minutes : null
    }
    terminate_blue_instances_on_deployment_success {
      action                           = "TERMINATE"
      termination_wait_time_in_minutes = var.termination_wait_minutes
    }
  }

  ecs_service {
    cluster_name = var.cluster_name
    service_name = local.ecs_service_name
  }

  load_balancer_info {
    target_group_pair_info {
      prod_traffic_route {
        listener_arns = [var.prod_listener_arn]
      }
      dynamic "test_traffic_route" {
        for_each = var.test_listener_arn == null ? [] : [var.test_listener_arn]
        content {
          listener_arns = [test_traffic_route.value]
        }
      }
      target_group {
        name = var.blue_target_group_name
      }
      target_group {
        name = var.green_target_group_name
      }
    }
  }

  # DEPLOYMENT_STOP_ON_REQUEST: a deployment stopped by berth rollback (or by the reroute wait
  # running out) returns traffic to blue.
  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM", "DEPLOYMENT_STOP_ON_REQUEST"]
  }

  # At most 10 alarms per deployment group; rollback_alarm_names takes up to 5.
  dynamic "alarm_configuration" {
    for_each = length(local.deployment_alarms) > 0 ? [1] : []
    content {
      enabled = true
      alarms  = local.deployment_alarms
    }
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.codedeploy]

  lifecycle {
    precondition {
      condition     = var.prod_listener_arn != null && var.blue_target_group_name != null && var.green_target_group_name != null
      error_message = "deployment_controller CODE_DEPLOY needs prod_listener_arn, blue_target_group_name and green_target_group_name."
    }
  }
}

# ------------------------------------------------------------------ pipeline

data "aws_iam_policy_document" "pipeline_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codepipeline.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "ReadReleaseArtifact"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"]
    resources = ["${local.release_bucket_arn}/artifacts/${var.service_name}/*"]
  }
  statement {
    sid       = "ReadReleaseBucketState"
    actions   = ["s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:GetBucketAcl"]
    resources = [local.release_bucket_arn]
  }
  statement {
    sid       = "UseArtifactStore"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }
  statement {
    sid       = "ReadArtifactStoreState"
    actions   = ["s3:GetBucketVersioning", "s3:GetBucketLocation", "s3:GetBucketAcl"]
    resources = [aws_s3_bucket.artifacts.arn]
  }
  statement {
    sid       = "InvokeMigrate"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.migrate_function]
  }
  dynamic "statement" {
    for_each = var.scan == null ? [] : [1]
    content {
      sid       = "InvokeScanGate"
      actions   = ["lambda:InvokeFunction"]
      resources = [local.scan_gate_function]
    }
  }
  statement {
    # Lambda developer guide: "To invoke a function, a CodePipeline pipeline needs permission to use
    # the following API operations: ListFunctions, InvokeFunction". No resource-level permission.
    sid       = "ListFunctionsForInvokeActions"
    actions   = ["lambda:ListFunctions"]
    resources = ["*"]
  }
  # CODE_DEPLOY: the CodeDeployToECS action registers the task definition and starts the deployment
  # with the pipeline's role.
  dynamic "statement" {
    for_each = local.code_deploy ? [1] : []
    content {
      sid       = "DeployWithCodeDeploy"
      actions   = ["codedeploy:CreateDeployment", "codedeploy:GetDeployment"]
      resources = ["arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:deploymentgroup:${local.codedeploy_app_name}/${var.service_name}"]
    }
  }
  dynamic "statement" {
    for_each = local.code_deploy ? [1] : []
    content {
      sid       = "RegisterRevision"
      actions   = ["codedeploy:GetApplication", "codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision"]
      resources = ["arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:application:${local.codedeploy_app_name}"]
    }
  }
  dynamic "statement" {
    for_each = local.code_deploy ? [1] : []
    content {
      sid       = "ReadDeploymentConfig"
      actions   = ["codedeploy:GetDeploymentConfig"]
      resources = ["arn:${local.partition}:codedeploy:${local.region}:${local.account_id}:deploymentconfig:${var.deployment_config_name}"]
    }
  }
  dynamic "statement" {
    for_each = local.code_deploy ? [1] : []
    content {
      sid       = "RegisterTaskDefinition"
      actions   = ["ecs:RegisterTaskDefinition"]
      resources = ["*"]
      condition {
        test     = "StringEquals"
        variable = "aws:RequestedRegion"
        values   = [local.region]
      }
    }
  }
  dynamic "statement" {
    for_each = local.code_deploy ? [1] : []
    content {
      sid       = "PassTaskRolesToEcs"
      actions   = ["iam:PassRole"]
      resources = local.passable_role_arns
      condition {
        test     = "StringEquals"
        variable = "iam:PassedToService"
        values   = ["ecs-tasks.amazonaws.com"]
      }
    }
  }
  # ECS and TASK: the Deploy action is the platform's deploy function, which registers the task
  # definition and updates the service (ECS) or repoints the schedules and rule targets (TASK) with
  # its own role.
  dynamic "statement" {
    for_each = local.code_deploy ? [] : [1]
    content {
      sid       = "InvokeDeploy"
      actions   = ["lambda:InvokeFunction"]
      resources = [local.deploy_function]
    }
  }
}

resource "aws_iam_role" "pipeline" {
  name_prefix          = substr("${local.pipeline_name}-pipeline-", 0, 38)
  description          = "berth ${var.service_name}: the service's CodePipeline"
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.pipeline_assume.json
  tags                 = var.tags
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "berth-pipeline"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_codepipeline" "service" {
  #checkov:skip=CKV_AWS_219:Without an encryption key CodePipeline encrypts artifacts with the account's AWS managed aws/s3 KMS key, which is what a single-account pipeline needs.
  name           = local.pipeline_name
  pipeline_type  = "V2"
  execution_mode = "QUEUED"
  role_arn       = aws_iam_role.pipeline.arn

  artifact_store {
    type     = "S3"
    location = aws_s3_bucket.artifacts.bucket
  }

  # "(none)" is not a legal release name: an execution berth did not start keeps these defaults,
  # and the Release stage's first action recognises and refuses it.
  variable {
    name          = "BERTH_SERVICE"
    default_value = "(none)"
    description   = "Service being released (set by on-manifest and berth rollback)."
  }

  variable {
    name          = "BERTH_RELEASE"
    default_value = "(none)"
    description   = "Release name (set by on-manifest and berth rollback)."
  }

  variable {
    name          = "BERTH_ROLLBACK"
    default_value = "false"
    description   = "\"true\" when this execution re-deploys an earlier artifact; migrate then skips the migration."
  }

  stage {
    name = "Source"
    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = "S3"
      version          = "1"
      namespace        = "SourceVariables"
      output_artifacts = ["Release"]
      configuration = {
        S3Bucket             = var.release_bucket_name
        S3ObjectKey          = "artifacts/${var.service_name}/source.zip"
        PollForSourceChanges = "false"
      }
    }
  }

  # One stage for migration and deployment: "Because each stage can process only one execution at a
  # time, the stage is locked while in progress" (CodePipeline User Guide). With separate stages,
  # release N+1 would migrate while release N still deploys.
  stage {
    name = "Release"

    # The vulnerability gate, only with a scan policy: first, so nothing migrates or deploys before
    # the images pass.
    dynamic "action" {
      for_each = var.scan == null ? [] : [1]
      content {
        name            = "Scan"
        category        = "Invoke"
        owner           = "AWS"
        provider        = "Lambda"
        version         = "1"
        run_order       = 1
        namespace       = "Scan"
        input_artifacts = ["Release"]
        configuration = {
          FunctionName   = var.scan_gate_function_name
          UserParameters = local.lambda_user_parameters
        }
      }
    }

    action {
      name            = "Migrate"
      category        = "Invoke"
      owner           = "AWS"
      provider        = "Lambda"
      version         = "1"
      run_order       = var.scan == null ? 1 : 2
      namespace       = "Migration"
      input_artifacts = ["Release"]
      # What the release deploys, rendered under this stage's lock from the task definition the
      # service runs then ("If you specify output artifacts for the action, they must be uploaded
      # to the S3 bucket as part of the function implementation" - Lambda invoke action reference).
      output_artifacts = ["DeployArtifact"]
      configuration = {
        FunctionName   = var.migrate_function_name
        UserParameters = local.lambda_user_parameters
      }
    }

    # CODE_DEPLOY. TaskDefinitionTemplateArtifact: "The input artifact name that provides the task
    # definition file to the deployment action" (CodeDeployToECS action reference). Both files come
    # from Migrate's output; the Source artifact (rendered at upload) is not an input.
    dynamic "action" {
      for_each = local.code_deploy ? [1] : []
      content {
        name            = "Deploy"
        category        = "Deploy"
        owner           = "AWS"
        provider        = "CodeDeployToECS"
        version         = "1"
        run_order       = var.scan == null ? 2 : 3
        input_artifacts = ["DeployArtifact"]
        configuration = {
          ApplicationName                = aws_codedeploy_app.service[0].name
          DeploymentGroupName            = aws_codedeploy_deployment_group.service[0].deployment_group_name
          TaskDefinitionTemplateArtifact = "DeployArtifact"
          TaskDefinitionTemplatePath     = "taskdef.json"
          AppSpecTemplateArtifact        = "DeployArtifact"
          AppSpecTemplatePath            = "appspec.yaml"
        }
      }
    }

    # ECS: berth's deploy function registers the same taskdef.json byte for byte and calls
    # UpdateService; ECS runs the service's own strategy, followed until it ends.
    # TASK: the same action registers it and repoints every schedule and rule target to it (all or
    # nothing); register only: the new revision is the release.
    dynamic "action" {
      for_each = local.code_deploy ? [] : [1]
      content {
        name            = "Deploy"
        category        = "Invoke"
        owner           = "AWS"
        provider        = "Lambda"
        version         = "1"
        run_order       = var.scan == null ? 2 : 3
        input_artifacts = ["DeployArtifact"]
        configuration = {
          FunctionName   = var.deploy_function_name
          UserParameters = local.lambda_user_parameters
        }
      }
    }

    # The contract step: the migrate function again, told by "migration":"post", after Deploy in
    # the same stage, so the stage lock keeps the next release from migrating until it ends. It
    # runs only once the deployment finished for good (CODE_DEPLOY: it waits out the termination
    # wait), never in a rollback execution. Only with a post migration.
    dynamic "action" {
      for_each = var.post_migration == null ? [] : [1]
      content {
        name            = "PostMigrate"
        category        = "Invoke"
        owner           = "AWS"
        provider        = "Lambda"
        version         = "1"
        run_order       = var.scan == null ? 3 : 4
        namespace       = "PostMigration"
        input_artifacts = ["DeployArtifact"]
        configuration = {
          FunctionName   = var.migrate_function_name
          UserParameters = local.post_migrate_user_parameters
        }
      }
    }
  }

  tags       = var.tags
  depends_on = [aws_iam_role_policy.pipeline]

  lifecycle {
    precondition {
      # CodePipeline pipeline names are at most 100 characters (API reference, pipelineName).
      condition     = length(local.pipeline_name) <= 100
      error_message = "The pipeline name <pipeline_name_prefix><service_name> must be at most 100 characters."
    }
    precondition {
      condition     = local.code_deploy || var.deploy_function_name != null
      error_message = "deployment_controller ECS or TASK needs deploy_function_name (module.platform.deploy_function_name)."
    }
    precondition {
      # The post migration runs where berth runs its own tasks: the functions refuse an entry
      # that names neither a network nor a migration with subnets.
      condition     = var.post_migration == null || var.network != null || var.migration != null
      error_message = "post_migration needs network (or migration, whose subnets and security groups it then uses)."
    }
  }
}
