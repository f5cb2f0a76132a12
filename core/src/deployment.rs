//! CodeDeploy blue/green deployments of a service: which phase one is in. The calls that read a
//! deployment and move it on are `berth::deployment`.
//!
//! CodeDeploy returns no deadlines; they are computed from the deployment group's settings and
//! the ECS target's lifecycle events: "Deadlines are not returned by the API".

use serde::Serialize;

/// What berth reads of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub id: String,
    /// CodeDeploy's status: Created, Queued, InProgress, Baking, Ready, Succeeded, Failed, Stopped.
    pub status: String,
    /// Minutes CodeDeploy waits for a promote before it stops the deployment (STOP_DEPLOYMENT).
    pub promote_wait_minutes: Option<i32>,
    /// Minutes blue keeps running after the shift.
    pub termination_wait_minutes: Option<i32>,
    /// "true as soon as the termination wait period starts" (DeploymentInfo). Taken when true,
    /// never relied on: for ECS it stays false through the wait — "`instanceTerminationWaitTimeStarted`
    /// not returning true while in wait phase is a bug in CodeDeploy" (an AWS engineer,
    /// aws/containers-roadmap#269).
    pub termination_wait_started: bool,
    /// The ECS target's status. The same engineer: "the deployment starts waiting (if
    /// configured) immediately after marking the target status as `Succeeded`".
    pub target_status: Option<String>,
    /// When the target was last updated (ECSTarget `lastUpdatedAt`), epoch seconds.
    pub target_updated: Option<i64>,
    /// Lifecycle events of the ECS target: (name, status, end in epoch seconds).
    pub events: Vec<(String, String, Option<i64>)>,
    /// The target group of the ECS target's replacement task set, the one labelled `GREEN`: "A
    /// label that identifies whether the ECS task set is an original target (BLUE) or a
    /// replacement target (GREEN)" (ECSTaskSet). None until CodeDeploy reports that task set.
    pub green_target_group: Option<String>,
    /// CodeDeploy's rollback process created the deployment (DeploymentInfo.creator
    /// `codeDeployRollback`, or `rollbackInfo.rollbackTriggeringDeploymentId` names another).
    pub rollback: bool,
}

/// Where a deployment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Created or queued; no task set yet.
    Starting,
    /// The replacement (green) task set runs behind the test listener; hooks check it.
    TestTraffic,
    /// Verified and held: production traffic moves when someone promotes, or the deployment
    /// stops at `until` (epoch seconds).
    WaitingForPromote {
        until: Option<i64>,
    },
    /// Production traffic is moving to green.
    Shifting,
    /// Traffic is on green; blue still runs, so going back is a traffic switch until `until`.
    TerminationWait {
        until: Option<i64>,
    },
    Finished {
        status: String,
    },
}

impl Phase {
    /// Whether a stop with rollback returns traffic to a blue task set that still runs.
    pub fn blue_is_running(&self) -> bool {
        !matches!(self, Phase::Finished { .. })
    }

    /// What the phase says in one line, with its deadline.
    pub fn describe(&self) -> String {
        let by = |until: &Option<i64>| match until {
            Some(t) => format!(" until {}", crate::record::timestamp(epoch(*t))),
            None => String::new(),
        };
        match self {
            Phase::Starting => "starting (replacement task set being created)".into(),
            Phase::TestTraffic => "test traffic: the replacement task set is being checked".into(),
            Phase::WaitingForPromote { until } => format!("waiting for promote{}", by(until)),
            Phase::Shifting => "shifting production traffic".into(),
            Phase::TerminationWait { until } => {
                format!("termination wait{} (blue still running)", by(until))
            }
            Phase::Finished { status } => format!("finished: {status}"),
        }
    }
}

fn epoch(secs: i64) -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs.max(0) as u64)
}

/// A lifecycle event that is over without failing: `Succeeded`, or `Skipped` ("The deployment
/// lifecycle event has been skipped", LifecycleEvent) — for ECS, "If an event hook is not
/// present, no operation is executed for that event" (AppSpec 'hooks' section).
fn over(status: &str) -> bool {
    matches!(status, "Succeeded" | "Skipped")
}

/// The end of the last event among `names` that is over.
fn ended(f: &Facts, names: &[&str]) -> Option<i64> {
    f.events
        .iter()
        .filter(|(n, s, _)| names.contains(&n.as_str()) && over(s))
        .filter_map(|(_, _, end)| *end)
        .max()
}

/// Whether any event among `names` is over (with or without an end time).
fn passed(f: &Facts, names: &[&str]) -> bool {
    f.events
        .iter()
        .any(|(n, s, _)| names.contains(&n.as_str()) && over(s))
}

