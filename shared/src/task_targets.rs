//! A task target's schedules and rule targets (AWS adapter around [`crate::task_target`]):
//! read what each runs, and write one back with only its task definition changed.
//!
//! UpdateSchedule replaces the whole schedule: "When you call UpdateSchedule, EventBridge
//! Scheduler uses all values, including empty values, specified in the request and overrides
//! the existing schedule. This is by design. This means that if you do not set an optional field
//! in your request, that field will be set to its system-default value after the update."
//! (EventBridge Scheduler API reference, UpdateSchedule). So a schedule is written back from its
//! GetSchedule answer, every field as read but the ECS target's task definition ARN; a rule
//! target is written back with PutTargets as ListTargetsByRule listed it, likewise.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_sdk_eventbridge::types::Target as RuleTarget;
use aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput;
use aws_sdk_scheduler::primitives::DateTime;

use crate::error::{AwsFault, Error, Result};
use crate::task_target::Runs;
use berth_core::registry::{RuleRef, ScheduleRef, TaskTarget};

/// The clients of a task target's schedules and rules, made from the function's SDK config
/// only where a task target is read (clients are cheap; the config is the expensive part).
#[derive(Debug, Clone)]
pub struct TargetClients {
    pub scheduler: aws_sdk_scheduler::Client,
    pub events: aws_sdk_eventbridge::Client,
}

impl TargetClients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            scheduler: aws_sdk_scheduler::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
        }
    }
}

/// One schedule or rule target as read: everything needed to write it back.
#[derive(Debug, Clone)]
pub enum Read {
    Schedule(Box<GetScheduleOutput>),
    Rule(RuleRef, Box<RuleTarget>),
}

/// A target, named as people read it, and what it was read as.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: String,
    pub read: Read,
}

impl Found {
    /// The ECS task definition ARN the target runs; `None` when its target is not an ECS task.
    pub fn task_definition(&self) -> Option<&str> {
        match &self.read {
            Read::Schedule(s) => s
                .target
                .as_ref()
                .and_then(|t| t.ecs_parameters.as_ref())
                .map(|e| e.task_definition_arn.as_str()),
            Read::Rule(_, t) => t
                .ecs_parameters
                .as_ref()
                .map(|e| e.task_definition_arn.as_str()),
        }
    }

    pub fn runs(&self) -> Runs {
        Runs {
            target: self.name.clone(),
            task_definition: self.task_definition().map(str::to_owned),
        }
    }

    /// This target as it would be with `arn` as its task definition, nothing else changed.
    pub fn with_task_definition(&self, arn: &str) -> Found {
        let mut changed = self.clone();
        match &mut changed.read {
            Read::Schedule(s) => {
                if let Some(ecs) = s.target.as_mut().and_then(|t| t.ecs_parameters.as_mut()) {
                    ecs.task_definition_arn = arn.to_owned();
                }
            }
            Read::Rule(_, t) => {
                if let Some(ecs) = t.ecs_parameters.as_mut() {
                    ecs.task_definition_arn = arn.to_owned();
                }
            }
        }
        changed
    }
}

/// What a read found: every target, or why one cannot be used (the user's to fix).
pub type Reading = std::result::Result<Vec<Found>, String>;

/// Reads every schedule and rule target of `t`, in the entry's order. A target that does not
/// exist is a problem to report, naming it; a failure to ask is a fault.
pub async fn read(c: &TargetClients, t: &TaskTarget) -> Result<Reading> {
    let mut found = Vec::with_capacity(t.schedules.len() + t.rules.len());
    let mut missing = Vec::new();
    for s in &t.schedules {
        match read_schedule(c, s).await? {
            Some(f) => found.push(f),
            None => missing.push(format!(
                "{} was not found (scheduler:GetSchedule)",
                s.describe()
            )),
        }
    }
    for r in &t.rules {
        match read_rule(c, r).await? {
            Some(f) => found.push(f),
            None => missing.push(format!(
                "{} was not found (events:ListTargetsByRule lists no target with that id)",
                r.describe()
            )),
        }
    }
    Ok(if missing.is_empty() {
        Ok(found)
    } else {
        Err(missing.join("; "))
    })
}

/// The schedule; `None` when it (or its group) does not exist.
pub async fn read_schedule(c: &TargetClients, s: &ScheduleRef) -> Result<Option<Found>> {
    let sent = c
        .scheduler
        .get_schedule()
        .name(&s.name)
        .group_name(&s.group)
        .send()
        .await;
    let out = match sent {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(e) => {
            let action = format!("scheduler:GetSchedule {}/{}", s.group, s.name);
            return Err(Error::sdk(action)(e));
        }
    };
    Ok(Some(Found {
        name: s.describe(),
        read: Read::Schedule(Box::new(out)),
    }))
}

