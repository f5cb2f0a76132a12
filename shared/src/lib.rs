//! berth's library: everything the Lambda functions do, testable without Lambda.
//!
//! The binaries in `functions/` only parse their event, call into here, and report.

pub mod aws;
pub mod error;
pub mod handlers;
pub mod history;
pub mod images;
pub mod keys;
pub mod manifest;
pub mod migrate;
pub mod migration;
pub mod notify;
pub mod pipeline;
pub mod push;
pub mod record;
pub mod registry;
pub mod release;
pub mod render;
pub mod settings;
pub mod store;
pub mod taskdef;

pub use error::{Error, Result};
