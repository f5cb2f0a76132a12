//! ECR repositories and image references: the parsing is `berth_core::images` (re-exported
//! here); resolving tags to digests (and reading image indexes) is [`resolve`].

mod resolve;

pub use berth_core::images::*;
pub use resolve::{ACCEPTED_MEDIA_TYPES, Resolved, resolve};
