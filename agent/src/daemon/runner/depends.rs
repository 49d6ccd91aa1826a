//! Ordering between apps (an app generator's `dependsOn`, as Flux's Kustomization
//! `dependsOn`): an app does not sync until every app it depends on has synced successfully
//! and is healthy (at this round's revision when both read the same source). A waiting app
//! keeps what runs; its status says which app it waits for, and the round comes back soon.

use super::Ctx;
use super::record::{Waiting, record_waiting};
use crate::config::Config;
use crate::daemon::pipeline::AppDef;
use std::time::Duration;

/// How soon a round comes back while an app waits for its dependencies.
const DEPENDS_REQUEUE: Duration = Duration::from_secs(2);

/// Why `app` must wait this round, if it must.
pub(super) fn waiting_for(
    ctx: &Ctx,
    config: &Config,
    app: &AppDef,
    revision: &str,
) -> Option<String> {
    let generator = config.apps.get(app.generator)?;
    for dependency in &generator.depends_on {
        let ready = ctx.state.app(dependency).is_some_and(|s| {
            let current = s.source != app.source || s.revision == revision;
            current && s.sync == "Succeeded" && s.health == "Healthy"
        });
        if !ready {
            return Some(format!(
                "dependency {dependency} is not synced and healthy yet"
            ));
        }
    }
    None
}

/// Records that `app` waits; returns how soon the next round should come.
pub(super) async fn wait(ctx: &Ctx, app: &AppDef, revision: &str, why: &str) -> Option<Duration> {
    record_waiting(
        ctx,
        app,
        revision,
        why,
        &Waiting {
            reason: "DependencyNotReady",
            event: "DependencyNotReady",
            log: "waiting for a dependency",
        },
    )
    .await;
    Some(DEPENDS_REQUEUE)
}
