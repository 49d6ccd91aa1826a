//! Where a round calls the rollout stages ([`crate::rollout`]) for apps with a `rollout:`
//! block: before the sync, an app held after a rollback stays at the revision restored (until
//! Git moves); after the sync of a revision not judged yet, the gates run, and a failure rolls
//! the app back to its last revision that passed, rendered again from Git through the same
//! pipeline (secrets resolved again, the same prune protections). One attempt: a failed
//! rollback leaves the app alone.

use super::Ctx;
use super::record::{finish_synced, write_status};
use crate::daemon::pipeline::{self, AppDef};
use crate::daemon::status;
use crate::notify::Kind;
use crate::policy::PolicySet;
use crate::rollout::{self, Hold, Phase, RolloutConfig, RolloutError, RolloutStatus, Verdict};
use crate::schema::SchemaCatalog;
use crate::sync::{Action, ObjectRef, SyncResult};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use std::time::{Duration, Instant};

/// What the gates of a generation share: a kind resolver and an HTTP client for providers.
pub(super) struct Gates {
    resolver: crate::sync::client::Resolver,
    http: reqwest::Client,
    /// How often the health gate reads the objects.
    poll: Duration,
    /// Apps without a `rollout:` block whose stored status was looked at (a hold by hand).
    looked: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The sync windows.
    pub(super) windows: crate::rollout::window::Windows,
    /// The waves across apps.
    pub(super) waves: crate::rollout::wave::Waves,
}

impl Gates {
    pub(super) fn new(client: &kube::Client, config: &crate::config::Config) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("tether-agent")
            .build()
            .unwrap_or_default();
        Self {
            resolver: crate::sync::client::Resolver::new(client.clone()),
            http,
            poll: Duration::from_secs(1),
            looked: std::sync::Mutex::default(),
            // Validated when the configuration was loaded.
            windows: crate::rollout::window::Windows::new(&config.sync_windows).unwrap_or_default(),
            waves: crate::rollout::wave::Waves::new(&config.waves).unwrap_or_default(),
        }
    }
}

/// The inputs of a round that a rollback renders with.
pub(super) struct Round<'a> {
    pub(super) policies: &'a PolicySet,
    pub(super) schemas: &'a SchemaCatalog,
}

/// The app's `rollout:` block, if any.
pub(super) fn config_of<'a>(ctx: &'a Ctx, app: &AppDef) -> Option<&'a RolloutConfig> {
    ctx.config
        .apps
        .get(app.generator)
        .and_then(|g| g.rollout.as_ref())
}

/// The app's rollout status, restored from its status ConfigMap the first time.
pub(super) async fn status_of(ctx: &Ctx, app: &str) -> RolloutStatus {
    if let Some(known) = ctx.state.app(app).and_then(|s| s.rollout) {
        return known;
    }
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
    let stored = match api.get_opt(&status::config_map_name(app)).await {
        Ok(cm) => cm
            .and_then(|cm| cm.data)
            .and_then(|mut d| d.remove(status::ROLLOUT_KEY)),
        Err(err) => {
            tracing::warn!(app, error = %err, "reading the rollout history failed; starting an empty one");
            None
        }
    };
    let restored = match stored.as_deref().map(RolloutStatus::decode) {
        Some(Ok(s)) => s,
        Some(Err(err)) => {
            tracing::warn!(app, error = %err, "the stored rollout history is unreadable; starting an empty one");
            RolloutStatus::default()
        }
        None => RolloutStatus::default(),
    };
    ctx.state
        .update_app(app, |s| s.rollout = Some(restored.clone()));
    restored
}

fn save(ctx: &Ctx, app: &str, status: &RolloutStatus) {
    ctx.state
        .update_app(app, |s| s.rollout = Some(status.clone()));
}

/// Before an app of a round is prepared: the hold that keeps it where it is while Git stays
/// at the revision that failed. Git at another revision ends the hold.
pub(super) async fn held(ctx: &Ctx, app: &AppDef, revision: &str) -> Option<Hold> {
    let name = &app.spec.name;
    let known = ctx.state.app(name).and_then(|s| s.rollout).is_some();
    if config_of(ctx, app).is_none() && !known {
        // An app without gates is held only after a rollback by hand: its stored status is
        // looked at once per process.
        let first = ctx
            .gates
            .looked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.clone());
        if !first {
            return None;
        }
        let stored = status_of(ctx, name).await;
        if stored.hold.is_none() {
            ctx.state.update_app(name, |s| s.rollout = None);
            return None;
        }
    }
    let mut status = status_of(ctx, &app.spec.name).await;
    if let Some(hold) = status.hold_at(revision) {
        return Some(hold.clone());
    }
    if status.hold.is_some() {
        tracing::info!(app = %app.spec.name, revision, "Git moved: the hold ends");
        status.clear_hold();
        save(ctx, &app.spec.name, &status);
    }
    None
}

