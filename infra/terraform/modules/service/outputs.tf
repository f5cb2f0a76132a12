output "registry_parameter_name" {
  description = "SSM parameter holding this service's registry entry."
  value       = aws_ssm_parameter.registry.name
}

output "registry_entry" {
  description = "The registry entry written to SSM, as a JSON string."
  value       = aws_ssm_parameter.registry.value
}

output "pipeline_name" {
  description = "The service's pipeline (on-manifest starts it; watch releases here)."
  value       = aws_codepipeline.service.name
}

output "pipeline_arn" {
  description = "ARN of the service's pipeline."
  value       = aws_codepipeline.service.arn
}

output "codedeploy_application_name" {
  description = "CodeDeploy application of the service (null when deployment_controller is ECS)."
  value       = one(aws_codedeploy_app.service[*].name)
}

output "deployment_group_name" {
  description = "CodeDeploy deployment group of the service (null when deployment_controller is ECS)."
  value       = one(aws_codedeploy_deployment_group.service[*].deployment_group_name)
}

output "artifact_bucket_name" {
  description = "The pipeline's artifact store."
  value       = aws_s3_bucket.artifacts.bucket
}

output "pipeline_role_arn" {
  description = "ARN of the pipeline's role."
  value       = aws_iam_role.pipeline.arn
}

output "codedeploy_role_arn" {
  description = "ARN of CodeDeploy's role for this service (null when deployment_controller is ECS)."
  value       = one(aws_iam_role.codedeploy[*].arn)
}
