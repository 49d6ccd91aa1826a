//! One round of a source: fetch it, find its apps (configured and imported from Argo CD and
//! Flux objects), keep those this replica owns and that are not suspended, then run each
//! through the pipeline and sync it, gated by rollouts, windows, dependencies and waves.

use super::record::{finish_failed, finish_synced};
use super::{
    Ctx, at_rest, departed, depends, forward, imports, notify, ownership, pipeline, requests,
    rollout, waves, windows,
};
use crate::config::Config;
use crate::daemon::pipeline::{AppDef, Prepared};
use crate::daemon::rest::{self, Reads, Recording};
use crate::migrate::live::ImportErrors;
use crate::policy::PolicySet;
use crate::rollout::wave::Decision;
use crate::schema::SchemaCatalog;
use crate::source::Source;
use crate::source::snapshot::Snapshot;
use crate::source::trigger::Cause;
use crate::telemetry::{AppLabel, SourceLabel};
use crate::tree::Tree;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One round of a source; returns how soon a Secret wants the next one.
pub(super) async fn round(
    ctx: &Ctx,
    name: &str,
    source: &mut Source,
    cause: Cause,
) -> Option<Duration> {
    let requeue = match fetch(ctx, name, source, cause).await {
        Some((snapshot, why)) => sync_snapshot(ctx, name, &snapshot, &why).await,
        None => None,
    };
    ctx.state.source_round_done(name);
    requeue
}