/// A held app: re-renders and applies the revision restored (so a restarted agent, a
/// drifted object or a Secret's new value are handled as for any revision), without gates.
/// After a failed rollback nothing is done.
pub(super) async fn keep_held(ctx: &Ctx, app: &AppDef, hold: &Hold, round: &Round<'_>) {
    let name = &app.spec.name;
    match &hold.restored_revision {
        Some(target) => {
            if let Err(err) = apply_revision(ctx, app, target, round).await {
                tracing::warn!(app = %name, revision = %target, error = %err, "the held revision could not be applied again");
                ctx.state.update_app(name, |s| {
                    s.errors = vec![crate::text::clip_message(&err.to_string()).into_owned()];
                });
            }
            mark_held(ctx, name);
        }
        None => {
            tracing::debug!(app = %name, failed = %hold.failed_revision, "left alone after a failed rollback");
            ctx.state.update_app(name, |s| s.first_sync_done = true);
        }
    }
    if let Some(status) = ctx.state.app(name) {
        write_status(ctx, &status).await;
    }
}

/// Shows the hold in the app's sync status.
fn mark_held(ctx: &Ctx, app: &str) {
    ctx.state.update_app(app, |s| {
        let phase = s.rollout.as_ref().map(|r| r.phase);
        match phase {
            Some(Phase::RolledBack) => {
                let manual = s
                    .rollout
                    .as_ref()
                    .and_then(|r| r.hold.as_ref())
                    .is_some_and(|h| h.manual);
                s.sync = "RolledBack".into();
                s.reason = if manual { "Manual" } else { "GateFailed" }.into();
            }
            Some(Phase::RollbackFailed) => {
                s.sync = "Failed".into();
                s.reason = "RollbackFailed".into();
            }
            _ => {}
        }
        s.first_sync_done = true;
    });
}

/// What the gates need of a sync's result (read before the result is recorded).
pub(super) struct Synced {
    objects: Vec<ObjectRef>,
    pruned: Vec<ObjectRef>,
    /// The engine's own health wait timed out: a failed health gate.
    health_timeout: Option<String>,
    /// The sync completed (or only its health wait failed).
    gateable: bool,
}

impl Synced {
    pub(super) fn of(result: &SyncResult) -> Self {
        let objects = result
            .changes
            .changes
            .iter()
            .filter(|c| {
                matches!(
                    c.action,
                    Action::Created | Action::Configured | Action::Unchanged
                )
            })
            .map(|c| c.object.clone())
            .collect();
        let pruned = result
            .changes
            .with(Action::Pruned)
            .iter()
            .map(|o| (*o).clone())
            .collect();
        let reason = result.error.as_ref().map(crate::sync::SyncError::reason);
        Self {
            objects,
            pruned,
            health_timeout: (reason == Some("HealthTimeout"))
                .then(|| result.error.as_ref().map(ToString::to_string))
                .flatten(),
            gateable: reason.is_none() || reason == Some("HealthTimeout"),
        }
    }
}

/// Objects a rollback cannot bring back as they were: what the failed revision pruned that
/// held data (a volume claim's data, a namespace's contents).
fn unrestorable(pruned: &[ObjectRef]) -> Vec<String> {
    pruned
        .iter()
        .filter(|o| {
            o.group.is_empty()
                && matches!(
                    o.kind.as_str(),
                    "PersistentVolumeClaim" | "PersistentVolume" | "Namespace"
                )
        })
        .map(|o| format!("{o}: deleted by the failed revision; its data is not restored"))
        .collect()
}

