//! One generation of the daemon's work under one configuration: a loop per source (fetch on
//! an interval or a webhook, then the apps' pipelines and syncs), the drift watcher, and the
//! listener of drift corrections. [`Generation::stop`] lets the round in flight finish.

use super::DaemonError;
use record::{finish_failed, finish_synced};

mod at_rest;
mod corrections;
mod departed;
mod depends;
mod forward;
mod images;
mod imports;
mod inspect;
mod known;
mod notify;
mod ownership;
mod record;
mod requests;
mod rollout;
mod schemas;
mod sources;
mod waves;
mod windows;
mod written;
use super::pipeline;
use super::state::{Shared, Webhook};
use super::status::Events;
use crate::config::{Config, SourceSpec};
use crate::policy::PolicySet;
use crate::secrets::SecretsContext;
use crate::source::trigger::{self, Cause, Poll, Trigger};
use crate::source::{Source, SourceConfig};
use crate::sync::Engine;
use crate::telemetry::{AppLabel, SourceLabel};
pub(crate) use sources::source_config;
use sources::webhook_auth;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument as _;

/// What every round of a generation shares.
pub(super) struct Ctx {
    config: Config,
    client: kube::Client,
    engine: Engine,
    secrets: SecretsContext,
    state: Arc<Shared>,
    events: Events,
    /// Each source's trigger, by name: a drifted Secret asks for a round of its app's source.
    triggers: BTreeMap<String, Trigger>,
    /// Notifications.
    notifier: Arc<crate::notify::Notifier>,
    /// Gates after apply (apps with a `rollout:` block).
    gates: rollout::Gates,
    /// Rollbacks asked for by hand.
    rollout_requests: requests::Requests,
    /// Image automation.
    images: Arc<crate::images::controller::Controller>,
    /// The web UI's on-demand renders and refreshes.
    inspector: Arc<inspect::Inspector>,
    /// What each app's last successful sync was made of (work at rest).
    rest: super::rest::Rest,
    /// What each app's status ConfigMap last said (written only on change).
    written: written::Written,
    /// The apps recorded in the cluster, from the watch of the status ConfigMaps.
    known: known::Known,
    /// Sources whose next round another replica's webhook asked for (sharded).
    forwarded: forward::Forwarded,
    /// The schema catalog, kept while the cluster's CRDs do not change.
    schemas: schemas::Cached,
    /// This replica's shard membership, when apps are sharded across replicas.
    shard: Option<crate::daemon::shard::Member>,
}

/// A generation's running tasks.
pub(super) struct Generation {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}

