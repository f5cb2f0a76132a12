# berth on one account and region: the platform once, then one module call per ECS service or
# scheduled job.
#
#   terraform init
#   terraform apply -var code_bucket=my-artifacts -var code_prefix=berth/0.1.0/
#
# Release notifications to Slack are optional: -var slack_webhook_parameter_name=/berth/slack-webhook
# (an SSM SecureString you create first).
#
# The values below describe an example "web" service; replace them with your own.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "Region to deploy berth in."
  type        = string
  default     = "ap-northeast-1"
}

variable "code_bucket" {
  description = "S3 bucket holding the function zips uploaded from dist/."
  type        = string
}

variable "code_prefix" {
  description = "Key prefix of the zips inside code_bucket, ending in \"/\" (one per version)."
  type        = string
  default     = "berth/"
}

variable "slack_webhook_parameter_name" {
  description = "Optional name of the SSM SecureString parameter holding the Slack incoming-webhook URL (create it first). null disables Slack notifications."
  type        = string
  default     = null
}

data "aws_caller_identity" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
}

module "platform" {
  source = "../modules/platform"

  code_bucket = var.code_bucket
  code_prefix = var.code_prefix

  cluster_arns       = ["arn:aws:ecs:${var.region}:${local.account_id}:cluster/prod"]
  passable_role_arns = ["arn:aws:iam::${local.account_id}:role/web-task", "arn:aws:iam::${local.account_id}:role/web-task-execution", "arn:aws:iam::${local.account_id}:role/report-task-execution"]

  slack_webhook_parameter_name = var.slack_webhook_parameter_name
  create_notification_topic    = true

  tags = { app = "berth" }
}

module "service_web" {
  source = "../modules/service"

  release_bucket_name     = module.platform.release_bucket_name
  services_path           = module.platform.services_path
  pipeline_name_prefix    = module.platform.pipeline_name_prefix
  migrate_function_name   = module.platform.migrate_function_name
  verify_function_name    = module.platform.verify_function_name
  scan_gate_function_name = module.platform.scan_gate_function_name

  service_name = "web"
  cluster_name = "prod"
  containers = {
    app   = "web/app"
    nginx = "web/nginx"
  }

  push_trigger = {
    container = "app"
  }

  migration = {
    container       = "app"
    command         = ["bin/rails", "db:migrate"]
    timeout_seconds = 1800
    subnets         = ["subnet-0a1b2c3d4e5f60718"]
    security_groups = ["sg-0d4e5f60718293a4b"]
  }

  appspec_container = "nginx"
  appspec_port      = 80

  task_execution_role_arn = "arn:aws:iam::${local.account_id}:role/web-task-execution"
  task_role_arn           = "arn:aws:iam::${local.account_id}:role/web-task"

  prod_listener_arn       = "arn:aws:elasticloadbalancing:${var.region}:${local.account_id}:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
  test_listener_arn       = "arn:aws:elasticloadbalancing:${var.region}:${local.account_id}:listener/app/web/50dc6c495c0c9188/0467ef3c8400ae65"
  blue_target_group_name  = "web-blue"
  green_target_group_name = "web-green"
  rollback_alarm_names    = ["web-5xx"]

  scan = {
    block = ["CRITICAL", "HIGH"]
  }

  tags = { app = "berth", service = "web" }
}

# A manifest-only service: no push trigger, no migration.
module "service_worker" {
  source = "../modules/service"

  release_bucket_name     = module.platform.release_bucket_name
  services_path           = module.platform.services_path
  pipeline_name_prefix    = module.platform.pipeline_name_prefix
  migrate_function_name   = module.platform.migrate_function_name
  verify_function_name    = module.platform.verify_function_name
  scan_gate_function_name = module.platform.scan_gate_function_name

  service_name = "worker"
  cluster_name = "prod"
  containers   = { worker = "worker/app" }

  appspec_container       = "worker"
  appspec_port            = 8080
  task_execution_role_arn = "arn:aws:iam::${local.account_id}:role/worker-task-execution"
  prod_listener_arn       = "arn:aws:elasticloadbalancing:${var.region}:${local.account_id}:listener/app/worker/6d0ecf831eec9f09/3e8a1c2f0b7d4a55"
  blue_target_group_name  = "worker-blue"
  green_target_group_name = "worker-green"
}

# A scheduled job (a task target): the family "report" run by the EventBridge Scheduler schedule
# "nightly-report" in the group "berth-report" (a group named <pipeline_name_prefix>*, which the
# platform's deploy role may update), whose ECS target runs tasks with
# module.platform.task_target_role_arn. berth repoints the schedule to every release; berth run
# starts the job by hand in the network given.
module "service_report" {
  source = "../modules/service"

  release_bucket_name     = module.platform.release_bucket_name
  services_path           = module.platform.services_path
  pipeline_name_prefix    = module.platform.pipeline_name_prefix
  migrate_function_name   = module.platform.migrate_function_name
  deploy_function_name    = module.platform.deploy_function_name
  verify_function_name    = module.platform.verify_function_name
  scan_gate_function_name = module.platform.scan_gate_function_name

  service_name          = "report"
  deployment_controller = "TASK"
  cluster_name          = "prod"
  containers            = { job = "report/job" }
  push_trigger          = { container = "job", tag_pattern = "^v[0-9]+$" }

  task_execution_role_arn = "arn:aws:iam::${local.account_id}:role/report-task-execution"
  task_target = {
    schedules = [{ name = "nightly-report", group = "berth-report" }]
  }
  network = { subnets = ["subnet-0a1b2c3d"], security_groups = ["sg-0d4e5f6a"] }
}

output "release_bucket_name" {
  description = "Upload manifests to s3://<this>/manifests/<service>/<release>.json."
  value       = module.platform.release_bucket_name
}

output "pipelines" {
  description = "Pipeline of each service."
  value       = [module.service_web.pipeline_name, module.service_worker.pipeline_name, module.service_report.pipeline_name]
}

output "failed_events_queue_url" {
  description = "Queue holding every event a berth function gave up on."
  value       = module.platform.failed_events_queue_url
}
