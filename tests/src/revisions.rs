//! Task definition revisions as the pipeline leaves them: the release's `taskdef.json`
//! registered (as migrate and the Deploy action do), a finished deployment's cut-over, and a
//! revision's status.

use serde_json::Value;

use crate::{Env, raw_json};

impl Env {
    /// Registers the `taskdef.json` of `release`'s artifact (an on-manifest outcome with its
    /// `artifact_version_id`) as migrate and the Deploy action do; the new revision's ARN.
    pub async fn register_release(&self, release: &Value) -> String {
        let version = release["artifact_version_id"]
            .as_str()
            .expect("an artifact version");
        let zip = self
            .get_object("artifacts/web/source.zip", Some(version))
            .await
            .expect("artifact version exists");
        let taskdef = berth::render::read_artifact_file(&zip, berth::render::TASKDEF_FILE)
            .expect("taskdef.json");
        let out = raw_json(
            &self.moto.endpoint,
            "ecs",
            "AmazonEC2ContainerServiceV20141113.RegisterTaskDefinition",
            std::str::from_utf8(&taskdef).expect("UTF-8"),
        )
        .await;
        let out: Value = serde_json::from_str(&out).expect("JSON");
        out["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .expect("ARN")
            .to_owned()
    }

    /// What a finished CodeDeploy deployment of `web` leaves: `task_definition` in the PRIMARY
    /// task set, the old task sets deleted.
    pub async fn cut_over(&self, task_definition: &str) {
        self.deploy("web", task_definition).await;
        let ecs = &self.clients.ecs;
        let out = ecs
            .describe_services()
            .cluster("prod")
            .services("web")
            .send()
            .await
            .expect("describe service");
        for t in out.services()[0].task_sets() {
            if t.status() != Some("PRIMARY") {
                ecs.delete_task_set()
                    .cluster("prod")
                    .service("web")
                    .task_set(t.task_set_arn().expect("task set ARN"))
                    .send()
                    .await
                    .expect("delete task set");
            }
        }
    }

    /// `ACTIVE` or `INACTIVE`.
    pub async fn revision_status(&self, arn: &str) -> String {
        let out = self
            .clients
            .ecs
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .expect("describe task definition");
        out.task_definition()
            .and_then(|t| t.status())
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default()
    }
}
