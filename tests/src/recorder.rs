//! One request recorder for every test double: an SDK interceptor on real clients, and the
//! log of the local stand-ins (job API, CodeDeploy, webhooks).

use std::sync::{Arc, Mutex};

use aws_config::SdkConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use berth::aws::Clients;
use serde_json::Value;

/// Every request seen, in order: the operation (`X-Amz-Target`, else `METHOD /path`) and its
/// JSON body (`null` when it has none).
#[derive(Debug, Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<(String, Value)>>>);

impl Recorder {
    pub fn push(&self, operation: impl Into<String>, body: Value) {
        if let Ok(mut v) = self.0.lock() {
            v.push((operation.into(), body));
        }
    }

    /// The last request seen.
    pub fn last(&self) -> Option<(String, Value)> {
        self.0.lock().ok().and_then(|v| v.last().cloned())
    }

    /// Every request seen, in order.
    pub fn all(&self) -> Vec<(String, Value)> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Bodies of the requests whose `X-Amz-Target` ends with `.{operation}`, or whose
    /// operation is `operation` (a stand-in's names).
    pub fn bodies(&self, operation: &str) -> Vec<Value> {
        self.0
            .lock()
            .map(|v| {
                v.iter()
                    .filter(|(t, _)| t == operation || t.ends_with(&format!(".{operation}")))
                    .map(|(_, b)| b.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or(0)
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "tests::Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        // JSON protocols name the operation in X-Amz-Target; REST ones (S3) by method and path.
        let target = match req.headers().get("x-amz-target") {
            Some(t) => t.to_owned(),
            None => format!(
                "{} {}",
                req.method(),
                req.uri().split('?').next().unwrap_or("")
            ),
        };
        let body = req
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        self.0.lock().map_err(|_| "poisoned")?.push((target, body));
        Ok(())
    }
}

impl Recorder {
    /// The operations recorded so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|v| v.iter().map(|(t, _)| t.clone()).collect())
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(mut v) = self.0.lock() {
            v.clear();
        }
    }
}

/// Clients whose every request (all five services) is recorded by `recorder`.
pub fn recorded_clients(config: &SdkConfig, recorder: &Recorder) -> Clients {
    let s3 = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(true)
        .interceptor(recorder.clone())
        .build();
    Clients {
        config: config.clone(),
        s3: aws_sdk_s3::Client::from_conf(s3),
        ssm: aws_sdk_ssm::Client::from_conf(
            aws_sdk_ssm::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        ecr: aws_sdk_ecr::Client::from_conf(
            aws_sdk_ecr::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        ecs: aws_sdk_ecs::Client::from_conf(
            aws_sdk_ecs::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        codepipeline: aws_sdk_codepipeline::Client::from_conf(
            aws_sdk_codepipeline::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        codedeploy: aws_sdk_codedeploy::Client::from_conf(
            aws_sdk_codedeploy::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(config)
                .interceptor(recorder.clone())
                .build(),
        ),
    }
}
