//! What was notified and what waits to be delivered, per app, kept in the app's status
//! ConfigMap (`notified`) so that neither a restart, a reload nor a new leader sends an event
//! twice or loses one: the state machine's memory ([`AppMemory`]) and the pending queue (the
//! event records not yet delivered, at most [`PENDING_MAX`] per app). A record is the event
//! itself, whose texts are redacted already; never a provider's payload, URL or token.
//!
//! Writes go through a task of their own ([`Ledger::run_writer`]), latest state per app,
//! so syncing never waits for them. A provider's worker marks a record `sending` and waits
//! (bounded) until that state is written before its first attempt
//! ([`Ledger::persist_sending`]): an agent killed after a send and before the record is
//! cleared sends it again after a restart, with the same [`Event::event_id`], which
//! receivers de-duplicate by. With apps sharded across replicas, a replica writes the
//! ledger of the apps it owns only ([`Ledger::set_owner`]).

use super::event::Event;
use super::machine::{self, AppMemory, Decision, Observation};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// Pending event records kept per app at most (the oldest go first).
pub const PENDING_MAX: usize = 200;
/// The field manager of the notifier's writes.
pub const MANAGER: &str = "tether-notify";
/// Writes of one app tried at most while its status ConfigMap is not there (yet).
const WRITE_ATTEMPTS: u32 = 30;

/// One event waiting to be delivered to one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Its number in this process (numbers are given again when records are read back).
    pub id: u64,
    /// The provider, by name.
    pub provider: String,
    /// The event.
    pub event: Event,
    /// Whether an attempt to send it may have begun (written before the first attempt): a
    /// restart sends it again with the same event id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sending: bool,
}

/// Whether this replica may write an app's ledger and send its events.
pub type OwnerCheck = std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// What became of a record before its first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Its `sending` state is written.
    Written,
    /// The ledger does not keep it (no cluster, the app forgotten, or the write did not
    /// succeed in time): sent all the same.
    NotKept,
}

/// How long a worker waits for the `sending` state to be written before it sends anyway.
const PERSIST_WAIT: Duration = Duration::from_secs(15);