/// Fetches the source; on failure its apps keep their status with the error added. Returns
/// the snapshot and why the round runs.
async fn fetch(
    ctx: &Ctx,
    name: &str,
    source: &mut Source,
    cause: Cause,
) -> Option<(Snapshot, String)> {
    let started = Instant::now();
    let reason = ctx.state.take_round_reason(name);
    // A webhook's round (one forwarded by another replica is not forwarded again).
    let forward = cause == Cause::Trigger
        && reason.as_deref().is_none_or(|r| r == "webhook")
        && !ctx.forwarded.take(name);
    let why = match (cause, reason) {
        (Cause::Trigger, Some(why)) => why,
        (Cause::Trigger, None) => "webhook".to_owned(),
        (Cause::Start, _) => "start".to_owned(),
        (Cause::Poll, _) => "poll".to_owned(),
    };
    let before = source.current().map(|s| s.revision.clone());
    let fetched = source.sync().await;
    ownership::refresh(ctx).await;
    let metrics = &ctx.state.metrics;
    metrics
        .git_fetch_duration
        .get_or_create(&SourceLabel {
            source: name.to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    let snapshot = match fetched {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(reason = err.reason(), error = %err, ?cause, "fetch failed");
            notify::fetch_failed(ctx, name, err.reason(), &err.to_string()).await;
            // The last good snapshot is not re-synced here; its apps keep their status with
            // the fetch error added.
            for app in ctx.state.apps().into_iter().filter(|a| a.source == name) {
                ctx.state.update_app(&app.name, |s| {
                    s.errors = vec![format!("{}: {err}", err.reason())];
                    s.first_sync_done = true;
                });
            }
            return None;
        }
    };
    metrics.set_revision(name, &snapshot.revision);
    if forward && before.as_deref() != Some(snapshot.revision.as_str()) {
        forward::publish(ctx, name, &snapshot.revision).await;
    }
    ctx.inspector.remember(name, &snapshot);
    Some((snapshot, why))
}

/// The apps of a fetched snapshot, synced.
async fn sync_snapshot(ctx: &Ctx, name: &str, snapshot: &Snapshot, why: &str) -> Option<Duration> {
    // Apps read from the snapshot's Argo CD and Flux objects join the configured ones.
    let (imported, import_errors) =
        crate::migrate::live::effective_reporting(&ctx.config, name, &snapshot.tree);
    let config = imported.as_ref().unwrap_or(&ctx.config);
    let apps = match pipeline::discover_apps(config, name, &snapshot.tree) {
        Ok(apps) => apps,
        Err(err) => {
            tracing::warn!(reason = err.reason(), error = %err, "app discovery failed");
            return None;
        }
    };
    let reads = imported.is_some();
    record_apps(ctx, name, snapshot, &apps, (reads, import_errors), why).await;
    // Sharded: only the apps that hash to this replica are synced here.
    let apps = ownership::owned(ctx, apps);
    notify::discovered(ctx, &apps, &snapshot.revision).await;
    let apps = unsuspended(ctx, config, apps);
    let inputs = Inputs::load(ctx, name, config, snapshot, &apps).await?;
    let syncs = apps.iter().map(|app| sync_app(ctx, &inputs, app));
    let requeue = futures::future::join_all(syncs)
        .await
        .into_iter()
        .flatten()
        .min();
    at_rest::write_statuses(ctx, &apps).await;
    requeue
}

/// Records the source's apps: departed ones removed, imports that failed shown as their app
/// (`reads`: an `import:` entry reads the source), every app's metrics series and status
/// fields set.
async fn record_apps(
    ctx: &Ctx,
    name: &str,
    snapshot: &Snapshot,
    apps: &[AppDef],
    (reads, import_errors): (bool, ImportErrors),
    why: &str,
) {
    let mut names: Vec<String> = apps.iter().map(|a| a.spec.name.clone()).collect();
    // An imported Application or Kustomization that cannot be mapped shows as its app, with
    // the error naming the object, file and field; its objects stay (it has not departed).
    // Errors naming no app go to the source's import status. Both are Events too.
    imports::record(ctx, name, reads, import_errors, &mut names).await;
    departed::remove_departed(ctx, name, &names, &snapshot.revision).await;
    ctx.state.retain_apps(name, &names);
    ctx.images.retain_apps(name, &names);
    let metrics = &ctx.state.metrics;
    for app in apps {
        // Every per-app series exists from the first round, at zero.
        let label = AppLabel {
            app: app.spec.name.clone(),
        };
        let _ = metrics.drift_corrections.get_or_create(&label);
        let _ = metrics.prune_blocked.get_or_create(&label);
        let _ = metrics.orphaned_objects.get_or_create(&label);
        let _ = metrics.managed_objects.get_or_create(&label);
        ctx.state.update_app(&app.spec.name, |s| {
            if !s.suspended {
                s.trigger = why.to_owned();
                s.commit = snapshot.commit.clone();
            }
            s.source = name.to_owned();
            s.path = app.path.to_string();
            s.namespace = app.spec.target_namespace.clone();
        });
    }
}

/// The apps that are not suspended. A suspended app keeps its objects and its status; it is
/// neither synced nor departed.
fn unsuspended(ctx: &Ctx, config: &Config, mut apps: Vec<AppDef>) -> Vec<AppDef> {
    apps.retain(|app| {
        let suspended = ctx.state.is_suspended(&app.spec.name)
            || config.apps.get(app.generator).is_some_and(|g| g.suspend);
        if suspended {
            tracing::info!(app = %app.spec.name, "suspended: not synced");
            // Readiness does not wait for a sync that will not come.
            ctx.state
                .update_app(&app.spec.name, |s| s.first_sync_done = true);
        }
        !suspended
    });
    apps
}

/// What every app of a round shares.
struct Inputs<'a> {
    source: &'a str,
    config: &'a Config,
    tree: &'a Tree,
    revision: &'a str,
    policies: PolicySet,
    schemas: Arc<SchemaCatalog>,
    wave_plan: BTreeMap<String, Decision>,
    policy_reads: Reads,
}

impl<'a> Inputs<'a> {
    /// Loads the round's policies and schemas; when either fails, every app fails with it.
    async fn load(
        ctx: &Ctx,
        source: &'a str,
        config: &'a Config,
        snapshot: &'a Snapshot,
        apps: &[AppDef],
    ) -> Option<Inputs<'a>> {
        let started = Instant::now();
        let revision = snapshot.revision.as_str();
        let (policy_tree, policy_reads) = rest::record(&snapshot.tree);
        let loaded = PolicySet::load(&pipeline::policy_config(config, apps), Some(&policy_tree))
            .map_err(|err| {
                tracing::warn!(reason = err.reason(), error = %err, "policies do not load");
                ("PolicyFailed", format!("{}: {err}", err.reason()))
            });
        let loaded = match loaded {
            Ok(policies) => match ctx.schemas.catalog(&ctx.client).await {
                Ok(schemas) => Ok((policies, schemas)),
                Err(err) => {
                    tracing::error!(error = %err, "the schemas cannot be set up");
                    Err(("Invalid", err.to_string()))
                }
            },
            Err(failed) => Err(failed),
        };
        match loaded {
            Ok((policies, schemas)) => Some(Inputs {
                source,
                config,
                tree: &snapshot.tree,
                revision,
                policies,
                schemas,
                wave_plan: waves::plan(ctx, apps, revision),
                policy_reads: policy_reads.reads(),
            }),
            Err((reason, message)) => {
                for app in apps {
                    finish_failed(ctx, app, revision, reason, message.clone(), started).await;
                }
                None
            }
        }
    }
}

