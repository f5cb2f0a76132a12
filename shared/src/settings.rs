//! The function's environment (CONTRACT §7), read once at start.

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
        Self::from_lookup(|name| std::env::var(name).ok())
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
