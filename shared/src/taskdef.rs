//! The template of a release: the task definition the ECS service runs now, as the raw JSON
//! ECS returned.
//!
//! Not the family's latest ACTIVE revision: every release registers revisions (migrate before
//! the deployment, CodeDeploy for it), and a release that failed or was rolled back leaves its
//! revision as the newest. Taking that as the template would ship the failed release's images
//! for every container the next release does not name.
//!
//! The SDK's typed `TaskDefinition` cannot be serialized back to JSON, and a hand-written
//! conversion would silently drop any field newer than the SDK. So the response body of
//! `DescribeTaskDefinition` is captured by an interceptor and rendered from directly.

use std::sync::{Arc, Mutex};

use crate::error::BoxError;
use aws_sdk_ecs::types::{DeploymentControllerType, Service};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default)]
struct RawBody(Arc<Mutex<Option<Vec<u8>>>>);

impl Intercept for RawBody {
    fn name(&self) -> &'static str {
        "berth::RawBody"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(bytes) = context.response().body().bytes()
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// A release's template, or why there is none (a configuration problem to report, not a
/// fault to retry).
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    Found(Value),
    Missing(String),
}

/// The task definition ECS service `service` in `cluster` runs now, as ECS's JSON.
pub async fn running(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str) -> Result<Template> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(service)
        .send()
        .await
        .map_err(Error::sdk(format!(
            "ecs:DescribeServices {cluster}/{service}"
        )))?;
    let found = out.services().iter().find(|s| {
        s.service_name() == Some(service)
            || s.service_arn()
                .is_some_and(|a| a.ends_with(&format!("/{service}")))
    });
    let arn = match found.map(running_task_definition) {
        Some(Ok(arn)) => arn,
        Some(Err(reason)) => return Ok(Template::Missing(reason)),
        None => {
            let why = out
                .failures()
                .iter()
                .filter_map(|f| f.reason())
                .next()
                .unwrap_or("MISSING");
            return Ok(Template::Missing(format!(
                "ECS service {service:?} in cluster {cluster:?} was not found ({why}); the release's template is the task definition it runs"
            )));
        }
    };
    describe(ecs, &arn).await.map(Template::Found)
}

/// A template read started before the registry entry says where the service is, from where it
/// was found last time (a warm instance remembers): ECS's answer then comes back with the
/// entry instead of after it, one round trip sooner. Dropped unused, the read is stopped.
#[derive(Debug)]
pub struct ReadAhead {
    cluster: String,
    service: String,
    read: tokio::task::JoinHandle<Result<Template>>,
}

impl ReadAhead {
    /// Starts reading the template of `service` in `cluster`.
    pub fn start(ecs: &aws_sdk_ecs::Client, cluster: &str, service: &str) -> ReadAhead {
        let (ecs, c, s) = (ecs.clone(), cluster.to_owned(), service.to_owned());
        ReadAhead {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            read: tokio::spawn(async move { running(&ecs, &c, &s).await }),
        }
    }

    /// The read's result if it was for `service` in `cluster`; `None` if the entry now names
    /// another place (the read is stopped) or the read did not finish.
    async fn take(mut self, cluster: &str, service: &str) -> Option<Result<Template>> {
        if self.cluster != cluster || self.service != service {
            tracing::debug!(
                was = %format!("{}/{}", self.cluster, self.service),
                now = %format!("{cluster}/{service}"),
                "the service moved since the last release; its template is read again"
            );
            return None;
        }
        (&mut self.read).await.ok()
    }
}

impl Drop for ReadAhead {
    fn drop(&mut self) {
        self.read.abort();
    }
}

/// [`running`], taken from `ahead` when it read the same service.
pub async fn running_or_ahead(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    service: &str,
    ahead: Option<ReadAhead>,
) -> Result<Template> {
    if let Some(ahead) = ahead
        && let Some(template) = ahead.take(cluster, service).await
    {
        return template;
    }
    running(ecs, cluster, service).await
}

