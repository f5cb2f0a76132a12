//! The group record and its transitions (pure), and the group's notification.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::record::{ReleaseStatus, instant};
use crate::render::ManifestSource;

pub const RECORD_SCHEMA: &str = "berth/group-record/v1";

/// Schema of the JSON message of a finished group (SNS).
pub const MESSAGE_SCHEMA: &str = "berth/group-finished/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum GroupStatus {
    InProgress,
    /// Every member's release succeeded.
    Succeeded,
    /// Every member finished, and at least one did not succeed.
    Failed,
}

impl GroupStatus {
    pub fn name(self) -> &'static str {
        match self {
            GroupStatus::InProgress => "IN_PROGRESS",
            GroupStatus::Succeeded => "SUCCEEDED",
            GroupStatus::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberStatus {
    /// Checked, not started yet.
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Stopped,
    Superseded,
    /// Its release could not be started (another upload already holds the release name).
    Rejected,
}

impl MemberStatus {
    pub fn name(self) -> &'static str {
        match self {
            MemberStatus::Pending => "PENDING",
            MemberStatus::InProgress => "IN_PROGRESS",
            MemberStatus::Succeeded => "SUCCEEDED",
            MemberStatus::Failed => "FAILED",
            MemberStatus::Stopped => "STOPPED",
            MemberStatus::Superseded => "SUPERSEDED",
            MemberStatus::Rejected => "REJECTED",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, MemberStatus::Pending | MemberStatus::InProgress)
    }

    /// The member status of a release status.
    pub fn of(status: ReleaseStatus) -> Self {
        match status {
            ReleaseStatus::Rendering => MemberStatus::Pending,
            ReleaseStatus::InProgress => MemberStatus::InProgress,
            ReleaseStatus::Succeeded => MemberStatus::Succeeded,
            ReleaseStatus::Failed => MemberStatus::Failed,
            ReleaseStatus::Stopped => MemberStatus::Stopped,
            ReleaseStatus::Superseded => MemberStatus::Superseded,
        }
    }
}

/// One member's release as the group record follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    pub status: MemberStatus,
    /// Container → pinned image, as checked when the group was.
    pub images: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why a member was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `group-releases/<group>/<release>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub schema: String,
    pub group: String,
    pub release: String,
    pub status: GroupStatus,
    /// The group manifest version it was released from.
    pub manifest: ManifestSource,
    pub members: BTreeMap<String, MemberState>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Whether the group's notification was delivered.
    #[serde(default)]
    pub notified: bool,
}

/// What a member's result did to the group record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The service is not a member of this group.
    NotMember,
    /// The record already says it.
    Unchanged,
    /// Written; `completed` when this result was the group's last.
    Updated { completed: bool },
}

impl GroupRecord {
    /// The member's release started (`Duplicate` deliveries too): never undoes a final state.
    pub fn started(&mut self, service: &str, execution_id: &str) -> bool {
        let Some(m) = self.members.get_mut(service) else {
            return false;
        };
        if m.status != MemberStatus::Pending {
            return false;
        }
        m.status = MemberStatus::InProgress;
        m.pipeline_execution_id = Some(execution_id.to_owned());
        true
    }

    /// The member's release could not start (a member that started is never rejected).
    pub fn rejected(&mut self, service: &str, why: &str, at: &str) -> Finish {
        match self.members.get(service) {
            None => return Finish::NotMember,
            Some(m) if m.status != MemberStatus::Pending => return Finish::Unchanged,
            Some(_) => {}
        }
        self.finish_with(service, MemberStatus::Rejected, at, |m| {
            m.message = Some(why.to_owned());
        })
    }

    /// The member's own execution ended with `status` after `seconds`.
    pub fn finished(
        &mut self,
        service: &str,
        execution_id: &str,
        status: ReleaseStatus,
        seconds: Option<u64>,
        at: &str,
    ) -> Finish {
        self.finish_with(service, MemberStatus::of(status), at, |m| {
            m.pipeline_execution_id = Some(execution_id.to_owned());
            m.duration_seconds = seconds;
        })
    }

    fn finish_with(
        &mut self,
        service: &str,
        status: MemberStatus,
        at: &str,
        fill: impl FnOnce(&mut MemberState),
    ) -> Finish {
        let Some(m) = self.members.get_mut(service) else {
            return Finish::NotMember;
        };
        if m.status.is_final() || !status.is_final() {
            return Finish::Unchanged;
        }
        m.status = status;
        m.finished_at = Some(at.to_owned());
        fill(m);
        let completed = self.complete(at);
        Finish::Updated { completed }
    }

    /// Ends the group once every member has ended; whether this call ended it.
    fn complete(&mut self, at: &str) -> bool {
        if self.status != GroupStatus::InProgress
            || !self.members.values().all(|m| m.status.is_final())
        {
            return false;
        }
        let all_succeeded = self
            .members
            .values()
            .all(|m| m.status == MemberStatus::Succeeded);
        self.status = if all_succeeded {
            GroupStatus::Succeeded
        } else {
            GroupStatus::Failed
        };
        self.finished_at = Some(at.to_owned());
        true
    }

    /// Seconds from the group's start to its end.
    pub fn duration_seconds(&self) -> Option<u64> {
        let (start, _) = instant(&self.created_at)?;
        let (end, _) = instant(self.finished_at.as_deref()?)?;
        u64::try_from(end - start).ok()
    }
}

/// The JSON message of a finished group (SNS).
pub fn event(g: &GroupRecord) -> Value {
    json!({
        "schema": MESSAGE_SCHEMA,
        "group": g.group,
        "release": g.release,
        "status": g.status,
        "duration_seconds": g.duration_seconds(),
        "created_at": g.created_at,
        "finished_at": g.finished_at,
        "members": g.members,
    })
}

/// The message text: one line for the group, then one per member with its result, duration
/// and digests.
pub fn message(g: &GroupRecord) -> String {
    let failed = g
        .members
        .values()
        .filter(|m| m.status != MemberStatus::Succeeded)
        .count();
    let mut text = match g.status {
        GroupStatus::Succeeded => format!(
            ":white_check_mark: group {} release {} succeeded: {} service(s)",
            g.group,
            g.release,
            g.members.len()
        ),
        _ => format!(
            ":x: group {} release {} failed: {failed} of {} service(s) did not succeed",
            g.group,
            g.release,
            g.members.len()
        ),
    };
    if let Some(s) = g.duration_seconds() {
        text.push_str(&format!(" in {}m{:02}s", s / 60, s % 60));
    }
    for (service, m) in &g.members {
        text.push_str(&format!("\n• {service}: {}", m.status.name()));
        if let Some(s) = m.duration_seconds {
            text.push_str(&format!(" in {}m{:02}s", s / 60, s % 60));
        }
        if let Some(why) = &m.message {
            text.push_str(&format!(" ({why})"));
        }
        for (container, image) in &m.images {
            text.push_str(&format!("\n    {container}: `{image}`"));
        }
    }
    text
}
