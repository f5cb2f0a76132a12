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

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.cluster_name))
    error_message = "cluster_name must be 1 to 255 letters, digits, underscores or hyphens."
  }
}

variable "ecs_service_name" {
  description = "Name of the ECS service (its deployment controller must be deployment_controller). null = service_name."
  type        = string
  default     = null

  validation {
    condition     = var.ecs_service_name == null || can(regex("^[^\\x00-\\x1f]*$", var.ecs_service_name))
    error_message = "ecs_service_name must not contain control characters."
  }
}

variable "task_family" {
  description = "Task definition family the service runs (a release of a service running another family is refused); berth prunes its revisions. null = service_name."
  type        = string
  default     = null

  validation {
    condition     = var.task_family == null || can(regex("^[^\\x00-\\x1f]*$", var.task_family))
    error_message = "task_family must not contain control characters."
  }
}

variable "deployment_controller" {
  description = "What deploys a release, which decides the pipeline's Deploy action and the registry entry: CODE_DEPLOY = CodeDeploy blue/green (CodeDeployToECS, with this module's CodeDeploy application and deployment group); ECS = the service's own strategy (ROLLING, BLUE_GREEN, LINEAR or CANARY) run by ECS, started and followed by the platform's deploy function, and no CodeDeploy resources (see docs/guide/ecs-native.md); TASK = no ECS service: a task target, whose task_target schedules and rules the platform's deploy function repoints to the release (see docs/guide/scheduled-tasks.md)."
  type        = string
  default     = "CODE_DEPLOY"

  validation {
    condition     = contains(["ECS", "CODE_DEPLOY", "TASK"], var.deployment_controller)
    error_message = "deployment_controller must be ECS, CODE_DEPLOY or TASK."
  }
}

# Names as the API references give them: Scheduler GetSchedule, "Length Constraints: Minimum length
# of 1. Maximum length of 64. Pattern: [0-9a-zA-Z-_.]+" (schedule and group); EventBridge
# ListTargetsByRule / PutTargets, rule and target Id "Minimum length of 1. Maximum length of 64.
# Pattern: [\.\-_A-Za-z0-9]+"; an event bus a name or an event-bus ARN.
variable "task_target" {
  description = "With deployment_controller TASK: the EventBridge Scheduler schedules (name, group) and EventBridge rule targets (rule, target_id, event_bus) whose ECS target runs the task family, at most 20 in all; null or both empty = register only (the family's new revision is the release). The platform's deploy role may update the schedules of groups named <pipeline_name_prefix>* and its schedule_arns, and the targets of rules tagged berth:service, only."
  type = object({
    schedules = optional(list(object({
      name  = string
      group = optional(string, "default")
    })), [])
    rules = optional(list(object({
      rule      = string
      target_id = string
      event_bus = optional(string, "default")
    })), [])
  })
  default = null

  validation {
    condition = var.task_target == null ? true : alltrue(concat(
      [for s in var.task_target.schedules : can(regex("^[0-9A-Za-z_.-]{1,64}$", s.name)) && can(regex("^[0-9A-Za-z_.-]{1,64}$", s.group))],
      [for r in var.task_target.rules : can(regex("^[0-9A-Za-z_.-]{1,64}$", r.rule)) && can(regex("^[0-9A-Za-z_.-]{1,64}$", r.target_id))],
    ))
    error_message = "Schedule, group and rule names and target ids must be 1 to 64 of 0-9 A-Z a-z - _ ."
  }
  validation {
    condition     = var.task_target == null ? true : alltrue([for r in var.task_target.rules : can(regex("^(arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/)?[0-9A-Za-z_./-]{1,256}$", r.event_bus))])
    error_message = "task_target.rules[*].event_bus must be an event bus name or an event bus ARN."
  }
  validation {
    condition     = var.task_target == null ? true : length(var.task_target.schedules) + length(var.task_target.rules) <= 20
    error_message = "A task target names at most 20 schedules and rule targets in all."
  }
}