/// A new event id: 32 hex digits.
#[must_use]
pub fn new_event_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The memory and pending queue of every app this process notifies about.
pub struct Ledger {
    apps: Mutex<HashMap<String, AppMemory>>,
    next: AtomicU64,
    client: Option<kube::Client>,
    namespace: String,
    dirty: Mutex<BTreeSet<String>>,
    wake: Notify,
    /// Per app: the version of its memory last changed, and the last one written.
    versions: Mutex<HashMap<String, (u64, u64)>>,
    written: tokio::sync::watch::Sender<u64>,
    owner: std::sync::OnceLock<OwnerCheck>,
    /// Apps in the middle of an observation (a step of the state machine whose records are
    /// not added yet): not written until it ends, so that the memory is never kept without
    /// the events it decided.
    observing: Mutex<HashMap<String, u32>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Ledger {
    /// A ledger writing to the status ConfigMaps of `namespace` through `client` (none: kept
    /// in memory only).
    #[must_use]
    pub fn new(client: Option<kube::Client>, namespace: &str) -> Self {
        Self {
            apps: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            client,
            namespace: namespace.to_owned(),
            dirty: Mutex::new(BTreeSet::new()),
            wake: Notify::new(),
            versions: Mutex::new(HashMap::new()),
            written: tokio::sync::watch::channel(0).0,
            owner: std::sync::OnceLock::new(),
            observing: Mutex::new(HashMap::new()),
        }
    }

    /// Sets the check of which apps this replica owns (sharding); without it, every app.
    pub fn set_owner(&self, check: OwnerCheck) {
        let _ = self.owner.set(check);
    }

    /// Whether this replica may write the ledger of `app` and send its events.
    #[must_use]
    pub fn owns(&self, app: &str) -> bool {
        self.owner.get().is_none_or(|check| check(app))
    }

    /// Marks `app`'s memory as changed (to be written); returns its new version.
    fn changed(&self, app: &str) -> u64 {
        let version = {
            let mut versions = lock(&self.versions);
            let v = versions.entry(app.to_owned()).or_default();
            v.0 += 1;
            v.0
        };
        lock(&self.dirty).insert(app.to_owned());
        self.wake.notify_one();
        version
    }

    /// Records that `app`'s memory is written up to `version` (or given up on), waking the
    /// workers that wait for it.
    fn written_up_to(&self, app: &str, version: u64) {
        if let Some(v) = lock(&self.versions).get_mut(app) {
            v.1 = v.1.max(version);
        }
        self.written.send_modify(|n| *n += 1);
    }

    /// Marks `app`'s memory as changed after a step of the state machine (the decisions and
    /// the records they made are written together).
    pub fn touch(&self, app: &str) {
        {
            let mut observing = lock(&self.observing);
            if let Some(n) = observing.get_mut(app) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    observing.remove(app);
                }
            }
        }
        self.changed(app);
    }

    /// Starts an observation of `app`: it is not written until [`Ledger::touch`].
    pub fn begin(&self, app: &str) {
        *lock(&self.observing).entry(app.to_owned()).or_default() += 1;
    }

    /// Forgets `app` (removed, or now another replica's): nothing of it is written any
    /// more; its events already queued still go out, unkept.
    pub fn forget(&self, app: &str) {
        lock(&self.apps).remove(app);
        lock(&self.dirty).remove(app);
        lock(&self.versions).remove(app);
        self.written.send_modify(|n| *n += 1);
    }

    /// Marks the record `id` of `app` as `sending` and waits (at most [`PERSIST_WAIT`])
    /// until that state is written, so that a restart after the send sends it again with
    /// the same event id rather than a new event, or not at all.
    pub async fn persist_sending(&self, app: &str, id: u64) -> Kept {
        if self.client.is_none() {
            return Kept::NotKept;
        }
        let marked = {
            let mut apps = lock(&self.apps);
            apps.get_mut(app)
                .and_then(|m| m.pending.iter_mut().find(|r| r.id == id))
                .map(|r| std::mem::replace(&mut r.sending, true))
        };
        let version = match marked {
            None => return Kept::NotKept,
            // Kept as sending already (read back after a restart, or a retry).
            Some(true) => lock(&self.versions).get(app).map_or(0, |v| v.0),
            Some(false) => self.changed(app),
        };
        let mut rx = self.written.subscribe();
        let wait = async {
            loop {
                let state = lock(&self.versions).get(app).copied();
                match state {
                    None => return Kept::NotKept,
                    Some((_, written)) if written >= version => return Kept::Written,
                    Some(_) => {}
                }
                if rx.changed().await.is_err() {
                    return Kept::NotKept;
                }
            }
        };
        let kept = tokio::time::timeout(PERSIST_WAIT, wait)
            .await
            .unwrap_or(Kept::NotKept);
        if kept == Kept::NotKept {
            tracing::warn!(
                app,
                "a notification is sent before its sending state could be kept"
            );
        }
        kept
    }

    /// Whether `app` is known in this process (else to be read from its status first).
    #[must_use]
    pub fn knows(&self, app: &str) -> bool {
        lock(&self.apps).contains_key(app)
    }

    /// Sets the memory of `app` from its status (`stored`), unless known already; returns
    /// the records that were pending there, numbered anew, to be queued again.
    pub fn restore(&self, app: &str, stored: Option<&str>) -> Vec<Record> {
        let mut apps = lock(&self.apps);
        if apps.contains_key(app) {
            return Vec::new();
        }
        let mut memory = stored.map(AppMemory::from_json).unwrap_or_default();
        for record in &mut memory.pending {
            record.id = self.next.fetch_add(1, Ordering::Relaxed);
            record.event.id = record.id;
            record.event.app = app.to_owned();
            if record.event.event_id.is_empty() {
                record.event.event_id = new_event_id();
            }
        }
        let pending = memory.pending.clone();
        apps.insert(app.to_owned(), memory);
        // What was read back is kept as it is.
        lock(&self.versions).insert(app.to_owned(), (0, 0));
        pending
    }

    /// Applies one observation of `app` to its memory (see [`machine::step`]).
    pub fn step(
        &self,
        app: &str,
        observation: &Observation,
        now: SystemTime,
        reminder: Option<Duration>,
    ) -> Vec<Decision> {
        // Not marked as changed here: the caller adds the records of the decisions, then
        // [`Ledger::touch`]es, so that the memory is never written without them.
        let mut apps = lock(&self.apps);
        let memory = apps.entry(app.to_owned()).or_default();
        machine::step(memory, observation, now, reminder)
    }

    /// Keeps `event` as the last notice of its condition, while the condition holds.
    pub fn held_event(&self, event: &Event) {
        let mut apps = lock(&self.apps);
        if let Some(held) = apps
            .get_mut(&event.app)
            .and_then(|m| m.held.get_mut(&event.kind))
        {
            let mut event = event.clone();
            event.id = 0;
            held.event = Some(event);
        }
    }

    /// The fingerprint of `app`'s condition `kind`, while it holds.
    #[must_use]
    pub fn held_fingerprint(&self, app: &str, kind: super::event::Kind) -> Option<String> {
        lock(&self.apps)
            .get(app)
            .and_then(|m| m.held.get(&kind))
            .map(|h| h.fingerprint.clone())
    }

    /// The last notices of the conditions of `app` that hold.
    #[must_use]
    pub fn holding(&self, app: &str) -> Vec<Event> {
        lock(&self.apps)
            .get(app)
            .map(|m| m.held.values().filter_map(|h| h.event.clone()).collect())
            .unwrap_or_default()
    }

    /// Keeps `event` as pending for `provider`; returns its number.
    pub fn add(&self, provider: &str, event: &Event) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let mut record = Record {
            id,
            provider: provider.to_owned(),
            event: event.clone(),
            sending: false,
        };
        record.event.id = id;
        {
            let mut apps = lock(&self.apps);
            let pending = &mut apps.entry(event.app.clone()).or_default().pending;
            if pending.len() >= PENDING_MAX {
                let dropped = pending.remove(0);
                tracing::warn!(app = %event.app, provider = %dropped.provider, kind = dropped.event.kind.name(), "pending notifications of the app at their limit: the oldest is no longer kept");
            }
            pending.push(record);
        }
        self.changed(&event.app);
        id
    }

    /// Forgets the pending record `id` of `app` (delivered, given up on or dropped).
    pub fn done(&self, app: &str, id: u64) {
        if id == 0 {
            return;
        }
        let removed = {
            let mut apps = lock(&self.apps);
            apps.get_mut(app).is_some_and(|m| {
                let before = m.pending.len();
                m.pending.retain(|r| r.id != id);
                m.pending.len() != before
            })
        };
        if removed {
            self.changed(app);
        }
    }

    /// The memory of `app` as kept in its status, when known.
    #[must_use]
    pub fn json(&self, app: &str) -> Option<String> {
        lock(&self.apps).get(app).map(AppMemory::to_json)
    }

    /// How many events of `app` wait.
    #[must_use]
    pub fn pending(&self, app: &str) -> usize {
        lock(&self.apps).get(app).map_or(0, |m| m.pending.len())
    }

    async fn write(&self, client: &kube::Client, app: &str, json: &str) -> Result<(), kube::Error> {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &self.namespace);
        let name = crate::daemon::status::config_map_name(app);
        // A merge patch, so the ConfigMap is never created here: the status writer makes it
        // (with its labels), and a removed app's status is not brought back.
        let body = serde_json::json!({"data": {"notified": json}});
        let params = PatchParams {
            field_manager: Some(MANAGER.to_owned()),
            ..PatchParams::default()
        };
        api.patch(&name, &params, &Patch::Merge(&body))
            .await
            .map(|_| ())
    }

    /// Writes what changed, latest state per app, until aborted. A write that fails is tried
    /// again a little later, at most [`WRITE_ATTEMPTS`] times in a row for an app.
    pub async fn run_writer(&self) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let mut failures: HashMap<String, u32> = HashMap::new();
        loop {
            self.wake.notified().await;
            let apps: Vec<String> = std::mem::take(&mut *lock(&self.dirty))
                .into_iter()
                .collect();
            let mut again = false;
            for app in apps {
                if !self.owns(&app) {
                    // Another replica's now: it reads the ledger and takes over.
                    tracing::info!(
                        app,
                        "the app is another replica's: its notifications are no longer kept here"
                    );
                    self.forget(&app);
                    continue;
                }
                let version = lock(&self.versions).get(&app).map_or(0, |v| v.0);
                let json = {
                    let apps = lock(&self.apps);
                    if lock(&self.observing).contains_key(&app) {
                        // Written when the observation ends (it marks the app again).
                        continue;
                    }
                    apps.get(&app).map(AppMemory::to_json)
                };
                let Some(json) = json else {
                    self.written_up_to(&app, version);
                    continue;
                };
                match self.write(&client, &app, &json).await {
                    Ok(()) => {
                        failures.remove(&app);
                        self.written_up_to(&app, version);
                    }
                    Err(err) => {
                        let n = failures.entry(app.clone()).or_default();
                        *n += 1;
                        tracing::debug!(app, attempt = *n, error = %err, "keeping what was notified failed");
                        if *n < WRITE_ATTEMPTS {
                            lock(&self.dirty).insert(app);
                            again = true;
                        } else {
                            tracing::warn!(app, error = %err, "what was notified could not be kept in the app's status");
                            failures.remove(&app);
                            // The workers waiting for it send after their bounded wait.
                        }
                    }
                }
            }
            if again {
                tokio::time::sleep(Duration::from_millis(500)).await;
                self.wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::{Commit, Condition, Kind, Severity};

    fn event(app: &str) -> Event {
        Event {
            app: app.into(),
            namespace: "shop".into(),
            cluster: "c".into(),
            kind: Kind::SyncFailed,
            resolved: false,
            reminder: false,
            severity: Severity::Error,
            commit: Commit::default(),
            stage: Some("render".into()),
            reason: "RenderFailed".into(),
            message: "bad YAML".into(),
            link: None,
            channel: None,
            time: "2026-12-07T12:00:00Z".into(),
            at: SystemTime::UNIX_EPOCH,
            id: 0,
            event_id: String::new(),
        }
    }

    #[test]
    fn pending_records_and_memory_survive_a_restart_through_the_status() {
        let ledger = Ledger::new(None, "tether-system");
        let failed = Observation {
            evaluated: vec![Kind::SyncFailed],
            seen: vec![Condition {
                kind: Kind::SyncFailed,
                fingerprint: "render".into(),
                stage: None,
                reason: "RenderFailed".into(),
                message: String::new(),
            }],
            synced_revision: None,
        };
        assert_eq!(
            ledger.step("web", &failed, SystemTime::now(), None).len(),
            1
        );
        let delivered = ledger.add("slack", &event("web"));
        let waiting = ledger.add("hook", &event("web"));
        ledger.done("web", delivered);
        let stored = ledger.json("web").expect("known");
        assert!(!stored.contains("\"id\":0"), "{stored}");
        let restarted = Ledger::new(None, "tether-system");
        let again = restarted.restore("web", Some(&stored));
        assert_eq!(again.len(), 1, "only the undelivered one");
        assert_eq!(again[0].provider, "hook");
        assert_eq!(again[0].event.message, "bad YAML");
        assert_ne!(again[0].id, 0);
        assert_eq!(again[0].event.id, again[0].id);
        assert!(
            restarted
                .step("web", &failed, SystemTime::now(), None)
                .is_empty(),
            "the state that held is remembered"
        );
        restarted.done("web", again[0].id);
        assert_eq!(restarted.pending("web"), 0);
        assert!(restarted.restore("web", Some(&stored)).is_empty(), "known");
        let _ = waiting;
    }

    #[test]
    fn a_record_kept_as_sending_is_read_back_with_its_event_id() {
        let ledger = Ledger::new(None, "tether-system");
        let mut e = event("web");
        e.event_id = new_event_id();
        assert_eq!(e.event_id.len(), 32);
        let id = ledger.add("hook", &e);
        lock(&ledger.apps)
            .get_mut("web")
            .and_then(|m| m.pending.iter_mut().find(|r| r.id == id))
            .expect("kept")
            .sending = true;
        let stored = ledger.json("web").expect("known");
        assert!(stored.contains("\"sending\":true"), "{stored}");
        let restarted = Ledger::new(None, "tether-system");
        let again = restarted.restore("web", Some(&stored));
        assert_eq!(again.len(), 1);
        assert!(again[0].sending);
        assert_eq!(
            again[0].event.event_id, e.event_id,
            "the same id after a restart"
        );
        assert_ne!(new_event_id(), e.event_id);
        let old = stored.replace(&format!("\"eventId\":\"{}\",", e.event_id), "");
        let upgraded = Ledger::new(None, "tether-system").restore("web", Some(&old));
        assert_eq!(
            upgraded[0].event.event_id.len(),
            32,
            "a record of an older agent gets one"
        );
    }

    #[tokio::test]
    async fn without_a_cluster_a_record_is_sent_unkept_at_once() {
        let ledger = Ledger::new(None, "tether-system");
        let id = ledger.add("hook", &event("web"));
        assert_eq!(ledger.persist_sending("web", id).await, Kept::NotKept);
    }

    #[test]
    fn the_pending_queue_of_an_app_is_bounded() {
        let ledger = Ledger::new(None, "tether-system");
        for _ in 0..PENDING_MAX + 5 {
            ledger.add("hook", &event("web"));
        }
        assert_eq!(ledger.pending("web"), PENDING_MAX);
    }
}
