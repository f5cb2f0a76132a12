//! A warm on-manifest instance reads a service's template while it reads the registry entry,
//! from where the service's last release found it; the entry stays the authority.

use std::time::Duration;

use berth::aws::Clients;
use berth_tests::proxy::{Proxy, Routes, levels};
use berth_tests::*;
use serde_json::{Value, json};

fn manifest(release: &str, env: &Env) -> Value {
    json!({
        "schema": "berth/v1",
        "service": "web",
        "release": release,
        "images": {
            "app": format!("{}:3f9c2e1", repo_uri("web/app")),
            "nginx": format!("{}@{}", repo_uri("web/nginx"), env.digest("web/nginx:1.27")),
        },
        "migration": null
    })
}

async fn release(env: &Env, context: &berth::on_manifest::Context, release: &str) -> Value {
    let key = format!("manifests/web/{release}.json");
    let body = manifest(release, env).to_string();
    let version = env.put_manifest(&key, body.as_bytes()).await;
    let out = context
        .on_event(s3_event(&key, &version), &env.invocation())
        .await
        .expect("handled");
    serde_json::to_value(out).unwrap()["results"][0].clone()
}

/// Counted with every AWS request held 40 ms, so that requests sent together overlap and
/// requests that waited for one another do not.
#[tokio::test(flavor = "current_thread")]
async fn a_warm_release_waits_for_six_round_trips_not_seven() {
    let env = Env::start().await;
    let mut routes = Routes::to(&env.moto.endpoint);
    routes.request_delay = Duration::from_millis(40);
    let proxy = Proxy::start(routes).await;
    let clients = Clients::new(&sdk_config(&proxy.endpoint));
    let context = berth::on_manifest::Context::new(clients, env.settings());

    proxy.take_seen();
    let first = release(&env, &context, "r1").await;
    assert_eq!(first["outcome"], "started", "{first}");
    let cold = proxy.take_seen();
    let second = release(&env, &context, "r2").await;
    assert_eq!(second["outcome"], "started", "{second}");
    let warm = proxy.take_seen();

    assert_eq!(levels(&cold), 7, "{:?}", ops(&cold));
    assert_eq!(levels(&warm), 6, "{:?}", ops(&warm));
    // The same requests, only sooner: nothing is read twice.
    assert_eq!(ops(&cold).len(), ops(&warm).len());
    let at = |op: &str| warm.iter().find(|s| s.operation == op).expect(op);
    assert!(
        at("DescribeServices").started < at("GetParameter").ended,
        "the template read goes out with the registry read"
    );
}

fn ops(seen: &[berth_tests::proxy::Seen]) -> Vec<&str> {
    seen.iter().map(|s| s.operation.as_str()).collect()
}

async fn sidecar_of_release(env: &Env, result: &Value) -> String {
    let version = result["artifact_version_id"]
        .as_str()
        .expect("artifact version");
    let zip = env
        .get_object("artifacts/web/source.zip", Some(version))
        .await
        .expect("artifact");
    let file = berth::render::read_artifact_file(&zip, "taskdef.json").expect("taskdef.json");
    let taskdef: Value = serde_json::from_slice(&file).unwrap();
    taskdef["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "datadog")
        .and_then(|c| c["image"].as_str())
        .expect("sidecar")
        .to_owned()
}

#[tokio::test(flavor = "current_thread")]
async fn a_service_moved_since_the_last_release_is_read_where_the_entry_now_says() {
    let env = Env::start().await;
    let context = berth::on_manifest::Context::new(env.clients.clone(), env.settings());
    let first = release(&env, &context, "r1").await;
    assert_eq!(first["outcome"], "started", "{first}");
    assert_eq!(
        sidecar_of_release(&env, &first).await,
        "public.ecr.aws/datadog/agent:7"
    );

    // The team moves web to a new ECS service running a revision with another sidecar.
    let revision = env
        .register_revision("public.ecr.aws/datadog/agent:8")
        .await;
    env.create_ecs_service("web-next", &revision).await;
    let subnets = env.default_subnets().await;
    let mut entry = web_registry(&subnets);
    entry["ecs_service"] = json!("web-next");
    env.put_registry(&entry).await;

    let second = release(&env, &context, "r2").await;
    assert_eq!(second["outcome"], "started", "{second}");
    assert_eq!(
        sidecar_of_release(&env, &second).await,
        "public.ecr.aws/datadog/agent:8",
        "the template of the service the entry names now"
    );
}
