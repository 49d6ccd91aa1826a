//! What the daemon knows about each app and source, shared with the HTTP server.

use crate::source::trigger::Trigger;
use crate::source::webhook::WebhookAuth;
use crate::telemetry::{LogControl, Metrics};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One app's status, as `/api/v1/apps` shows it. Never a secret value: change sets are
/// redacted by the engine and messages come from errors that carry no value.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    /// The app.
    pub name: String,
    /// Its source.
    pub source: String,
    /// Its directory.
    pub path: String,
    /// Its target namespace.
    pub namespace: String,
    /// The revision last synced (or attempted).
    pub revision: String,
    /// When the last sync ended (RFC 3339).
    pub last_sync: Option<String>,
    /// `Pending`, `Succeeded`, `Failed`, `Denied`.
    pub sync: String,
    /// `Succeeded` or the failed stage's reason.
    pub reason: String,
    /// `Healthy`, `Progressing`, `Degraded`, `Unknown`.
    pub health: String,
    /// The last sync's change set, redacted.
    pub changes: Vec<crate::sync::Change>,
    /// Drift corrections since the agent started.
    pub drift_corrections: u64,
    /// Errors of the last sync (stage failures, failed Secrets, policy denials).
    pub errors: Vec<String>,
    /// Whether a first sync finished (or failed).
    pub first_sync_done: bool,
    /// Gates, hold and revision history (apps with a `rollout:` block; kept in the status
    /// ConfigMap under `rollout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::rollout::RolloutStatus>,
    /// The sync windows in force for the app.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<crate::rollout::window::Active>,
    /// The synced commit's subject, author and time.
    pub commit: crate::source::snapshot::CommitInfo,
    /// How long the last sync took, in milliseconds.
    pub duration_ms: Option<u64>,
    /// What started the last sync: `start`, `poll`, `webhook`, `drift`, `ui`.
    pub trigger: String,
    /// Whether syncs of the app are suspended (from the UI).
    pub suspended: bool,
    /// The replica the app hashes to when apps are sharded across replicas (empty: not
    /// sharded). Only that replica syncs it; the others show what they know.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub owner: String,
    /// The policy findings of the last round (`deny`/`warn`: message).
    pub policy: Vec<String>,
    /// The Secrets of the last sync and where they came from (never a value).
    pub secrets: Vec<SecretSource>,
    /// Every container image of the last sync's objects (`name:tag` or `name@digest`).
    pub images: Vec<String>,
    /// The last syncs, oldest first (at most [`HISTORY_LEN`]), compact and shared between
    /// clones; [`AppStatus::history`] reads them.
    #[serde(skip)]
    pub history: std::sync::Arc<std::collections::VecDeque<super::history::Compact>>,
    /// The last comparison with Git (the web UI's app page or refresh), without objects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<crate::server::ui::desired::Compared>,
}

/// How many syncs an app's history keeps.
pub const HISTORY_LEN: usize = 50;

/// Where one Secret of an app came from: never a value.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretSource {
    /// The Secret's namespace.
    pub namespace: String,
    /// The Secret's name.
    pub name: String,
    /// `plain`, `sops`, `sealed`, `external`, `inline`.
    pub origin: String,
    /// When its values were last read (RFC 3339).
    pub read_at: String,
    /// For values a store holds: the store, paths and keys read, how often (never a value).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub store: String,
    /// The file in Git it was rendered from (a SOPS file, a SealedSecret, an ExternalSecret).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
}

/// One sync in an app's history.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SyncRecord {
    /// The revision.
    pub revision: String,
    /// When it ended (RFC 3339).
    pub at: String,
    /// `Succeeded`, `Failed`, `Denied`.
    pub result: String,
    /// `Succeeded` or the failure's reason.
    pub reason: String,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What started it.
    pub trigger: String,
    /// Objects created.
    pub created: usize,
    /// Objects changed.
    pub configured: usize,
    /// Objects pruned.
    pub pruned: usize,
    /// Hook runs (objects of the change set that are hooks).
    pub hooks: usize,
}

