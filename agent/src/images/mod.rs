//! Image automation: new image tags reach Git without CI committing, and promotion from one
//! environment to the next is one reviewed change.
//!
//! - [`config`]: the `images:` block (repositories, policies, automations).
//! - [`registry`]: the OCI distribution API: tag lists, digests, authentication.
//! - [`policy`]: Flux's tag policies (`semver`, `alphabetical`, `numerical`, `filterTags`).
//! - [`update`]: setter markers and Kustomize `images:` entries, changed byte for byte.
//! - [`scan`]: one scan of one repository (credentials, tags, `exclusionList`).
//! - [`push`]: fetch a branch, edit its files, commit (optionally SSH-signed) and push, again
//!   on top of whatever was pushed first.
//! - [`automation`]: an automation's edit, commit message and write target.
//! - [`flux`]: Flux's `ImageRepository`, `ImagePolicy`, `ImageUpdateAutomation` read from an
//!   app's manifests, used instead of applied.
//! - [`signing`]: the OpenPGP signing key of an automation, from a file or a Secret.
//! - [`controller`]: the daemon's loop: scans on jittered intervals, choices, automations.
//! - [`events`], [`metrics`]: Kubernetes Events and Prometheus metrics of scans, commits
//!   and promotions.
//! - [`status`]: the report `GET /api/v1/images` serves.
//! - [`promote`]: `tether-agent promote`: one overlay's images onto another, on a branch,
//!   with a pull or merge request.
//!
//! Registry scans run through the typed [`registry::Registry`] client; what changes in Git
//! is always a [`update::Change`] list, and nothing is committed when it is empty.

pub mod automation;
pub mod config;
pub mod controller;
pub mod events;
pub mod flux;
pub mod message;
pub mod metrics;
pub mod policy;
pub mod promote;
pub mod push;
pub mod registry;
pub mod scan;
pub mod signing;
pub mod status;
pub mod update;

/// `tether-agent images --config FILE [--write]`: one scan of every configured repository,
/// every policy's choice (and with `write` every automation's commit), printed as JSON.
/// Exit 0 when nothing failed, 1 when something did, 2 when the config is invalid.
pub async fn command(
    config: &std::path::Path,
    write: bool,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    let config = match crate::config::Config::load(config) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "tether-agent: images: {e}");
            return 2;
        }
    };
    let state = std::sync::Arc::new(status::ImagesState::default());
    let controller = controller::Controller::new(
        config,
        None,
        std::sync::Arc::clone(&state),
        Box::new(|_| {}),
    );
    let report = controller.once(write).await;
    let failed = report.repositories.iter().any(|r| r.error.is_some())
        || report.policies.iter().any(|p| p.error.is_some())
        || report.automations.iter().any(|a| a.error.is_some());
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    let _ = writeln!(out, "{text}");
    u8::from(failed)
}
