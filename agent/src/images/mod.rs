//! Image automation: new image tags reach Git without CI committing, and promotion from one
//! environment to the next is one reviewed change.
//!
//! - [`config`]: the `images:` block (repositories, policies, automations).
//! - [`registry`]: the OCI distribution API: tag lists, digests, authentication.
//! - [`policy`]: Flux's tag policies (`semver`, `alphabetical`, `numerical`, `filterTags`).
//! - [`update`]: setter markers and Kustomize `images:` entries, changed byte for byte.

pub mod automation;
pub mod config;
pub mod controller;
pub mod flux;
pub mod policy;
pub mod push;
pub mod registry;
pub mod scan;
pub mod status;
pub mod update;
