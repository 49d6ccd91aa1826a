//! Delivery that never blocks syncing: a bounded queue per provider (when full, the oldest
//! info event is dropped and counted), a worker per provider with a rate limit, and retries
//! with exponential backoff and jitter on 5xx, 429 (honouring `Retry-After`) and timeouts.
//! A delivery that fails for good is reported ([`Report`]), never a crash.

use super::event::{Event, Severity};
use super::payload::{self, HttpRequest, Outgoing};
use super::provider::Provider;
use rand::Rng as _;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;

/// Where the outcome of deliveries goes (metrics and Events in the daemon).
pub trait Report: Send + Sync {
    /// One event delivered to `provider`.
    fn delivered(&self, provider: &str, event: &Event);
    /// One event given up on, after its attempts; `error` is redacted.
    fn failed(&self, provider: &str, event: &Event, error: &str);
    /// One event dropped from a full queue.
    fn dropped(&self, provider: &str, event: &Event);
    /// One attempt failed and will be retried.
    fn retried(&self, provider: &str);
}

/// The result of one attempt.
#[derive(Debug)]
pub enum Attempt {
    /// Try again (after at least `after`, when the receiver said so).
    Retry {
        /// The receiver's `Retry-After`.
        after: Option<Duration>,
        /// What went wrong (redacted).
        why: String,
    },
    /// Give up.
    Fatal(String),
}

/// A bounded queue of events.
pub struct Queue {
    items: Mutex<VecDeque<Event>>,
    ready: Notify,
    capacity: usize,
}

impl Queue {
    /// An empty queue of at most `capacity` events.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    /// Queues `event`; returns the event dropped to make room, if any: the oldest info
    /// event, else (a queue full of warnings and errors) the oldest event.
    pub fn push(&self, event: Event) -> Option<Event> {
        let mut items = self.items.lock().unwrap_or_else(PoisonError::into_inner);
        let mut dropped = None;
        if items.len() >= self.capacity {
            let victim = items
                .iter()
                .position(|e| e.severity == Severity::Info)
                .unwrap_or(0);
            dropped = items.remove(victim);
        }
        items.push_back(event);
        drop(items);
        self.ready.notify_one();
        dropped
    }

    /// The next event, waiting for one.
    pub async fn pop(&self) -> Event {
        loop {
            let notified = self.ready.notified();
            if let Some(e) = self
                .items
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
            {
                return e;
            }
            notified.await;
        }
    }

