//! Sharded replicas share webhooks: a webhook reaches one replica (the Service picks it), but
//! its commit may change apps that hash to the others. The replica whose round, asked for by
//! a trigger, fetched a new revision writes it to a ConfigMap of the agent's namespace
//! (`tether-webhooks`, one key per source); every replica watches that ConfigMap and starts a
//! round of the source when another replica wrote a revision it has not fetched, so each app's
//! owner syncs it at once rather than at its next poll. A round started this way is not
//! forwarded again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::watch;

use super::Ctx;

/// The ConfigMap of forwarded webhooks.
pub const WEBHOOKS_CONFIGMAP: &str = "tether-webhooks";
/// Its label (the watch selects it).
const WEBHOOKS_LABEL: &str = "tether.dev/webhooks";

/// The sources whose next round was asked for by another replica's webhook.
#[derive(Debug, Default)]
pub(super) struct Forwarded(Mutex<BTreeSet<String>>);

impl Forwarded {
    fn mark(&self, source: &str) {
        lock(&self.0).insert(source.to_owned());
    }

    /// Whether the round of `source` starting now was asked for by another replica (taken).
    pub(super) fn take(&self, source: &str) -> bool {
        lock(&self.0).remove(source)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The value written for a source: who fetched which revision.
fn entry(identity: &str, revision: &str) -> String {
    format!("{identity} {revision}")
}

/// Tells the other replicas that `source` is at `revision` (a webhook's round fetched it).
pub(super) async fn publish(ctx: &Ctx, source: &str, revision: &str) {
    let Some(member) = &ctx.shard else {
        return;
    };
    let identity = member.identity();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": WEBHOOKS_CONFIGMAP,
            "namespace": ctx.config.namespace,
            "labels": {WEBHOOKS_LABEL: "true", "app.kubernetes.io/part-of": "tether"},
        },
        "data": {source: entry(&identity, revision)},
    });
    let params = PatchParams::apply(&format!("tether-webhooks-{identity}")).force();
    match api
        .patch(WEBHOOKS_CONFIGMAP, &params, &Patch::Apply(&body))
        .await
    {
        Ok(_) => tracing::debug!(source, revision, "webhook forwarded to the other replicas"),
        Err(err) => tracing::warn!(source, error = %err, "forwarding a webhook failed"),
    }
}

/// Watches the forwarded webhooks (sharded replicas only) and starts a round of each source
/// another replica fetched a new revision of.
pub(super) async fn watch(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let Some(member) = &ctx.shard else {
        return;
    };
    let own = member.identity();
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
    let config = watcher::Config::default().labels(&format!("{WEBHOOKS_LABEL}=true"));
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            event = stream.next() => event,
        };
        let (cm, listed) = match event {
            Some(Ok(watcher::Event::Apply(cm))) => (cm, false),
            Some(Ok(watcher::Event::InitApply(cm))) => (cm, true),
            Some(Ok(_)) => continue,
            Some(Err(err)) => {
                tracing::debug!(error = %err, "watching forwarded webhooks failed; retrying");
                continue;
            }
            None => return,
        };
        for (source, value) in cm.data.unwrap_or_default() {
            let new = seen.get(&source) != Some(&value);
            seen.insert(source.clone(), value.clone());
            // What was there when the watch (re)started is old news; the own writes too.
            if listed || !new || value.split(' ').next() == Some(own.as_str()) {
                continue;
            }
            if ctx.triggers.contains_key(&source) {
                tracing::info!(source, from = %value, "a webhook forwarded by another replica: starting a round");
                ctx.forwarded.mark(&source);
                ctx.state.request_round(&source, "webhook");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_round_is_taken_once() {
        let forwarded = Forwarded::default();
        assert!(!forwarded.take("config"));
        forwarded.mark("config");
        assert!(forwarded.take("config"));
        assert!(!forwarded.take("config"), "taken");
        assert_eq!(entry("tether-1", "abc"), "tether-1 abc");
    }
}
