terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.4.0: deployment_configuration.strategy, bake_time_in_minutes, lifecycle_hook and
      # load_balancer.advanced_configuration (ECS native blue/green); 6.66.0: lifecycle_hook
      # target_type and timeout_configuration (PAUSE hooks, hold_for_promote).
      version = ">= 6.66, < 7.0"
    }
  }
}
