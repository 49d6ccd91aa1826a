//! Logs and metrics.
//!
//! Logs go to stderr as JSON (or text), one span per stage with structured fields. The level
//! filter can be changed at run time with `PUT /debug/log-level` (body: a filter such as
//! `debug` or `tether_agent::sync=trace`) or toggled between the configured level and `debug`
//! with SIGUSR1.
//!
//! Metrics are kept in a `prometheus-client` registry served at `/metrics`. Labels are
//! bounded: app names (from the configuration's generators), results, reasons and store names.

use crate::config::{LogConfig, LogFormat};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex, PoisonError};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt as _;

/// Errors of telemetry set-up and changes.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A log filter did not parse.
    #[error("log level {filter:?}: {message}")]
    InvalidFilter {
        /// The filter.
        filter: String,
        /// The parser's message.
        message: String,
    },
    /// The filter could not be swapped in.
    #[error("log level: the subscriber is gone")]
    ReloadFailed,
}

/// Changes the log filter at run time.
#[derive(Clone)]
pub struct LogControl {
    handle: Option<reload::Handle<EnvFilter, tracing_subscriber::Registry>>,
    configured: String,
    current: Arc<Mutex<String>>,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogControl")
            .field("current", &self.current())
            .finish_non_exhaustive()
    }
}

impl LogControl {
    /// A control that changes nothing (tests, commands without a subscriber).
    #[must_use]
    pub fn detached(level: &str) -> Self {
        Self {
            handle: None,
            configured: level.to_owned(),
            current: Arc::new(Mutex::new(level.to_owned())),
        }
    }

    /// The filter in force.
    #[must_use]
    pub fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the filter.
    pub fn set(&self, filter: &str) -> Result<(), TelemetryError> {
        let parsed = EnvFilter::try_new(filter).map_err(|err| TelemetryError::InvalidFilter {
            filter: filter.to_owned(),
            message: err.to_string(),
        })?;
        if let Some(handle) = &self.handle {
            handle
                .reload(parsed)
                .map_err(|_| TelemetryError::ReloadFailed)?;
        }
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = filter.to_owned();
        tracing::info!(level = %filter, "log level changed");
        Ok(())
    }

    /// Switches between the configured filter and `debug` (SIGUSR1).
    pub fn toggle_debug(&self) -> Result<(), TelemetryError> {
        let next = if self.current() == "debug" {
            self.configured.clone()
        } else {
            "debug".to_owned()
        };
        self.set(&next)
    }
}

/// Installs the global subscriber: JSON or text on stderr, with a reloadable filter.
/// `RUST_LOG`, when set, wins over the configured level.
pub fn init_logs(config: &LogConfig) -> Result<LogControl, TelemetryError> {
    let level = std::env::var("RUST_LOG").unwrap_or_else(|_| config.level.clone());
    let filter = EnvFilter::try_new(&level).map_err(|err| TelemetryError::InvalidFilter {
        filter: level.clone(),
        message: err.to_string(),
    })?;
    let (filter, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init(),
    };
    // A second init (config reload) keeps the first subscriber.
    let handle = result.ok().map(|()| handle);
    Ok(LogControl {
        handle,
        configured: level.clone(),
        current: Arc::new(Mutex::new(level)),
    })
}

/// Labels of a per-app metric.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabel {
    /// The app.
    pub app: String,
}

/// Labels of `tether_sync_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SyncLabels {
    /// The app.
    pub app: String,
    /// `Succeeded` or the failed stage's reason.
    pub result: String,
}

/// Labels of per-source metrics.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    /// The source.
    pub source: String,
}

/// Labels of `tether_source_revision_info`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    /// The source.
    pub source: String,
    /// The commit served.
    pub revision: String,
}

/// Labels of `tether_secret_resolve_errors_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabel {
    /// The store (or `sops`, `sealed` for decryption failures).
    pub store: String,
}

/// Labels of `tether_notifications_total`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NotifyLabels {
    /// The notification provider.
    pub provider: String,
    /// `sent`, `failed`, `dropped` or `retried`.
    pub result: String,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 12))
}

