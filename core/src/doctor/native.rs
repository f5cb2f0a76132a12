//! A service ECS deploys itself (controller `ECS`: ROLLING, BLUE_GREEN, LINEAR, CANARY): what
//! its deployment configuration must have for berth's releases, each problem with its fix.

use super::{EcsService, Finding, HookConfig, HookRole, NativeConfig, Seen};
use crate::registry::ServiceConfig;
use crate::service_deployment::DeployKind;

/// The stage berth's verify hook belongs at: "POST_TEST_TRAFFIC_SHIFT The test traffic shift is
/// complete. The green service revision handles 100% of the test traffic" (ServiceDeployment
/// `lifecycleStage`), so its checks through the test listener reach the new revision.
const VERIFY_STAGE: &str = "POST_TEST_TRAFFIC_SHIFT";

/// Every check of the deployment configuration of a service of `kind` (not CODE_DEPLOY).
pub(super) fn check(
    config: &ServiceConfig,
    s: &EcsService,
    kind: DeployKind,
    verify_function: Option<&str>,
    roles: &[HookRole],
) -> Vec<Finding> {
    let n = &s.native;
    let mut findings = vec![deploy_tag(config, n)];
    if kind.has_hooks() {
        findings.push(traffic(kind, n));
        findings.extend(test_traffic(config, n));
        findings.push(verify_hook(config, n, verify_function, roles));
        findings.push(pause(n));
    } else {
        findings.push(circuit_breaker(n));
        if config.verify.is_some() {
            findings.push(Finding::warn(
                "ecs-hooks",
                "the registry has a verify section, but a ROLLING deployment runs no lifecycle hooks: verify's checks never run",
                "deploy the service with strategy BLUE_GREEN (or LINEAR, CANARY) and berth's verify as a POST_TEST_TRAFFIC_SHIFT hook, or drop the verify section",
            ));
        }
    }
    findings.push(alarms(n));
    findings
}

/// The tag the platform's deploy role requires: its one write, `ecs:UpdateService`, is allowed
/// only on a service carrying `berth:service` (platform.yaml's UpdateTaggedServices, condition
/// `Null: aws:ResourceTag/berth:service = false`). Any value passes the condition.
pub const DEPLOY_TAG: &str = "berth:service";

/// Whether the service carries [`DEPLOY_TAG`]: without it the Deploy action's `UpdateService`
/// is refused with AccessDenied at release time, after the migration ran.
fn deploy_tag(config: &ServiceConfig, n: &NativeConfig) -> Finding {
    let check = "ecs-deploy-tag";
    if let Some(value) = &n.berth_tag {
        return Finding::ok(
            check,
            format!("tagged {DEPLOY_TAG}={value}: the platform's deploy role may UpdateService it"),
        );
    }
    let arn = n.service_arn.as_deref().unwrap_or("<service arn>");
    // "Your service must have the long ARN format in order to tag your service. You can migrate
    // a service with a short ARN format to the long ARN format without having to recreate the
    // service" (ECS Developer Guide, Migrate an Amazon ECS short service ARN to a long ARN).
    let short = arn
        .split_once(":service/")
        .is_some_and(|(_, rest)| !rest.contains('/'));
    let opt_in = if short {
        "migrate the service's short ARN to the long ARN format first (a short ARN cannot be tagged; ECS Developer Guide, \"Migrate an Amazon ECS short service ARN to a long ARN\"), then run "
    } else {
        "run "
    };
    Finding::fail(
        check,
        format!(
            "the service has no {DEPLOY_TAG} tag: the platform's deploy role may call ecs:UpdateService only on services tagged {DEPLOY_TAG} (UpdateTaggedServices), so the Deploy action would fail with AccessDenied after the migration ran"
        ),
        format!(
            "{opt_in}aws ecs tag-resource --resource-arn {arn} --tags key={DEPLOY_TAG},value={}",
            config.service
        ),
    )
}

/// "To use a blue/green deployment with managed traffic shifting, your service must use one of
/// the following features: Elastic Load Balancing, Service Connect" (Required resources for
/// Amazon ECS blue/green deployments); a load balancer's AdvancedConfiguration: "Specify the
/// alternate target group, listener rules, and IAM role required for traffic shifting during
/// blue/green deployments."
fn traffic(kind: DeployKind, n: &NativeConfig) -> Finding {
    let check = "ecs-traffic";
    if n.service_connect {
        return Finding::ok(
            check,
            "Service Connect shifts traffic between the revisions",
        );
    }
    let fix = "give the service's load balancer an advancedConfiguration: alternateTargetGroupArn (the second target group), productionListenerRule (the production listener's rule) and roleArn (a role ECS may use to change the rule), or use Service Connect";
    if n.load_balancers.is_empty() {
        return Finding::fail(
            check,
            format!(
                "a {} deployment shifts traffic, but the service has no load balancer and no Service Connect",
                kind.as_str()
            ),
            fix,
        );
    }
    for b in &n.load_balancers {
        let Some(a) = &b.advanced else { continue };
        let missing: Vec<&str> = [
            ("alternateTargetGroupArn", &a.alternate_target_group),
            ("productionListenerRule", &a.production_listener_rule),
            ("roleArn", &a.role_arn),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k)
        .collect();
        if missing.is_empty() {
            return Finding::ok(
                check,
                format!(
                    "{} and {} behind {}",
                    b.target_group.as_deref().unwrap_or("?"),
                    a.alternate_target_group.as_deref().unwrap_or("?"),
                    a.production_listener_rule.as_deref().unwrap_or("?")
                ),
            );
        }
        return Finding::fail(
            check,
            format!(
                "the load balancer's advancedConfiguration lacks {}",
                missing.join(", ")
            ),
            fix,
        );
    }
    Finding::fail(
        check,
        "the service's load balancer has no advancedConfiguration: ECS has no second target group to start the new revision behind",
        fix,
    )
}

