//! A group member's own execution ended: its result goes into the group record, and the
//! invocation whose result completes the group sends the group's one notification. A retried
//! or repeated event finds the member already recorded and only completes what is missing
//! (the notification of a group that finished but was not announced).

use std::time::SystemTime;

use super::Context;
use crate::error::Result;
use crate::group::{self, Finish, GroupRecord, GroupStatus};
use crate::groups::Updated;
use crate::record::{ReleaseRecord, ReleaseStatus, timestamp};
use crate::records::Change;

impl Context {
    /// Records the member's result (`record` is the member's release record, already showing
    /// it) in its group's record.
    pub(super) async fn member_finished(
        &self,
        record: &ReleaseRecord,
        execution_id: &str,
        status: ReleaseStatus,
        seconds: Option<u64>,
        now: SystemTime,
    ) -> Result<()> {
        let Some(name) = record.group.as_deref() else {
            return Ok(());
        };
        let at = timestamp(now);
        let updated = self
            .groups
            .update(name, &record.release, now, |g| {
                match g.finished(&record.service, execution_id, status, seconds, &at) {
                    Finish::Updated { .. } => Change::Write(()),
                    Finish::NotMember | Finish::Unchanged => Change::Keep(()),
                }
            })
            .await?;
        let g = match updated {
            Updated::Done { record: g, .. } => *g,
            Updated::Missing => {
                tracing::info!(group = name, release = %record.release, "the release names a group that has no record of it; no group to update");
                return Ok(());
            }
        };
        if g.status == GroupStatus::InProgress || g.notified {
            return Ok(());
        }
        self.group_finished(&g, now).await
    }

    /// Logs `group finished` and sends the group's notification, then marks it sent.
    async fn group_finished(&self, g: &GroupRecord, now: SystemTime) -> Result<()> {
        let members: Vec<(&str, &str)> = g
            .members
            .iter()
            .map(|(s, m)| (s.as_str(), m.status.name()))
            .collect();
        tracing::info!(
            group = %g.group,
            release = %g.release,
            status = g.status.name(),
            members = ?members,
            duration_seconds = g.duration_seconds(),
            "group finished"
        );
        if !self.notifier.enabled() {
            return Ok(());
        }
        // The status first: SNS cuts a subject at 100 characters, and long names must not cut it.
        let subject = format!("berth: {} group {} {}", g.status.name(), g.group, g.release);
        let attributes = [("group", g.group.as_str()), ("status", g.status.name())];
        let delivery = self
            .notifier
            .send(&group::message(g), &group::event(g), &subject, &attributes)
            .await;
        for (channel, result) in [("slack", &delivery.slack), ("sns", &delivery.sns)] {
            if let Some(Err(reason)) = result {
                tracing::warn!(%reason, channel, group = %g.group, release = %g.release, "group notification not delivered");
            }
        }
        if !delivery.delivered() {
            return Ok(());
        }
        self.groups
            .update(&g.group, &g.release, now, |g| {
                if g.notified {
                    Change::Keep(())
                } else {
                    g.notified = true;
                    Change::Write(())
                }
            })
            .await?;
        Ok(())
    }
}

/// Seconds the release's own execution took, as its record says (for a repeated event).
pub(super) fn recorded_seconds(record: &ReleaseRecord) -> Option<u64> {
    let (start, _) = crate::history::started(record)?;
    let (end, _) = crate::record::instant(record.finished_at.as_deref()?)?;
    u64::try_from(end - start).ok()
}