/// Traffic is on green and the last hook is over: the termination wait. The ECS lifecycle
/// events, in order: BeforeInstall, Install, AfterInstall, AllowTestTraffic,
/// AfterAllowTestTraffic, BeforeAllowTraffic, AllowTraffic, AfterAllowTraffic ("AfterAllowTraffic
/// – Use to run tasks after the second target group serves traffic to the replacement task
/// set", AppSpec 'hooks' section). After the last one CodeDeploy marks the target `Succeeded`
/// and waits; `instanceTerminationWaitTimeStarted` counts only when it is true.
fn terminating(f: &Facts) -> bool {
    f.termination_wait_started
        || f.status == "Baking"
        || f.target_status.as_deref() == Some("Succeeded")
        || passed(f, &["AfterAllowTraffic"])
}

/// When the termination wait ends: from the end of the shift (AllowTraffic, AfterAllowTraffic),
/// else from the target's last update, plus `terminationWaitTimeInMinutes` ("For an Amazon ECS
/// deployment, the number of minutes before deleting the original (blue) task set",
/// BlueInstanceTerminationOption).
fn termination_deadline(f: &Facts) -> Option<i64> {
    let since = ended(f, &["AfterAllowTraffic", "AllowTraffic"]).or(f.target_updated)?;
    Some(since + i64::from(f.termination_wait_minutes?) * 60)
}

