//! Notifications: tell people and systems when a sync fails, health degrades, drift is
//! reverted, a prune is held back, a secret store fails or a hook fails.
//!
//! Typed input and output: each round of an app gives an [`machine::Observation`] (the
//! conditions seen); the state machine ([`machine`]) turns it into [`Event`]s, one per change
//! of state, a reminder after `notifications.reminder`, a recovery when a condition clears;
//! the rules of `tether.yaml` ([`config`]) choose the providers; each provider has a bounded
//! queue and a worker ([`delivery`]) that sends the provider's payload ([`payload`], [`smtp`]).
//! What was notified is kept with the app's status (`notified` in its status ConfigMap) so a
//! restart sends nothing twice. Syncing never waits for a delivery.

pub mod config;
pub mod delivery;
pub mod event;
pub mod flux;
pub mod ledger;
pub mod machine;
pub mod observe;
pub mod payload;
pub mod provider;
pub mod report;
pub mod rules;
pub mod smtp;
pub mod sources;
mod text;

pub use text::{commit_of, redact_text};

pub use config::NotificationsConfig;
pub use event::{Commit, Condition, Event, Kind, Severity};

use delivery::{Queue, Report};
use ledger::Ledger;
use machine::Observation;
use provider::Provider;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// Errors of setting up notifications.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A provider's address, token or password could not be read.
    #[error("notifications provider {provider}: {field}: {problem}")]
    CredentialFailed {
        /// The provider.
        provider: String,
        /// The field (`tokenFrom`).
        field: String,
        /// What went wrong (never the value).
        problem: String,
    },
}

/// The app an observation is about.
#[derive(Debug, Clone, Default)]
pub struct AppInfo {
    /// Its name.
    pub name: String,
    /// Its target namespace.
    pub namespace: String,
    /// Its labels (those every rendered object carries), when known.
    pub labels: Option<BTreeMap<String, String>>,
}

/// The firing conditions, by app and kind, with the app's namespace and labels.
type Firing = Arc<Mutex<HashMap<(String, Kind), (Event, String, BTreeMap<String, String>)>>>;

/// Sends the firing conditions to the Alertmanager channels again every `every`, so that an
/// alert lasts while its condition does (and ends on its own if the agent goes away).
async fn refresh_alerts(
    channels: Vec<Channel>,
    rules: rules::Rules,
    firing: Firing,
    every: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        let now = SystemTime::now();
        let alerts: Vec<_> = lock(&firing).values().cloned().collect();
        for (event, namespace, labels) in alerts {
            let mut event = event;
            // startsAt stays the first time; endsAt counts from now. A refresh is not kept.
            event.at = now;
            event.id = 0;
            event.event_id.clear();
            for channel in &channels {
                if rules.routes(&channel.provider.name, &event, &namespace, &labels) {
                    let _ = channel.queue.push(event.clone());
                }
            }
        }
    }
}

struct Channel {
    provider: Arc<Provider>,
    queue: Arc<Queue>,
}

