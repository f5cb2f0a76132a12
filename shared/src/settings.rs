//! The process environment (docs/design/contract.md §7; every variable in
//! docs/reference/environment.md), read here and nowhere else: clippy's `disallowed-methods`
//! (clippy.toml) refuses `std::env::var` and `var_os` in every other module, so each variable
//! berth reads has one named reader below.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use crate::error::Error;

/// Default SSM path under which each service's registry entry lives.
pub const DEFAULT_SERVICES_PREFIX: &str = "/berth/services/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The versioned release bucket holding manifests, artifacts and release records.
    pub release_bucket: String,
    /// SSM parameter path of the service registry, always ending in `/`.
    pub services_prefix: String,
    /// The `verify` function every rendered appspec names as its `AfterAllowTestTraffic` hook
    /// (`BERTH_VERIFY_FUNCTION`; unset or empty = no hook).
    pub verify_function: Option<String>,
}

impl Settings {
    /// Reads `BERTH_RELEASE_BUCKET` (required) and `BERTH_SERVICES_PREFIX`.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(env)
    }

    /// Same as [`Settings::from_env`] over any variable source, so tests need not touch the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let release_bucket = lookup("BERTH_RELEASE_BUCKET")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                Error::Config(
                    "BERTH_RELEASE_BUCKET is not set: name the versioned release bucket".into(),
                )
            })?;
        let mut services_prefix = lookup("BERTH_SERVICES_PREFIX")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVICES_PREFIX.to_owned());
        if !services_prefix.starts_with('/') {
            return Err(Error::Config(format!(
                "BERTH_SERVICES_PREFIX must be an SSM path starting with '/', got {services_prefix:?}"
            )));
        }
        if !services_prefix.ends_with('/') {
            services_prefix.push('/');
        }
        Ok(Self {
            release_bucket,
            services_prefix,
            verify_function: verify_function(&lookup),
        })
    }
}

/// `BERTH_VERIFY_FUNCTION`, trimmed; unset or empty is `None`.
pub fn verify_function(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    lookup("BERTH_VERIFY_FUNCTION")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// One variable as the process has it (unset or not Unicode is `None`).
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// One variable, trimmed; unset or empty is `None`.
fn set(name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// [`verify_function`] from the process environment (`berth render` names the hook as the
/// functions do).
pub fn verify_function_from_env() -> Option<String> {
    verify_function(env)
}

/// Where notifications go: `BERTH_SLACK_WEBHOOK_PARAMETER` (an SSM SecureString naming the
/// webhook), else `BERTH_SLACK_WEBHOOK_URL`; and `BERTH_SNS_TOPIC_ARN`. Unset or empty is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notifications {
    pub slack_webhook_parameter: Option<String>,
    pub slack_webhook_url: Option<String>,
    pub sns_topic_arn: Option<String>,
}

impl Notifications {
    pub fn from_env() -> Self {
        Self {
            slack_webhook_parameter: set("BERTH_SLACK_WEBHOOK_PARAMETER"),
            slack_webhook_url: set("BERTH_SLACK_WEBHOOK_URL"),
            sns_topic_arn: set("BERTH_SNS_TOPIC_ARN"),
        }
    }
}

/// `BERTH_PUSH_INDEX_PREFIX`: the SSM path of the push-trigger index (on-image-push), always
/// ending in `/`; unset or empty is [`berth_core::push_index::DEFAULT_PREFIX`].
pub fn push_index_prefix() -> Result<String, Error> {
    push_index_prefix_from(env)
}

/// [`push_index_prefix`] over any variable source.
pub fn push_index_prefix_from(lookup: impl Fn(&str) -> Option<String>) -> Result<String, Error> {
    let mut prefix = lookup("BERTH_PUSH_INDEX_PREFIX")
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| berth_core::push_index::DEFAULT_PREFIX.to_owned());
    if !prefix.starts_with('/') {
        return Err(Error::Config(format!(
            "BERTH_PUSH_INDEX_PREFIX must be an SSM path starting with '/', got {prefix:?}"
        )));
    }
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    Ok(prefix)
}

/// `BERTH_SWEEP_LOOKBACK_MINUTES` as given (on-image-push's sweep parses and bounds it).
pub fn sweep_lookback_minutes() -> Option<String> {
    env("BERTH_SWEEP_LOOKBACK_MINUTES")
}

