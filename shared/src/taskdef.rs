//! Reading the task definition template as the raw JSON ECS returned.
//!
//! The SDK's typed `TaskDefinition` cannot be serialized back to JSON, and a hand-written
//! conversion would silently drop any field newer than the SDK. So the response body of
//! `DescribeTaskDefinition` is captured by an interceptor and rendered from directly.

use std::sync::{Arc, Mutex};

use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::operation::describe_task_definition::DescribeTaskDefinitionError;
use aws_smithy_runtime_api::box_error::BoxError;
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

/// The latest ACTIVE revision of `family` as ECS's JSON (`taskDefinition` object).
pub async fn latest_active(ecs: &aws_sdk_ecs::Client, family: &str) -> Result<Template> {
    let raw = RawBody::default();
    let sent = ecs
        .describe_task_definition()
        .task_definition(family)
        .customize()
        .interceptor(raw.clone())
        .send()
        .await;
    match sent {
        Ok(_) => {}
        Err(SdkError::ServiceError(e))
            if matches!(e.err(), DescribeTaskDefinitionError::ClientException(_))
                || e.err().code() == Some("TaskDefinitionNotFoundException") =>
        {
            return Ok(Template::Missing(format!(
                "task definition family {family:?} has no ACTIVE revision to use as the template ({})",
                e.err().message().unwrap_or("not found")
            )));
        }
        Err(e) => {
            return Err(Error::sdk(format!("ecs:DescribeTaskDefinition {family}"))(
                e,
            ));
        }
    }
    let body = raw
        .0
        .lock()
        .ok()
        .and_then(|mut b| b.take())
        .ok_or_else(|| {
            Error::Corrupt(format!(
                "ecs:DescribeTaskDefinition {family}: response body was not captured"
            ))
        })?;
    let mut doc: Value = serde_json::from_slice(&body).map_err(|e| {
        Error::Corrupt(format!(
            "ecs:DescribeTaskDefinition {family}: bad JSON: {e}"
        ))
    })?;
    match doc.get_mut("taskDefinition").map(Value::take) {
        Some(td @ Value::Object(_)) => Ok(Template::Found(td)),
        _ => Err(Error::Corrupt(format!(
            "ecs:DescribeTaskDefinition {family}: response has no taskDefinition"
        ))),
    }
}