/// The rule's target with `target_id`, through every page; `None` when the rule or the target
/// does not exist.
pub async fn read_rule(c: &TargetClients, r: &RuleRef) -> Result<Option<Found>> {
    let mut token: Option<String> = None;
    loop {
        let sent = c
            .events
            .list_targets_by_rule()
            .rule(&r.rule)
            .event_bus_name(&r.event_bus)
            .set_next_token(token.take())
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => {
                let action = format!("events:ListTargetsByRule {}/{}", r.event_bus, r.rule);
                return Err(Error::sdk(action)(e));
            }
        };
        if let Some(t) = out.targets().iter().find(|t| t.id == r.target_id) {
            return Ok(Some(Found {
                name: r.describe(),
                read: Read::Rule(r.clone(), Box::new(t.clone())),
            }));
        }
        match out.next_token {
            Some(next) if !next.is_empty() => token = Some(next),
            _ => return Ok(None),
        }
    }
}

/// Writes `f` as it is: UpdateSchedule with every field of the schedule, or PutTargets with
/// the one target.
pub async fn write(c: &TargetClients, f: &Found) -> Result<()> {
    match &f.read {
        Read::Schedule(s) => update_schedule(c, s).await,
        Read::Rule(r, t) => put_target(c, r, t).await,
    }
}

async fn update_schedule(c: &TargetClients, s: &GetScheduleOutput) -> Result<()> {
    let name = s.name.clone().unwrap_or_default();
    let group = s.group_name.clone().unwrap_or_else(|| "default".into());
    c.scheduler
        .update_schedule()
        .name(&name)
        .group_name(&group)
        .set_schedule_expression(s.schedule_expression.clone())
        .set_schedule_expression_timezone(s.schedule_expression_timezone.clone())
        .set_start_date(start_date(s.start_date, SystemTime::now()))
        .set_end_date(s.end_date)
        .set_description(s.description.clone())
        .set_state(s.state.clone())
        .set_kms_key_arn(s.kms_key_arn.clone())
        .set_target(s.target.clone())
        .set_flexible_time_window(s.flexible_time_window.clone())
        .set_action_after_completion(s.action_after_completion.clone())
        .send()
        .await
        .map_err(Error::sdk(format!(
            "scheduler:UpdateSchedule {group}/{name}"
        )))?;
    Ok(())
}

/// The `StartDate` to write back: the one read while it is still ahead, none once it has
/// passed. Scheduler refuses a start date in the past ("The StartDate you specify cannot be
/// earlier than 5 minutes ago", its ValidationException), and a past one means what none means:
/// "The date, in UTC, after which the schedule can begin invoking its target" (Scheduler API
/// reference, `StartDate`). `EndDate` is always written back: leaving it out would revive a
/// schedule that has ended.
fn start_date(read: Option<DateTime>, now: SystemTime) -> Option<DateTime> {
    read.filter(|d| SystemTime::try_from(*d).is_ok_and(|at| at > now))
}

