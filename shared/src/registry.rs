//! The service registry: the entry's parsing is `berth_core::registry` (re-exported here);
//! [`Registry`] reads the entries from SSM.

use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;

pub use berth_core::registry::*;

use crate::error::{Error, Result};
use crate::images::Home;

/// Reads the registry from SSM.
#[derive(Debug, Clone)]
pub struct Registry {
    ssm: aws_sdk_ssm::Client,
    prefix: String,
}

impl Registry {
    pub fn new(ssm: aws_sdk_ssm::Client, prefix: impl Into<String>) -> Self {
        Self {
            ssm,
            prefix: prefix.into(),
        }
    }

    pub fn parameter_name(&self, service: &str) -> String {
        format!("{}{}", self.prefix, service)
    }

    /// One service's entry.
    pub async fn service(&self, service: &str, home: &Home) -> Result<Lookup> {
        let name = self.parameter_name(service);
        let value = match self.ssm.get_parameter().name(&name).send().await {
            Ok(out) => out.parameter.and_then(|p| p.value),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), GetParameterError::ParameterNotFound(_)) =>
            {
                return Ok(Lookup::Unusable(vec![format!(
                    "service {service:?} is not in the registry (no SSM parameter {name})"
                )]));
            }
            Err(e) => return Err(Error::sdk(format!("ssm:GetParameter {name}"))(e)),
        };
        let Some(value) = value else {
            return Ok(Lookup::Unusable(vec![format!(
                "registry parameter {name} has no value"
            )]));
        };
        Ok(match Service::parse(&name, Some(service), &value, home) {
            Ok(s) => Lookup::Found(Box::new(s)),
            Err(reasons) => Lookup::Unusable(reasons),
        })
    }

    /// Every entry under the prefix, valid ones only; invalid ones are logged and skipped so a
    /// broken entry of one service cannot stop the pushes of another.
    pub async fn all(&self, home: &Home) -> Result<Vec<Service>> {
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(self.prefix.trim_end_matches('/'))
            .recursive(false)
            .into_paginator()
            .send();
        let mut services = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(Error::sdk(format!(
                "ssm:GetParametersByPath {}",
                self.prefix
            )))?;
            for p in page.parameters() {
                let (Some(name), Some(value)) = (p.name(), p.value()) else {
                    continue;
                };
                let expected = name.strip_prefix(&self.prefix);
                match Service::parse(name, expected, value, home) {
                    Ok(s) => services.push(s),
                    Err(errors) => {
                        tracing::warn!(parameter = name, ?errors, "skipping invalid registry entry")
                    }
                }
            }
        }
        Ok(services)
    }
}