impl AppStatus {
    /// Appends `record` to the history, dropping the oldest beyond [`HISTORY_LEN`].
    pub fn record(&mut self, record: &SyncRecord) {
        let history = std::sync::Arc::make_mut(&mut self.history);
        // Room for exactly HISTORY_LEN records: the oldest leaves before the newest comes.
        history.reserve_exact(HISTORY_LEN.saturating_sub(history.len()));
        while history.len() >= HISTORY_LEN {
            history.pop_front();
        }
        history.push_back(super::history::Compact::of(record));
    }

    /// The last syncs, newest first.
    #[must_use]
    pub fn history(&self) -> Vec<SyncRecord> {
        self.history
            .iter()
            .rev()
            .map(super::history::Compact::expand)
            .collect()
    }
}

/// A source's webhook: how requests are verified and what they trigger.
pub struct Webhook {
    /// The verifier.
    pub auth: WebhookAuth,
    /// The source's URL, to check that an event concerns it.
    pub url: String,
    /// Asks the source's loop for a fetch.
    pub trigger: Trigger,
}

/// State shared by the daemon and the server.
pub struct Shared {
    apps: Mutex<BTreeMap<String, AppStatus>>,
    sources_started: Mutex<BTreeMap<String, bool>>,
    webhooks: Mutex<BTreeMap<String, std::sync::Arc<Webhook>>>,
    recipient: Mutex<Option<String>>,
    bitnami_cert: Mutex<Option<String>>,
    leader: AtomicBool,
    /// Whether apps are sharded across replicas: every replica then works.
    sharded: AtomicBool,
    /// Per source, what asked for its next round (`webhook`, `drift`, `ui`).
    round_reasons: Mutex<BTreeMap<String, String>>,
    /// Each source's trigger, by name (set by the generation).
    triggers: Mutex<BTreeMap<String, crate::source::trigger::Trigger>>,
    /// Apps whose syncs are suspended (kept across generations, not across restarts).
    suspended: Mutex<std::collections::BTreeSet<String>>,
    /// Apps a user asked to sync by hand (the UI's sync action), until their next round.
    manual_syncs: Mutex<std::collections::BTreeSet<String>>,
    /// Counts changes of app status, for the UI's live updates.
    version: tokio::sync::watch::Sender<u64>,
    /// The cluster client and the agent's namespace, for the UI's live views and audit Events.
    cluster: Mutex<Option<(kube::Client, String)>>,
    /// The UI's configuration (`ui:`), replaced on reload.
    ui: Mutex<std::sync::Arc<crate::server::ui::UiConfig>>,
    /// What renders an app on demand for the web UI (set by each generation).
    inspector: Mutex<Option<std::sync::Arc<dyn crate::server::ui::desired::Inspect>>>,
    /// The metrics registry.
    pub metrics: Metrics,
    /// The log level control.
    pub log: LogControl,
    /// Image automation's report (`/api/v1/images`).
    pub images: std::sync::Arc<crate::images::status::ImagesState>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Empty state.
    #[must_use]
    pub fn new(log: LogControl) -> Self {
        Self {
            apps: Mutex::new(BTreeMap::new()),
            sources_started: Mutex::new(BTreeMap::new()),
            webhooks: Mutex::new(BTreeMap::new()),
            recipient: Mutex::new(None),
            bitnami_cert: Mutex::new(None),
            leader: AtomicBool::new(false),
            sharded: AtomicBool::new(false),
            round_reasons: Mutex::new(BTreeMap::new()),
            triggers: Mutex::new(BTreeMap::new()),
            suspended: Mutex::new(std::collections::BTreeSet::new()),
            manual_syncs: Mutex::new(std::collections::BTreeSet::new()),
            version: tokio::sync::watch::Sender::new(0),
            cluster: Mutex::new(None),
            ui: Mutex::new(std::sync::Arc::default()),
            inspector: Mutex::new(None),
            metrics: Metrics::new(),
            log,
            images: std::sync::Arc::default(),
        }
    }

