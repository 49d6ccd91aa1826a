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
    notifier.observe(&info, &commit, &observation);
}