impl Generation {
    /// Starts the work of `config`.
    pub(super) async fn start(
        config: Config,
        client: kube::Client,
        state: Arc<Shared>,
        secrets: SecretsContext,
        identity: &str,
        shard: Option<crate::daemon::shard::Member>,
    ) -> Result<Self, DaemonError> {
        // Sharded: every write of an app is fenced by this replica's membership.
        let fence = shard
            .as_ref()
            .map(crate::daemon::shard::Member::fence)
            .unwrap_or_default();
        let engine = Engine::fenced(
            client.clone(),
            crate::sync::EngineConfig {
                namespace: config.namespace.clone(),
                max_prune_percent: config.limits.max_prune_percent,
                concurrency: config.limits.concurrency,
                health_timeout: config.limits.health_timeout.0,
                hooks: crate::sync::hooks::HookSettings {
                    timeout: config.limits.hook_timeout.0,
                    ..crate::sync::EngineConfig::default().hooks
                },
                ..crate::sync::EngineConfig::default()
            },
            fence,
        );
        let mut sources = Vec::new();
        let mut hooks = BTreeMap::new();
        for spec in &config.sources {
            let sc = source_config(&config, spec)?;
            let trigger = Trigger::new();
            if let Some(auth) = webhook_auth(spec)? {
                hooks.insert(
                    spec.name.clone(),
                    Arc::new(Webhook {
                        auth,
                        url: spec.url.clone(),
                        trigger: trigger.clone(),
                    }),
                );
            }
            sources.push((spec.clone(), sc, trigger));
        }
        state.set_sources(
            &config
                .sources
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>(),
        );
        state.set_webhooks(hooks);
        state.set_triggers(
            sources
                .iter()
                .map(|(spec, _, trigger)| (spec.name.clone(), trigger.clone()))
                .collect(),
        );
        let events = Events::new(client.clone(), &config.namespace, identity);
        let triggers = sources
            .iter()
            .map(|(spec, _, trigger): &(SourceSpec, SourceConfig, Trigger)| {
                (spec.name.clone(), trigger.clone())
            })
            .collect();
        let notifier = Arc::new(
            crate::notify::Notifier::start(
                &config.notifications,
                Some(&client),
                &config.namespace,
                Arc::new(crate::notify::report::DaemonReport::new(
                    Arc::clone(&state),
                    Some(events.clone()),
                )),
            )
            .await,
        );
        if let Some(member) = shard.clone() {
            // Sharded: only the owner of an app keeps its ledger and sends its events.
            notifier.set_owner(Arc::new(move |app: &str| member.check(app).is_ok()));
        }
        let images = images::controller(&config, &client, &state, &triggers, identity);
        // Image automation writes to Git: with sharded replicas, only the leader runs it.
        let run_images = shard.is_none() || state.is_leader();
        let ctx = Arc::new_cyclic(|weak| Ctx {
            inspector: Arc::new(inspect::Inspector::new(weak.clone())),
            shard,
            gates: rollout::Gates::new(&client, &config),
            rollout_requests: requests::Requests::default(),
            images: Arc::clone(&images),
            rest: super::rest::Rest::default(),
            written: written::Written::default(),
            known: known::Known::default(),
            forwarded: forward::Forwarded::default(),
            schemas: schemas::Cached::default(),
            notifier,
            config,
            client,
            engine: engine.clone(),
            secrets,
            state,
            events,
            triggers,
        });
        ctx.state.set_inspector(Some(
            Arc::clone(&ctx.inspector) as Arc<dyn crate::server::ui::desired::Inspect>
        ));
        inspect::restore_suspended(&ctx).await;
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        {
            let engine = engine.clone();
            let rx = stop_rx.clone();
            tasks.spawn(async move { engine.run_drift(stopped(rx)).await });
        }
        tasks.spawn(corrections::corrections(Arc::clone(&ctx), stop_rx.clone()));
        tasks.spawn(requests::watch(Arc::clone(&ctx), stop_rx.clone()));
        tasks.spawn(forward::watch(Arc::clone(&ctx), stop_rx.clone()));
        if run_images {
            tasks.spawn(images.run(stopped(stop_rx.clone())));
        }
        {
            let stores = Arc::clone(&ctx.secrets.stores);
            let rx = stop_rx.clone();
            tasks.spawn(async move { stores.run_token_renewal(stopped(rx)).await });
        }
        for (spec, sc, trigger) in sources {
            tasks.spawn(source_loop(
                Arc::clone(&ctx),
                spec,
                sc,
                trigger,
                stop_rx.clone(),
            ));
        }
        Ok(Self { stop, tasks })
    }

    /// Stops: the rounds in flight finish (each within `grace`), then every task ends.
    pub(super) async fn stop(mut self, grace: std::time::Duration) {
        let _ = self.stop.send(true);
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(grace = ?grace, "work still running after the shutdown grace; stopping it");
            self.tasks.shutdown().await;
        }
    }

    /// Stops at once (leadership lost: another replica may already sync).
    pub(super) async fn abort(mut self) {
        let _ = self.stop.send(true);
        self.tasks.shutdown().await;
    }
}

