//! What a release touches besides the deployment path: the ECR repositories it pins images
//! from, the subnets and roles of its migration task, and the release bucket.

use super::{Bucket, Finding, LambdaNotification, PassRole, RepositoryFacts, Seen, SubnetFacts};
use crate::registry::ServiceConfig;

pub(super) fn repositories(repos: &[RepositoryFacts]) -> Vec<Finding> {
    repos.iter().map(repository).collect()
}

/// ECR User Guide: "You can prevent image tags from being overwritten by turning on tag
/// immutability in a repository." berth pins every release by digest, but a manifest or a
/// push names a tag, and a mutable tag may mean another image by the time it is resolved.
fn repository(r: &RepositoryFacts) -> Finding {
    let check = format!("ecr:{}", r.repository.name);
    let place = if r.home {
        String::new()
    } else {
        format!(
            " --registry-id {} --region {}",
            r.repository.registry_id, r.repository.region
        )
    };
    let used_by = format!("container(s) {}", r.containers.join(", "));
    match &r.mutability {
        Seen::Missing(why) => Finding::fail(
            check,
            format!(
                "{} not found ({why}): {used_by} cannot be released",
                r.repository.uri()
            ),
            format!(
                "aws ecr create-repository --repository-name {} --image-tag-mutability IMMUTABLE{place}, or correct containers in the registry (the service stack's Containers)",
                r.repository.name
            ),
        ),
        Seen::Found(m) if m.starts_with("IMMUTABLE") => {
            Finding::ok(check, format!("exists, tags {m} ({used_by})"))
        }
        Seen::Found(m) => Finding::warn(
            check,
            format!(
                "tags are {m}: a tag pushed again points at another image, so a release named by tag may not be the image that was tested"
            ),
            format!(
                "aws ecr put-image-tag-mutability --repository-name {} --image-tag-mutability IMMUTABLE{place}",
                r.repository.name
            ),
        ),
    }
}

/// The migration task's subnets, and whether berth's migrate role may pass the task
/// definition's roles; nothing to check without a default migration.
pub(super) fn migration(
    config: &ServiceConfig,
    subnets: &[SubnetFacts],
    pass: &PassRole,
) -> Vec<Finding> {
    if config.migration.is_none() {
        return vec![Finding::ok(
            "migration",
            "no default migration in the registry: no subnet or role to check",
        )];
    }
    let mut findings: Vec<Finding> = subnets.iter().map(subnet).collect();
    findings.extend(pass_role(pass));
    findings
}

/// ECS Developer Guide, Fargate task networking: "For a task on Fargate to pull a container
/// image, the task must have a route to the internet." — "When using a public subnet, you can
/// assign a public IP address to the task ENI. When using a private subnet, the subnet can
/// have a NAT gateway attached." berth runs the migration with `assignPublicIp DISABLED`.
fn subnet(s: &SubnetFacts) -> Finding {
    let check = format!("subnet:{}", s.id);
    let fix = "list private subnets in migration.subnets (the service stack's MigrationSubnets)";
    match &s.subnet {
        None => Finding::fail(
            check,
            format!(
                "{} does not exist in this account and region: RunTask would refuse the migration",
                s.id
            ),
            fix,
        ),
        Some(n) if n.map_public_ip_on_launch => Finding::warn(
            check,
            format!(
                "{} (in {}) gives public IPs on launch, as public subnets do; the migration task gets none, so without a NAT gateway or VPC endpoints it cannot pull its image",
                s.id, n.vpc_id
            ),
            format!(
                "{fix}, or if this one routes through a NAT gateway: aws ec2 modify-subnet-attribute --subnet-id {} --no-map-public-ip-on-launch",
                s.id
            ),
        ),
        Some(n) => Finding::ok(
            check,
            format!("exists in {}, assigns no public IP", n.vpc_id),
        ),
    }
}

/// IAM User Guide: "To pass a role (and its permissions) to an AWS service, a user must have
/// permissions to pass the role to the service." RunTask passes the task definition's roles.
fn pass_role(pass: &PassRole) -> Vec<Finding> {
    match pass {
        PassRole::Unknown => Vec::new(),
        PassRole::NotAsked(roles) if roles.is_empty() => vec![no_roles()],
        PassRole::NotAsked(roles) => vec![Finding::warn(
            "pass-role",
            format!(
                "not checked whether berth's migrate role may pass {} to ECS tasks",
                roles.join(", ")
            ),
            "pass --migrate-role-arn \"$(aws lambda get-function-configuration --function-name berth-migrate --query Role --output text)\"",
        )],
        PassRole::Simulated { decisions, .. } if decisions.is_empty() => vec![no_roles()],
        PassRole::Simulated {
            migrate_role,
            decisions,
        } => decisions
            .iter()
            .map(|(role, decision)| passed(migrate_role, role, decision))
            .collect(),
    }
}

