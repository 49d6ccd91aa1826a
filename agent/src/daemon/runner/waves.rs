//! Waves in a round ([`crate::rollout::wave`]): before the apps of a source sync, each app's
//! progress with the new revision is read from its status, and the plan says which apps take
//! it this round; the others keep what runs, their status says which step they wait for, and
//! the round asks for the next one soon so that the waves move on.

use super::Ctx;
use super::record::{Waiting, record_waiting};
use crate::daemon::pipeline::AppDef;
use crate::rollout::Phase;
use crate::rollout::wave::{AppView, Decision, Progress};
use std::collections::BTreeMap;
use std::time::Duration;

/// How soon a round comes back while apps wait for a wave step.
pub(super) const WAVE_REQUEUE: Duration = Duration::from_secs(2);

fn progress(ctx: &Ctx, app: &AppDef, revision: &str) -> Progress {
    let Some(s) = ctx.state.app(&app.spec.name) else {
        return Progress::Pending;
    };
    let gated = ctx
        .config
        .apps
        .get(app.generator)
        .is_some_and(|g| g.rollout.is_some());
    if let Some(hold) = s.rollout.as_ref().and_then(|r| r.hold.as_ref())
        && hold.failed_revision == revision
    {
        return Progress::Failed(hold.reason.clone());
    }
    if let Some(r) = s
        .rollout
        .as_ref()
        .filter(|r| gated && r.revision == revision)
        && matches!(
            r.phase,
            Phase::Failed | Phase::RolledBack | Phase::RollbackFailed
        )
    {
        let why = r
            .gates
            .iter()
            .find(|g| g.verdict == crate::rollout::Verdict::Failed)
            .map_or_else(
                || "its gates failed".to_owned(),
                |g| format!("gate {}: {}", g.name, g.message),
            );
        return Progress::Failed(why);
    }
    if s.revision != revision {
        return Progress::Pending;
    }
    if matches!(s.sync.as_str(), "Failed" | "Denied") {
        return Progress::Failed(
            s.errors
                .first()
                .cloned()
                .unwrap_or_else(|| s.reason.clone()),
        );
    }
    let done = s.sync == "Succeeded"
        && if gated {
            s.rollout
                .as_ref()
                .is_some_and(|r| r.phase == Phase::Passed && r.revision == revision)
        } else {
            s.health == "Healthy"
        };
    if done {
        Progress::Done
    } else {
        Progress::Pending
    }
}

/// The plan of this round for `apps` at `revision` (every app goes when there are no waves).
pub(super) fn plan(ctx: &Ctx, apps: &[AppDef], revision: &str) -> BTreeMap<String, Decision> {
    if ctx.gates.waves.is_empty() {
        return BTreeMap::new();
    }
    let views: Vec<AppView> = apps
        .iter()
        .map(|app| AppView {
            name: app.spec.name.clone(),
            labels: ctx
                .config
                .apps
                .get(app.generator)
                .map(|g| g.labels.clone())
                .unwrap_or_default(),
            progress: progress(ctx, app, revision),
        })
        .collect();
    ctx.gates.waves.plan(&views)
}

/// Records that `app` waits for a wave step; returns how soon the next round should come
/// (none when the waves are halted: only a new commit moves them).
pub(super) async fn wait(ctx: &Ctx, app: &AppDef, revision: &str, why: &str) -> Option<Duration> {
    record_waiting(
        ctx,
        app,
        revision,
        why,
        &Waiting {
            reason: "Wave",
            event: "WaveWaiting",
            log: "waiting for a wave step",
        },
    )
    .await;
    (!why.contains("halted")).then_some(WAVE_REQUEUE)
}
