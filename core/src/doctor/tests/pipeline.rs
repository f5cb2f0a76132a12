//! The pipeline: type, mode, variables, Source, and the Release stage.

use serde_json::json;

use super::{Row, keep_entry, keep_facts, run, set};
use crate::doctor::{Action, Facts, Pipeline, Seen, Stage, Status};

fn pipeline(f: &mut Facts) -> &mut Pipeline {
    match &mut f.pipeline {
        Seen::Found(p) => p,
        Seen::Missing(_) => unreachable!("the healthy setup has the pipeline"),
    }
}

fn release_action<'a>(f: &'a mut Facts, name: &str) -> &'a mut Action {
    let stage = &mut pipeline(f).stages[1];
    stage
        .actions
        .iter_mut()
        .find(|a| a.name == name)
        .unwrap_or_else(|| unreachable!("the healthy Release stage has {name}"))
}

#[test]
fn pipeline_kind_mode_and_variables() {
    run(&[
        Row {
            name: "no pipeline",
            entry: keep_entry,
            facts: |f| f.pipeline = Seen::Missing("PipelineNotFoundException".into()),
            check: "pipeline",
            status: Status::Fail,
            detail: "pipeline berth-web not found (PipelineNotFoundException)",
            fix: "correct the registry's pipeline",
        },
        Row {
            name: "a V1 pipeline",
            entry: keep_entry,
            facts: |f| pipeline(f).pipeline_type = Some("V1".into()),
            check: "pipeline",
            status: Status::Fail,
            detail: "is a V1 pipeline",
            fix: "PipelineType V2",
        },
        Row {
            name: "superseded executions",
            entry: keep_entry,
            facts: |f| pipeline(f).execution_mode = Some("SUPERSEDED".into()),
            check: "pipeline-mode",
            status: Status::Fail,
            detail: "execution mode SUPERSEDED",
            fix: "ExecutionMode QUEUED",
        },
        Row {
            name: "no mode means CodePipeline's default, SUPERSEDED",
            entry: keep_entry,
            facts: |f| pipeline(f).execution_mode = None,
            check: "pipeline-mode",
            status: Status::Fail,
            detail: "execution mode SUPERSEDED",
            fix: "ExecutionMode QUEUED",
        },
        Row {
            name: "BERTH_ROLLBACK not declared",
            entry: keep_entry,
            facts: |f| pipeline(f).variables.retain(|v| v.name != "BERTH_ROLLBACK"),
            check: "pipeline-variable:BERTH_ROLLBACK",
            status: Status::Fail,
            detail: "not declared",
            fix: "declare BERTH_ROLLBACK with default false",
        },
        Row {
            name: "BERTH_RELEASE defaults to a release name",
            entry: keep_entry,
            facts: |f| pipeline(f).variables[1].default = Some("latest".into()),
            check: "pipeline-variable:BERTH_RELEASE",
            status: Status::Fail,
            detail: "default \"latest\" is a legal name",
            fix: "set the default of BERTH_RELEASE to (none)",
        },
        Row {
            name: "BERTH_SERVICE without a default",
            entry: keep_entry,
            facts: |f| pipeline(f).variables[0].default = None,
            check: "pipeline-variable:BERTH_SERVICE",
            status: Status::Ok,
            detail: "declared, no default",
            fix: "",
        },
    ]);
}

#[test]
fn source_action() {
    run(&[
        Row {
            name: "another object",
            entry: keep_entry,
            facts: |f| {
                set(
                    &mut pipeline(f).stages[0].actions[0].configuration,
                    "S3ObjectKey",
                    "web.zip",
                )
            },
            check: "pipeline-source",
            status: Status::Fail,
            detail: "it reads s3://berth-releases-123456789012-ap-northeast-1/web.zip, not s3://berth-releases-123456789012-ap-northeast-1/artifacts/web/source.zip",
            fix: "its Source action reads",
        },
        Row {
            name: "a renamed Source action",
            entry: keep_entry,
            facts: |f| pipeline(f).stages[0].actions[0].name = "Artifact".into(),
            check: "pipeline-source",
            status: Status::Fail,
            detail: "through the action named Source",
            fix: "service stack",
        },
        Row {
            name: "polling",
            entry: keep_entry,
            facts: |f| {
                pipeline(f).stages[0].actions[0]
                    .configuration
                    .remove("PollForSourceChanges");
            },
            check: "pipeline-source",
            status: Status::Warn,
            detail: "PollForSourceChanges is not false",
            fix: "set PollForSourceChanges to false",
        },
    ]);
}

