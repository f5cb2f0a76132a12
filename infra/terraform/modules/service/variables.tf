# ------------------------------------------------------------------ from the platform module

variable "release_bucket_name" {
  description = "Release bucket of the platform (module.platform.release_bucket_name)."
  type        = string
}

variable "services_path" {
  description = "Registry path of the platform, no trailing slash (module.platform.services_path)."
  type        = string
  default     = "/berth/services"
}

variable "push_index_path" {
  description = "Push index path of the platform, no trailing slash (module.platform.push_index_path)."
  type        = string
  default     = "/berth/push-index"
}

variable "pipeline_name_prefix" {
  description = "Pipeline name prefix of the platform (module.platform.pipeline_name_prefix)."
  type        = string
  default     = "berth-"
}

variable "migrate_function_name" {
  description = "Name of the platform's migrate function (module.platform.migrate_function_name)."
  type        = string
}

variable "scan_gate_function_name" {
  description = "Name of the platform's scan-gate function (module.platform.scan_gate_function_name)."
  type        = string
}

variable "deploy_function_name" {
  description = "Name of the platform's deploy function (module.platform.deploy_function_name): the Deploy action when deployment_controller is ECS. Needed then; unused with CODE_DEPLOY."
  type        = string
  default     = null
}

variable "verify_function_name" {
  description = "Name of the platform's verify function (module.platform.verify_function_name); CodeDeploy may invoke it and no other function."
  type        = string
}

# ------------------------------------------------------------------ the service

variable "service_name" {
  description = "berth service name: names the registry parameter, the pipeline (<prefix><service>) and the manifests/<service>/ key prefix."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,64}$", var.service_name))
    error_message = "service_name must match [A-Za-z0-9._-]{1,64}."
  }
}

variable "cluster_name" {
  description = "Name of the ECS cluster running the service."
  type        = string
}

variable "ecs_service_name" {
  description = "Name of the ECS service (its deployment controller must be deployment_controller). null = service_name."
  type        = string
  default     = null
}

variable "task_family" {
  description = "Task definition family the service runs (a release of a service running another family is refused); berth prunes its revisions. null = service_name."
  type        = string
  default     = null
}

variable "deployment_controller" {
  description = "The ECS service's deployment controller, which decides the pipeline's Deploy action: CODE_DEPLOY = CodeDeploy blue/green (CodeDeployToECS, with this module's CodeDeploy application and deployment group); ECS = the service's own strategy (ROLLING, BLUE_GREEN, LINEAR or CANARY) run by ECS, started and followed by the platform's deploy function, and no CodeDeploy resources (see docs/guide/ecs-native.md)."
  type        = string
  default     = "CODE_DEPLOY"

  validation {
    condition     = contains(["ECS", "CODE_DEPLOY"], var.deployment_controller)
    error_message = "deployment_controller must be ECS or CODE_DEPLOY."
  }
}

variable "containers" {
  description = "Task definition container name => ECR repository (a name in this account and region, or a full repository URI)."
  type        = map(string)

  validation {
    condition     = length(var.containers) > 0
    error_message = "Map at least one container."
  }
}

variable "push_trigger" {
  description = "Optional: pushes of a tag matching tag_pattern to the container's repository start a single-image release. null = manifest-only service."
  type = object({
    container   = string
    tag_pattern = optional(string, "^(v[0-9]+\\.[0-9]+\\.[0-9]+|[0-9a-f]{7,40})$")
  })
  default = null
}

variable "migration" {
  description = "Optional default migration: command run in container inside the given private subnets and security groups, stopped after timeout_seconds. null = none."
  type = object({
    container       = string
    command         = list(string)
    timeout_seconds = optional(number, 1800)
    subnets         = list(string)
    security_groups = list(string)
  })
  default = null

  validation {
    # CodePipeline fails a Lambda invoke action that has not succeeded after 24 hours; berth keeps
    # an hour of margin to stop the task and report.
    # A conditional, not ||: Terraform evaluates both sides of || (attribute of null fails).
    condition     = var.migration == null ? true : var.migration.timeout_seconds >= 1 && var.migration.timeout_seconds <= 82800
    error_message = "migration.timeout_seconds must be between 1 and 82800 (23 hours)."
  }

  validation {
    # The migration runs as a Fargate task in private subnets: it cannot run without these.
    condition = var.migration == null ? true : (
      length(var.migration.command) > 0 && length(var.migration.subnets) > 0 && length(var.migration.security_groups) > 0 &&
      alltrue([for v in concat(var.migration.command, var.migration.subnets, var.migration.security_groups) : v != ""])
    )
    error_message = "migration needs a command, subnets and security_groups (none of them empty)."
  }
}

