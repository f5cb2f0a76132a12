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
        let mut errors = strings(problems);
        let mut valid = Vec::new();
        for member in checked {
            match member {
                Ok(v) => valid.push(v),
                Err(problems) => errors.extend(strings(problems)),
            }
        }
        if !errors.is_empty() {
            return self.reject(upload, rejection, errors).await;
        }
        let record = new_group_record(&key, &source, &valid, now);
        if existing.is_none() && !self.groups.create(&record).await? {
            // Another delivery created it just now: go on only if it is this upload's.
            let winner = self.groups.get(&key.group, &key.release).await?;
            if let Some(conflict) = winner.and_then(|s| other_upload(&s.value, &source)) {
                return self.reject(upload, rejection, vec![conflict]).await;
            }
        }
        self.groups.index(&record).await?;
        self.start_members(upload, &key, &valid, now, lease_until)
            .await
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
        let (service, mut problems) = match self.registry.service(&member.service, home).await? {
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
        problems.extend(self.name_taken(&member.service, key, source, now).await?);
        let (Some(service), Some(manifest), true) = (service, manifest, problems.is_empty()) else {
            return Ok(Err(named(problems)));
        };
        let hook = self.settings.verify_function.as_deref();
        let rendered = match render(&self.clients, &service, &manifest, hook).await? {
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
    /// the group record which started (or could not). The first fault is returned after the
    /// others were started and recorded, so Lambda's retry starts only what is left.
    async fn start_members(
        &self,
        upload: &Upload,
        key: &GroupKey,
        valid: &[Valid],
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
        for result in results {
            match result {
                Ok(outcome) => outcomes.push(outcome),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.note_started(key, &outcomes, now).await?;
        if let Some(e) = first_error {
            return Err(e);
        }
        tracing::info!(group = %key.group, release = %key.release, members = outcomes.len(), "group started");
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
    /// (another upload took the name since the check) is REJECTED, with why.
    async fn note_started(
        &self,
        key: &GroupKey,
        outcomes: &[Outcome],
        now: SystemTime,
    ) -> Result<()> {
        let at = timestamp(now);
        self.groups
            .update(&key.group, &key.release, now, |record| {
                let mut changed = false;
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
