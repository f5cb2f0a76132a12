//! A service ECS deploys itself: its deployment configuration, one broken fact at a time,
//! against a BLUE_GREEN (or ROLLING) setup shaped like the stacks' with the platform's hook role.

use serde_json::json;

use super::{Row, examine_with, keep_entry, run};
use crate::doctor::*;
use crate::job::USER_PARAMETERS;

const VERIFY: &str = "arn:aws:lambda:ap-northeast-1:123456789012:function:berth-verify";
const HOOK_ROLE: &str = "arn:aws:iam::123456789012:role/berth-ecs-hook";
const SERVICE_ARN: &str = "arn:aws:ecs:ap-northeast-1:123456789012:service/prod/web";

fn ecs(f: &mut Facts) -> &mut EcsService {
    match &mut f.ecs {
        Seen::Found(s) => s,
        Seen::Missing(_) => unreachable!("the healthy setup has the service"),
    }
}

/// The service stack's pipeline for ECS kinds: Deploy invokes berth-deploy on DeployArtifact.
fn native_pipeline(f: &mut Facts) {
    let Seen::Found(p) = &mut f.pipeline else {
        unreachable!("the healthy setup has the pipeline")
    };
    let deploy = p.stages[1]
        .actions
        .iter_mut()
        .find(|a| a.name == "Deploy")
        .expect("Deploy");
    deploy.category = "Invoke".into();
    deploy.provider = "Lambda".into();
    deploy.configuration = [
        ("FunctionName".to_owned(), "berth-deploy".to_owned()),
        ("UserParameters".to_owned(), USER_PARAMETERS.to_owned()),
    ]
    .into();
}

/// The healthy setup as a BLUE_GREEN service: a load balancer with its advancedConfiguration,
/// verify at POST_TEST_TRAFFIC_SHIFT with the platform's hook role, a pause hook after it.
fn blue_green(f: &mut Facts) {
    native_pipeline(f);
    f.deployment_group = Seen::Missing("DeploymentGroupDoesNotExistException".into());
    let s = ecs(f);
    s.controller = "ECS".into();
    s.native = NativeConfig {
        strategy: Some("BLUE_GREEN".into()),
        bake_time_minutes: Some(10),
        hooks: vec![
            HookConfig {
                target_type: "AWS_LAMBDA".into(),
                target_arn: Some(VERIFY.into()),
                role_arn: Some(HOOK_ROLE.into()),
                stages: vec!["POST_TEST_TRAFFIC_SHIFT".into()],
                timeout: None,
            },
            HookConfig {
                target_type: "PAUSE".into(),
                stages: vec!["POST_TEST_TRAFFIC_SHIFT".into()],
                timeout: Some((60, "ROLLBACK".into())),
                ..HookConfig::default()
            },
        ],
        load_balancers: vec![Balancer {
            target_group: Some("web-blue".into()),
            advanced: Some(Advanced {
                alternate_target_group: Some("web-green".into()),
                production_listener_rule: Some("rule/app/web/1/80/1".into()),
                test_listener_rule: Some("rule/app/web/1/8080/1".into()),
                role_arn: Some("arn:aws:iam::123456789012:role/ecs-infrastructure".into()),
            }),
        }],
        service_arn: Some(SERVICE_ARN.into()),
        berth_tag: Some("web".into()),
        ..NativeConfig::default()
    };
    f.hook_roles = vec![HookRole {
        role_arn: HOOK_ROLE.into(),
        function_arn: VERIFY.into(),
        trusts_ecs: Seen::Found(true),
        invoke: "allowed".into(),
    }];
}

fn rolling(f: &mut Facts) {
    native_pipeline(f);
    f.deployment_group = Seen::Missing("DeploymentGroupDoesNotExistException".into());
    let s = ecs(f);
    s.controller = "ECS".into();
    s.native = NativeConfig {
        circuit_breaker: Some((true, true)),
        service_arn: Some(SERVICE_ARN.into()),
        berth_tag: Some("web".into()),
        ..NativeConfig::default()
    };
}

fn verified(e: &mut serde_json::Value) {
    e["verify"] =
        json!({"base_url": "http://web-test.internal:8080", "checks": [{"path": "/health"}]});
}

fn advanced(f: &mut Facts) -> &mut Advanced {
    ecs(f).native.load_balancers[0]
        .advanced
        .as_mut()
        .expect("advanced")
}