/// With a verify section, verify's checks reach the new revision through the test listener
/// rule (AdvancedConfiguration `testListenerRule`: "for routing test traffic").
fn test_traffic(config: &ServiceConfig, n: &NativeConfig) -> Option<Finding> {
    config.verify.as_ref()?;
    if n.service_connect {
        return None;
    }
    let advanced: Vec<_> = n
        .load_balancers
        .iter()
        .filter_map(|b| b.advanced.as_ref())
        .collect();
    // Without an advancedConfiguration, ecs-traffic already fails.
    if advanced.is_empty() {
        return None;
    }
    let rule = advanced.iter().find_map(|a| a.test_listener_rule.clone());
    Some(match rule {
        Some(r) => Finding::ok(
            "ecs-test-traffic",
            format!("test listener rule {r}: the verify hook checks the new revision through it"),
        ),
        None => Finding::warn(
            "ecs-test-traffic",
            "no testListenerRule, but the registry has a verify section: its checks would reach the revision serving production, not the new one",
            "set advancedConfiguration.testListenerRule to the test listener's rule and point verify's base URL at that listener",
        ),
    })
}

/// Whether a hook runs `function` (a name or an ARN, as `BERTH_VERIFY_FUNCTION` may be).
fn runs(h: &HookConfig, function: &str) -> bool {
    let Some(arn) = h.target_arn.as_deref() else {
        return false;
    };
    let name = function.rsplit(":function:").next().unwrap_or(function);
    arn == function
        || arn
            .rsplit(":function:")
            .next()
            .is_some_and(|n| n == name || n.split(':').next() == Some(name))
}

/// With a verify section, a Lambda lifecycle hook runs berth's verify at
/// POST_TEST_TRAFFIC_SHIFT, with a role ECS may assume that may invoke it.
fn verify_hook(
    config: &ServiceConfig,
    n: &NativeConfig,
    function: Option<&str>,
    roles: &[HookRole],
) -> Finding {
    let check = "ecs-verify-hook";
    let lambdas: Vec<&HookConfig> = n
        .hooks
        .iter()
        .filter(|h| h.target_type == "AWS_LAMBDA")
        .collect();
    let hook = match function {
        Some(f) => lambdas.iter().find(|h| runs(h, f)).copied(),
        None => lambdas.first().copied(),
    };
    let fix = format!(
        "add a lifecycle hook {{targetType AWS_LAMBDA, hookTargetArn: the platform's verify function, lifecycleStages [{VERIFY_STAGE}], roleArn: the platform's ECS hook role}} to the service's deploymentConfiguration"
    );
    let Some(h) = hook else {
        if config.verify.is_none() {
            return Finding::ok(
                check,
                "no verify hook, and none needed: the registry has no verify section",
            );
        }
        return Finding::fail(
            check,
            format!(
                "the registry has a verify section, but no lifecycle hook runs {}: nothing checks the new revision before production traffic moves",
                function.unwrap_or("berth's verify function")
            ),
            fix,
        );
    };
    let target = h.target_arn.as_deref().unwrap_or("?");
    if function.is_none() {
        return Finding::warn(
            check,
            format!(
                "BERTH_VERIFY_FUNCTION is not set: cannot tell whether hook {target} is berth's verify"
            ),
            "set BERTH_VERIFY_FUNCTION to the platform's verify function (the platform stack's VerifyFunctionName output)",
        );
    }
    if !h.stages.iter().any(|s| s == VERIFY_STAGE) {
        return Finding::warn(
            check,
            format!(
                "verify runs at {}: only from {VERIFY_STAGE} does the test listener reach the new revision",
                h.stages.join(", ")
            ),
            format!("set the hook's lifecycleStages to [{VERIFY_STAGE}]"),
        );
    }
    hook_role(h, target, roles)
}

