//! A task target's release decisions (pure): which revision its schedules and rule targets run
//! now (the template), which of them a Deploy job repoints, and how a failed repoint is told.
//! The reads and writes are `berth::task_targets`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What one schedule or rule target runs now, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runs {
    /// `schedule <group>/<name>` or `rule <bus>/<rule> target <id>`.
    pub target: String,
    /// Its ECS task definition ARN; `None`: the target is not an ECS task.
    pub task_definition: Option<String>,
}

/// One target a Deploy job repointed: what it ran before and what it runs now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repointed {
    pub target: String,
    pub previous: String,
    pub task_definition_arn: String,
}

/// The family of a task definition ARN (`arn:…:task-definition/<family>:<revision>`, or
/// `<family>:<revision>`).
pub fn family_of(arn: &str) -> &str {
    let tail = arn.rsplit('/').next().unwrap_or(arn);
    tail.rsplit_once(':').map_or(tail, |(family, _)| family)
}

/// The object a task target's Deploy job writes create-only once its revision is registered:
/// a repeated invocation of the job finds it and registers nothing again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMarker {
    pub job: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    pub task_definition_arn: String,
    /// Each target and the revision it ran when the job first read it.
    pub previous: BTreeMap<String, String>,
    pub at_epoch: u64,
}

/// Refused when a target runs another family or no ECS task, naming each.
pub fn check_family(family: &str, runs: &[Runs]) -> Result<(), String> {
    let strangers = strangers(family, runs);
    if strangers.is_empty() {
        Ok(())
    } else {
        Err(format!("nothing was changed: {}", strangers.join("; ")))
    }
}

/// Every target that does not run a revision of `family`, each named with what it runs.
fn strangers(family: &str, runs: &[Runs]) -> Vec<String> {
    runs.iter()
        .filter_map(|r| match &r.task_definition {
            None => Some(format!("{} does not run an ECS task", r.target)),
            Some(arn) if family_of(arn) != family => Some(format!(
                "{} runs {arn}, not a revision of task family {family:?}",
                r.target
            )),
            Some(_) => None,
        })
        .collect()
}

/// The revision the targets run now: the release's template. Every target must run the same
/// revision of `family`; else the refusal names each target and its revision.
pub fn template(family: &str, runs: &[Runs]) -> Result<String, String> {
    let strangers = strangers(family, runs);
    if !strangers.is_empty() {
        return Err(strangers.join("; "));
    }
    let mut arns: Vec<&str> = runs
        .iter()
        .filter_map(|r| r.task_definition.as_deref())
        .collect();
    arns.dedup();
    match arns.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err("the task target names no schedule or rule".into()),
        _ => Err(format!(
            "the task target's schedules and rules run different revisions, so none is the release's template: {}; point them at one revision, then release again",
            runs.iter()
                .map(|r| format!(
                    "{} runs {}",
                    r.target,
                    r.task_definition.as_deref().unwrap_or("?")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The targets (by index) a Deploy job writes to run `new`: those that run another revision of
/// `family`. A target that already runs `new` is left alone, so a repeated job repoints
/// nothing twice. Refused when any target runs another family or no ECS task.
pub fn to_repoint(family: &str, new: &str, runs: &[Runs]) -> Result<Vec<usize>, String> {
    check_family(family, runs)?;
    Ok(runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.task_definition.as_deref() != Some(new))
        .map(|(i, _)| i)
        .collect())
}

/// The failure of a Deploy job whose write to `failed` was refused (`why`), after putting back
/// each target it had already changed (`put_back`: the target, and why it could not be put
/// back).
pub fn failure(failed: &str, why: &str, put_back: &[(String, Option<String>)]) -> String {
    let mut message = format!("{failed} could not be repointed: {why}");
    if put_back.is_empty() {
        message.push_str("; no other target had been changed");
        return message;
    }
    let (ok, stuck): (Vec<_>, Vec<_>) = put_back.iter().partition(|(_, e)| e.is_none());
    if !ok.is_empty() {
        let names: Vec<&str> = ok.iter().map(|(t, _)| t.as_str()).collect();
        message.push_str(&format!("; put back as it was: {}", names.join(", ")));
    }
    for (target, e) in stuck {
        message.push_str(&format!(
            "; {target} could NOT be put back and runs the new revision: {}",
            e.as_deref().unwrap_or("?")
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const R7: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/report:7";
    const R8: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/report:8";
    const OTHER: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/billing:3";

    fn runs(arns: &[Option<&str>]) -> Vec<Runs> {
        arns.iter()
            .enumerate()
            .map(|(i, a)| Runs {
                target: format!("schedule default/s{i}"),
                task_definition: a.map(str::to_owned),
            })
            .collect()
    }

    #[test]
    fn the_family_of_an_arn_or_a_short_name() {
        assert_eq!(family_of(R7), "report");
        assert_eq!(family_of("report:7"), "report");
        assert_eq!(
            family_of("arn:aws:ecs:r:1:task-definition/a-b_c:12"),
            "a-b_c"
        );
    }

    #[test]
    fn the_template_is_the_one_revision_every_target_runs() {
        assert_eq!(
            template("report", &runs(&[Some(R7), Some(R7)])),
            Ok(R7.into())
        );
        let split = template("report", &runs(&[Some(R7), Some(R8)])).unwrap_err();
        assert!(
            split.contains(&format!("schedule default/s0 runs {R7}")),
            "{split}"
        );
        assert!(
            split.contains(&format!("schedule default/s1 runs {R8}")),
            "{split}"
        );
        let other = template("report", &runs(&[Some(R7), Some(OTHER), None])).unwrap_err();
        assert!(
            other.contains(&format!(
                "schedule default/s1 runs {OTHER}, not a revision of task family \"report\""
            )),
            "{other}"
        );
        assert!(
            other.contains("schedule default/s2 does not run an ECS task"),
            "{other}"
        );
        assert!(template("report", &[]).is_err());
    }

    #[test]
    fn only_targets_on_another_revision_are_repointed() {
        for (arns, want) in [
            (vec![Some(R7), Some(R7)], vec![0, 1]),
            (vec![Some(R8), Some(R7)], vec![1]),
            (vec![Some(R8), Some(R8)], vec![]),
        ] {
            assert_eq!(to_repoint("report", R8, &runs(&arns)), Ok(want));
        }
        let refused = to_repoint("report", R8, &runs(&[Some(R7), Some(OTHER)])).unwrap_err();
        assert!(
            refused.starts_with("nothing was changed: schedule default/s1 runs"),
            "{refused}"
        );
    }

    #[test]
    fn a_failure_names_the_refused_target_and_each_put_back() {
        let none = failure("rule default/r target t", "AccessDenied", &[]);
        assert_eq!(
            none,
            "rule default/r target t could not be repointed: AccessDenied; no other target had been changed"
        );
        let put_back = [
            ("schedule default/a".to_owned(), None),
            (
                "schedule default/b".to_owned(),
                Some("Throttling".to_owned()),
            ),
        ];
        let m = failure("rule default/r target t", "AccessDenied", &put_back);
        assert!(
            m.contains("; put back as it was: schedule default/a"),
            "{m}"
        );
        assert!(
            m.contains(
                "; schedule default/b could NOT be put back and runs the new revision: Throttling"
            ),
            "{m}"
        );
    }
}