#[test]
fn a_blue_green_service_set_up_like_the_stacks_passes_with_no_deployment_group() {
    let findings = examine_with(verified, blue_green);
    let off: Vec<&Finding> = findings.iter().filter(|f| f.status != Status::Ok).collect();
    assert!(off.is_empty(), "{off:#?}");
    let detail = |check: &str| {
        findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.detail.clone())
            .unwrap_or_else(|| panic!("no {check}: {findings:#?}"))
    };
    assert!(detail("ecs-controller").contains("strategy BLUE_GREEN"));
    assert!(detail("ecs-traffic").contains("web-blue and web-green"));
    assert!(detail("ecs-verify-hook").contains("trusted by ecs.amazonaws.com"));
    assert!(detail("ecs-pause-hook").contains("after 60 min ECS takes ROLLBACK"));
    assert!(detail("pipeline-deploy").contains("Deploy invokes berth-deploy"));
    assert!(!findings.iter().any(|f| f.check.starts_with("codedeploy")));
}

#[test]
fn blue_green_prerequisites() {
    run(&[
        Row {
            name: "no load balancer, no Service Connect",
            entry: verified,
            facts: |f| {
                blue_green(f);
                ecs(f).native.load_balancers.clear();
            },
            check: "ecs-traffic",
            status: Status::Fail,
            detail: "no load balancer and no Service Connect",
            fix: "advancedConfiguration",
        },
        Row {
            name: "a load balancer without advancedConfiguration",
            entry: keep_entry,
            facts: |f| {
                blue_green(f);
                ecs(f).native.load_balancers[0].advanced = None;
            },
            check: "ecs-traffic",
            status: Status::Fail,
            detail: "has no advancedConfiguration",
            fix: "alternateTargetGroupArn",
        },
        Row {
            name: "advancedConfiguration without its role",
            entry: verified,
            facts: |f| {
                blue_green(f);
                advanced(f).role_arn = None;
            },
            check: "ecs-traffic",
            status: Status::Fail,
            detail: "lacks roleArn",
            fix: "roleArn",
        },
        Row {
            name: "Service Connect instead of a load balancer",
            entry: keep_entry,
            facts: |f| {
                blue_green(f);
                ecs(f).native.load_balancers.clear();
                ecs(f).native.service_connect = true;
            },
            check: "ecs-traffic",
            status: Status::Ok,
            detail: "Service Connect",
            fix: "",
        },
        Row {
            name: "verify without a test listener rule",
            entry: verified,
            facts: |f| {
                blue_green(f);
                advanced(f).test_listener_rule = None;
            },
            check: "ecs-test-traffic",
            status: Status::Warn,
            detail: "no testListenerRule",
            fix: "testListenerRule",
        },
        Row {
            name: "an unknown strategy",
            entry: keep_entry,
            facts: |f| {
                blue_green(f);
                ecs(f).native.strategy = Some("SHADOW".into());
            },
            check: "ecs-controller",
            status: Status::Fail,
            detail: "\"SHADOW\" is not one berth deploys",
            fix: "ROLLING, BLUE_GREEN, LINEAR or CANARY",
        },
    ]);
}

