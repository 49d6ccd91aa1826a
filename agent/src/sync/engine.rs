//! The engine: the per-app sync, reading top to bottom as stages, and the multi-app runner.
//!
//! ```text
//! prepare -> read inventory -> namespace -> pre-sync hooks -> apply (staged) -> prune
//!         -> write inventory -> health
//! ```
//!
//! Every stage failure has its own [`SyncError`] variant and a stable [`SyncError::reason`].
//! Apps sync in parallel, at most [`EngineConfig::concurrency`] at once; one app's failure
//! never blocks another. The state each app needs between syncs (what was applied, the
//! hashes) is kept in memory and mirrored to the inventory ConfigMap, which is all a
//! restarted agent needs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future::join_all;
use kube::Client;
use serde::{Deserialize, Serialize};

use tokio::sync::{Semaphore, broadcast, watch};
use tracing::Instrument;

use super::apply::ApplyError;
use super::changeset::ChangeSet;
use super::client::Resolver;
use super::compare::IgnoreRule;
use super::drift::{Correction, DriftShared, WatchIndex};
use super::health::Health;
use super::hooks::{HookError, HookSettings};
use super::inventory::{Inventory, InventoryError};
pub(super) use super::managed::Managed;
use super::order::OrderError;
use super::plan::PlanError;
use super::prune::PruneError;
use super::secret::Manifest;
use super::stages;

/// Settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The agent's namespace, where inventories are stored.
    pub namespace: String,
    /// The server-side apply field manager.
    pub field_manager: String,
    /// The largest share (percent) of an app's objects one sync may prune.
    pub max_prune_percent: u8,
    /// How many apps sync at once.
    pub concurrency: usize,
    /// How long to wait for applied objects to become healthy; zero assesses once, without
    /// waiting and without a timeout error.
    pub health_timeout: Duration,
    /// How often health is read while waiting.
    pub health_poll: Duration,
    /// How long to wait for applied CRDs to be Established.
    pub crd_timeout: Duration,
    /// Pre-sync hooks.
    pub hooks: HookSettings,
    /// First delay between two drift corrections of one object.
    pub drift_backoff_start: Duration,
    /// Longest delay between two drift corrections of one object.
    pub drift_backoff_cap: Duration,
    /// Above this many namespaces of one resource, drift watches the resource cluster-wide
    /// (with Tether's label selector) instead of one watch per namespace.
    pub max_namespaced_watches: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            namespace: "tether-system".into(),
            field_manager: "tether".into(),
            max_prune_percent: 50,
            concurrency: 8,
            health_timeout: Duration::from_secs(300),
            health_poll: Duration::from_secs(2),
            crd_timeout: Duration::from_secs(60),
            hooks: HookSettings {
                timeout: Duration::from_secs(600),
                poll: Duration::from_secs(2),
                delete_on_success: true,
            },
            drift_backoff_start: Duration::from_secs(1),
            drift_backoff_cap: Duration::from_secs(300),
            max_namespaced_watches: 4,
        }
    }
}

fn yes() -> bool {
    true
}

/// One app as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppSpec {
    /// The app's name (a DNS label; it names the inventory ConfigMap).
    pub name: String,
    /// The namespace of namespaced objects that name none.
    #[serde(default)]
    pub target_namespace: String,
    /// Create the target namespace when it is missing.
    #[serde(default)]
    pub create_namespace: bool,
    /// Delete objects that left Git (with the protections of [`super::prune`]).
    #[serde(default = "yes")]
    pub prune: bool,
    /// Revert drift as soon as it is seen.
    #[serde(default = "yes")]
    pub self_heal: bool,
    /// Fields left out of drift detection.
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
    /// Overrides [`EngineConfig::max_prune_percent`] for this app.
    #[serde(default)]
    pub max_prune_percent: Option<u8>,
    /// Which applied objects gate the app's health, and for how long (every object within
    /// [`EngineConfig::health_timeout`] when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthGate>,
}

/// The objects whose health an app waits for, and how long.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthGate {
    /// Overrides [`EngineConfig::health_timeout`].
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Only the applied objects these select are assessed (none when empty); every applied
    /// object when absent.
    #[serde(default)]
    pub only: Option<Vec<super::compare::Target>>,
}

