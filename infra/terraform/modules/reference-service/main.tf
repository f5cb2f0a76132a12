# berth reference service (optional): everything a berth service module expects to exist, created
# from a VPC and its subnets. Mirrors infra/cloudformation/reference-service.yaml.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id   = data.aws_caller_identity.current.account_id
  region       = data.aws_region.current.region
  partition    = data.aws_partition.current.partition
  cluster_name = var.cluster_name == null ? aws_ecs_cluster.cluster[0].name : var.cluster_name
  blue_green   = var.deployment_strategy == "BLUE_GREEN"
  rolling      = var.deployment_strategy == "ROLLING"
}

resource "aws_ecs_cluster" "cluster" {
  count = var.cluster_name == null ? 1 : 0
  name  = var.service_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

# ------------------------------------------------------------------ logs and roles

# The log group the containers write to; berth's migration failure messages name its streams.
resource "aws_cloudwatch_log_group" "containers" {
  #checkov:skip=CKV_AWS_158:Application logs of a reference service; CloudWatch Logs encrypts them at rest with a service key.
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

# Statement ids match infra/cloudformation/reference-service.yaml.
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

# The application's own role: no permission until the application needs one.
resource "aws_iam_role" "task" {
  name_prefix          = substr("${var.service_name}-task-", 0, 38)
  description          = "${var.service_name}: task role of the application (no permissions by default)"
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags                 = var.tags
}

# ------------------------------------------------------------------ network

resource "aws_security_group" "load_balancer" {
  name_prefix = "${var.service_name}-lb-"
  description = "${var.service_name} load balancer: production and test listeners"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "load_balancer" {
  for_each          = { production = var.prod_listener_port, test = var.test_listener_port }
  security_group_id = aws_security_group.load_balancer.id
  description       = "${each.key} listener"
  ip_protocol       = "tcp"
  from_port         = each.value
  to_port           = each.value
  cidr_ipv4         = var.load_balancer_ingress_cidr
}

resource "aws_vpc_security_group_egress_rule" "load_balancer_to_service" {
  security_group_id            = aws_security_group.load_balancer.id
  description                  = "the container port of the tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.service.id
}

# For berth's verify function when it runs in the VPC (platform verify_security_group_ids): the test
# listener, and HTTPS to AWS APIs.
resource "aws_security_group" "verify" {
  #checkov:skip=CKV2_AWS_5:Attached by the platform module to berth's verify function (verify_security_group_ids), outside this module.
  name_prefix = "${var.service_name}-verify-"
  description = "${var.service_name}: berth verify function, to the test listener"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_egress_rule" "verify_to_test_listener" {
  security_group_id            = aws_security_group.verify.id
  description                  = "the test listener"
  ip_protocol                  = "tcp"
  from_port                    = var.test_listener_port
  to_port                      = var.test_listener_port
  referenced_security_group_id = aws_security_group.load_balancer.id
}

resource "aws_vpc_security_group_egress_rule" "verify_https" {
  security_group_id = aws_security_group.verify.id
  description       = "HTTPS to AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "test_listener_from_verify" {
  security_group_id            = aws_security_group.load_balancer.id
  description                  = "berth verify function"
  ip_protocol                  = "tcp"
  from_port                    = var.test_listener_port
  to_port                      = var.test_listener_port
  referenced_security_group_id = aws_security_group.verify.id
}

resource "aws_security_group" "service" {
  name_prefix = "${var.service_name}-tasks-"
  description = "${var.service_name} tasks: the container port from the load balancer only"
  vpc_id      = var.vpc_id
  tags        = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "service_from_load_balancer" {
  #checkov:skip=CKV_AWS_260:The source is the load balancer's security group, not 0.0.0.0/0 (the check reads the port only).
  security_group_id            = aws_security_group.service.id
  description                  = "the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.load_balancer.id
}

resource "aws_vpc_security_group_egress_rule" "service_https" {
  security_group_id = aws_security_group.service.id
  description       = "HTTPS to ECR, CloudWatch Logs and other AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# The database: the tasks' security group is also the migration's (output
# migration_security_groups), so without these every migration would time out connecting.
resource "aws_vpc_security_group_egress_rule" "service_to_database" {
  count                        = var.database_security_group_id == null ? 0 : 1
  security_group_id            = aws_security_group.service.id
  description                  = "the database"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = var.database_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_service" {
  count                        = var.database_security_group_id == null ? 0 : 1
  security_group_id            = var.database_security_group_id
  description                  = "${var.service_name} tasks and berth migrations"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.service.id
}

resource "aws_vpc_security_group_egress_rule" "service_to_database_cidr" {
  count             = var.database_cidr == null ? 0 : 1
  security_group_id = aws_security_group.service.id
  description       = "the database"
  ip_protocol       = "tcp"
  from_port         = var.database_port
  to_port           = var.database_port
  cidr_ipv4         = var.database_cidr
}

# ECS native blue/green moves traffic between the target groups itself, with this role. ECS
# developer guide, "Amazon ECS infrastructure IAM role for load balancers": it "allows Amazon ECS to
# manage load balancer resources in your clusters on your behalf, and is used when: You want to use
# blue/green deployments with Amazon ECS", with the managed policy
# AmazonECSInfrastructureRolePolicyForLoadBalancers and the guide's trust policy for
# "ecs.amazonaws.com".
data "aws_iam_policy_document" "ecs_infrastructure_assume" {
  statement {
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ecs_infrastructure" {
  count                = local.blue_green ? 1 : 0
  name_prefix          = substr("${var.service_name}-ecs-infrastructure-", 0, 38)
  description          = "${var.service_name}: ECS moves traffic between the target groups during native blue/green deployments"
  path                 = var.role_path
  permissions_boundary = var.permissions_boundary
  assume_role_policy   = data.aws_iam_policy_document.ecs_infrastructure_assume.json
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "ecs_infrastructure" {
  count      = local.blue_green ? 1 : 0
  role       = aws_iam_role.ecs_infrastructure[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
}

# ------------------------------------------------------------------ load balancer

resource "aws_lb" "service" {
  #checkov:skip=CKV_AWS_91:Access logging needs a log bucket with an ELB delivery policy the account owns; enable it for production services.
  #checkov:skip=CKV_AWS_150:A reference setup is meant to be destroyable; turn deletion protection on for production.
  #checkov:skip=CKV2_AWS_20:The reference service has no certificate; redirecting HTTP to HTTPS needs one.
  name                       = "${var.service_name}-lb"
  load_balancer_type         = "application"
  internal                   = var.load_balancer_internal
  subnets                    = var.load_balancer_subnet_ids
  security_groups            = [aws_security_group.load_balancer.id]
  drop_invalid_header_fields = true
  tags                       = var.tags
}

# The deployment (CodeDeploy, or ECS native blue/green) moves production traffic between these two
# at every deployment.
resource "aws_lb_target_group" "service" {
  #checkov:skip=CKV_AWS_378:Load balancer to task traffic stays inside the VPC; end-to-end TLS would need a certificate in every image.
  for_each             = toset(["blue", "green"])
  name                 = "${var.service_name}-${each.key}"
  target_type          = "ip"
  protocol             = "HTTP"
  port                 = var.container_port
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  health_check {
    path                = var.health_check_path
    interval            = 15
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "service" {
  #checkov:skip=CKV_AWS_2:The reference service has no certificate; put an HTTPS listener in front for production traffic (the test listener only carries berth's verification requests).
  #checkov:skip=CKV_AWS_103:Same reason as CKV_AWS_2 (no TLS listener without a certificate).
  for_each          = { production = var.prod_listener_port, test = var.test_listener_port }
  load_balancer_arn = aws_lb.service.arn
  port              = each.value
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service["blue"].arn
  }

  # CodeDeploy switches the listeners' target group at every deployment.
  lifecycle {
    ignore_changes = [default_action]
  }

  tags = var.tags
}

# ECS native blue/green shifts traffic by rewriting a listener rule's forward action
# (advanced_configuration's production_listener_rule and test_listener_rule): one rule per listener,
# forwarding everything, all weight on blue at first.
resource "aws_lb_listener_rule" "service" {
  for_each     = local.blue_green ? aws_lb_listener.service : {}
  listener_arn = each.value.arn
  priority     = 1

  condition {
    path_pattern {
      values = ["/*"]
    }
  }

  action {
    type = "forward"
    forward {
      target_group {
        arn    = aws_lb_target_group.service["blue"].arn
        weight = 100
      }
      target_group {
        arn    = aws_lb_target_group.service["green"].arn
        weight = 0
      }
    }
  }

  # ECS rewrites the weights at every deployment.
  lifecycle {
    ignore_changes = [action]
  }

  tags = var.tags
}

# ------------------------------------------------------------------ the service

# The first revision of the family; berth registers every release into the same family.
resource "aws_ecs_task_definition" "first" {
  family                   = var.service_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn
  container_definitions = jsonencode([{
    name         = var.container_name
    image        = var.image
    essential    = true
    portMappings = [{ containerPort = var.container_port, protocol = "tcp" }]
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

resource "aws_ecs_service" "service" {
  name            = var.service_name
  cluster         = local.cluster_name
  task_definition = aws_ecs_task_definition.first.arn
  desired_count   = var.desired_count
  launch_type     = "FARGATE"

  # ECS (BLUE_GREEN and ROLLING, run by ECS and started by berth's deploy function) or CODE_DEPLOY
  # (CodeDeploy owns the deployments; berth's pipeline Deploy action is CodeDeployToECS).
  deployment_controller {
    type = var.deployment_strategy == "CODE_DEPLOY" ? "CODE_DEPLOY" : "ECS"
  }

  # BLUE_GREEN: berth's verify as the LAMBDA hook at POST_TEST_TRAFFIC_SHIFT ("The test traffic
  # shift is complete. The green service revision handles 100% of the test traffic."), and with
  # hold_for_promote a PAUSE hook at PRE_PRODUCTION_TRAFFIC_SHIFT ("PAUSE hooks cannot be configured
  # at TEST_TRAFFIC_SHIFT or PRODUCTION_TRAFFIC_SHIFT stages"), rolled back after its timeout.
  # ROLLING: the deployment circuit breaker with rollback.
  dynamic "deployment_configuration" {
    for_each = local.blue_green ? [1] : []
    content {
      strategy             = "BLUE_GREEN"
      bake_time_in_minutes = var.bake_time_in_minutes

      lifecycle_hook {
        hook_target_arn  = var.verify_function_arn
        role_arn         = var.ecs_hook_role_arn
        lifecycle_stages = ["POST_TEST_TRAFFIC_SHIFT"]
      }

      dynamic "lifecycle_hook" {
        for_each = var.hold_for_promote ? [1] : []
        content {
          target_type      = "PAUSE"
          lifecycle_stages = ["PRE_PRODUCTION_TRAFFIC_SHIFT"]
          timeout_configuration {
            action             = "ROLLBACK"
            timeout_in_minutes = var.hold_timeout_minutes
          }
        }
      }
    }
  }

  dynamic "deployment_configuration" {
    for_each = local.rolling ? [1] : []
    content {
      strategy = "ROLLING"
    }
  }

  dynamic "deployment_circuit_breaker" {
    for_each = local.rolling ? [1] : []
    content {
      enable   = true
      rollback = true
    }
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.service["blue"].arn
    container_name   = var.container_name
    container_port   = var.container_port

    # The alternate target group, listener rules and role ECS shifts traffic with.
    dynamic "advanced_configuration" {
      for_each = local.blue_green ? [1] : []
      content {
        alternate_target_group_arn = aws_lb_target_group.service["green"].arn
        production_listener_rule   = aws_lb_listener_rule.service["production"].arn
        test_listener_rule         = aws_lb_listener_rule.service["test"].arn
        role_arn                   = aws_iam_role.ecs_infrastructure[0].arn
      }
    }
  }

  network_configuration {
    subnets          = var.service_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = var.assign_public_ip
  }

  # berth changes the task definition at every release; CodeDeploy (and ECS native blue/green)
  # swap the target groups at every deployment, and scaling changes the count: a plan must not undo
  # them. ("If you do another deployment, the target group associated with the current
  # deployment's original task set is associated with the next deployment's replacement task set.")
  lifecycle {
    ignore_changes = [task_definition, load_balancer, desired_count]

    precondition {
      condition     = !local.blue_green || (var.verify_function_arn != null && var.ecs_hook_role_arn != null)
      error_message = "deployment_strategy BLUE_GREEN needs verify_function_arn and ecs_hook_role_arn (module.platform.verify_function_arn, module.platform.ecs_hook_role_arn)."
    }
  }

  # berth's deploy function may update only services tagged berth:service (docs/reference/iam.md,
  # "Scaling to many services").
  tags       = merge(var.tags, { "berth:service" = var.service_name })
  depends_on = [aws_lb_listener.service, aws_iam_role_policy_attachment.ecs_infrastructure]
}
