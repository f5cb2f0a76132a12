//! on-image-push at scale against moto: a push reads the push-trigger index and the entries it
//! names (two SSM requests however many services are registered); the lost-push sweep reads a
//! bounded part of the registry per run and continues from its cursor.

use berth::on_image_push::Context;
use berth_tests::*;
use serde_json::Value;

/// on-image-push on clients whose every request `recorder` sees.
fn pushes(env: &Env, recorder: &Recorder) -> Context {
    Context::new(&recorded_clients(&env.config, recorder), &env.settings())
}

async fn push(env: &Env, context: &Context, repository: &str, tag: &str, digest: &str) -> Value {
    let out = context
        .on_event(
            ecr_event("PUSH", "SUCCESS", repository, tag, digest),
            &env.invocation(),
        )
        .await
        .expect("handled");
    serde_json::to_value(out).unwrap()
}

async fn sweep(env: &Env, context: &Context) -> berth::Result<Value> {
    let event = serde_json::from_value(scheduled_event_json()).unwrap();
    let out = context.on_event(event, &env.invocation()).await?;
    Ok(serde_json::to_value(out).unwrap())
}

/// The operations of SSM requests recorded, short (`GetParametersByPath`, `GetParameters`).
fn ssm_operations(recorder: &Recorder) -> Vec<String> {
    recorder
        .operations()
        .iter()
        .filter(|o| o.starts_with("AmazonSSM."))
        .map(|o| o.trim_start_matches("AmazonSSM.").to_owned())
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_push_is_released_through_the_push_index_with_two_ssm_reads() {
    let mut env = Env::start().await;
    let recorder = Recorder::default();
    let context = pushes(&env, &recorder);
    let digest = env.push_image("web/app", "v2.0.0").await;
    let out = push(&env, &context, "web/app", "v2.0.0", &digest).await;
    assert_eq!(out["results"][0]["outcome"], "written", "{out}");
    assert_eq!(out["results"][0]["service"], "web");
    assert_eq!(
        ssm_operations(&recorder),
        ["GetParametersByPath", "GetParameters"]
    );
    let lookup = &recorder.bodies("GetParametersByPath")[0];
    assert_eq!(lookup["Path"], "/berth/push-index/web/app", "{lookup}");
    assert_eq!(lookup["Recursive"], false, "direct children only");
    let read = &recorder.bodies("GetParameters")[0];
    assert_eq!(read["Names"], serde_json::json!(["/berth/services/web"]));
}

/// The number of requests one push makes must not grow with the registry: the same with 10 and
/// with 200 registered services (each with a push trigger, so each has index entries too).
#[tokio::test(flavor = "current_thread")]
async fn one_push_costs_the_same_requests_with_10_and_200_registered_services() {
    let mut env = Env::start().await;
    let recorder = Recorder::default();
    let context = pushes(&env, &recorder);
    let mut counted = Vec::new();
    let mut registered = 1; // web
    for (total, tag) in [(10usize, "v3.0.0"), (200, "v3.0.1")] {
        env.register_services(registered - 1, total - 1, false)
            .await;
        registered = total;
        let digest = env.push_image("web/app", tag).await;
        recorder.clear();
        let out = push(&env, &context, "web/app", tag, &digest).await;
        assert_eq!(out["results"][0]["outcome"], "written", "{out}");
        counted.push((ssm_operations(&recorder), recorder.count()));
    }
    let [ten, two_hundred] = &counted[..] else {
        unreachable!()
    };
    assert_eq!(
        ten, two_hundred,
        "10 services: {ten:?}; 200 services: {two_hundred:?}"
    );
    let ten = &ten.0;
    assert_eq!(ten.len(), 2, "the index, then the entries: {ten:?}");
    assert_eq!(counted[0].1, 3, "and the manifest");
}

/// The registry entry is the truth: an index entry left behind by a service whose trigger now
/// watches another repository, or by a service no longer registered, releases nothing.
#[tokio::test(flavor = "current_thread")]
async fn a_stale_index_entry_releases_nothing() {
    let mut env = Env::start().await;
    let context = pushes(&env, &Recorder::default());
    // svc0000's trigger watches svc0000/app; an entry for web/app is left from before it moved.
    env.register_services(0, 1, false).await;
    env.put_index_entry("web/app", "svc0000").await;
    // A service deleted from the registry, its index entry not.
    env.put_index_entry("web/app", "gone").await;
    let digest = env.push_image("web/app", "v4.0.0").await;
    let out = push(&env, &context, "web/app", "v4.0.0", &digest).await;
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{out}");
    assert_eq!(
        (&results[0]["outcome"], &results[0]["service"]),
        (&"written".into(), &"web".into())
    );
    assert_eq!(env.list("manifests/").await, ["manifests/web/v4.0.0.json"]);

    // With web's own entry gone too, nothing is released, and the answer says what the index named.
    env.delete_index_entry("web/app", "web").await;
    let digest = env.push_image("web/app", "v4.0.1").await;
    let out = push(&env, &context, "web/app", "v4.0.1", &digest).await;
    assert_eq!(out["results"][0]["outcome"], "ignored", "{out}");
    let reason = out["results"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("svc0000") && reason.contains("gone"),
        "{reason}"
    );
    assert_eq!(env.list("manifests/").await, ["manifests/web/v4.0.0.json"]);
}

/// A service stack from before the index wrote no entry: its push event releases nothing, and
/// the lost-push sweep, which reads the registry itself, releases the push at its turn.
#[tokio::test(flavor = "current_thread")]
async fn a_push_without_an_index_entry_is_left_to_the_sweep_which_releases_it() {
    let mut env = Env::start().await;
    let context = pushes(&env, &Recorder::default());
    env.delete_index_entry("web/app", "web").await;
    let digest = env.push_image("web/app", "v5.0.0").await;
    let out = push(&env, &context, "web/app", "v5.0.0", &digest).await;
    assert_eq!(out["results"][0]["outcome"], "ignored", "{out}");
    let reason = out["results"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("no push-index entry under /berth/push-index/web/app"),
        "{reason}"
    );
    assert!(env.list("manifests/").await.is_empty());

    let out = sweep(&env, &context).await.expect("swept");
    assert_eq!(out["recovered"], 1, "{out}");
    assert_eq!(out["results"][0]["release"], "v5.0.0", "{out}");
    let written = env.get_json("manifests/web/v5.0.0.json").await.unwrap();
    assert_eq!(
        written["images"]["app"],
        format!("{}@{digest}", repo_uri("web/app"))
    );
}

/// Each run reads at most `sweep_pages` registry pages and describes only the repositories of
/// the entries on them; the next run continues with SSM's NextToken from the cursor in the
/// release bucket, and after the last page a new cycle starts from the first.
#[tokio::test(flavor = "current_thread")]
async fn the_sweep_reads_at_most_its_pages_a_run_and_continues_from_the_cursor() {
    let env = Env::start().await;
    // web and 24 more: 25 entries, three pages of at most 10.
    env.register_services(0, 24, true).await;
    let recorder = Recorder::default();
    let mut context = pushes(&env, &recorder);
    context.sweep_pages = 1;
    let mut swept = std::collections::BTreeSet::new();
    let mut tokens = Vec::new();
    for run in 0..3 {
        recorder.clear();
        let out = sweep(&env, &context).await.expect("swept");
        let lists = recorder.bodies("GetParametersByPath");
        assert_eq!(lists.len(), 1, "run {run}: one page");
        tokens.push(lists[0].get("NextToken").cloned());
        let described = recorder.bodies("DescribeImages").len();
        let results = out["results"].as_array().unwrap();
        assert_eq!(described, results.len(), "run {run}: {out}");
        assert!(described <= 10, "run {run}: {described} repositories");
        for r in results {
            let reason = r["reason"].as_str().unwrap_or_default();
            let service = r["service"]
                .as_str()
                .unwrap_or_else(|| reason.split(':').next().unwrap())
                .to_owned();
            assert!(
                swept.insert(service),
                "run {run} swept a service twice: {out}"
            );
        }
        let cursor = env.get_json("sweep/cursor.json").await.expect("cursor");
        assert_eq!(cursor["runs"], run + 1, "{cursor}");
    }
    assert_eq!(
        swept.len(),
        25,
        "every push-trigger service once: {swept:?}"
    );
    assert_eq!(tokens[0], None, "the first run starts at the first page");
    let cursor = env.get_json("sweep/cursor.json").await.unwrap();
    assert_eq!(cursor["next_token"], Value::Null, "{cursor}");
    assert_eq!(cursor["last_cycle"]["pages"], 3, "{cursor}");
    assert_eq!(cursor["last_cycle"]["entries"], 25, "{cursor}");
    for run in 1..3 {
        assert!(tokens[run].is_some(), "run {run} continued: {tokens:?}");
    }

    // The fourth run starts the next cycle from the first page.
    recorder.clear();
    sweep(&env, &context).await.expect("swept");
    assert_eq!(
        recorder.bodies("GetParametersByPath")[0].get("NextToken"),
        None
    );
    let cursor = env.get_json("sweep/cursor.json").await.unwrap();
    assert_eq!(cursor["earlier_cycles_ms"].as_array().unwrap().len(), 1);
}
