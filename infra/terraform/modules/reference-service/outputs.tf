# Named after the inputs of the berth service module they feed.

output "deployment_controller" {
  description = "deployment_controller of the berth service module (ECS for BLUE_GREEN and ROLLING)."
  value       = var.deployment_strategy == "CODE_DEPLOY" ? "CODE_DEPLOY" : "ECS"
}

output "cluster_name" {
  description = "cluster_name of the berth service module."
  value       = local.cluster_name
}

output "cluster_arn" {
  description = "ARN of the cluster (the platform's cluster_arns)."
  value       = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:cluster/${local.cluster_name}"
}

output "ecs_service_name" {
  description = "ecs_service_name of the berth service module."
  value       = aws_ecs_service.service.name
}

output "task_family" {
  description = "task_family of the berth service module."
  value       = aws_ecs_task_definition.first.family
}

output "appspec_container" {
  description = "appspec_container of the berth service module."
  value       = var.container_name
}

output "appspec_port" {
  description = "appspec_port of the berth service module."
  value       = var.container_port
}

output "task_execution_role_arn" {
  description = "task_execution_role_arn of the berth service module (and of the platform's passable_role_arns)."
  value       = aws_iam_role.task_execution.arn
}

output "task_role_arn" {
  description = "task_role_arn of the berth service module (and of the platform's passable_role_arns)."
  value       = aws_iam_role.task.arn
}

output "prod_listener_arn" {
  description = "prod_listener_arn of the berth service module."
  value       = aws_lb_listener.service["production"].arn
}

output "test_listener_arn" {
  description = "test_listener_arn of the berth service module."
  value       = aws_lb_listener.service["test"].arn
}

output "blue_target_group_name" {
  description = "blue_target_group_name of the berth service module."
  value       = aws_lb_target_group.service["blue"].name
}

output "green_target_group_name" {
  description = "green_target_group_name of the berth service module."
  value       = aws_lb_target_group.service["green"].name
}

output "blue_target_group_arn" {
  description = "target_group_alarms.blue_target_group_arn of the berth service module."
  value       = aws_lb_target_group.service["blue"].arn
}

output "green_target_group_arn" {
  description = "target_group_alarms.green_target_group_arn of the berth service module."
  value       = aws_lb_target_group.service["green"].arn
}

output "load_balancer_arn" {
  description = "target_group_alarms.load_balancer_arn of the berth service module."
  value       = aws_lb.service.arn
}

output "verify_base_url" {
  description = "verify.base_url of the berth service module (the test listener)."
  value       = "http://${aws_lb.service.dns_name}:${var.test_listener_port}"
}

output "migration_subnets" {
  description = "migration.subnets of the berth service module (the tasks' subnets)."
  value       = var.service_subnet_ids
}

output "migration_security_groups" {
  description = "migration.security_groups of the berth service module (the tasks' security group; it reaches the database on database_port when database_security_group_id or database_cidr is given)."
  value       = [aws_security_group.service.id]
}

output "verify_security_group_id" {
  description = "Security group for berth's verify function in the VPC (the platform's verify_security_group_ids; verify_subnet_ids = the tasks' subnets)."
  value       = aws_security_group.verify.id
}

output "log_group_name" {
  description = "Log group of the containers (berth's migration failure messages name its streams)."
  value       = aws_cloudwatch_log_group.containers.name
}
