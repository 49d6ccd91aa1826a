//! Apps whose directory left Git: their objects are pruned under the same protections as any
//! prune, and their inventory and status are deleted.
//!
//! The apps a source had are read from the status ConfigMaps in the agent's namespace (kept
//! by a watch of them), so a restarted agent still prunes what left Git while it was down. Guards: only after a good
//! snapshot and a successful discovery (the caller's job); never when discovery found no app
//! at all; never when more than `maxPrunePercent` of the source's apps leave at once (a
//! mistyped glob must not delete a cluster). A blocked removal is reported, not retried
//! silently: the apps stay and keep running.

use super::Ctx;
use crate::daemon::status;
use crate::sync::{Action, AppSpec};
use crate::telemetry::AppLabel;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};

/// The apps of `source` recorded in the cluster that are not in `discovered`, and how many
/// it records: from the watch of the status ConfigMaps, or a listing until it is synced.
async fn departed(ctx: &Ctx, source: &str, discovered: &[String]) -> Option<(Vec<String>, usize)> {
    let recorded = match ctx.known.of_source(source) {
        Some(recorded) => recorded,
        None => listed(ctx, source).await?,
    };
    let discovered: std::collections::HashSet<&str> =
        discovered.iter().map(String::as_str).collect();
    let known = recorded.len();
    let mut gone: Vec<String> = recorded
        .into_iter()
        .filter(|app| !discovered.contains(app.as_str()))
        .collect();
    gone.sort();
    Some((gone, known))
}

/// The apps of `source` its status ConfigMaps record, listed.
async fn listed(ctx: &Ctx, source: &str) -> Option<Vec<String>> {
    let namespace = &ctx.engine.config().namespace;
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), namespace);
    let list = match api
        .list(&ListParams::default().labels(status::STATUS_LABEL))
        .await
    {
        Ok(list) => list,
        Err(err) => {
            tracing::warn!(error = %err, "cannot list the status of known apps; no app is removed");
            return None;
        }
    };
    let mut recorded = Vec::new();
    for cm in list.items {
        let data = cm.data.unwrap_or_default();
        if data.get("source").map(String::as_str) != Some(source) {
            continue;
        }
        if let Some(app) = data.get("app") {
            recorded.push(app.clone());
        }
    }
    Some(recorded)
}

/// Why removing `gone` of `known` apps must not happen, if it must not: discovery found
/// nothing, or more than `max_percent` of the apps leave at once.
fn blocked(gone: usize, known: usize, nothing_found: bool, max_percent: u8) -> Option<String> {
    if nothing_found {
        return Some(
            "discovery found no app at all; removing every app is never automatic".to_owned(),
        );
    }
    let max = u64::from(max_percent);
    ((gone as u64) * 100 > max * (known as u64)).then(|| {
        format!("{gone} of the source's {known} apps left Git at once, over the {max}% limit")
    })
}

/// Removes the apps of `source` that are no longer discovered, within the guards.
pub(super) async fn remove_departed(
    ctx: &Ctx,
    source: &str,
    discovered: &[String],
    revision: &str,
) {
    let Some((gone, known)) = departed(ctx, source, discovered).await else {
        return;
    };
    if gone.is_empty() {
        return;
    }
    let max = ctx.engine.config().max_prune_percent;
    let why = blocked(gone.len(), known, discovered.is_empty(), max);
    // Sharded: each departed app is removed (or reported) by the replica it hashes to; the
    // guard above still counts every app of the source.
    let gone: Vec<String> = gone
        .into_iter()
        .filter(|app| super::ownership::may_write(ctx, app))
        .collect();
    if let Some(why) = why {
        tracing::warn!(source, apps = gone.len(), reason = "PruneBlocked", "{why}");
        for app in &gone {
            let label = AppLabel { app: app.clone() };
            ctx.state.metrics.prune_blocked.get_or_create(&label).inc();
            ctx.events
                .publish(
                    app,
                    true,
                    "PruneBlocked",
                    format!("the app left Git but is kept: {why}"),
                )
                .await;
        }
        return;
    }
    for app in gone {
        let result = ctx.engine.remove(&AppSpec::new(&app, ""), revision).await;
        let pruned = result.changes.count(Action::Pruned);
        let orphaned: Vec<String> = result
            .changes
            .with(Action::Orphaned)
            .into_iter()
            .map(|r| format!("{}/{}", r.kind, r.name))
            .collect();
        if let Some(err) = &result.error {
            ctx.events
                .publish(
                    &app,
                    true,
                    err.reason(),
                    format!("removing the app that left Git: {err}"),
                )
                .await;
            continue;
        }
        ctx.events
            .publish(
                &app,
                false,
                "AppRemoved",
                format!("the app left Git at {revision}: {pruned} objects pruned"),
            )
            .await;
        super::notify::deleted(ctx, &app, revision, pruned, &orphaned).await;
        if !orphaned.is_empty() {
            ctx.events
                .publish(
                    &app,
                    true,
                    "Orphaned",
                    format!("protected objects left running: {}", orphaned.join(", ")),
                )
                .await;
        }
        ctx.written.forget(&app);
        let api: Api<ConfigMap> =
            Api::namespaced(ctx.client.clone(), &ctx.engine.config().namespace);
        if let Err(err) = api
            .delete(&status::config_map_name(&app), &Default::default())
            .await
        {
            tracing::warn!(app, error = %err, "could not delete the status of a removed app");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::blocked;

    #[test]
    fn removal_is_blocked_when_discovery_finds_nothing() {
        assert!(blocked(1, 1, true, 50).is_some());
        assert!(blocked(3, 3, true, 100).is_some());
    }

    #[test]
    fn removal_is_blocked_above_the_share_limit_and_allowed_at_it() {
        assert_eq!(blocked(1, 2, false, 50), None);
        assert!(blocked(2, 3, false, 50).is_some_and(|why| why.contains("2 of the source's 3")));
        assert_eq!(blocked(1, 10, false, 10), None);
        assert!(blocked(2, 10, false, 10).is_some());
        assert_eq!(blocked(5, 5, false, 100), None);
    }
}
