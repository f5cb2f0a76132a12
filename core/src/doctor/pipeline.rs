//! The pipeline berth starts: its type, mode and variables, the Source action on-manifest pins,
//! and the one Release stage holding Migrate before Deploy.

use super::{Action, Finding, Pipeline, Seen, Stage};
use crate::job::USER_PARAMETERS;
use crate::keys::is_valid_name;
use crate::registry::ServiceConfig;

const FROM_THE_STACK: &str = "deploy the service stack (infra/cloudformation/service.yaml), whose pipeline is what berth expects";

/// `native`: the service's controller is ECS (berth's deploy function deploys it), not
/// CODE_DEPLOY (nor unknown: the CodeDeploy shape is expected).
pub(super) fn check(
    config: &ServiceConfig,
    bucket: &str,
    pipeline: &Seen<Pipeline>,
    native: bool,
) -> Vec<Finding> {
    let p = match pipeline {
        Seen::Found(p) => p,
        Seen::Missing(why) => {
            return vec![Finding::fail(
                "pipeline",
                format!("pipeline {} not found ({why})", config.pipeline),
                format!("{FROM_THE_STACK}, or correct the registry's pipeline"),
            )];
        }
    };
    let mut findings = vec![kind(config, p), mode(p)];
    findings.extend(
        ["BERTH_SERVICE", "BERTH_RELEASE", "BERTH_ROLLBACK"]
            .into_iter()
            .map(|name| variable(p, name)),
    );
    findings.push(source(config, bucket, p));
    findings.extend(release(config, p, native));
    findings
}

/// Pipeline variables exist only in V2 pipelines.
fn kind(config: &ServiceConfig, p: &Pipeline) -> Finding {
    let kind = p.pipeline_type.as_deref().unwrap_or("V1");
    if kind == "V2" {
        return Finding::ok("pipeline", format!("{} is a V2 pipeline", config.pipeline));
    }
    Finding::fail(
        "pipeline",
        format!(
            "{} is a {kind} pipeline: berth passes the release in pipeline variables, which need V2",
            config.pipeline
        ),
        "set PipelineType V2 (the service stack does)",
    )
}

/// CodePipeline User Guide: "QUEUED mode: Executions are processed one by one in the order
/// that they are queued." In SUPERSEDED mode "A more recent execution can overtake an older
/// one", and a release that is overtaken never deploys.
fn mode(p: &Pipeline) -> Finding {
    let mode = p.execution_mode.as_deref().unwrap_or("SUPERSEDED");
    if mode == "QUEUED" {
        return Finding::ok(
            "pipeline-mode",
            "QUEUED: every release runs, one at a time, in order",
        );
    }
    Finding::fail(
        "pipeline-mode",
        format!("execution mode {mode}: releases must run one at a time and none may be skipped"),
        "set ExecutionMode QUEUED (the service stack does)",
    )
}

/// An execution berth did not start carries the defaults; BERTH_SERVICE and BERTH_RELEASE
/// defaults must not be legal names, so such an execution is recognised and refused.
fn variable(p: &Pipeline, name: &str) -> Finding {
    let check = format!("pipeline-variable:{name}");
    let Some(v) = p.variables.iter().find(|v| v.name == name) else {
        let default = if name == "BERTH_ROLLBACK" {
            "false"
        } else {
            "(none)"
        };
        return Finding::fail(
            check,
            format!("not declared: on-manifest starts every execution with {name}"),
            format!("declare {name} with default {default} (the service stack does)"),
        );
    };
    let default = v.default.as_deref();
    let shown = default
        .map(|d| format!("default {d:?}"))
        .unwrap_or_else(|| "no default".into());
    if name != "BERTH_ROLLBACK" && default.is_some_and(is_valid_name) {
        return Finding::fail(
            check,
            format!(
                "{shown} is a legal name: an execution berth did not start (creating the pipeline starts one, so does Release change) would pass for a release"
            ),
            format!("set the default of {name} to (none)"),
        );
    }
    Finding::ok(check, format!("declared, {shown}"))
}

