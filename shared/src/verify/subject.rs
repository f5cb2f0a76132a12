//! Which service and release a CodeDeploy deployment is: the deployment names its application
//! and deployment group, the registry names the service that deploys through them, and the
//! service's pipeline names the execution (and so the release) whose Deploy action runs it.

use std::time::Duration;

use super::Context;
use crate::images::Home;
use crate::pipeline;
use crate::registry::{DeploymentTarget, Service, ServiceConfig};

/// The release a deployment deploys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub service: String,
    pub release: String,
    pub pipeline_execution_id: String,
    pub rollback: bool,
}

/// Reads of the pipeline state before giving up on naming the release: CodePipeline learns
/// the deployment id when its Deploy action creates the deployment, well before any hook runs,
/// but its state is read, not pushed.
const STATE_READS: u32 = 3;
const STATE_PAUSE: Duration = Duration::from_secs(2);

impl Context {
    /// The registry entry of the service `deployment_id` deploys, or why there is none.
    pub(super) async fn service_of(
        &self,
        deployment_id: &str,
        home: &Home,
    ) -> Result<Service, String> {
        let out = self
            .codedeploy
            .get_deployment()
            .deployment_id(deployment_id)
            .send()
            .await
            .map_err(|e| {
                let e = crate::Error::sdk(format!("codedeploy:GetDeployment {deployment_id}"))(e);
                format!("berth verify could not read the deployment: {e}")
            })?;
        let info = out.deployment_info();
        let target = DeploymentTarget {
            application: info
                .and_then(|i| i.application_name())
                .unwrap_or_default()
                .to_owned(),
            group: info
                .and_then(|i| i.deployment_group_name())
                .unwrap_or_default()
                .to_owned(),
        };
        let services = self
            .registry
            .all(home)
            .await
            .map_err(|e| format!("berth verify could not read the registry: {e}"))?;
        services
            .into_iter()
            .find(|s| s.config.deployment_target() == target)
            .ok_or_else(|| {
                format!(
                    "no service in the registry deploys through CodeDeploy application {:?}, deployment group {:?}",
                    target.application, target.group
                )
            })
    }

    /// The release `deployment_id` deploys, when the service's pipeline shows it. `None`
    /// (logged) leaves the verdict unrecorded; the checks run regardless.
    pub(super) async fn subject(
        &self,
        config: &ServiceConfig,
        deployment_id: &str,
    ) -> Option<Subject> {
        let pipeline = config.pipeline.as_str();
        for read in 1..=STATE_READS {
            match pipeline::deployment_release(&self.codepipeline, pipeline, deployment_id).await {
                Ok(Some((execution_id, started))) if started.service == config.service => {
                    return Some(Subject {
                        service: started.service,
                        release: started.release,
                        pipeline_execution_id: execution_id,
                        rollback: started.rollback,
                    });
                }
                Ok(Some((execution_id, _))) => {
                    tracing::warn!(%pipeline, %execution_id, "execution not started by berth for this service");
                    return None;
                }
                Ok(None) if read < STATE_READS => tokio::time::sleep(STATE_PAUSE).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%pipeline, %deployment_id, error = %e, "pipeline state unreadable");
                    return None;
                }
            }
        }
        tracing::warn!(%pipeline, %deployment_id, "no execution of the pipeline runs this deployment");
        None
    }
}