/// "For the trust policy, you need to allow the service to assume this role ... Principal
/// Service ecs.amazonaws.com" and "lambda:InvokeFunction – Allows Amazon ECS to invoke Lambda
/// functions configured as lifecycle hooks" (Permissions required for Lambda functions in
/// Amazon ECS blue/green deployments).
fn hook_role(h: &HookConfig, target: &str, roles: &[HookRole]) -> Finding {
    let check = "ecs-verify-hook";
    let fix = "use the platform stack's ECS hook role (trusted by ecs.amazonaws.com, lambda:InvokeFunction on verify) as the hook's roleArn";
    let Some(role) = h.role_arn.as_deref() else {
        return Finding::fail(
            check,
            format!("the hook running {target} has no roleArn: ECS has no role to invoke it with"),
            fix,
        );
    };
    let Some(r) = roles.iter().find(|r| r.role_arn == role) else {
        return Finding::fail(check, format!("role {role} was not looked at"), fix);
    };
    match &r.trusts_ecs {
        Seen::Missing(why) => {
            return Finding::fail(check, format!("role {role} not found ({why})"), fix);
        }
        Seen::Found(false) => {
            return Finding::fail(
                check,
                format!(
                    "role {role} does not trust ecs.amazonaws.com: ECS cannot assume it to invoke {target}"
                ),
                fix,
            );
        }
        Seen::Found(true) => {}
    }
    if r.invoke != "allowed" {
        return Finding::fail(
            check,
            format!(
                "role {role} may not invoke {target} (lambda:InvokeFunction: {})",
                r.invoke
            ),
            fix,
        );
    }
    Finding::ok(
        check,
        format!(
            "{target} at {VERIFY_STAGE}, invoked as {role} (trusted by ecs.amazonaws.com, may invoke it)"
        ),
    )
}

/// Hold and promote: "Pause hooks pause an Amazon ECS service deployment at a specific
/// lifecycle stage and wait for you to call ContinueServiceDeployment" (Pause hooks for Amazon
/// ECS service deployments). Optional: without one deployments do not wait.
fn pause(n: &NativeConfig) -> Finding {
    let check = "ecs-pause-hook";
    let Some(h) = n.hooks.iter().find(|h| h.target_type == "PAUSE") else {
        return Finding::ok(
            check,
            "no PAUSE hook: deployments do not wait for `berth promote` (add a lifecycle hook with targetType PAUSE, e.g. at POST_TEST_TRAFFIC_SHIFT, to hold them)",
        );
    };
    let timeout = h
        .timeout
        .as_ref()
        .map(|(m, a)| format!(", after {m} min ECS takes {a}"))
        .unwrap_or_default();
    Finding::ok(
        check,
        format!(
            "PAUSE hook at {}{timeout}: `berth promote` continues it, `berth rollback` rolls back",
            h.stages.join(", ")
        ),
    )
}

/// "The deployment circuit breaker determines whether a service deployment will fail if the
/// service can't reach a steady state ... You can also configure Amazon ECS to roll back your
/// service to the last completed deployment after a failure" (DeploymentCircuitBreaker).
fn circuit_breaker(n: &NativeConfig) -> Finding {
    let check = "ecs-circuit-breaker";
    let fix =
        "set deploymentConfiguration.deploymentCircuitBreaker to {enable: true, rollback: true}";
    match n.circuit_breaker {
        Some((true, true)) => Finding::ok(
            check,
            "on, with rollback: a release whose tasks do not reach a steady state fails and the service returns to the last completed deployment",
        ),
        Some((true, false)) => Finding::warn(
            check,
            "on without rollback: a failed release stops, and the service is left on a half-replaced deployment",
            fix,
        ),
        _ => Finding::warn(
            check,
            "off: a release whose tasks never start keeps ECS trying, and berth's Deploy action waits until it gives up",
            fix,
        ),
    }
}

/// "You can configure Amazon ECS to set the deployment to failed when it detects that a
/// specified CloudWatch alarm has gone into the ALARM state" (How CloudWatch alarms detect
/// Amazon ECS deployment failures). Optional.
fn alarms(n: &NativeConfig) -> Finding {
    match &n.alarms {
        Some((names, true, rollback)) if !names.is_empty() => Finding::ok(
            "ecs-alarms",
            format!(
                "{} decide(s) a deployment's failure{}",
                names.join(", "),
                if *rollback { ", with rollback" } else { "" }
            ),
        ),
        _ => Finding::ok(
            "ecs-alarms",
            "no deployment alarms (optional: deploymentConfiguration.alarms fail and roll back a deployment whose alarm goes into ALARM)",
        ),
    }
}

/// Whether an IAM trust policy (as GetRole returns it: "A policy document that conforms to RFC
/// 3986 URL-encoded", or plain JSON) lets `service` assume the role: an `Allow` statement for
/// `sts:AssumeRole` (or `sts:*`, `*`) whose `Principal.Service` names it.
pub fn trusts(document: &str, service: &str) -> bool {
    let decoded = percent_decoded(document);
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&decoded) else {
        return false;
    };
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &doc["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        one @ serde_json::Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements.iter().any(|st| {
        st["Effect"] == "Allow"
            && list(&st["Action"])
                .iter()
                .any(|a| matches!(a.as_str(), "sts:AssumeRole" | "sts:*" | "*"))
            && list(&st["Principal"]["Service"])
                .iter()
                .any(|s| s == service)
    })
}

/// `%XX` escapes decoded (a document with none is returned as is).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