/// After the sync of `revision`: runs the gates of a revision not judged yet and, when they
/// fail, rolls back (see the module docs).
pub(super) async fn after_sync(
    ctx: &Ctx,
    app: &AppDef,
    revision: &str,
    synced: Synced,
    round: &Round<'_>,
) {
    let Some(config) = config_of(ctx, app) else {
        return;
    };
    let name = &app.spec.name;
    let mut status = status_of(ctx, name).await;
    if !synced.gateable || status.verdict_of(revision).is_some() {
        return;
    }
    let report = run_gates(ctx, app, config, revision, &synced).await;
    status.revision = revision.to_owned();
    status.gates = report.gates.clone();
    status.record(revision, report.verdict, config.history_limit);
    if report.verdict == Verdict::Passed {
        status.phase = Phase::Passed;
        status.hold = None;
        save(ctx, name, &status);
        ctx.state.update_app(name, |s| s.health = "Healthy".into());
        let note = format!("{revision}: every gate passed");
        ctx.events.publish(name, false, "GatesPassed", note).await;
    } else {
        let reason = report.failure().unwrap_or_else(|| "a gate failed".into());
        tracing::warn!(app = %name, revision, reason = %reason, stage = "gates", "a gate failed");
        ctx.events
            .publish(name, true, "GateFailed", format!("{revision}: {reason}"))
            .await;
        let observed = crate::notify::observe::rollout_event(
            Kind::GateFailed,
            revision,
            "GateFailed",
            &reason,
        );
        super::notify::notify(ctx, name, revision, None, observed).await;
        let hold = Hold {
            failed_revision: revision.to_owned(),
            restored_revision: None,
            reason,
            manual: false,
            unrestorable: unrestorable(&synced.pruned),
        };
        roll_back(ctx, app, config, status, hold, round).await;
    }
    if let Some(s) = ctx.state.app(name) {
        write_status(ctx, &s).await;
    }
}

/// The gates of `revision`: the engine's own health timeout is a failed health gate.
async fn run_gates(
    ctx: &Ctx,
    app: &AppDef,
    config: &RolloutConfig,
    revision: &str,
    synced: &Synced,
) -> rollout::GateReport {
    if let Some(message) = &synced.health_timeout {
        let mut gate = rollout::GateResult::new("health", "health");
        gate.finish(Verdict::Failed, message.clone());
        return rollout::GateReport {
            verdict: Verdict::Failed,
            gates: vec![gate],
        };
    }
    let name = &app.spec.name;
    ctx.state
        .update_app(name, |s| s.health = "Progressing".into());
    rollout::gates(rollout::GateInput {
        config,
        client: &ctx.client,
        resolver: &ctx.gates.resolver,
        http: &ctx.gates.http,
        objects: synced.objects.clone(),
        vars: rollout::analysis::Vars {
            app: name.clone(),
            namespace: app.spec.target_namespace.clone(),
            revision: revision.to_owned(),
        },
        poll: ctx.gates.poll,
    })
    .await
}

/// After a failed gate: back to the last revision that passed (one attempt), and the hold.
async fn roll_back(
    ctx: &Ctx,
    app: &AppDef,
    config: &RolloutConfig,
    mut status: RolloutStatus,
    mut hold: Hold,
    round: &Round<'_>,
) {
    let name = &app.spec.name;
    let revision = hold.failed_revision.clone();
    let target = status.last_passed(&revision).map(str::to_owned);
    let outcome = match (&target, config.auto_rollback) {
        (_, false) => None,
        (None, true) => Some(Err(RolloutError::NoGoodRevision)),
        (Some(target), true) => Some(apply_revision(ctx, app, target, round).await),
    };
    let (phase, sync, why) = match outcome {
        None => (Phase::Failed, "Failed", "GateFailed"),
        Some(Ok(failed_objects)) => {
            hold.restored_revision = target.clone();
            hold.unrestorable.extend(failed_objects);
            (Phase::RolledBack, "RolledBack", "GateFailed")
        }
        Some(Err(err)) => {
            hold.reason = format!("{}; {}: {err}", hold.reason, err.reason());
            if matches!(err, RolloutError::NoGoodRevision) {
                (Phase::Failed, "Failed", "GateFailed")
            } else {
                (Phase::RollbackFailed, "Failed", "RollbackFailed")
            }
        }
    };
    status.phase = phase;
    // Without a rollback (none asked for, or nothing to go back to) the app stays where it is
    // and is not held: the failed verdict is kept, so its gates do not run again.
    status.hold = (phase != Phase::Failed).then(|| hold.clone());
    save(ctx, name, &status);
    ctx.state.update_app(name, |s| {
        s.sync = sync.into();
        s.reason = why.into();
        s.errors = vec![crate::text::clip_message(&hold.reason).into_owned()];
        s.first_sync_done = true;
    });
    report_outcome(ctx, name, &revision, phase, &hold).await;
}

