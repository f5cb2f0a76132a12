//! Release history: execution states into release records (`on-pipeline-event`), the list of a
//! service's releases, and rollback to the last known good release.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys;
use crate::pipeline;
use crate::record::{
    Redeployment, ReleaseRecord, ReleaseStatus, epoch_seconds, instant, timestamp,
};
use crate::store::{Bucket, Condition, Written};

/// `detail` of the EventBridge "CodePipeline Pipeline Execution State Change" event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PipelineStateChange {
    pub pipeline: String,
    pub execution_id: String,
    pub state: String,
}

/// The release status an execution state means; `None` for states that change nothing
/// (`STOPPING`).
pub fn status_of(state: &str) -> Option<ReleaseStatus> {
    match state {
        "STARTED" | "RESUMED" => Some(ReleaseStatus::InProgress),
        "SUCCEEDED" => Some(ReleaseStatus::Succeeded),
        "FAILED" => Some(ReleaseStatus::Failed),
        "STOPPED" | "CANCELED" => Some(ReleaseStatus::Stopped),
        "SUPERSEDED" => Some(ReleaseStatus::Superseded),
        _ => None,
    }
}

/// What a state change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Release {
        service: String,
        release: String,
        status: ReleaseStatus,
        rollback: bool,
        /// Set once the execution reached a final state.
        finished: Option<Finished>,
        record: Box<ReleaseRecord>,
    },
    Ignored {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub seconds: Option<u64>,
}

/// Release history over the release bucket and CodePipeline.
#[derive(Debug, Clone)]
pub struct History {
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub bucket: Bucket,
}

impl History {
    pub fn new(codepipeline: aws_sdk_codepipeline::Client, bucket: Bucket) -> Self {
        Self {
            codepipeline,
            bucket,
        }
    }

    /// Records an execution's new state in its release record. Executions berth did not start
    /// (no `BERTH_SERVICE`/`BERTH_RELEASE` variables) are ignored.
    pub async fn record_state(
        &self,
        change: &PipelineStateChange,
        now: SystemTime,
    ) -> Result<Recorded> {
        let Some(status) = status_of(&change.state) else {
            return Ok(Recorded::Ignored {
                reason: format!("state {} changes no release status", change.state),
            });
        };
        let exec = self
            .codepipeline
            .get_pipeline_execution()
            .pipeline_name(&change.pipeline)
            .pipeline_execution_id(&change.execution_id)
            .send()
            .await
            .map_err(Error::aws(format!(
                "codepipeline:GetPipelineExecution {} {}",
                change.pipeline, change.execution_id
            )))?;
        let var = |name: &str| {
            exec.pipeline_execution()
                .map(|e| e.variables())
                .unwrap_or_default()
                .iter()
                .find(|v| v.name() == Some(name))
                .and_then(|v| v.resolved_value())
                .map(str::to_owned)
        };
        let (Some(service), Some(release)) = (var("BERTH_SERVICE"), var("BERTH_RELEASE")) else {
            return Ok(Recorded::Ignored {
                reason: format!(
                    "execution {} of {} was not started by berth",
                    change.execution_id, change.pipeline
                ),
            });
        };
        let rollback = var("BERTH_ROLLBACK").as_deref() == Some("true");
        let key = keys::release_key(&service, &release);
        for _ in 0..5 {
            let Some(stored) = self.bucket.get_json::<ReleaseRecord>(&key).await? else {
                return Ok(Recorded::Ignored {
                    reason: format!("no release record {key}"),
                });
            };
            let mut record = stored.value;
            let at = timestamp(now);
            let finished = status.is_final().then(|| Finished {
                seconds: started_epoch(&record, &change.execution_id)
                    .map(|s| epoch_seconds(now).saturating_sub(s)),
            });
            if record.pipeline_execution_id.as_deref() == Some(change.execution_id.as_str()) {
                record.status = status;
                if status.is_final() {
                    record.finished_at = Some(at.clone());
                }
            } else if rollback {
                match record
                    .redeployments
                    .iter_mut()
                    .find(|r| r.pipeline_execution_id == change.execution_id)
                {
                    Some(r) => {
                        r.status = Some(status);
                        if status.is_final() {
                            r.finished_at = Some(at.clone());
                        }
                    }
                    None => record.redeployments.push(Redeployment {
                        pipeline_execution_id: change.execution_id.clone(),
                        started_at: at.clone(),
                        status: Some(status),
                        finished_at: status.is_final().then(|| at.clone()),
                    }),
                }
            } else {
                return Ok(Recorded::Ignored {
                    reason: format!(
                        "execution {} is not the one recorded for {service}/{release}",
                        change.execution_id
                    ),
                });
            }
            record.updated_at = at;
            match self
                .bucket
                .put_json(&key, &record, Condition::Matches(&stored.etag))
                .await?
            {
                Written::Ok { .. } => {
                    return Ok(Recorded::Release {
                        service,
                        release,
                        status,
                        rollback,
                        finished,
                        record: Box::new(record),
                    });
                }
                Written::ConditionFailed => continue,
            }
        }
        Err(Error::Busy {
            service,
            release,
            until: "the record kept changing".into(),
        })
    }

