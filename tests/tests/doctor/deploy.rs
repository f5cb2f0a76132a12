//! The deployment path, broken one thing at a time: the ECS service, the CodeDeploy deployment
//! group, the pipeline.

use serde_json::{Value, json};

use super::*;

#[tokio::test(flavor = "current_thread")]
async fn a_deleted_ecs_service_fails() {
    let env = healthy().await;
    env.clients
        .ecs
        .delete_service()
        .cluster("prod")
        .service("web")
        .force(true)
        .send()
        .await
        .expect("delete service");
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "ecs-service",
        "fail",
        "ECS service prod/web is INACTIVE, not ACTIVE",
        "create it again with the CODE_DEPLOY deployment controller",
    );
}

/// The harness's `web` moved to the ECS deployment controller (a rolling service: moto keeps no
/// `deploymentConfiguration`, so no strategy, no circuit breaker).
async fn rolling(env: &Env) {
    use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType};
    env.clients
        .ecs
        .update_service()
        .cluster("prod")
        .service("web")
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::Ecs)
                .build()
                .expect("controller"),
        )
        .send()
        .await
        .expect("update service");
}

#[tokio::test(flavor = "current_thread")]
async fn a_rolling_service_behind_a_codedeploy_pipeline_fails_the_deploy_action() {
    let env = healthy().await;
    rolling(&env).await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    let find = |check: &str| {
        findings
            .iter()
            .find(|f| f["check"] == check)
            .unwrap_or_else(|| panic!("no {check}: {findings:#?}"))
            .clone()
    };
    let controller = find("ecs-controller");
    assert_eq!(controller["status"], "ok");
    assert!(
        controller["detail"]
            .as_str()
            .unwrap()
            .contains("ECS, strategy ROLLING")
    );
    let deploy = find("pipeline-deploy");
    assert_eq!(deploy["status"], "fail");
    assert!(
        deploy["detail"]
            .as_str()
            .unwrap()
            .contains("but ECS deploys this service itself")
    );
    assert!(
        deploy["fix"]
            .as_str()
            .unwrap()
            .contains("invokes berth-deploy")
    );
    // No deployment group is looked for: ECS deploys the service itself.
    assert!(
        !findings
            .iter()
            .any(|f| f["check"].as_str().unwrap().starts_with("codedeploy"))
    );
}

/// The pipeline's Deploy as the service stack declares it for ECS kinds: berth's deploy function.
async fn ecs_pipeline(env: &Env) {
    change_pipeline(env, |p| {
        let deploy = &mut p["stages"][1]["actions"][1];
        deploy["actionTypeId"] =
            json!({"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"});
        deploy["configuration"] = json!({"FunctionName": "berth-deploy",
            "UserParameters": berth::job::USER_PARAMETERS});
    })
    .await;
}

/// The ECS service's ARN, as DescribeServices gives it.
async fn service_arn(env: &Env) -> String {
    let out = env
        .clients
        .ecs
        .describe_services()
        .cluster("prod")
        .services("web")
        .send()
        .await
        .expect("describe service");
    out.services()[0].service_arn().expect("arn").to_owned()
}

/// The tag the platform's deploy role requires of a service ECS deploys (UpdateTaggedServices).
async fn tag_for_berth(env: &Env) {
    let arn = service_arn(env).await;
    env.clients
        .ecs
        .tag_resource()
        .resource_arn(arn)
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("berth:service")
                .value("web")
                .build(),
        )
        .send()
        .await
        .expect("tag service");
}

#[tokio::test(flavor = "current_thread")]
async fn a_rolling_service_with_the_ecs_pipeline_passes_with_a_circuit_breaker_warning() {
    let env = healthy().await;
    rolling(&env).await;
    ecs_pipeline(&env).await;
    tag_for_berth(&env).await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(0), "{findings:#?}");
    only(
        &findings,
        "ecs-circuit-breaker",
        "warn",
        "off: a release whose tasks never start",
        "deploymentCircuitBreaker to {enable: true, rollback: true}",
    );
    for (check, detail) in [
        (
            "pipeline-deploy",
            "Deploy invokes berth-deploy with berth's UserParameters",
        ),
        ("pipeline-artifact", "Deploy deploys DeployArtifact"),
        ("ecs-alarms", "no deployment alarms"),
        ("ecs-deploy-tag", "tagged berth:service=web"),
    ] {
        let f = findings.iter().find(|f| f["check"] == check).expect(check);
        assert!(f["detail"].as_str().unwrap().contains(detail), "{f:#}");
    }
}

