//! Drift self-heal: watch exactly the resources and namespaces of the apps' inventories and
//! re-apply a managed object as soon as someone changes a field Tether set, or deletes it.
//!
//! The watches carry Tether's label selector (`app.kubernetes.io/managed-by=tether`), so an
//! object whose label is removed is seen as gone and re-applied too. The watches are
//! metadata-only (`PartialObjectMetadata`): per object the engine keeps the resourceVersion it
//! last saw as applied, and an event with that version (a relist, Tether's own apply) costs
//! nothing. Any other version makes the object read once: it is cut down to the fields Tether
//! applied ([`super::compare`]) and its hash compared with the one recorded after the last
//! apply, so defaulting, status updates and fields of other managers (an HPA's replicas) cause
//! no write, and their version is remembered. No object is cached, and a Secret's values never
//! reach the process through a watch.
//!
//! Corrections of one object back off exponentially ([`EngineConfig::drift_backoff_start`],
//! doubling up to [`EngineConfig::drift_backoff_cap`] while the fight goes on, reset after a
//! quiet period), so a fight with another controller cannot become a hot loop. Each
//! correction is counted and broadcast ([`Engine::subscribe_corrections`]).
//!
//! The engine keeps no Secret values between syncs ([`super::secret`]): a drifted Secret is
//! not re-applied here; its correction asks for a sync of its app ([`Correction::resync`]).
//!
//! [`EngineConfig::drift_backoff_start`]: super::engine::EngineConfig::drift_backoff_start
//! [`EngineConfig::drift_backoff_cap`]: super::engine::EngineConfig::drift_backoff_cap

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::PartialObjectMeta;
use kube::runtime::{WatchStreamExt, watcher};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::apply;
use super::compare;
use super::engine::{AppState, Engine, lock};
use super::inventory;
use super::object::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, ObjectRef};
use super::watch_index::TargetKey;
pub(super) use super::watch_index::WatchIndex;

/// One drift correction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Correction {
    /// The app.
    pub app: String,
    /// The object re-applied.
    pub object: ObjectRef,
    /// It had been deleted and was created again.
    pub recreated: bool,
    /// The field manager that made the latest change Tether did not make (from the live
    /// object's `managedFields`), when known.
    pub changed_by: Option<String>,
    /// The object is a Secret, whose values the engine does not keep between syncs: it was
    /// not re-applied here, and the app must be synced again (rendered and resolved anew)
    /// to restore it.
    pub resync: bool,
}

/// The drift state shared with the engine: counters and the broadcast of corrections.
#[derive(Debug)]
pub(super) struct DriftShared {
    corrections: broadcast::Sender<Correction>,
    counts: Mutex<HashMap<String, u64>>,
    /// Corrections scheduled or running, by app.
    in_flight: Mutex<HashMap<String, usize>>,
}

impl DriftShared {
    pub(super) fn new(corrections: broadcast::Sender<Correction>) -> Self {
        Self {
            corrections,
            counts: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<Correction> {
        self.corrections.subscribe()
    }

    pub(super) fn count(&self, app: &str) -> u64 {
        lock(&self.counts).get(app).copied().unwrap_or(0)
    }

    /// Whether a correction of one of `app`'s objects is scheduled or running.
    pub(super) fn busy(&self, app: &str) -> bool {
        lock(&self.in_flight).get(app).is_some_and(|n| *n > 0)
    }

    fn started(&self, app: &str) {
        *lock(&self.in_flight).entry(app.to_owned()).or_insert(0) += 1;
    }

    fn finished(&self, app: &str) {
        let mut in_flight = lock(&self.in_flight);
        if let Some(n) = in_flight.get_mut(app) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_flight.remove(app);
            }
        }
    }

    fn record(&self, correction: Correction) {
        *lock(&self.counts)
            .entry(correction.app.clone())
            .or_insert(0) += 1;
        let _ = self.corrections.send(correction);
    }
}

/// The pause before the next correction of one object.
#[derive(Debug, Clone, Copy)]
struct Backoff {
    delay: Duration,
    last: Instant,
}

