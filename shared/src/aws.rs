//! One set of AWS clients per function instance, built during init and shared by every
//! invocation: loading the SDK config (credentials, region) is the expensive part, clients
//! made from it are cheap.

use aws_config::{BehaviorVersion, SdkConfig};

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

/// Standard SDK configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
/// credentials), on berth's HTTPS client.
pub async fn load_config() -> SdkConfig {
    load_config_opening(&[]).await
}

/// [`load_config`], with connections to `endpoints` opened meanwhile.
pub async fn load_config_opening(endpoints: &[Endpoint<'_>]) -> SdkConfig {
    warm_tls(endpoint_uris(endpoints, crate::settings::sdk_variable));
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

    /// [`Clients::from_env`], connecting to `endpoints` while the function waits for its first
    /// event.
    pub async fn from_env_opening(endpoints: &[Endpoint<'_>]) -> Self {
        Self::new(&load_config_opening(endpoints).await)
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
