//! What a warm instance remembers between releases: where each service's ECS service was
//! found, so the next release of it can read its template while the registry entry is read
//! ([`crate::taskdef::ReadAhead`]). The entry stays the authority: a read ahead of a place the
//! entry no longer names is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::taskdef::ReadAhead;

/// Services remembered at most; past it the memory starts over (an instance rarely sees more).
const MAX_SERVICES: usize = 512;

/// Service name → (cluster, ECS service) of its last release.
#[derive(Debug, Clone, Default)]
pub struct Seen(Arc<Mutex<HashMap<String, (String, String)>>>);

impl Seen {
    /// A template read of where `service` was last found, if it was.
    pub fn read_ahead(&self, ecs: &aws_sdk_ecs::Client, service: &str) -> Option<ReadAhead> {
        let seen = self.0.lock().ok()?;
        let (cluster, ecs_service) = seen.get(service)?;
        Some(ReadAhead::start(ecs, cluster, ecs_service))
    }

    /// `service` runs as `ecs_service` in `cluster`, as its registry entry says now.
    pub fn remember(&self, service: &str, cluster: &str, ecs_service: &str) {
        let Ok(mut seen) = self.0.lock() else { return };
        if seen.len() >= MAX_SERVICES && !seen.contains_key(service) {
            seen.clear();
        }
        seen.insert(
            service.to_owned(),
            (cluster.to_owned(), ecs_service.to_owned()),
        );
    }
}