/// Whether the TLS trust store is read on a thread of its own at start
/// (`BERTH_TLS_ROOTS_EARLY=0` leaves it to the first request).
pub fn tls_roots_early() -> bool {
    std::env::var_os("BERTH_TLS_ROOTS_EARLY").is_none_or(|v| v != "0")
}

/// An SDK variable (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_ENDPOINT_URL`, `AWS_REGION`, ...) that
/// berth reads only to open connections ahead of the SDK, which reads it again itself.
pub fn sdk_variable(name: &str) -> Option<String> {
    name.starts_with("AWS_").then(|| env(name)).flatten()
}

/// Every `AWS_*` variable, for a Lambda function's SDK configuration
/// ([`crate::aws::lambda_config`]), which reads its endpoints, region, retry and FIPS settings
/// from them as `aws_config`'s default chain reads them from the environment.
pub fn sdk_variables() -> Vec<(String, String)> {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| name.starts_with("AWS_"))
        .collect()
}

/// The function's application log level as Lambda configures it (`AWS_LAMBDA_LOG_LEVEL`).
pub fn lambda_log_level() -> Option<String> {
    env("AWS_LAMBDA_LOG_LEVEL")
}

/// The log level to run at: `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG` (a level name).
pub fn log_level() -> Option<String> {
    lambda_log_level().or_else(|| env("RUST_LOG"))
}

/// Whether Lambda asks for JSON logs (`AWS_LAMBDA_LOG_FORMAT=JSON`).
pub fn json_logs() -> bool {
    env("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"))
}

/// The CLI's environments file named by `BERTH_ENVIRONMENTS`.
pub fn environments_file() -> Option<PathBuf> {
    std::env::var_os("BERTH_ENVIRONMENTS").map(PathBuf::from)
}

/// The account the CLI's bare repository names live in, when `BERTH_ACCOUNT_ID` gives it
/// (trimmed; empty is unset, as for every other `BERTH_*` variable).
pub fn account_id() -> Option<String> {
    set("BERTH_ACCOUNT_ID")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn missing_bucket_is_named_in_the_error() {
        let err = Settings::from_lookup(lookup(&[])).unwrap_err();
        assert!(err.to_string().contains("BERTH_RELEASE_BUCKET"), "{err}");
        let err = Settings::from_lookup(lookup(&[("BERTH_RELEASE_BUCKET", "  ")])).unwrap_err();
        assert!(err.to_string().contains("BERTH_RELEASE_BUCKET"), "{err}");
    }

    #[test]
    fn the_push_index_prefix_defaults_and_is_normalised() {
        assert_eq!(
            push_index_prefix_from(lookup(&[])).unwrap(),
            "/berth/push-index/"
        );
        let set = [("BERTH_PUSH_INDEX_PREFIX", " /team/idx ")];
        assert_eq!(push_index_prefix_from(lookup(&set)).unwrap(), "/team/idx/");
        let err =
            push_index_prefix_from(lookup(&[("BERTH_PUSH_INDEX_PREFIX", "idx")])).unwrap_err();
        assert!(err.to_string().contains("BERTH_PUSH_INDEX_PREFIX"), "{err}");
    }

    #[test]
    fn prefix_defaults_and_is_normalised() {
        let s = Settings::from_lookup(lookup(&[("BERTH_RELEASE_BUCKET", "rel")])).unwrap();
        assert_eq!(s.services_prefix, "/berth/services/");
        assert_eq!(s.verify_function, None);
        let s = Settings::from_lookup(lookup(&[
            ("BERTH_RELEASE_BUCKET", "rel"),
            ("BERTH_SERVICES_PREFIX", "/team/a"),
        ]))
        .unwrap();
        assert_eq!(s.services_prefix, "/team/a/");
        let s = Settings::from_lookup(lookup(&[
            ("BERTH_RELEASE_BUCKET", "rel"),
            ("BERTH_VERIFY_FUNCTION", " berth-verify "),
        ]))
        .unwrap();
        assert_eq!(s.verify_function.as_deref(), Some("berth-verify"));
        let err = Settings::from_lookup(lookup(&[
            ("BERTH_RELEASE_BUCKET", "rel"),
            ("BERTH_SERVICES_PREFIX", "team"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("BERTH_SERVICES_PREFIX"), "{err}");
    }
}
