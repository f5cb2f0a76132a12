//! Which service and release a deployment is. CodeDeploy: the deployment names its application
//! and deployment group, the registry names the service that deploys through them, and the
//! service's pipeline names the execution (and so the release) whose Deploy action runs it.
//! ECS: the hook event names the service (cluster and name) and the service deployment, the
//! registry names the berth service, and the pipeline the execution whose Deploy action
//! follows that service deployment.

use std::time::Duration;

use berth_core::ecs_hook;

use super::Context;
use crate::images::Home;
use crate::registry::{DeploymentTarget, Service, ServiceConfig};
use crate::{pipeline, service_deployments};

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

    /// The release `deployment_id` deploys, when the service's pipeline shows it. `Ok(None)`
    /// (logged): the pipeline does not show a berth execution running it, so the checks run and
    /// the verdict is not recorded. `Err`: the pipeline could not be read — berth's own error,
    /// which fails the hook (a verdict berth cannot attribute to a release is not a pass).
    pub(super) async fn subject(
        &self,
        config: &ServiceConfig,
        deployment_id: &str,
    ) -> Result<Option<Subject>, String> {
        let pipeline = config.pipeline.as_str();
        for read in 1..=STATE_READS {
            let found = pipeline::deployment_release(&self.codepipeline, pipeline, deployment_id)
                .await
                .map_err(|e| format!("berth verify could not read the pipeline: {e}"))?;
            match found {
                Some((execution_id, started)) if started.service == config.service => {
                    return Ok(Some(Subject {
                        service: started.service,
                        release: started.release,
                        pipeline_execution_id: execution_id,
                        rollback: started.rollback,
                    }));
                }
                Some((execution_id, _)) => {
                    tracing::warn!(%pipeline, %execution_id, "execution not started by berth for this service");
                    return Ok(None);
                }
                None if read < STATE_READS => tokio::time::sleep(STATE_PAUSE).await,
                None => {}
            }
        }
        tracing::warn!(%pipeline, %deployment_id, "no execution of the pipeline runs this deployment");
        Ok(None)
    }

    /// Reads the release record the verdict goes into, before any check runs: a record berth
    /// may not read (a role or key policy missing) is berth's own error and fails the hook,
    /// rather than passing a deployment whose verdict could never be recorded. A missing record
    /// is not an error of reading (logged when the verdict is noted).
    pub(super) async fn record_readable(&self, subject: &Subject) -> Result<(), String> {
        self.records
            .get(&subject.service, &subject.release)
            .await
            .map(|_| ())
            .map_err(|e| format!("berth verify could not read the release record: {e}"))
    }
}

impl Context {
    /// The registry entry of the ECS service `service_arn` names (`…:service/<cluster>/<name>`),
    /// matched on cluster and `ecs_service`, or why there is none.
    pub(super) async fn ecs_service_of(
        &self,
        service_arn: &str,
        home: &Home,
    ) -> Result<Service, String> {
        let (cluster, name) = ecs_hook::service_of(service_arn)?;
        let services = self
            .registry
            .all(home)
            .await
            .map_err(|e| format!("berth verify could not read the registry: {e}"))?;
        services
            .into_iter()
            .find(|s| {
                ecs_hook::last_segment(&s.config.cluster) == cluster
                    && s.config.ecs_service.as_deref().map(ecs_hook::last_segment)
                        == Some(name.as_str())
            })
            .ok_or_else(|| {
                format!(
                    "no service in the registry runs as ECS service {name:?} in cluster {cluster:?}"
                )
            })
    }

    /// The release the hook's service deployment deploys, as [`Context::subject`] finds it for
    /// CodeDeploy: the pipeline execution whose Deploy action follows this deployment
    /// (`pipeline::native_deployment_release`), confirmed by the target revision's task
    /// definition (DescribeServiceRevisions) being of the service's family — a deployment of
    /// another family is not one berth rendered. `Ok(None)` (logged): the checks run and the
    /// verdict is not recorded. `Err`: a read failed, which fails the hook. The record is read
    /// too, as for CodeDeploy, so that a verdict that could never be recorded does not pass.
    pub(super) async fn ecs_subject(
        &self,
        service: &Service,
        event: &ecs_hook::HookEvent,
    ) -> Result<Option<Subject>, String> {
        let config = &service.config;
        let revision = &event.execution_details.target_service_revision_arn;
        let task_definition = service_deployments::revision_task_definition(&self.ecs, revision)
            .await
            .map_err(|e| format!("berth verify could not read the target service revision: {e}"))?
            .ok_or_else(|| format!("ECS does not know the target service revision {revision}"))?;
        let family = task_definition
            .rsplit('/')
            .next()
            .and_then(|f| f.split(':').next())
            .unwrap_or_default();
        if family != config.task_family {
            tracing::warn!(%task_definition, family = %config.task_family,
                "the deployment's task definition is not of the service's family");
            return Ok(None);
        }
        let pipeline = config.pipeline.as_str();
        let found =
            pipeline::native_deployment_release(&self.codepipeline, pipeline, &event.resource_arn)
                .await
                .map_err(|e| format!("berth verify could not read the pipeline: {e}"))?;
        let subject = match found {
            Some((execution_id, started)) if started.service == config.service => Subject {
                service: started.service,
                release: started.release,
                pipeline_execution_id: execution_id,
                rollback: started.rollback,
            },
            _ => {
                tracing::warn!(%pipeline, deployment = %event.resource_arn,
                    "no berth execution of the pipeline deploys this service deployment");
                return Ok(None);
            }
        };
        self.record_readable(&subject).await?;
        Ok(Some(subject))
    }
}
