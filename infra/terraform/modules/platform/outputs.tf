output "release_bucket_name" {
  description = "The release bucket (BERTH_RELEASE_BUCKET). App CI uploads manifests/<service>/<release>.json here."
  value       = aws_s3_bucket.release.bucket
}

output "release_bucket_arn" {
  description = "ARN of the release bucket."
  value       = aws_s3_bucket.release.arn
}

output "services_path" {
  description = "SSM path of the service registry (no trailing slash); pass it to the service module."
  value       = var.services_path
}

output "push_index_path" {
  description = "SSM path of the push-trigger index (no trailing slash); pass it to the service module."
  value       = var.push_index_path
}

output "pipeline_name_prefix" {
  description = "Prefix every berth pipeline name must start with; pass it to the service module."
  value       = var.pipeline_name_prefix
}

output "on_image_push_function_arn" {
  description = "ARN of on-image-push."
  value       = aws_lambda_function.function["on-image-push"].arn
}

output "on_manifest_function_arn" {
  description = "ARN of on-manifest."
  value       = aws_lambda_function.function["on-manifest"].arn
}

output "migrate_function_arn" {
  description = "ARN of migrate."
  value       = aws_lambda_function.function["migrate"].arn
}

output "migrate_function_name" {
  description = "Name of migrate (the pipelines' Migrate action invokes it); pass it to the service module."
  value       = aws_lambda_function.function["migrate"].function_name
}

output "deploy_function_arn" {
  description = "ARN of deploy (the Deploy action of services whose deployment controller is ECS)."
  value       = aws_lambda_function.function["deploy"].arn
}

output "deploy_function_name" {
  description = "Name of deploy (the pipelines' Deploy action invokes it for ECS-controlled services); pass it to the service module."
  value       = aws_lambda_function.function["deploy"].function_name
}

output "on_pipeline_event_function_arn" {
  description = "ARN of on-pipeline-event."
  value       = aws_lambda_function.function["on-pipeline-event"].arn
}

output "function_role_arns" {
  description = "Execution role ARN of each function, by function name."
  value       = { for name, role in aws_iam_role.function : name => role.arn }
}

output "failed_events_queue_url" {
  description = "Queue holding every event a function gave up on."
  value       = aws_sqs_queue.failed_events.id
}

output "failed_events_queue_arn" {
  description = "ARN of the failed-events queue."
  value       = aws_sqs_queue.failed_events.arn
}

output "verify_function_name" {
  description = "Name of verify (the AfterAllowTestTraffic hook of every rendered appspec.yaml); pass it to the service module."
  value       = aws_lambda_function.function["verify"].function_name
}

output "verify_function_arn" {
  description = "ARN of verify (ECS lifecycle hooks name it as hook_target_arn)."
  value       = aws_lambda_function.function["verify"].arn
}

output "scan_gate_function_name" {
  description = "Name of scan-gate (the Scan action of services with a scan policy); pass it to the service module."
  value       = aws_lambda_function.function["scan-gate"].function_name
}

output "scan_gate_role_name" {
  description = "Role of scan-gate (no service module attaches anything to it: the platform's own policies cover every service)."
  value       = aws_iam_role.function["scan-gate"].name
}

output "on_manifest_role_name" {
  description = "Role of on-manifest (no service module attaches anything to it: the platform's own policies cover every service)."
  value       = aws_iam_role.function["on-manifest"].name
}

output "migrate_role_name" {
  description = "Role of migrate (no service module attaches anything to it: the platform's own policies cover every service)."
  value       = aws_iam_role.function["migrate"].name
}

output "deploy_role_name" {
  description = "Role of deploy (no service module attaches anything to it: the platform's own policies cover every service)."
  value       = aws_iam_role.function["deploy"].name
}

output "ecs_hook_role_arn" {
  description = "Role ECS lifecycle hooks name to invoke verify (role_arn of a LAMBDA lifecycle_hook whose hook_target_arn is verify_function_arn); pass it to the reference-service module."
  value       = aws_iam_role.ecs_hook.arn
}

output "notification_topic_arn" {
  description = "SNS topic on-pipeline-event publishes finished releases to (null without one)."
  value       = local.notification_topic_arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the release metrics."
  value       = aws_cloudwatch_dashboard.releases.dashboard_name
}

output "task_target_role_arn" {
  description = "Role a task target's schedules and rule targets run its ECS tasks with (their target's RoleArn); deploy may pass it back when it repoints them."
  value       = aws_iam_role.task_target.arn
}