impl HealthGate {
    /// Whether the health of `object` is assessed.
    #[must_use]
    pub fn assesses(&self, object: &super::ObjectRef) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|t| t.matches(object)))
    }
}

impl AppSpec {
    /// An app with prune and self-heal on.
    pub fn new(name: &str, target_namespace: &str) -> Self {
        Self {
            name: name.to_owned(),
            target_namespace: target_namespace.to_owned(),
            create_namespace: false,
            prune: true,
            self_heal: true,
            ignore: Vec::new(),
            max_prune_percent: None,
            health: None,
        }
    }
}

/// Why a sync did not complete; each variant is a stage.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The app's settings are invalid.
    #[error("app {app}: field {field}: {problem}")]
    InvalidApp {
        /// The app.
        app: String,
        /// The field.
        field: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The desired objects could not be prepared.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The desired objects could not be ordered.
    #[error(transparent)]
    Order(#[from] OrderError),
    /// Reading or writing the inventory failed.
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The target namespace could not be created.
    #[error("create namespace {namespace}: {source}")]
    NamespaceFailed {
        /// The namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: ApplyError,
    },
    /// A pre-sync hook failed: nothing else was applied.
    #[error(transparent)]
    Hook(#[from] HookError),
    /// Objects of a stage could not be applied; later stages were not applied.
    #[error("apply failed in stage {stage}: {failed} objects; first: {first}")]
    ApplyFailed {
        /// The stage (`crds`, `wave 0`, ...).
        stage: String,
        /// How many objects failed.
        failed: usize,
        /// The first failure, with the API's message.
        first: String,
    },
    /// An applied CRD did not become Established in time.
    #[error("CRD {object} is not Established after {after:?}")]
    CrdNotEstablished {
        /// The CRD.
        object: String,
        /// The timeout.
        after: Duration,
    },
    /// Prune was blocked or failed.
    #[error(transparent)]
    Prune(#[from] PruneError),
    /// The sync task ended abnormally (a bug): nothing more is known.
    #[error("the sync of app {app} ended abnormally: {message}")]
    Aborted {
        /// The app.
        app: String,
        /// What the runtime reported.
        message: String,
    },
    /// The pre-sync hooks of this content failed at an earlier sync and are not run again.
    #[error("{message} (not run again for the same content: commit a change to retry)")]
    HookFailedBefore {
        /// The earlier failure.
        message: String,
    },
    /// This replica may not write the app now (shard fencing): nothing more was written.
    #[error(transparent)]
    Fenced(#[from] super::fence::Fenced),
    /// Objects did not become healthy in time.
    #[error("health timeout after {after:?}: {object}: {reason}")]
    HealthTimeout {
        /// The first object still not healthy.
        object: String,
        /// Why it is not.
        reason: String,
        /// The timeout.
        after: Duration,
    },
}

impl SyncError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidApp { .. } => "InvalidApp",
            Self::Plan(e) => e.reason(),
            Self::Order(e) => e.reason(),
            Self::Inventory(e) => e.reason(),
            Self::NamespaceFailed { .. } => "NamespaceFailed",
            Self::Hook(e) => e.reason(),
            Self::HookFailedBefore { .. } => "HookFailed",
            Self::ApplyFailed { .. } => "ApplyFailed",
            Self::CrdNotEstablished { .. } => "CrdNotEstablished",
            Self::Prune(e) => e.reason(),
            Self::HealthTimeout { .. } => "HealthTimeout",
            Self::Aborted { .. } => "SyncAborted",
            Self::Fenced(_) => "Fenced",
        }
    }
}

/// The outcome of one sync of one app.
#[derive(Debug)]
pub struct SyncResult {
    /// The app.
    pub app: String,
    /// The revision synced.
    pub revision: String,
    /// What happened to each object.
    pub changes: ChangeSet,
    /// The app's health after the sync.
    pub health: Health,
    /// The stage that failed, if any.
    pub error: Option<SyncError>,
}

impl SyncResult {
    /// `Succeeded`, or the failed stage's reason.
    pub fn reason(&self) -> &'static str {
        self.error.as_ref().map_or("Succeeded", SyncError::reason)
    }

    /// Whether every stage completed.
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }
}

