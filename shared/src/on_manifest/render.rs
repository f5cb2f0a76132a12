//! Rendering a release (I/O around [`crate::plan`]): the template from ECS, digests from ECR,
//! and the artifact files. `berth render` calls the same code for its dry run.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws::Clients;
use crate::error::Result;
use crate::images::{self, Resolved};
use crate::manifest::{Problem, ValidManifest};
use crate::plan::{self, Plan};
use crate::platform::{self, Platform};
use crate::registry::Service;
use crate::render;
use crate::taskdef::{self, ReadAhead, Template};

/// The artifact files of a release, before zipping.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub task_definition: serde_json::Value,
    pub appspec: String,
    pub image_detail: serde_json::Value,
    /// Container → pinned image, for every registry container.
    pub images: BTreeMap<String, String>,
}

/// A release rendered, or every problem that prevents it (the user's to fix).
#[derive(Debug, Clone)]
pub enum Rendering {
    Ready(Box<Rendered>),
    Refused(Vec<Problem>),
}

/// Template, digests and the artifact files for `manifest`. The manifest's own images are
/// looked up while the template is read (or its read `ahead` finishes); only an unnamed
/// container whose template image is a tag needs a second lookup. An image index with no image
/// for the template's `runtimePlatform` is refused here, from the lookup's own answer: ECS
/// could not run it, and the Scan action would have nothing to judge.
pub async fn render(
    clients: &Clients,
    service: &Service,
    manifest: &ValidManifest,
    verify_function: Option<&str>,
    ahead: Option<ReadAhead>,
) -> Result<Rendering> {
    let cfg = &service.config;
    let ecr = |region: &str| clients.ecr_in(region);
    let (template, named) = tokio::join!(
        template(clients, cfg, ahead),
        images::resolve(ecr, plan::named_lookups(manifest)),
    );
    let template = match template? {
        Template::Found(t) => t,
        Template::Missing(reason) => {
            let field = if cfg.task_target.is_some() {
                "task_family"
            } else {
                "ecs_service"
            };
            return Ok(Rendering::Refused(vec![Problem::new(field, reason)]));
        }
    };
    let plan = plan::plan(service, manifest, &template);
    let pinned = match pin_all(clients, &plan, named?, &template).await? {
        Ok(p) => p,
        Err(problems) => return Ok(Rendering::Refused(problems)),
    };
    let task_definition = match render::render_task_definition(&template, &pinned) {
        Ok(td) => td,
        Err(errors) => {
            let problems = errors
                .into_iter()
                .map(|e| Problem::new("task_definition", e))
                .collect();
            return Ok(Rendering::Refused(problems));
        }
    };
    let primary = plan::primary_container(cfg, &pinned)
        .map(|(_, image)| image.clone())
        .unwrap_or_default();
    Ok(Rendering::Ready(Box::new(Rendered {
        appspec: render::render_appspec(cfg.appspec.as_ref(), verify_function),
        image_detail: render::render_image_detail(&primary),
        task_definition,
        images: pinned,
    })))
}

/// The template a release starts from: what the ECS service runs; for a task target the
/// family's newest ACTIVE revision (the Migrate action renders it again from what the schedules
/// and rules run, under the stage lock, so this choice only shapes the source artifact).
async fn template(
    clients: &Clients,
    cfg: &crate::registry::ServiceConfig,
    ahead: Option<ReadAhead>,
) -> Result<Template> {
    match &cfg.ecs_service {
        Some(name) => taskdef::running_or_ahead(&clients.ecs, &cfg.cluster, name, ahead).await,
        None => taskdef::newest(&clients.ecs, &cfg.task_family).await,
    }
}

/// Every registry container's pinned image, once the lookups `plan` still needs are made; or
/// every problem, an image index with no image for the template's `runtimePlatform` included.
async fn pin_all(
    clients: &Clients,
    plan: &Plan,
    mut resolved: Resolved,
    template: &Value,
) -> Result<std::result::Result<BTreeMap<String, String>, Vec<Problem>>> {
    let more: Vec<_> = plan
        .lookups
        .values()
        .map(|(r, _)| r.clone())
        .filter(|r| !resolved.digests.contains_key(r))
        .collect();
    if !more.is_empty() {
        let ecr = |region: &str| clients.ecr_in(region);
        resolved.extend(images::resolve(ecr, more).await?);
    }
    let runs_on = Platform::of_task_definition(template);
    Ok(plan::pin(plan, &resolved.digests).and_then(|pinned| {
        let unrunnable = platform::problems(plan, &resolved.indexes, &runs_on);
        if unrunnable.is_empty() {
            Ok(pinned)
        } else {
            Err(unrunnable)
        }
    }))
}
