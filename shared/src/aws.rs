//! One set of AWS clients per function instance, built during init and shared by every
//! invocation: loading the SDK config (credentials, region) is the expensive part, clients
//! made from it are cheap.

use aws_config::{BehaviorVersion, SdkConfig};

pub use crate::connector::https_client;

/// Reads the trust store on a thread of its own while the runtime asks for its first event;
/// the first request then finds the HTTPS client built ([`crate::http::client`]).
/// `BERTH_TLS_ROOTS_EARLY=0` leaves it to the first request: no thread (qemu-user 7.2, which
/// `make build` smoke-runs arm64 bootstraps under, hangs in any thread start).
pub fn warm_tls() {
    if std::env::var_os("BERTH_TLS_ROOTS_EARLY").is_some_and(|v| v == "0") {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("berth-tls-roots".into())
        .spawn(|| {
            if let Err(e) = crate::http::client() {
                tracing::warn!(error = %e, "reading the TLS trust store ahead of the first request failed");
            }
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no thread to read the TLS trust store early; read on first use");
    }
}

/// Standard SDK configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials), on berth's HTTPS client.
pub async fn load_config() -> SdkConfig {
    warm_tls();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

#[derive(Debug, Clone)]
pub struct Clients {
    pub config: SdkConfig,
    pub s3: aws_sdk_s3::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub ecr: aws_sdk_ecr::Client,
    pub ecs: aws_sdk_ecs::Client,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub codedeploy: aws_sdk_codedeploy::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Clients {
    pub async fn from_env() -> Self {
        Self::new(&load_config().await)
    }

    pub fn new(config: &SdkConfig) -> Self {
        Self {
            config: config.clone(),
            s3: s3_client(config),
            ssm: aws_sdk_ssm::Client::new(config),
            ecr: aws_sdk_ecr::Client::new(config),
            ecs: aws_sdk_ecs::Client::new(config),
            codepipeline: aws_sdk_codepipeline::Client::new(config),
            codedeploy: aws_sdk_codedeploy::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
        }
    }

    /// The region the function runs in.
    pub fn region(&self) -> &str {
        self.config
            .region()
            .map(|r| r.as_ref())
            .unwrap_or("us-east-1")
    }

    /// An ECR client for `region`: the shared one at home, a new cheap one elsewhere (registry
    /// entries may name repositories in other regions by full URI).
    pub fn ecr_in(&self, region: &str) -> aws_sdk_ecr::Client {
        if region == self.region() {
            self.ecr.clone()
        } else {
            let conf = aws_sdk_ecr::config::Builder::from(&self.config)
                .region(aws_sdk_ecr::config::Region::new(region.to_owned()))
                .build();
            aws_sdk_ecr::Client::from_conf(conf)
        }
    }
}

/// An S3 client for `config`. A custom endpoint (`AWS_ENDPOINT_URL`, S3-compatible stores and
/// emulators) gets path-style addressing, since bucket subdomains of it rarely resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
