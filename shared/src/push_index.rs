//! The push-trigger index: its names are `berth_core::push_index` (re-exported here);
//! [`PushIndex`] lists a repository's entries in SSM.

pub use berth_core::push_index::*;

use crate::error::{Error, Result};

/// Reads the push-trigger index from SSM.
#[derive(Debug, Clone)]
pub struct PushIndex {
    ssm: aws_sdk_ssm::Client,
    prefix: String,
}

/// What the index says about a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owners {
    /// The services whose stacks registered a push trigger on it (possibly none).
    Named(Vec<String>),
    /// No stack can have registered one: the entry would be deeper than SSM allows.
    TooDeep(String),
}

impl PushIndex {
    pub fn new(ssm: aws_sdk_ssm::Client, prefix: impl Into<String>) -> Self {
        Self {
            ssm,
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The services named under `<prefix><repository>`: its direct children only
    /// (`Recursive=false`), one request for up to 10 of them ("MaxResults ... Maximum value of
    /// 10."). Entries that do not name themselves are logged and skipped.
    pub async fn owners(&self, repository: &str) -> Result<Owners> {
        let path = match owners_path(&self.prefix, repository) {
            Ok(path) => path,
            Err(reason) => return Ok(Owners::TooDeep(reason)),
        };
        let mut pages = self
            .ssm
            .get_parameters_by_path()
            .path(&path)
            .recursive(false)
            .into_paginator()
            .send();
        let mut listed = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(Error::sdk(format!("ssm:GetParametersByPath {path}")))?;
            listed.extend(page.parameters().iter().filter_map(|p| {
                Some((
                    p.name()?.to_owned(),
                    p.value().unwrap_or_default().to_owned(),
                ))
            }));
        }
        let (services, skipped) = owners(&path, &listed);
        if !skipped.is_empty() {
            tracing::warn!(?skipped, %path, "skipping push-index entries that do not name their service");
        }
        Ok(Owners::Named(services))
    }
}