fn source(config: &ServiceConfig, bucket: &str, p: &Pipeline) -> Finding {
    let key = format!("artifacts/{}/source.zip", config.service);
    let fix = format!("{FROM_THE_STACK}: its Source action reads s3://{bucket}/{key}");
    let action = p
        .stages
        .first()
        .filter(|s| s.name == "Source")
        .and_then(|s| s.actions.iter().find(|a| a.name == "Source"));
    let Some(a) = action else {
        return Finding::fail(
            "pipeline-source",
            "no action Source in a first stage Source: on-manifest pins each execution to an artifact version through the action named Source",
            fix,
        );
    };
    let setting = |k: &str| a.configuration.get(k).map(String::as_str).unwrap_or("");
    let mut problems = Vec::new();
    if a.category != "Source" || a.provider != "S3" {
        problems.push(format!(
            "its action type is {}/{}, not Source/S3",
            a.category, a.provider
        ));
    }
    if setting("S3Bucket") != bucket || setting("S3ObjectKey") != key {
        problems.push(format!(
            "it reads s3://{}/{}, not s3://{bucket}/{key}",
            setting("S3Bucket"),
            setting("S3ObjectKey")
        ));
    }
    if !problems.is_empty() {
        return Finding::fail("pipeline-source", problems.join("; "), fix);
    }
    // CodePipeline User Guide, "Valid settings for the PollForSourceChanges parameter": "In
    // many cases, the PollForSourceChanges parameter defaults to true and must be disabled."
    if setting("PollForSourceChanges") != "false" {
        return Finding::warn(
            "pipeline-source",
            "PollForSourceChanges is not false: every artifact on-manifest writes also starts an execution berth did not start, which the Release stage refuses",
            "set PollForSourceChanges to false: on-manifest starts the pipeline itself",
        );
    }
    Finding::ok(
        "pipeline-source",
        format!("Source reads s3://{bucket}/{key}, not polled"),
    )
}

/// Migrate and Deploy in one stage `Release`, Migrate first: CodePipeline locks each stage
/// separately, so in two stages release N+1 would migrate while release N still deploys.
fn release(config: &ServiceConfig, p: &Pipeline, native: bool) -> Vec<Finding> {
    let Some(stage) = p.stages.iter().find(|s| s.name == "Release") else {
        return vec![Finding::fail(
            "pipeline-release",
            format!(
                "no Release stage (stages: {}): Migrate and Deploy must share one, whose lock covers migration and deployment",
                names(&p.stages)
            ),
            FROM_THE_STACK,
        )];
    };
    let action = |name: &str| stage.actions.iter().find(|a| a.name == name);
    let (Some(migrate), Some(deploy)) = (action("Migrate"), action("Deploy")) else {
        let actions: Vec<&str> = stage.actions.iter().map(|a| a.name.as_str()).collect();
        return vec![Finding::fail(
            "pipeline-release",
            format!(
                "the Release stage holds {}, not both Migrate and Deploy: in separate stages release N+1 would migrate while release N still deploys",
                actions.join(", ")
            ),
            FROM_THE_STACK,
        )];
    };
    let mut findings = vec![order(migrate, deploy), migrate_action(migrate)];
    if native {
        findings.extend([
            native_deploy_action(migrate, deploy),
            native_artifact(migrate, deploy),
        ]);
    } else {
        findings.extend([
            deploy_action(config, deploy),
            deployed_artifact(migrate, deploy),
        ]);
    }
    if config.scan.is_some() {
        findings.push(scan_action(action("Scan"), migrate));
    }
    findings
}