# Where berth run and post-deployment tasks run (the registry entry's network section).
variable "network" {
  description = "Optional subnets and security groups tasks of this service run in outside a deployment (berth run, post-deployment tasks), and whether they get a public IP. null = the migration's subnets and security groups, without a public IP."
  type = object({
    subnets          = list(string)
    security_groups  = optional(list(string), [])
    assign_public_ip = optional(bool, false)
  })
  default = null

  validation {
    condition     = var.network == null ? true : length(var.network.subnets) > 0 && alltrue([for v in concat(var.network.subnets, var.network.security_groups) : v != "" && can(regex("^[^,\\x00-\\x1f]*$", v))])
    error_message = "network.subnets must name at least one subnet; no subnet or security group may be empty, hold a comma or control characters."
  }
}

variable "containers" {
  description = "Task definition container name => ECR repository (a name in this account and region, or a full repository URI)."
  type        = map(string)

  validation {
    condition     = length(var.containers) > 0
    error_message = "Map at least one container."
  }

  validation {
    condition     = alltrue([for name, repository in var.containers : can(regex("^[^\\x00-\\x1f]*$", name)) && can(regex("^[^\\x00-\\x1f]*$", repository))])
    error_message = "containers must not contain control characters."
  }
}

variable "push_trigger" {
  description = "Optional: pushes of a tag matching tag_pattern to the container's repository start a single-image release. null = manifest-only service."
  type = object({
    container   = string
    tag_pattern = optional(string, "^(v[0-9]+\\.[0-9]+\\.[0-9]+|[0-9a-f]{7,40})$")
  })
  default = null

  validation {
    condition     = var.push_trigger == null ? true : can(regex("^[^\\x00-\\x1f]*$", var.push_trigger.container)) && can(regex("^[^\\x00-\\x1f]*$", var.push_trigger.tag_pattern))
    error_message = "push_trigger.container and push_trigger.tag_pattern must not contain control characters."
  }
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

  validation {
    condition = var.migration == null ? true : alltrue([
      for v in concat([var.migration.container], var.migration.command, var.migration.subnets, var.migration.security_groups) : can(regex("^[^\\x00-\\x1f]*$", v))
    ])
    error_message = "migration must not contain control characters."
  }
}

variable "post_migration" {
  description = "Optional post-deployment migration (the contract step of expand/contract): command run in container once the deployment has finished for good, stopped after timeout_seconds. It runs in network, else the migration's subnets and security groups. null = none, and no PostMigrate action."
  type = object({
    container       = string
    command         = list(string)
    timeout_seconds = optional(number, 1800)
  })
  default = null

  validation {
    condition     = var.post_migration == null ? true : var.post_migration.timeout_seconds >= 1 && var.post_migration.timeout_seconds <= 82800
    error_message = "post_migration.timeout_seconds must be between 1 and 82800 (23 hours)."
  }

  validation {
    condition = var.post_migration == null ? true : (
      length(var.post_migration.command) > 0 &&
      alltrue([for v in concat([var.post_migration.container], var.post_migration.command) : v != "" && can(regex("^[^\\x00-\\x1f]*$", v))])
    )
    error_message = "post_migration needs a container and a command (none of them empty, no control characters)."
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

  validation {
    condition     = var.scan == null ? true : alltrue([for i in var.scan.ignore : can(regex("^[^\\x00-\\x1f]*$", i))])
    error_message = "scan.ignore must not contain control characters."
  }
}

variable "appspec_container" {
  description = "Container the load balancer sends traffic to (AppSpec LoadBalancerInfo.ContainerName). Required with CODE_DEPLOY and ECS; null with TASK."
  type        = string
  default     = null

  validation {
    condition     = var.appspec_container == null || can(regex("^[^\\x00-\\x1f]*$", var.appspec_container))
    error_message = "appspec_container must not contain control characters."
  }
}

variable "appspec_port" {
  description = "Port of appspec_container behind the load balancer. Required (1 to 65535) with CODE_DEPLOY and ECS; null with TASK."
  type        = number
  default     = null

  validation {
    # 0 is "none", as the CloudFormation parameter's default (its rules require a port for services).
    condition     = var.appspec_port == null ? true : var.appspec_port >= 0 && var.appspec_port <= 65535
    error_message = "appspec_port must be a port (1 to 65535)."
  }
}

# ------------------------------------------------------------------ blue/green deployment

variable "task_execution_role_arn" {
  description = "ARN of the task definition's execution role (the pipeline and CodeDeploy pass it to ECS)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.task_execution_role_arn))
    error_message = "task_execution_role_arn must be an IAM role ARN."
  }
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

  validation {
    condition     = var.prod_listener_arn == null || can(regex("^arn:aws[a-z-]*:elasticloadbalancing:.+:listener/.+$", var.prod_listener_arn))
    error_message = "prod_listener_arn must be null or a load balancer listener ARN."
  }
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

  validation {
    condition     = var.termination_wait_minutes >= 0 && var.termination_wait_minutes <= 2880
    error_message = "termination_wait_minutes must be between 0 and 2880."
  }
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

  validation {
    condition     = alltrue([for name in var.rollback_alarm_names : can(regex("^[^,\\x00-\\x1f]+$", name))])
    error_message = "rollback_alarm_names must not be empty or contain commas or control characters."
  }
}

