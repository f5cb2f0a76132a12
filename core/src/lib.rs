//! berth's decisions, as pure functions with table tests: no AWS SDK, no network, no clock of
//! their own (time comes in as an argument). The crate `berth` holds the AWS adapters and the
//! functions' handlers around them; the compiler keeps this one pure, because nothing here can
//! name an SDK type.
//!
//! - Inputs: [`keys`] (bucket layout, S3 key decoding), [`json`] (strict parsing: duplicate
//!   keys named), [`manifest`] (strict validation, every problem at once), [`registry`] (entry
//!   parsing), [`images`] (image references), [`push`] (which pushes release what),
//!   [`push_index`] (which services a repository's pushes may release, without reading the whole
//!   registry), [`sweep`] (the lost-push sweep's rotation over the registry).
//! - The release: [`plan`] (which image each container runs), [`platform`] (which image of an
//!   image index a task runs), [`render`] (the artifact files),
//!   [`claim`] (the release claim rules), [`record`] (the release record), [`time`] (RFC 3339).
//! - The Release stage: [`job`] (what a job result may say; the actions' UserParameters),
//!   [`migration`] (what a migration task's state means), [`scan`] (scan verdicts),
//!   [`deployment`] (CodeDeploy phases), [`service_deployment`] (ECS-native deployments),
//!   [`ecs_hook`] (verify as an ECS lifecycle hook).
//! - History and housekeeping: [`index`] (the release index's keys), [`history`] (execution
//!   states, last known good), [`revisions`] (which task definition revisions to deregister).
//! - [`alarm`]: which target group alarm rolls back a CodeDeploy deployment (the new version's).
//! - [`one_off`]: what `berth run` starts, watches and exits with.
//! - [`task_target`]: a task target's template and repoint decisions.
//! - [`doctor`]: `berth doctor`'s verdicts on a service's setup, from facts the CLI reads.

pub mod alarm;
pub mod claim;
pub mod deployed;
pub mod deployment;
pub mod doctor;
pub mod ecs_hook;
pub mod history;
pub mod images;
pub mod index;
pub mod job;
pub mod json;
pub mod keys;
pub mod manifest;
pub mod migration;
pub mod one_off;
pub mod plan;
pub mod platform;
pub mod push;
pub mod push_index;
pub mod record;
pub mod registry;
pub mod render;
pub mod revisions;
pub mod scan;
pub mod service_deployment;
pub mod sweep;
pub mod task_target;
pub mod time;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