/// What the engine keeps of one app between syncs.
#[derive(Debug)]
pub(super) struct AppState {
    pub(super) spec: AppSpec,
    pub(super) inventory: Inventory,
    /// The last write of `inventory` to the cluster failed: the next sync writes it even
    /// when nothing changed.
    pub(super) unsaved: bool,
    pub(super) objects: BTreeMap<super::object::ObjectRef, Managed>,
    /// The digest whose pre-sync hooks failed, and why: those hooks are not run again (their
    /// failed Job stays for its logs) until the content changes or the agent restarts.
    pub(super) failed_hooks: Option<(String, String)>,
}

/// One app's state behind the lock a sync or a drift correction holds.
#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) state: tokio::sync::Mutex<Option<AppState>>,
}

pub(super) struct Inner {
    pub(super) client: Client,
    pub(super) resolver: Resolver,
    pub(super) config: EngineConfig,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    semaphore: Arc<Semaphore>,
    pub(super) index: Mutex<WatchIndex>,
    pub(super) targets: watch::Sender<u64>,
    pub(super) drift: DriftShared,
    /// Asked right before every write of an app.
    pub(super) fence: super::fence::Fence,
    /// The resolved resources of the objects kept, one per kind.
    pub(super) kinds: super::managed::Kinds,
}

/// The sync engine; cheap to clone (shared).
#[derive(Clone)]
pub struct Engine {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Engine {
    /// An engine that talks to the cluster through `client`.
    pub fn new(client: Client, config: EngineConfig) -> Self {
        Self::fenced(client, config, super::fence::Fence::default())
    }

    /// An engine whose every write of an app is first checked by `fence`.
    pub fn fenced(client: Client, config: EngineConfig, fence: super::fence::Fence) -> Self {
        let (targets, _) = watch::channel(0);
        let (corrections, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                resolver: Resolver::new(client.clone()),
                client,
                semaphore: Arc::new(Semaphore::new(config.concurrency.max(1))),
                config,
                slots: Mutex::new(HashMap::new()),
                index: Mutex::new(WatchIndex::default()),
                targets,
                drift: DriftShared::new(corrections),
                fence,
                kinds: super::managed::Kinds::default(),
            }),
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub(super) fn slot(&self, app: &str) -> Arc<Slot> {
        lock(&self.inner.slots)
            .entry(app.to_owned())
            .or_default()
            .clone()
    }

    pub(super) fn existing_slot(&self, app: &str) -> Option<Arc<Slot>> {
        lock(&self.inner.slots).get(app).cloned()
    }

    /// Syncs one app to `desired` at `revision`: waits for a concurrency permit, then runs
    /// the stages. Never panics on bad input; every failure is in [`SyncResult::error`].
    pub async fn sync<M: Into<Manifest>>(
        &self,
        app: &AppSpec,
        revision: &str,
        desired: Vec<M>,
    ) -> SyncResult {
        let desired: Vec<Manifest> = desired.into_iter().map(Into::into).collect();
        let span = tracing::info_span!("sync", app = %app.name, revision = %revision);
        async {
            let _permit = self.inner.semaphore.clone().acquire_owned().await.ok();
            let slot = self.slot(&app.name);
            let mut state = slot.state.lock().await;
            let mut run = stages::Run::new(self, app, revision);
            let error = run.stages(&mut state, desired).await.err();
            self.update_index(&app.name, state.as_ref());
            let (changes, mut health) = run.finish();
            if let Some(err) = &error {
                health = health.worst(Health::Degraded(format!("{}: {err}", err.reason())));
            }
            match &error {
                None => tracing::info!(
                    created = changes.count(super::changeset::Action::Created),
                    configured = changes.count(super::changeset::Action::Configured),
                    pruned = changes.count(super::changeset::Action::Pruned),
                    health = health.status(),
                    "synced"
                ),
                Some(err) => tracing::warn!(reason = err.reason(), error = %err, "sync failed"),
            }
            SyncResult {
                app: app.name.clone(),
                revision: revision.to_owned(),
                changes,
                health,
                error,
            }
        }
        .instrument(span)
        .await
    }

