//! Sync windows in a round ([`crate::rollout::window`]): which windows are in force for an
//! app, whether its new revision waits (its status says until when), and whether drift is
//! corrected meanwhile (the drift watcher pauses for the app when a window says `selfHeal:
//! false`).

use super::Ctx;
use super::record::write_status;
use crate::daemon::pipeline::AppDef;
use crate::rollout::window::Verdict;

/// What the windows say about `app` now; records the windows in force in its status and
/// pauses or resumes drift correction accordingly.
pub(super) async fn verdict(ctx: &Ctx, app: &AppDef) -> Verdict {
    let windows = &ctx.gates.windows;
    if windows.is_empty() {
        return Verdict {
            sync: true,
            self_heal: true,
            manual: true,
            ..Verdict::default()
        };
    }
    let name = &app.spec.name;
    let verdict = windows.verdict(name, &app.spec.target_namespace, chrono::Utc::now());
    ctx.state
        .update_app(name, |s| s.windows.clone_from(&verdict.active));
    ctx.engine.pause_drift(name, !verdict.self_heal).await;
    verdict
}

/// Whether `app` waits this round: a window denies syncs, and either `revision` is new or
/// drift correction is off. A waiting app keeps what runs; its status says why.
pub(super) async fn waits(ctx: &Ctx, app: &AppDef, revision: &str, verdict: &Verdict) -> bool {
    if verdict.sync {
        return false;
    }
    let name = &app.spec.name;
    let live = ctx.state.app(name).map(|s| s.revision).unwrap_or_default();
    if live == revision && verdict.self_heal {
        return false;
    }
    let why = verdict
        .waiting
        .clone()
        .unwrap_or_else(|| "a sync window is in force".into());
    let message = if live == revision {
        format!("{why}: drift is not corrected meanwhile")
    } else {
        format!("{why}: revision {revision} waits")
    };
    tracing::info!(app = %name, revision, reason = %message, "sync window");
    let newly = ctx
        .state
        .app(name)
        .is_none_or(|s| s.errors.first() != Some(&message));
    ctx.state.update_app(name, |s| {
        s.sync = "Waiting".into();
        s.reason = "SyncWindow".into();
        s.errors = vec![message.clone()];
        s.first_sync_done = true;
    });
    if newly {
        ctx.events.publish(name, false, "SyncWindow", message).await;
    }
    if let Some(status) = ctx.state.app(name) {
        write_status(ctx, &status).await;
    }
    true
}