    /// Every app's status, by name.
    #[must_use]
    pub fn apps(&self) -> Vec<AppStatus> {
        lock(&self.apps).values().cloned().collect()
    }

    /// One app's status.
    #[must_use]
    pub fn app(&self, name: &str) -> Option<AppStatus> {
        lock(&self.apps).get(name).cloned()
    }

    /// Changes one app's status (creating it).
    pub fn update_app(&self, name: &str, f: impl FnOnce(&mut AppStatus)) {
        let mut apps = lock(&self.apps);
        let status = apps.entry(name.to_owned()).or_insert_with(|| AppStatus {
            name: name.to_owned(),
            sync: "Pending".into(),
            health: "Unknown".into(),
            ..AppStatus::default()
        });
        f(status);
        status.suspended = lock(&self.suspended).contains(name);
        drop(apps);
        self.changed();
    }

    fn changed(&self) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// A receiver that sees every change of app status (for live updates).
    #[must_use]
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Registers each source's trigger (by the generation).
    pub fn set_triggers(&self, triggers: BTreeMap<String, crate::source::trigger::Trigger>) {
        *lock(&self.triggers) = triggers;
    }

    /// Asks for a round of `source` now, recording why (`webhook`, `drift`, `ui:USER`);
    /// false when the source has no running loop.
    pub fn request_round(&self, source: &str, why: &str) -> bool {
        let Some(trigger) = lock(&self.triggers).get(source).cloned() else {
            return false;
        };
        lock(&self.round_reasons).insert(source.to_owned(), why.to_owned());
        trigger.trigger();
        true
    }

    /// What asked for the round of `source` that starts now (taken once).
    #[must_use]
    pub fn take_round_reason(&self, source: &str) -> Option<String> {
        lock(&self.round_reasons).remove(source)
    }

    /// Marks the next round of `app` as a sync by hand: a sync window that allows manual
    /// syncs (`manualSync: true`) lets it through.
    pub fn request_manual_sync(&self, app: &str) {
        lock(&self.manual_syncs).insert(app.to_owned());
    }

    /// Whether the round of `app` that starts now was asked for by hand (taken once).
    #[must_use]
    pub fn take_manual_sync(&self, app: &str) -> bool {
        lock(&self.manual_syncs).remove(app)
    }

    /// Suspends or resumes the syncs of `app`.
    pub fn set_suspended(&self, app: &str, suspended: bool) {
        {
            let mut set = lock(&self.suspended);
            if suspended {
                set.insert(app.to_owned());
            } else {
                set.remove(app);
            }
        }
        if let Some(status) = lock(&self.apps).get_mut(app) {
            status.suspended = suspended;
        }
        self.changed();
    }

    /// Whether the syncs of `app` are suspended.
    #[must_use]
    pub fn is_suspended(&self, app: &str) -> bool {
        lock(&self.suspended).contains(app)
    }

    /// Sets the cluster client and the agent's namespace (by the daemon).
    pub fn set_cluster(&self, client: kube::Client, namespace: &str) {
        *lock(&self.cluster) = Some((client, namespace.to_owned()));
    }

    /// Sets the UI's configuration.
    pub fn set_ui_config(&self, config: crate::server::ui::UiConfig) {
        *lock(&self.ui) = std::sync::Arc::new(config);
    }

    /// The UI's configuration.
    #[must_use]
    pub fn ui_config(&self) -> std::sync::Arc<crate::server::ui::UiConfig> {
        std::sync::Arc::clone(&lock(&self.ui))
    }

    /// The cluster client and the agent's namespace, once the daemon set them.
    #[must_use]
    pub fn cluster(&self) -> Option<(kube::Client, String)> {
        lock(&self.cluster).clone()
    }

    /// Keeps only the apps of `source` named in `keep` (apps that left the configuration or
    /// the repository).
    pub fn retain_apps(&self, source: &str, keep: &[String]) {
        lock(&self.apps).retain(|name, s| s.source != source || keep.contains(name));
        self.changed();
    }

