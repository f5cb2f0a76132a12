variable "service_name" {
  description = "Name of the service: the ECS service, task family, load balancer and target groups (<name>-blue, <name>-green). At most 26 characters, letters, digits and hyphens (ELB names: at most 32 characters, alphanumeric or hyphens, not beginning or ending with a hyphen)."
  type        = string
  default     = "web"

  validation {
    condition     = can(regex("^[A-Za-z0-9]([A-Za-z0-9-]{0,24}[A-Za-z0-9])?$", var.service_name))
    error_message = "service_name must be 1 to 26 letters, digits or hyphens, not beginning or ending with a hyphen."
  }
}

variable "cluster_name" {
  description = "Name of an existing ECS cluster to run the service in. null = create a cluster named after the service."
  type        = string
  default     = null

  validation {
    condition     = var.cluster_name == null || can(regex("^[A-Za-z0-9_-]{1,255}$", var.cluster_name))
    error_message = "cluster_name must be null or 1 to 255 letters, digits, underscores or hyphens."
  }
}

variable "image" {
  description = "Image of the first task definition; berth replaces it with every release."
  type        = string
}

variable "container_name" {
  description = "Name of the container behind the load balancer (appspec_container of the berth service module)."
  type        = string
  default     = "app"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.container_name))
    error_message = "container_name must be 1 to 255 letters, digits, underscores or hyphens."
  }
}

