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
    /// "true as soon as the termination wait period starts" (DeploymentInfo).
    pub termination_wait_started: bool,
    /// Lifecycle events of the ECS target: (name, status, end in epoch seconds).
    pub events: Vec<(String, String, Option<i64>)>,
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

/// The end of the last succeeded event among `names`.
fn ended(f: &Facts, names: &[&str]) -> Option<i64> {
    f.events
        .iter()
        .filter(|(n, s, _)| names.contains(&n.as_str()) && s == "Succeeded")
        .filter_map(|(_, _, end)| *end)
        .max()
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
        _ if f.termination_wait_started || f.status == "Baking" => Phase::TerminationWait {
            until: ended(f, &["AfterAllowTraffic", "AllowTraffic"])
                .zip(f.termination_wait_minutes)
                .map(|(at, m)| at + i64::from(m) * 60),
        },
        _ if ended(f, &["AfterAllowTraffic"]).is_some() => Phase::TerminationWait { until: None },
        _ if ended(f, &["BeforeAllowTraffic", "AfterAllowTestTraffic"]).is_some() => {
            Phase::Shifting
        }
        _ if ended(f, &["AllowTestTraffic"]).is_some() => Phase::TestTraffic,
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
            events: events
                .iter()
                .map(|(n, s, e)| (n.to_string(), s.to_string(), *e))
                .collect(),
        }
    }

    #[test]
    fn phases_and_their_deadlines() {
        let tested = [
            ("AllowTestTraffic", "Succeeded", Some(100)),
            ("AfterAllowTestTraffic", "Succeeded", Some(160)),
        ];
        let shifted = [
            ("AllowTraffic", "Succeeded", Some(500)),
            ("AfterAllowTraffic", "Succeeded", Some(520)),
        ];
        let mut waiting = facts("InProgress", &[&tested[..], &shifted[..]].concat());
        waiting.termination_wait_started = true;
        let cases: Vec<(&str, Facts, Phase)> = vec![
            ("queued", facts("Queued", &[]), Phase::Starting),
            (
                "task set starting",
                facts("InProgress", &[("Install", "InProgress", None)]),
                Phase::Starting,
            ),
            (
                "test traffic",
                facts(
                    "InProgress",
                    &[
                        ("AllowTestTraffic", "Succeeded", Some(100)),
                        ("AfterAllowTestTraffic", "InProgress", None),
                    ],
                ),
                Phase::TestTraffic,
            ),
            (
                "held for promote",
                facts("Ready", &tested),
                Phase::WaitingForPromote {
                    until: Some(160 + 3600),
                },
            ),
            (
                "shifting",
                facts(
                    "InProgress",
                    &[&tested[..], &[("AllowTraffic", "InProgress", None)][..]].concat(),
                ),
                Phase::Shifting,
            ),
            (
                "termination wait",
                waiting,
                Phase::TerminationWait {
                    until: Some(520 + 1800),
                },
            ),
            (
                "done",
                facts("Succeeded", &tested),
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
        ];
        for (name, f, want) in cases {
            assert_eq!(phase(&f), want, "{name}");
        }
        let mut no_hold = facts("Ready", &tested);
        no_hold.promote_wait_minutes = None;
        assert_eq!(phase(&no_hold), Phase::WaitingForPromote { until: None });
        assert!(Phase::TerminationWait { until: None }.blue_is_running());
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
