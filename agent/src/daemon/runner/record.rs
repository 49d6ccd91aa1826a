//! Recording the outcome of an app's round: status, metrics, Events and the status ConfigMap.

use super::Ctx;
use crate::daemon::pipeline::{AppDef, Prepared};
use crate::daemon::state::{AppStatus, SecretSource, SyncRecord};
use crate::daemon::status;
use crate::daemon::time::format_rfc3339;
use crate::secrets::{SecretsError, StoreError};
use crate::sync::{Action, SyncResult};
use crate::telemetry::{AppLabel, StoreLabel, SyncLabels};
use std::time::{Instant, SystemTime};

fn store_label(err: &SecretsError) -> String {
    match err {
        SecretsError::StoreReadFailed { source, .. } => match source {
            StoreError::Unavailable { store, .. }
            | StoreError::PermissionDenied { store, .. }
            | StoreError::NotFound { store, .. }
            | StoreError::LoginFailed { store, .. }
            | StoreError::Credentials { store, .. }
            | StoreError::ReadFailed { store, .. }
            | StoreError::Invalid { store, .. } => store.clone(),
        },
        other => other.reason().to_owned(),
    }
}

/// The stage a failure before the sync happened in, from its reason.
fn stage_of(reason: &str) -> &'static str {
    match reason {
        "RenderFailed" => "render",
        "PolicyFailed" | "PolicyDenied" => "policy",
        "DiscoveryFailed" | "InvalidApp" => "discovery",
        _ => "prepare",
    }
}

/// Records an app whose round failed before the sync (render, policy): logs it, counts it,
/// and makes its status show this attempt (the error, no changes), not the previous sync.
pub(super) async fn finish_failed(
    ctx: &Ctx,
    app: &AppDef,
    revision: &str,
    reason: &str,
    message: String,
    started: Instant,
) {
    let name = &app.spec.name;
    let message = crate::text::clip_message(&message).into_owned();
    // The message is what status and Events show: object references and causes, never a
    // Secret's value.
    tracing::warn!(
        app = %name,
        revision,
        stage = stage_of(reason),
        reason,
        error = %message,
        "sync failed"
    );
    ctx.state
        .metrics
        .sync_total
        .get_or_create(&SyncLabels {
            app: name.clone(),
            result: reason.to_owned(),
        })
        .inc();
    let denied = reason == "PolicyDenied";
    ctx.state.update_app(name, |s| {
        s.revision = revision.to_owned();
        s.last_sync = Some(format_rfc3339(SystemTime::now()));
        s.sync = if denied { "Denied" } else { "Failed" }.into();
        s.reason = reason.to_owned();
        s.errors = vec![message.clone()];
        s.changes.clear();
        s.first_sync_done = true;
        if denied {
            s.policy = message.split("; ").map(|m| format!("deny: {m}")).collect();
        }
        let record = history_record(s, started, [0, 0, 0, 0]);
        s.record(&record);
    });
    let event_reason = if denied { "PolicyDenied" } else { "SyncFailed" };
    ctx.events
        .publish(
            name,
            true,
            event_reason,
            format!("{revision}: {reason}: {message}"),
        )
        .await;
    let observed = crate::notify::observe::failed_before_sync(reason, &message);
    super::notify::notify(ctx, name, revision, None, observed).await;
    if let Some(status) = ctx.state.app(name) {
        write_status(ctx, &status).await;
    }
}