/// The phase of a deployment (pure).
pub fn phase(f: &Facts) -> Phase {
    match f.status.as_str() {
        "Succeeded" | "Failed" | "Stopped" => Phase::Finished {
            status: f.status.clone(),
        },
        "Created" | "Queued" => Phase::Starting,
        "Ready" => Phase::WaitingForPromote {
            until: ended(
                f,
                &[
                    "AfterAllowTestTraffic",
                    "BeforeAllowTraffic",
                    "AllowTestTraffic",
                    "AfterInstall",
                    "Install",
                ],
            )
            .zip(f.promote_wait_minutes)
            .map(|(at, m)| at + i64::from(m) * 60),
        },
        _ if terminating(f) => Phase::TerminationWait {
            until: termination_deadline(f),
        },
        _ if passed(
            f,
            &[
                "BeforeAllowTraffic",
                "AfterAllowTestTraffic",
                "AllowTraffic",
            ],
        ) =>
        {
            Phase::Shifting
        }
        _ if passed(f, &["AllowTestTraffic"]) => Phase::TestTraffic,
        _ => Phase::Starting,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(status: &str, events: &[(&str, &str, Option<i64>)]) -> Facts {
        Facts {
            id: "d-1".into(),
            status: status.into(),
            promote_wait_minutes: Some(60),
            termination_wait_minutes: Some(30),
            termination_wait_started: false,
            target_status: Some("InProgress".into()),
            target_updated: None,
            green_target_group: None,
            rollback: false,
            events: events
                .iter()
                .map(|(n, s, e)| (n.to_string(), s.to_string(), *e))
                .collect(),
        }
    }

    const INSTALLED: [(&str, &str, Option<i64>); 3] = [
        ("BeforeInstall", "Succeeded", Some(10)),
        ("Install", "Succeeded", Some(60)),
        ("AfterInstall", "Succeeded", Some(70)),
    ];
    const TESTED: [(&str, &str, Option<i64>); 2] = [
        ("AllowTestTraffic", "Succeeded", Some(100)),
        ("AfterAllowTestTraffic", "Succeeded", Some(160)),
    ];
    const SHIFTED: [(&str, &str, Option<i64>); 3] = [
        ("BeforeAllowTraffic", "Succeeded", Some(400)),
        ("AllowTraffic", "Succeeded", Some(500)),
        ("AfterAllowTraffic", "Succeeded", Some(520)),
    ];

    fn with(status: &str, parts: &[&[(&str, &str, Option<i64>)]]) -> Facts {
        facts(status, &parts.concat())
    }

    /// The report in aws/containers-roadmap#269: traffic moved, blue still runs, CodeDeploy
    /// says `InProgress` with `instanceTerminationWaitTimeStarted` false and the target
    /// `Succeeded`.
    fn as_aws_reports_the_wait() -> Facts {
        let mut f = with("InProgress", &[&INSTALLED, &TESTED, &SHIFTED]);
        f.target_status = Some("Succeeded".into());
        f.target_updated = Some(521);
        f
    }

    #[test]
    fn each_phase_is_told_from_the_status_and_the_lifecycle_events() {
        let test_hook_running = [
            ("AllowTestTraffic", "Succeeded", Some(100)),
            ("AfterAllowTestTraffic", "InProgress", None),
        ];
        let allowing = [("AllowTraffic", "InProgress", None)];
        let last_hook_running = [
            ("BeforeAllowTraffic", "Succeeded", Some(400)),
            ("AllowTraffic", "Succeeded", Some(500)),
            ("AfterAllowTraffic", "InProgress", None),
        ];
        let no_last_hook = [
            ("BeforeAllowTraffic", "Skipped", Some(400)),
            ("AllowTraffic", "Succeeded", Some(500)),
            ("AfterAllowTraffic", "Skipped", Some(501)),
        ];
        let cases: Vec<(&str, Facts, Phase)> = vec![
            ("queued", facts("Queued", &[]), Phase::Starting),
            ("created", facts("Created", &[]), Phase::Starting),
            (
                "replacement task set being installed",
                facts("InProgress", &[("Install", "InProgress", None)]),
                Phase::Starting,
            ),
            (
                "test traffic, its hook running",
                with("InProgress", &[&INSTALLED, &test_hook_running]),
                Phase::TestTraffic,
            ),
            (
                "held for promote: deadline from the test hook's end",
                with("Ready", &[&INSTALLED, &TESTED]),
                Phase::WaitingForPromote {
                    until: Some(160 + 3600),
                },
            ),
            (
                "test hook passed, no hold: shifting",
                with("InProgress", &[&INSTALLED, &TESTED]),
                Phase::Shifting,
            ),
            (
                "production traffic moving",
                with("InProgress", &[&INSTALLED, &TESTED, &allowing]),
                Phase::Shifting,
            ),
            (
                "traffic moved, the AfterAllowTraffic hook still running",
                with("InProgress", &[&INSTALLED, &TESTED, &last_hook_running]),
                Phase::Shifting,
            ),
            (
                "as AWS reports the wait: flag false, target Succeeded",
                as_aws_reports_the_wait(),
                Phase::TerminationWait {
                    until: Some(520 + 1800),
                },
            ),
            (
                "AfterAllowTraffic over, target status not yet read as Succeeded",
                with("InProgress", &[&INSTALLED, &TESTED, &SHIFTED]),
                Phase::TerminationWait {
                    until: Some(520 + 1800),
                },
            ),
            (
                "no AfterAllowTraffic hook: the event is skipped",
                with("InProgress", &[&INSTALLED, &TESTED, &no_last_hook]),
                Phase::TerminationWait {
                    until: Some(501 + 1800),
                },
            ),
            (
                "done",
                with("Succeeded", &[&INSTALLED, &TESTED, &SHIFTED]),
                Phase::Finished {
                    status: "Succeeded".into(),
                },
            ),
            (
                "rolled back",
                facts("Stopped", &[]),
                Phase::Finished {
                    status: "Stopped".into(),
                },
            ),
            (
                "failed",
                with("Failed", &[&INSTALLED, &test_hook_running]),
                Phase::Finished {
                    status: "Failed".into(),
                },
            ),
        ];
        for (name, f, want) in cases {
            assert_eq!(phase(&f), want, "{name}");
        }
    }

    #[test]
    fn the_termination_wait_shows_its_end_though_codedeploy_never_flags_it_for_ecs() {
        let mut f = as_aws_reports_the_wait();
        let shift_end = 1_795_000_000; // 2026-11-18T11:06:40Z
        f.events = vec![
            (
                "AllowTraffic".into(),
                "Succeeded".into(),
                Some(shift_end - 20),
            ),
            (
                "AfterAllowTraffic".into(),
                "Succeeded".into(),
                Some(shift_end),
            ),
        ];
        assert!(!f.termination_wait_started);
        assert_eq!(
            phase(&f).describe(),
            "termination wait until 2026-11-18T11:36:40Z (blue still running)"
        );
    }

    #[test]
    fn the_termination_wait_flag_still_counts_when_codedeploy_sets_it() {
        let mut f = with(
            "InProgress",
            &[&INSTALLED, &TESTED, &last_hook_running_events()],
        );
        assert_eq!(phase(&f), Phase::Shifting);
        f.termination_wait_started = true;
        assert_eq!(
            phase(&f),
            Phase::TerminationWait {
                until: Some(500 + 1800)
            }
        );
    }

    fn last_hook_running_events() -> [(&'static str, &'static str, Option<i64>); 2] {
        [
            ("AllowTraffic", "Succeeded", Some(500)),
            ("AfterAllowTraffic", "InProgress", None),
        ]
    }

    #[test]
    fn a_deadline_needs_both_a_start_and_the_wait_minutes() {
        let mut no_events = as_aws_reports_the_wait();
        no_events.events.clear();
        assert_eq!(
            phase(&no_events),
            Phase::TerminationWait {
                until: Some(521 + 1800)
            },
            "the target's last update when the events are unread"
        );
        no_events.target_updated = None;
        assert_eq!(phase(&no_events), Phase::TerminationWait { until: None });
        let mut no_minutes = as_aws_reports_the_wait();
        no_minutes.termination_wait_minutes = None;
        assert_eq!(phase(&no_minutes), Phase::TerminationWait { until: None });
        let mut no_hold = with("Ready", &[&INSTALLED, &TESTED]);
        no_hold.promote_wait_minutes = None;
        assert_eq!(phase(&no_hold), Phase::WaitingForPromote { until: None });
    }

    #[test]
    fn blue_runs_until_the_deployment_is_finished() {
        assert!(Phase::TerminationWait { until: None }.blue_is_running());
        assert!(Phase::Shifting.blue_is_running());
        assert!(
            !Phase::Finished {
                status: "Succeeded".into()
            }
            .blue_is_running()
        );
        assert!(
            Phase::WaitingForPromote {
                until: Some(1_795_000_000)
            }
            .describe()
            .contains("until 2026-11-18T11:06:40Z")
        );
    }
}
