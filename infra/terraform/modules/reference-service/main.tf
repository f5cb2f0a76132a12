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
  name_prefix        = substr("${var.service_name}-task-execution-", 0, 38)
  description        = "${var.service_name}: ECS task execution role (image pull, logs)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "task-execution"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

# The application's own role: no permission until the application needs one.
resource "aws_iam_role" "task" {
  name_prefix        = substr("${var.service_name}-task-", 0, 38)
  description        = "${var.service_name}: task role of the application (no permissions by default)"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
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

# CodeDeploy moves production traffic between these two at every deployment.
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

  # CodeDeploy owns the deployments (berth's pipeline Deploy action).
  deployment_controller {
    type = "CODE_DEPLOY"
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.service["blue"].arn
    container_name   = var.container_name
    container_port   = var.container_port
  }

  network_configuration {
    subnets          = var.service_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = var.assign_public_ip
  }

  # CodeDeploy changes the task definition and the target group (blue/green alternate) at every
  # deployment, and scaling changes the count: a plan must not undo them. ("If you do another
  # deployment, the target group associated with the current deployment's original task set is
  # associated with the next deployment's replacement task set.")
  lifecycle {
    ignore_changes = [task_definition, load_balancer, desired_count]
  }

  tags       = var.tags
  depends_on = [aws_lb_listener.service]
}