    /// How many events wait.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The wait before retry number `attempt` (1-based): `base·2^(attempt-1)`, at most `max`,
/// with jitter (between half and all of it); a `Retry-After` is honoured up to `max`.
#[must_use]
pub fn backoff(
    attempt: u32,
    base: Duration,
    max: Duration,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(after) = retry_after {
        return after.min(max);
    }
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(max);
    let factor = rand::thread_rng().gen_range(0.5..=1.0);
    capped.mul_f64(factor)
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (RFC 9110: IMF-fixdate, and the
/// obsolete RFC 850 and asctime forms), which becomes the time left until then (zero when
/// it has passed).
#[must_use]
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    retry_after_at(value, std::time::SystemTime::now())
}

fn retry_after_at(value: Option<&str>, now: std::time::SystemTime) -> Option<Duration> {
    let value = value?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Sends one HTTP request.
async fn send_http(
    client: &reqwest::Client,
    provider: &Provider,
    req: &HttpRequest,
) -> Result<(), Attempt> {
    let mut builder = client.post(&req.url).body(req.body.clone());
    for (name, value) in &req.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let response = match builder.send().await {
        Ok(r) => r,
        Err(err) => {
            let transient = err.is_timeout() || err.is_connect() || err.is_request();
            let err = err.without_url();
            // The causes (connection refused, DNS, TLS) say what to fix; the URL is left
            // out and the provider's secrets masked.
            let mut why = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                why.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            let why = provider.scrub(&why);
            return Err(if transient {
                Attempt::Retry { after: None, why }
            } else {
                Attempt::Fatal(why)
            });
        }
    };
    let status = response.status();
    let after = retry_after(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
    );
    let body = response.text().await.unwrap_or_default();
    let snippet = provider.scrub(body.get(..200).unwrap_or(&body));
    if status.as_u16() == 429 {
        return Err(Attempt::Retry {
            after,
            why: format!("HTTP 429: {snippet}"),
        });
    }
    if status.is_server_error() {
        return Err(Attempt::Retry {
            after,
            why: format!("HTTP {}: {snippet}", status.as_u16()),
        });
    }
    if !status.is_success() {
        return Err(Attempt::Fatal(format!(
            "HTTP {}: {snippet}",
            status.as_u16()
        )));
    }
    if provider.kind == super::config::ProviderType::SlackBot {
        // chat.postMessage answers 200 with `ok: false` on errors.
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if v.get("ok").and_then(serde_json::Value::as_bool) != Some(true) {
            let error = v
                .get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("no ok in the answer");
            let why = format!("slack: {}", provider.scrub(error));
            return Err(if error == "ratelimited" {
                Attempt::Retry { after, why }
            } else {
                Attempt::Fatal(why)
            });
        }
    }
    Ok(())
}

/// The HTTP client of a provider (rustls; the provider's CA file added).
pub fn http_client(provider: &Provider, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("tether-agent");
    if let Some(pem) = &provider.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("caFile: {}", e.without_url()))?;
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| e.without_url().to_string())
}

/// The environment variable of a test-only delay between a successful send and the ledger
/// write that clears the event (milliseconds), to widen the window in which a killed agent
/// has sent an event it still holds as pending. Never set it in production.
pub const TEST_DELAY_AFTER_SEND: &str = "TETHER_TEST_NOTIFY_DELAY_AFTER_SEND_MS";

fn test_delay_after_send() -> Option<Duration> {
    static DELAY: std::sync::OnceLock<Option<Duration>> = std::sync::OnceLock::new();
    *DELAY.get_or_init(|| {
        std::env::var(TEST_DELAY_AFTER_SEND)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
    })
}

/// The outcome of one event's delivery.
enum Outcome {
    Sent,
    Failed(String),
    /// The app is now another replica's: its owner sends the event from the ledger.
    Moved,
}

/// A provider's worker: takes events from its queue, keeps to the rate limit, writes each
/// kept event's `sending` state to the ledger, then sends it with retries. Runs until
/// aborted.
pub async fn run_worker(
    provider: Arc<Provider>,
    queue: Arc<Queue>,
    report: Arc<dyn Report>,
    ledger: Arc<super::ledger::Ledger>,
) {
    let config = &provider.config;
    let timeout = config.timeout.map_or(Duration::from_secs(10), |t| t.0);
    let per_minute = config.rate_limit.map_or(30, |r| r.per_minute).max(1);
    let spacing = Duration::from_secs(60) / per_minute;
    let client = match http_client(&provider, timeout) {
        Ok(c) => Some(c),
        Err(err) => {
            tracing::error!(provider = %provider.name, error = %err, "the provider's HTTP client cannot be built");
            None
        }
    };
    let mut next_slot = tokio::time::Instant::now();
    loop {
        let event = queue.pop().await;
        let Some(outgoing) = payload::build(&provider, &event) else {
            continue;
        };
        if event.id != 0 {
            if !ledger.owns(&event.app) {
                tracing::debug!(provider = %provider.name, app = %event.app, "the app is another replica's: its owner sends this notification");
                // Read back from the status if the app comes back here.
                ledger.forget(&event.app);
                continue;
            }
            ledger.persist_sending(&event.app, event.id).await;
        }
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            tokio::time::sleep_until(next_slot).await;
            if event.id != 0 && !ledger.owns(&event.app) {
                break Outcome::Moved;
            }
            next_slot = tokio::time::Instant::now() + spacing;
            let sent = match (&outgoing, &client) {
                (Outgoing::Http(req), Some(c)) => send_http(c, &provider, req).await,
                (Outgoing::Http(_), None) => Err(Attempt::Fatal("no HTTP client".into())),
                (Outgoing::Mail(mail), _) => {
                    match tokio::time::timeout(timeout, super::smtp::send(&provider, mail)).await {
                        Ok(r) => r,
                        Err(_) => Err(Attempt::Retry {
                            after: None,
                            why: "timed out".into(),
                        }),
                    }
                }
            };
            match sent {
                Ok(()) => break Outcome::Sent,
                Err(Attempt::Retry { after, why }) if attempt < config.retry.attempts => {
                    report.retried(&provider.name);
                    let wait = backoff(
                        attempt,
                        config.retry.backoff.0,
                        config.retry.max_backoff.0,
                        after,
                    );
                    tracing::debug!(provider = %provider.name, attempt, wait = ?wait, error = %why, "notification will be retried");
                    tokio::time::sleep(wait).await;
                }
                Err(Attempt::Retry { why, .. } | Attempt::Fatal(why)) => {
                    break Outcome::Failed(why);
                }
            }
        };
        finish(&provider, &event, result, attempt, &*report, &ledger).await;
    }
}