#[test]
fn release_stage() {
    run(&[
        Row {
            name: "Migrate and Deploy in stages of their own",
            entry: keep_entry,
            facts: |f| {
                let p = pipeline(f);
                let release = p.stages.remove(1);
                for a in release.actions {
                    p.stages.push(Stage {
                        name: a.name.clone(),
                        actions: vec![a],
                    });
                }
            },
            check: "pipeline-release",
            status: Status::Fail,
            detail: "no Release stage (stages: Source, Migrate, Deploy)",
            fix: "service stack",
        },
        Row {
            name: "Deploy alone in Release",
            entry: keep_entry,
            facts: |f| pipeline(f).stages[1].actions.retain(|a| a.name == "Deploy"),
            check: "pipeline-release",
            status: Status::Fail,
            detail: "the Release stage holds Deploy, not both Migrate and Deploy",
            fix: "service stack",
        },
        Row {
            name: "Deploy beside Migrate",
            entry: keep_entry,
            facts: |f| release_action(f, "Deploy").run_order = 1,
            check: "pipeline-release",
            status: Status::Fail,
            detail: "Deploy (run order 1) does not wait for Migrate (1)",
            fix: "Migrate RunOrder 1 and Deploy RunOrder 2",
        },
        Row {
            name: "other UserParameters",
            entry: keep_entry,
            facts: |f| {
                set(
                    &mut release_action(f, "Migrate").configuration,
                    "UserParameters",
                    "{\"release\":\"x\"}",
                )
            },
            check: "pipeline-migrate",
            status: Status::Fail,
            detail: "UserParameters \"{\\\"release\\\":\\\"x\\\"}\"",
            fix: "{\"release\":\"#{variables.BERTH_RELEASE}\",\"rollback\":\"#{variables.BERTH_ROLLBACK}\",\"execution\":\"#{codepipeline.PipelineExecutionId}\"}",
        },
        Row {
            name: "Migrate is not a Lambda invoke",
            entry: keep_entry,
            facts: |f| release_action(f, "Migrate").provider = "StepFunctions".into(),
            check: "pipeline-migrate",
            status: Status::Fail,
            detail: "Migrate's action type is Invoke/StepFunctions, not Invoke/Lambda",
            fix: "service stack",
        },
        Row {
            name: "Deploy is not blue/green",
            entry: keep_entry,
            facts: |f| release_action(f, "Deploy").provider = "ECS".into(),
            check: "pipeline-deploy",
            status: Status::Fail,
            detail: "Deploy's action type is Deploy/ECS, not Deploy/CodeDeployToECS",
            fix: "ApplicationName berth-web and DeploymentGroupName web",
        },
        Row {
            name: "Deploy through another group",
            entry: keep_entry,
            facts: |f| {
                set(
                    &mut release_action(f, "Deploy").configuration,
                    "ApplicationName",
                    "web",
                )
            },
            check: "pipeline-deploy",
            status: Status::Fail,
            detail: "Deploy deploys with web/web, but the registry's deployment group is berth-web/web",
            fix: "ApplicationName berth-web",
        },
    ]);
}

/// The pipeline shape before releases were rendered at their stage: Deploy reads the Source
/// artifact, rendered at upload.
fn old_shape(f: &mut Facts) {
    release_action(f, "Migrate").output_artifacts.clear();
    let deploy = release_action(f, "Deploy");
    deploy.input_artifacts = vec!["Release".into()];
    for k in ["TaskDefinitionTemplateArtifact", "AppSpecTemplateArtifact"] {
        set(&mut deploy.configuration, k, "Release");
    }
}

