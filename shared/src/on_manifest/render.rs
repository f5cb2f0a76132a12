//! Rendering a release (I/O around [`crate::plan`]): the template from ECS, digests from ECR,
//! and the artifact files. `berth render` calls the same code for its dry run.

use std::collections::BTreeMap;

use crate::aws::Clients;
use crate::error::Result;
use crate::images;
use crate::manifest::{Problem, ValidManifest};
use crate::plan;
use crate::registry::Service;
use crate::render;
use crate::taskdef::{self, Template};

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

/// Template, digests and the artifact files for `manifest`.
pub async fn render(
    clients: &Clients,
    service: &Service,
    manifest: &ValidManifest,
) -> Result<Rendering> {
    let cfg = &service.config;
    let template = match taskdef::latest_active(&clients.ecs, &cfg.task_family).await? {
        Template::Found(t) => t,
        Template::Missing(reason) => {
            return Ok(Rendering::Refused(vec![Problem::new(
                "task_family",
                reason,
            )]));
        }
    };
    let plan = plan::plan(service, manifest, &template);
    let lookups = plan.lookups.values().map(|(r, _)| r.clone());
    let resolution = images::resolve(|region| clients.ecr_in(region), lookups).await?;
    let pinned = match plan::pin(&plan, &resolution) {
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
        appspec: render::render_appspec(&cfg.appspec),
        image_detail: render::render_image_detail(&primary),
        task_definition,
        images: pinned,
    })))
}