/// Which task definition a described service runs: for a CODE_DEPLOY (or EXTERNAL) service the
/// one of its PRIMARY task set, the task set serving production traffic; for an ECS-controlled
/// service the one of its PRIMARY deployment.
pub fn running_task_definition(s: &Service) -> Result<String, String> {
    let name = s.service_name().unwrap_or("?");
    if s.status() != Some("ACTIVE") {
        return Err(format!(
            "ECS service {name:?} is {}, not ACTIVE",
            s.status().unwrap_or("of unknown status")
        ));
    }
    let controller = s
        .deployment_controller()
        .map(|d| d.r#type().clone())
        .unwrap_or(DeploymentControllerType::Ecs);
    let primary = match controller {
        DeploymentControllerType::Ecs => s
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .and_then(|d| d.task_definition())
            .or(s.task_definition()),
        _ => s
            .task_sets()
            .iter()
            .find(|t| t.status() == Some("PRIMARY"))
            .and_then(|t| t.task_definition()),
    };
    primary.map(str::to_owned).ok_or_else(|| {
        format!(
            "ECS service {name:?} ({} controller) has no PRIMARY task set, so nothing runs that a release could start from",
            controller.as_str()
        )
    })
}

/// The family's newest ACTIVE revision, as ECS's JSON: the template of a register-only task
/// target, whose newest revision is its release. DescribeTaskDefinition takes "The family for
/// the latest ACTIVE revision" (ECS API reference, `taskDefinition`); a family without one is
/// refused (ClientException), which is the user's to fix.
pub async fn newest(ecs: &aws_sdk_ecs::Client, family: &str) -> Result<Template> {
    match describe(ecs, family).await {
        Ok(td) => Ok(Template::Found(td)),
        Err(Error::Aws {
            fault: crate::error::AwsFault::Refused,
            source,
            ..
        }) => Ok(Template::Missing(format!(
            "task family {family:?} has no ACTIVE revision to start the release from (ecs:DescribeTaskDefinition: {}); register one first",
            aws_smithy_types::error::display::DisplayErrorContext(source.as_ref())
        ))),
        Err(e) => Err(e),
    }
}

/// One task definition revision as ECS's JSON (`taskDefinition` object).
pub async fn describe(ecs: &aws_sdk_ecs::Client, arn: &str) -> Result<Value> {
    let raw = RawBody::default();
    ecs.describe_task_definition()
        .task_definition(arn)
        .customize()
        .interceptor(raw.clone())
        .send()
        .await
        .map_err(Error::sdk(format!("ecs:DescribeTaskDefinition {arn}")))?;
    let corrupt = |what: &str| Error::Corrupt(format!("ecs:DescribeTaskDefinition {arn}: {what}"));
    let body = raw
        .0
        .lock()
        .ok()
        .and_then(|mut b| b.take())
        .ok_or_else(|| corrupt("response body was not captured"))?;
    let mut doc: Value =
        serde_json::from_slice(&body).map_err(|e| corrupt(&format!("bad JSON: {e}")))?;
    match doc.get_mut("taskDefinition").map(Value::take) {
        Some(td @ Value::Object(_)) => Ok(td),
        _ => Err(corrupt("response has no taskDefinition")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ecs::types::{DeploymentController, TaskSet};

    const TD1: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:1";
    const TD2: &str = "arn:aws:ecs:ap-northeast-1:123456789012:task-definition/web:2";

    fn service(
        controller: DeploymentControllerType,
    ) -> aws_sdk_ecs::types::builders::ServiceBuilder {
        Service::builder()
            .service_name("web")
            .status("ACTIVE")
            .deployment_controller(
                DeploymentController::builder()
                    .r#type(controller)
                    .build()
                    .unwrap(),
            )
    }

    fn task_set(status: &str, td: &str) -> TaskSet {
        TaskSet::builder()
            .status(status)
            .task_definition(td)
            .build()
    }

    #[test]
    fn the_template_is_what_serves_production_traffic() {
        let deployment = |status: &str, td: &str| {
            aws_sdk_ecs::types::Deployment::builder()
                .status(status)
                .task_definition(td)
                .build()
        };
        let cases: Vec<(&str, Service, Result<&str, &str>)> = vec![
            (
                "blue/green: the PRIMARY task set, not a newer ACTIVE one",
                service(DeploymentControllerType::CodeDeploy)
                    .task_sets(task_set("ACTIVE", TD2))
                    .task_sets(task_set("PRIMARY", TD1))
                    .task_definition(TD2)
                    .build(),
                Ok(TD1),
            ),
            (
                "blue/green without a PRIMARY task set",
                service(DeploymentControllerType::CodeDeploy)
                    .task_sets(task_set("ACTIVE", TD2))
                    .build(),
                Err("has no PRIMARY task set"),
            ),
            (
                "rolling: the PRIMARY deployment",
                service(DeploymentControllerType::Ecs)
                    .deployments(deployment("ACTIVE", TD1))
                    .deployments(deployment("PRIMARY", TD2))
                    .build(),
                Ok(TD2),
            ),
            (
                "a draining service",
                service(DeploymentControllerType::CodeDeploy)
                    .status("DRAINING")
                    .task_sets(task_set("PRIMARY", TD1))
                    .build(),
                Err("is DRAINING, not ACTIVE"),
            ),
        ];
        for (name, svc, want) in cases {
            let got = running_task_definition(&svc);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{name}: {g}"),
                (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
            }
        }
    }
}
