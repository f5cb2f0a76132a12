# berth reference task target (optional): a scheduled job as the berth service module with
# deployment_controller = "TASK" expects it. Mirrors infra/cloudformation/reference-task.yaml.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition
  # The platform's deploy role may update the schedules of groups named <pipeline_name_prefix>*.
  schedule_group_name = "${var.pipeline_name_prefix}${var.service_name}"
}

# ------------------------------------------------------------------ logs and roles

resource "aws_cloudwatch_log_group" "containers" {
  #checkov:skip=CKV_AWS_158:Logs of a reference job; CloudWatch Logs encrypts them at rest with a service key.
  name              = "/ecs/${var.service_name}"
  retention_in_days = var.log_retention_days
  skip_destroy      = var.retain_log_groups
  tags              = var.tags
}

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Statement ids match infra/cloudformation/reference-task.yaml.
data "aws_iam_policy_document" "task_execution" {
  statement {
    # GetAuthorizationToken has no resource-level permission.
    sid       = "GetRegistryToken"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/*"]
  }
  statement {
    sid       = "WriteContainerLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.containers.arn}:*"]
  }
}

# ECS pulls the image and writes the logs with this role.
resource "aws_iam_role" "task_execution" {
  name_prefix          = substr("${var.service_name}-task-execution-", 0, 38)
  description          = "${var.service_name}: ECS task execution role (image pull, logs)"
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags                 = var.tags
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "task-execution"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

# The job's own role: no permission until the job needs one.
resource "aws_iam_role" "task" {
  name_prefix          = substr("${var.service_name}-task-", 0, 38)
  description          = "${var.service_name}: task role of the job (no permissions by default)"
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags                 = var.tags
}

# ------------------------------------------------------------------ network

# Outbound HTTPS only (ECR, CloudWatch Logs, AWS APIs); add the job's own destinations.
resource "aws_security_group" "task" {
  #checkov:skip=CKV2_AWS_5:Attached to the job's tasks by the schedule's ECS target (and by berth run and migrations through the registry's network section).
  name_prefix = "${var.service_name}-job-"
  description = "${var.service_name} job tasks: outbound HTTPS only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "task_https" {
  security_group_id = aws_security_group.task.id
  description       = "HTTPS to ECR, CloudWatch Logs and other AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# ------------------------------------------------------------------ the job

resource "aws_ecs_task_definition" "first" {
  #checkov:skip=CKV_AWS_336:The first image is whatever the team passes; many images write to their file system. Set readonlyRootFilesystem in your own task definitions where the image allows it.
  family                   = var.service_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions = jsonencode([{
    name      = var.container_name
    image     = var.image
    essential = true
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.containers.name
        awslogs-region        = local.region
        awslogs-stream-prefix = var.container_name
      }
    }
  }])
  tags = var.tags
}

# Schedules cannot be tagged ("With EventBridge Scheduler, you apply tags to schedule groups, not
# to individual schedules"): the group's name puts the schedule in the platform deploy role's
# scope, its tag says whose it is.
resource "aws_scheduler_schedule_group" "job" {
  name = local.schedule_group_name
  tags = merge(var.tags, { "berth:service" = var.service_name })
}

# berth repoints target.ecs_parameters.task_definition_arn to every release (GetSchedule, then
# UpdateSchedule with every other field as read), so Terraform leaves that field alone.
resource "aws_scheduler_schedule" "job" {
  #checkov:skip=CKV_AWS_297:The schedule holds no payload (no target input), only names and ARNs; EventBridge Scheduler encrypts it with an AWS owned key.
  name                         = var.service_name
  group_name                   = aws_scheduler_schedule_group.job.name
  description                  = "berth task target ${var.service_name}: runs the family's released revision"
  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone
  state                        = "ENABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${var.cluster_name}"
    role_arn = var.task_target_role_arn

    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.first.arn
      task_count          = 1
      launch_type         = "FARGATE"

      network_configuration {
        subnets          = var.subnet_ids
        security_groups  = [aws_security_group.task.id]
        assign_public_ip = false
      }
    }
  }

  lifecycle {
    ignore_changes = [target[0].ecs_parameters[0].task_definition_arn]
  }
}
