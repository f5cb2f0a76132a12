//! One set of AWS clients per function instance, built during init and shared by every
//! invocation: loading the SDK config (credentials, region) is the expensive part, clients
//! made from it are cheap.

use std::sync::Arc;
use std::time::Duration;

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::identity::IdentityCache;
use aws_config::retry::{RetryConfig, RetryMode};
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::SharedTimeSource;
use aws_smithy_types::retry::RetrySpec;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::error::{Error, Result};

pub use crate::connector::https_client;

/// Reads the trust store on a thread of its own while the runtime asks for its first event,
/// then opens a connection to each of `endpoints` ([`crate::warm`]); the first requests find
/// the HTTPS client built and their connections made or under way.
/// `BERTH_TLS_ROOTS_EARLY=0` leaves it all to the first request: no thread (qemu-user 7.2, which
/// `make build` smoke-runs arm64 bootstraps under, hangs in any thread start).
pub fn warm_tls(endpoints: Vec<hyper::Uri>) {
    if !crate::settings::tls_roots_early() {
        return;
    }
    let runtime = tokio::runtime::Handle::try_current().ok();
    let spawned = std::thread::Builder::new()
        .name("berth-tls-roots".into())
        .spawn(move || {
            let opened = match &runtime {
                Some(runtime) => crate::http::open_ahead(&endpoints, runtime),
                None => crate::http::client().map(|_| ()),
            };
            if let Err(e) = opened {
                tracing::warn!(error = %e, "reading the TLS trust store ahead of the first request failed");
            }
        });
    if let Err(e) = spawned {
        tracing::debug!(error = %e, "no thread to read the TLS trust store early; read on first use");
    }
}

/// An AWS endpoint a function connects to ahead of its first event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// S3, for requests on this bucket.
    Bucket(&'a str),
    /// Another service: the suffix of its `AWS_ENDPOINT_URL_<ID>` and its hostname's prefix.
    Service {
        id: &'static str,
        host: &'static str,
    },
}

pub const SSM: Endpoint<'static> = Endpoint::Service {
    id: "SSM",
    host: "ssm",
};
pub const ECS: Endpoint<'static> = Endpoint::Service {
    id: "ECS",
    host: "ecs",
};
pub const ECR: Endpoint<'static> = Endpoint::Service {
    id: "ECR",
    host: "api.ecr",
};
pub const CODEPIPELINE: Endpoint<'static> = Endpoint::Service {
    id: "CODEPIPELINE",
    host: "codepipeline",
};

/// Where the SDK will send requests for `endpoints`, as far as the environment (`var`) tells:
/// `AWS_ENDPOINT_URL_<ID>`, else `AWS_ENDPOINT_URL`, else the service's regional endpoint in
/// `AWS_REGION` (virtual-hosted for S3). With FIPS or dual-stack endpoints asked for, or
/// configured endpoints ignored, nothing is guessed.
pub fn endpoint_uris(
    endpoints: &[Endpoint<'_>],
    var: impl Fn(&str) -> Option<String>,
) -> Vec<hyper::Uri> {
    let on = |name: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if on("AWS_USE_FIPS_ENDPOINT")
        || on("AWS_USE_DUALSTACK_ENDPOINT")
        || on("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
    {
        return Vec::new();
    }
    let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) else {
        return Vec::new();
    };
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    let uri = |endpoint: &Endpoint<'_>| {
        let id = match endpoint {
            Endpoint::Bucket(_) => "S3",
            Endpoint::Service { id, .. } => id,
        };
        let configured = var(&format!("AWS_ENDPOINT_URL_{id}")).or_else(|| var("AWS_ENDPOINT_URL"));
        let url = match (configured, endpoint) {
            (Some(url), _) => url,
            // A dotted bucket name cannot be a TLS hostname label: the SDK goes path-style.
            (None, Endpoint::Bucket(b)) if b.contains('.') => {
                format!("https://s3.{region}.{domain}")
            }
            (None, Endpoint::Bucket(b)) => format!("https://{b}.s3.{region}.{domain}"),
            (None, Endpoint::Service { host, .. }) => format!("https://{host}.{region}.{domain}"),
        };
        url.parse::<hyper::Uri>().ok()
    };
    endpoints.iter().filter_map(uri).collect()
}

