//! Sample values for tests of this crate and of the crates above it (feature `fixtures`).

use std::collections::BTreeMap;

use crate::record::{RECORD_SCHEMA, ReleaseRecord, ReleaseStatus};
use crate::render::ManifestSource;

/// A record of release `release` of `web`, from manifest version `m1`, started at
/// 2026-11-01T00:00:00Z, with an artifact and an execution named after the release.
pub fn record(release: &str, status: ReleaseStatus) -> ReleaseRecord {
    ReleaseRecord {
        schema: RECORD_SCHEMA.into(),
        service: "web".into(),
        release: release.into(),
        status,
        manifest: ManifestSource {
            bucket: "b".into(),
            key: format!("manifests/web/{release}.json"),
            version_id: "m1".into(),
        },
        pipeline: "berth-web".into(),
        task_family: "web".into(),
        cluster: Some("prod".into()),
        ecs_service: Some("web".into()),
        images: BTreeMap::new(),
        migration_plan: None,
        migration: None,
        post_migration_plan: None,
        post_migration: None,
        rollback_of: None,
        promoted_from: None,
        group: None,
        artifact_version_id: None,
        pipeline_execution_id: None,
        created_at: "2026-11-01T00:00:00Z".into(),
        updated_at: "2026-11-01T00:00:00Z".into(),
        pipeline_started_at: None,
        finished_at: None,
        lease_until_epoch: None,
        redeployments: Vec::new(),
        verifications: Vec::new(),
        interventions: Vec::new(),
        scan: None,
        deregistration: None,
        deployed: None,
        deployment: None,
    }
}
