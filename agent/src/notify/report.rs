//! The daemon's [`Report`]: delivery outcomes as metrics (`tether_notifications_total`) and,
//! for a delivery given up on, a Warning Event on the app.

use super::delivery::Report;
use super::event::Event;
use crate::daemon::status::Events;
use crate::telemetry::{Metrics, NotifyLabels};
use std::sync::Arc;

/// Reports deliveries to the daemon's metrics and Events.
pub struct DaemonReport {
    metrics: Arc<crate::daemon::state::Shared>,
    events: Option<Events>,
}

impl DaemonReport {
    /// Reports into `state`'s metrics and, when given, `events`.
    #[must_use]
    pub fn new(state: Arc<crate::daemon::state::Shared>, events: Option<Events>) -> Self {
        Self {
            metrics: state,
            events,
        }
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics.metrics
    }

    fn count(&self, provider: &str, result: &str) {
        self.metrics()
            .notifications
            .get_or_create(&NotifyLabels {
                provider: provider.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }
}

impl Report for DaemonReport {
    fn delivered(&self, provider: &str, _event: &Event) {
        self.count(provider, "sent");
    }

    fn failed(&self, provider: &str, event: &Event, error: &str) {
        self.count(provider, "failed");
        if let Some(events) = self.events.clone() {
            let app = event.app.clone();
            let note = format!(
                "notification {} to {provider} failed: {error}",
                event.kind.name()
            );
            tokio::spawn(async move {
                events.publish(&app, true, "NotificationFailed", note).await;
            });
        }
    }

    fn dropped(&self, provider: &str, _event: &Event) {
        self.count(provider, "dropped");
    }

    fn retried(&self, provider: &str) {
        self.count(provider, "retried");
    }
}