pub(super) async fn finish_synced(
    ctx: &Ctx,
    app: &AppDef,
    prepared: &Prepared,
    result: SyncResult,
    started: Instant,
) {
    let name = &app.spec.name;
    let secrets_failed = !prepared.resolution.failures.is_empty();
    let reason = if result.error.is_none() && secrets_failed {
        prepared
            .resolution
            .degraded_reason()
            .unwrap_or("SecretResolveFailed")
    } else {
        result.reason()
    };
    let sync = Finished {
        name,
        prepared,
        result: &result,
        reason,
        started,
    };
    let orphaned = record_metrics(ctx, &sync);
    if secrets_failed {
        // The engine logs its own failures; Secrets that did not resolve are logged here.
        tracing::warn!(
            app = %name,
            revision = %result.revision,
            stage = "secrets",
            reason,
            error = %crate::text::clip_message(&prepared.resolution.message()),
            "secrets failed"
        );
    }
    update_synced_status(ctx, &sync);
    publish_sync_events(ctx, name, prepared, &result, orphaned).await;
    let failures: Vec<&SecretsError> = prepared
        .resolution
        .failures
        .iter()
        .map(|f| &f.error)
        .collect();
    let observed = crate::notify::observe::after_sync(&result, &failures);
    let plain = prepared.resolution.desired.iter().filter_map(|d| match d {
        crate::secrets::Desired::Plain(v) => Some(v),
        crate::secrets::Desired::Secret(_) => None,
    });
    let labels = Some(super::notify::common_labels(plain));
    super::notify::notify(ctx, name, &result.revision, labels, observed).await;
    if let Some(status) = ctx.state.app(name) {
        write_status(ctx, &status).await;
    }
}

/// A sync that finished, with the reason its status gives.
#[derive(Clone, Copy)]
struct Finished<'a> {
    name: &'a str,
    prepared: &'a Prepared,
    result: &'a SyncResult,
    reason: &'a str,
    started: Instant,
}

/// A sync's metrics: its result and duration, the app's orphaned and managed objects, blocked
/// prunes and failed secret reads. Returns the orphaned objects' count.
fn record_metrics(ctx: &Ctx, sync: &Finished<'_>) -> usize {
    let metrics = &ctx.state.metrics;
    let label = AppLabel {
        app: sync.name.to_owned(),
    };
    metrics
        .sync_total
        .get_or_create(&SyncLabels {
            app: sync.name.to_owned(),
            result: sync.reason.to_owned(),
        })
        .inc();
    metrics
        .sync_duration
        .get_or_create(&label)
        .observe(sync.started.elapsed().as_secs_f64());
    let orphaned = sync.result.changes.count(Action::Orphaned);
    metrics
        .orphaned_objects
        .get_or_create(&label)
        .set(i64::try_from(orphaned).unwrap_or(i64::MAX));
    let managed = [Action::Created, Action::Configured, Action::Unchanged]
        .iter()
        .map(|a| sync.result.changes.count(*a))
        .sum::<usize>();
    metrics
        .managed_objects
        .get_or_create(&label)
        .set(i64::try_from(managed).unwrap_or(i64::MAX));
    if sync.reason == "PruneBlocked" {
        metrics.prune_blocked.get_or_create(&label).inc();
    }
    for failure in &sync.prepared.resolution.failures {
        metrics
            .secret_resolve_errors
            .get_or_create(&StoreLabel {
                store: store_label(&failure.error),
            })
            .inc();
    }
    orphaned
}

/// The app's status after a sync: result, health, changes, errors, policy findings, images,
/// where its Secrets come from, and the history record.
fn update_synced_status(ctx: &Ctx, sync: &Finished<'_>) {
    let secrets_failed = !sync.prepared.resolution.failures.is_empty();
    let mut errors: Vec<String> = Vec::new();
    if let Some(err) = &sync.result.error {
        errors.push(format!("{}: {err}", err.reason()));
    }
    errors.extend(
        sync.prepared
            .resolution
            .failures
            .iter()
            .map(|f| format!("{}: {}", f.error.reason(), f.error)),
    );
    let errors: Vec<String> = errors
        .iter()
        .map(|e| crate::text::clip_message(e).into_owned())
        .collect();
    let ok = sync.result.error.is_none() && !secrets_failed;
    let corrections = ctx.engine.corrections(sync.name);
    ctx.state.update_app(sync.name, |s: &mut AppStatus| {
        s.revision = sync.result.revision.clone();
        s.last_sync = Some(format_rfc3339(SystemTime::now()));
        s.sync = if ok { "Succeeded" } else { "Failed" }.into();
        s.reason = sync.reason.to_owned();
        s.health = if secrets_failed {
            "Degraded".into()
        } else {
            sync.result.health.status().to_owned()
        };
        s.changes = sync.result.changes.changes.clone();
        s.drift_corrections = corrections;
        s.errors = errors.clone();
        s.first_sync_done = true;
        s.policy = policy_lines(&sync.prepared.policy);
        s.images =
            crate::server::ui::model::images(sync.prepared.resolution.desired.iter().filter_map(
                |d| match d {
                    crate::secrets::Desired::Plain(v) => Some(v),
                    crate::secrets::Desired::Secret(_) => None,
                },
            ));
        s.secrets = secret_sources(sync.prepared, s.last_sync.as_deref().unwrap_or_default());
        let counts = [
            sync.result.changes.count(Action::Created),
            sync.result.changes.count(Action::Configured),
            sync.result.changes.count(Action::Pruned),
            hook_runs(sync.prepared, sync.result),
        ];
        let record = history_record(s, sync.started, counts);
        s.record(&record);
    });
}

