//! `verify` as an Amazon ECS lifecycle hook (`berth_core::ecs_hook` has the event, the answer
//! and the rules, with the ECS documentation quoted). One invocation is one pass: it tries each
//! check that has not passed once and answers — SUCCEEDED, FAILED ("Amazon ECS rolls back the
//! deployment to the last successful service revision"), or IN_PROGRESS with `callBackDelay` =
//! the registry's `interval_seconds` and its progress in `hookDetails`, which ECS passes back.
//!
//! berth's own errors are FAILED naming the call, as for CodeDeploy: the registry
//! (`ssm:GetParametersByPath`), the target revision (`ecs:DescribeServiceRevisions`), the
//! pipeline (`codepipeline:GetPipelineState`, `codepipeline:GetPipelineExecution`) and the
//! release record (`s3:GetObject`). The registry is read at every pass (its checks); the
//! revision, pipeline and record before the first check, and again when a later pass decides,
//! to record the verdict. The verdict is recorded before it is answered (ECS gets it only in
//! the answer); a record that cannot be written changes nothing about it (`note`).

use std::time::{Duration, SystemTime};

use berth_core::ecs_hook::{self, Details, HookAnswer, HookEvent, StageRule};
use serde_json::Value;
use tokio::time::Instant;

use super::{Context, Found, REPORT_MARGIN, checks};
use crate::images::Home;
use crate::record::{Verdict, timestamp};
use crate::registry::{Service, VerifyConfig};

/// One pass's outcome.
struct Pass {
    /// `None`: not decided yet; ECS calls again.
    verdict: Option<Verdict>,
    details: Details,
    delay: u64,
    found: Option<Found>,
}

impl Context {
    /// Answers an ECS hook event (`payload` is one by [`ecs_hook::kind`]). Never an error: every
    /// fault is a FAILED answer naming it (ECS rolls back a function that fails, too, but
    /// without saying why).
    pub async fn on_ecs_hook(
        &self,
        payload: Value,
        home: &Home,
        deadline: SystemTime,
    ) -> HookAnswer {
        let started = SystemTime::now();
        let now = timestamp(started);
        let event = match ecs_hook::parse(payload) {
            Ok(e) => e,
            Err(why) => return HookAnswer::without_checks(Verdict::Failed, why, now),
        };
        let carried = match ecs_hook::carried(event.hook_details.as_ref()) {
            Ok(c) => c,
            Err(why) => return HookAnswer::without_checks(Verdict::Failed, why, now),
        };
        match ecs_hook::stage_rule(&event) {
            StageRule::Check => {}
            StageRule::Pass(note) => {
                tracing::info!(stage = %event.lifecycle_stage, %note, "nothing to verify");
                return HookAnswer::without_checks(Verdict::Passed, note, now);
            }
            StageRule::Refuse(why) => {
                tracing::error!(stage = %event.lifecycle_stage, %why, "hook misconfigured");
                return HookAnswer::without_checks(Verdict::Failed, why, now);
            }
        }
        let left = deadline
            .duration_since(started)
            .unwrap_or_default()
            .saturating_sub(REPORT_MARGIN);
        let until = Instant::now() + left;
        let pass = self.ecs_pass(&event, carried, home, until, now.clone());
        let mut pass = match tokio::time::timeout_at(until, pass).await {
            Ok(p) => p,
            Err(_) => return HookAnswer::without_checks(Verdict::Failed, out_of_time(left), now),
        };
        self.ecs_answer(&event, &mut pass, started).await
    }