/// PutTargets answers 200 even when an entry failed: "FailedEntryCount — The number of failed
/// entries." (EventBridge API reference, PutTargets response), so the count is checked too.
async fn put_target(c: &TargetClients, r: &RuleRef, t: &RuleTarget) -> Result<()> {
    let action = format!(
        "events:PutTargets {}/{} {}",
        r.event_bus, r.rule, r.target_id
    );
    let out = c
        .events
        .put_targets()
        .rule(&r.rule)
        .event_bus_name(&r.event_bus)
        .targets(t.clone())
        .send()
        .await
        .map_err(Error::sdk(action.clone()))?;
    if out.failed_entry_count == 0 {
        return Ok(());
    }
    let why: Vec<String> = out
        .failed_entries()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e.error_code().unwrap_or("?"),
                e.error_message().unwrap_or("?")
            )
        })
        .collect();
    let source: crate::error::BoxError = format!(
        "{} failed entries: {}",
        out.failed_entry_count,
        why.join(", ")
    )
    .into();
    Err(Error::Aws {
        action,
        fault: AwsFault::Refused,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::operation::put_targets::PutTargetsOutput;
    use aws_sdk_eventbridge::types::{EcsParameters as RuleEcs, PutTargetsResultEntry};
    use aws_sdk_scheduler::operation::update_schedule::{
        UpdateScheduleInput, UpdateScheduleOutput,
    };
    use aws_sdk_scheduler::types::{
        ActionAfterCompletion, EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode,
        ScheduleState, Target,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;

    const OLD: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/report:7";
    const NEW: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/report:8";

    fn schedule() -> GetScheduleOutput {
        let ecs = EcsParameters::builder()
            .task_definition_arn(OLD)
            .task_count(2);
        let target = Target::builder()
            .arn("arn:aws:ecs:ap-northeast-1:123456789012:cluster/prod")
            .role_arn("arn:aws:iam::123456789012:role/run")
            .input("{}")
            .ecs_parameters(ecs.build().unwrap());
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Flexible)
            .maximum_window_in_minutes(15);
        GetScheduleOutput::builder()
            .name("nightly")
            .group_name("jobs")
            .schedule_expression("cron(0 3 * * ? *)")
            .schedule_expression_timezone("Asia/Tokyo")
            .start_date(DateTime::from_secs(4_102_444_800))
            .end_date(DateTime::from_secs(4_133_980_800))
            .description("nightly")
            .state(ScheduleState::Disabled)
            .kms_key_arn("arn:aws:kms:ap-northeast-1:123456789012:key/k")
            .target(target.build().unwrap())
            .flexible_time_window(window.build().unwrap())
            .action_after_completion(ActionAfterCompletion::Delete)
            .build()
    }

    fn found(read: Read) -> Found {
        Found {
            name: "t".into(),
            read,
        }
    }

    /// Writes `read` back through a mocked UpdateSchedule that answers only a request `matches`
    /// accepts; how many calls it answered.
    async fn write_back(
        read: GetScheduleOutput,
        matches: impl Fn(&UpdateScheduleInput) -> bool + Send + Sync + 'static,
    ) -> usize {
        let update = mock!(aws_sdk_scheduler::Client::update_schedule)
            .match_requests(matches)
            .then_output(|| {
                UpdateScheduleOutput::builder()
                    .schedule_arn("a")
                    .build()
                    .unwrap()
            });
        let clients = TargetClients {
            scheduler: mock_client!(aws_sdk_scheduler, RuleMode::MatchAny, [&update]),
            events: mock_client!(aws_sdk_eventbridge, []),
        };
        let f = found(Read::Schedule(Box::new(read))).with_task_definition(NEW);
        write(&clients, &f).await.expect("the request matched");
        update.num_calls()
    }

    /// UpdateSchedule "uses all values, including empty values, specified in the request and
    /// overrides the existing schedule" (EventBridge Scheduler API reference): every field read
    /// is sent, the task definition the only one changed.
    #[tokio::test]
    async fn update_schedule_sends_every_field_it_read_with_the_new_task_definition() {
        let read = schedule();
        let calls = write_back(read, |r| {
            let ecs = r.target().and_then(|t| t.ecs_parameters());
            r.name() == Some("nightly")
                && r.group_name() == Some("jobs")
                && r.schedule_expression() == Some("cron(0 3 * * ? *)")
                && r.schedule_expression_timezone() == Some("Asia/Tokyo")
                && r.start_date() == Some(&DateTime::from_secs(4_102_444_800))
                && r.end_date() == Some(&DateTime::from_secs(4_133_980_800))
                && r.description() == Some("nightly")
                && r.state() == Some(&ScheduleState::Disabled)
                && r.kms_key_arn().is_some()
                && r.flexible_time_window()
                    .and_then(|w| w.maximum_window_in_minutes)
                    == Some(15)
                && r.action_after_completion() == Some(&ActionAfterCompletion::Delete)
                && r.target().and_then(|t| t.input()) == Some("{}")
                && ecs.map(|e| (e.task_definition_arn(), e.task_count())) == Some((NEW, Some(2)))
        })
        .await;
        assert_eq!(calls, 1);
    }

    /// A start date already passed is left out (Scheduler refuses one "earlier than 5 minutes
    /// ago"); the end date is kept.
    #[tokio::test]
    async fn a_start_date_already_passed_is_not_written_back() {
        let mut read = schedule();
        read.start_date = Some(DateTime::from_secs(1_600_000_000));
        let calls = write_back(read, |r| {
            r.start_date().is_none() && r.end_date() == Some(&DateTime::from_secs(4_133_980_800))
        })
        .await;
        assert_eq!(calls, 1);
        let now = SystemTime::now();
        let ahead = DateTime::from(now + std::time::Duration::from_secs(60));
        assert_eq!(start_date(Some(ahead), now), Some(ahead));
        assert_eq!(start_date(None, now), None);
    }

    /// PutTargets can answer 200 with failed entries ("FailedEntryCount — The number of failed
    /// entries."): that is a refused write, named with the entry's error.
    #[tokio::test]
    async fn a_put_targets_answer_with_a_failed_entry_is_a_refusal() {
        let put = mock!(aws_sdk_eventbridge::Client::put_targets).then_output(|| {
            let entry = PutTargetsResultEntry::builder()
                .target_id("report")
                .error_code("ConcurrentModificationException")
                .error_message("try again")
                .build();
            PutTargetsOutput::builder()
                .failed_entry_count(1)
                .failed_entries(entry)
                .build()
        });
        let clients = TargetClients {
            scheduler: mock_client!(aws_sdk_scheduler, []),
            events: mock_client!(aws_sdk_eventbridge, [&put]),
        };
        let rule = RuleRef {
            rule: "hourly".into(),
            event_bus: "default".into(),
            target_id: "report".into(),
        };
        let ecs = RuleEcs::builder().task_definition_arn(OLD).build().unwrap();
        let target = RuleTarget::builder()
            .id("report")
            .arn("arn:aws:ecs:ap-northeast-1:123456789012:cluster/prod")
            .ecs_parameters(ecs)
            .build()
            .unwrap();
        let f = found(Read::Rule(rule, Box::new(target))).with_task_definition(NEW);
        let e = write(&clients, &f).await.expect_err("refused");
        let shown = e.to_string();
        assert!(
            shown.contains("1 failed entries: ConcurrentModificationException: try again"),
            "{shown}"
        );
        assert_eq!(put.num_calls(), 1);
    }
}
