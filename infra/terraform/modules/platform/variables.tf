variable "code_bucket" {
  description = "S3 bucket holding the function zips (on-image-push.zip, on-manifest.zip, migrate.zip, deploy.zip, on-pipeline-event.zip, verify.zip, scan-gate.zip), in this region."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.code_bucket))
    error_message = "code_bucket must be an S3 bucket name (3 to 63 lowercase letters, digits, dots or hyphens)."
  }
}

variable "code_prefix" {
  description = "Key prefix of the zips inside code_bucket, ending in \"/\" (for example \"berth/0.1.0/\"). Use a new prefix per version: the functions' code is only updated when the key changes."
  type        = string
  default     = "berth/"

  validation {
    # The S3 "safe characters" for key names, one or more folders, each ending in "/"; "" = the bucket's root.
    condition     = can(regex("^([A-Za-z0-9!_.*'()-]+/)*$", var.code_prefix))
    error_message = "code_prefix must be empty or folders of A-Z a-z 0-9 ! _ . * ' ( ) - each ending in \"/\"."
  }
}

variable "architecture" {
  description = "Instruction set the zips were built for (scripts/build-lambdas.sh builds arm64 unless BERTH_LAMBDA_ARCH=x86_64)."
  type        = string
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "name_prefix" {
  description = "Prefix of the function, rule, queue and alarm names."
  type        = string
  default     = "berth-"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,20}$", var.name_prefix))
    error_message = "name_prefix must be 1 to 20 letters, digits, underscores or hyphens."
  }
}

variable "release_bucket_name_prefix" {
  description = "The release bucket is named <this>-<account id>-<region>."
  type        = string
  default     = "berth-releases"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}$", var.release_bucket_name_prefix))
    error_message = "release_bucket_name_prefix must be 2 to 31 lowercase letters, digits or hyphens, starting with a letter or digit."
  }
}

variable "services_path" {
  description = "SSM Parameter Store path of the service registry, without the trailing slash. Each service writes <path>/<service>; the functions get BERTH_SERVICES_PREFIX=<path>/."
  type        = string
  default     = "/berth/services"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.services_path))
    error_message = "services_path must look like /berth/services (leading slash, no trailing slash)."
  }
}

variable "push_index_path" {
  description = "SSM Parameter Store path of the push-trigger index, without the trailing slash. Each service with a push trigger writes <path>/<repository>/<service>; on-image-push gets BERTH_PUSH_INDEX_PREFIX=<path>/."
  type        = string
  default     = "/berth/push-index"

  validation {
    condition     = can(regex("^(/[A-Za-z0-9_.-]+)+$", var.push_index_path))
    error_message = "push_index_path must look like /berth/push-index (leading slash, no trailing slash)."
  }
}

variable "pipeline_name_prefix" {
  description = "Every berth pipeline is named <this><service>. on-manifest may start only those, and only their execution state changes reach on-pipeline-event. At most 36 characters, so that every legal service name (64) fits CodePipeline's 100."
  type        = string
  default     = "berth-"

  validation {
    condition     = can(regex("^[A-Za-z0-9.@_-]{1,36}$", var.pipeline_name_prefix))
    error_message = "pipeline_name_prefix must be 1 to 36 of A-Z a-z 0-9 . @ _ - (a pipeline name is at most 100 characters)."
  }
}

variable "cluster_arns" {
  description = "ARNs of the ECS clusters migrate may run, watch and stop migration tasks in, and deploy may watch a release's tasks in."
  type        = list(string)

  validation {
    condition     = length(var.cluster_arns) > 0
    error_message = "Name at least one ECS cluster ARN."
  }
}

variable "passable_role_arns" {
  description = "ARNs (wildcards allowed) of the task roles and task execution roles of the services' task definitions; migrate may pass only these, and only to ECS tasks."
  type        = list(string)

  validation {
    condition     = length(var.passable_role_arns) > 0
    error_message = "Name at least one role ARN (or pattern) migrate may pass to ECS."
  }
}

variable "schedule_arns" {
  description = "ARNs (wildcards allowed) of EventBridge Scheduler schedules task targets may name besides every schedule of a group named <pipeline_name_prefix>* (for example arn:aws:scheduler:ap-northeast-1:123456789012:schedule/default/nightly-*); migrate may read (GetSchedule) and deploy may read and repoint (UpdateSchedule) only these."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.schedule_arns : can(regex("^arn:aws[a-z-]*:scheduler:[a-z0-9-]+:[0-9]{12}:schedule/[0-9A-Za-z_.*?-]+/[0-9A-Za-z_.*?-]+$", arn))])
    error_message = "Each schedule ARN must read arn:aws:scheduler:<region>:<account>:schedule/<group>/<name> (wildcards allowed)."
  }
}

variable "task_target_role_arns" {
  description = "ARNs (wildcards allowed) of roles your schedules' and rules' ECS targets already run tasks with (for example arn:aws:iam::123456789012:role/ecsEventsRole); deploy passes a target's own role back when it repoints it, so it may pass these and task_target_role_arn, only to scheduler.amazonaws.com and events.amazonaws.com."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.task_target_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\\x21-\\x7E]+$", arn))])
    error_message = "Each task target role ARN must be an IAM role ARN (wildcards allowed)."
  }
}