impl Backoff {
    /// After a correction at `now`: the delay doubles while corrections follow each other
    /// within twice the delay, and starts over after a quiet period.
    fn after(previous: Option<Self>, now: Instant, start: Duration, cap: Duration) -> Self {
        match previous {
            Some(b) if now.duration_since(b.last) <= b.delay * 2 => Self {
                delay: (b.delay * 2).min(cap),
                last: now,
            },
            _ => Self {
                delay: start,
                last: now,
            },
        }
    }

    fn next_allowed(&self) -> Instant {
        self.last + self.delay
    }
}

enum Seen {
    /// A change seen through a metadata-only watch, with the object's resourceVersion: when
    /// it is the version last seen as applied, nothing changed; else the object is read
    /// again to compare.
    Touched(ObjectRef, Option<String>),
    Gone(ObjectRef),
}

/// What a correction attempt did.
enum Outcome {
    /// No drift (or the object is no longer managed).
    Clean,
    /// Re-applied.
    Corrected,
    /// The re-apply failed: try again after the backoff.
    Retry,
}

type Key = (String, ObjectRef);

async fn watch_target(
    client: kube::Client,
    key: TargetKey,
    resource: ApiResource,
    tx: mpsc::Sender<Seen>,
) {
    // Metadata only (`PartialObjectMetadata`): the resourceVersion tells whether an object
    // changed since Tether last saw it as applied, and the full object is read only then.
    // A Secret's values never reach this process through a watch either.
    let api: Api<PartialObjectMeta<DynamicObject>> = match &key.namespace {
        Some(ns) => Api::namespaced_with(client, ns, &resource),
        None => Api::all_with(client, &resource),
    };
    let config =
        watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"));
    watch_metadata(api, config, resource, tx).await;
}

async fn watch_metadata(
    api: Api<PartialObjectMeta<DynamicObject>>,
    config: watcher::Config,
    resource: ApiResource,
    tx: mpsc::Sender<Seen>,
) {
    let reference = |meta: &kube::api::ObjectMeta| ObjectRef {
        group: resource.group.clone(),
        version: resource.version.clone(),
        kind: resource.kind.clone(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
    };
    let mut stream = watcher(api, config).default_backoff().boxed();
    while let Some(event) = stream.next().await {
        let seen = match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                Seen::Touched(reference(&o.metadata), o.metadata.resource_version)
            }
            Ok(watcher::Event::Delete(o)) => Seen::Gone(reference(&o.metadata)),
            Ok(_) => continue,
            Err(err) => {
                tracing::debug!(resource = %resource.plural, error = %err, "drift watch error; retrying");
                continue;
            }
        };
        if tx.send(seen).await.is_err() {
            return;
        }
    }
}