fn no_roles() -> Finding {
    Finding::ok(
        "pass-role",
        "the running task definition names no role to pass",
    )
}

fn passed(migrate_role: &str, role: &str, decision: &str) -> Finding {
    let check = format!("pass-role:{}", role.rsplit('/').next().unwrap_or(role));
    if decision == "allowed" {
        return Finding::ok(
            check,
            format!("{migrate_role} may pass {role} to ecs-tasks.amazonaws.com"),
        );
    }
    Finding::fail(
        check,
        format!(
            "{migrate_role} may not pass {role} to ecs-tasks.amazonaws.com ({decision}): RunTask would refuse the migration"
        ),
        "add the role to the platform stack's PassableRoleArns",
    )
}

pub(super) fn bucket(config: &ServiceConfig, name: &str, bucket: &Seen<Bucket>) -> Vec<Finding> {
    let b = match bucket {
        Seen::Found(b) => b,
        Seen::Missing(why) => {
            return vec![Finding::fail(
                "bucket",
                format!("release bucket {name} not found ({why})"),
                "set BERTH_RELEASE_BUCKET to the platform stack's ReleaseBucketName output",
            )];
        }
    };
    vec![
        versioning(name, b),
        notification(config, name, &b.notifications),
    ]
}

/// Every release is a new version of `artifacts/<service>/source.zip`, and a rollback
/// deploys an earlier version. S3 API reference, PutBucketVersioning: "If the versioning
/// state has never been set on a bucket, it has no versioning state; a GetBucketVersioning
/// request does not return a versioning state value."
fn versioning(name: &str, b: &Bucket) -> Finding {
    match b.versioning.as_deref() {
        Some("Enabled") => Finding::ok("bucket-versioning", format!("{name}: versioning Enabled")),
        state => Finding::fail(
            "bucket-versioning",
            format!(
                "{name}: versioning {}: each release is an S3 version of its artifact, and rollback needs the earlier ones",
                state.unwrap_or("never enabled")
            ),
            format!(
                "aws s3api put-bucket-versioning --bucket {name} --versioning-configuration Status=Enabled"
            ),
        ),
    }
}

/// on-manifest hears of an uploaded manifest only through the bucket's notification: a
/// Lambda configuration for `s3:ObjectCreated:*` whose filter lets
/// `manifests/<service>/<release>.json` through.
fn notification(config: &ServiceConfig, name: &str, all: &[LambdaNotification]) -> Finding {
    let keys = format!("manifests/{}/", config.service);
    let covering: Vec<&LambdaNotification> = all
        .iter()
        .filter(|n| keys.starts_with(n.prefix.as_deref().unwrap_or("")))
        .filter(|n| ".json".ends_with(n.suffix.as_deref().unwrap_or("")))
        .collect();
    if let Some(n) = covering
        .iter()
        .find(|n| n.events.iter().any(|e| e == "s3:ObjectCreated:*"))
    {
        return Finding::ok(
            "bucket-notification",
            format!(
                "s3:ObjectCreated:* on {keys}*.json invokes {}",
                n.function_arn
            ),
        );
    }
    let fix = format!(
        "deploy the platform stack: it sends s3:ObjectCreated:* on prefix manifests/, suffix .json to on-manifest (see aws s3api get-bucket-notification-configuration --bucket {name})"
    );
    let some: Vec<&str> = covering
        .iter()
        .flat_map(|n| &n.events)
        .filter(|e| e.starts_with("s3:ObjectCreated:"))
        .map(String::as_str)
        .collect();
    if !some.is_empty() {
        return Finding::warn(
            "bucket-notification",
            format!(
                "only {} on {keys}*.json: manifests uploaded another way start no release",
                some.join(", ")
            ),
            fix,
        );
    }
    Finding::fail(
        "bucket-notification",
        format!(
            "no Lambda notification of s3:ObjectCreated:* for {keys}*.json: an uploaded manifest starts nothing"
        ),
        fix,
    )
}
