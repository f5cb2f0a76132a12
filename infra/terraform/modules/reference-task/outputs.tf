# Named after the inputs of the berth service module they feed.

output "cluster_name" {
  description = "cluster_name of the berth service module."
  value       = var.cluster_name
}

output "task_family" {
  description = "task_family of the berth service module."
  value       = aws_ecs_task_definition.first.family
}

output "task_target" {
  description = "task_target of the berth service module (deployment_controller = \"TASK\"): the schedule, in its group."
  value = {
    schedules = [{ name = aws_scheduler_schedule.job.name, group = aws_scheduler_schedule_group.job.name }]
    rules     = []
  }
}

output "network" {
  description = "network of the berth service module: the job's subnets and security group, for berth run."
  value = {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.task.id]
    assign_public_ip = false
  }
}

output "task_execution_role_arn" {
  description = "task_execution_role_arn of the berth service module (and of the platform's passable_role_arns)."
  value       = aws_iam_role.task_execution.arn
}

output "task_role_arn" {
  description = "task_role_arn of the berth service module (and of the platform's passable_role_arns)."
  value       = aws_iam_role.task.arn
}

output "log_group_name" {
  description = "Log group of the job's containers."
  value       = aws_cloudwatch_log_group.containers.name
}
