//! `verify`: the CodeDeploy lifecycle hook (AppSpec `AfterAllowTestTraffic`, also usable as
//! `BeforeAllowTraffic`). It runs the checks of the service's registry entry against the test
//! listener, then reports `Succeeded` or `Failed` with `PutLifecycleEventHookExecutionStatus`.
//! The same function is the Amazon ECS lifecycle hook of services ECS deploys itself
//! (blue/green, linear, canary): see `ecs` — it answers ECS in its return value instead.
//!
//! "The deployment is considered to have failed if CodeDeploy is not notified by the Lambda
//! validation function within one hour" (AppSpec 'hooks' section). berth reports on every path
//! — its own errors and a run that outlasts the invocation become `Failed` with the reason —
//! and always before the invocation's deadline (the checks stop [`REPORT_MARGIN`] before it).
//!
//! berth's own errors are the reads that say what is verified and where the verdict goes, all
//! made before any check runs: the deployment (`codedeploy:GetDeployment`), the registry
//! (`ssm:GetParametersByPath`), the pipeline (`codepipeline:GetPipelineState`,
//! `codepipeline:GetPipelineExecution`) and the release record (`s3:GetObject`). Any of them
//! failing is `Failed`, naming the call: a deployment berth cannot verify, or whose verdict it
//! cannot attribute, does not pass. Recording the verdict comes after reporting it and cannot
//! change it (see `note`).
//!
//! - `checks`: running the checks and judging answers.
//! - `subject`: which service and release a deployment is.
//! - `ecs`: the ECS lifecycle hook.
//! - `alarms`: the service stacks' target group alarms, which roll back a CodeDeploy deployment
//!   when they are about its replacement task set (`berth_core::alarm`).

mod alarms;
mod checks;
mod ecs;
mod subject;

use std::time::{Duration, SystemTime};

use aws_sdk_codedeploy::types::LifecycleEventStatus;
use berth_core::ecs_hook::{self, EventKind, HookAnswer};
use lambda_runtime::LambdaEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::http::Http;
use crate::images::Home;
use crate::invocation::{Invocation, event_of};
use crate::record::{CheckResult, Verdict, Verification, keep_newest, timestamp};
use crate::records::{Change, Records, Updated};
use crate::registry::Registry;
use crate::settings::Settings;
use crate::store::Bucket;

pub use alarms::AlarmOutcome;
pub use berth_core::alarm;
pub use checks::{MAX_BODY, judge, url, verdict};
pub use subject::Subject;

/// Time kept before the invocation's deadline to report and record the verdict.
pub const REPORT_MARGIN: Duration = Duration::from_secs(15);

/// What CodeDeploy sends a hook function: "`event.DeploymentId`" and
/// "`event.LifecycleEventHookExecutionId`" (the AppSpec hooks sample function).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HookEvent {
    pub deployment_id: String,
    pub lifecycle_event_hook_execution_id: String,
}

/// The function's answer, once the verdict was reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Output {
    Reported {
        deployment_id: String,
        verdict: Verdict,
        message: String,
        /// An earlier delivery of this hook had already reported; CodeDeploy kept that verdict.
        already_reported: bool,
        /// The verification is in the release record (or already was, from an earlier delivery).
        recorded: bool,
        service: Option<String>,
        release: Option<String>,
        checks: Vec<CheckResult>,
    },
    /// Not a hook event: there is nothing to report to.
    Ignored { reason: String },
}

/// What the function returns: CodeDeploy's hook is answered through its API and the return
/// value is an account of it ([`Output`]); ECS reads the return value itself ([`HookAnswer`]:
/// `hookStatus`, `callBackDelay`, `hookDetails`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    CodeDeploy(Output),
    Ecs(HookAnswer),
    /// A target group alarm's state change, weighed against the deployment in flight.
    Alarm(AlarmOutcome),
}

/// What a run found.
#[derive(Debug, Clone)]
struct Found {
    verdict: Verdict,
    message: String,
    checks: Vec<CheckResult>,
    subject: Option<Subject>,
}

impl Found {
    fn failed(message: String, subject: Option<Subject>) -> Self {
        Self {
            verdict: Verdict::Failed,
            message,
            checks: Vec::new(),
            subject,
        }
    }
}

