//! A task target (`task_target`): what runs a registry entry's task family when no ECS service
//! does — EventBridge Scheduler schedules, EventBridge rule targets, or nothing (register only:
//! the family's new revision is the release, for jobs other code starts by the family name).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The schedules and rules whose ECS target runs the family. Both empty: register only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskTarget {
    #[serde(default)]
    pub schedules: Vec<ScheduleRef>,
    #[serde(default)]
    pub rules: Vec<RuleRef>,
}

/// An EventBridge Scheduler schedule, by name and group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleRef {
    pub name: String,
    #[serde(default = "default_name")]
    pub group: String,
}

/// One target of an EventBridge rule, by rule, event bus (a name or an ARN) and target id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleRef {
    pub rule: String,
    #[serde(default = "default_name")]
    pub event_bus: String,
    pub target_id: String,
}

fn default_name() -> String {
    "default".into()
}

/// The most schedules and rule targets one entry may name: every one is read and written in one
/// Deploy job, and put back when another fails.
pub const MAX_TARGETS: usize = 20;

impl TaskTarget {
    /// No schedule and no rule: the family's newest revision is the release.
    pub fn register_only(&self) -> bool {
        self.schedules.is_empty() && self.rules.is_empty()
    }

    /// Every target, named as people read it, in the entry's order.
    pub fn names(&self) -> Vec<String> {
        let schedules = self.schedules.iter().map(ScheduleRef::describe);
        schedules
            .chain(self.rules.iter().map(RuleRef::describe))
            .collect()
    }
}

impl ScheduleRef {
    pub fn describe(&self) -> String {
        format!("schedule {}/{}", self.group, self.name)
    }
}

impl RuleRef {
    pub fn describe(&self) -> String {
        format!(
            "rule {}/{} target {}",
            self.event_bus, self.rule, self.target_id
        )
    }
}

/// A name of `1..=max` characters from `[0-9a-zA-Z-_.]` (`extra`: more allowed characters).
fn is_name(value: &str, max: usize, extra: &str) -> bool {
    (1..=max).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c) || extra.contains(c))
}

/// An event bus name or ARN, as ListTargetsByRule takes it: "Length Constraints: Minimum length
/// of 1. Maximum length of 1600. Pattern: (arn:aws[\w-]*:events:[a-z]{2}-[a-z]+-[\w-]+:[0-9]{12}:event-bus\/)?[/\.\-_A-Za-z0-9]+"
/// (EventBridge API reference). The ARN's prefix is checked loosely: its name part strictly.
fn is_event_bus(value: &str) -> bool {
    let name = match value.strip_prefix("arn:") {
        Some(rest) => match rest.split_once(":event-bus/") {
            Some((head, name)) if head.contains(":events:") => name,
            _ => return false,
        },
        None => value,
    };
    value.len() <= 1600 && is_name(name, 1600, "/")
}

