//! `berth doctor` against moto: an account set up the way the stacks set it up passes every
//! check; then one thing is broken at a time, and the doctor names it, with its fix and the
//! exit code (1 for a failure, 0 when there are only warnings).
//!
//! - `stacks`: what the stacks add to the harness's seeded `web`; `simulator`: IAM's policy
//!   simulator, which moto lacks.
//! - `deploy`: the ECS service, the deployment group and the pipeline broken;
//!   `resources`: repositories, subnets, roles, the bucket, the registry, AWS failures;
//!   `task`: a task target's schedules and rule targets.

mod deploy;
mod resources;
mod simulator;
mod stacks;
mod task;

use aws_sdk_ecr::types::ImageTagMutability;
use berth_tests::runtime::function_binary;
use berth_tests::*;
use serde_json::Value;

use simulator::{Simulator, allow_all, simulator};
use stacks::*;

const MIGRATE_ROLE: &str = "arn:aws:iam::123456789012:role/berth-migrate";

/// How the account differs from what the stacks create (moto can neither update nor delete a
/// deployment group, so those parts are chosen before they are made).
struct Setup {
    /// The ECS service the deployment group deploys.
    group_deploys: &'static str,
    /// Whether the release bucket notifies on-manifest.
    notify: bool,
}

const STACKS: Setup = Setup {
    group_deploys: "web",
    notify: true,
};

/// The harness's `web`, completed the way the stacks and the reference service complete it:
/// a private migration subnet, immutable tags, tasks in the blue target group, the CodeDeploy
/// application and deployment group, the bucket's notification to on-manifest.
async fn account(setup: Setup) -> Env {
    let env = Env::start().await;
    let subnet = private_subnet(&env).await;
    env.put_registry(&web_registry(&[subnet])).await;
    for repo in ["web/app", "web/nginx"] {
        tag_mutability(&env, repo, ImageTagMutability::Immutable).await;
    }
    in_blue_target_group(&env).await;
    deployment_group(&env, setup.group_deploys).await;
    if setup.notify {
        notify_on_manifest(&env).await;
    }
    env
}

async fn healthy() -> Env {
    account(STACKS).await
}

/// `berth doctor <args>` against moto, IAM answered by `iam`, S3 through the proxy that mends
/// moto's bucket versioning and notification answers: exit code, stdout, stderr.
async fn doctor(env: &Env, iam: &Simulator, args: &[&str]) -> (Option<i32>, String, String) {
    doctor_with(env, iam, args, &[]).await
}

/// Same as [`doctor`], with more environment variables (or some of its own replaced).
async fn doctor_with(
    env: &Env,
    iam: &Simulator,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let s3 = proxy::Proxy::start(proxy::Routes::to(&env.moto.endpoint)).await;
    let out = tokio::process::Command::new(function_binary("berth"))
        .env_clear()
        .arg("doctor")
        .args(args)
        .envs([
            ("AWS_REGION", REGION),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", env.moto.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_S3", s3.endpoint.as_str()),
            ("AWS_ENDPOINT_URL_IAM", iam.endpoint.as_str()),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("BERTH_RELEASE_BUCKET", BUCKET),
            ("BERTH_ACCOUNT_ID", ACCOUNT),
        ])
        .envs(vars.iter().copied())
        .output()
        .await
        .expect("berth runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// The findings of `berth doctor web --output json --migrate-role-arn ...` and its exit code.
async fn findings(env: &Env) -> (Option<i32>, Vec<Value>) {
    let iam = simulator(allow_all);
    findings_with(env, &iam, &["--migrate-role-arn", MIGRATE_ROLE]).await
}

async fn findings_with(env: &Env, iam: &Simulator, extra: &[&str]) -> (Option<i32>, Vec<Value>) {
    let args: Vec<&str> = ["web", "--output", "json"]
        .iter()
        .chain(extra)
        .copied()
        .collect();
    let (code, stdout, stderr) = doctor(env, iam, &args).await;
    let findings: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: stdout {stdout:?}, stderr {stderr:?}"));
    (code, findings.as_array().cloned().unwrap_or_default())
}

/// Asserts that `check` is the one finding not ok, with `status`, and that its detail and fix
/// contain the given parts.
fn only(findings: &[Value], check: &str, status: &str, detail: &str, fix: &str) {
    let others: Vec<&Value> = findings
        .iter()
        .filter(|f| f["check"] != check && f["status"] != "ok")
        .collect();
    assert!(others.is_empty(), "only {check} should be off: {others:#?}");
    let f = findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} in {findings:#?}"));
    assert_eq!(f["status"], status, "{f:#}");
    let text = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
    assert!(text("detail").contains(detail), "{f:#}");
    assert!(text("fix").contains(fix), "{f:#}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_setup_like_the_stacks_passes_every_check() {
    let env = healthy().await;
    let iam = simulator(allow_all);
    let (code, stdout, stderr) =
        doctor(&env, &iam, &["web", "--migrate-role-arn", MIGRATE_ROLE]).await;
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let (summary, checks) = lines.split_last().expect("output");
    assert!(checks.len() >= 20, "{stdout}");
    assert!(checks.iter().all(|l| l.starts_with("ok  ")), "{stdout}");
    assert_eq!(
        *summary,
        format!("web: {} ok, 0 warn, 0 FAIL", checks.len())
    );
    for (check, detail) in [
        ("ecs-controller", "CODE_DEPLOY"),
        (
            "codedeploy-target-groups",
            "web-blue and web-green; the service's tasks are in web-blue",
        ),
        (
            "pipeline-migrate",
            "Migrate invokes berth-migrate with berth's UserParameters",
        ),
        (
            "pipeline-artifact",
            "Deploy deploys DeployArtifact, rendered by Migrate",
        ),
        ("ecr:web/nginx", "exists, tags IMMUTABLE"),
        (
            "pass-role:web-exec",
            "may pass arn:aws:iam::123456789012:role/web-exec to ecs-tasks.amazonaws.com",
        ),
        (
            "bucket-notification",
            "s3:ObjectCreated:* on manifests/web/*.json invokes",
        ),
    ] {
        let line = checks
            .iter()
            .find(|l| l.split_whitespace().nth(1) == Some(check));
        assert!(
            line.is_some_and(|l| l.contains(detail)),
            "{check}: {detail}\n{stdout}"
        );
    }
    let asked = iam.requests.lock().expect("requests").clone();
    assert_eq!(asked.len(), 1, "one role, one simulation: {asked:?}");
    for part in [
        "Action=SimulatePrincipalPolicy",
        &format!("PolicySourceArn={MIGRATE_ROLE}"),
        "ActionNames.member.1=iam:PassRole",
        "ResourceArns.member.1=arn:aws:iam::123456789012:role/web-exec",
        "ContextKeyName=iam:PassedToService",
        "ContextKeyValues.member.1=ecs-tasks.amazonaws.com",
    ] {
        assert!(asked[0].contains(part), "{part} in {}", asked[0]);
    }

    let (code, findings) = findings(&env).await;
    assert_eq!(code, Some(0));
    assert_eq!(findings.len(), checks.len());
    assert!(
        findings
            .iter()
            .all(|f| f["status"] == "ok" && f["fix"].is_null()),
        "{findings:#?}"
    );
}