/// Everything `verify` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub registry: Registry,
    pub records: Records,
    pub http: Http,
    pub region: String,
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        Self::new(&Clients::for_lambda(&[])?, &settings)
    }

    pub fn new(clients: &Clients, settings: &Settings) -> Result<Self> {
        Ok(Self {
            codedeploy: clients.codedeploy.clone(),
            codepipeline: clients.codepipeline.clone(),
            ecs: clients.ecs.clone(),
            registry: Registry::new(clients.ssm.clone(), &settings.services_prefix),
            records: Records::new(Bucket::new(clients.s3.clone(), &settings.release_bucket)),
            http: Http::new()?,
            region: clients.region().to_owned(),
        })
    }

    /// The Lambda handler.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Answer> {
        let invocation = Invocation::from_context(&event.context);
        self.answer(event.payload, &invocation).await
    }

    /// Answers `payload`: an ECS hook event ([`ecs_hook::kind`]) with a [`HookAnswer`], anything
    /// else as a CodeDeploy hook event (or [`Output::Ignored`] when it is neither).
    pub async fn answer(&self, payload: Value, invocation: &Invocation) -> Result<Answer> {
        let home = invocation.home(&self.region);
        if ecs_hook::kind(&payload) == EventKind::Ecs {
            let answer = self.on_ecs_hook(payload, &home, invocation.deadline).await;
            return Ok(Answer::Ecs(answer));
        }
        if alarm::is_alarm_event(&payload) {
            return match alarm::parse(payload) {
                Ok(change) => Ok(Answer::Alarm(self.on_alarm(change, &home).await?)),
                Err(reason) => Ok(Answer::CodeDeploy(Output::Ignored { reason })),
            };
        }
        let hook =
            match event_of::<HookEvent>(payload, "a CodeDeploy or Amazon ECS lifecycle hook event")
            {
                Ok(h)
                    if !h.deployment_id.is_empty()
                        && !h.lifecycle_event_hook_execution_id.is_empty() =>
                {
                    h
                }
                Ok(_) => {
                    return Ok(Answer::CodeDeploy(Output::Ignored {
                        reason: "the hook event names no deployment or hook execution".into(),
                    }));
                }
                Err(reason) => return Ok(Answer::CodeDeploy(Output::Ignored { reason })),
            };
        let output = self.on_hook(&hook, &home, invocation.deadline).await?;
        Ok(Answer::CodeDeploy(output))
    }

    /// Verifies, reports, then records. `Err` only when the verdict could not be reported:
    /// nothing is recorded, and the invocation fails with the report's errorType. Whether Lambda
    /// then retries depends on how CodeDeploy invoked the function, which its documentation does
    /// not say; if nothing reports, "the deployment is considered to have failed" after an hour
    /// (AppSpec 'hooks' section) and CodeDeploy rolls it back.
    pub async fn on_hook(
        &self,
        hook: &HookEvent,
        home: &Home,
        deadline: SystemTime,
    ) -> Result<Output> {
        let started = SystemTime::now();
        let left = deadline
            .duration_since(started)
            .unwrap_or_default()
            .saturating_sub(REPORT_MARGIN);
        let until = Instant::now() + left;
        // The checks stop at `until` themselves; this bounds AWS calls that hang.
        let found = match tokio::time::timeout_at(until, self.verify(hook, home, until)).await {
            Ok(found) => found,
            Err(_) => Found::failed(
                format!(
                    "verification did not finish within {} s, the time this invocation had before its deadline",
                    left.as_secs()
                ),
                None,
            ),
        };
        let already_reported = self.report(hook, found.verdict).await?;
        tracing::info!(
            deployment_id = %hook.deployment_id,
            verdict = found.verdict.name(),
            message = %found.message,
            already_reported,
            checks = ?found.checks,
            "verification reported"
        );
        let recorded = match &found.subject {
            Some(subject) => {
                self.note(
                    subject,
                    &hook.deployment_id,
                    &found,
                    started,
                    already_reported,
                )
                .await
            }
            None => false,
        };
        Ok(Output::Reported {
            deployment_id: hook.deployment_id.clone(),
            verdict: found.verdict,
            message: found.message,
            already_reported,
            recorded,
            service: found.subject.as_ref().map(|s| s.service.clone()),
            release: found.subject.as_ref().map(|s| s.release.clone()),
            checks: found.checks,
        })
    }

    async fn verify(&self, hook: &HookEvent, home: &Home, until: Instant) -> Found {
        let service = match self.service_of(&hook.deployment_id, home).await {
            Ok(s) => s,
            Err(why) => return Found::failed(why, None),
        };
        let subject = match self.subject(&service.config, &hook.deployment_id).await {
            Ok(subject) => subject,
            Err(why) => return Found::failed(why, None),
        };
        if let Some(s) = &subject
            && let Err(why) = self.record_readable(s).await
        {
            return Found::failed(why, subject);
        }
        let Some(config) = service.config.verify.as_ref() else {
            return Found {
                verdict: Verdict::Passed,
                message: format!(
                    "no checks configured for {} (registry entry has no verify section): passed",
                    service.config.service
                ),
                checks: Vec::new(),
                subject,
            };
        };
        let checks = checks::run(&self.http, config, until).await;
        let (verdict, message) = checks::verdict(&checks);
        Found {
            verdict,
            message,
            checks,
            subject,
        }
    }

    /// Reports the verdict; `Ok(true)` when the hook had already been reported (a repeated
    /// delivery): "LifecycleEventAlreadyCompletedException: An attempt to return the status of an
    /// already completed lifecycle event occurred."
    async fn report(&self, hook: &HookEvent, verdict: Verdict) -> Result<bool> {
        let status = match verdict {
            Verdict::Passed => LifecycleEventStatus::Succeeded,
            Verdict::Failed => LifecycleEventStatus::Failed,
        };
        let sent = self
            .codedeploy
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(&hook.deployment_id)
            .lifecycle_event_hook_execution_id(&hook.lifecycle_event_hook_execution_id)
            .status(status)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(false),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_lifecycle_event_already_completed_exception()) =>
            {
                Ok(true)
            }
            Err(e) => Err(Error::sdk(format!(
                "codedeploy:PutLifecycleEventHookExecutionStatus {}",
                hook.deployment_id
            ))(e)),
        }
    }

    /// Adds the verification of deployment `deployment_id` (CodeDeploy's id, or the ECS service
    /// deployment's ARN) to the release record; whether it is there now. After the verdict, on
    /// purpose: the verdict is what guards production traffic and CodeDeploy already has it (ECS
    /// gets it in the answer that follows), so a record that cannot be written changes nothing about the deployment — it is
    /// logged at ERROR, and `recorded` is false. (Recording first would either fail healthy
    /// deployments on a bookkeeping write, or record verdicts CodeDeploy never received.) The
    /// record was read before the checks ran, so what remains here is a write that failed. A
    /// repeated delivery does not replace what the first one recorded (that is the verdict
    /// CodeDeploy kept).
    async fn note(
        &self,
        subject: &Subject,
        deployment_id: &str,
        found: &Found,
        started: SystemTime,
        already_reported: bool,
    ) -> bool {
        let now = SystemTime::now();
        let entry = Verification {
            deployment_id: deployment_id.to_owned(),
            pipeline_execution_id: Some(subject.pipeline_execution_id.clone()),
            verdict: found.verdict,
            message: found.message.clone(),
            checks: found.checks.clone(),
            started_at: timestamp(started),
            finished_at: timestamp(now),
        };
        let edit = |r: &mut crate::record::ReleaseRecord| {
            let known = r
                .verifications
                .iter()
                .position(|v| v.deployment_id == entry.deployment_id);
            match known {
                Some(_) if already_reported => return Change::Keep(()),
                Some(i) => r.verifications[i] = entry.clone(),
                None => keep_newest(&mut r.verifications, entry.clone()),
            }
            Change::Write(())
        };
        match self
            .records
            .update(&subject.service, &subject.release, now, edit)
            .await
        {
            Ok(Updated::Missing) => {
                tracing::warn!(
                    service = %subject.service, release = %subject.release,
                    "no release record to note the verification in"
                );
                false
            }
            Ok(_) => true,
            Err(e) => {
                tracing::error!(
                    service = %subject.service, release = %subject.release,
                    kind = e.kind(), error = %e,
                    "verification not recorded"
                );
                false
            }
        }
    }
}