#[test]
fn the_verify_hook_and_its_role() {
    run(&[
        Row {
            name: "a verify section, no hook",
            entry: verified,
            facts: |f| {
                blue_green(f);
                ecs(f).native.hooks.retain(|h| h.target_type == "PAUSE");
            },
            check: "ecs-verify-hook",
            status: Status::Fail,
            detail: "no lifecycle hook runs berth-verify",
            fix: "POST_TEST_TRAFFIC_SHIFT",
        },
        Row {
            name: "no verify section, no hook",
            entry: keep_entry,
            facts: |f| {
                blue_green(f);
                ecs(f).native.hooks.retain(|h| h.target_type == "PAUSE");
            },
            check: "ecs-verify-hook",
            status: Status::Ok,
            detail: "none needed",
            fix: "",
        },
        Row {
            name: "verify at the wrong stage",
            entry: verified,
            facts: |f| {
                blue_green(f);
                ecs(f).native.hooks[0].stages = vec!["PRE_SCALE_UP".into()];
            },
            check: "ecs-verify-hook",
            status: Status::Warn,
            detail: "verify runs at PRE_SCALE_UP",
            fix: "[POST_TEST_TRAFFIC_SHIFT]",
        },
        Row {
            name: "the hook has no role",
            entry: verified,
            facts: |f| {
                blue_green(f);
                ecs(f).native.hooks[0].role_arn = None;
            },
            check: "ecs-verify-hook",
            status: Status::Fail,
            detail: "has no roleArn",
            fix: "ECS hook role",
        },
        Row {
            name: "the role does not trust ECS",
            entry: verified,
            facts: |f| {
                blue_green(f);
                f.hook_roles[0].trusts_ecs = Seen::Found(false);
            },
            check: "ecs-verify-hook",
            status: Status::Fail,
            detail: "does not trust ecs.amazonaws.com",
            fix: "trusted by ecs.amazonaws.com",
        },
        Row {
            name: "the role is gone",
            entry: verified,
            facts: |f| {
                blue_green(f);
                f.hook_roles[0].trusts_ecs = Seen::Missing("NoSuchEntity".into());
            },
            check: "ecs-verify-hook",
            status: Status::Fail,
            detail: "not found (NoSuchEntity)",
            fix: "ECS hook role",
        },
        Row {
            name: "the role may not invoke verify",
            entry: verified,
            facts: |f| {
                blue_green(f);
                f.hook_roles[0].invoke = "implicitDeny".into();
            },
            check: "ecs-verify-hook",
            status: Status::Fail,
            detail: "may not invoke arn:aws:lambda:ap-northeast-1:123456789012:function:berth-verify (lambda:InvokeFunction: implicitDeny)",
            fix: "lambda:InvokeFunction",
        },
        Row {
            name: "BERTH_VERIFY_FUNCTION unset",
            entry: verified,
            facts: |f| {
                blue_green(f);
                f.verify_function = None;
            },
            check: "ecs-verify-hook",
            status: Status::Warn,
            detail: "cannot tell whether hook",
            fix: "BERTH_VERIFY_FUNCTION",
        },
        Row {
            name: "no pause hook is information, not a problem",
            entry: verified,
            facts: |f| {
                blue_green(f);
                ecs(f).native.hooks.retain(|h| h.target_type != "PAUSE");
            },
            check: "ecs-pause-hook",
            status: Status::Ok,
            detail: "do not wait for `berth promote`",
            fix: "",
        },
    ]);
}

#[test]
fn rolling_prerequisites() {
    run(&[
        Row {
            name: "circuit breaker on with rollback",
            entry: keep_entry,
            facts: rolling,
            check: "ecs-circuit-breaker",
            status: Status::Ok,
            detail: "on, with rollback",
            fix: "",
        },
        Row {
            name: "circuit breaker without rollback",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                ecs(f).native.circuit_breaker = Some((true, false));
            },
            check: "ecs-circuit-breaker",
            status: Status::Warn,
            detail: "on without rollback",
            fix: "rollback: true",
        },
        Row {
            name: "circuit breaker off",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                ecs(f).native.circuit_breaker = None;
            },
            check: "ecs-circuit-breaker",
            status: Status::Warn,
            detail: "off",
            fix: "enable: true",
        },
        Row {
            name: "a verify section on a rolling service",
            entry: verified,
            facts: rolling,
            check: "ecs-hooks",
            status: Status::Warn,
            detail: "runs no lifecycle hooks",
            fix: "BLUE_GREEN",
        },
        Row {
            name: "alarms are shown",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                ecs(f).native.alarms = Some((vec!["web-5xx".into()], true, true));
            },
            check: "ecs-alarms",
            status: Status::Ok,
            detail: "web-5xx decide(s) a deployment's failure, with rollback",
            fix: "",
        },
        Row {
            name: "no alarms is information",
            entry: keep_entry,
            facts: rolling,
            check: "ecs-alarms",
            status: Status::Ok,
            detail: "no deployment alarms",
            fix: "",
        },
    ]);
}

