//! Watches ("API Concepts", sections "Efficient detection of changes", "Watch bookmarks",
//! "Streaming lists" and "Semantics for watch"): a chunked stream of newline-delimited
//! `{"type": ..., "object": ...}` events, started from a resourceVersion (replaying history,
//! or `410 Gone` as an `ERROR` event when it is older than the history kept) or from the
//! current state (synthetic `ADDED` events), with periodic `BOOKMARK`s and `timeoutSeconds`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, Interval};

use super::kinds::ResourceType;
use super::meta;
use super::selectors::Selectors;
use super::status::ApiError;
use super::store::{Event, EventType, Store};
use super::table::Representation;

/// The parameters of one watch request.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    /// `resourceVersion`: `None`, empty or `0` start from the current state.
    pub resource_version: Option<String>,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents` (streaming lists).
    pub send_initial_events: bool,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// How often bookmarks are sent.
    pub bookmark_interval: Duration,
}

/// What one watch filters on.
#[derive(Debug, Clone)]
pub struct WatchScope {
    /// The resource watched.
    pub ty: Arc<ResourceType>,
    /// The namespace, or `None` for all.
    pub namespace: Option<String>,
    /// Label and field selectors.
    pub selectors: Selectors,
    /// How objects are sent (objects, one-row Tables, metadata only).
    pub representation: Representation,
}

impl WatchScope {
    fn in_scope(&self, obj: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| meta::namespace(obj) == ns)
            && self.selectors.matches(obj)
    }

    fn served(&self, obj: &Value) -> Value {
        let mut out = obj.clone();
        if let Some(m) = out.as_object_mut() {
            m.insert("apiVersion".into(), json!(self.ty.api_version()));
        }
        self.representation.one(&out)
    }

    /// The line to send for a stored change of the resource stored under `storage_key`, if
    /// any: selector transitions become ADDED and DELETED ("Semantics for watch").
    fn line_for(&self, storage_key: &str, event: &Event) -> Option<Bytes> {
        if event.storage_key != storage_key {
            return None;
        }
        let now = self.in_scope(&event.object);
        let kind = match event.kind {
            EventType::Modified => {
                let before = event.previous.as_ref().is_some_and(|p| self.in_scope(p));
                match (before, now) {
                    (true, true) => EventType::Modified,
                    (false, true) => EventType::Added,
                    (true, false) => EventType::Deleted,
                    (false, false) => return None,
                }
            }
            other if now => other,
            _ => return None,
        };
        Some(line(kind.as_str(), &self.served(&event.object)))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end && let Some(m) = metadata.as_object_mut() {
            m.insert(
                "annotations".into(),
                json!({"k8s.io/initial-events-end": "true"}),
            );
        }
        line(
            "BOOKMARK",
            &json!({"kind": self.ty.kind, "apiVersion": self.ty.api_version(), "metadata": metadata}),
        )
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

struct Running {
    scope: WatchScope,
    storage_key: String,
    queue: VecDeque<Bytes>,
    events: mpsc::Receiver<Arc<Event>>,
    close: broadcast::Receiver<()>,
    start_rv: u64,
    progress_rv: u64,
    bookmarks: Option<Interval>,
    deadline: Option<Instant>,
    ended: bool,
}

enum Step {
    Event(Option<Arc<Event>>),
    Bookmark,
    End,
}

impl Running {
    async fn next_line(&mut self) -> Option<Bytes> {
        loop {
            if let Some(l) = self.queue.pop_front() {
                return Some(l);
            }
            if self.ended {
                return None;
            }
            let deadline = self.deadline;
            let bookmarks = &mut self.bookmarks;
            let step = tokio::select! {
                e = self.events.recv() => Step::Event(e),
                _ = self.close.recv() => Step::End,
                _ = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                } => Step::End,
                _ = async {
                    match bookmarks.as_mut() {
                        Some(i) => { i.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => Step::Bookmark,
            };
            match step {
                Step::Event(Some(event)) => {
                    if event.rv <= self.start_rv {
                        continue;
                    }
                    self.progress_rv = self.progress_rv.max(event.rv);
                    if let Some(l) = self.scope.line_for(&self.storage_key, &event) {
                        return Some(l);
                    }
                }
                // A watcher that fell behind is ended (the store drops its inbox); the client
                // resumes from its last resourceVersion, from history or with a relist.
                Step::Event(None) | Step::End => self.ended = true,
                Step::Bookmark => return Some(self.scope.bookmark(self.progress_rv, false)),
            }
        }
    }
}

/// Starts a watch: the events to send first are decided under the store lock, so nothing
/// between the replay and the live stream is lost.
pub fn start(
    store: &mut Store,
    scope: WatchScope,
    params: &WatchParams,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
    let storage_key = scope.ty.storage_key();
    let events = store.subscribe(&storage_key, scope.namespace.as_deref());
    let close = store.subscribe_close();
    let current = store.current_rv();
    let mut queue = VecDeque::new();
    let mut ended = false;
    let from: Option<u64> = params
        .resource_version
        .as_deref()
        .filter(|rv| !rv.is_empty() && *rv != "0")
        .and_then(|rv| rv.parse().ok().or(Some(0)));
    match from {
        Some(rv) if !params.send_initial_events => match store.events_since(rv) {
            Ok(history) => {
                for e in history {
                    if let Some(l) = scope.line_for(&storage_key, &e) {
                        queue.push_back(l);
                    }
                }
            }
            Err(oldest) => {
                queue.push_back(line("ERROR", &ApiError::gone(rv, oldest).to_status()));
                ended = true;
            }
        },
        _ => {
            for obj in store.list(&storage_key, scope.namespace.as_deref()) {
                if scope.selectors.matches(obj) {
                    queue.push_back(line("ADDED", &scope.served(obj)));
                }
            }
            if params.send_initial_events {
                queue.push_back(scope.bookmark(current, true));
            }
        }
    }
    let bookmarks = params.bookmarks.then(|| {
        let period = params.bookmark_interval.max(Duration::from_millis(10));
        tokio::time::interval_at(Instant::now() + period, period)
    });
    let running = Running {
        scope,
        storage_key,
        queue,
        events,
        close,
        start_rv: current,
        progress_rv: current,
        bookmarks,
        deadline: params.timeout.map(|t| Instant::now() + t),
        ended,
    };
    futures::stream::unfold(running, |mut r| async move {
        r.next_line().await.map(|l| (Ok(l), r))
    })
}