    /// Records a final verdict, logs, and builds the answer.
    async fn ecs_answer(
        &self,
        event: &HookEvent,
        pass: &mut Pass,
        started: SystemTime,
    ) -> HookAnswer {
        if let (Some(_), Some(found)) = (pass.verdict, &pass.found) {
            let d = &mut pass.details;
            d.verdict = Some(found.verdict);
            d.message = Some(found.message.clone());
            d.service = found.subject.as_ref().map(|s| s.service.clone());
            d.release = found.subject.as_ref().map(|s| s.release.clone());
            if let Some(subject) = &found.subject {
                let since = crate::record::parse_timestamp(&d.started_at)
                    .and_then(|s| u64::try_from(s).ok())
                    .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
                    .unwrap_or(started);
                let recorded = self
                    .note(subject, &event.resource_arn, found, since, false)
                    .await;
                d.recorded = Some(recorded);
            }
        }
        tracing::info!(
            deployment = %event.resource_arn,
            stage = %event.lifecycle_stage,
            pass = pass.details.pass,
            verdict = pass.verdict.map(Verdict::name).unwrap_or("in progress"),
            message = pass.details.message.as_deref().unwrap_or_default(),
            checks = ?pass.details.checks,
            "hook answered"
        );
        HookAnswer::of(pass.verdict, pass.delay, &pass.details)
    }

    /// One pass: the service, its release (first and final passes), the checks not yet passed.
    async fn ecs_pass(
        &self,
        event: &HookEvent,
        carried: Option<Details>,
        home: &Home,
        until: Instant,
        now: String,
    ) -> Pass {
        let mut details = carried.unwrap_or_else(|| Details::new(now));
        let service = match self
            .ecs_service_of(&event.execution_details.service_arn, home)
            .await
        {
            Ok(s) => s,
            Err(why) => return Pass::decided(details, Found::failed(why, None)),
        };
        let Some(config) = service.config.verify.clone() else {
            return Pass::decided(details, self.ecs_unchecked(&service, event).await);
        };
        // Which release this is, and that its record is readable, before the first check.
        let mut subject = None;
        if details.pass == 0 {
            match self.ecs_subject(&service, event).await {
                Ok(s) => subject = Some(s),
                Err(why) => return Pass::decided(details, Found::failed(why, None)),
            }
        }
        details.pass += 1;
        details.checks = run_pass(self, &config, &details.checks, until).await;
        let Some(verdict) = ecs_hook::next(&details.checks, details.pass, config.attempts) else {
            let delay = ecs_hook::call_back_delay(config.interval_seconds);
            return Pass {
                verdict: None,
                details,
                delay,
                found: None,
            };
        };
        let subject = match subject {
            Some(s) => s,
            None => match self.ecs_subject(&service, event).await {
                Ok(s) => s,
                Err(why) => return Pass::decided(details, Found::failed(why, None)),
            },
        };
        let (_, message) = checks::verdict(&details.checks);
        let checks = details.checks.clone();
        Pass::decided(
            details,
            Found {
                verdict,
                message,
                checks,
                subject,
            },
        )
    }

    /// A service without a `verify` section passes, as for CodeDeploy, and says so.
    async fn ecs_unchecked(&self, service: &Service, event: &HookEvent) -> Found {
        match self.ecs_subject(service, event).await {
            Ok(subject) => Found {
                verdict: Verdict::Passed,
                message: format!(
                    "no checks configured for {} (registry entry has no verify section): passed",
                    service.config.service
                ),
                checks: Vec::new(),
                subject,
            },
            Err(why) => Found::failed(why, None),
        }
    }
}

impl Pass {
    fn decided(details: Details, found: Found) -> Pass {
        Pass {
            verdict: Some(found.verdict),
            details,
            delay: 0,
            found: Some(found),
        }
    }
}

/// Tries each check of `config` that has not passed in `previous` once, before `until`.
async fn run_pass(
    context: &Context,
    config: &VerifyConfig,
    previous: &[crate::record::CheckResult],
    until: Instant,
) -> Vec<crate::record::CheckResult> {
    let urls: Vec<String> = config
        .checks
        .iter()
        .map(|c| checks::url(&config.base_url, c))
        .collect();
    let tried = ecs_hook::pending(previous, &urls);
    let once = VerifyConfig {
        checks: tried.iter().map(|&i| config.checks[i].clone()).collect(),
        attempts: 1,
        ..config.clone()
    };
    let fresh = checks::run(&context.http, &once, until).await;
    ecs_hook::merge(previous, &urls, &tried, fresh)
}

fn out_of_time(left: Duration) -> String {
    format!(
        "verification did not finish within {} s, the time this invocation had before its deadline",
        left.as_secs()
    )
}
