# ------------------------------------------------------------------ job

variable "service_name" {
  description = "Name of the job: its task family, schedule and log group are named after it, its schedule group is <pipeline_name_prefix><service_name> (a berth service name that is also a schedule name: [0-9a-zA-Z-_.], at most 64)."
  type        = string
  default     = "report"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.service_name))
    error_message = "service_name must be 1 to 64 letters, digits, \".\", \"_\" or \"-\"."
  }
}

variable "cluster_name" {
  description = "Name of the existing ECS cluster the job's tasks run in (one of the platform's cluster_arns)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.cluster_name))
    error_message = "cluster_name must be 1 to 255 letters, digits, underscores or hyphens."
  }
}

variable "image" {
  description = "Image of the first task definition; berth replaces it with every release."
  type        = string
}

variable "container_name" {
  description = "Name of the job's container (the key of containers in the berth service module)."
  type        = string
  default     = "job"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.container_name))
    error_message = "container_name must be 1 to 255 letters, digits, underscores or hyphens."
  }
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "cpu must be 256, 512, 1024, 2048 or 4096."
  }
}

variable "memory" {
  description = "Fargate task memory (MiB), valid for the CPU chosen."
  type        = number
  default     = 512
}

variable "schedule_expression" {
  description = "When the job runs: an EventBridge Scheduler expression, at(...), rate(...) or cron(...)."
  type        = string
  default     = "cron(0 3 * * ? *)"

  validation {
    condition     = can(regex("^(at|rate|cron)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be at(...), rate(...) or cron(...)."
  }
}

variable "schedule_timezone" {
  description = "Time zone of the expression (for example Asia/Tokyo)."
  type        = string
  default     = "UTC"

  validation {
    condition     = can(regex("^[A-Za-z0-9_+/-]{1,50}$", var.schedule_timezone))
    error_message = "schedule_timezone must be a time zone name such as Asia/Tokyo."
  }
}

# ------------------------------------------------------------------ network

variable "vpc_id" {
  description = "VPC of the job's tasks."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the job's tasks (also berth run's and the migration's); they must reach ECR and CloudWatch Logs (NAT gateway or VPC endpoints)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0
    error_message = "Name at least one subnet."
  }
}

# ------------------------------------------------------------------ berth

variable "pipeline_name_prefix" {
  description = "The platform's pipeline_name_prefix (module.platform.pipeline_name_prefix): the schedule group is named <prefix><service_name>, which the platform's deploy role may update."
  type        = string
}

variable "task_target_role_arn" {
  description = "The platform's task_target_role_arn (module.platform.task_target_role_arn): the role the schedule runs the job's tasks with, which the platform's deploy role may pass back when it repoints the schedule."
  type        = string
}

# ------------------------------------------------------------------ logs, tags, roles

variable "log_retention_days" {
  description = "Retention of the job's log group, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "permissions_boundary" {
  description = "Optional ARN of an IAM managed policy set as the permissions boundary of every role this module creates. null = no boundary."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary == null || can(regex("^arn:aws(-cn|-us-gov)?:iam::([0-9]{12}|aws):policy/([\\x21-\\x7F]+/)?[A-Za-z0-9+=,.@_-]{1,128}$", var.permissions_boundary))
    error_message = "permissions_boundary must be null or an IAM policy ARN (arn:aws:iam::123456789012:policy/name)."
  }
}

variable "role_path" {
  description = "IAM path of every role this module creates: \"/\" or a path beginning and ending with \"/\" (ASCII ! to DEL in between, at most 512 characters)."
  type        = string
  default     = "/"
  nullable    = false

  validation {
    condition     = length(var.role_path) <= 512 && can(regex("^(/|/[\\x21-\\x7F]+/)$", var.role_path))
    error_message = "role_path must be \"/\" or begin and end with \"/\" (at most 512 characters)."
  }
}

# ------------------------------------------------------------------ removal

variable "retain_log_groups" {
  description = "true = terraform destroy leaves the log group (and its events) in place (skip_destroy); false = it is deleted with the module, as the CloudFormation stack deletes it."
  type        = bool
  default     = false
  nullable    = false
}
