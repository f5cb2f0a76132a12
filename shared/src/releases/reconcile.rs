//! Catching up with executions whose final state change never arrived. CodePipeline sends its
//! events to EventBridge "best effort" ("in some rare cases an event might not be delivered" —
//! EventBridge user guide), so a release can look IN_PROGRESS long after its execution ended.
//! Before the CLI shows or decides anything (status, history, rollback), it asks CodePipeline
//! about the non-final executions of the releases it is about to use, and records what it
//! learns the same way on-pipeline-event would.

use std::time::SystemTime;

use aws_sdk_codepipeline::types::PipelineExecutionStatus;
use futures_util::StreamExt;

use super::{READ_CONCURRENCY, Releases};
use crate::error::{Error, Result};
use crate::history::{self, Applied};
use crate::record::{ReleaseRecord, ReleaseStatus, timestamp};
use crate::records::{Change, Updated};

/// The release status a pipeline execution status means (`None`: still going).
pub fn status_of_execution(s: &PipelineExecutionStatus) -> Option<ReleaseStatus> {
    match s {
        PipelineExecutionStatus::Succeeded => Some(ReleaseStatus::Succeeded),
        PipelineExecutionStatus::Failed => Some(ReleaseStatus::Failed),
        PipelineExecutionStatus::Stopped | PipelineExecutionStatus::Cancelled => {
            Some(ReleaseStatus::Stopped)
        }
        PipelineExecutionStatus::Superseded => Some(ReleaseStatus::Superseded),
        _ => None,
    }
}

/// One execution to ask about: which record, which execution, whether it is a rollback.
struct Check {
    record: usize,
    execution: String,
    rollback: bool,
    pipeline: String,
}

/// The executions of a record whose status is not final yet: (execution id, rollback?).
fn unfinished(r: &ReleaseRecord) -> Vec<(String, bool)> {
    let own = r
        .pipeline_execution_id
        .iter()
        .filter(|_| !r.status.is_final())
        .map(|e| (e.clone(), false));
    let redeployed = r
        .redeployments
        .iter()
        .filter(|d| !d.status.is_some_and(|s| s.is_final()))
        .map(|d| (d.pipeline_execution_id.clone(), true));
    own.chain(redeployed).collect()
}

impl Releases {
    /// Brings `records` up to date with CodePipeline, in place; returns how many changed.
    pub async fn reconcile(&self, records: &mut [ReleaseRecord], now: SystemTime) -> Result<usize> {
        let checks: Vec<Check> = records
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                unfinished(r)
                    .into_iter()
                    .map(move |(execution, rollback)| Check {
                        record: i,
                        execution,
                        rollback,
                        pipeline: r.pipeline.clone(),
                    })
            })
            .collect();
        let answers: Vec<Result<(Check, Option<ReleaseStatus>)>> =
            futures_util::stream::iter(checks)
                .map(|c| async move {
                    let status = self.execution_status(&c.pipeline, &c.execution).await?;
                    Ok((c, status))
                })
                .buffer_unordered(READ_CONCURRENCY)
                .collect()
                .await;
        let mut changed = 0;
        for answer in answers {
            let (c, status) = answer?;
            let Some(status) = status else { continue };
            let caught_up =
                self.catch_up(&records[c.record], &c.execution, c.rollback, status, now);
            if let Some(updated) = caught_up.await? {
                records[c.record] = updated;
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn execution_status(
        &self,
        pipeline: &str,
        execution: &str,
    ) -> Result<Option<ReleaseStatus>> {
        let out = self
            .codepipeline
            .get_pipeline_execution()
            .pipeline_name(pipeline)
            .pipeline_execution_id(execution)
            .send()
            .await
            .map_err(Error::sdk(format!(
                "codepipeline:GetPipelineExecution {pipeline} {execution}"
            )))?;
        Ok(out
            .pipeline_execution()
            .and_then(|e| e.status())
            .and_then(status_of_execution))
    }

    /// Records a final status the record missed, and indexes a success.
    async fn catch_up(
        &self,
        r: &ReleaseRecord,
        execution: &str,
        rollback: bool,
        status: ReleaseStatus,
        now: SystemTime,
    ) -> Result<Option<ReleaseRecord>> {
        let at = timestamp(now);
        let updated = self
            .records
            .update(&r.service, &r.release, now, |rec| {
                match history::apply(rec, execution, status, rollback, &at) {
                    Applied::Own | Applied::Redeployment => Change::Write(()),
                    Applied::Stale | Applied::Unrelated => Change::Keep(()),
                }
            })
            .await?;
        let Updated::Written { record, .. } = updated else {
            return Ok(None);
        };
        tracing::warn!(service = %r.service, release = %r.release, pipeline_execution_id = %execution, status = status.name(), "recorded an execution's end whose event never arrived");
        if status == ReleaseStatus::Succeeded {
            for (list, at) in history::index_entries(&record, execution) {
                self.index
                    .put(&record.service, list, at, &record.release)
                    .await?;
            }
        }
        Ok(Some(*record))
    }
}
