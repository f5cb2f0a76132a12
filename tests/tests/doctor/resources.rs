//! What a release touches besides the deployment path, broken one thing at a time:
//! repositories, migration subnets and roles, the release bucket; and the registry entry and
//! AWS failures.

use std::net::TcpListener;

use aws_sdk_ecr::types::ImageTagMutability;
use serde_json::Value;

use super::*;

#[tokio::test(flavor = "current_thread")]
async fn a_missing_repository_fails() {
    let env = healthy().await;
    env.clients
        .ecr
        .delete_repository()
        .repository_name("web/nginx")
        .force(true)
        .send()
        .await
        .expect("delete repository");
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "ecr:web/nginx",
        "fail",
        "web/nginx not found (RepositoryNotFoundException): container(s) nginx cannot be released",
        "aws ecr create-repository --repository-name web/nginx --image-tag-mutability IMMUTABLE",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn mutable_tags_only_warn() {
    let env = healthy().await;
    tag_mutability(&env, "web/app", ImageTagMutability::Mutable).await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(0), "a warning refuses nothing");
    only(
        &findings,
        "ecr:web/app",
        "warn",
        "tags are MUTABLE",
        "aws ecr put-image-tag-mutability --repository-name web/app --image-tag-mutability IMMUTABLE",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_subnet_that_gives_public_ips_only_warns() {
    let env = healthy().await;
    let entry = env
        .clients
        .ssm
        .get_parameter()
        .name("/berth/services/web")
        .send()
        .await
        .expect("registry entry");
    let entry: Value =
        serde_json::from_str(entry.parameter().and_then(|p| p.value()).expect("value"))
            .expect("entry JSON");
    let subnet = entry["migration"]["subnets"][0]
        .as_str()
        .expect("subnet")
        .to_owned();
    raw_query(
        &env.moto.endpoint,
        "ec2",
        &format!("Action=ModifySubnetAttribute&Version=2016-11-15&SubnetId={subnet}&MapPublicIpOnLaunch.Value=true"),
    )
    .await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(0), "a warning refuses nothing");
    only(
        &findings,
        &format!("subnet:{subnet}"),
        "warn",
        "gives public IPs on launch",
        &format!(
            "aws ec2 modify-subnet-attribute --subnet-id {subnet} --no-map-public-ip-on-launch"
        ),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_bucket_whose_versioning_is_suspended_fails() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let env = healthy().await;
    env.clients
        .s3
        .put_bucket_versioning()
        .bucket(BUCKET)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .expect("suspend versioning");
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "bucket-versioning",
        "fail",
        "berth-releases: versioning Suspended",
        "aws s3api put-bucket-versioning --bucket berth-releases --versioning-configuration Status=Enabled",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_bucket_that_does_not_notify_on_manifest_fails() {
    let env = account(Setup {
        notify: false,
        ..STACKS
    })
    .await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "bucket-notification",
        "fail",
        "no Lambda notification of s3:ObjectCreated:* for manifests/web/*.json",
        "deploy the platform stack",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_role_berth_may_not_pass_fails() {
    let env = healthy().await;
    let iam = simulator(|request| {
        if request.contains("role/web-exec") {
            "implicitDeny"
        } else {
            "allowed"
        }
    });
    let (code, findings) = findings_with(&env, &iam, &["--migrate-role-arn", MIGRATE_ROLE]).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "pass-role:web-exec",
        "fail",
        "may not pass arn:aws:iam::123456789012:role/web-exec to ecs-tasks.amazonaws.com (implicitDeny)",
        "PassableRoleArns",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn without_the_migrate_role_the_pass_role_check_only_warns() {
    let env = healthy().await;
    let iam = simulator(allow_all);
    let (code, findings) = findings_with(&env, &iam, &[]).await;
    assert_eq!(code, Some(0));
    only(
        &findings,
        "pass-role",
        "warn",
        "arn:aws:iam::123456789012:role/web-exec",
        "--migrate-role-arn",
    );
    assert!(
        iam.requests.lock().expect("requests").is_empty(),
        "nothing simulated"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_service_not_in_the_registry_is_one_failure() {
    let env = healthy().await;
    let (code, stdout, stderr) = doctor(&env, &simulator(allow_all), &["api"]).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("FAIL  registry  service \"api\" is not in the registry"),
        "{stdout}"
    );
    assert!(
        lines[0].contains("— fix: the service stack writes /berth/services/api"),
        "{stdout}"
    );
    assert_eq!(lines[1], "api: 0 ok, 0 warn, 1 FAIL");
    assert!(stderr.contains("berth: api: 1 check(s) failed"), "{stderr}");
}

/// An AWS call that fails for another reason than a missing name is no verdict on the setup:
/// exit 3, naming the call; so is a missing setting.
#[tokio::test(flavor = "current_thread")]
async fn aws_and_configuration_failures_exit_3() {
    let env = healthy().await;
    let iam = simulator(allow_all);
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let nobody = format!("http://{}", closed.local_addr().expect("address"));
    drop(closed);
    let unreachable = [("AWS_ENDPOINT_URL_CODEDEPLOY", nobody.as_str())];
    let (code, _, stderr) = doctor_with(&env, &iam, &["web"], &unreachable).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("codedeploy:GetDeploymentGroup berth-web/web failed"),
        "{stderr}"
    );

    let unset = [("BERTH_RELEASE_BUCKET", "")];
    let (code, _, stderr) = doctor_with(&env, &iam, &["web"], &unset).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("BERTH_RELEASE_BUCKET is not set"),
        "{stderr}"
    );
}
