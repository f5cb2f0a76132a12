//! Repositories, migration subnets and roles, the release bucket.

use serde_json::Value;

use super::{EXEC_ROLE, Row, examine_with, keep_entry, run};
use crate::doctor::{Bucket, Facts, PassRole, Seen, Status};

fn bucket(f: &mut Facts) -> &mut Bucket {
    match &mut f.bucket {
        Seen::Found(b) => b,
        Seen::Missing(_) => unreachable!("the healthy setup has the bucket"),
    }
}

fn no_migration(e: &mut Value) {
    if let Some(o) = e.as_object_mut() {
        o.remove("migration");
    }
}

#[test]
fn repositories() {
    run(&[
        Row {
            name: "a repository is missing",
            entry: keep_entry,
            facts: |f| {
                f.repositories[1].mutability = Seen::Missing("RepositoryNotFoundException".into())
            },
            check: "ecr:web/nginx",
            status: Status::Fail,
            detail: "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/nginx not found (RepositoryNotFoundException): container(s) nginx cannot be released",
            fix: "aws ecr create-repository --repository-name web/nginx --image-tag-mutability IMMUTABLE,",
        },
        Row {
            name: "mutable tags",
            entry: keep_entry,
            facts: |f| f.repositories[0].mutability = Seen::Found("MUTABLE".into()),
            check: "ecr:web/app",
            status: Status::Warn,
            detail: "tags are MUTABLE",
            fix: "aws ecr put-image-tag-mutability --repository-name web/app --image-tag-mutability IMMUTABLE",
        },
        Row {
            name: "mutable tags in another account",
            entry: keep_entry,
            facts: |f| {
                let r = &mut f.repositories[0];
                r.home = false;
                r.repository.registry_id = "210987654321".into();
                r.mutability = Seen::Found("MUTABLE_WITH_EXCLUSION".into());
            },
            check: "ecr:web/app",
            status: Status::Warn,
            detail: "tags are MUTABLE_WITH_EXCLUSION",
            fix: "IMMUTABLE --registry-id 210987654321 --region ap-northeast-1",
        },
        Row {
            name: "immutable with exclusions",
            entry: keep_entry,
            facts: |f| {
                f.repositories[0].mutability = Seen::Found("IMMUTABLE_WITH_EXCLUSION".into())
            },
            check: "ecr:web/app",
            status: Status::Ok,
            detail: "tags IMMUTABLE_WITH_EXCLUSION (container(s) app)",
            fix: "",
        },
    ]);
}

#[test]
fn migration_subnets_and_roles() {
    run(&[
        Row {
            name: "a subnet that does not exist",
            entry: keep_entry,
            facts: |f| f.subnets[0].subnet = None,
            check: "subnet:subnet-0a1b2c",
            status: Status::Fail,
            detail: "subnet-0a1b2c does not exist",
            fix: "MigrationSubnets",
        },
        Row {
            name: "a public subnet",
            entry: keep_entry,
            facts: |f| {
                if let Some(s) = &mut f.subnets[0].subnet {
                    s.map_public_ip_on_launch = true;
                }
            },
            check: "subnet:subnet-0a1b2c",
            status: Status::Warn,
            detail: "gives public IPs on launch",
            fix: "aws ec2 modify-subnet-attribute --subnet-id subnet-0a1b2c --no-map-public-ip-on-launch",
        },
        Row {
            name: "the execution role may not be passed",
            entry: keep_entry,
            facts: |f| {
                if let PassRole::Simulated { decisions, .. } = &mut f.pass_role {
                    decisions[0].1 = "implicitDeny".into();
                }
            },
            check: "pass-role:web-exec",
            status: Status::Fail,
            detail: "may not pass arn:aws:iam::123456789012:role/web-exec to ecs-tasks.amazonaws.com (implicitDeny)",
            fix: "PassableRoleArns",
        },
        Row {
            name: "not asked",
            entry: keep_entry,
            facts: |f| f.pass_role = PassRole::NotAsked(vec![EXEC_ROLE.into()]),
            check: "pass-role",
            status: Status::Warn,
            detail: "not checked whether berth's migrate role may pass arn:aws:iam::123456789012:role/web-exec",
            fix: "--migrate-role-arn",
        },
        Row {
            name: "a task definition without roles",
            entry: keep_entry,
            facts: |f| f.pass_role = PassRole::NotAsked(Vec::new()),
            check: "pass-role",
            status: Status::Ok,
            detail: "names no role to pass",
            fix: "",
        },
        Row {
            name: "no default migration",
            entry: no_migration,
            facts: |f| f.subnets.clear(),
            check: "migration",
            status: Status::Ok,
            detail: "no default migration",
            fix: "",
        },
    ]);
}