/// One app of the round: gated, then prepared and synced; returns how soon it wants the
/// next round.
async fn sync_app(ctx: &Ctx, inputs: &Inputs<'_>, app: &AppDef) -> Option<Duration> {
    let revision = inputs.revision;
    let gated = rollout::Round {
        policies: &inputs.policies,
        schemas: &inputs.schemas,
    };
    let window = windows::verdict(ctx, app).await;
    // A sync by hand (the UI's action) goes through a window that allows it.
    let manual = ctx.state.take_manual_sync(&app.spec.name) && window.manual;
    if let Some(request) = ctx.rollout_requests.take(&app.spec.name)
        && requests::handle(ctx, app, revision, request, &gated, &window).await
    {
        return None;
    }
    if let Some(hold) = rollout::held(ctx, app, revision).await {
        if window.sync || window.self_heal {
            rollout::keep_held(ctx, app, &hold, &gated).await;
        }
        return None;
    }
    if !manual && windows::waits(ctx, app, revision, &window).await {
        return None;
    }
    if let Some(why) = depends::waiting_for(ctx, inputs.config, app, revision) {
        return depends::wait(ctx, app, revision, &why).await;
    }
    if let Some(Decision::Wait(why)) = inputs.wave_plan.get(&app.spec.name) {
        return waves::wait(ctx, app, revision, why).await;
    }
    let context = rest::context(&app.spec, app.generator, &inputs.policy_reads);
    if !manual && at_rest::skip(ctx, app, revision, inputs.tree, &context).await {
        return None;
    }
    let (recording_tree, recording) = rest::record(inputs.tree);
    let started = Instant::now();
    let prepared = pipeline::prepare(
        &recording_tree,
        inputs.config,
        app,
        revision,
        &ctx.secrets,
        &inputs.policies,
        &inputs.schemas,
        false,
    )
    .await;
    let p = match prepared {
        Err(err) => {
            let message = err.to_string();
            finish_failed(ctx, app, revision, err.reason(), message, started).await;
            return None;
        }
        Ok(p) if p.denied() => {
            let message = p
                .policy
                .denials()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            finish_failed(ctx, app, revision, "PolicyDenied", message, started).await;
            return None;
        }
        Ok(p) => p,
    };
    let applied = Applied {
        prepared: &p,
        context,
        recording: &recording,
        started,
    };
    apply(ctx, inputs, app, &gated, applied).await;
    p.resolution.requeue_after
}

/// A prepared app on its way to the cluster.
struct Applied<'a> {
    prepared: &'a Prepared,
    context: rest::Fingerprint,
    recording: &'a Recording,
    started: Instant,
}

/// Applies a prepared app: the Flux notification and image automation objects it carries
/// are used, not applied; the rest is synced, recorded, and handed to its rollout.
async fn apply(
    ctx: &Ctx,
    inputs: &Inputs<'_>,
    app: &AppDef,
    gated: &rollout::Round<'_>,
    applied: Applied<'_>,
) {
    let revision = inputs.revision;
    let p = applied.prepared;
    let mut spec = app.spec.clone();
    if !p.resolution.prune_allowed() {
        spec.prune = false;
    }
    let mut objects = p.manifests();
    let found = crate::notify::sources::take(&mut objects, &spec.target_namespace);
    ctx.notifier
        .set_app_sources(&spec.name, &spec.target_namespace, found)
        .await;
    let images = crate::images::flux::take(
        &mut objects,
        &spec.target_namespace,
        inputs.source,
        &ctx.triggers.keys().cloned().collect::<Vec<_>>(),
    );
    ctx.images
        .set_app_objects(&spec.name, inputs.source, images);
    notify::sync_started(ctx, &spec.name, revision).await;
    let result = ctx.engine.sync(&spec, revision, objects).await;
    let synced = rollout::Synced::of(&result);
    at_rest::remember(
        ctx,
        app,
        revision,
        applied.context,
        applied.recording,
        p,
        &result,
    );
    finish_synced(ctx, app, p, result, applied.started).await;
    rollout::after_sync(ctx, app, revision, synced, gated).await;
}