/// The Events of a sync: its outcome, orphaned objects (when that list changed), objects that
/// failed, Secrets that did not resolve.
async fn publish_sync_events(
    ctx: &Ctx,
    name: &str,
    prepared: &Prepared,
    result: &SyncResult,
    orphaned: usize,
) {
    let secrets_failed = !prepared.resolution.failures.is_empty();
    let events = &ctx.events;
    let summary = format!(
        "{}: {} created, {} configured, {} pruned, {} orphaned",
        result.revision,
        result.changes.count(Action::Created),
        result.changes.count(Action::Configured),
        result.changes.count(Action::Pruned),
        orphaned
    );
    match &result.error {
        None => events.publish(name, false, "SyncSucceeded", summary).await,
        Some(err) if err.reason() == "PruneBlocked" => {
            events
                .publish(name, true, "PruneBlocked", err.to_string())
                .await;
        }
        Some(err) => {
            events
                .publish(name, true, "SyncFailed", format!("{}: {err}", err.reason()))
                .await
        }
    }
    let orphans = result
        .changes
        .with(Action::Orphaned)
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let report_orphans = events.orphans_changed(name, &orphans);
    for change in &result.changes.changes {
        let reason = change.reason.clone().unwrap_or_default();
        match change.action {
            Action::Orphaned if report_orphans => {
                let note = format!("left Git and was kept: {reason}");
                events
                    .publish_on(&change.object, name, false, "Orphaned", note)
                    .await;
            }
            Action::Failed => {
                let note = format!("{}: {reason}", result.revision);
                events
                    .publish_on(&change.object, name, true, "SyncFailed", note)
                    .await;
            }
            _ => {}
        }
    }
    if orphaned > 0 && report_orphans {
        events.publish(name, false, "Orphaned", orphans).await;
    }
    if secrets_failed {
        events
            .publish(
                name,
                true,
                "SecretResolveFailed",
                prepared.resolution.message(),
            )
            .await;
    }
}

/// The history record of the attempt `status` now shows; `counts`: created, configured,
/// pruned, hook runs.
fn history_record(status: &mut AppStatus, started: Instant, counts: [usize; 4]) -> SyncRecord {
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    status.duration_ms = Some(duration_ms);
    let [created, configured, pruned, hooks] = counts;
    SyncRecord {
        revision: status.revision.clone(),
        at: status.last_sync.clone().unwrap_or_default(),
        result: status.sync.clone(),
        reason: status.reason.clone(),
        duration_ms,
        trigger: status.trigger.clone(),
        created,
        configured,
        pruned,
        hooks,
    }
}

/// The policy findings as lines (`deny: ...`, `warn: ...`).
fn policy_lines(report: &crate::policy::Report) -> Vec<String> {
    report
        .denials()
        .map(|f| format!("deny: {f}"))
        .chain(report.warnings().map(|f| format!("warn: {f}")))
        .collect()
}

