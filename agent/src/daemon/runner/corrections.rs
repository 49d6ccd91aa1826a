//! Drift corrections as the engine reports them: counted, published as Events, notified,
//! and written to the app's status; a drifted Secret is restored by a sync of its app.

use super::record::write_status;
use super::{Ctx, notify, stopped};
use crate::telemetry::AppLabel;
use std::sync::Arc;
use tokio::sync::watch;

/// Follows the engine's corrections until `stop`.
pub(super) async fn corrections(ctx: Arc<Ctx>, stop: watch::Receiver<bool>) {
    let mut rx = ctx.engine.subscribe_corrections();
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        let correction = tokio::select! {
            () = &mut stop => return,
            c = rx.recv() => c,
        };
        match correction {
            Ok(c) if c.resync => {
                // A Secret's values are not kept between syncs: its app's source renders
                // and resolves it again, and the sync re-applies it.
                ctx.rest.mark_dirty(&c.app);
                let source = ctx.state.app(&c.app).map(|s| s.source);
                if let Some(source) = source.filter(|s| ctx.triggers.contains_key(s)) {
                    tracing::info!(app = %c.app, object = %c.object, "a drifted Secret is restored by a sync of its app");
                    ctx.state.request_round(&source, "drift");
                }
            }
            Ok(c) => {
                ctx.state
                    .metrics
                    .drift_corrections
                    .get_or_create(&AppLabel { app: c.app.clone() })
                    .inc();
                let count = ctx.engine.corrections(&c.app);
                ctx.state
                    .update_app(&c.app, |s| s.drift_corrections = count);
                let verb = if c.recreated {
                    "recreated"
                } else {
                    "re-applied"
                };
                let note = match &c.changed_by {
                    Some(manager) => format!("{} {verb} (changed by {manager})", c.object),
                    None => format!("{} {verb}", c.object),
                };
                ctx.events
                    .publish_on(&c.object, &c.app, false, "DriftCorrected", note.clone())
                    .await;
                ctx.events
                    .publish(&c.app, false, "DriftCorrected", note)
                    .await;
                let revision = ctx
                    .state
                    .app(&c.app)
                    .map(|s| s.revision)
                    .unwrap_or_default();
                let observed = crate::notify::observe::drift_reverted(
                    &c.object.to_string(),
                    c.recreated,
                    c.changed_by.as_deref(),
                );
                notify::notify(&ctx, &c.app, &revision, None, observed).await;
                if let Some(status) = ctx.state.app(&c.app) {
                    write_status(&ctx, &status).await;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "drift corrections missed by the status listener"
                );
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}