variable "scan" {
  description = "Optional image vulnerability gate: finding severities that block a release (block), how long to wait for findings (wait_seconds, 60-3600) and findings never to block (ignore). null = no gate, no Scan action."
  type = object({
    block        = list(string)
    wait_seconds = optional(number, 900)
    ignore       = optional(list(string), [])
  })
  default = null

  validation {
    condition = var.scan == null ? true : (
      length(var.scan.block) > 0 && alltrue([for b in var.scan.block : contains(["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"], b)]) &&
      var.scan.wait_seconds >= 60 && var.scan.wait_seconds <= 3600
    )
    error_message = "scan.block must list severities (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED) and scan.wait_seconds be 60-3600."
  }
}

variable "appspec_container" {
  description = "Container the load balancer sends traffic to (AppSpec LoadBalancerInfo.ContainerName)."
  type        = string
}

variable "appspec_port" {
  description = "Port of appspec_container behind the load balancer."
  type        = number
}

# ------------------------------------------------------------------ blue/green deployment

variable "task_execution_role_arn" {
  description = "ARN of the task definition's execution role (the pipeline and CodeDeploy pass it to ECS)."
  type        = string
}

variable "task_role_arn" {
  description = "ARN of the task definition's task role. null = none."
  type        = string
  default     = null
}

variable "prod_listener_arn" {
  description = "ARN of the load balancer listener carrying production traffic. Needed with CODE_DEPLOY; unused with ECS."
  type        = string
  default     = null
}

variable "test_listener_arn" {
  description = "Optional ARN of the test listener that reaches the replacement task set before the shift."
  type        = string
  default     = null
}

variable "blue_target_group_name" {
  description = "Name of the target group the ECS service is attached to today. Needed with CODE_DEPLOY; unused with ECS."
  type        = string
  default     = null
}

variable "green_target_group_name" {
  description = "Name of the second target group CodeDeploy moves traffic to. Needed with CODE_DEPLOY; unused with ECS."
  type        = string
  default     = null
}

variable "deployment_config_name" {
  description = "CodeDeploy traffic-shift configuration."
  type        = string
  default     = "CodeDeployDefault.ECSAllAtOnce"
}

variable "termination_wait_minutes" {
  description = "Minutes the old (blue) task set keeps running after a successful shift, ready for a fast rollback."
  type        = number
  default     = 5
}

variable "traffic_reroute_wait_minutes" {
  description = "0 = shift production traffic as soon as the replacement task set is ready and verified. More than 0 = hold it for promotion (berth promote); a deployment nobody promotes within this many minutes is stopped and rolled back (STOP_DEPLOYMENT)."
  type        = number
  default     = 0

  validation {
    condition     = var.traffic_reroute_wait_minutes >= 0 && var.traffic_reroute_wait_minutes <= 2880
    error_message = "traffic_reroute_wait_minutes must be between 0 and 2880."
  }
}

variable "rollback_alarm_names" {
  description = "Up to 5 of your own CloudWatch alarm names that stop and roll back a deployment when they fire (CodeDeploy takes at most 10 per deployment group). Name only alarms about the new version or the whole service: one in ALARM during an incident stops the deployment of the fix too (guide: Alarms during an incident)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.rollback_alarm_names) <= 5
    error_message = "At most 5 rollback_alarm_names."
  }
}

variable "target_group_alarms" {
  description = "Optional: HTTPCode_Target_5XX_Count and UnHealthyHostCount alarms on BOTH target groups (CodeDeploy swaps which one is green at every deployment), for operators: NOT wired into the deployment group, where blue alarming during an incident would stop the fix. Needs the Application Load Balancer ARN and both target group ARNs. null = none."
  type = object({
    load_balancer_arn        = string
    blue_target_group_arn    = string
    green_target_group_arn   = string
    target_5xx_threshold     = optional(number, 5)
    unhealthy_host_threshold = optional(number, 1)
    period_seconds           = optional(number, 60)
    evaluation_periods       = optional(number, 2)
  })
  default = null
}

variable "verify" {
  description = "Optional verification through the test listener before production traffic moves: base_url of the test listener, paths that must answer expected_status. null = no verify section."
  type = object({
    base_url         = string
    paths            = optional(list(string), ["/"])
    expected_status  = optional(number, 200)
    attempts         = optional(number, 3)
    interval_seconds = optional(number, 10)
  })
  default = null

  validation {
    condition     = var.verify == null ? true : can(regex("^https?://[^\\s\"\\\\]+$", var.verify.base_url)) && length(var.verify.paths) > 0 && alltrue([for p in var.verify.paths : startswith(p, "/")])
    error_message = "verify.base_url must be an http(s) URL and every path must start with \"/\"."
  }

  validation {
    condition     = var.verify == null ? true : var.verify.attempts >= 1 && var.verify.attempts <= 10 && var.verify.interval_seconds >= 1 && var.verify.interval_seconds <= 60
    error_message = "verify.attempts must be 1 to 10 (the registry's bound) and verify.interval_seconds 1 to 60."
  }
}

variable "artifact_retention_days" {
  description = "Days the pipeline's own artifact copies are kept (the release bucket keeps the releases)."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}