    /// Removes an app whose directory left Git: prunes what its inventory lists (protected
    /// objects are orphaned and left running, as in any prune) and deletes the inventory.
    /// The caller decides that the app is really gone (a good snapshot, not a failed fetch or
    /// an empty discovery); the per-app share guard does not apply, since every object goes.
    pub async fn remove(&self, app: &AppSpec, revision: &str) -> SyncResult {
        let span = tracing::info_span!("remove", app = %app.name, revision = %revision);
        async {
            let _permit = self.inner.semaphore.clone().acquire_owned().await.ok();
            let slot = self.slot(&app.name);
            let mut state = slot.state.lock().await;
            let mut run = stages::Run::new(self, app, revision);
            let error = run.remove(&mut state).await.err();
            self.update_index(&app.name, state.as_ref());
            let gone = state.is_none();
            drop(state);
            if gone {
                lock(&self.inner.slots).remove(&app.name);
            }
            let (changes, mut health) = run.finish();
            match &error {
                None => tracing::info!(
                    pruned = changes.count(super::changeset::Action::Pruned),
                    orphaned = changes.count(super::changeset::Action::Orphaned),
                    "removed"
                ),
                Some(err) => {
                    health = health.worst(Health::Degraded(format!("{}: {err}", err.reason())));
                    tracing::warn!(reason = err.reason(), error = %err, "removal failed");
                }
            }
            SyncResult {
                app: app.name.clone(),
                revision: revision.to_owned(),
                changes,
                health,
                error,
            }
        }
        .instrument(span)
        .await
    }

    /// Syncs several apps in parallel (at most [`EngineConfig::concurrency`] at once); the
    /// results are in the order of `apps`.
    pub async fn sync_all<M: Into<Manifest> + Send + 'static>(
        &self,
        apps: Vec<(AppSpec, String, Vec<M>)>,
    ) -> Vec<SyncResult> {
        let tasks = apps.into_iter().map(|(app, revision, desired)| {
            let engine = self.clone();
            let name = app.name.clone();
            let rev = revision.clone();
            let handle = tokio::spawn(async move { engine.sync(&app, &revision, desired).await });
            async move {
                handle.await.unwrap_or_else(|err| SyncResult {
                    app: name.clone(),
                    revision: rev,
                    changes: ChangeSet::default(),
                    health: Health::Degraded(format!("the sync task ended abnormally: {err}")),
                    error: Some(SyncError::Aborted {
                        app: name,
                        message: err.to_string(),
                    }),
                })
            }
        });
        join_all(tasks).await
    }

    /// Stops correcting drift of `app` (a sync window without self-heal), or resumes it as
    /// its last sync set it.
    pub async fn pause_drift(&self, app: &str, paused: bool) {
        let Some(slot) = self.existing_slot(app) else {
            return;
        };
        let state = slot.state.lock().await;
        self.update_index(app, if paused { None } else { state.as_ref() });
    }

    /// Subscribes to drift corrections (each re-apply the drift watcher makes).
    pub fn subscribe_corrections(&self) -> broadcast::Receiver<Correction> {
        self.inner.drift.subscribe()
    }

    /// How many drift corrections were made for `app` since the engine started.
    pub fn corrections(&self, app: &str) -> u64 {
        self.inner.drift.count(app)
    }

    /// Whether `app` is as its last sync left it, and the drift watcher keeps it so: its state
    /// is known and its inventory saved, no pre-sync hook failed, self-heal is on and not
    /// paused, and no drift correction of its objects is scheduled or running. A resync of
    /// unchanged inputs would then write nothing, so the daemon skips it.
    pub fn at_rest(&self, app: &str) -> bool {
        let Some(slot) = self.existing_slot(app) else {
            return false;
        };
        let Ok(state) = slot.state.try_lock() else {
            return false;
        };
        state
            .as_ref()
            .is_some_and(|s| s.spec.self_heal && !s.unsaved && s.failed_hooks.is_none())
            && lock(&self.inner.index).has_app(app)
            && !self.inner.drift.busy(app)
    }

    fn update_index(&self, app: &str, state: Option<&AppState>) {
        let changed = {
            let mut index = lock(&self.inner.index);
            match state.filter(|s| s.spec.self_heal) {
                Some(s) => index.set_app(app, s.objects.iter()),
                None => index.remove_app(app),
            }
        };
        if changed {
            self.inner
                .targets
                .send_modify(|generation| *generation += 1);
        }
    }
}