async fn source_loop(
    ctx: Arc<Ctx>,
    spec: SourceSpec,
    config: SourceConfig,
    trigger: Trigger,
    stop: watch::Receiver<bool>,
) {
    let source = Arc::new(tokio::sync::Mutex::new(Source::new(config)));
    ctx.inspector.register(&spec.name, Arc::clone(&source));
    // The shutdown future waits for the round in flight (which holds the source's lock).
    let shutdown = {
        let source = Arc::clone(&source);
        async move {
            stopped(stop).await;
            let _round = source.lock().await;
        }
    };
    let poll = Poll {
        interval: spec.interval.0,
        jitter: 0.1,
    };
    // A round sooner than the poll when a Secret asks for it (an ExternalSecret's
    // refreshInterval, a retry after a failed resolution).
    let requeue: Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>> = Arc::default();
    trigger::run(trigger.clone(), poll, shutdown, |cause| {
        let ctx = Arc::clone(&ctx);
        let source = Arc::clone(&source);
        let name = spec.name.clone();
        let trigger = trigger.clone();
        let requeue = Arc::clone(&requeue);
        let interval = spec.interval.0;
        async move {
            let mut source = source.lock().await;
            let span = tracing::info_span!("round", source = %name, cause = ?cause);
            let after = round(&ctx, &name, &mut source, cause)
                .instrument(span)
                .await;
            let mut slot = requeue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(previous) = slot.take() {
                previous.abort();
            }
            if let Some(after) = after.filter(|a| *a < interval) {
                tracing::debug!(source = %name, after = ?after, "next round requested by a Secret");
                *slot = Some(tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    trigger.trigger();
                }));
            }
        }
    })
    .await;
    if let Some(pending) = requeue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
    {
        pending.abort();
    }
}