    /// Every release record of `service`, newest first.
    pub async fn releases(&self, service: &str) -> Result<Vec<ReleaseRecord>> {
        let prefix = format!("releases/{service}/");
        let mut keys_found = Vec::new();
        let mut pages = self
            .bucket
            .s3
            .list_objects_v2()
            .bucket(&self.bucket.name)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(Error::aws(format!(
                "s3:ListObjectsV2 s3://{}/{prefix}",
                self.bucket.name
            )))?;
            keys_found.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .filter(|k| k.ends_with(".json"))
                    .map(str::to_owned),
            );
        }
        let reads = keys_found
            .iter()
            .map(|k| self.bucket.get_json::<ReleaseRecord>(k));
        let mut records: Vec<ReleaseRecord> = futures_util::future::join_all(reads)
            .await
            .into_iter()
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .map(|s| s.value)
            .collect();
        records.sort_by_key(|r| std::cmp::Reverse(started(r)));
        Ok(records)
    }

    /// Starts a rollback execution of `service` to `to`, or to the last known good release.
    /// `Ok(Err(reason))` when there is nothing to roll back to.
    pub async fn rollback(
        &self,
        service: &str,
        to: Option<&str>,
        now: SystemTime,
    ) -> Result<std::result::Result<Rollback, String>> {
        let records = self.releases(service).await?;
        let target = match to {
            Some(name) => match records.iter().find(|r| r.release == name) {
                Some(r) => r,
                None => {
                    return Ok(Err(format!("service {service:?} has no release {name:?}")));
                }
            },
            None => match last_known_good(&records) {
                Ok(r) => r,
                Err(reason) => return Ok(Err(reason)),
            },
        };
        let Some(version) = target.artifact_version_id.as_deref() else {
            return Ok(Err(format!(
                "release {:?} never produced an artifact (status {:?})",
                target.release, target.status
            )));
        };
        let artifact_key = keys::artifact_key(service);
        let exists = self
            .bucket
            .s3
            .head_object()
            .bucket(&self.bucket.name)
            .key(&artifact_key)
            .version_id(version)
            .send()
            .await;
        if let Err(e) = exists {
            let missing = e.as_service_error().is_some_and(|se| se.is_not_found())
                || e.raw_response()
                    .is_some_and(|r| matches!(r.status().as_u16(), 400 | 404));
            if missing {
                return Ok(Err(format!(
                    "the artifact of release {:?} (s3://{}/{artifact_key} version {version}) is gone; it cannot be redeployed",
                    target.release, self.bucket.name
                )));
            }
            return Err(Error::aws(format!("s3:HeadObject {artifact_key}"))(e));
        }
        let token = pipeline::request_token(&[
            "rollback",
            service,
            &target.release,
            &epoch_seconds(now).to_string(),
        ]);
        let execution_id = pipeline::start(
            &self.codepipeline,
            &pipeline::Execution {
                pipeline: &target.pipeline,
                service,
                release: &target.release,
                artifact_version_id: version,
                rollback: true,
                client_request_token: &token,
            },
        )
        .await?;
        let key = keys::release_key(service, &target.release);
        for _ in 0..5 {
            let Some(stored) = self.bucket.get_json::<ReleaseRecord>(&key).await? else {
                break;
            };
            let mut record = stored.value;
            if !record
                .redeployments
                .iter()
                .any(|r| r.pipeline_execution_id == execution_id)
            {
                record.redeployments.push(Redeployment {
                    pipeline_execution_id: execution_id.clone(),
                    started_at: timestamp(now),
                    status: Some(ReleaseStatus::InProgress),
                    finished_at: None,
                });
            }
            record.updated_at = timestamp(now);
            if let Written::Ok { .. } = self
                .bucket
                .put_json(&key, &record, Condition::Matches(&stored.etag))
                .await?
            {
                break;
            }
        }
        Ok(Ok(Rollback {
            release: target.release.clone(),
            artifact_version_id: version.to_owned(),
            pipeline: target.pipeline.clone(),
            pipeline_execution_id: execution_id,
        }))
    }
}

