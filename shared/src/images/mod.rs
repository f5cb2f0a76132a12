//! ECR repositories and image references: the parsing is `berth_core::images` (re-exported
//! here); resolving tags to digests is [`resolve`].

mod resolve;

pub use berth_core::images::*;
pub use resolve::resolve;
