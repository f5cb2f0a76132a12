//! Waiting for the service's deployment group to be free before a release migrates or renders.
//!
//! CodePipeline's *Stop and abandon* releases the stage lock while the Deploy action's CodeDeploy
//! deployment goes on: "After the execution is stopped, the action execution is in an Abandoned
//! state while the pipeline execution is in a Stopped state. The stage unlocks." (CodePipeline
//! User Guide, "Stop a pipeline execution"). The next queued release would then migrate while
//! that deployment still moves traffic (and may still roll back to code that expects the old
//! schema). So an ordinary release's Migrate action first asks CodeDeploy for the group's
//! deployments that have not ended, and waits through continuation tokens while there is one.

use serde::{Deserialize, Serialize};

use super::MAX_TOKEN_CHARS;

/// The `includeOnlyStatuses` of the `ListDeployments` call: every status of a deployment that
/// has not ended. The CodeDeploy API reference (ListDeployments) lists them: "Created: Include
/// created deployments in the resulting list. Queued: … In Progress: …", and the
/// `DeploymentStatus` type adds `Baking` and `Ready` (`Ready`: waiting for its traffic shift, a
/// held release whose promote has not come — still a deployment that may roll back).
pub const ACTIVE_STATUSES: [&str; 5] = ["Created", "Queued", "InProgress", "Baking", "Ready"];

/// How long a release waits for an abandoned deployment at most: 2 hours. CodeDeploy's own
/// traffic shifting is over well within it (the longest predefined ECS configuration,
/// `CodeDeployDefault.ECSLinear10PercentEvery3Minutes`, takes 30 minutes), and so is the stacks'
/// termination wait; what takes longer is a deployment waiting for a person (a `Ready` one held
/// for `berth promote`), and the summary tells that person what to do. It stays short because
/// the wait and the migration share CodePipeline's 24 hours (see [`wait_bound`]).
pub const MAX_WAIT_SECONDS: u64 = 2 * 3600;

/// What a Migrate action may spend in all: CodePipeline's Lambda invoke limit ("If not
/// successful after 24 hours, CodePipeline sets the Lambda invoke action state to failed")
/// less the hour of margin the migration timeout's own limit keeps (82800 seconds).
pub const ACTION_BUDGET_SECONDS: u64 = 82_800;

/// The wait's bound for a migration of `timeout_seconds` (0: no migration): at most
/// [`MAX_WAIT_SECONDS`], and never so long that the wait and the migration's own timeout
/// (counted from when the wait ends) would not fit in [`ACTION_BUDGET_SECONDS`].
pub fn wait_bound(timeout_seconds: u64) -> u64 {
    MAX_WAIT_SECONDS.min(ACTION_BUDGET_SECONDS.saturating_sub(timeout_seconds))
}

/// What the Migrate action does about the deployment group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Busy {
    /// No deployment is active: migrate (or render) as usual.
    Proceed,
    /// A deployment is active and the bound is not reached: answer `continue` with this summary.
    Wait { summary: String },
    /// The bound is reached: fail the job with this message.
    Fail { message: String },
}

/// Decides from the group's active deployment ids (`ListDeployments`), the wait's start, now and
/// the bound.
pub fn decide(
    service: &str,
    active: &[String],
    since_epoch: u64,
    now_epoch: u64,
    bound_seconds: u64,
) -> Busy {
    let Some(first) = active.first() else {
        return Busy::Proceed;
    };
    let ids = active.join(", ");
    let waited = now_epoch.saturating_sub(since_epoch);
    if waited >= bound_seconds {
        return Busy::Fail {
            message: format!(
                "CodeDeploy deployment {ids} of {service} has not ended after {waited} seconds (the wait's bound is {bound_seconds}): nothing was migrated or deployed. End it (`berth rollback {service}`, or `berth promote {service}` for one held Ready), then retry the stage"
            ),
        };
    }
    Busy::Wait {
        summary: format!(
            "waiting for CodeDeploy deployment {first} of {service} to end before migrating ({waited}s of {bound_seconds}s; an earlier execution was stopped and abandoned while it deployed). If it is held Ready for a promote, that is the earlier release: `berth promote {service}` to finish it or `berth rollback {service}` to take it back; otherwise wait"
        )
        .chars()
        .take(2048)
        .collect(),
    }
}

