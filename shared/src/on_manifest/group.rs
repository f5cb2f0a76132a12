//! A group upload (`groups/<group>/<release>.json`): every member checked first (all their
//! problems in one rejection, nothing started if any is invalid), then each member released
//! as its own release of the same name through its own pipeline, and the group record kept.
//!
//! Each member is claimed exactly as a manifest upload is (the group manifest version is the
//! upload every member's record names), so a repeated or resumed delivery of the group finds
//! its started members `Duplicate` and starts only the rest.

use std::time::SystemTime;

use futures_util::StreamExt;

use super::release::{Claiming, Unread, Valid, strings};
use super::{Context, Outcome, Rendering, Upload, render};
use crate::claim::{self, Claim};
use crate::error::Result;
use crate::group::{
    self, GroupKey, GroupRecord, GroupStatus, Member, MemberState, MemberStatus, member_problem,
};
use crate::images::Home;
use crate::keys::{self, ManifestKey};
use crate::manifest::{self, Problem};
use crate::record::{epoch_seconds, timestamp};
use crate::records::Change;
use crate::registry::Lookup;
use crate::render::ManifestSource;

/// How many members are checked, or started, at once.
pub const MEMBER_CONCURRENCY: usize = 4;

impl Context {
    /// Processes one group upload.
    pub(super) async fn release_group(
        &self,
        upload: &Upload,
        version_id: &str,
        home: &Home,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Outcome> {
        let rejection = keys::rejected_key_for(&upload.key);
        let key = match GroupKey::parse(&upload.key) {
            Ok(k) => k,
            Err(e) => return self.reject(upload, rejection, vec![e.to_string()]).await,
        };
        let source = ManifestSource {
            bucket: upload.bucket.clone(),
            key: upload.key.clone(),
            version_id: version_id.to_owned(),
        };
        let existing = self.groups.get(&key.group, &key.release).await?;
        if let Some(conflict) = existing
            .as_ref()
            .and_then(|s| other_upload(&s.value, &source))
        {
            return self.reject(upload, rejection, vec![conflict]).await;
        }
        let body = match self.manifest_body(upload, version_id).await? {
            Ok(body) => body,
            Err(Unread::Gone(reason)) => return Ok(Outcome::Ignored { reason }),
            Err(Unread::Invalid(errors)) => return self.reject(upload, rejection, errors).await,
        };
        let (members, problems) = group::read(&body, &key);
        let checked = self
            .check_members(&members, &key, &source, home, now)
            .await?;
        let (valid, failed, mut errors) = sorted(&members, checked);
        errors.splice(0..0, strings(problems));
        let record = match existing {
            // A repeated delivery of a group in progress: what started goes on, whatever the
            // checks say now (a tag deleted since, say); a member they now stop is rejected.
            Some(stored) => {
                if !errors.is_empty() {
                    tracing::warn!(group = %key.group, release = %key.release, errors = ?errors, "a repeated delivery of a group in progress fails checks now; its other services go on");
                }
                stored.value
            }
            None if !errors.is_empty() => return self.reject(upload, rejection, errors).await,
            None => match self.create_group(&key, &source, &valid, now).await? {
                Ok(record) => record,
                Err(conflict) => return self.reject(upload, rejection, vec![conflict]).await,
            },
        };
        self.groups.index(&record).await?;
        self.start_members(upload, &key, &valid, failed, now, lease_until)
            .await
    }

    /// Creates the group record, or finds the one another delivery of this upload created just
    /// now; `Err`: why an existing one is not this upload's.
    async fn create_group(
        &self,
        key: &GroupKey,
        source: &ManifestSource,
        valid: &[Valid],
        now: SystemTime,
    ) -> Result<std::result::Result<GroupRecord, String>> {
        let record = new_group_record(key, source, valid, now);
        if self.groups.create(&record).await? {
            return Ok(Ok(record));
        }
        match self.groups.get(&key.group, &key.release).await? {
            Some(winner) => Ok(match other_upload(&winner.value, source) {
                Some(conflict) => Err(conflict),
                None => Ok(winner.value),
            }),
            None => Err(crate::error::Error::Busy {
                service: format!("group {}", key.group),
                release: key.release.clone(),
                until: "the group record vanished while being created".into(),
            }),
        }
    }

    /// Every member's checks (registry entry, manifest, an existing release of the same name,
    /// rendering), at most [`MEMBER_CONCURRENCY`] at once; problems named by their place in
    /// the group manifest.
    async fn check_members(
        &self,
        members: &[Member],
        key: &GroupKey,
        source: &ManifestSource,
        home: &Home,
        now: SystemTime,
    ) -> Result<Vec<std::result::Result<Valid, Vec<Problem>>>> {
        let checks = members
            .iter()
            .map(|m| Box::pin(self.check_member(m, key, source, home, now)));
        let checked: Vec<_> = futures_util::stream::iter(checks)
            .buffered(MEMBER_CONCURRENCY)
            .collect()
            .await;
        checked.into_iter().collect()
    }

    async fn check_member(
        &self,
        member: &Member,
        key: &GroupKey,
        source: &ManifestSource,
        home: &Home,
        now: SystemTime,
    ) -> Result<std::result::Result<Valid, Vec<Problem>>> {
        let named = |problems: Vec<Problem>| -> Vec<Problem> {
            problems
                .iter()
                .map(|p| member_problem(&member.service, p))
                .collect()
        };
        // The registry entry and a release already holding the name are read at once.
        let (lookup, taken) = tokio::join!(
            self.registry.service(&member.service, home),
            self.name_taken(&member.service, key, source, now),
        );
        let (service, mut problems) = match lookup? {
            Lookup::Found(s) => (Some(*s), Vec::new()),
            Lookup::Unusable(reasons) => (
                None,
                reasons
                    .into_iter()
                    .map(|r| Problem::new("manifest", r))
                    .collect(),
            ),
        };
        let member_key = ManifestKey {
            service: member.service.clone(),
            release: key.release.clone(),
        };
        let manifest = match manifest::validate(&member.manifest, &member_key, service.as_ref()) {
            Ok(m) => Some(m),
            Err(found) => {
                problems.extend(found);
                None
            }
        };
        problems.extend(taken?);
        let (Some(service), Some(manifest), true) = (service, manifest, problems.is_empty()) else {
            return Ok(Err(named(problems)));
        };
        let hook = self.settings.verify_function.as_deref();
        let rendered = match render(&self.clients, &service, &manifest, hook, None).await? {
            Rendering::Ready(r) => *r,
            Rendering::Refused(refused) => return Ok(Err(named(refused))),
        };
        Ok(Ok(Valid {
            service,
            manifest,
            rendered,
            source: source.clone(),
        }))
    }

    /// The problem of a release of the member's name that another upload already holds.
    async fn name_taken(
        &self,
        service: &str,
        key: &GroupKey,
        source: &ManifestSource,
        now: SystemTime,
    ) -> Result<Option<Problem>> {
        let Some(existing) = self.records.get(service, &key.release).await? else {
            return Ok(None);
        };
        let decided = claim::decide(
            Some(&existing.value),
            &source.key,
            &source.version_id,
            epoch_seconds(now),
        );
        Ok(match decided {
            Claim::Conflict(problem) => Some(problem),
            _ => None,
        })
    }

    /// Claims and starts each member, at most [`MEMBER_CONCURRENCY`] at once, then records in
    /// the group record which started and which could not (`failed`, and members whose start
    /// AWS refused for good: a pipeline that does not exist, access denied). A passing fault
    /// is returned after the rest were started and recorded, so Lambda's retry starts only
    /// what is left.
    async fn start_members(
        &self,
        upload: &Upload,
        key: &GroupKey,
        valid: &[Valid],
        mut failed: Vec<(String, String)>,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Outcome> {
        let starts = valid
            .iter()
            .map(|v| Box::pin(self.start_member(upload, v, now, lease_until)));
        let results: Vec<Result<Outcome>> = futures_util::stream::iter(starts)
            .buffered(MEMBER_CONCURRENCY)
            .collect()
            .await;
        let mut outcomes = Vec::new();
        let mut first_error = None;
        for (v, result) in valid.iter().zip(results) {
            match result {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) if e.is_transient() => {
                    first_error.get_or_insert(e);
                }
                Err(e) => failed.push((v.manifest.service.clone(), e.to_string())),
            }
        }
        self.note_started(key, &outcomes, &failed, now).await?;
        if let Some(e) = first_error {
            return Err(e);
        }
        tracing::info!(group = %key.group, release = %key.release, members = outcomes.len(), failed = ?failed, "group started");
        Ok(Outcome::Group {
            group: key.group.clone(),
            release: key.release.clone(),
            members: outcomes,
        })
    }

    async fn start_member(
        &self,
        upload: &Upload,
        valid: &Valid,
        now: SystemTime,
        lease_until: SystemTime,
    ) -> Result<Outcome> {
        let key = ManifestKey {
            service: valid.manifest.service.clone(),
            release: valid.manifest.release.clone(),
        };
        match self.claim(upload, &key, valid, now, lease_until).await? {
            Claiming::Claimed(claimed) => self.deploy_or_hand_back(*claimed, valid, now).await,
            Claiming::Finished(outcome) => Ok(outcome),
        }
    }

    /// Members started (or found started) turn IN_PROGRESS; one that could not be claimed
    /// (another upload took the name since the check) or started is REJECTED, with why.
    async fn note_started(
        &self,
        key: &GroupKey,
        outcomes: &[Outcome],
        failed: &[(String, String)],
        now: SystemTime,
    ) -> Result<()> {
        let at = timestamp(now);
        self.groups
            .update(&key.group, &key.release, now, |record| {
                let mut changed = false;
                for (service, why) in failed {
                    let finish = record.rejected(service, why, &at);
                    changed |= matches!(finish, group::Finish::Updated { .. });
                }
                for outcome in outcomes {
                    changed |= match outcome {
                        Outcome::Started {
                            service,
                            pipeline_execution_id,
                            ..
                        }
                        | Outcome::Duplicate {
                            service,
                            pipeline_execution_id,
                            ..
                        } => record.started(service, pipeline_execution_id),
                        Outcome::Rejected {
                            rejection_key,
                            errors,
                        } => {
                            let service = rejection_key.split('/').nth(1).unwrap_or_default();
                            let finish = record.rejected(service, &errors.join("; "), &at);
                            matches!(finish, group::Finish::Updated { .. })
                        }
                        Outcome::Ignored { .. } | Outcome::Group { .. } => false,
                    };
                }
                if changed {
                    Change::Write(())
                } else {
                    Change::Keep(())
                }
            })
            .await?;
        Ok(())
    }
}

/// Members that passed their checks; those that did not, each with its problems in one line;
/// and every problem.
fn sorted(
    members: &[Member],
    checked: Vec<std::result::Result<Valid, Vec<Problem>>>,
) -> (Vec<Valid>, Vec<(String, String)>, Vec<String>) {
    let (mut valid, mut failed, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for (member, result) in members.iter().zip(checked) {
        match result {
            Ok(v) => valid.push(v),
            Err(problems) => {
                let problems = strings(problems);
                failed.push((member.service.clone(), problems.join("; ")));
                errors.extend(problems);
            }
        }
    }
    (valid, failed, errors)
}

/// Why an existing group record of the same name does not belong to this upload.
fn other_upload(existing: &GroupRecord, source: &ManifestSource) -> Option<String> {
    (existing.manifest.key != source.key || existing.manifest.version_id != source.version_id).then(|| {
        format!(
            "release: {:?} of group {:?} already exists (from manifest version {}, status {}); a group release is immutable, upload it under a new release name",
            existing.release,
            existing.group,
            existing.manifest.version_id,
            existing.status.name()
        )
    })
}

fn new_group_record(
    key: &GroupKey,
    source: &ManifestSource,
    valid: &[Valid],
    now: SystemTime,
) -> GroupRecord {
    let members = valid
        .iter()
        .map(|v| {
            let state = MemberState {
                status: MemberStatus::Pending,
                images: v.rendered.images.clone(),
                pipeline_execution_id: None,
                duration_seconds: None,
                finished_at: None,
                message: None,
            };
            (v.manifest.service.clone(), state)
        })
        .collect();
    GroupRecord {
        schema: group::RECORD_SCHEMA.into(),
        group: key.group.clone(),
        release: key.release.clone(),
        status: GroupStatus::InProgress,
        manifest: source.clone(),
        members,
        created_at: timestamp(now),
        updated_at: timestamp(now),
        finished_at: None,
        notified: false,
    }
}