variable "cross_account_repository_arns" {
  description = "ARNs (wildcards allowed) of ECR repositories in other accounts that services may name by full URI. Repositories of this account and region are always readable."
  type        = list(string)
  default     = []
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which an overwritten (noncurrent) object version in the release bucket is deleted. This bounds how far back a rollback can go; current versions never expire."
  type        = number
  default     = 365

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "noncurrent_versions_to_keep" {
  description = "Newest noncurrent versions of each key kept whatever their age, so a rarely released service can still roll back."
  type        = number
  default     = 10

  validation {
    condition     = var.noncurrent_versions_to_keep >= 1 && var.noncurrent_versions_to_keep <= 100
    error_message = "noncurrent_versions_to_keep must be between 1 and 100."
  }
}

variable "log_retention_days" {
  description = "Retention of the functions' CloudWatch log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

variable "log_level" {
  description = "Application log level of the functions (passed as AWS_LAMBDA_LOG_LEVEL; logs are JSON)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"], var.log_level)
    error_message = "log_level must be one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL."
  }
}

variable "maximum_retry_attempts" {
  description = "Times Lambda retries a failed asynchronous invocation before sending the event to the failed-events queue (0-2)."
  type        = number
  default     = 2

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 2
    error_message = "maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "alarm_topic_arn" {
  description = "Optional SNS topic ARN notified when an event lands in the failed-events queue."
  type        = string
  default     = null
}

variable "create_notification_topic" {
  description = "Create an SNS topic <name_prefix>releases; on-pipeline-event publishes one JSON message per finished release and per finished group to it."
  type        = bool
  default     = false
}

variable "notification_topic_arn" {
  description = "Optional ARN of an existing standard SNS topic to publish to instead (ignored when create_notification_topic is true). A FIFO topic is refused: every message to one needs a MessageGroupId."
  type        = string
  default     = null

  validation {
    condition     = var.notification_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.notification_topic_arn))
    error_message = "notification_topic_arn must be the ARN of a standard (not .fifo) SNS topic."
  }
}

variable "notification_topic_kms_key_arn" {
  description = "Optional ARN of the customer managed KMS key of an encrypted topic given as notification_topic_arn; on-pipeline-event gets kms:GenerateDataKey and kms:Decrypt on it, through SNS only (\"The publisher must have the kms:GenerateDataKey and kms:Decrypt permissions\", SNS developer guide)."
  type        = string
  default     = null

  validation {
    condition     = var.notification_topic_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.notification_topic_kms_key_arn))
    error_message = "notification_topic_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "slack_webhook_parameter_name" {
  description = "Optional name (a path such as /berth/slack-webhook) of an SSM SecureString parameter you create, holding a Slack incoming-webhook URL; on-pipeline-event reads it at start. null = no Slack notifications."
  type        = string
  default     = null

  validation {
    condition     = var.slack_webhook_parameter_name == null || can(regex("^(/[A-Za-z0-9_.-]+)+$", var.slack_webhook_parameter_name))
    error_message = "slack_webhook_parameter_name must be null or a parameter path such as /berth/slack-webhook."
  }
}

variable "slack_webhook_kms_key_arn" {
  description = "Optional ARN of the customer managed KMS key encrypting that SecureString; on-pipeline-event may decrypt with it through SSM only."
  type        = string
  default     = null

  validation {
    condition     = var.slack_webhook_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.slack_webhook_kms_key_arn))
    error_message = "slack_webhook_kms_key_arn must be null or a KMS key ARN."
  }
}

variable "push_sweep_schedule" {
  description = "EventBridge schedule expression of the lost-push sweep (on-image-push writes the manifest of any push whose event never arrived). null turns the sweep off."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = var.push_sweep_schedule == null || can(regex("^(rate|cron)\\([^()]+\\)$", var.push_sweep_schedule))
    error_message = "push_sweep_schedule must be null (no sweep), rate(...) or cron(...)."
  }
}

variable "push_sweep_lookback_minutes" {
  description = "How far back the sweep looks at pushes, in minutes (BERTH_SWEEP_LOOKBACK_MINUTES of on-image-push)."
  type        = number
  default     = 60

  validation {
    condition     = var.push_sweep_lookback_minutes >= 1 && var.push_sweep_lookback_minutes <= 10080
    error_message = "push_sweep_lookback_minutes must be between 1 and 10080."
  }
}

variable "release_writer_arns" {
  description = "ARNs (wildcards allowed) of the roles and users allowed to write manifests/ and groups/ of every service. When set, the bucket policy denies s3:PutObject there to every other principal except on-image-push and the account root user. Empty = no platform-wide restriction."
  type        = list(string)
  default     = []
}

variable "service_release_writer_arns" {
  description = "Per service: ARNs (wildcards allowed) of the roles and users allowed to write manifests/<service>/ (in addition to release_writer_arns). Each listed service's prefix is denied to everyone else."
  type        = map(list(string))
  default     = {}
}

variable "verify_subnet_ids" {
  description = "Optional subnet IDs for the verify function: set them when a test listener is on an internal load balancer (verify then runs in the VPC). Empty = outside any VPC."
  type        = list(string)
  default     = []
}

variable "verify_security_group_ids" {
  description = "Security group IDs of the verify function in the VPC (they must reach the test listeners)."
  type        = list(string)
  default     = []
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

variable "force_destroy_release_bucket" {
  description = "true = terraform destroy deletes the release bucket with every object version in it (the release history and what rollbacks return to); false = destroy fails while the bucket holds anything (the CloudFormation stack retains it)."
  type        = bool
  default     = false
  nullable    = false
}

variable "retain_log_groups" {
  description = "true = terraform destroy leaves the log groups (and their events) in place (skip_destroy); false = they are deleted with the module, as the CloudFormation stack deletes them."
  type        = bool
  default     = false
  nullable    = false
}
