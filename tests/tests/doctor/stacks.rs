//! What the stacks and the reference service add to the harness's seeded `web`, made in moto:
//! a private subnet, tag mutability, tasks in the blue target group, the CodeDeploy application
//! and deployment group, the release bucket's notification; and pipeline changes.

use aws_sdk_ecr::types::ImageTagMutability;
use berth_tests::*;
use serde_json::{Value, json};

pub const BLUE: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:targetgroup/web-blue/0123456789abcdef";
pub const PROD_LISTENER: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
pub const TEST_LISTENER: &str = "arn:aws:elasticloadbalancing:ap-northeast-1:123456789012:listener/app/web/50dc6c495c0c9188/9e2b7c5d1a3f4e60";

fn xml_value(xml: &str, tag: &str) -> String {
    xml.split(&format!("<{tag}>"))
        .nth(1)
        .and_then(|s| s.split(&format!("</{tag}>")).next())
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        .to_owned()
}

/// A subnet of a new VPC: not a default subnet, so it gives no public IP on launch.
pub async fn private_subnet(env: &Env) -> String {
    let endpoint = &env.moto.endpoint;
    let vpc = raw_query(
        endpoint,
        "ec2",
        "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.10.0.0%2F16",
    )
    .await;
    let vpc = xml_value(&vpc, "vpcId");
    let subnet =
        format!("Action=CreateSubnet&Version=2016-11-15&VpcId={vpc}&CidrBlock=10.10.1.0%2F24");
    xml_value(&raw_query(endpoint, "ec2", &subnet).await, "subnetId")
}

pub async fn tag_mutability(env: &Env, repo: &str, mutability: ImageTagMutability) {
    env.clients
        .ecr
        .put_image_tag_mutability()
        .repository_name(repo)
        .image_tag_mutability(mutability)
        .send()
        .await
        .expect("set tag mutability");
}

/// What a finished deployment leaves: a PRIMARY task set whose tasks are in the blue target
/// group, and one task running.
pub async fn in_blue_target_group(env: &Env) {
    use aws_sdk_ecs::types::LoadBalancer;
    let ecs = &env.clients.ecs;
    let task_set = ecs
        .create_task_set()
        .cluster("prod")
        .service("web")
        .task_definition("web:1")
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(BLUE)
                .container_name("nginx")
                .container_port(80)
                .build(),
        )
        .send()
        .await
        .expect("create task set");
    let arn = task_set
        .task_set()
        .and_then(|t| t.task_set_arn())
        .expect("task set ARN");
    ecs.update_service_primary_task_set()
        .cluster("prod")
        .service("web")
        .primary_task_set(arn)
        .send()
        .await
        .expect("make it primary");
    ecs.update_service()
        .cluster("prod")
        .service("web")
        .desired_count(1)
        .send()
        .await
        .expect("one task");
}

/// The service stack's CodeDeploy application `berth-web` and deployment group `web`.
pub async fn deployment_group(env: &Env, deploys: &str) {
    use aws_sdk_codedeploy::types::{
        ComputePlatform, DeploymentOption, DeploymentStyle, DeploymentType, EcsService,
        LoadBalancerInfo, TargetGroupInfo, TargetGroupPairInfo, TrafficRoute,
    };
    let codedeploy = &env.clients.codedeploy;
    codedeploy
        .create_application()
        .application_name("berth-web")
        .compute_platform(ComputePlatform::Ecs)
        .send()
        .await
        .expect("create application");
    let route = |arn: &str| TrafficRoute::builder().listener_arns(arn).build();
    let pair = TargetGroupPairInfo::builder()
        .target_groups(TargetGroupInfo::builder().name("web-blue").build())
        .target_groups(TargetGroupInfo::builder().name("web-green").build())
        .prod_traffic_route(route(PROD_LISTENER))
        .test_traffic_route(route(TEST_LISTENER))
        .build();
    codedeploy
        .create_deployment_group()
        .application_name("berth-web")
        .deployment_group_name("web")
        .service_role_arn("arn:aws:iam::123456789012:role/berth-web-codedeploy")
        .deployment_style(
            DeploymentStyle::builder()
                .deployment_type(DeploymentType::BlueGreen)
                .deployment_option(DeploymentOption::WithTrafficControl)
                .build(),
        )
        .ecs_services(
            EcsService::builder()
                .cluster_name("prod")
                .service_name(deploys)
                .build(),
        )
        .load_balancer_info(
            LoadBalancerInfo::builder()
                .target_group_pair_info_list(pair)
                .build(),
        )
        .send()
        .await
        .expect("create deployment group");
}

/// The platform stack's notification: `s3:ObjectCreated:*` on `manifests/` `.json` to on-manifest.
pub async fn notify_on_manifest(env: &Env) {
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, LambdaFunctionConfiguration, NotificationConfiguration,
        NotificationConfigurationFilter, S3KeyFilter,
    };
    let rule = |name, value| FilterRule::builder().name(name).value(value).build();
    let key = S3KeyFilter::builder()
        .filter_rules(rule(FilterRuleName::Prefix, "manifests/"))
        .filter_rules(rule(FilterRuleName::Suffix, ".json"))
        .build();
    let lambda = LambdaFunctionConfiguration::builder()
        .lambda_function_arn(
            "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-on-manifest",
        )
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(NotificationConfigurationFilter::builder().key(key).build())
        .build()
        .expect("lambda notification");
    env.clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(BUCKET)
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(lambda)
                .build(),
        )
        .send()
        .await
        .expect("put notification");
}

/// Changes the pipeline's declaration through GetPipeline and UpdatePipeline.
pub async fn change_pipeline(env: &Env, change: impl FnOnce(&mut Value)) {
    let endpoint = &env.moto.endpoint;
    let name = json!({"name": "berth-web"}).to_string();
    let got = raw_json(
        endpoint,
        "codepipeline",
        "CodePipeline_20150709.GetPipeline",
        &name,
    )
    .await;
    let mut pipeline =
        serde_json::from_str::<Value>(&got).expect("pipeline JSON")["pipeline"].take();
    change(&mut pipeline);
    let update = json!({ "pipeline": pipeline }).to_string();
    raw_json(
        endpoint,
        "codepipeline",
        "CodePipeline_20150709.UpdatePipeline",
        &update,
    )
    .await;
}
