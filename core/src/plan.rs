//! The release plan (pure core): which image every registry container runs in a release.
//!
//! A container the manifest names runs the manifest's image; a registry container it does not
//! name keeps the image it runs today (the template's), pinned by digest. Only tags need ECR;
//! a template image already pinned in its registry repository is kept without a lookup.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::images::{ImageRef, Reference, Resolution};
use crate::manifest::{Problem, ValidManifest};
use crate::registry::{Service, ServiceConfig};
use crate::render;

/// What a release needs from ECR, and what it keeps as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Container → the image to resolve, and the field a problem with it is reported under.
    pub lookups: BTreeMap<String, (ImageRef, String)>,
    /// Container → the pinned image it keeps from the template.
    pub kept: BTreeMap<String, String>,
    pub problems: Vec<Problem>,
}

/// The references a manifest itself names: they can be looked up before the template is read.
pub fn named_lookups(manifest: &ValidManifest) -> Vec<ImageRef> {
    manifest.images.values().cloned().collect()
}

/// Plans a release of `manifest` for `service` whose template (the task definition the ECS
/// service runs now, as ECS's JSON) is `template`.
pub fn plan(service: &Service, manifest: &ValidManifest, template: &Value) -> Plan {
    let cfg = &service.config;
    let in_template = render::container_names(template);
    let not_in_template = |field: String, what: String| {
        let family = &cfg.task_family;
        Problem::new(
            field,
            format!("{what}, which is not in task definition family {family:?}"),
        )
    };
    let mut plan = Plan::default();
    let family = template
        .get("family")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if family != cfg.task_family {
        plan.problems.push(Problem::new(
            "task_family",
            format!(
                "the {} runs a revision of family {family:?}, but the registry names family {:?}",
                cfg.runner(),
                cfg.task_family
            ),
        ));
    }
    for (container, image) in &manifest.images {
        let field = format!("images.{container}");
        if in_template.contains(container) {
            plan.lookups
                .insert(container.clone(), (image.clone(), field));
        } else {
            let what = format!("container {container:?} is");
            plan.problems.push(not_in_template(field, what));
        }
    }
    for (container, repo) in &service.repositories {
        if manifest.images.contains_key(container) {
            continue;
        }
        if let Some(current) = render::container_image(template, container) {
            keep_running(&mut plan, container, repo, current);
        }
    }
    let migration_container = manifest.migration_plan(service).map(|p| p.container);
    let post_container = manifest.post_migration_plan(service).map(|p| p.container);
    let named = [
        (
            "appspec.container",
            cfg.appspec.as_ref().map(|a| &a.container),
        ),
        ("migration.container", migration_container.as_ref()),
        ("post_migration.container", post_container.as_ref()),
    ];
    for (field, container) in named {
        if let Some(c) = container
            && !in_template.contains(c)
        {
            let what = format!("registry names {c:?}, which is");
            plan.problems.push(not_in_template(field.to_owned(), what));
        }
    }
    plan
}

/// A registry container the manifest does not name keeps `current`, the image it runs today:
/// as is when already pinned in its repository, else looked up.
fn keep_running(plan: &mut Plan, container: &str, repo: &crate::images::Repository, current: &str) {
    let field = format!("task_definition.{container}");
    match ImageRef::parse(current) {
        Ok(ImageRef {
            reference: Reference::Digest(digest),
            repository,
        }) if repository == *repo => {
            plan.kept.insert(container.to_owned(), repo.pinned(&digest));
        }
        Ok(r) if r.repository == *repo => {
            plan.lookups.insert(container.to_owned(), (r, field));
        }
        Ok(_) => plan.problems.push(Problem::new(
            field,
            format!(
                "the template runs {current:?}, outside the registry repository {repo}; berth pins every registry container by digest"
            ),
        )),
        Err(e) => plan
            .problems
            .push(Problem::new(field, format!("the template's image: {e}"))),
    }
}

/// Every registry container's pinned image once ECR answered, or every problem.
pub fn pin(plan: &Plan, resolution: &Resolution) -> Result<BTreeMap<String, String>, Vec<Problem>> {
    let mut problems = plan.problems.clone();
    let mut pinned = plan.kept.clone();
    for (container, (image, field)) in &plan.lookups {
        match resolution.get(image) {
            Some(Ok(digest)) => {
                pinned.insert(container.clone(), image.repository.pinned(digest));
            }
            Some(Err(reason)) => problems.push(Problem::new(field.clone(), reason.clone())),
            None => problems.push(Problem::new(field.clone(), "was not looked up")),
        }
    }
    if problems.is_empty() {
        Ok(pinned)
    } else {
        Err(problems)
    }
}

