//! What the ECS service uses and which revisions a family has, against ECS answers (aws-smithy-
//! mocks): every task set and deployment counts as in use, and revisions come newest first, of
//! the family only.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use berth::revisions;

const TD: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition";

fn ok(body: String) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        StatusCode::try_from(200).unwrap(),
        SdkBody::from(body),
    )
}

#[tokio::test]
async fn every_task_set_and_deployment_is_in_use() {
    let body = format!(
        r#"{{"services":[{{"serviceName":"web","status":"ACTIVE","taskDefinition":"{TD}/web:9",
        "taskSets":[{{"status":"PRIMARY","taskDefinition":"{TD}/web:7"}},{{"status":"ACTIVE","taskDefinition":"{TD}/web:8"}}],
        "deployments":[{{"status":"PRIMARY","taskDefinition":"{TD}/web:6"}},{{"status":"ACTIVE","taskDefinition":"{TD}/web:5"}}]}}],
        "failures":[]}}"#
    );
    let rule =
        mock!(aws_sdk_ecs::Client::describe_services).then_http_response(move || ok(body.clone()));
    let ecs = mock_client!(aws_sdk_ecs, [&rule]);
    let used = revisions::in_use(&ecs, "prod", "web").await.unwrap();
    let how = |n: u8| used[&format!("{TD}/web:{n}")].clone();
    assert_eq!(how(7), "PRIMARY task set");
    assert_eq!(how(8), "ACTIVE task set");
    assert_eq!(how(6), "PRIMARY deployment");
    assert_eq!(how(5), "ACTIVE deployment");
    assert_eq!(how(9), "the service's task definition");

    let missing = mock!(aws_sdk_ecs::Client::describe_services).then_http_response(|| {
        ok(r#"{"services":[],"failures":[{"arn":"x","reason":"MISSING"}]}"#.into())
    });
    let ecs = mock_client!(aws_sdk_ecs, [&missing]);
    let err = revisions::in_use(&ecs, "prod", "web").await.unwrap_err();
    assert!(err.to_string().contains("was not found"), "{err}");
}

#[tokio::test]
async fn active_revisions_come_newest_first_of_the_family_only() {
    let body = format!(
        r#"{{"taskDefinitionArns":["{TD}/web:2","{TD}/web-worker:30","{TD}/web:10","{TD}/web:9"]}}"#
    );
    let rule = mock!(aws_sdk_ecs::Client::list_task_definitions)
        .match_requests(|r| {
            r.family_prefix() == Some("web")
                && r.status().map(|s| s.as_str()) == Some("ACTIVE")
                && r.sort().map(|s| s.as_str()) == Some("DESC")
        })
        .then_http_response(move || ok(body.clone()));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::MatchAny, [&rule]);
    let all = revisions::active(&ecs, "web", None).await.unwrap();
    assert_eq!(all, [10, 9, 2].map(|n| format!("{TD}/web:{n}")));
    let newest = revisions::active(&ecs, "web", Some(2)).await.unwrap();
    assert_eq!(newest, [10, 9].map(|n| format!("{TD}/web:{n}")));
}
