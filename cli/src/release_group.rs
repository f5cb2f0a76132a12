//! `berth release <group.json>`: a release group's manifest (schema `berth/group/v1`) uploaded to
//! `groups/<group>/<release>.json`; with `--wait`, each service's result as the group record
//! shows it, until the group ends.

use std::path::Path;

use berth::group::{self, GroupKey, GroupRecord, GroupStatus};
use berth::groups::GroupRecords;
use berth::keys;
use berth::store::Bucket;
use serde_json::Value;

use crate::common::{aws, upload_new};
use crate::exit::{Failure, Outcome};
use crate::release::{Wait, refusal};

/// Uploads the group manifest in `bytes` (read from `path`), then follows it if `wait`.
pub async fn run(path: &Path, bytes: Vec<u8>, doc: &Value, wait: Option<Wait>) -> Outcome {
    let name = |field: &str| doc[field].as_str().unwrap_or_default().to_owned();
    let key = GroupKey {
        group: name("group"),
        release: name("release"),
    };
    if !keys::is_valid_name(&key.group) || !keys::is_valid_name(&key.release) {
        return Err(Failure::refused(
            "group and release must match [A-Za-z0-9._-]{1,64}",
        ));
    }
    let (_, problems) = group::read(&bytes, &key);
    if !problems.is_empty() {
        let problems: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        return Err(Failure::refused(format!(
            "{}: not a valid group manifest:\n- {}",
            path.display(),
            problems.join("\n- ")
        )));
    }
    let (clients, settings) = aws().await?;
    let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
    let object = group::manifest_key(&key.group, &key.release);
    let Ok(version) = upload_new(&bucket, &object, bytes).await? else {
        return Err(Failure::refused(format!(
            "s3://{}/{object} already exists: group releases are immutable, use a new release name",
            bucket.name
        )));
    };
    println!("uploaded s3://{}/{object} (version {version})", bucket.name);
    match wait {
        None => Ok(()),
        Some(wait) => follow(&bucket, &key, &version, &wait).await,
    }
}

/// Prints the members' states on every change until the group ends (exit 4 unless every
/// service succeeded) or is rejected (exit 1).
async fn follow(bucket: &Bucket, key: &GroupKey, version: &str, wait: &Wait) -> Outcome {
    let groups = GroupRecords::new(bucket.clone());
    let rejected = keys::rejected_key_for(&group::manifest_key(&key.group, &key.release));
    let mut last_line = String::new();
    loop {
        if let Some(g) = groups.get(&key.group, &key.release).await?
            && g.value.manifest.version_id == version
        {
            let line = members_line(&g.value);
            if line != last_line {
                println!("{line}");
                last_line = line;
            }
            match g.value.status {
                GroupStatus::Succeeded => return Ok(()),
                GroupStatus::Failed => {
                    return Err(Failure::execution_failed(format!("{key} ended FAILED")));
                }
                GroupStatus::InProgress => {}
            }
        } else if let Some(r) = bucket.get_json::<Value>(&rejected).await?
            && r.value["version_id"] == version
        {
            return Err(refusal(&r.value));
        }
        wait.next(&format!("{key} to end")).await?;
    }
}

/// `IN_PROGRESS  api:SUCCEEDED web:IN_PROGRESS`.
fn members_line(g: &GroupRecord) -> String {
    let members: Vec<String> = g
        .members
        .iter()
        .map(|(s, m)| format!("{s}:{}", m.status.name()))
        .collect();
    format!("{}  {}", g.status.name(), members.join(" "))
}