/// [`decide`] for a service ECS deploys itself (controller `ECS`): `active` are its service
/// deployments that have not ended (ListServiceDeployments with the
/// [`crate::service_deployment::ACTIVE_STATUSES`]), bounded the same way. The Migrate action
/// waits for them before it renders or migrates, and the deploy action before it updates the
/// service.
pub fn decide_native(
    service: &str,
    active: &[String],
    since_epoch: u64,
    now_epoch: u64,
    bound_seconds: u64,
) -> Busy {
    let Some(first) = active.first() else {
        return Busy::Proceed;
    };
    let arns = active.join(", ");
    let waited = now_epoch.saturating_sub(since_epoch);
    if waited >= bound_seconds {
        return Busy::Fail {
            message: format!(
                "ECS service deployment {arns} of {service} has not ended after {waited} seconds (the wait's bound is {bound_seconds}): nothing of this release was migrated or deployed. End it (`berth rollback {service}`, or `berth promote {service}` for one paused at a hook), then retry the stage"
            ),
        };
    }
    Busy::Wait {
        summary: format!(
            "waiting for ECS service deployment {first} of {service} to end before this release migrates and deploys ({waited}s of {bound_seconds}s): an earlier release still deploying (its execution stopped and abandoned), or someone else updated the service. If it is paused at a hook, `berth promote {service}` finishes it and `berth rollback {service}` takes it back; otherwise wait"
        )
        .chars()
        .take(2048)
        .collect(),
    }
}

const WAITING_PHASE: &str = "waiting";

/// The token of a job waiting for the deployment group to be free.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    pub v: u8,
    /// Always `waiting`.
    pub phase: String,
    /// The job of the action's first invocation (see [`super::Token::job`]).
    pub job: String,
    /// When the wait began: the bound counts from here.
    pub since_epoch: u64,
    /// The deployment last seen active.
    #[serde(default)]
    pub deployment: String,
}

impl Waiting {
    pub fn new(job: &str, since_epoch: u64, deployment: &str) -> Self {
        Self {
            v: 2,
            phase: WAITING_PHASE.into(),
            job: job.to_owned(),
            since_epoch,
            deployment: deployment.chars().take(200).collect(),
        }
    }

    /// Serialized token (job ids and deployment ids are short: well within [`MAX_TOKEN_CHARS`]).
    pub fn encode(&self) -> String {
        let s = serde_json::to_string(self).unwrap_or_default();
        debug_assert!(s.len() <= MAX_TOKEN_CHARS);
        s
    }

    pub(super) fn is(value: &serde_json::Value) -> bool {
        value.get("phase").and_then(|p| p.as_str()) == Some(WAITING_PHASE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn decides_from_the_active_deployments_the_wait_start_and_now() {
        let t0 = 1_000_000;
        // (active, now, bound, expected kind, text the answer must contain)
        let rows: [(&[&str], u64, u64, &str, &str); 6] = [
            (&[], t0, 7200, "proceed", ""),
            (&[], t0 + 9000, 7200, "proceed", ""),
            (&["d-ABC"], t0, 7200, "wait", "d-ABC"),
            (&["d-ABC"], t0 + 7199, 7200, "wait", "berth promote web"),
            (&["d-ABC"], t0 + 7200, 7200, "fail", "d-ABC"),
            (&["d-ABC", "d-DEF"], t0 + 60, 0, "fail", "d-ABC, d-DEF"),
        ];
        for (active, now, bound, kind, text) in rows {
            let got = decide("web", &ids(active), t0, now, bound);
            let (k, said) = match &got {
                Busy::Proceed => ("proceed", String::new()),
                Busy::Wait { summary } => ("wait", summary.clone()),
                Busy::Fail { message } => ("fail", message.clone()),
            };
            assert_eq!(k, kind, "{active:?} at +{}: {got:?}", now - t0);
            assert!(said.contains(text), "{said:?} names {text:?}");
            if k != "proceed" {
                assert!(said.contains("berth rollback web"), "{said}");
            }
        }
    }

    #[test]
    fn an_ecs_service_waits_for_its_service_deployments_with_the_same_bound() {
        let t0 = 1_000_000;
        let arn = "arn:aws:ecs:us-east-1:1:service-deployment/prod/web/abc";
        assert_eq!(
            decide_native("web", &[], t0, t0 + 9000, 7200),
            Busy::Proceed
        );
        let Busy::Wait { summary } = decide_native("web", &ids(&[arn]), t0, t0 + 60, 7200) else {
            panic!("waits")
        };
        assert!(
            summary.contains(arn) && summary.contains("berth promote web"),
            "{summary}"
        );
        assert!(!summary.contains("CodeDeploy"), "{summary}");
        let Busy::Fail { message } = decide_native("web", &ids(&[arn]), t0, t0 + 7200, 7200) else {
            panic!("fails at the bound")
        };
        assert!(
            message.contains(arn) && message.contains("berth rollback web"),
            "{message}"
        );
    }

    #[test]
    fn the_wait_and_the_migration_fit_in_the_action_budget() {
        // (migration timeout, bound)
        for (timeout, bound) in [
            (0, 7200),
            (3600, 7200),
            (75_600, 7200),
            (79_200, 3600),
            (82_800, 0),
        ] {
            assert_eq!(wait_bound(timeout), bound, "timeout {timeout}");
            assert!(timeout + wait_bound(timeout) <= ACTION_BUDGET_SECONDS);
        }
    }

    #[test]
    fn the_waiting_token_decodes_as_waiting() {
        let w = Waiting::new("job-1", 42, "d-ABC");
        let s = w.encode();
        assert_eq!(
            super::super::Continuation::decode(&s).unwrap(),
            super::super::Continuation::Waiting(w)
        );
    }
}