/// Reports the outcome of one event's delivery (the ledger clears it through the report).
async fn finish(
    provider: &Provider,
    event: &Event,
    result: Outcome,
    attempt: u32,
    report: &dyn Report,
    ledger: &super::ledger::Ledger,
) {
    match result {
        Outcome::Sent => {
            tracing::info!(provider = %provider.name, app = %event.app, kind = event.kind.name(), resolved = event.resolved, event_id = %event.event_id, "notification sent");
            if let Some(delay) = test_delay_after_send() {
                tokio::time::sleep(delay).await;
            }
            report.delivered(&provider.name, event);
        }
        Outcome::Failed(why) => {
            tracing::warn!(provider = %provider.name, app = %event.app, kind = event.kind.name(), attempts = attempt, error = %why, "notification failed");
            report.failed(&provider.name, event, &why);
        }
        Outcome::Moved => {
            ledger.forget(&event.app);
            tracing::info!(provider = %provider.name, app = %event.app, kind = event.kind.name(), "the app is another replica's now: its owner sends this notification");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::event::{Commit, Kind};
    use std::time::SystemTime;

    fn event(severity: Severity, app: &str) -> Event {
        Event {
            app: app.into(),
            namespace: "ns".into(),
            cluster: "c".into(),
            kind: Kind::SyncFailed,
            resolved: false,
            reminder: false,
            severity,
            commit: Commit::default(),
            stage: None,
            reason: "R".into(),
            message: String::new(),
            link: None,
            channel: None,
            time: String::new(),
            at: SystemTime::UNIX_EPOCH,
            id: 0,
            event_id: String::new(),
        }
    }

    #[test]
    fn a_full_queue_drops_its_oldest_info_event() {
        let q = Queue::new(3);
        assert!(q.push(event(Severity::Error, "e1")).is_none());
        assert!(q.push(event(Severity::Info, "i1")).is_none());
        assert!(q.push(event(Severity::Info, "i2")).is_none());
        let dropped = q.push(event(Severity::Error, "e2")).expect("one dropped");
        assert_eq!(dropped.app, "i1");
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn a_queue_of_errors_drops_the_oldest() {
        let q = Queue::new(1);
        q.push(event(Severity::Error, "e1"));
        assert_eq!(
            q.push(event(Severity::Error, "e2")).map(|e| e.app),
            Some("e1".into())
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_honours_retry_after() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(10);
        for attempt in 1..=4u32 {
            let full = base * (1 << (attempt - 1));
            let b = backoff(attempt, base, max, None);
            assert!(b >= full / 2 && b <= full, "attempt {attempt}: {b:?}");
        }
        assert!(backoff(30, base, max, None) <= max);
        assert_eq!(
            backoff(1, base, max, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(backoff(1, base, max, Some(Duration::from_secs(60))), max);
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("soon")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn retry_after_as_an_http_date_is_the_time_left() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        for later in [
            "Wed, 21 Oct 2015 07:28:30 GMT",
            "Wednesday, 21-Oct-15 07:28:30 GMT",
            "Wed Oct 21 07:28:30 2015",
        ] {
            assert_eq!(
                retry_after_at(Some(later), now),
                Some(Duration::from_secs(30)),
                "{later}"
            );
        }
        assert_eq!(
            retry_after_at(Some("Wed, 21 Oct 2015 07:27:00 GMT"), now),
            Some(Duration::ZERO),
            "a date in the past"
        );
    }
}
