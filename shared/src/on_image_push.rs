//! `on-image-push`: EventBridge "ECR Image Action" → `manifests/<service>/<tag>.json` for each
//! service whose push trigger matches (decisions in [`crate::push`]). The manifest is the one
//! funnel every release goes through.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::aws::Clients;
use crate::error::Result;
use crate::images::Home;
use crate::invocation::{Invocation, event_of};
use crate::keys;
use crate::push::{self, EcrImageAction};
use crate::registry::Registry;
use crate::settings::Settings;
use crate::store::{Bucket, Condition, Written};

/// Everything `on-image-push` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub registry: Registry,
    pub bucket: Bucket,
    /// The region the function runs in, when the invocation does not say.
    pub region: String,
}

/// How a push ended for one service. All are successes for Lambda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A manifest was written for this release.
    Written {
        service: String,
        release: String,
        key: String,
        version_id: Option<String>,
    },
    /// The manifest for this release already exists (a repeated delivery, or a re-push of a
    /// tag that was already released); nothing was written.
    Exists {
        service: String,
        key: String,
    },
    Ignored {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    pub results: Vec<Outcome>,
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        Ok(Self::new(&Clients::from_env().await, &settings))
    }

    pub fn new(clients: &Clients, settings: &Settings) -> Self {
        Self {
            registry: Registry::new(clients.ssm.clone(), &settings.services_prefix),
            bucket: Bucket::new(clients.s3.clone(), &settings.release_bucket),
            region: clients.region().to_owned(),
        }
    }

    /// The Lambda handler.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Output> {
        let inv = Invocation::from_context(&event.context);
        match event_of::<EventBridgeEvent<Value>>(event.payload, "an EventBridge event") {
            Ok(e) => self.on_event(e, &inv).await,
            Err(reason) => Ok(Output {
                results: vec![Outcome::Ignored { reason }],
            }),
        }
    }

    pub async fn on_event(
        &self,
        event: EventBridgeEvent<Value>,
        inv: &Invocation,
    ) -> Result<Output> {
        if event.source != "aws.ecr" || event.detail_type != "ECR Image Action" {
            return Ok(ignored(format!(
                "not an ECR image action ({} / {})",
                event.source, event.detail_type
            )));
        }
        let detail: EcrImageAction = match serde_json::from_value(event.detail) {
            Ok(d) => d,
            Err(e) => return Ok(ignored(format!("unreadable ECR event detail: {e}"))),
        };
        // EventBridge's `account` and `region` name where the event originated: a push in
        // another account or region is to a same-named repository that is not berth's, and
        // writing its manifest would squat the release name of the real push.
        let mut home = inv.home(&self.region);
        if home.account_id.is_empty() {
            // Only a function ARN without an account (not Lambda's) leaves it unknown.
            home.account_id = event.account.clone().unwrap_or_default();
        }
        let account = event.account.as_deref().unwrap_or(&home.account_id);
        let region = event.region.as_deref().unwrap_or(&home.region);
        if account != home.account_id || region != home.region {
            return Ok(ignored(format!(
                "push of {} in account {account} region {region}, not berth's own ({} {})",
                detail.repository_name, home.account_id, home.region
            )));
        }
        let results = self.on_push(&home, &detail).await?;
        Ok(Output { results })
    }

    /// Writes the manifest of each service the push triggers.
    async fn on_push(&self, home: &Home, detail: &EcrImageAction) -> Result<Vec<Outcome>> {
        let repository = &detail.repository_name;
        let (tag, digest) = match push::screen(detail) {
            Ok(pushed) => pushed,
            Err(reason) => return Ok(ignored(reason).results),
        };
        let services = self.registry.all(home).await?;
        let matching = push::triggered(&services, home, repository, tag);
        if matching.is_empty() {
            let reason = format!("no service has a push trigger for {repository}:{tag}");
            return Ok(ignored(reason).results);
        }
        let mut outcomes = Vec::with_capacity(matching.len());
        for service in matching {
            let Some(manifest) = push::manifest_for_push(service, tag, digest) else {
                continue;
            };
            let key = keys::manifest_key(&manifest.service, &manifest.release);
            let (service, release) = (manifest.service.clone(), manifest.release.clone());
            // Absent-only: repeated deliveries write nothing, and a re-pushed tag does not
            // replace a release that already exists.
            let outcome = match self
                .bucket
                .put_json(&key, &manifest, Condition::Absent)
                .await?
            {
                Written::Ok { version_id, .. } => {
                    tracing::info!(%service, %release, %digest, manifest = %key, "manifest written");
                    Outcome::Written {
                        service,
                        release,
                        key,
                        version_id,
                    }
                }
                Written::ConditionFailed => {
                    tracing::info!(%service, %release, manifest = %key, "manifest already exists; nothing written");
                    Outcome::Exists { service, key }
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

fn ignored(reason: String) -> Output {
    tracing::info!(%reason, "event ignored");
    Output {
        results: vec![Outcome::Ignored { reason }],
    }
}
