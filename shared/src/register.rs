//! Registering a release's `taskdef.json` with ECS byte for byte: `RegisterTaskDefinition`'s
//! input is the task definition JSON itself, so the document goes to ECS as written, every
//! field kept (the SDK's typed builder would drop any field newer than the SDK). Migrate
//! registers the revision its migration task runs this way, and the deploy action the one the
//! ECS service deploys.

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::ContainerDefinition;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;

use crate::error::{AwsFault, BoxError, Error, Result};

/// RegisterTaskDefinition's ClientException when revisions of one family are registered at
/// the same moment; it is a passing condition, like throttling.
const CONCURRENT_REVISIONS: &str = "Too many concurrent attempts";

/// Registers `body` (a task definition document of `family`) and returns the revision's ARN.
pub async fn register(ecs: &aws_sdk_ecs::Client, family: &str, body: Vec<u8>) -> Result<String> {
    let out = ecs
        .register_task_definition()
        // Placeholders satisfy the typed builder; the interceptor sends the document itself.
        .family(family)
        .container_definitions(ContainerDefinition::builder().name("placeholder").build())
        .customize()
        .interceptor(ReplaceBody(body))
        .send()
        .await
        .map_err(|e| {
            let concurrent = e
                .as_service_error()
                .and_then(|se| se.message())
                .is_some_and(|m| m.contains(CONCURRENT_REVISIONS));
            let err = Error::sdk(format!("ecs:RegisterTaskDefinition {family}"))(e);
            match err {
                Error::Aws { action, source, .. } if concurrent => Error::Aws {
                    action,
                    source,
                    fault: AwsFault::Throttled,
                },
                other => other,
            }
        })?;
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_owned)
        .ok_or_else(|| Error::Corrupt("ecs:RegisterTaskDefinition returned no ARN".into()))
}

/// Sends a prepared JSON document as the request body.
#[derive(Debug)]
struct ReplaceBody(Vec<u8>);

impl Intercept for ReplaceBody {
    fn name(&self) -> &'static str {
        "berth::ReplaceBody"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let req = context.request_mut();
        *req.body_mut() = SdkBody::from(self.0.clone());
        req.headers_mut()
            .insert("content-length", self.0.len().to_string());
        Ok(())
    }
}