/// moto enforces no IAM, so an untagged service would release through migration and only fail
/// at Deploy's UpdateService in AWS; doctor reads the tags (DescribeServices include=TAGS).
#[tokio::test(flavor = "current_thread")]
async fn a_service_ecs_deploys_without_the_berth_service_tag_fails_naming_the_tag_command() {
    let env = healthy().await;
    rolling(&env).await;
    ecs_pipeline(&env).await;
    let arn = service_arn(&env).await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1), "{findings:#?}");
    let tag = findings
        .iter()
        .find(|f| f["check"] == "ecs-deploy-tag")
        .unwrap_or_else(|| panic!("no ecs-deploy-tag: {findings:#?}"));
    assert_eq!(tag["status"], "fail", "{tag:#}");
    assert!(
        tag["detail"]
            .as_str()
            .unwrap()
            .contains("would fail with AccessDenied"),
        "{tag:#}"
    );
    assert_eq!(
        tag["fix"].as_str().unwrap(),
        format!("run aws ecs tag-resource --resource-arn {arn} --tags key=berth:service,value=web")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_deployment_group_of_another_service_fails() {
    let env = account(Setup {
        group_deploys: "api",
        ..STACKS
    })
    .await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "codedeploy-group",
        "fail",
        "berth-web/web deploys prod/api, not prod/web",
        "aws deploy update-deployment-group --application-name berth-web --current-deployment-group-name web --ecs-services clusterName=prod,serviceName=web",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_pipeline_without_the_release_stage_fails() {
    let env = healthy().await;
    change_pipeline(&env, |p| {
        let release = p["stages"][1].take();
        let stages: Vec<Value> = release["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| json!({"name": a["name"], "actions": [a]}))
            .collect();
        p["stages"] = json!([p["stages"][0], stages[0], stages[1]]);
    })
    .await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "pipeline-release",
        "fail",
        "no Release stage (stages: Source, Migrate, Deploy)",
        "deploy the service stack",
    );
}

/// A service stack deployed before Migrate wrote the deployed artifact: Deploy reads the Source
/// artifact, rendered at upload.
#[tokio::test(flavor = "current_thread")]
async fn a_pipeline_that_deploys_the_source_artifact_fails_until_the_stack_is_updated() {
    let env = healthy().await;
    change_pipeline(&env, |p| {
        let release = &mut p["stages"][1]["actions"];
        release[0]
            .as_object_mut()
            .map(|m| m.remove("outputArtifacts"));
        release[1]["inputArtifacts"] = json!([{"name": "SourceArtifact"}]);
        for k in ["TaskDefinitionTemplateArtifact", "AppSpecTemplateArtifact"] {
            release[1]["configuration"][k] = json!("SourceArtifact");
        }
    })
    .await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "pipeline-artifact",
        "fail",
        "Migrate declares no output artifact, so Deploy deploys the task definition rendered at upload (SourceArtifact): a release queued behind another deploys what ran when it was uploaded and can undo the release ahead of it, until the stack is updated",
        "update the service stack",
    );
}

#[tokio::test(flavor = "current_thread")]
async fn other_user_parameters_fail_the_migrate_action() {
    let env = healthy().await;
    change_pipeline(&env, |p| {
        p["stages"][1]["actions"][0]["configuration"]["UserParameters"] =
            json!(r##"{"release":"#{variables.BERTH_RELEASE}"}"##);
    })
    .await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "pipeline-migrate",
        "fail",
        "Migrate invokes berth-migrate with UserParameters",
        &format!("set UserParameters to {}", berth::migrate::USER_PARAMETERS),
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_undeclared_pipeline_variable_fails() {
    let env = healthy().await;
    change_pipeline(&env, |p| {
        if let Some(vars) = p["variables"].as_array_mut() {
            vars.retain(|v| v["name"] != "BERTH_ROLLBACK");
        }
    })
    .await;
    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(1));
    only(
        &findings,
        "pipeline-variable:BERTH_ROLLBACK",
        "fail",
        "not declared",
        "declare BERTH_ROLLBACK with default false",
    );
}