/// The container whose image `imageDetail.json` names: the push-trigger container, else the
/// AppSpec container, else the first one. One rule for releases and for `berth render`.
pub fn primary_container<'a, V>(
    cfg: &ServiceConfig,
    images: &'a BTreeMap<String, V>,
) -> Option<(&'a String, &'a V)> {
    [
        cfg.push_trigger.as_ref().map(|t| t.container.as_str()),
        cfg.appspec.as_ref().map(|a| a.container.as_str()),
    ]
    .into_iter()
    .flatten()
    .find_map(|c| images.get_key_value(c))
    .or_else(|| images.iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::ManifestKey;
    use crate::registry::tests::web;
    use serde_json::json;

    const APP: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/app";
    const NGINX: &str = "123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/web/nginx";
    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn manifest(images: Value) -> ValidManifest {
        let doc = json!({"schema": "berth/v1", "service": "web", "release": "v1",
            "images": images, "migration": null});
        let key = ManifestKey::parse("manifests/web/v1.json").unwrap();
        crate::manifest::validate(doc.to_string().as_bytes(), &key, Some(&web())).unwrap()
    }

    fn template(nginx: &str) -> Value {
        json!({"family": "web", "containerDefinitions": [
            {"name": "app", "image": format!("{APP}:v0")},
            {"name": "nginx", "image": nginx},
            {"name": "datadog", "image": "public.ecr.aws/datadog/agent:7"}]})
    }

    #[test]
    fn unnamed_containers_keep_what_runs_pinned_ones_without_a_lookup() {
        let m = manifest(json!({"app": format!("{APP}:v1")}));
        let p = plan(&web(), &m, &template(&format!("{NGINX}@{D2}")));
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.kept["nginx"], format!("{NGINX}@{D2}"));
        assert_eq!(p.lookups.keys().collect::<Vec<_>>(), ["app"]);
        assert_eq!(p.lookups["app"].1, "images.app");

        let tagged = plan(&web(), &m, &template(&format!("{NGINX}:1.25")));
        assert_eq!(tagged.lookups["nginx"].1, "task_definition.nginx");
        assert!(tagged.kept.is_empty());
    }

    #[test]
    fn problems_name_their_field() {
        let cases: Vec<(&str, Value, Value, &str, &str)> = vec![
            (
                "container not in template",
                json!({"app": format!("{APP}:v1")}),
                json!({"family": "web", "containerDefinitions": [{"name": "nginx", "image": format!("{NGINX}@{D2}")}]}),
                "images.app",
                "not in task definition family",
            ),
            (
                "template runs another repository",
                json!({"app": format!("{APP}:v1")}),
                template(&format!("{APP}:v0")),
                "task_definition.nginx",
                "outside the registry repository",
            ),
            (
                "template runs an image outside ECR",
                json!({"app": format!("{APP}:v1")}),
                template("docker.io/library/nginx:1.25"),
                "task_definition.nginx",
                "not in Amazon ECR",
            ),
            (
                "appspec container missing",
                json!({"app": format!("{APP}:v1")}),
                json!({"family": "web", "containerDefinitions": [{"name": "app", "image": format!("{APP}:v0")}]}),
                "appspec.container",
                "not in task definition family",
            ),
        ];
        for (name, images, td, field, word) in cases {
            let p = plan(&web(), &manifest(images), &td);
            assert!(
                p.problems
                    .iter()
                    .any(|x| x.field == field && x.message.contains(word)),
                "{name}: {:?}",
                p.problems
            );
        }
    }

    #[test]
    fn pinning_reports_every_unresolved_image() {
        let m = manifest(json!({"app": format!("{APP}:v1")}));
        let p = plan(&web(), &m, &template(&format!("{NGINX}:1.25")));
        let app = p.lookups["app"].0.clone();
        let nginx = p.lookups["nginx"].0.clone();
        let ok = Resolution::from([
            (app.clone(), Ok(D1.to_owned())),
            (nginx.clone(), Ok(D2.to_owned())),
        ]);
        let pinned = pin(&p, &ok).unwrap();
        assert_eq!(pinned["app"], format!("{APP}@{D1}"));
        assert_eq!(pinned["nginx"], format!("{NGINX}@{D2}"));
        let bad = Resolution::from([(app, Err("tag \"v1\" not found".to_owned()))]);
        let problems = pin(&p, &bad).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|x| x.field.as_str()).collect();
        assert_eq!(fields, ["images.app", "task_definition.nginx"]);
    }

    #[test]
    fn the_primary_container_is_the_trigger_then_the_appspec_one() {
        let svc = web();
        let images = BTreeMap::from([("app".to_owned(), 1), ("nginx".to_owned(), 2)]);
        assert_eq!(
            primary_container(&svc.config, &images).map(|(c, _)| c.as_str()),
            Some("app")
        );
        let mut manifest_only = svc.config.clone();
        manifest_only.push_trigger = None;
        assert_eq!(
            primary_container(&manifest_only, &images).map(|(c, _)| c.as_str()),
            Some("nginx")
        );
        let only_app = BTreeMap::from([("app".to_owned(), 1)]);
        assert_eq!(
            primary_container(&manifest_only, &only_app).map(|(c, _)| c.as_str()),
            Some("app")
        );
    }
}