/// A started rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollback {
    pub release: String,
    pub artifact_version_id: String,
    pub pipeline: String,
    pub pipeline_execution_id: String,
}

fn started(r: &ReleaseRecord) -> Option<(i64, u32)> {
    instant(r.pipeline_started_at.as_deref().unwrap_or(&r.created_at))
}

fn started_epoch(r: &ReleaseRecord, execution_id: &str) -> Option<u64> {
    let at = if r.pipeline_execution_id.as_deref() == Some(execution_id) {
        r.pipeline_started_at.as_deref()
    } else {
        r.redeployments
            .iter()
            .find(|d| d.pipeline_execution_id == execution_id)
            .map(|d| d.started_at.as_str())
    }?;
    crate::record::parse_timestamp(at).and_then(|s| u64::try_from(s).ok())
}

/// When a release last became what runs: its own successful execution or a successful
/// redeployment (rollback) of it, whichever is newer.
fn last_success(r: &ReleaseRecord) -> Option<(i64, u32)> {
    let own = (r.status == ReleaseStatus::Succeeded)
        .then(|| started(r))
        .flatten();
    let redeployed = r
        .redeployments
        .iter()
        .filter(|d| d.status == Some(ReleaseStatus::Succeeded))
        .filter_map(|d| instant(&d.started_at))
        .max();
    own.into_iter().chain(redeployed).max()
}