/// The berth command's SDK configuration: `aws_config`'s default chain (profiles, SSO, assumed
/// roles, container and instance credentials, `AWS_REGION`, `AWS_ENDPOINT_URL`, ...), on
/// berth's HTTPS client. The functions take [`lambda_config`] instead.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The connect timeout `aws_config`'s loader gives every client (`SDK_DEFAULT_CONNECT_TIMEOUT`
/// of its `default_provider::timeout_config`); no other timeout is set.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// A Lambda function's SDK configuration, from its environment variables alone.
///
/// On Lambda the credentials and the region are environment variables: "Lambda runtimes set
/// several environment variables during initialization", among them "AWS_ACCESS_KEY_ID,
/// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN – The access keys obtained from the function's
/// execution role." and "AWS_REGION – The AWS Region where the Lambda function is executed."
/// (<https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime>).
/// Container credentials replace them only under SnapStart, which berth's stacks do not enable
/// (their functions run on `provided.al2023`).
///
/// So the functions leave out `aws_config`'s default chain (profile files, SSO, STS web
/// identity and assumed roles, the ECS container and EC2 instance metadata providers, and the
/// STS client they need: about 330 KB of each arm64 bootstrap, docs/design/performance.md) and
/// read what that chain reads from the environment, as it reads it:
/// - credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`
///   (the chain's first provider, which on Lambda is the one that answers);
/// - the region from `AWS_REGION`, else `AWS_DEFAULT_REGION`;
/// - endpoints from `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, both ignored when
///   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`; `AWS_USE_FIPS_ENDPOINT`,
///   `AWS_USE_DUALSTACK_ENDPOINT`;
/// - retries as the loader sets them: standard mode, 3 attempts, changed by
///   `AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE` and `AWS_NEW_RETRIES_2026`; the 3.1 s connect
///   timeout; the lazy identity cache.
///
/// An invalid `AWS_MAX_ATTEMPTS` or `AWS_RETRY_MODE` fails the function at start, naming it.
pub fn lambda_config(vars: SdkVars) -> Result<SdkConfig> {
    let ignore_configured = vars.flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS") == Some(true);
    let region = vars
        .get("AWS_REGION")
        .or_else(|| vars.get("AWS_DEFAULT_REGION"))
        .map(|region| Region::new(region.to_owned()));
    let endpoint_url = vars
        .get("AWS_ENDPOINT_URL")
        .filter(|_| !ignore_configured)
        .map(str::to_owned);
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .identity_cache(IdentityCache::lazy().build())
        .retry_config(retry_config(&vars)?)
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .time_source(SharedTimeSource::default());
    config.set_region(region);
    config.set_sleep_impl(default_async_sleep());
    config.set_endpoint_url(endpoint_url);
    config.set_use_fips(vars.flag("AWS_USE_FIPS_ENDPOINT"));
    config.set_use_dual_stack(vars.flag("AWS_USE_DUALSTACK_ENDPOINT"));
    let endpoints = EndpointVariables {
        vars,
        ignore_configured,
    };
    Ok(config.service_config(endpoints).build())
}

/// Retries as `aws_config`'s `default_provider::retry_config` reads them from the environment.
fn retry_config(vars: &SdkVars) -> Result<RetryConfig> {
    let mut retry = RetryConfig::standard();
    if let Some(value) = vars.get("AWS_MAX_ATTEMPTS") {
        let attempts = value
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                Error::Config(format!(
                    "AWS_MAX_ATTEMPTS must be a whole number of attempts, at least 1, got {value:?}"
                ))
            })?;
        retry = retry.with_max_attempts(attempts);
    }
    if let Some(value) = vars.get("AWS_RETRY_MODE") {
        let mode = value.parse::<RetryMode>().map_err(|_| {
            Error::Config(format!(
                "AWS_RETRY_MODE must be standard or adaptive, got {value:?}"
            ))
        })?;
        retry = retry.with_retry_mode(mode);
    }
    if vars
        .get("AWS_NEW_RETRIES_2026")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        retry = retry.with_retry_spec(RetrySpec::v2_1());
    }
    Ok(retry)
}