variable "container_port" {
  description = "Port the container listens on (appspec_port)."
  type        = number
  default     = 80

  validation {
    condition     = var.container_port >= 1 && var.container_port <= 65535
    error_message = "container_port must be a port (1 to 65535)."
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

variable "desired_count" {
  description = "Number of tasks (initial: CodeDeploy and scaling own it afterwards)."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 0
    error_message = "desired_count must be 0 or more."
  }
}

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "load_balancer_internal" {
  description = "true = internal load balancer (reachable from the VPC only); false = internet-facing."
  type        = bool
  default     = true
}

variable "load_balancer_subnet_ids" {
  description = "Subnets of the load balancer, in at least two Availability Zones (public subnets for internet-facing)."
  type        = list(string)
}

variable "load_balancer_ingress_cidr" {
  description = "Addresses allowed to reach the production and test listeners."
  type        = string
  default     = "10.0.0.0/8"

  validation {
    condition     = can(regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$", var.load_balancer_ingress_cidr))
    error_message = "load_balancer_ingress_cidr must be an IPv4 CIDR block such as 10.0.0.0/8."
  }
}

variable "service_subnet_ids" {
  description = "Private subnets of the tasks (and of berth's migration tasks); they must reach ECR and CloudWatch Logs."
  type        = list(string)
}

variable "assign_public_ip" {
  description = "true only for tasks in public subnets without NAT."
  type        = bool
  default     = false
}

variable "database_port" {
  description = "Port of the service's database (5432 PostgreSQL, 3306 MySQL). The tasks, and berth's migration tasks (which run with the same security group, migration_security_groups), may reach it there."
  type        = number
  default     = 5432

  validation {
    condition     = var.database_port >= 1 && var.database_port <= 65535
    error_message = "database_port must be a port (1 to 65535)."
  }
}

variable "database_security_group_id" {
  description = "Security group of the database (for example an RDS instance's): the tasks' security group may reach it on database_port, and the module adds the matching ingress rule to it. null = none."
  type        = string
  default     = null

  validation {
    condition     = var.database_security_group_id == null || can(regex("^sg-[0-9a-f]{8,17}$", var.database_security_group_id))
    error_message = "database_security_group_id must be null or a security group id (sg-...)."
  }
}

variable "database_cidr" {
  description = "Address range of the database (when it has no security group to reference): the tasks may reach it on database_port. null = none."
  type        = string
  default     = null

  validation {
    condition     = var.database_cidr == null || can(regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$", var.database_cidr))
    error_message = "database_cidr must be null or an IPv4 CIDR block such as 10.0.32.0/20."
  }
}

variable "prod_listener_port" {
  description = "Port of the production listener."
  type        = number
  default     = 80

  validation {
    condition     = var.prod_listener_port >= 1 && var.prod_listener_port <= 65535
    error_message = "prod_listener_port must be a port (1 to 65535)."
  }
}

variable "test_listener_port" {
  description = "Port of the test listener (berth's verify function checks the replacement task set through it)."
  type        = number
  default     = 8080

  validation {
    condition     = var.test_listener_port >= 1 && var.test_listener_port <= 65535
    error_message = "test_listener_port must be a port (1 to 65535)."
  }
}

variable "health_check_path" {
  description = "Path the target groups' health check requests."
  type        = string
  default     = "/"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with \"/\"."
  }
}

variable "log_retention_days" {
  description = "Retention of the container log group, in days."
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

# ------------------------------------------------------------------ deployments

variable "deployment_strategy" {
  description = "How the service deploys. BLUE_GREEN (default, as AWS recommends) = ECS native blue/green with berth's verify as the POST_TEST_TRAFFIC_SHIFT lifecycle hook; ROLLING = rolling update with the deployment circuit breaker and rollback (both: pass deployment_controller = \"ECS\" to the berth service module); CODE_DEPLOY = CodeDeploy blue/green (the service module's default)."
  type        = string
  default     = "BLUE_GREEN"

  validation {
    condition     = contains(["BLUE_GREEN", "ROLLING", "CODE_DEPLOY"], var.deployment_strategy)
    error_message = "deployment_strategy must be BLUE_GREEN, ROLLING or CODE_DEPLOY."
  }
}

variable "verify_function_arn" {
  description = "ARN of the platform's verify function (module.platform.verify_function_arn): the lifecycle hook of BLUE_GREEN. Needed then."
  type        = string
  default     = null
}

variable "ecs_hook_role_arn" {
  description = "Role ECS invokes verify with (module.platform.ecs_hook_role_arn). Needed with BLUE_GREEN."
  type        = string
  default     = null
}

variable "bake_time_in_minutes" {
  description = "BLUE_GREEN only: minutes both revisions keep running after production traffic moved to green (instant rollback); then blue is stopped and the deployment ends."
  type        = number
  default     = 5

  validation {
    condition     = var.bake_time_in_minutes >= 0 && var.bake_time_in_minutes <= 1440
    error_message = "bake_time_in_minutes must be between 0 and 1440."
  }
}

variable "hold_for_promote" {
  description = "BLUE_GREEN only: true = a PAUSE lifecycle hook at PRE_PRODUCTION_TRAFFIC_SHIFT holds every deployment after verify passed and before production traffic moves, until berth promote or berth rollback; it rolls back after hold_timeout_minutes."
  type        = bool
  default     = false
}

variable "hold_timeout_minutes" {
  description = "BLUE_GREEN with hold_for_promote only: minutes a held deployment waits for berth promote before ECS rolls it back. At most 1380 (23 hours), under the 24 hours CodePipeline gives the Deploy action."
  type        = number
  default     = 60

  validation {
    condition     = var.hold_timeout_minutes >= 1 && var.hold_timeout_minutes <= 1380
    error_message = "hold_timeout_minutes must be between 1 and 1380."
  }
}

# ------------------------------------------------------------------ IAM roles

variable "permissions_boundary" {
  description = "Optional ARN of an IAM managed policy set as the permissions boundary of every role this module creates (for organisations whose SCPs require one). null = no boundary."
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
    # IAM CreateRole Path: "either a forward slash (/) by itself or a string that must begin and
    # end with forward slashes", with "any ASCII character from the ! (\u0021) through the DEL
    # character (\u007F)"; length 1 to 512.
    condition     = length(var.role_path) <= 512 && can(regex("^(/|/[\\x21-\\x7F]+/)$", var.role_path))
    error_message = "role_path must be \"/\" or begin and end with \"/\" (at most 512 characters)."
  }
}

# ------------------------------------------------------------------ removal

variable "retain_log_groups" {
  description = "true = terraform destroy leaves the log groups (and their events) in place (skip_destroy); false = they are deleted with the module, as the CloudFormation stack deletes them."
  type        = bool
  default     = false
  nullable    = false
}