    /// Declares the sources of the configuration (none has finished a first round); apps of
    /// sources no longer configured are forgotten.
    pub fn set_sources(&self, names: &[String]) {
        lock(&self.apps).retain(|_, app| app.source.is_empty() || names.contains(&app.source));
        let mut sources = lock(&self.sources_started);
        sources.clear();
        for name in names {
            sources.insert(name.clone(), false);
        }
    }

    /// Records that a source finished its first round (fetch and syncs, or a failure).
    pub fn source_round_done(&self, name: &str) {
        lock(&self.sources_started).insert(name.to_owned(), true);
    }

    /// Ready: every source finished a first round and every app a first sync.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        lock(&self.sources_started).values().all(|done| *done)
            && lock(&self.apps).values().all(|a| a.first_sync_done)
    }

    /// Registers the webhooks of the configuration.
    pub fn set_webhooks(&self, hooks: BTreeMap<String, std::sync::Arc<Webhook>>) {
        *lock(&self.webhooks) = hooks;
    }

    /// The webhook of `source`.
    #[must_use]
    pub fn webhook(&self, source: &str) -> Option<std::sync::Arc<Webhook>> {
        lock(&self.webhooks).get(source).cloned()
    }

    /// The agent's newest recipient.
    #[must_use]
    pub fn recipient(&self) -> Option<String> {
        lock(&self.recipient).clone()
    }

    /// The Sealed Secrets certificate (PEM) of the newest controller key the agent holds.
    #[must_use]
    pub fn bitnami_cert(&self) -> Option<String> {
        lock(&self.bitnami_cert).clone()
    }

    /// Sets the Sealed Secrets certificate.
    pub fn set_bitnami_cert(&self, cert: Option<String>) {
        *lock(&self.bitnami_cert) = cert;
    }

    /// Sets the agent's newest recipient.
    pub fn set_recipient(&self, recipient: Option<String>) {
        *lock(&self.recipient) = recipient;
    }

    /// Whether this replica holds the lease (always true without leader election).
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// Records leadership.
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Release);
        self.metrics.leader.set(i64::from(leader));
    }

    /// Records whether apps are sharded across replicas.
    pub fn set_sharded(&self, sharded: bool) {
        self.sharded.store(sharded, Ordering::Release);
    }

    /// Whether this replica syncs apps: the leader, or any replica when apps are sharded.
    #[must_use]
    pub fn works(&self) -> bool {
        self.is_leader() || self.sharded.load(Ordering::Acquire)
    }
}

/// The web UI's on-demand renders ([`crate::server::ui::desired`]) and views.
impl Shared {
    /// Runs `f` over every app's status, by name, under the lock: for views that read a few
    /// fields of every app without cloning them all (keep `f` short: syncs wait for it).
    pub fn with_apps<T>(&self, f: impl FnOnce(&mut dyn Iterator<Item = &AppStatus>) -> T) -> T {
        let apps = lock(&self.apps);
        f(&mut apps.values())
    }

    /// Sets what renders apps on demand for the web UI (by each generation).
    pub fn set_inspector(
        &self,
        inspector: Option<std::sync::Arc<dyn crate::server::ui::desired::Inspect>>,
    ) {
        *lock(&self.inspector) = inspector;
    }

    /// What renders apps on demand, while a generation runs.
    #[must_use]
    pub fn inspector(&self) -> Option<std::sync::Arc<dyn crate::server::ui::desired::Inspect>> {
        lock(&self.inspector).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apps_of_a_removed_source_are_forgotten() {
        let state = Shared::new(LogControl::detached("info"));
        state.update_app("a", |s| s.source = "one".into());
        state.update_app("b", |s| s.source = "two".into());
        state.set_sources(&["one".to_owned()]);
        let names: Vec<String> = state.apps().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["a"]);
        assert!(!state.is_ready(), "the source has not finished a round");
        state.source_round_done("one");
        assert!(!state.is_ready(), "app a has not synced");
        state.update_app("a", |s| s.first_sync_done = true);
        assert!(state.is_ready());
    }
}