fn names(stages: &[Stage]) -> String {
    stages
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn order(migrate: &Action, deploy: &Action) -> Finding {
    if migrate.run_order < deploy.run_order {
        return Finding::ok(
            "pipeline-release",
            format!(
                "Release runs Migrate (run order {}) before Deploy ({})",
                migrate.run_order, deploy.run_order
            ),
        );
    }
    Finding::fail(
        "pipeline-release",
        format!(
            "Deploy (run order {}) does not wait for Migrate ({})",
            deploy.run_order, migrate.run_order
        ),
        "give Migrate RunOrder 1 and Deploy RunOrder 2 (the service stack does)",
    )
}

fn migrate_action(a: &Action) -> Finding {
    let function = a
        .configuration
        .get("FunctionName")
        .map(String::as_str)
        .unwrap_or("?");
    if a.category != "Invoke" || a.provider != "Lambda" {
        return Finding::fail(
            "pipeline-migrate",
            format!(
                "Migrate's action type is {}/{}, not Invoke/Lambda (berth's migrate function)",
                a.category, a.provider
            ),
            FROM_THE_STACK,
        );
    }
    let params = a
        .configuration
        .get("UserParameters")
        .map(String::as_str)
        .unwrap_or("");
    if params != USER_PARAMETERS {
        return Finding::fail(
            "pipeline-migrate",
            format!(
                "Migrate invokes {function} with UserParameters {params:?}: migrate reads the release, the rollback flag and the execution from exactly the stack's string"
            ),
            format!("set UserParameters to {USER_PARAMETERS}"),
        );
    }
    Finding::ok(
        "pipeline-migrate",
        format!("Migrate invokes {function} with berth's UserParameters"),
    )
}

/// The Deploy action must deploy through the deployment group the other commands act on.
fn deploy_action(config: &ServiceConfig, a: &Action) -> Finding {
    let target = config.deployment_target();
    let setting = |k: &str| a.configuration.get(k).map(String::as_str).unwrap_or("");
    let fix = format!(
        "make Deploy a CodeDeployToECS action with ApplicationName {} and DeploymentGroupName {} (the service stack does)",
        target.application, target.group
    );
    if a.category != "Deploy" || a.provider != "CodeDeployToECS" {
        return Finding::fail(
            "pipeline-deploy",
            format!(
                "Deploy's action type is {}/{}, not Deploy/CodeDeployToECS (blue/green)",
                a.category, a.provider
            ),
            fix,
        );
    }
    let (app, group) = (setting("ApplicationName"), setting("DeploymentGroupName"));
    if app != target.application || group != target.group {
        return Finding::fail(
            "pipeline-deploy",
            format!(
                "Deploy deploys with {app}/{group}, but the registry's deployment group is {}/{}",
                target.application, target.group
            ),
            fix,
        );
    }
    Finding::ok(
        "pipeline-deploy",
        format!("Deploy is CodeDeployToECS with {app}/{group}"),
    )
}

/// Deploy deploys the artifact Migrate writes: the release rendered when it reached the Release
/// stage, under its lock, from what the service runs then. The Source artifact was rendered at
/// upload, before the releases queued ahead of it deployed: deploying it undoes what they changed.
fn deployed_artifact(migrate: &Action, deploy: &Action) -> Finding {
    let setting = |k: &str| {
        deploy
            .configuration
            .get(k)
            .map(String::as_str)
            .unwrap_or("")
    };
    let (taskdef, appspec) = (
        setting("TaskDefinitionTemplateArtifact"),
        setting("AppSpecTemplateArtifact"),
    );
    let fix = "update the service stack (infra/cloudformation/service.yaml, or the Terraform service module): its Migrate action outputs DeployArtifact and Deploy deploys it";
    let undo = "a release queued behind another deploys what ran when it was uploaded and can undo the release ahead of it, until the stack is updated";
    let Some(rendered) = migrate.output_artifacts.first() else {
        return Finding::fail(
            "pipeline-artifact",
            format!(
                "Migrate declares no output artifact, so Deploy deploys the task definition rendered at upload ({taskdef}): {undo}"
            ),
            fix,
        );
    };
    if taskdef != rendered || appspec != rendered {
        return Finding::fail(
            "pipeline-artifact",
            format!(
                "Migrate writes {rendered}, but Deploy reads its task definition from {taskdef:?} and its AppSpec from {appspec:?}: {undo}"
            ),
            fix,
        );
    }
    Finding::ok(
        "pipeline-artifact",
        format!(
            "Deploy deploys {rendered}, rendered by Migrate under the Release stage's lock from what the service runs then"
        ),
    )
}

/// For a service ECS deploys itself, Deploy is berth's deploy function: a Lambda invoke with
/// migrate's UserParameters, next to migrate (`<prefix>-migrate` and `<prefix>-deploy`).
fn native_deploy_action(migrate: &Action, deploy: &Action) -> Finding {
    let check = "pipeline-deploy";
    let function = |a: &Action| {
        a.configuration
            .get("FunctionName")
            .cloned()
            .unwrap_or_default()
    };
    let expected = function(migrate)
        .strip_suffix("migrate")
        .map(|prefix| format!("{prefix}deploy"));
    let fix = format!(
        "update the service stack with DeploymentController ECS: its Deploy action invokes {} with UserParameters {USER_PARAMETERS}",
        expected
            .as_deref()
            .unwrap_or("the platform's deploy function")
    );
    if deploy.category != "Invoke" || deploy.provider != "Lambda" {
        return Finding::fail(
            check,
            format!(
                "Deploy's action type is {}/{}, but ECS deploys this service itself: Deploy must invoke berth's deploy function (Invoke/Lambda)",
                deploy.category, deploy.provider
            ),
            fix,
        );
    }
    let (name, params) = (
        function(deploy),
        deploy
            .configuration
            .get("UserParameters")
            .cloned()
            .unwrap_or_default(),
    );
    if expected.as_ref().is_some_and(|e| *e != name) || params != USER_PARAMETERS {
        return Finding::fail(
            check,
            format!("Deploy invokes {name} with UserParameters {params:?}"),
            fix,
        );
    }
    Finding::ok(
        check,
        format!("Deploy invokes {name} with berth's UserParameters"),
    )
}

/// The deploy function registers the task definition of its input artifact byte for byte: it
/// must be what Migrate rendered under the Release stage's lock.
fn native_artifact(migrate: &Action, deploy: &Action) -> Finding {
    let fix = "update the service stack (infra/cloudformation/service.yaml, or the Terraform service module): its Migrate action outputs DeployArtifact and Deploy reads it";
    match migrate.output_artifacts.first() {
        Some(rendered) if deploy.input_artifacts.contains(rendered) => Finding::ok(
            "pipeline-artifact",
            format!(
                "Deploy deploys {rendered}, rendered by Migrate under the Release stage's lock from what the service runs then"
            ),
        ),
        rendered => Finding::fail(
            "pipeline-artifact",
            format!(
                "Deploy reads {}, not Migrate's output ({}): a release queued behind another could deploy what ran when it was uploaded",
                deploy.input_artifacts.join(", "),
                rendered.map_or("none", String::as_str)
            ),
            fix,
        ),
    }
}

/// With a scan policy in the registry, the Release stage starts with the scan gate.
fn scan_action(scan: Option<&Action>, migrate: &Action) -> Finding {
    let fix = "deploy the service stack with ScanBlockSeverities: the Release stage is then Scan ▸ Migrate ▸ Deploy";
    match scan {
        Some(s)
            if s.category == "Invoke"
                && s.provider == "Lambda"
                && s.run_order < migrate.run_order =>
        {
            Finding::ok(
                "pipeline-scan",
                format!(
                    "Scan (run order {}) gates the release before Migrate",
                    s.run_order
                ),
            )
        }
        Some(s) => Finding::fail(
            "pipeline-scan",
            format!(
                "Scan's action type is {}/{} at run order {}: it must be Invoke/Lambda before Migrate ({})",
                s.category, s.provider, s.run_order, migrate.run_order
            ),
            fix,
        ),
        None => Finding::fail(
            "pipeline-scan",
            "the registry has a scan policy, but the Release stage has no Scan action: nothing would stop an image with blocking findings",
            fix,
        ),
    }
}