/// One round of a source; returns how soon a Secret wants the next one.
async fn round(
    ctx: &Ctx,
    name: &str,
    source: &mut Source,
    cause: Cause,
) -> Option<std::time::Duration> {
    let metrics = &ctx.state.metrics;
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
            ctx.state.source_round_done(name);
            return None;
        }
    };
    metrics.set_revision(name, &snapshot.revision);
    if forward && before.as_deref() != Some(snapshot.revision.as_str()) {
        forward::publish(ctx, name, &snapshot.revision).await;
    }
    ctx.inspector.remember(name, &snapshot);
    // Apps read from the snapshot's Argo CD and Flux objects join the configured ones.
    let (imported, import_errors) =
        crate::migrate::live::effective_reporting(&ctx.config, name, &snapshot.tree);
    let config = imported.as_ref().unwrap_or(&ctx.config);
    let apps = match pipeline::discover_apps(config, name, &snapshot.tree) {
        Ok(apps) => apps,
        Err(err) => {
            tracing::warn!(reason = err.reason(), error = %err, "app discovery failed");
            ctx.state.source_round_done(name);
            return None;
        }
    };
    let mut names: Vec<String> = apps.iter().map(|a| a.spec.name.clone()).collect();
    // An imported Application or Kustomization that cannot be mapped shows as its app, with
    // the error naming the object, file and field; its objects stay (it has not departed).
    // Errors naming no app go to the source's import status. Both are Events too.
    imports::record(ctx, name, imported.is_some(), import_errors, &mut names).await;
    departed::remove_departed(ctx, name, &names, &snapshot.revision).await;
    ctx.state.retain_apps(name, &names);
    ctx.images.retain_apps(name, &names);
    for app in &apps {
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
                s.trigger.clone_from(&why);
                s.commit = snapshot.commit.clone();
            }
            s.source = name.to_owned();
            s.path = app.path.to_string();
            s.namespace = app.spec.target_namespace.clone();
        });
    }
    // Sharded: only the apps that hash to this replica are synced here.
    let apps = ownership::owned(ctx, apps);
    notify::discovered(ctx, &apps, &snapshot.revision).await;
    // A suspended app keeps its objects and its status; it is neither synced nor departed.
    let mut apps = apps;
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
    let (policy_tree, policy_reads) = super::rest::record(&snapshot.tree);
    let policies =
        match PolicySet::load(&pipeline::policy_config(config, &apps), Some(&policy_tree)) {
            Ok(p) => p,
            Err(err) => {
                tracing::warn!(reason = err.reason(), error = %err, "policies do not load");
                for app in &apps {
                    let message = format!("{}: {err}", err.reason());
                    finish_failed(
                        ctx,
                        app,
                        &snapshot.revision,
                        "PolicyFailed",
                        message,
                        started,
                    )
                    .await;
                }
                ctx.state.source_round_done(name);
                return None;
            }
        };
    let schemas = match ctx.schemas.catalog(&ctx.client).await {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "the schemas cannot be set up");
            for app in &apps {
                finish_failed(
                    ctx,
                    app,
                    &snapshot.revision,
                    "Invalid",
                    err.to_string(),
                    started,
                )
                .await;
            }
            ctx.state.source_round_done(name);
            return None;
        }
    };
    let revision = snapshot.revision.clone();
    let policy_reads = policy_reads.reads();
    let wave_plan = waves::plan(ctx, &apps, &revision);
    let syncs = apps.iter().map(|app| {
        let wave_plan = &wave_plan;
        let policies = &policies;
        let schemas = &*schemas;
        let tree = &snapshot.tree;
        let revision = revision.as_str();
        let policy_reads = &policy_reads;
        async move {
            let gated = rollout::Round { policies, schemas };
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
            if let Some(why) = depends::waiting_for(ctx, config, app, revision) {
                return depends::wait(ctx, app, revision, &why).await;
            }
            if let Some(crate::rollout::wave::Decision::Wait(why)) = wave_plan.get(&app.spec.name) {
                return waves::wait(ctx, app, revision, why).await;
            }
            let context = super::rest::context(&app.spec, app.generator, policy_reads);
            if !manual && at_rest::skip(ctx, app, revision, tree, &context).await {
                return None;
            }
            let (recording_tree, recording) = super::rest::record(tree);
            let started = Instant::now();
            let prepared = pipeline::prepare(
                &recording_tree,
                config,
                app,
                revision,
                &ctx.secrets,
                policies,
                schemas,
                false,
            )
            .await;
            match prepared {
                Err(err) => {
                    let message = err.to_string();
                    finish_failed(ctx, app, revision, err.reason(), message, started).await;
                    None
                }
                Ok(p) if p.denied() => {
                    let message = p
                        .policy
                        .denials()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ");
                    finish_failed(ctx, app, revision, "PolicyDenied", message, started).await;
                    None
                }
                Ok(p) => {
                    let mut spec = app.spec.clone();
                    if !p.resolution.prune_allowed() {
                        spec.prune = false;
                    }
                    let result = {
                        let mut objects = p.manifests();
                        // Flux notification objects are used, not applied.
                        let found =
                            crate::notify::sources::take(&mut objects, &spec.target_namespace);
                        ctx.notifier
                            .set_app_sources(&spec.name, &spec.target_namespace, found)
                            .await;
                        // Flux image automation objects too.
                        let images = crate::images::flux::take(
                            &mut objects,
                            &spec.target_namespace,
                            name,
                            &ctx.triggers.keys().cloned().collect::<Vec<_>>(),
                        );
                        ctx.images.set_app_objects(&spec.name, name, images);
                        notify::sync_started(ctx, &spec.name, revision).await;
                        ctx.engine.sync(&spec, revision, objects).await
                    };
                    let synced = rollout::Synced::of(&result);
                    at_rest::remember(ctx, app, revision, context, &recording, &p, &result);
                    finish_synced(ctx, app, &p, result, started).await;
                    rollout::after_sync(ctx, app, revision, synced, &gated).await;
                    p.resolution.requeue_after
                }
            }
        }
    });
    let requeue = futures::future::join_all(syncs)
        .await
        .into_iter()
        .flatten()
        .min();
    at_rest::write_statuses(ctx, &apps).await;
    ctx.state.source_round_done(name);
    requeue
}
