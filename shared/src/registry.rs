//! The service registry: the entry's parsing is `berth_core::registry` (re-exported here);
//! [`Registry`] reads the entries from SSM.

use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_parameter::GetParameterError;
use aws_sdk_ssm::operation::get_parameters_by_path::GetParametersByPathError;
use aws_sdk_ssm::types::Parameter;

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
            services.extend(self.parse_all(page.parameters(), home));
        }
        Ok(services)
    }

    /// One page of the registry (at most 10 entries), from `token` (`None`: the first page).
    /// SSM answering `InvalidNextToken` is [`Page::TokenRefused`]: the token was kept too long
    /// or belongs to another listing.
    pub async fn page(&self, token: Option<&str>, home: &Home) -> Result<Page> {
        let out = self
            .ssm
            .get_parameters_by_path()
            .path(self.prefix.trim_end_matches('/'))
            .recursive(false)
            .max_results(berth_core::sweep::ENTRIES_PER_PAGE as i32)
            .set_next_token(token.map(str::to_owned))
            .send()
            .await;
        let out = match out {
            Ok(out) => out,
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), GetParametersByPathError::InvalidNextToken(_)) =>
            {
                return Ok(Page::TokenRefused);
            }
            Err(e) => {
                return Err(Error::sdk(format!(
                    "ssm:GetParametersByPath {}",
                    self.prefix
                ))(e));
            }
        };
        let params = out.parameters();
        Ok(Page::Read {
            services: self.parse_all(params, home),
            entries: params.len() as u64,
            next_token: out.next_token().map(str::to_owned),
        })
    }

    /// The entries of `services`, read with `GetParameters` in calls of at most 10 names (its
    /// `Names`: "Array Members: Minimum number of 1 item. Maximum number of 10 items.").
    /// Missing and invalid entries are logged and left out.
    pub async fn services(&self, services: &[String], home: &Home) -> Result<Vec<Service>> {
        let mut found = Vec::with_capacity(services.len());
        for chunk in services.chunks(10) {
            let names: Vec<String> = chunk.iter().map(|s| self.parameter_name(s)).collect();
            let out = self
                .ssm
                .get_parameters()
                .set_names(Some(names.clone()))
                .send()
                .await
                .map_err(Error::sdk(format!("ssm:GetParameters {}", names.join(" "))))?;
            if !out.invalid_parameters().is_empty() {
                tracing::warn!(missing = ?out.invalid_parameters(), "no registry entry for these services");
            }
            found.extend(self.parse_all(out.parameters(), home));
        }
        Ok(found)
    }

    /// The valid entries among `params`; invalid ones are logged.
    fn parse_all(&self, params: &[Parameter], home: &Home) -> Vec<Service> {
        let mut services = Vec::new();
        for p in params {
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
        services
    }
}

/// One page of the registry.
#[derive(Debug, Clone)]
pub enum Page {
    Read {
        /// Its valid entries.
        services: Vec<Service>,
        /// How many entries it held, valid or not.
        entries: u64,
        next_token: Option<String>,
    },
    TokenRefused,
}