/// The Secrets handed to the engine and where they came from; then those a store holds that
/// could not be read this time (where they come from, not read).
fn secret_sources(prepared: &Prepared, read_at: &str) -> Vec<SecretSource> {
    let mut sources = resolved_sources(prepared, read_at);
    for unread in prepared.store_refs.iter().filter(|r| !r.store.is_empty()) {
        if !sources
            .iter()
            .any(|s| s.namespace == unread.namespace && s.name == unread.name)
        {
            sources.push(SecretSource {
                namespace: unread.namespace.clone(),
                name: unread.name.clone(),
                origin: unread.origin.to_owned(),
                read_at: String::new(),
                store: unread.describe(),
                file: unread.file.clone(),
            });
        }
    }
    sources
}

fn resolved_sources(prepared: &Prepared, read_at: &str) -> Vec<SecretSource> {
    prepared
        .resolution
        .desired
        .iter()
        .filter_map(|d| match d {
            crate::secrets::Desired::Secret(s) => {
                let from = prepared
                    .store_refs
                    .iter()
                    .find(|r| r.namespace == s.namespace() && r.name == s.name());
                Some(SecretSource {
                    namespace: s.namespace().to_owned(),
                    name: s.name().to_owned(),
                    origin: s.origin().as_str().to_owned(),
                    read_at: read_at.to_owned(),
                    store: from.map(|r| r.describe()).unwrap_or_default(),
                    file: from.map(|r| r.file.clone()).unwrap_or_default(),
                })
            }
            crate::secrets::Desired::Plain(_) => None,
        })
        .collect()
}

/// How many pre-sync hook Jobs ran: those of the desired set, unless the sync stopped before
/// the hooks.
fn hook_runs(prepared: &Prepared, result: &SyncResult) -> usize {
    let hooks = prepared
        .resolution
        .desired
        .iter()
        .filter(|d| match d {
            crate::secrets::Desired::Plain(v) => crate::sync::hooks::is_pre_sync(v),
            crate::secrets::Desired::Secret(_) => false,
        })
        .count();
    let skipped = result.changes.count(Action::Skipped) > 0
        && result.changes.changes.len() == result.changes.count(Action::Skipped);
    if skipped { 0 } else { hooks }
}

pub(super) async fn write_status(ctx: &Ctx, status: &AppStatus) {
    if !super::ownership::may_write(ctx, &status.name) || !ctx.written.changed(status) {
        return;
    }
    match status::write(&ctx.client, &ctx.config.namespace, status).await {
        Ok(()) => ctx.written.wrote(status),
        Err(err) => tracing::warn!(app = %status.name, error = %err, "writing status failed"),
    }
}

/// Why an app waits instead of syncing: its status reason, the Event's reason, and what the
/// log line says it waits for.
pub(super) struct Waiting<'a> {
    /// The status reason (`DependencyNotReady`, `Wave`).
    pub reason: &'a str,
    /// The Event's reason.
    pub event: &'a str,
    /// The log message.
    pub log: &'a str,
}

/// Records that `app` waits at `revision` for `why`: status `Waiting` (a synced revision
/// keeps its state), and an Event and a status write the first time this message is seen.
pub(super) async fn record_waiting(
    ctx: &Ctx,
    app: &AppDef,
    revision: &str,
    why: &str,
    waiting: &Waiting<'_>,
) {
    let name = &app.spec.name;
    let message = format!("{why} (revision {revision})");
    let newly = ctx
        .state
        .app(name)
        .is_none_or(|s| s.errors.first() != Some(&message));
    ctx.state.update_app(name, |s| {
        if s.revision != revision {
            s.sync = "Waiting".into();
            s.reason = waiting.reason.into();
            s.errors = vec![message.clone()];
        }
        s.first_sync_done = true;
    });
    if newly {
        tracing::info!(app = %name, revision, reason = %why, "{}", waiting.log);
        ctx.events
            .publish(name, false, waiting.event, message)
            .await;
        if let Some(status) = ctx.state.app(name) {
            write_status(ctx, &status).await;
        }
    }
}