async fn report_outcome(ctx: &Ctx, name: &str, revision: &str, phase: Phase, hold: &Hold) {
    let (kind, event, warning, note) = match (phase, &hold.restored_revision) {
        (Phase::RolledBack, Some(to)) => {
            let mut note =
                format!("{revision} failed its gates; back at {to}, held until Git moves");
            if !hold.unrestorable.is_empty() {
                note.push_str(&format!("; not restored: {}", hold.unrestorable.join(", ")));
            }
            (Kind::RolledBack, "RolledBack", true, note)
        }
        (Phase::RollbackFailed, _) => (
            Kind::RollbackFailed,
            "RollbackFailed",
            true,
            format!(
                "{revision}: {}; the app is left alone until Git moves",
                hold.reason
            ),
        ),
        _ => return,
    };
    tracing::warn!(app = %name, revision, outcome = event, "rollback");
    ctx.events.publish(name, warning, event, note.clone()).await;
    let observed = crate::notify::observe::rollout_event(kind, revision, event, &note);
    super::notify::notify(ctx, name, revision, None, observed).await;
}

/// Renders `target` of the app's source again and applies it; returns the objects the apply
/// left failed (named in the hold).
pub(super) async fn apply_revision(
    ctx: &Ctx,
    app: &AppDef,
    target: &str,
    round: &Round<'_>,
) -> Result<Vec<String>, RolloutError> {
    let failed = |message: String| RolloutError::RollbackFailed {
        revision: target.to_owned(),
        message: crate::text::clip_message(&message).into_owned(),
    };
    let started = Instant::now();
    let spec = ctx
        .config
        .sources
        .iter()
        .find(|s| s.name == app.source)
        .ok_or_else(|| failed(format!("source {} is not configured", app.source)))?;
    let source = super::source_config(&ctx.config, spec).map_err(|e| failed(e.to_string()))?;
    let tree = rollout::revision::tree_at(source, target).await?;
    // An app imported from Argo CD or Flux objects is found in that revision's objects.
    let config = crate::migrate::live::with_imported(&ctx.config, &app.source, &tree);
    let apps =
        pipeline::discover_apps(&config, &app.source, &tree).map_err(|e| failed(e.to_string()))?;
    let old = apps
        .into_iter()
        .find(|a| a.spec.name == app.spec.name)
        .ok_or_else(|| failed("the app is not in that revision".into()))?;
    let prepared = pipeline::prepare(
        &tree,
        &config,
        &old,
        target,
        &ctx.secrets,
        round.policies,
        round.schemas,
        false,
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    if prepared.denied() {
        return Err(failed("the policies deny that revision now".into()));
    }
    let mut spec = old.spec.clone();
    if !prepared.resolution.prune_allowed() {
        spec.prune = false;
    }
    let result = {
        let mut objects = prepared.manifests();
        let found = crate::notify::sources::take(&mut objects, &spec.target_namespace);
        ctx.notifier
            .set_app_sources(&spec.name, &spec.target_namespace, found)
            .await;
        ctx.engine.sync(&spec, target, objects).await
    };
    let error = result
        .error
        .as_ref()
        .map(|e| format!("{}: {e}", e.reason()));
    let not_applied: Vec<String> = result
        .changes
        .with(Action::Failed)
        .iter()
        .map(|o| format!("{o}: not applied"))
        .collect();
    finish_synced(ctx, &old, &prepared, result, started).await;
    match error {
        Some(message) if message.starts_with("HealthTimeout") => Ok(not_applied),
        Some(message) => Err(failed(message)),
        None => Ok(not_applied),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruned_volumes_and_namespaces_are_named_as_not_restorable() {
        let r = |group: &str, kind: &str| ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: "shop".into(),
            name: "data".into(),
        };
        let named = unrestorable(&[
            r("", "PersistentVolumeClaim"),
            r("", "ConfigMap"),
            r("example.com", "PersistentVolumeClaim"),
        ]);
        assert_eq!(named.len(), 1, "{named:?}");
        assert!(named[0].starts_with("PersistentVolumeClaim shop/data"));
    }
}