/// The providers and rules an app's manifests bring (Flux objects), with their workers.
struct Extra {
    fingerprint: String,
    channels: Vec<Channel>,
    rules: rules::Rules,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Extra {
    fn drop(&mut self) {
        for w in &self.workers {
            w.abort();
        }
    }
}

/// The notifier of one generation of the daemon: its providers' queues and workers, and
/// what was notified per app.
pub struct Notifier {
    cluster: String,
    agent_url: Option<String>,
    reminder: Option<Duration>,
    rules: rules::Rules,
    channels: Vec<Channel>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    report: Arc<dyn Report>,
    ledger: Arc<Ledger>,
    labels: Mutex<HashMap<String, BTreeMap<String, String>>>,
    client: Option<kube::Client>,
    hold: Duration,
    firing: Firing,
    extras: Mutex<HashMap<String, Arc<Extra>>>,
    subscriptions: Mutex<HashMap<String, Vec<sources::Subscription>>>,
    /// New apps whose `appCreated` waits for their next observation (by then their
    /// manifests' Argo CD subscriptions are read).
    created: Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("providers", &self.channels.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        for w in &self.workers {
            w.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Notifier {
    /// Loads the providers of `config` (secrets from files, or Secrets of `namespace`) and
    /// starts their workers. A provider whose secrets cannot be read is left out, logged and
    /// reported; the others work.
    pub async fn start(
        config: &NotificationsConfig,
        client: Option<&kube::Client>,
        namespace: &str,
        report: Arc<dyn Report>,
    ) -> Self {
        let ledger = Arc::new(Ledger::new(client.cloned(), namespace));
        let report: Arc<dyn Report> = Arc::new(Tracked {
            inner: report,
            ledger: Arc::clone(&ledger),
        });
        let reminder = config.reminder.map(|r| r.0);
        let refresh = config
            .alert_refresh
            .map_or(Duration::from_secs(300), |r| r.0)
            .max(Duration::from_secs(1));
        // A firing alert is sent again every `refresh`; it ends after three without one.
        let hold = refresh * 3;
        let mut channels = Vec::new();
        let mut workers = Vec::new();
        for p in &config.providers {
            match Provider::load(p, client, namespace, hold).await {
                Ok(provider) => {
                    let provider = Arc::new(provider);
                    let queue = Arc::new(Queue::new(p.queue.unwrap_or(100)));
                    workers.push(tokio::spawn(delivery::run_worker(
                        Arc::clone(&provider),
                        Arc::clone(&queue),
                        Arc::clone(&report),
                        Arc::clone(&ledger),
                    )));
                    channels.push(Channel { provider, queue });
                }
                Err(err) => {
                    tracing::error!(provider = %p.name, error = %err, "notification provider left out");
                }
            }
        }
        {
            let ledger = Arc::clone(&ledger);
            workers.push(tokio::spawn(async move { ledger.run_writer().await }));
        }
        let firing: Firing = Arc::default();
        let alertmanagers: Vec<Channel> = channels
            .iter()
            .filter(|c| c.provider.kind == config::ProviderType::Alertmanager)
            .map(|c| Channel {
                provider: Arc::clone(&c.provider),
                queue: Arc::clone(&c.queue),
            })
            .collect();
        if !alertmanagers.is_empty() {
            workers.push(tokio::spawn(refresh_alerts(
                alertmanagers,
                rules::Rules::new(config),
                Arc::clone(&firing),
                refresh,
            )));
        }
        Self {
            firing,
            cluster: config.cluster.clone().unwrap_or_else(|| "tether".into()),
            agent_url: config.agent_url.clone(),
            reminder,
            rules: rules::Rules::new(config),
            channels,
            workers,
            report,
            ledger,
            labels: Mutex::new(HashMap::new()),
            client: client.cloned(),
            hold,
            extras: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashMap::new()),
            created: Mutex::default(),
        }
    }

    /// Notes that `app` is new: `appCreated` goes out with its next observation.
    pub fn mark_created(&self, app: &str) {
        lock(&self.created).insert(app.to_owned());
    }

    /// Whether `app` is new and its `appCreated` still to be sent (the note is taken).
    pub fn take_created(&self, app: &str) -> bool {
        lock(&self.created).remove(app)
    }

    /// Sets what `app`'s manifests bring (Flux `Provider`/`Alert` objects, Argo CD
    /// subscriptions); Flux providers read their Secrets from `namespace`. Providers are
    /// rebuilt only when the objects change.
    pub async fn set_app_sources(&self, app: &str, namespace: &str, found: sources::AppSources) {
        if found.subscriptions.is_empty() {
            lock(&self.subscriptions).remove(app);
        } else {
            lock(&self.subscriptions).insert(app.to_owned(), found.subscriptions.clone());
        }
        let fingerprint = found.fingerprint();
        if found.providers.is_empty() && found.rules.is_empty() {
            lock(&self.extras).remove(app);
            return;
        }
        if lock(&self.extras)
            .get(app)
            .is_some_and(|e| e.fingerprint == fingerprint)
        {
            return;
        }
        for problem in &found.problems {
            tracing::warn!(app, problem = %problem, "a notification object of the app is not used");
        }
        let mut channels = Vec::new();
        let mut workers = Vec::new();
        let mut fingerprint = fingerprint;
        for p in &found.providers {
            match Provider::load(p, self.client.as_ref(), namespace, self.hold).await {
                Ok(provider) => {
                    if provider.is_incomplete() {
                        // Its Secret may come with this sync: read again next round.
                        fingerprint.clear();
                    }
                    let provider = Arc::new(provider);
                    let queue = Arc::new(Queue::new(p.queue.unwrap_or(100)));
                    workers.push(tokio::spawn(delivery::run_worker(
                        Arc::clone(&provider),
                        Arc::clone(&queue),
                        Arc::clone(&self.report),
                        Arc::clone(&self.ledger),
                    )));
                    channels.push(Channel { provider, queue });
                }
                Err(err) => {
                    tracing::warn!(app, provider = %p.name, error = %err, "a Flux notification provider of the app is left out");
                }
            }
        }
        let config = NotificationsConfig {
            rules: found.rules.clone(),
            ..NotificationsConfig::default()
        };
        let extra = Extra {
            fingerprint,
            channels,
            rules: rules::Rules::new(&config),
            workers,
        };
        lock(&self.extras).insert(app.to_owned(), Arc::new(extra));
    }

    /// Whether any provider is configured.
    #[must_use]
    pub fn is_active(&self) -> bool {
        !self.channels.is_empty()
            || !lock(&self.extras).is_empty()
            || !lock(&self.subscriptions).is_empty()
    }

    /// Whether the memory of `app` is known in this process (else it is to be read from its
    /// status first, with [`Notifier::restore`]).
    #[must_use]
    pub fn knows(&self, app: &str) -> bool {
        self.ledger.knows(app)
    }

    /// Sets the memory of `app` read from its status (`notified`), unless known already, and
    /// queues again the events that were pending there (a restart, a reload, a new leader).
    pub fn restore(&self, app: &str, stored: Option<&str>) {
        let pending = self.ledger.restore(app, stored);
        // Firing alerts go on being announced to Alertmanager.
        let labels = lock(&self.labels).get(app).cloned().unwrap_or_default();
        for event in self.ledger.holding(app) {
            if event.kind.is_condition() {
                let namespace = event.namespace.clone();
                lock(&self.firing)
                    .entry((app.to_owned(), event.kind))
                    .or_insert((event, namespace, labels.clone()));
            }
        }
        for record in pending {
            let extras: Vec<Arc<Extra>> = lock(&self.extras).values().cloned().collect();
            let channel = self
                .channels
                .iter()
                .chain(extras.iter().flat_map(|e| e.channels.iter()))
                .find(|c| c.provider.name == record.provider);
            let Some(channel) = channel else {
                tracing::warn!(app, provider = %record.provider, "a pending notification names a provider that is gone; dropped");
                self.ledger.done(app, record.id);
                continue;
            };
            tracing::info!(app, provider = %record.provider, kind = record.event.kind.name(), "a pending notification is sent again");
            if let Some(dropped) = channel.queue.push(record.event) {
                self.report.dropped(&channel.provider.name, &dropped);
            }
        }
    }

    /// The memory and pending queue of `app` as kept in its status (`notified`), when known.
    #[must_use]
    pub fn kept(&self, app: &str) -> Option<String> {
        self.ledger.json(app)
    }

    /// Applies one observation of `app`: decides what is news and queues it to the providers
    /// its rules choose; what was decided and queued is kept with the app's status.
    pub fn observe(&self, app: &AppInfo, commit: &Commit, observation: &Observation) {
        if !self.ledger.owns(&app.name) {
            return;
        }
        let now = SystemTime::now();
        if let Some(labels) = &app.labels {
            lock(&self.labels).insert(app.name.clone(), labels.clone());
        }
        let labels = lock(&self.labels)
            .get(&app.name)
            .cloned()
            .unwrap_or_default();
        // Not written until the records of the decisions are added ([`Ledger::touch`]).
        self.ledger.begin(&app.name);
        let decisions = self.ledger.step(&app.name, observation, now, self.reminder);
        for d in decisions {
            let severity = if d.resolved {
                Severity::Info
            } else {
                d.condition.kind.severity()
            };
            let link = self
                .agent_url
                .as_ref()
                .map(|u| format!("{}/apps/{}", u.trim_end_matches('/'), app.name));
            let event = Event {
                app: app.name.clone(),
                namespace: app.namespace.clone(),
                cluster: self.cluster.clone(),
                kind: d.condition.kind,
                resolved: d.resolved,
                reminder: d.reminder,
                severity,
                commit: commit.clone(),
                stage: d.condition.stage.clone(),
                reason: d.condition.reason.clone(),
                message: self.scrub(&redact_text(&d.condition.message)),
                link,
                channel: None,
                time: crate::daemon::time::format_rfc3339(now),
                at: now,
                id: 0,
                event_id: ledger::new_event_id(),
            };
            if event.kind.is_condition() {
                let key = (app.name.clone(), event.kind);
                if event.resolved {
                    lock(&self.firing).remove(&key);
                } else {
                    self.ledger.held_event(&event);
                    lock(&self.firing)
                        .insert(key, (event.clone(), app.namespace.clone(), labels.clone()));
                }
            }
            self.dispatch(&event, &app.namespace, &labels);
        }
        // The new memory and the records it made are written together.
        self.ledger.touch(&app.name);
    }

    /// Sets the check of which apps this replica owns (sharded replicas): the events of
    /// another replica's app are neither kept nor sent here.
    pub fn set_owner(&self, check: ledger::OwnerCheck) {
        self.ledger.set_owner(check);
    }

    /// Forgets `app`, now another replica's: its owner reads its ledger and sends what was
    /// pending; if it comes back, its memory is read again from its status.
    pub fn release(&self, app: &str) {
        if self.ledger.knows(app) {
            tracing::info!(
                app,
                "the app is another replica's now: its notifications are left to it"
            );
            self.ledger.forget(app);
            lock(&self.firing).retain(|(a, _), _| a != app);
        }
    }

    /// Forgets `app`, removed: its events already queued (the deletion's) still go out.
    pub fn forget(&self, app: &str) {
        self.ledger.forget(app);
        lock(&self.firing).retain(|(a, _), _| a != app);
        lock(&self.labels).remove(app);
        lock(&self.subscriptions).remove(app);
        lock(&self.extras).remove(app);
        lock(&self.created).remove(app);
    }

    /// Whether `app`'s sync status is unknown because its source could not be fetched (a
    /// good fetch clears it, [`observe::fetch_failed`]).
    #[must_use]
    pub fn unknown_by_fetch(&self, app: &str) -> bool {
        self.ledger
            .held_fingerprint(app, Kind::SyncStatusUnknown)
            .is_some_and(|f| f.starts_with(observe::FETCH))
    }

    fn dispatch(&self, event: &Event, namespace: &str, labels: &BTreeMap<String, String>) {
        let mut event = event.clone();
        event.message = self.scrub(&event.message);
        for channel in &self.channels {
            if !self
                .rules
                .routes(&channel.provider.name, &event, namespace, labels)
                || skips_quiet(&self.rules, channel, &event)
            {
                continue;
            }
            self.enqueue(channel, event.clone());
        }
        let extras: Vec<Arc<Extra>> = lock(&self.extras).values().cloned().collect();
        for extra in &extras {
            for channel in &extra.channels {
                if extra
                    .rules
                    .routes(&channel.provider.name, &event, namespace, labels)
                    && !skips_quiet(&extra.rules, channel, &event)
                {
                    self.enqueue(channel, event.clone());
                }
            }
        }
        let subscriptions = lock(&self.subscriptions)
            .get(&event.app)
            .cloned()
            .unwrap_or_default();
        for sub in subscriptions
            .iter()
            .filter(|s| s.kinds.contains(&event.kind))
        {
            let channel = self
                .channels
                .iter()
                .find(|c| c.provider.name == sub.service)
                .or_else(|| {
                    self.channels
                        .iter()
                        .find(|c| sources::serves(c.provider.kind, &sub.service))
                });
            let Some(channel) = channel else {
                tracing::warn!(app = %event.app, service = %sub.service, "an Argo CD subscription names a service no provider serves");
                continue;
            };
            if channel.provider.kind == config::ProviderType::SlackBot && !sub.recipients.is_empty()
            {
                for recipient in &sub.recipients {
                    let mut e = event.clone();
                    e.channel = Some(recipient.clone());
                    self.enqueue(channel, e);
                }
            } else if !self
                .rules
                .routes(&channel.provider.name, &event, namespace, labels)
            {
                self.enqueue(channel, event.clone());
            }
        }
    }

    /// `text` with every provider's address, token and password masked (a message may quote
    /// one provider's URL and go to another, or be kept in the status).
    fn scrub(&self, text: &str) -> String {
        let extras: Vec<Arc<Extra>> = lock(&self.extras).values().cloned().collect();
        let secrets: Vec<&str> = self
            .channels
            .iter()
            .chain(extras.iter().flat_map(|e| e.channels.iter()))
            .flat_map(|c| c.provider.secrets())
            .collect();
        crate::source::redact::scrub(text, &secrets)
    }

    fn enqueue(&self, channel: &Channel, event: Event) {
        if !payload::accepts(&channel.provider, &event) {
            // Not this provider's kind of event (a drift revert as a commit status).
            return;
        }
        let mut event = event;
        event.id = self.ledger.add(&channel.provider.name, &event);
        if let Some(dropped) = channel.queue.push(event) {
            tracing::warn!(provider = %channel.provider.name, app = %dropped.app, kind = dropped.kind.name(), "notification queue full: an event was dropped");
            self.report.dropped(&channel.provider.name, &dropped);
        }
    }
}

/// Whether a chat provider skips `event`: the success of a commit that changed nothing,
/// unless a rule asks for successes by name.
fn skips_quiet(rules: &rules::Rules, channel: &Channel, event: &Event) -> bool {
    event.is_quiet_success()
        && channel.provider.kind.is_chat()
        && !rules.asks_for(&channel.provider.name, Kind::SyncSucceeded)
}

/// The daemon's report, and the ledger told of each event that no longer waits.
struct Tracked {
    inner: Arc<dyn Report>,
    ledger: Arc<Ledger>,
}

impl Report for Tracked {
    fn delivered(&self, provider: &str, event: &Event) {
        self.ledger.done(&event.app, event.id);
        self.inner.delivered(provider, event);
    }
    fn failed(&self, provider: &str, event: &Event, error: &str) {
        self.ledger.done(&event.app, event.id);
        self.inner.failed(provider, event, error);
    }
    fn dropped(&self, provider: &str, event: &Event) {
        self.ledger.done(&event.app, event.id);
        self.inner.dropped(provider, event);
    }
    fn retried(&self, provider: &str) {
        self.inner.retried(provider);
    }
}
