//! Where the daemon tells the notifier what a round showed (see [`crate::notify`]).

use super::Ctx;
use crate::daemon::status;
use crate::notify::machine::Observation;
use crate::notify::{AppInfo, Commit};
use std::collections::BTreeMap;

/// The labels every plain rendered object of an app carries (for rules' `matchLabels`).
pub(super) fn common_labels<'a>(
    objects: impl Iterator<Item = &'a serde_json::Value>,
) -> BTreeMap<String, String> {
    let mut common: Option<BTreeMap<String, String>> = None;
    for o in objects {
        let labels: BTreeMap<String, String> = o
            .pointer("/metadata/labels")
            .and_then(serde_json::Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        common = Some(match common {
            None => labels,
            Some(c) => c
                .into_iter()
                .filter(|(k, v)| labels.get(k) == Some(v))
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// Gives `observation` of `app` to the notifier (its memory and pending events read from the
/// app's status the first time; the notifier keeps them there itself).
pub(super) async fn notify(
    ctx: &Ctx,
    app: &str,
    revision: &str,
    labels: Option<BTreeMap<String, String>>,
    observation: Observation,
) {
    let notifier = &ctx.notifier;
    if !notifier.is_active() {
        return;
    }
    if !notifier.knows(app) {
        let stored = status::read_notified(&ctx.client, &ctx.config.namespace, app).await;
        notifier.restore(app, stored.as_deref());
    }
    let status = ctx.state.app(app).unwrap_or_default();
    let commit = if revision.is_empty() {
        Commit::default()
    } else {
        let repo = ctx.config.cache_dir.join(&status.source);
        let rev = revision.to_owned();
        tokio::task::spawn_blocking(move || crate::notify::commit_of(&repo, &rev))
            .await
            .unwrap_or_else(|_| Commit {
                revision: revision.to_owned(),
                ..Commit::default()
            })
    };
    let info = AppInfo {
        name: app.to_owned(),
        namespace: status.namespace.clone(),
        labels,
    };
    if notifier.take_created(app) {
        let created = crate::notify::observe::app_created(revision);
        notifier.observe(&info, &commit, &created);
    }
    notifier.observe(&info, &commit, &observation);
}

/// The apps of a round this replica owns: each app the notifier does not know yet is read
/// from its status (what was pending is queued again: a restart, or an app taken over from
/// another replica); an app with no status at all is new (`appCreated`, sent with its next
/// observation: its sync's start, or its failure, once its manifests were read). A good fetch ends
/// a sync status that was unknown because of a failed one.
pub(super) async fn discovered(
    ctx: &Ctx,
    apps: &[crate::daemon::pipeline::AppDef],
    revision: &str,
) {
    use k8s_openapi::api::core::v1::ConfigMap;
    let notifier = &ctx.notifier;
    if !notifier.is_active() {
        return;
    }
    let api: kube::Api<ConfigMap> =
        kube::Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
    for app in apps {
        let name = &app.spec.name;
        if !notifier.knows(name) {
            let found = match api.get_opt(&status::config_map_name(name)).await {
                Ok(found) => found,
                Err(err) => {
                    tracing::warn!(app = %name, error = %err, "reading what was notified failed");
                    continue;
                }
            };
            let created = found.is_none();
            let stored = found.and_then(|cm| cm.data?.remove("notified"));
            notifier.restore(name, stored.as_deref());
            if created {
                // Sent with its next observation, once its manifests were read.
                notifier.mark_created(name);
            }
        }
        if notifier.unknown_by_fetch(name) {
            let observed = Observation {
                evaluated: vec![crate::notify::Kind::SyncStatusUnknown],
                ..Observation::default()
            };
            notify(ctx, name, revision, None, observed).await;
        }
    }
}

/// A failed fetch of `source`: the desired state of its apps this replica owns is unknown.
pub(super) async fn fetch_failed(ctx: &Ctx, source: &str, reason: &str, message: &str) {
    if !ctx.notifier.is_active() {
        return;
    }
    for app in ctx.state.apps().into_iter().filter(|a| a.source == source) {
        if super::ownership::may_write(ctx, &app.name) {
            let observed = crate::notify::observe::fetch_failed(reason, message);
            notify(ctx, &app.name, &app.revision, None, observed).await;
        }
    }
}

/// A sync of `revision` of `app` starts (notified once per revision).
pub(super) async fn sync_started(ctx: &Ctx, app: &str, revision: &str) {
    let observed = crate::notify::observe::sync_started(revision);
    notify(ctx, app, revision, None, observed).await;
}

/// `app` left the configuration and its objects were handled: `appDeleted`, then its
/// memory is forgotten (its status goes with it).
pub(super) async fn deleted(
    ctx: &Ctx,
    app: &str,
    revision: &str,
    pruned: usize,
    orphaned: &[String],
) {
    let observed = crate::notify::observe::app_deleted(revision, pruned, orphaned);
    notify(ctx, app, revision, None, observed).await;
    ctx.notifier.forget(app);
}
