//! The `berth` command line: offline validate/render, and history/status/rollback against moto.

use std::process::{Command, Output};

use berth_tests::runtime::function_binary;
use berth_tests::*;
use serde_json::{Value, json};

fn berth(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(function_binary("berth"));
    cmd.env_clear().args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("berth runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    p.display().to_string()
}

const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn scratch(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("berth-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn validate_lists_every_problem_and_exits_1() {
    let dir = scratch("validate");
    let good = write(
        &dir,
        "good.json",
        &json!({"schema": "berth/v1", "service": "web", "release": "v1",
        "images": {"app": format!("{}@{DIGEST}", repo_uri("web/app"))}}),
    );
    let out = berth(&["validate", &good], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("valid manifest for web/v1"));

    let bad = write(
        &dir,
        "bad.json",
        &json!({"schema": "berth/v2", "service": "web", "release": "v 1",
        "images": {"app": format!("{}:latest", repo_uri("web/app")), "worker": "docker.io/x:1"}, "extra": 1}),
    );
    let out = berth(&["validate", &bad], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for field in [
        "schema:",
        "release:",
        "images.app:",
        "images.worker:",
        "extra: unknown field",
    ] {
        assert!(stdout.contains(field), "{field} missing from:\n{stdout}");
    }
    // With the registry entry, unknown containers are named too.
    let registry = write(&dir, "registry.json", &web_registry(&["subnet-1".into()]));
    let out = berth(&["validate", &good, "--registry", &registry], &[]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let odd = write(
        &dir,
        "odd.json",
        &json!({"schema": "berth/v1", "service": "web", "release": "v1",
        "images": {"sidecar": format!("{}@{DIGEST}", repo_uri("web/app"))}}),
    );
    let out = berth(&["validate", &odd, "--registry", &registry], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("images.sidecar: container \"sidecar\" is not in the registry")
    );

    let out = berth(&["validate"], &[]);
    assert_eq!(out.status.code(), Some(2), "usage error");
    let out = berth(&["validate", "/no/such/file.json"], &[]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn render_offline_shows_the_three_files() {
    let dir = scratch("render");
    let manifest = write(
        &dir,
        "m.json",
        &json!({"schema": "berth/v1", "service": "web", "release": "v1",
        "images": {"app": format!("{}@{DIGEST}", repo_uri("web/app")), "nginx": format!("{}:1.27", repo_uri("web/nginx"))}}),
    );
    let registry = write(&dir, "registry.json", &web_registry(&["subnet-1".into()]));
    let taskdef = write(
        &dir,
        "td.json",
        &json!({"taskDefinition": {
        "family": "web", "revision": 4, "status": "ACTIVE",
        "containerDefinitions": [
            {"name": "app", "image": format!("{}:old", repo_uri("web/app"))},
            {"name": "nginx", "image": format!("{}:old", repo_uri("web/nginx"))},
            {"name": "log-router", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"}]}}),
    );
    let out = berth(
        &[
            "render",
            &manifest,
            "--task-def",
            &taskdef,
            "--registry",
            &registry,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("{}@{DIGEST}", repo_uri("web/app"))),
        "{stdout}"
    );
    assert!(
        stdout.contains("aws-for-fluent-bit:stable"),
        "sidecar untouched"
    );
    assert!(!stdout.contains("\"revision\""), "read-only fields dropped");
    assert!(stdout.contains("ContainerName: \"nginx\""));
    assert!(stdout.contains("\"ImageURI\""));
    assert!(text(&out.stderr).contains("tags stay tags: nginx (1.27)"));

    let out = berth(&["render", &manifest, "--task-def", &taskdef], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "offline render needs the registry"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn releases_rollback_and_status_against_moto() {
    let env = Env::start().await;
    let vars = vec![
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", env.moto.endpoint.clone()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("BERTH_RELEASE_BUCKET", BUCKET.to_owned()),
    ];
    let out = berth(&["rollback", "web"], &vars);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no release has succeeded"));

    for (release, tag, state) in [
        ("v1", "v1.0.0", "SUCCEEDED"),
        ("v2", "3f9c2e1", "FAILED"),
        ("v3", "v1.4.2", "SUCCEEDED"),
    ] {
        let out = env.release_web(release, tag).await;
        let execution = out["pipeline_execution_id"].as_str().unwrap();
        let recorded = env.pipeline_event(execution, state).await;
        assert_eq!(recorded["outcome"], "recorded", "{recorded}");
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }

    let out = berth(&["releases", "web", "--output", "json"], &vars);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["release"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["v3", "v2", "v1"]);
    assert_eq!(rows[1]["status"], "FAILED");
    assert!(
        rows[0]["images"]["app"]
            .as_str()
            .unwrap()
            .contains("@sha256:")
    );
    let table = berth(&["releases", "web"], &vars);
    assert!(
        text(&table.stdout)
            .lines()
            .next()
            .unwrap()
            .starts_with("RELEASE")
    );

    let out = berth(&["rollback", "web", "--output", "json"], &vars);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["release"], "v1", "failed v2 is skipped");
    assert!(r["pipeline_execution_id"].is_string());

    let out = berth(&["status", "web", "--output", "json"], &vars);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["pipeline"], "berth-web");
    assert_eq!(s["latest_release"]["release"], "v3");
    assert_eq!(
        s["current_execution"]["id"], r["pipeline_execution_id"],
        "the rollback is the newest execution"
    );
}

fn moto_vars(env: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", REGION.to_owned()),
        ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
        ("AWS_ENDPOINT_URL", env.moto.endpoint.clone()),
        ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ("BERTH_RELEASE_BUCKET", BUCKET.to_owned()),
        ("BERTH_ACCOUNT_ID", ACCOUNT.to_owned()),
    ]
}

/// The dry run resolves tags as a release would and shows, container by container, what
/// changes against the task definition the ECS service runs now.
#[tokio::test(flavor = "current_thread")]
async fn render_against_aws_diffs_with_what_the_service_runs() {
    let env = Env::start().await;
    let dir = scratch("render-online");
    let path = write(
        &dir,
        "m.json",
        &json!({"schema": "berth/v1", "service": "web", "release": "v1.4.2",
                "images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))}}),
    );
    let out = berth(&["render", &path], &moto_vars(&env));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let app = repo_uri("web/app");
    let pinned = format!("{app}@{}", env.digest("web/app:v1.4.2"));
    assert!(
        stdout.contains("--- diff against the running task definition (arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1) ---"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("- app: {app}:v1.0.0\n+ app: {pinned}")),
        "{stdout}"
    );
    let nginx = format!("{}@{}", repo_uri("web/nginx"), env.digest("web/nginx:1.25"));
    assert!(
        stdout.contains(&format!(
            "- nginx: {}:1.25\n+ nginx: {nginx}",
            repo_uri("web/nginx")
        )),
        "nginx is not named: it keeps its image, now pinned\n{stdout}"
    );
    assert!(
        stdout.contains("  datadog: public.ecr.aws/datadog/agent:7 (unchanged)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\"ImageURI\": \"{pinned}\"")),
        "{stdout}"
    );

    // A tag ECR does not have is refused, naming the field.
    let bad = write(
        &dir,
        "bad.json",
        &json!({"schema": "berth/v1", "service": "web", "release": "v9",
                "images": {"app": format!("{app}:0badc0de")}}),
    );
    let out = berth(&["render", &bad], &moto_vars(&env));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("images.app: tag \"0badc0de\" not found"),
        "{}",
        text(&out.stderr)
    );
}

/// A stand-in for CodePipeline's execution reads: each execution answers `InProgress` twice,
/// then its final status; stage states come with it.
async fn pipeline_reads(final_status: &'static str) -> StandIn {
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    StandIn::start(std::sync::Arc::new(move |op, body| match op {
        "GetPipelineExecution" => {
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let status = if n < 2 { "InProgress" } else { final_status };
            (200, json!({"pipelineExecution": {"pipelineName": body["pipelineName"],
                "pipelineExecutionId": body["pipelineExecutionId"], "status": status}}))
        }
        "GetPipelineState" => (200, json!({"pipelineName": body["name"], "stageStates": [
            {"stageName": "Source", "latestExecution": {"pipelineExecutionId": "x", "status": "Succeeded"}},
            {"stageName": "Release", "latestExecution": {"pipelineExecutionId": "x", "status": "InProgress"}}]})),
        _ => (400, json!({"__type": "UnknownOperationException"})),
    }))
    .await
}

/// Uploads with `berth release --wait`, plays on-manifest for the upload, and returns the
/// command's exit code and output.
async fn release_and_wait(
    env: &Env,
    release: &str,
    app: &str,
    reads: &StandIn,
) -> (Option<i32>, String, String) {
    let dir = scratch(&format!("wait-{release}"));
    let path = write(
        &dir,
        "m.json",
        &json!({"schema": "berth/v1", "service": "web", "release": release,
                "images": {"app": app}, "migration": null}),
    );
    let mut vars = moto_vars(env);
    vars.push(("AWS_ENDPOINT_URL_CODEPIPELINE", reads.endpoint.clone()));
    let mut cmd = tokio::process::Command::new(function_binary("berth"));
    cmd.env_clear()
        .args([
            "release",
            &path,
            "--wait",
            "--poll-seconds",
            "1",
            "--timeout-seconds",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in &vars {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("berth runs");
    let key = format!("manifests/web/{release}.json");
    let version = loop {
        if let Some(v) = env.versions(&key).await.first() {
            break v.clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    env.deliver(&key, &version)
        .await
        .expect("on-manifest handles it");
    let out = child.wait_with_output().await.expect("berth ends");
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "current_thread")]
async fn release_wait_follows_the_execution_to_its_end() {
    let env = Env::start().await;
    let app = format!("{}:v1.4.2", repo_uri("web/app"));
    let reads = pipeline_reads("Succeeded").await;
    let (code, stdout, stderr) = release_and_wait(&env, "v5.0.0", &app, &reads).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("uploaded s3://berth-releases/manifests/web/v5.0.0.json"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("pipeline berth-web execution "),
        "{stdout}"
    );
    assert_eq!(
        &lines[2..],
        [
            "InProgress  Source:Succeeded Release:InProgress",
            "Succeeded  Source:Succeeded Release:InProgress"
        ],
        "one line per change"
    );

    let reads = pipeline_reads("Failed").await;
    let (code, stdout, stderr) = release_and_wait(&env, "v5.0.1", &app, &reads).await;
    assert_eq!(code, Some(4), "{stdout}\n{stderr}");
    assert!(stderr.contains("ended Failed"), "{stderr}");

    let latest = format!("{}:latest", repo_uri("web/app"));
    let (code, _, stderr) = release_and_wait(&env, "v5.0.2", &latest, &reads).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("rejected:") && stderr.contains("images.app"),
        "{stderr}"
    );
}

#[test]
fn validate_checks_a_group_manifest_and_each_of_its_services() {
    let dir = scratch("validate-group");
    let app = |repo: &str, tag: &str| format!("{}:{tag}", repo_uri(repo));
    let good = write(
        &dir,
        "group.json",
        &json!({"schema": "berth/group/v1", "group": "shop", "release": "r1", "services": {
            "web": {"images": {"app": app("web/app", "v1")}},
            "api": {"images": {"app": app("api/app", "v2")}, "migration": null}}}),
    );
    let registry = write(&dir, "web.json", &web_registry(&["subnet-1".to_owned()]));
    let out = berth(&["validate", &good, "--registry", &registry], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        format!("{good}: valid group manifest for group shop release r1 (2 service(s))\n")
    );
    let bad = write(
        &dir,
        "bad.json",
        &json!({"schema": "berth/group/v1", "group": "shop", "release": "r1", "services": {
            "web": {"images": {"app": app("web/app", "v1"), "bogus": app("web/app", "v1")}},
            "api": {"images": {"app": app("api/app", "latest")}, "extra": 1}}}),
    );
    let out = berth(&["validate", &bad, "--registry", &registry], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    for expected in [
        "services.api.extra: unknown field",
        "services.api.images.app: ",
        "services.web.images.bogus: container \"bogus\" is not in the registry for \"web\"",
    ] {
        assert!(
            stdout.contains(&format!("{bad}: {expected}")),
            "{expected}: {stdout}"
        );
    }
    let two = berth(
        &[
            "validate",
            &good,
            "--registry",
            &registry,
            "--registry",
            &registry,
        ],
        &[],
    );
    assert_eq!(two.status.code(), Some(0), "repeated for a group");
    let plain = write(
        &dir,
        "m.json",
        &json!({"schema": "berth/v1", "service": "web", "release": "r1",
            "images": {"app": app("web/app", "v1")}}),
    );
    let out = berth(
        &[
            "validate",
            &plain,
            "--registry",
            &registry,
            "--registry",
            &registry,
        ],
        &[],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "one registry entry for a release manifest"
    );
}

/// An empty `BERTH_ACCOUNT_ID` counts as unset, as every other `BERTH_*` variable does: bare
/// repository names live in the caller's own account (STS), not in an account named "".
#[tokio::test(flavor = "current_thread")]
async fn an_empty_account_id_is_the_callers_account() {
    let env = Env::start().await;
    let dir = scratch("render-empty-account");
    let path = write(
        &dir,
        "m.json",
        &json!({"schema": "berth/v1", "service": "web", "release": "v1.4.2",
                "images": {"app": format!("{}:v1.4.2", repo_uri("web/app"))}}),
    );
    let mut vars = moto_vars(&env);
    vars.retain(|(k, _)| *k != "BERTH_ACCOUNT_ID");
    vars.push(("BERTH_ACCOUNT_ID", " ".to_owned()));
    let out = berth(&["render", &path], &vars);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", text(&out.stderr));
    let nginx = format!("{}@{}", repo_uri("web/nginx"), env.digest("web/nginx:1.25"));
    assert!(
        stdout.contains(&nginx),
        "the bare name web/nginx resolved\n{stdout}"
    );
}