#[test]
fn release_bucket() {
    run(&[
        Row {
            name: "no such bucket",
            entry: keep_entry,
            facts: |f| f.bucket = Seen::Missing("NoSuchBucket".into()),
            check: "bucket",
            status: Status::Fail,
            detail: "release bucket berth-releases-123456789012-ap-northeast-1 not found (NoSuchBucket)",
            fix: "ReleaseBucketName",
        },
        Row {
            name: "versioning suspended",
            entry: keep_entry,
            facts: |f| bucket(f).versioning = Some("Suspended".into()),
            check: "bucket-versioning",
            status: Status::Fail,
            detail: "versioning Suspended",
            fix: "aws s3api put-bucket-versioning --bucket berth-releases-123456789012-ap-northeast-1 --versioning-configuration Status=Enabled",
        },
        Row {
            name: "versioning never enabled",
            entry: keep_entry,
            facts: |f| bucket(f).versioning = None,
            check: "bucket-versioning",
            status: Status::Fail,
            detail: "versioning never enabled",
            fix: "Status=Enabled",
        },
        Row {
            name: "no notification",
            entry: keep_entry,
            facts: |f| bucket(f).notifications.clear(),
            check: "bucket-notification",
            status: Status::Fail,
            detail: "no Lambda notification of s3:ObjectCreated:* for manifests/web/*.json",
            fix: "deploy the platform stack",
        },
        Row {
            name: "a filter that leaves this service out",
            entry: keep_entry,
            facts: |f| bucket(f).notifications[0].prefix = Some("manifests/api/".into()),
            check: "bucket-notification",
            status: Status::Fail,
            detail: "no Lambda notification",
            fix: "prefix manifests/, suffix .json",
        },
        Row {
            name: "a filter on another suffix",
            entry: keep_entry,
            facts: |f| bucket(f).notifications[0].suffix = Some(".yaml".into()),
            check: "bucket-notification",
            status: Status::Fail,
            detail: "no Lambda notification",
            fix: "on-manifest",
        },
        Row {
            name: "a filter for this service only",
            entry: keep_entry,
            facts: |f| bucket(f).notifications[0].prefix = Some("manifests/web/".into()),
            check: "bucket-notification",
            status: Status::Ok,
            detail: "invokes arn:aws:lambda:ap-northeast-1:123456789012:function:berth-on-manifest",
            fix: "",
        },
        Row {
            name: "puts only",
            entry: keep_entry,
            facts: |f| bucket(f).notifications[0].events = vec!["s3:ObjectCreated:Put".into()],
            check: "bucket-notification",
            status: Status::Warn,
            detail: "only s3:ObjectCreated:Put",
            fix: "s3:ObjectCreated:*",
        },
    ]);
}

#[test]
fn a_service_that_is_gone_has_no_roles_to_check() {
    let findings = examine_with(keep_entry, |f| {
        f.ecs = Seen::Missing("MISSING".into());
        f.pass_role = PassRole::Unknown;
    });
    assert!(findings.iter().all(|f| !f.check.starts_with("pass-role")));
}
