//! `on-image-push`: EventBridge "ECR Image Action" → `manifests/<service>/<tag>.json` for each
//! service whose push trigger matches (decisions in [`crate::push`]). The manifest is the one
//! funnel every release goes through. A push reads the push-trigger index (the services whose
//! stacks registered a trigger on the repository, [`crate::push_index`]) and those services'
//! registry entries only: two SSM requests however many services the registry holds. On its
//! schedule (an EventBridge "Scheduled Event") it sweeps for pushes whose event never arrived
//! (`sweep`), a bounded part of the registry per run.

mod sweep;

pub use sweep::{DEFAULT_LOOKBACK_MINUTES, lookback_from};

use std::time::Duration;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;

use crate::aws::{self, Clients};
use crate::error::Result;
use crate::images::Home;
use crate::index::Index;
use crate::invocation::{Invocation, event_of};
use crate::keys;
use crate::push::{self, EcrImageAction};
use crate::push_index::{Owners, PushIndex};
use crate::registry::{Registry, Service};
use crate::settings::{Settings, push_index_prefix};
use crate::store::{Bucket, Condition, Written};

/// Everything `on-image-push` needs, built once per function instance.
#[derive(Debug, Clone)]
pub struct Context {
    pub registry: Registry,
    /// The push-trigger index (`BERTH_PUSH_INDEX_PREFIX`).
    pub push_index: PushIndex,
    /// Registry pages one sweep run reads.
    pub sweep_pages: usize,
    pub bucket: Bucket,
    pub index: Index,
    /// ECR in the function's region, for the sweep.
    pub ecr: aws_sdk_ecr::Client,
    /// The region the function runs in, when the invocation does not say.
    pub region: String,
    /// How far back the sweep looks at pushes.
    pub lookback: Duration,
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
    /// The sweep wrote the manifest of a push whose event never arrived.
    Recovered {
        service: String,
        release: String,
        key: String,
        version_id: Option<String>,
    },
    Ignored {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Output {
    pub results: Vec<Outcome>,
    /// A sweep's count of recovered pushes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<usize>,
}

impl Context {
    pub async fn from_env() -> Result<Self> {
        let settings = Settings::from_env()?;
        let lookback = lookback_from(crate::settings::sweep_lookback_minutes().as_deref())?;
        // A push reads the registry entries, then writes manifests.
        let endpoints = [aws::SSM, aws::Endpoint::Bucket(&settings.release_bucket)];
        let clients = Clients::for_lambda(&endpoints)?;
        let mut context = Self::new(&clients, &settings);
        context.lookback = lookback;
        context.push_index = PushIndex::new(clients.ssm.clone(), push_index_prefix()?);
        Ok(context)
    }

    pub fn new(clients: &Clients, settings: &Settings) -> Self {
        let bucket = Bucket::new(clients.s3.clone(), &settings.release_bucket);
        Self {
            registry: Registry::new(clients.ssm.clone(), &settings.services_prefix),
            push_index: PushIndex::new(clients.ssm.clone(), crate::push_index::DEFAULT_PREFIX),
            sweep_pages: crate::sweep::PAGES_PER_RUN,
            index: Index::new(bucket.clone()),
            bucket,
            ecr: clients.ecr.clone(),
            region: clients.region().to_owned(),
            lookback: Duration::from_secs(DEFAULT_LOOKBACK_MINUTES * 60),
        }
    }

    /// The Lambda handler.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Output> {
        let inv = Invocation::from_context(&event.context);
        match event_of::<EventBridgeEvent<Value>>(event.payload, "an EventBridge event") {
            Ok(e) => self.on_event(e, &inv).await,
            Err(reason) => Ok(Output {
                results: vec![Outcome::Ignored { reason }],
                recovered: None,
            }),
        }
    }

    pub async fn on_event(
        &self,
        event: EventBridgeEvent<Value>,
        inv: &Invocation,
    ) -> Result<Output> {
        if event.source == "aws.events" && event.detail_type == "Scheduled Event" {
            let mut home = inv.home(&self.region);
            if home.account_id.is_empty() {
                home.account_id = event.account.clone().unwrap_or_default();
            }
            return self.sweep(&home, std::time::SystemTime::now()).await;
        }
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
        Ok(Output {
            results,
            recovered: None,
        })
    }

    /// Writes the manifest of each service the push triggers.
    async fn on_push(&self, home: &Home, detail: &EcrImageAction) -> Result<Vec<Outcome>> {
        let repository = &detail.repository_name;
        let (tag, digest) = match push::screen(detail) {
            Ok(pushed) => pushed,
            Err(reason) => return Ok(ignored(reason).results),
        };
        let (named, services) = match self.owners(home, repository).await? {
            Ok(found) => found,
            Err(reason) => return Ok(ignored(reason).results),
        };
        let matching = push::triggered(&services, home, repository, tag);
        if matching.is_empty() {
            let reason = format!(
                "no service has a push trigger for {repository}:{tag} (the push index names {named:?})"
            );
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

    /// The services the push index names for `repository` and their registry entries, or why
    /// there are none. The entries decide ([`push::triggered`]): an index entry left behind by
    /// a service whose trigger moved elsewhere releases nothing.
    async fn owners(
        &self,
        home: &Home,
        repository: &str,
    ) -> Result<std::result::Result<(Vec<String>, Vec<Service>), String>> {
        let names = match self.push_index.owners(repository).await? {
            Owners::Named(names) if !names.is_empty() => names,
            Owners::Named(_) => {
                return Ok(Err(format!(
                    "no push-index entry under {}{repository}: no service stack registered a \
                     push trigger on it (the lost-push sweep still releases the push of a service \
                     whose stack predates the index, at its turn)",
                    self.push_index.prefix()
                )));
            }
            Owners::TooDeep(reason) => {
                return Ok(Err(format!(
                    "{reason}; the lost-push sweep still releases its pushes, at its turn"
                )));
            }
        };
        let services = self.registry.services(&names, home).await?;
        Ok(Ok((names, services)))
    }
}

fn ignored(reason: String) -> Output {
    tracing::info!(%reason, "event ignored");
    Output {
        results: vec![Outcome::Ignored { reason }],
        recovered: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_event_detail_parses() {
        let event = r#"{
          "version": "0", "id": "13cde686-328b-6117-af20-0e5566167482",
          "detail-type": "ECR Image Action", "source": "aws.ecr",
          "account": "123456789012", "time": "2019-11-16T01:54:34Z", "region": "us-west-2",
          "resources": [],
          "detail": {"result": "SUCCESS", "repository-name": "my-repository-name",
            "image-digest": "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234",
            "action-type": "PUSH", "image-tag": "latest"}
        }"#;
        let e: aws_lambda_events::event::eventbridge::EventBridgeEvent<EcrImageAction> =
            serde_json::from_str(event).unwrap();
        assert_eq!(e.detail.repository_name, "my-repository-name");
        assert_eq!(e.detail.image_tag.as_deref(), Some("latest"));
    }
}