/// The rollback target: the current release is the one that most recently succeeded (its
/// own deployment or a rollback to it); the target is the newest release older than it whose
/// own deployment succeeded. Failed, stopped and superseded releases are never targets.
pub fn last_known_good(records: &[ReleaseRecord]) -> std::result::Result<&ReleaseRecord, String> {
    let current = records
        .iter()
        .filter_map(|r| last_success(r).map(|at| (at, r)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r)
        .ok_or_else(|| "no release has succeeded yet, so nothing is known good".to_owned())?;
    records
        .iter()
        .filter(|r| r.status == ReleaseStatus::Succeeded && r.artifact_version_id.is_some())
        .filter(|r| started(r) < started(current))
        .max_by_key(|r| started(r))
        .ok_or_else(|| {
            format!(
                "no succeeded release is older than the current one ({}); nothing to roll back to",
                current.release
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::ManifestSource;
    use std::collections::BTreeMap;

    fn rec(release: &str, started: &str, status: ReleaseStatus) -> ReleaseRecord {
        ReleaseRecord {
            schema: "berth/release-record/v1".into(),
            service: "web".into(),
            release: release.into(),
            status,
            manifest: ManifestSource {
                bucket: "b".into(),
                key: format!("manifests/web/{release}.json"),
                version_id: "v".into(),
            },
            pipeline: "berth-web".into(),
            task_family: "web".into(),
            images: BTreeMap::new(),
            migration_plan: None,
            migration: None,
            rollback_of: None,
            artifact_version_id: Some(format!("a-{release}")),
            pipeline_execution_id: Some(format!("e-{release}")),
            created_at: started.into(),
            updated_at: started.into(),
            pipeline_started_at: Some(started.into()),
            finished_at: None,
            lease_until_epoch: None,
            redeployments: vec![],
        }
    }

    use ReleaseStatus::*;

    #[test]
    fn last_known_good_is_not_simply_the_previous_revision() {
        let cases: Vec<(&str, Vec<ReleaseRecord>, Result<&str, &str>)> = vec![
            (
                "previous succeeded",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                    rec("v2", "2026-01-02T00:00:00Z", Succeeded),
                ],
                Ok("v1"),
            ),
            (
                "failed releases are skipped",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                    rec("v2", "2026-01-02T00:00:00Z", Failed),
                    rec("v3", "2026-01-03T00:00:00Z", Succeeded),
                ],
                Ok("v1"),
            ),
            (
                "a failed newest release leaves the current one in place",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Succeeded),
                    rec("v2", "2026-01-02T00:00:00Z", Succeeded),
                    rec("v3", "2026-01-03T00:00:00Z", Failed),
                ],
                Ok("v1"),
            ),
            (
                "stopped and superseded are not good",
                vec![
                    rec("v1", "2026-01-01T00:00:00Z", Stopped),
                    rec("v2", "2026-01-02T00:00:00Z", Superseded),
                    rec("v3", "2026-01-03T00:00:00Z", Succeeded),
                ],
                Err("no succeeded release is older"),
            ),
            (
                "fractions of a second order releases started in the same second",
                vec![
                    rec("v1", "2026-01-01T00:00:00.25Z", Succeeded),
                    rec("v2", "2026-01-01T00:00:00.5Z", Succeeded),
                    rec("v3", "2026-01-01T00:00:00.75Z", Succeeded),
                ],
                Ok("v2"),
            ),
            (
                "nothing succeeded",
                vec![rec("v1", "2026-01-01T00:00:00Z", Failed)],
                Err("no release has succeeded"),
            ),
            ("empty", vec![], Err("no release has succeeded")),
        ];
        for (name, records, want) in cases {
            let got = last_known_good(&records).map(|r| r.release.as_str());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{name}: {g}"),
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn after_a_rollback_the_next_one_goes_further_back() {
        let v1 = rec("v1", "2026-01-01T00:00:00Z", Succeeded);
        let mut v2 = rec("v2", "2026-01-02T00:00:00Z", Succeeded);
        let v3 = rec("v3", "2026-01-03T00:00:00Z", Succeeded);
        v2.redeployments.push(Redeployment {
            pipeline_execution_id: "r1".into(),
            started_at: "2026-01-04T00:00:00Z".into(),
            status: Some(Succeeded),
            finished_at: None,
        });
        let records = [v1, v2, v3];
        assert_eq!(last_known_good(&records).unwrap().release, "v1");
    }

    #[test]
    fn execution_states() {
        assert_eq!(status_of("STARTED"), Some(InProgress));
        assert_eq!(status_of("SUCCEEDED"), Some(Succeeded));
        assert_eq!(status_of("FAILED"), Some(Failed));
        assert_eq!(status_of("STOPPED"), Some(Stopped));
        assert_eq!(status_of("CANCELED"), Some(Stopped));
        assert_eq!(status_of("SUPERSEDED"), Some(Superseded));
        assert_eq!(status_of("STOPPING"), None);
    }
}