impl Engine {
    /// Runs the drift watcher until `shutdown` completes: watches follow the inventories of
    /// the apps synced with self-heal on, and drifted objects are re-applied.
    pub async fn run_drift(&self, shutdown: impl Future<Output = ()>) {
        let mut generations = self.inner.targets.subscribe();
        let (tx, mut rx) = mpsc::channel::<Seen>(4096);
        let mut watches: HashMap<TargetKey, JoinHandle<()>> = HashMap::new();
        let mut tasks: JoinSet<(Key, Outcome)> = JoinSet::new();
        let mut pending: HashMap<Key, bool> = HashMap::new();
        let mut backoff: HashMap<Key, Backoff> = HashMap::new();
        self.reconcile_watches(&mut watches, &tx);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                changed = generations.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.reconcile_watches(&mut watches, &tx);
                }
                Some(seen) = rx.recv() => {
                    if let Some(key) = self.drifted(seen) {
                        self.schedule(key, &mut pending, &backoff, &mut tasks);
                    }
                }
                Some(done) = tasks.join_next() => {
                    let Ok((key, outcome)) = done else { continue };
                    let again = pending.remove(&key).unwrap_or(false);
                    self.inner.drift.finished(&key.0);
                    let config = &self.inner.config;
                    if matches!(outcome, Outcome::Corrected | Outcome::Retry) {
                        let next = Backoff::after(
                            backoff.get(&key).copied(),
                            Instant::now(),
                            config.drift_backoff_start,
                            config.drift_backoff_cap,
                        );
                        backoff.insert(key.clone(), next);
                    }
                    if again || matches!(outcome, Outcome::Retry) {
                        self.schedule(key, &mut pending, &backoff, &mut tasks);
                    }
                }
            }
        }
        for (_, handle) in watches {
            handle.abort();
        }
        tasks.abort_all();
    }

    fn reconcile_watches(
        &self,
        watches: &mut HashMap<TargetKey, JoinHandle<()>>,
        tx: &mpsc::Sender<Seen>,
    ) {
        let wanted = lock(&self.inner.index).targets(self.inner.config.max_namespaced_watches);
        watches.retain(|key, handle| {
            let keep = wanted.contains_key(key);
            if !keep {
                handle.abort();
            }
            keep
        });
        for (key, resource) in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = watches.entry(key) {
                let key = slot.key().clone();
                tracing::debug!(resource = %resource.plural, namespace = ?key.namespace, "drift watch started");
                let client = self.inner.client.clone();
                slot.insert(tokio::spawn(watch_target(
                    client,
                    key,
                    resource,
                    tx.clone(),
                )));
            }
        }
    }

    /// The app and object to check when an event may be drift; `None` when the event shows
    /// the object as Tether left it.
    fn drifted(&self, seen: Seen) -> Option<Key> {
        let (reference, version) = match seen {
            Seen::Touched(r, v) => (r, v),
            Seen::Gone(r) => (r, None),
        };
        let app = lock(&self.inner.index).owner(&reference)?;
        let slot = self.existing_slot(&app)?;
        if let (Some(version), Ok(state)) = (&version, slot.state.try_lock()) {
            let managed = state.as_ref()?.objects.get(&reference)?;
            if !version.is_empty() && managed.resource_version == *version {
                return None;
            }
        }
        Some((app, reference))
    }

    fn schedule(
        &self,
        key: Key,
        pending: &mut HashMap<Key, bool>,
        backoff: &HashMap<Key, Backoff>,
        tasks: &mut JoinSet<(Key, Outcome)>,
    ) {
        if let Some(again) = pending.get_mut(&key) {
            *again = true;
            return;
        }
        pending.insert(key.clone(), false);
        self.inner.drift.started(&key.0);
        let not_before = backoff.get(&key).map(Backoff::next_allowed);
        let engine = self.clone();
        tasks.spawn(async move {
            if let Some(at) = not_before {
                tokio::time::sleep_until(at).await;
            }
            let outcome = engine.correct(&key.0, &key.1).await;
            (key, outcome)
        });
    }

    /// Re-reads one object under its app's lock and re-applies it when it drifted.
    async fn correct(&self, app: &str, reference: &ObjectRef) -> Outcome {
        let Some(slot) = self.existing_slot(app) else {
            return Outcome::Clean;
        };
        let mut guard = slot.state.lock().await;
        let Some(state) = guard.as_mut().filter(|s| s.spec.self_heal) else {
            return Outcome::Clean;
        };
        let Some(managed) = state.objects.get(reference).cloned() else {
            return Outcome::Clean;
        };
        let inner = &self.inner;
        let api = apply::api_for(&inner.client, &managed.resolved, &reference.namespace);
        let live = match apply::get(&api, reference).await {
            Ok(live) => live,
            Err(err) => {
                tracing::warn!(app, object = %reference, error = %err, "drift check could not read the object");
                return Outcome::Retry;
            }
        };
        let shape = managed.shape.value();
        let managers = compare::yielding_managers(reference, &state.spec.ignore);
        if let Some(live) = &live
            && (compare::live_hash_yielding(live, &shape, &managers) == managed.live
                || super::object::meta_str(live, "deletionTimestamp").is_some())
        {
            // Changed by someone, but not in a field Tether applied: remember the version,
            // so that its next watch events need no read.
            if let Some(m) = state.objects.get_mut(reference) {
                m.resource_version = super::object::meta_str(live, "resourceVersion")
                    .unwrap_or("")
                    .to_owned();
            }
            return Outcome::Clean;
        }
        if reference.is_secret() {
            tracing::info!(app, object = %reference, "a Secret drifted; asking for a sync of its app");
            let correction =
                Correction::of(app, reference, live.as_ref(), &inner.config.field_manager);
            inner.drift.record(Correction {
                resync: true,
                ..correction
            });
            return Outcome::Clean;
        }
        if inner.fence.check(app).is_err() {
            return Outcome::Clean;
        }
        let object = managed.object.value();
        let stripped = live
            .as_ref()
            .and_then(|l| compare::without_owned(&object, l, &managers));
        let new_live = match apply::apply(
            &api,
            reference,
            stripped.as_ref().unwrap_or(&object),
            &inner.config.field_manager,
        )
        .await
        {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(app, object = %reference, error = %err, "drift correction failed");
                return Outcome::Retry;
            }
        };
        let hash = compare::live_hash_yielding(&new_live, &shape, &managers);
        if let Some(m) = state.objects.get_mut(reference) {
            m.resource_version = super::object::meta_str(&new_live, "resourceVersion")
                .unwrap_or("")
                .to_owned();
        }
        if hash != managed.live {
            self.record_live_hash(app, state, reference, hash).await;
        }
        tracing::info!(app, object = %reference, recreated = live.is_none(), "drift corrected");
        let correction = Correction::of(app, reference, live.as_ref(), &inner.config.field_manager);
        inner.drift.record(correction);
        Outcome::Corrected
    }

    /// After a correction whose live projection differs from the one recorded (a field the
    /// server sets changed): the new hash goes into the app's state and its inventory.
    async fn record_live_hash(
        &self,
        app: &str,
        state: &mut AppState,
        reference: &ObjectRef,
        hash: String,
    ) {
        let inner = &self.inner;
        let before = state.inventory.clone();
        if let Some(m) = state.objects.get_mut(reference) {
            m.live.clone_from(&hash);
        }
        if let Some(e) = state.inventory.entries.get_mut(reference) {
            e.live = hash;
        }
        if before != state.inventory
            && inner.fence.check(app).is_ok()
            && let Err(err) = inventory::parts::store(
                &inventory::parts::Writer {
                    client: &inner.client,
                    namespace: &inner.config.namespace,
                    app,
                    field_manager: &inner.config.field_manager,
                    fence: &inner.fence,
                },
                &state.inventory,
                Some(&before),
            )
            .await
        {
            tracing::warn!(app, error = %err, "could not record the corrected object in the inventory");
        }
    }
}

