//! One generation of the daemon's work under one configuration: a loop per source (fetch on
//! an interval or a webhook, then the apps' pipelines and syncs), the drift watcher, and the
//! listener of drift corrections. [`Generation::stop`] lets the round in flight finish.

use super::DaemonError;
use round::round;

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
mod round;
mod schemas;
mod sources;
mod waves;
mod windows;
mod written;
use super::pipeline;
use super::state::{Shared, Webhook};
use super::status::Events;
use crate::config::{Config, SourceSpec};
use crate::secrets::SecretsContext;
use crate::source::trigger::{self, Poll, Trigger};
use crate::source::{Source, SourceConfig};
use crate::sync::Engine;
pub(crate) use sources::source_config;
use sources::webhook_auth;
use std::collections::BTreeMap;
use std::sync::Arc;
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
        let engine = engine_for(&config, &client, shard.as_ref());
        let sources = declare_sources(&config, &state)?;
        let events = Events::new(client.clone(), &config.namespace, identity);
        let triggers = sources
            .iter()
            .map(|(spec, _, trigger)| (spec.name.clone(), trigger.clone()))
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
            engine,
            secrets,
            state,
            events,
            triggers,
        });
        ctx.state.set_inspector(Some(
            Arc::clone(&ctx.inspector) as Arc<dyn crate::server::ui::desired::Inspect>
        ));
        inspect::restore_suspended(&ctx).await;
        Ok(spawn_tasks(&ctx, run_images.then_some(images), sources))
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

/// The sync engine of a generation; sharded, every write of an app is fenced by this
/// replica's membership.
fn engine_for(
    config: &Config,
    client: &kube::Client,
    shard: Option<&crate::daemon::shard::Member>,
) -> Engine {
    let fence = shard
        .map(crate::daemon::shard::Member::fence)
        .unwrap_or_default();
    Engine::fenced(
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
    )
}

/// A source of a generation: its spec, how it is fetched, what starts its rounds.
type SourceTask = (SourceSpec, SourceConfig, Trigger);

/// The generation's sources, with their webhooks and triggers declared in the state.
fn declare_sources(config: &Config, state: &Shared) -> Result<Vec<SourceTask>, DaemonError> {
    let mut sources = Vec::new();
    let mut hooks = BTreeMap::new();
    for spec in &config.sources {
        let sc = source_config(config, spec)?;
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
    Ok(sources)
}

/// The generation's tasks: the drift watcher, corrections, rollback requests, forwarded
/// webhooks, image automation (when given), token renewal and a loop per source.
fn spawn_tasks(
    ctx: &Arc<Ctx>,
    images: Option<Arc<crate::images::controller::Controller>>,
    sources: Vec<SourceTask>,
) -> Generation {
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    {
        let engine = ctx.engine.clone();
        let rx = stop_rx.clone();
        tasks.spawn(async move { engine.run_drift(stopped(rx)).await });
    }
    tasks.spawn(corrections::corrections(Arc::clone(ctx), stop_rx.clone()));
    tasks.spawn(requests::watch(Arc::clone(ctx), stop_rx.clone()));
    tasks.spawn(forward::watch(Arc::clone(ctx), stop_rx.clone()));
    if let Some(images) = images {
        tasks.spawn(images.run(stopped(stop_rx.clone())));
    }
    {
        let stores = Arc::clone(&ctx.secrets.stores);
        let rx = stop_rx.clone();
        tasks.spawn(async move { stores.run_token_renewal(stopped(rx)).await });
    }
    for (spec, sc, trigger) in sources {
        tasks.spawn(source_loop(
            Arc::clone(ctx),
            spec,
            sc,
            trigger,
            stop_rx.clone(),
        ));
    }
    Generation { stop, tasks }
}
