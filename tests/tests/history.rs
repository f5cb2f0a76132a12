//! Release status tracking (on-pipeline-event) and rollback to the last known good release,
//! against moto.

use std::time::SystemTime;

use berth::releases::{Rollback, RollbackOutcome};
use berth_tests::*;
use serde_json::Value;

async fn finish(env: &Env, execution: &str, state: &str) -> Value {
    env.pipeline_event(execution, state).await
}

/// A rollback of `web`, or why it was refused.
async fn rollback(env: &Env, to: Option<&str>) -> Result<Rollback, String> {
    match env
        .releases()
        .rollback("web", to, SystemTime::now())
        .await
        .unwrap()
    {
        RollbackOutcome::Started(r) => Ok(r),
        RollbackOutcome::Refused(reason) => Err(reason),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn states_are_recorded_and_rollback_skips_failed_releases() {
    let env = Env::start().await;
    let mut executions = Vec::new();
    for (release, tag) in [("v1", "v1.0.0"), ("v2", "3f9c2e1"), ("v3", "v1.4.2")] {
        let out = env.release_web(release, tag).await;
        assert_eq!(out["outcome"], "started", "{out}");
        executions.push(out["pipeline_execution_id"].as_str().unwrap().to_owned());
        // Distinct start times (records carry seconds).
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    let out = finish(&env, &executions[0], "STARTED").await;
    assert_eq!(out["status"], "IN_PROGRESS", "{out}");
    for (execution, state) in [
        (&executions[0], "SUCCEEDED"),
        (&executions[1], "FAILED"),
        (&executions[2], "SUCCEEDED"),
    ] {
        let out = finish(&env, execution, state).await;
        assert_eq!(out["outcome"], "recorded", "{out}");
        assert!(out["duration_seconds"].is_u64(), "{out}");
    }
    let v2 = env.get_json("releases/web/v2.json").await.unwrap();
    assert_eq!(v2["status"], "FAILED");
    assert!(v2["finished_at"].is_string());

    let records = env.releases().list("web").await.unwrap();
    let names: Vec<&str> = records.iter().map(|r| r.release.as_str()).collect();
    assert_eq!(names, ["v3", "v2", "v1"], "newest first");

    // Last known good from v3 is v1: v2 failed.
    let r = rollback(&env, None).await.expect("a target");
    assert_eq!(r.release, "v1");
    let v1 = env.get_json("releases/web/v1.json").await.unwrap();
    assert_eq!(
        r.artifact_version_id,
        v1["artifact_version_id"].as_str().unwrap()
    );
    let sent = env.pipeline_requests.bodies("StartPipelineExecution");
    let last = sent.last().unwrap();
    assert_eq!(
        last["sourceRevisions"][0]["revisionValue"],
        v1["artifact_version_id"]
    );
    assert!(
        last["variables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "BERTH_ROLLBACK" && v["value"] == "true")
    );
    assert_eq!(
        v1["redeployments"][0]["pipeline_execution_id"],
        r.pipeline_execution_id.as_str()
    );

    // The rollback execution's success lands on v1's record...
    let out = finish(&env, &r.pipeline_execution_id, "SUCCEEDED").await;
    assert_eq!(
        (out["release"].as_str(), out["rollback"].as_bool()),
        (Some("v1"), Some(true)),
        "{out}"
    );
    let v1 = env.get_json("releases/web/v1.json").await.unwrap();
    assert_eq!(v1["redeployments"][0]["status"], "SUCCEEDED");
    assert_eq!(
        v1["status"], "SUCCEEDED",
        "the original status is untouched"
    );
    // ...and v1 is now current: nothing older is known good.
    let refused = rollback(&env, None).await.unwrap_err();
    assert!(
        refused.contains("nothing to roll back to") && refused.contains("v1"),
        "{refused}"
    );

    // An explicit target works; an unknown one is refused.
    let r = rollback(&env, Some("v3")).await.expect("v3");
    assert_eq!(r.release, "v3");
    let refused = rollback(&env, Some("v9")).await.unwrap_err();
    assert!(refused.contains("no release \"v9\""), "{refused}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_gone_artifact_and_foreign_executions_are_handled() {
    let env = Env::start().await;
    let out = env.release_web("v1", "v1.0.0").await;
    let execution = out["pipeline_execution_id"].as_str().unwrap().to_owned();
    let artifact = out["artifact_version_id"].as_str().unwrap().to_owned();
    finish(&env, &execution, "SUCCEEDED").await;
    env.clients
        .s3
        .delete_object()
        .bucket(BUCKET)
        .key("artifacts/web/source.zip")
        .version_id(&artifact)
        .send()
        .await
        .unwrap();
    let refused = rollback(&env, Some("v1")).await.unwrap_err();
    assert!(refused.contains("is gone"), "{refused}");

    // An execution berth did not start (no BERTH_ variables) is ignored.
    let foreign = env
        .clients
        .codepipeline
        .start_pipeline_execution()
        .name("berth-web")
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap();
    let out = finish(&env, &foreign, "SUCCEEDED").await;
    assert_eq!(out["outcome"], "ignored");
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("not started by berth"),
        "{out}"
    );
    // Real executions berth did not start carry the variables' defaults, `(none)`, which are
    // not names: ignored too.
    let defaults = |name: &str| {
        aws_sdk_codepipeline::types::PipelineVariable::builder()
            .name(name)
            .value("(none)")
            .build()
            .unwrap()
    };
    let manual = env
        .clients
        .codepipeline
        .start_pipeline_execution()
        .name("berth-web")
        .variables(defaults("BERTH_SERVICE"))
        .variables(defaults("BERTH_RELEASE"))
        .send()
        .await
        .unwrap()
        .pipeline_execution_id
        .unwrap();
    let out = finish(&env, &manual, "SUCCEEDED").await;
    assert_eq!(out["outcome"], "ignored", "{out}");
    assert!(
        out["reason"]
            .as_str()
            .unwrap()
            .contains("not started by berth"),
        "{out}"
    );
    // STOPPING changes nothing.
    let out = finish(&env, &execution, "STOPPING").await;
    assert_eq!(out["outcome"], "ignored");
}

/// CodePipeline's events reach EventBridge "best effort": when v2's SUCCEEDED never arrives, v2
/// still looks IN_PROGRESS and v1 looks current, so a rollback would skip the real last known
/// good (v1) and go to v0. Before deciding, the rollback asks CodePipeline about executions that
/// are not final, records what it learns, and rolls back from v2 to v1.
#[tokio::test(flavor = "current_thread")]
async fn a_lost_success_event_is_caught_up_before_a_rollback_decides() {
    use aws_sdk_codepipeline::operation::get_pipeline_execution::GetPipelineExecutionOutput;
    use aws_sdk_codepipeline::operation::start_pipeline_execution::StartPipelineExecutionOutput;
    use aws_sdk_codepipeline::types::{PipelineExecution, PipelineExecutionStatus};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    let env = Env::start().await;
    let mut executions = Vec::new();
    for (release, tag) in [("v0", "v1.0.0"), ("v1", "3f9c2e1"), ("v2", "v1.4.2")] {
        let out = env.release_web(release, tag).await;
        executions.push(out["pipeline_execution_id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    finish(&env, &executions[0], "SUCCEEDED").await;
    finish(&env, &executions[1], "SUCCEEDED").await;
    // v2's SUCCEEDED event is lost; CodePipeline knows it succeeded.
    let v2 = executions[2].clone();
    let state =
        mock!(aws_sdk_codepipeline::Client::get_pipeline_execution).then_output(move || {
            GetPipelineExecutionOutput::builder()
                .pipeline_execution(
                    PipelineExecution::builder()
                        .pipeline_execution_id(&v2)
                        .status(PipelineExecutionStatus::Succeeded)
                        .build(),
                )
                .build()
        });
    let start = mock!(aws_sdk_codepipeline::Client::start_pipeline_execution).then_output(|| {
        StartPipelineExecutionOutput::builder()
            .pipeline_execution_id("rollback-1")
            .build()
    });
    let releases = berth::releases::Releases::new(
        mock_client!(aws_sdk_codepipeline, RuleMode::MatchAny, [&state, &start]),
        berth::store::Bucket::new(env.clients.s3.clone(), BUCKET),
    );
    let RollbackOutcome::Started(r) = releases
        .rollback("web", None, SystemTime::now())
        .await
        .unwrap()
    else {
        panic!("a known good release exists")
    };
    assert_eq!(r.release, "v1", "from v2 (caught up) back to v1");
    assert_eq!(state.num_calls(), 1, "only v2's execution was not final");
    let v2 = env.get_json("releases/web/v2.json").await.unwrap();
    assert_eq!(v2["status"], "SUCCEEDED");
}
