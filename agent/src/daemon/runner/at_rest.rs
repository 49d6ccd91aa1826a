//! The runner's side of [`crate::daemon::rest`]: skip an app at rest, and remember what a
//! successful sync was made of.

use super::Ctx;
use super::record::write_status;
use crate::daemon::pipeline::{AppDef, Prepared};
use crate::daemon::rest::{Fingerprint, Reads, Recording};
use crate::secrets::{Desired, SecretOrigin};
use crate::sync::SyncResult;
use crate::tree::Tree;
use futures::StreamExt as _;

/// Whether `app` is skipped this round: its last sync succeeded and left it Healthy, the
/// engine finds it at rest, no rollout watches it, and its inputs at `revision` are those of
/// that sync. A skipped app at a new revision records the revision in its status.
pub(super) async fn skip(
    ctx: &Ctx,
    app: &AppDef,
    revision: &str,
    tree: &Tree,
    context: &Fingerprint,
) -> bool {
    let name = &app.spec.name;
    let Some(status) = ctx.state.app(name) else {
        return false;
    };
    if status.sync != "Succeeded"
        || status.health != "Healthy"
        || status.rollout.is_some()
        || !ctx.engine.at_rest(name)
        || !ctx.rest.unchanged(name, revision, tree, context)
    {
        return false;
    }
    if status.revision != revision {
        // Its status ConfigMap is written after the round's syncs (`write_statuses`), so that
        // a commit's writes of many skipped apps do not delay the apps it changed.
        ctx.state
            .update_app(name, |s| s.revision = revision.to_owned());
    }
    tracing::debug!(app = %name, revision, "inputs and live objects unchanged: not synced again");
    true
}

/// Whether the result of a prepared app depends on the tree only: no Secret read from an
/// external store (its values may change without a commit) and no requeue asked for.
fn tree_only(prepared: &Prepared) -> bool {
    prepared.resolution.requeue_after.is_none()
        && prepared.resolution.failures.is_empty()
        && prepared.resolution.desired.iter().all(|d| match d {
            Desired::Plain(_) => true,
            Desired::Secret(s) => {
                !matches!(s.origin(), SecretOrigin::External | SecretOrigin::Inline)
            }
        })
}

/// After a sync: remembers its inputs when it succeeded Healthy from the tree alone (no
/// `helm:` generator, no external Secret), else forgets them, so the next round syncs the
/// app.
pub(super) fn remember(
    ctx: &Ctx,
    app: &AppDef,
    revision: &str,
    context: Fingerprint,
    recording: &Recording,
    prepared: &Prepared,
    result: &SyncResult,
) {
    // A `helm:` generator may read its chart from a repository, not from the tree.
    let helm = ctx
        .config
        .apps
        .get(app.generator)
        .is_some_and(|g| g.helm.is_some());
    let settled = result.is_success()
        && matches!(result.health, crate::sync::Health::Healthy)
        && !helm
        && tree_only(prepared);
    let reads: Option<Reads> = settled.then(|| recording.reads());
    ctx.rest.remember(&app.spec.name, revision, context, reads);
}

/// Writes the status ConfigMaps of `apps` that changed since their last write (the apps a
/// round skipped took its revision), a few at a time.
pub(super) async fn write_statuses(ctx: &Ctx, apps: &[AppDef]) {
    let changed: Vec<_> = apps
        .iter()
        .filter_map(|app| ctx.state.app(&app.spec.name))
        .filter(|status| ctx.written.changed(status))
        .collect();
    let mut writes = Vec::with_capacity(changed.len());
    for status in &changed {
        writes.push(write_status(ctx, status));
    }
    futures::stream::iter(writes)
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}
