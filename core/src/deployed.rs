//! The deployed artifact (pure core): what a release deploys, rendered when it reaches its
//! Release stage from the task definition the service runs at that moment.
//!
//! The pipeline is QUEUED and its Release stage is locked while an execution is in it, so a
//! release uploaded while another waits in the stage is rendered by on-manifest from the
//! version before that one. Rendered again under the stage lock, every container the release
//! does not name keeps the image it runs when the release deploys — not the one it ran when
//! the release was uploaded.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::render::{self, ArtifactRelease, DeployTarget};

/// The deployed artifact's zip, and every registry container's image in its task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub zip: Vec<u8>,
    pub images: BTreeMap<String, String>,
}

/// The image each of the release's containers runs: a requested container the release's
/// pinned image; any other the image the service runs now when it is pinned by digest in the
/// same repository (every revision berth rendered is), else the one pinned at upload.
pub fn images(
    release: &ArtifactRelease,
    target: &DeployTarget,
    running: &Value,
) -> BTreeMap<String, String> {
    release
        .images
        .iter()
        .map(|(container, pinned)| {
            let image = match render::container_image(running, container) {
                Some(now) if !target.requested.contains(container) && same_pin(now, pinned) => {
                    now.to_owned()
                }
                _ => pinned.clone(),
            };
            (container.clone(), image)
        })
        .collect()
}

/// `now` is a digest reference in `pinned`'s repository.
fn same_pin(now: &str, pinned: &str) -> bool {
    match (now.split_once("@sha256:"), pinned.split_once("@sha256:")) {
        (Some((repo_now, _)), Some((repo, _))) => repo_now == repo,
        _ => false,
    }
}