/// The agent's metrics.
pub struct Metrics {
    registry: Registry,
    /// Syncs by app and result.
    pub sync_total: Family<SyncLabels, Counter>,
    /// Sync durations.
    pub sync_duration: Family<AppLabel, Histogram>,
    /// Drift corrections by app.
    pub drift_corrections: Family<AppLabel, Counter>,
    /// Syncs whose prune was blocked, by app.
    pub prune_blocked: Family<AppLabel, Counter>,
    /// Objects left in place after leaving Git, by app.
    pub orphaned_objects: Family<AppLabel, Gauge>,
    /// Git fetch durations by source.
    pub git_fetch_duration: Family<SourceLabel, Histogram>,
    /// 1 for the revision each source serves.
    pub source_revision: Family<RevisionLabels, Gauge>,
    /// Secret resolution errors by store.
    pub secret_resolve_errors: Family<StoreLabel, Counter>,
    /// Managed objects by app.
    pub managed_objects: Family<AppLabel, Gauge>,
    /// 1 while this replica holds the lease.
    pub leader: Gauge,
    /// Notification deliveries by provider and result.
    pub notifications: Family<NotifyLabels, Counter>,
    /// Image automation: scans, commits, promotions.
    pub images: crate::images::metrics::ImageMetrics,
    revisions: Mutex<std::collections::HashMap<String, String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every metric registered.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let sync_total = Family::<SyncLabels, Counter>::default();
        let sync_duration =
            Family::<AppLabel, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        let drift_corrections = Family::<AppLabel, Counter>::default();
        let prune_blocked = Family::<AppLabel, Counter>::default();
        let orphaned_objects = Family::<AppLabel, Gauge>::default();
        let git_fetch_duration =
            Family::<SourceLabel, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        let source_revision = Family::<RevisionLabels, Gauge>::default();
        let secret_resolve_errors = Family::<StoreLabel, Counter>::default();
        let managed_objects = Family::<AppLabel, Gauge>::default();
        let leader = Gauge::default();
        let notifications = Family::<NotifyLabels, Counter>::default();
        registry.register(
            "tether_notifications",
            "Notification deliveries by provider and result (sent, failed, dropped, retried)",
            notifications.clone(),
        );
        registry.register("tether_sync", "Syncs by app and result", sync_total.clone());
        registry.register(
            "tether_sync_duration_seconds",
            "Duration of app syncs",
            sync_duration.clone(),
        );
        registry.register(
            "tether_drift_corrections",
            "Drifted objects re-applied",
            drift_corrections.clone(),
        );
        registry.register(
            "tether_prune_blocked",
            "Syncs whose prune was blocked by a guard",
            prune_blocked.clone(),
        );
        registry.register(
            "tether_orphaned_objects",
            "Objects that left Git but were left in place",
            orphaned_objects.clone(),
        );
        registry.register(
            "tether_git_fetch_duration_seconds",
            "Duration of Git fetches",
            git_fetch_duration.clone(),
        );
        registry.register(
            "tether_source_revision_info",
            "The revision each source serves (value 1)",
            source_revision.clone(),
        );
        registry.register(
            "tether_secret_resolve_errors",
            "Secrets that could not be resolved, by store",
            secret_resolve_errors.clone(),
        );
        registry.register(
            "tether_managed_objects",
            "Objects managed per app",
            managed_objects.clone(),
        );
        registry.register(
            "tether_leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        let images = crate::images::metrics::ImageMetrics::default();
        images.register(&mut registry);
        Self {
            registry,
            sync_total,
            sync_duration,
            drift_corrections,
            prune_blocked,
            orphaned_objects,
            git_fetch_duration,
            source_revision,
            secret_resolve_errors,
            managed_objects,
            leader,
            notifications,
            images,
            revisions: Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The OpenMetrics text of every metric.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Sets the served revision of `source` (drops its previous one).
    pub fn set_revision(&self, source: &str, revision: &str) {
        let mut revisions = self
            .revisions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = revisions.insert(source.to_owned(), revision.to_owned())
            && old != revision
        {
            self.source_revision.remove(&RevisionLabels {
                source: source.to_owned(),
                revision: old,
            });
        }
        self.source_revision
            .get_or_create(&RevisionLabels {
                source: source.to_owned(),
                revision: revision.to_owned(),
            })
            .set(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_with_their_names() {
        let metrics = Metrics::new();
        metrics
            .sync_total
            .get_or_create(&SyncLabels {
                app: "shop".into(),
                result: "Succeeded".into(),
            })
            .inc();
        let text = metrics.encode();
        assert!(
            text.contains("tether_sync_total{app=\"shop\",result=\"Succeeded\"} 1"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn a_source_serves_one_revision_at_a_time() {
        let metrics = Metrics::new();
        metrics.set_revision("a", "1111");
        metrics.set_revision("b", "2222");
        metrics.set_revision("a", "3333");
        let text = metrics.encode();
        assert!(!text.contains("1111"), "{text}");
        assert!(text.contains("revision=\"2222\""), "{text}");
        assert!(text.contains("revision=\"3333\""), "{text}");
    }

    #[test]
    fn a_bad_log_filter_is_refused() {
        let control = LogControl::detached("info");
        assert!(control.set("[[[").is_err());
        control.set("debug").unwrap();
        assert_eq!(control.current(), "debug");
    }
}