variable "target_group_alarms" {
  description = "Optional: HTTPCode_Target_5XX_Count and UnHealthyHostCount alarms on BOTH target groups (CodeDeploy swaps which one is green at every deployment), NOT in the deployment group, where blue alarming during an incident would stop the fix: their changes to ALARM go to verify, which rolls back a CODE_DEPLOY deployment only when the alarm is about its replacement task set's target group. Needs the Application Load Balancer ARN and both target group ARNs. null = none."
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

  validation {
    condition = var.target_group_alarms == null ? true : (
      can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[^:]+:[0-9]{12}:loadbalancer/app/[^/]+/[^/]+$", var.target_group_alarms.load_balancer_arn)) &&
      can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[^:]+:[0-9]{12}:targetgroup/[^/]+/[^/]+$", var.target_group_alarms.blue_target_group_arn)) &&
      can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[^:]+:[0-9]{12}:targetgroup/[^/]+/[^/]+$", var.target_group_alarms.green_target_group_arn)) &&
      var.target_group_alarms.target_5xx_threshold >= 1 && var.target_group_alarms.unhealthy_host_threshold >= 1 &&
      contains([10, 30, 60, 120, 300], var.target_group_alarms.period_seconds) &&
      var.target_group_alarms.evaluation_periods >= 1 && var.target_group_alarms.evaluation_periods <= 10
    )
    error_message = "target_group_alarms needs an Application Load Balancer ARN and two target group ARNs, thresholds of at least 1, period_seconds of 10, 30, 60, 120 or 300 and 1 to 10 evaluation_periods."
  }
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

  validation {
    condition     = var.verify == null ? true : var.verify.expected_status >= 100 && var.verify.expected_status <= 599 && length(var.verify.paths) <= 5 && alltrue([for p in var.verify.paths : can(regex("^/[^,\\x00-\\x1f]*$", p))])
    error_message = "verify.expected_status must be 100 to 599, and verify.paths at most 5 paths without commas or control characters."
  }
}

variable "artifact_retention_days" {
  description = "Days the pipeline's own artifact copies are kept (the release bucket keeps the releases)."
  type        = number
  default     = 90

  validation {
    condition     = var.artifact_retention_days >= 1
    error_message = "artifact_retention_days must be at least 1."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
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

variable "force_destroy_artifact_bucket" {
  description = "true = terraform destroy deletes the pipeline's artifact bucket with its objects (transient copies; the release bucket keeps the releases); false = destroy fails while it holds anything (the CloudFormation stack retains it)."
  type        = bool
  default     = false
  nullable    = false
}