#[test]
fn the_pipeline_of_a_native_service_deploys_with_berths_deploy_function() {
    run(&[
        Row {
            name: "still a CodeDeployToECS action",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                let Seen::Found(p) = &mut f.pipeline else {
                    unreachable!()
                };
                p.stages[1].actions[1] = super::stack_pipeline().stages[1].actions[1].clone();
            },
            check: "pipeline-deploy",
            status: Status::Fail,
            detail: "Deploy's action type is Deploy/CodeDeployToECS, but ECS deploys this service itself",
            fix: "invokes berth-deploy",
        },
        Row {
            name: "another function",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                let Seen::Found(p) = &mut f.pipeline else {
                    unreachable!()
                };
                p.stages[1].actions[1]
                    .configuration
                    .insert("FunctionName".into(), "other-deploy".into());
            },
            check: "pipeline-deploy",
            status: Status::Fail,
            detail: "Deploy invokes other-deploy",
            fix: "berth-deploy",
        },
        Row {
            name: "not Migrate's artifact",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                let Seen::Found(p) = &mut f.pipeline else {
                    unreachable!()
                };
                p.stages[1].actions[1].input_artifacts = vec!["Release".into()];
            },
            check: "pipeline-artifact",
            status: Status::Fail,
            detail: "Deploy reads Release, not Migrate's output (DeployArtifact)",
            fix: "DeployArtifact",
        },
    ]);
}

#[test]
fn a_trust_policy_trusts_ecs_when_an_allow_statement_names_it() {
    let ecs = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ecs.amazonaws.com"]},"Action":"sts:AssumeRole"}]}"#;
    let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs.amazonaws.com%22%7D%2C%22Action%22%3A%5B%22sts%3AAssumeRole%22%5D%7D%7D";
    let tasks = ecs.replace("ecs.amazonaws.com", "ecs-tasks.amazonaws.com");
    let denied = ecs.replace("Allow", "Deny");
    let other_action = ecs.replace("sts:AssumeRole", "sts:TagSession");
    for (doc, want) in [
        (ecs, true),
        (encoded, true),
        (tasks.as_str(), false),
        (denied.as_str(), false),
        (other_action.as_str(), false),
        ("not json", false),
    ] {
        assert_eq!(trusts(doc, "ecs.amazonaws.com"), want, "{doc}");
    }
}

/// platform.yaml's UpdateTaggedServices lets the deploy role call `ecs:UpdateService` only on a
/// service carrying `berth:service` (`Null: aws:ResourceTag/berth:service = false`); moto
/// enforces no IAM, so this is where an untagged service is caught before its first release.
#[test]
fn a_service_ecs_deploys_must_carry_the_deploy_tag() {
    run(&[
        Row {
            name: "a tagged rolling service",
            entry: keep_entry,
            facts: rolling,
            check: "ecs-deploy-tag",
            status: Status::Ok,
            detail: "tagged berth:service=web",
            fix: "",
        },
        Row {
            name: "a tagged blue/green service, whatever the value",
            entry: keep_entry,
            facts: |f| {
                blue_green(f);
                ecs(f).native.berth_tag = Some(String::new());
            },
            check: "ecs-deploy-tag",
            status: Status::Ok,
            detail: "tagged berth:service=:",
            fix: "",
        },
        Row {
            name: "an untagged rolling service",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                ecs(f).native.berth_tag = None;
            },
            check: "ecs-deploy-tag",
            status: Status::Fail,
            detail: "ecs:UpdateService only on services tagged berth:service (UpdateTaggedServices), so the Deploy action would fail with AccessDenied",
            fix: "run aws ecs tag-resource --resource-arn arn:aws:ecs:ap-northeast-1:123456789012:service/prod/web --tags key=berth:service,value=web",
        },
        Row {
            name: "an untagged linear service",
            entry: keep_entry,
            facts: |f| {
                blue_green(f);
                ecs(f).native.strategy = Some("LINEAR".into());
                ecs(f).native.berth_tag = None;
            },
            check: "ecs-deploy-tag",
            status: Status::Fail,
            detail: "has no berth:service tag",
            fix: "--tags key=berth:service,value=web",
        },
        Row {
            name: "an untagged service with a short ARN",
            entry: keep_entry,
            facts: |f| {
                rolling(f);
                ecs(f).native.berth_tag = None;
                ecs(f).native.service_arn =
                    Some("arn:aws:ecs:ap-northeast-1:123456789012:service/web".into());
            },
            check: "ecs-deploy-tag",
            status: Status::Fail,
            detail: "has no berth:service tag",
            fix: "long ARN format first",
        },
    ]);
}

#[test]
fn a_codedeploy_service_needs_no_deploy_tag() {
    // CodeDeploy, not berth's deploy role, updates a CODE_DEPLOY service.
    let findings = examine_with(keep_entry, |_| {});
    assert!(
        !findings.iter().any(|f| f.check == "ecs-deploy-tag"),
        "{findings:#?}"
    );
}