impl Correction {
    /// A correction of `reference` (not a resync), `changed_by` the last manager of `live`
    /// other than Tether's.
    fn of(app: &str, reference: &ObjectRef, live: Option<&Value>, ours: &str) -> Self {
        Correction {
            app: app.to_owned(),
            object: reference.clone(),
            recreated: live.is_none(),
            changed_by: live.and_then(|l| last_other_manager(l, ours)),
            resync: false,
        }
    }
}

/// The manager of the most recent `managedFields` entry that is not `ours` (RFC 3339 times
/// compare as text).
fn last_other_manager(live: &serde_json::Value, ours: &str) -> Option<String> {
    live.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .filter_map(|e| {
            let manager = e.get("manager")?.as_str()?;
            let time = e
                .get("time")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("");
            (manager != ours).then_some((time, manager))
        })
        .max_by(|a, b| a.0.cmp(b.0))
        .map(|(_, manager)| manager.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_of_a_drift_is_the_latest_one_that_is_not_tether() {
        let live = serde_json::json!({"metadata": {"managedFields": [
            {"manager": "tether", "time": "2026-01-01T00:00:03Z"},
            {"manager": "kubectl-edit", "time": "2026-01-01T00:00:01Z"},
            {"manager": "kubectl-patch", "time": "2026-01-01T00:00:02Z"},
        ]}});
        assert_eq!(
            last_other_manager(&live, "tether").as_deref(),
            Some("kubectl-patch")
        );
        assert_eq!(last_other_manager(&serde_json::json!({}), "tether"), None);
    }

    #[test]
    fn corrections_back_off_while_the_fight_goes_on_and_reset_after_quiet() {
        let (start, cap) = (Duration::from_secs(1), Duration::from_secs(300));
        let t0 = Instant::now();
        let mut b = Backoff::after(None, t0, start, cap);
        assert_eq!(b.delay, start);
        let mut now = t0;
        for expected in [2, 4, 8, 16, 32, 64, 128, 256, 300, 300] {
            now = b.next_allowed();
            b = Backoff::after(Some(b), now, start, cap);
            assert_eq!(b.delay, Duration::from_secs(expected));
        }
        let quiet = now + Duration::from_secs(601);
        assert_eq!(Backoff::after(Some(b), quiet, start, cap).delay, start);
    }
}