/// Renders the deployed artifact of `release` (whose source artifact is `source_zip`) from
/// `running`, the task definition the service runs now: `taskdef.json` from it with
/// [`images`], `appspec.yaml` as the source artifact has it, `imageDetail.json` of the primary
/// container, and `release.json` naming the deployed images. Equal inputs give equal bytes.
pub fn render(
    source_zip: &[u8],
    release: &ArtifactRelease,
    running: &Value,
) -> Result<Deployed, String> {
    let target = release
        .target
        .as_ref()
        .ok_or("the artifact does not say where the release deploys")?;
    let family = running
        .get("family")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if family != release.task_family {
        return Err(format!(
            "{} runs a revision of family {family:?}, but the release is of family {:?}",
            target.runner(),
            release.task_family
        ));
    }
    let images = images(release, target, running);
    let task_definition =
        render::render_task_definition(running, &images).map_err(|e| e.join("; "))?;
    let appspec = render::read_artifact_file(source_zip, render::APPSPEC_FILE)?;
    let appspec = String::from_utf8(appspec).map_err(|e| format!("appspec.yaml: {e}"))?;
    let primary = images.get(&target.primary).cloned().unwrap_or_default();
    let mut deployed = release.clone();
    deployed.images = images.clone();
    let zip = render::zip_artifact(
        &task_definition,
        &appspec,
        &render::render_image_detail(&primary),
        &deployed,
    )
    .map_err(|e| format!("zipping the deployed artifact: {e}"))?;
    Ok(Deployed { zip, images })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{ARTIFACT_SCHEMA, ManifestSource};
    use serde_json::json;

    const REPO: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com";

    fn pin(repo: &str, n: u8) -> String {
        format!("{REPO}/{repo}@sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn release(requested: &[&str]) -> ArtifactRelease {
        ArtifactRelease {
            schema: ARTIFACT_SCHEMA.into(),
            service: "web".into(),
            release: "b".into(),
            task_family: "web".into(),
            manifest: ManifestSource {
                bucket: "rel".into(),
                key: "manifests/web/b.json".into(),
                version_id: "v".into(),
            },
            images: BTreeMap::from([
                ("app".into(), pin("web/app", 2)),
                ("nginx".into(), pin("web/nginx", 1)),
            ]),
            migration: None,
            post_migration: None,
            rollback_of: None,
            rendered_at: "2026-12-01T00:00:00Z".into(),
            scan: None,
            target: Some(DeployTarget {
                cluster: "prod".into(),
                ecs_service: "web".into(),
                task_target: None,
                requested: requested.iter().map(|c| (*c).to_owned()).collect(),
                primary: "app".into(),
                deployment: None,
            }),
        }
    }

    fn running(app: &str, nginx: &str) -> Value {
        json!({"family": "web", "revision": 7, "containerDefinitions": [
            {"name": "app", "image": app}, {"name": "nginx", "image": nginx},
            {"name": "log-router", "image": "fluent-bit:latest"}]})
    }

    #[test]
    fn each_container_runs_the_image_the_rules_choose() {
        // (requested, running app, running nginx, expected app, expected nginx)
        let a3 = pin("web/app", 3);
        let n9 = pin("web/nginx", 9);
        let rows: Vec<(&[&str], String, String, String, String)> = vec![
            // A container the release names runs the release's image whatever runs now.
            (
                &["app"],
                a3.clone(),
                n9.clone(),
                pin("web/app", 2),
                n9.clone(),
            ),
            // One it does not name keeps what runs now (a release ahead of it changed it).
            (
                &["app"],
                a3.clone(),
                pin("web/nginx", 1),
                pin("web/app", 2),
                pin("web/nginx", 1),
            ),
            (
                &["app", "nginx"],
                a3.clone(),
                n9.clone(),
                pin("web/app", 2),
                pin("web/nginx", 1),
            ),
            // A tag running now is not a pin: the upload's resolution stands.
            (
                &["app"],
                a3.clone(),
                format!("{REPO}/web/nginx:v2"),
                pin("web/app", 2),
                pin("web/nginx", 1),
            ),
            // Another repository is not the registry's: the upload's pin stands.
            (
                &["app"],
                a3.clone(),
                pin("other/nginx", 9),
                pin("web/app", 2),
                pin("web/nginx", 1),
            ),
        ];
        for (requested, app, nginx, want_app, want_nginx) in rows {
            let got = images(
                &release(requested),
                release(requested).target.as_ref().unwrap(),
                &running(&app, &nginx),
            );
            assert_eq!(got["app"], want_app, "{requested:?} {app} {nginx}");
            assert_eq!(got["nginx"], want_nginx, "{requested:?} {app} {nginx}");
        }
    }

    fn source_zip() -> Vec<u8> {
        let r = release(&["app"]);
        render::zip_artifact(&json!({"family": "web"}), "version: 0.0\n", &json!({}), &r).unwrap()
    }

    #[test]
    fn the_deployed_artifact_keeps_what_runs_now_and_is_reproducible() {
        let r = release(&["app"]);
        let now = running(&pin("web/app", 3), &pin("web/nginx", 9));
        let a = render(&source_zip(), &r, &now).unwrap();
        assert_eq!(a, render(&source_zip(), &r, &now).unwrap());
        let td: Value = serde_json::from_slice(
            &render::read_artifact_file(&a.zip, render::TASKDEF_FILE).unwrap(),
        )
        .unwrap();
        assert_eq!(
            render::container_image(&td, "app"),
            Some(pin("web/app", 2).as_str())
        );
        assert_eq!(
            render::container_image(&td, "nginx"),
            Some(pin("web/nginx", 9).as_str())
        );
        assert_eq!(
            render::container_image(&td, "log-router"),
            Some("fluent-bit:latest")
        );
        assert!(td.get("revision").is_none());
        let appspec = render::read_artifact_file(&a.zip, render::APPSPEC_FILE).unwrap();
        assert_eq!(appspec, b"version: 0.0\n");
        let back: ArtifactRelease = serde_json::from_slice(
            &render::read_artifact_file(&a.zip, render::RELEASE_FILE).unwrap(),
        )
        .unwrap();
        assert_eq!(back.images, a.images);
    }

    #[test]
    fn a_service_running_another_family_or_an_artifact_without_a_target_is_refused() {
        let mut other = running(&pin("web/app", 3), &pin("web/nginx", 9));
        other["family"] = json!("api");
        let err = render(&source_zip(), &release(&["app"]), &other).unwrap_err();
        assert!(err.contains("\"api\""), "{err}");
        let mut old = release(&["app"]);
        old.target = None;
        let now = running(&pin("web/app", 3), &pin("web/nginx", 9));
        assert!(render(&source_zip(), &old, &now).is_err());
    }
}
