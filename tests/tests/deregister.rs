//! on-pipeline-event deregisters the task definition revisions of a release that ended FAILED
//! or STOPPED, against moto: never what the ECS service uses, never the images of the release
//! running now.

use std::time::{Duration, SystemTime};

use berth_tests::*;
use serde_json::Value;

fn execution(release: &Value) -> &str {
    release["pipeline_execution_id"].as_str().unwrap()
}

/// on-pipeline-event on clients whose every request is recorded.
async fn finish(env: &Env, release: &Value, state: &str) -> (Value, Vec<String>) {
    let recorder = Recorder::default();
    let clients = recorded_clients(&env.config, &recorder);
    let notifier = berth::notify::Notifier::new(None).unwrap();
    let context = berth::on_pipeline_event::Context::new(&clients, &env.settings(), notifier);
    let event = pipeline_event_json("berth-web", execution(release), state);
    let out = context
        .on_event(serde_json::from_value(event).unwrap(), SystemTime::now())
        .await
        .unwrap();
    (serde_json::to_value(out).unwrap(), recorder.operations())
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_release_loses_its_revisions_but_never_what_runs() {
    let env = Env::start().await;
    let seeded = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1";
    let v1 = env.release_web("v1", "v1.0.0").await;
    let running = env.register_release(&v1).await;
    env.cut_over(&running).await;
    finish(&env, &v1, "SUCCEEDED").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // v2 fails after migrate and the Deploy action each registered its task definition.
    let v2 = env.release_web("v2", "3f9c2e1").await;
    let migrated = env.register_release(&v2).await;
    let deployed = env.register_release(&v2).await;
    let (out, requests) = finish(&env, &v2, "FAILED").await;
    assert_eq!(out["status"], "FAILED", "{out}");
    assert_eq!(out["deregistered"], serde_json::json!([deployed, migrated]));
    assert_eq!(env.revision_status(&migrated).await, "INACTIVE");
    assert_eq!(env.revision_status(&deployed).await, "INACTIVE");
    assert_eq!(
        env.revision_status(&running).await,
        "ACTIVE",
        "what runs stays"
    );
    assert_eq!(
        env.revision_status(seeded).await,
        "ACTIVE",
        "not the release's"
    );
    let record = env.get_json("releases/web/v2.json").await.unwrap();
    assert_eq!(record["status"], "FAILED");
    assert_eq!(
        record["deregistration"]["deregistered"],
        serde_json::json!([deployed, migrated])
    );
    let ecs: Vec<&String> = requests
        .iter()
        .filter(|r| r.contains("AmazonEC2ContainerService"))
        .collect();
    assert!(
        requests.len() <= 20 && ecs.len() <= 8,
        "{} requests: {requests:?}",
        requests.len()
    );

    // A repeated FAILED event changes nothing and deregisters nothing more.
    let (again, _) = finish(&env, &v2, "FAILED").await;
    assert_eq!(again["outcome"], "ignored", "{again}");
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // v3 re-releases v1's images and fails: its revision runs the images of the release
    // running now, and stays.
    let v3 = env.release_web("v3", "v1.0.0").await;
    let same = env.register_release(&v3).await;
    let (out, _) = finish(&env, &v3, "FAILED").await;
    assert!(out.get("deregistered").is_none(), "{out}");
    assert_eq!(env.revision_status(&same).await, "ACTIVE");
    let record = env.get_json("releases/web/v3.json").await.unwrap();
    let kept = record["deregistration"]["kept"][0].as_str().unwrap();
    assert_eq!(
        kept,
        format!("{same}: runs the images of v1, the release running now")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // v4 is stopped after its deployment finished (Stop and wait): the revision serves
    // production and stays.
    let v4 = env.release_web("v4", "v1.4.2").await;
    let serving = env.register_release(&v4).await;
    env.cut_over(&serving).await;
    let (out, _) = finish(&env, &v4, "STOPPED").await;
    assert_eq!(out["status"], "STOPPED");
    assert_eq!(env.revision_status(&serving).await, "ACTIVE");
    let record = env.get_json("releases/web/v4.json").await.unwrap();
    assert_eq!(
        record["deregistration"]["kept"][0],
        format!("{serving}: in use by the ECS service (PRIMARY task set)")
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // A record that does not name its ECS service (written before berth recorded it): nothing is
    // deregistered, the reason is noted, and the status is recorded all the same.
    let v5 = env.release_web("v5", "3f9c2e1").await;
    let orphan = env.register_release(&v5).await;
    let mut old = env.get_json("releases/web/v5.json").await.unwrap();
    let fields = old.as_object_mut().unwrap();
    fields.remove("cluster");
    fields.remove("ecs_service");
    env.clients
        .s3
        .put_object()
        .bucket(BUCKET)
        .key("releases/web/v5.json")
        .body(old.to_string().into_bytes().into())
        .send()
        .await
        .unwrap();
    let (out, _) = finish(&env, &v5, "FAILED").await;
    assert_eq!(out["status"], "FAILED", "{out}");
    assert_eq!(env.revision_status(&orphan).await, "ACTIVE");
    let record = env.get_json("releases/web/v5.json").await.unwrap();
    assert_eq!(record["status"], "FAILED");
    assert!(
        record["deregistration"]["error"]
            .as_str()
            .unwrap()
            .contains("names no ECS service"),
        "{record}"
    );
}
