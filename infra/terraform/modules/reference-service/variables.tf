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
}

variable "image" {
  description = "Image of the first task definition; berth replaces it with every release."
  type        = string
}

variable "container_name" {
  description = "Name of the container behind the load balancer (appspec_container of the berth service module)."
  type        = string
  default     = "app"
}

variable "container_port" {
  description = "Port the container listens on (appspec_port)."
  type        = number
  default     = 80
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 256
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

variable "prod_listener_port" {
  description = "Port of the production listener."
  type        = number
  default     = 80
}

variable "test_listener_port" {
  description = "Port of the test listener (berth's verify function checks the replacement task set through it)."
  type        = number
  default     = 8080
}

variable "health_check_path" {
  description = "Path the target groups' health check requests."
  type        = string
  default     = "/"
}

variable "log_retention_days" {
  description = "Retention of the container log group, in days."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}