/// Checks a `task_target` section. Schedule and group names: "Length Constraints: Minimum
/// length of 1. Maximum length of 64. Pattern: [0-9a-zA-Z-_.]+" (EventBridge Scheduler API
/// reference, GetSchedule); rule names and target ids: "Minimum length of 1. Maximum length of
/// 64. Pattern: [\.\-_A-Za-z0-9]+" (EventBridge API reference, ListTargetsByRule, PutTargets).
pub(super) fn check(t: &TaskTarget, err: &mut impl FnMut(&str, String)) {
    const NAME: &str = "must be 1-64 characters of [0-9A-Za-z-_.]";
    let mut schedules = BTreeSet::new();
    for (i, s) in t.schedules.iter().enumerate() {
        let at = format!("task_target.schedules[{i}]");
        if !is_name(&s.name, 64, "") {
            err(&format!("{at}.name"), format!("{:?} {NAME}", s.name));
        }
        if !is_name(&s.group, 64, "") {
            err(&format!("{at}.group"), format!("{:?} {NAME}", s.group));
        }
        if !schedules.insert((&s.group, &s.name)) {
            err(&at, format!("{} is named twice", s.describe()));
        }
    }
    let mut rules = BTreeSet::new();
    for (i, r) in t.rules.iter().enumerate() {
        let at = format!("task_target.rules[{i}]");
        if !is_name(&r.rule, 64, "") {
            err(&format!("{at}.rule"), format!("{:?} {NAME}", r.rule));
        }
        if !is_name(&r.target_id, 64, "") {
            err(
                &format!("{at}.target_id"),
                format!("{:?} {NAME}", r.target_id),
            );
        }
        if !is_event_bus(&r.event_bus) {
            err(
                &format!("{at}.event_bus"),
                format!(
                    "{:?} must be an event bus name ([0-9A-Za-z-_./], up to 1600) or an event bus ARN",
                    r.event_bus
                ),
            );
        }
        if !rules.insert((&r.event_bus, &r.rule, &r.target_id)) {
            err(&at, format!("{} is named twice", r.describe()));
        }
    }
    let n = t.schedules.len() + t.rules.len();
    if n > MAX_TARGETS {
        err(
            "task_target",
            format!("names {n} schedules and rules; at most {MAX_TARGETS}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::Service;
    use super::super::tests::home;
    use serde_json::json;

    /// The spec's task target: a schedule and a rule target running family `report`.
    fn report() -> serde_json::Value {
        json!({
            "service": "report", "cluster": "prod", "pipeline": "berth-report",
            "task_family": "report", "containers": { "job": "report/job" },
            "push_trigger": { "container": "job", "tag_pattern": "^v[0-9]+$" },
            "task_target": {
                "schedules": [ { "name": "nightly-report" } ],
                "rules": [ { "rule": "hourly-report", "target_id": "report" } ]
            }
        })
    }

    fn parse(v: &serde_json::Value) -> Result<Service, Vec<String>> {
        Service::parse(
            "/berth/services/report",
            Some("report"),
            &v.to_string(),
            &home(),
        )
    }

    #[test]
    fn a_task_target_parses_with_its_defaults() {
        let s = parse(&report()).unwrap();
        let t = s.config.task_target.unwrap();
        assert_eq!(s.config.ecs_service, None);
        assert_eq!(t.schedules[0].group, "default");
        assert_eq!(t.rules[0].event_bus, "default");
        assert_eq!(
            t.names(),
            [
                "schedule default/nightly-report",
                "rule default/hourly-report target report"
            ]
        );
        assert!(!t.register_only());
    }

    #[test]
    fn an_empty_task_target_is_register_only() {
        let mut v = report();
        v["task_target"] = json!({});
        let t = parse(&v).unwrap().config.task_target.unwrap();
        assert!(t.register_only());
    }

    #[test]
    fn a_task_target_refuses_every_service_section_at_once() {
        let mut v = report();
        v["ecs_service"] = "report".into();
        v["appspec"] = json!({ "container": "job", "port": 80 });
        v["deployment"] = json!({ "application": "a", "group": "g" });
        v["verify"] = json!({ "base_url": "http://x" });
        let errors = parse(&v).unwrap_err();
        for field in [": ecs_service:", ": appspec:", ": deployment:", ": verify:"] {
            assert!(
                errors.iter().any(|e| e.contains(field)),
                "{field}: {errors:?}"
            );
        }
    }

    #[test]
    fn an_entry_without_service_or_task_target_names_both_missing_fields() {
        let mut v = report();
        v.as_object_mut().unwrap().remove("task_target");
        let errors = parse(&v).unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains(": ecs_service: missing")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains(": appspec: missing")),
            "{errors:?}"
        );
    }

    #[test]
    fn bad_names_duplicates_and_too_many_targets_are_each_named() {
        let mut v = report();
        let long = "x".repeat(65);
        let mut schedules = vec![
            json!({ "name": "a b", "group": long }),
            json!({ "name": "n" }),
            json!({ "name": "n", "group": "default" }),
        ];
        schedules.extend((0..17).map(|i| json!({ "name": format!("s{i}") })));
        v["task_target"] = json!({
            "schedules": schedules,
            "rules": [
                { "rule": "r/1", "event_bus": "bus with space", "target_id": "" },
                { "rule": "r", "event_bus": "arn:aws:events:ap-northeast-1:123456789012:event-bus/jobs", "target_id": "t" }
            ]
        });
        let errors = parse(&v).unwrap_err();
        for field in [
            "task_target.schedules[0].name:",
            "task_target.schedules[0].group:",
            "task_target.schedules[2]: schedule default/n is named twice",
            "task_target.rules[0].rule:",
            "task_target.rules[0].event_bus:",
            "task_target.rules[0].target_id:",
            "task_target: names 22 schedules and rules; at most 20",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(field)),
                "{field}: {errors:?}"
            );
        }
        assert!(!errors.iter().any(|e| e.contains("rules[1]")), "{errors:?}");
        assert_eq!(errors.len(), 7, "{errors:?}");
    }
}