/// The `AWS_*` environment variables a function started with ([`crate::settings::sdk_variables`]).
/// Its `Debug` shows the names only: the values include the credentials.
#[derive(Clone, Default)]
pub struct SdkVars(Arc<Vec<(String, String)>>);

impl SdkVars {
    pub fn new(vars: Vec<(String, String)>) -> Self {
        Self(Arc::new(vars))
    }

    pub fn from_env() -> Self {
        Self::new(crate::settings::sdk_variables())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `true` or `false` in any case, as the SDK's boolean settings; anything else is ignored
    /// with a warning, as the default chain ignores it.
    fn flag(&self, name: &str) -> Option<bool> {
        let value = self.get(name)?;
        if value.eq_ignore_ascii_case("true") {
            Some(true)
        } else if value.eq_ignore_ascii_case("false") {
            Some(false)
        } else {
            tracing::warn!(variable = name, value, "not true or false: ignored");
            None
        }
    }
}

impl std::fmt::Debug for SdkVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

/// What each client reads for itself when it is built from the [`SdkConfig`]: its endpoint
/// (`AWS_ENDPOINT_URL_<SERVICE ID>`, the id in upper case with spaces as `_`, else
/// `AWS_ENDPOINT_URL`) and S3's `AWS_S3_DISABLE_EXPRESS_SESSION_AUTH`, as `aws_config`'s own
/// service config answers them from the environment.
#[derive(Debug)]
struct EndpointVariables {
    vars: SdkVars,
    ignore_configured: bool,
}

impl LoadServiceConfig for EndpointVariables {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        if self.ignore_configured && key.env() == "AWS_ENDPOINT_URL" {
            return None;
        }
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.vars
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.vars.get(key.env()))
            .map(str::to_owned)
    }
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
    /// The berth command's clients ([`load_config`]).
    pub async fn from_env() -> Self {
        Self::new(&load_config().await)
    }

    /// A Lambda function's clients ([`lambda_config`]), connecting to `endpoints` while the
    /// function waits for its first event.
    pub fn for_lambda(endpoints: &[Endpoint<'_>]) -> Result<Self> {
        warm_tls(endpoint_uris(endpoints, crate::settings::sdk_variable));
        Ok(Self::new(&lambda_config(SdkVars::from_env())?))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> SdkVars {
        SdkVars::new(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        )
    }

    /// The endpoint a client of `service_id` takes from the configuration, as the SDK's
    /// generated `config::Builder::from(&SdkConfig)` asks for it.
    fn endpoint(config: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .unwrap();
        config.service_config()?.load_config(key)
    }

    #[test]
    fn a_function_takes_region_endpoints_and_retries_from_its_variables() {
        let config = lambda_config(vars(&[
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_CODEPIPELINE", "http://127.0.0.1:5001"),
            ("AWS_MAX_ATTEMPTS", "1"),
            ("AWS_RETRY_MODE", "adaptive"),
        ]))
        .unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            endpoint(&config, "CodePipeline").as_deref(),
            Some("http://127.0.0.1:5001"),
            "the service's own variable first"
        );
        assert_eq!(
            endpoint(&config, "ECS").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        let retry = config.retry_config().unwrap();
        assert_eq!(retry.max_attempts(), 1);
        assert_eq!(retry.mode(), RetryMode::Adaptive);
        assert!(config.credentials_provider().is_some());
        assert!(config.sleep_impl().is_some());
    }

    #[test]
    fn without_variables_a_function_has_the_loaders_defaults() {
        let config = lambda_config(vars(&[
            ("AWS_REGION", "ap-northeast-1"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
        ]))
        .unwrap();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("ap-northeast-1"));
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(endpoint(&config, "S3"), None);
        assert_eq!(config.retry_config(), Some(&RetryConfig::standard()));
        assert_eq!(
            config.timeout_config().and_then(|t| t.connect_timeout()),
            Some(Duration::from_millis(3100))
        );
        assert_eq!(config.use_fips(), None);
        assert_eq!(config.use_dual_stack(), None);
    }

    #[test]
    fn configured_endpoints_can_be_ignored_and_flags_are_true_or_false() {
        let config = lambda_config(vars(&[
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:5001"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
            ("AWS_USE_DUALSTACK_ENDPOINT", "yes"),
        ]))
        .unwrap();
        assert_eq!(config.endpoint_url(), None);
        assert_eq!(endpoint(&config, "ECS"), None);
        assert_eq!(config.use_fips(), Some(true));
        assert_eq!(config.use_dual_stack(), None, "neither true nor false");
    }

    #[test]
    fn invalid_retry_settings_fail_the_function_at_start_naming_them() {
        for (name, value) in [
            ("AWS_MAX_ATTEMPTS", "0"),
            ("AWS_MAX_ATTEMPTS", "three"),
            ("AWS_RETRY_MODE", "eager"),
        ] {
            let error = lambda_config(vars(&[(name, value)])).unwrap_err();
            assert!(
                matches!(&error, Error::Config(m) if m.contains(name)),
                "{name}={value}: {error}"
            );
        }
    }

    #[test]
    fn the_variables_debug_shows_names_not_values() {
        let shown = format!("{:?}", vars(&[("AWS_SECRET_ACCESS_KEY", "s3cr3t")]));
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY") && !shown.contains("s3cr3t"));
    }

    fn uris(endpoints: &[Endpoint<'_>], vars: &[(&str, &str)]) -> Vec<String> {
        let var = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        endpoint_uris(endpoints, var)
            .iter()
            .map(|u| u.to_string())
            .collect()
    }

    #[test]
    fn regional_endpoints_and_a_virtual_hosted_bucket() {
        let all = [Endpoint::Bucket("rel"), SSM, ECS, ECR, CODEPIPELINE];
        assert_eq!(
            uris(&all, &[("AWS_REGION", "ap-northeast-1")]),
            [
                "https://rel.s3.ap-northeast-1.amazonaws.com/",
                "https://ssm.ap-northeast-1.amazonaws.com/",
                "https://ecs.ap-northeast-1.amazonaws.com/",
                "https://api.ecr.ap-northeast-1.amazonaws.com/",
                "https://codepipeline.ap-northeast-1.amazonaws.com/",
            ]
        );
        assert_eq!(
            uris(
                &[Endpoint::Bucket("my.rel")],
                &[("AWS_REGION", "cn-north-1")]
            ),
            ["https://s3.cn-north-1.amazonaws.com.cn/"],
            "a dotted bucket goes path-style"
        );
    }

    #[test]
    fn configured_endpoints_win_the_service_specific_first() {
        let vars = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_ECS", "http://127.0.0.1:5001"),
        ];
        assert_eq!(
            uris(&[Endpoint::Bucket("rel"), ECS], &vars),
            ["http://127.0.0.1:5000/", "http://127.0.0.1:5001/"]
        );
    }

    #[test]
    fn nothing_is_guessed_for_fips_dual_stack_or_without_a_region() {
        for vars in [
            vec![
                ("AWS_REGION", "us-east-1"),
                ("AWS_USE_FIPS_ENDPOINT", "true"),
            ],
            vec![
                ("AWS_REGION", "us-east-1"),
                ("AWS_USE_DUALSTACK_ENDPOINT", "TRUE"),
            ],
            vec![
                ("AWS_REGION", "us-east-1"),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ],
            vec![],
        ] {
            assert!(uris(&[SSM], &vars).is_empty(), "{vars:?}");
        }
    }
}