#[test]
fn deploy_deploys_what_migrate_rendered_at_the_stage() {
    run(&[
        Row {
            name: "the stacks' shape",
            entry: keep_entry,
            facts: keep_facts,
            check: "pipeline-artifact",
            status: Status::Ok,
            detail: "Deploy deploys DeployArtifact, rendered by Migrate under the Release stage's lock",
            fix: "",
        },
        Row {
            name: "a stack from before: Migrate writes nothing, Deploy reads Source",
            entry: keep_entry,
            facts: old_shape,
            check: "pipeline-artifact",
            status: Status::Fail,
            detail: "Migrate declares no output artifact, so Deploy deploys the task definition rendered at upload (Release): a release queued behind another deploys what ran when it was uploaded and can undo the release ahead of it, until the stack is updated",
            fix: "update the service stack",
        },
        Row {
            name: "Migrate writes its artifact, Deploy still reads Source",
            entry: keep_entry,
            facts: |f| {
                let deploy = &mut release_action(f, "Deploy").configuration;
                set(deploy, "TaskDefinitionTemplateArtifact", "Release");
            },
            check: "pipeline-artifact",
            status: Status::Fail,
            detail: "Migrate writes DeployArtifact, but Deploy reads its task definition from \"Release\" and its AppSpec from \"DeployArtifact\": a release queued behind another",
            fix: "Deploy deploys it",
        },
        Row {
            name: "the AppSpec from elsewhere",
            entry: keep_entry,
            facts: |f| {
                let deploy = &mut release_action(f, "Deploy").configuration;
                set(deploy, "AppSpecTemplateArtifact", "Release");
            },
            check: "pipeline-artifact",
            status: Status::Fail,
            detail: "its AppSpec from \"Release\"",
            fix: "Migrate action outputs DeployArtifact",
        },
    ]);
}

#[test]
fn scan_gate_when_the_registry_has_a_scan_policy() {
    run(&[
        Row {
            name: "no Scan action",
            entry: |e| e["scan"] = json!({"block": ["CRITICAL"]}),
            facts: keep_facts,
            check: "pipeline-scan",
            status: Status::Fail,
            detail: "the Release stage has no Scan action",
            fix: "ScanBlockSeverities",
        },
        Row {
            name: "Scan first",
            entry: |e| e["scan"] = json!({"block": ["CRITICAL"]}),
            facts: |f| {
                let stage = &mut pipeline(f).stages[1];
                for a in &mut stage.actions {
                    a.run_order += 1;
                }
                stage.actions.insert(
                    0,
                    Action {
                        name: "Scan".into(),
                        category: "Invoke".into(),
                        provider: "Lambda".into(),
                        run_order: 1,
                        configuration: Default::default(),
                        input_artifacts: vec!["Release".into()],
                        output_artifacts: Vec::new(),
                    },
                );
            },
            check: "pipeline-scan",
            status: Status::Ok,
            detail: "Scan (run order 1) gates the release before Migrate",
            fix: "",
        },
        Row {
            name: "Scan after Migrate",
            entry: |e| e["scan"] = json!({"block": ["CRITICAL"]}),
            facts: |f| {
                pipeline(f).stages[1].actions.push(Action {
                    name: "Scan".into(),
                    category: "Invoke".into(),
                    provider: "Lambda".into(),
                    run_order: 3,
                    configuration: Default::default(),
                    input_artifacts: vec!["Release".into()],
                    output_artifacts: Vec::new(),
                });
            },
            check: "pipeline-scan",
            status: Status::Fail,
            detail: "Scan's action type is Invoke/Lambda at run order 3: it must be Invoke/Lambda before Migrate (1)",
            fix: "Scan ▸ Migrate ▸ Deploy",
        },
    ]);
}
