//! The object store: every object of one server instance, the global `resourceVersion`
//! counter, and a bounded history of changes that watches replay ("API Concepts", sections
//! "Resource versions" and "Efficient detection of changes").

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

use super::defaults::Allocator;
use super::kinds::Registry;
use super::meta;

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object changed.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The wire name (`ADDED`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as history keeps it and watches send it.
#[derive(Debug, Clone)]
pub struct Event {
    /// The resourceVersion the change produced.
    pub rv: u64,
    /// The storage key of the resource (`apps/deployments`).
    pub storage_key: String,
    /// What happened.
    pub kind: EventType,
    /// The object after the change (for deletions, its last state), shared with the store.
    pub object: Arc<Value>,
    /// The object before the change, for selector transitions.
    pub previous: Option<Arc<Value>>,
}

/// Where one object is stored: storage key, namespace (empty for cluster scope), name.
pub type ObjKey = (String, String, String);

/// Everything one server instance holds.
#[derive(Debug)]
pub struct Store {
    /// The served resource types.
    pub registry: Registry,
    /// The objects, each shared with the history's events that carry it.
    objects: BTreeMap<ObjKey, Arc<Value>>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    history_limit: usize,
    compacted: u64,
    /// Cluster IP and node port allocation.
    pub alloc: Allocator,
    /// Service account tokens issued by the test hook.
    pub tokens: HashMap<String, super::tokens::IssuedToken>,
    /// The uid of each service account tokens were issued for: (namespace, name) → uid.
    pub service_account_uids: HashMap<(String, String), String>,
    /// Tokens of users a test configured: token → (user name, groups).
    pub user_tokens: HashMap<String, (String, Vec<String>)>,
    /// CRDs waiting to become Established, by name.
    pub pending_crds: Vec<String>,
    /// Whether CRDs are Established at once (no establishing delay).
    pub crd_delay_zero: bool,
    watchers: Watchers,
    closers: broadcast::Sender<()>,
}

/// How many changes a watch may have waiting before it is ended as too slow (the client
/// then resumes from its last resourceVersion, as from a real server's watch cache).
const WATCH_QUEUE: usize = 4096;

/// The open watches' inboxes, by storage key and namespace (`""`: every namespace, or a
/// cluster-scoped resource), so that a change wakes only the watches it is in scope of, as
/// the real server's watch cache dispatches by namespace instead of waking every watcher.
#[derive(Debug, Default)]
struct Watchers(HashMap<String, HashMap<String, Inboxes>>);

/// The inboxes of the watches of one storage key and namespace.
type Inboxes = Vec<mpsc::Sender<Arc<Event>>>;

impl Watchers {
    fn add(&mut self, storage_key: &str, namespace: &str) -> mpsc::Receiver<Arc<Event>> {
        let (tx, rx) = mpsc::channel(WATCH_QUEUE);
        let inboxes = self
            .0
            .entry(storage_key.to_owned())
            .or_default()
            .entry(namespace.to_owned())
            .or_default();
        inboxes.retain(|t| !t.is_closed());
        inboxes.push(tx);
        rx
    }

    /// Sends a change to the watches of its namespace and to those of every namespace; a
    /// watch that fell behind (its inbox full) or went away is dropped.
    fn send(&mut self, event: &Arc<Event>) {
        let Some(by_namespace) = self.0.get_mut(&event.storage_key) else {
            return;
        };
        let namespace = meta::namespace(&event.object);
        let mut deliver = |ns: &str| {
            if let Some(inboxes) = by_namespace.get_mut(ns) {
                inboxes.retain(|t| t.try_send(Arc::clone(event)).is_ok());
            }
        };
        deliver(namespace);
        if !namespace.is_empty() {
            deliver("");
        }
    }
}

impl Store {
    /// An empty store keeping the last `history_limit` changes for watches.
    pub fn new(history_limit: usize) -> Self {
        let (closers, _) = broadcast::channel(4);
        Self {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            compacted: 1,
            alloc: Allocator::default(),
            tokens: HashMap::new(),
            service_account_uids: HashMap::new(),
            user_tokens: HashMap::new(),
            pending_crds: Vec::new(),
            crd_delay_zero: true,
            watchers: Watchers::default(),
            closers,
        }
    }

    /// The latest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// One object.
    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key).map(|o| &**o)
    }

    /// The objects of one storage key, in key order; `namespace` `None` means all. Only
    /// that key's (and namespace's) range of the store is read.
    pub fn list(&self, storage_key: &str, namespace: Option<&str>) -> Vec<&Value> {
        self.range(storage_key, namespace)
            .map(|(_, v)| &**v)
            .collect()
    }

    fn range<'s>(
        &'s self,
        storage_key: &str,
        namespace: Option<&str>,
    ) -> impl Iterator<Item = (&'s ObjKey, &'s Arc<Value>)> + use<'s> {
        let storage_key = storage_key.to_owned();
        let namespace = namespace.map(str::to_owned);
        let start = (
            storage_key.clone(),
            namespace.clone().unwrap_or_default(),
            String::new(),
        );
        self.objects
            .range(start..)
            .take_while(move |((k, ns, _), _)| {
                *k == storage_key && namespace.as_ref().is_none_or(|n| n == ns)
            })
    }

    /// The keys of every object in a namespace (any resource).
    pub fn keys_in_namespace(&self, namespace: &str) -> Vec<ObjKey> {
        self.objects
            .keys()
            .filter(|(_, ns, _)| ns == namespace)
            .cloned()
            .collect()
    }

    /// The keys of every object of one storage key.
    pub fn keys_of(&self, storage_key: &str) -> Vec<ObjKey> {
        self.range(storage_key, None)
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn record(&mut self, event: Event) {
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.rv;
            }
        }
        self.watchers.send(&event);
    }

    /// Stores an object (created or replaced), giving it the next resourceVersion and
    /// recording the event. Returns the stored object.
    pub fn put(&mut self, key: ObjKey, mut object: Value) -> Value {
        self.rv += 1;
        meta::set_meta(
            &mut object,
            "resourceVersion",
            Value::String(self.rv.to_string()),
        );
        let shared = Arc::new(object);
        let previous = self.objects.insert(key.clone(), Arc::clone(&shared));
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Event {
            rv: self.rv,
            storage_key: key.0,
            kind,
            object: Arc::clone(&shared),
            previous,
        });
        Arc::unwrap_or_clone(shared)
    }

    /// Removes an object, recording a DELETED event carrying a new resourceVersion.
    pub fn remove(&mut self, key: &ObjKey) -> Option<Value> {
        let mut object = Arc::unwrap_or_clone(self.objects.remove(key)?);
        self.rv += 1;
        meta::set_meta(
            &mut object,
            "resourceVersion",
            Value::String(self.rv.to_string()),
        );
        let shared = Arc::new(object);
        self.record(Event {
            rv: self.rv,
            storage_key: key.0.clone(),
            kind: EventType::Deleted,
            object: Arc::clone(&shared),
            previous: None,
        });
        Some(Arc::unwrap_or_clone(shared))
    }

    /// The changes after `rv`, or `Err(oldest)` when `rv` is older than the history kept.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        // The history is in resourceVersion order.
        let first = self.history.partition_point(|e| e.rv <= rv);
        Ok(self.history.range(first..).cloned().collect())
    }

    /// The objects of one storage key (and namespace) that exist now, each as it was at
    /// `rv` ("Resource versions": `resourceVersionMatch=Exact`): objects created since are
    /// left out, objects changed since are given in their state at `rv`. `Err(oldest)` when
    /// the history no longer reaches back to `rv`.
    pub fn list_at(
        &self,
        storage_key: &str,
        namespace: Option<&str>,
        rv: u64,
    ) -> Result<Vec<(ObjKey, &Value)>, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        // The first change of each object after `rv` tells its state at `rv`.
        let mut first: HashMap<(&str, &str), &Event> = HashMap::new();
        let start = self.history.partition_point(|e| e.rv <= rv);
        for e in self.history.range(start..) {
            let ns = meta::namespace(&e.object);
            if e.storage_key != storage_key || namespace.is_some_and(|n| n != ns) {
                continue;
            }
            first.entry((ns, meta::name(&e.object))).or_insert(e);
        }
        let mut out = Vec::new();
        for (key, current) in self.range(storage_key, namespace) {
            let then = match first.get(&(key.1.as_str(), key.2.as_str())) {
                None => Some(&**current),
                Some(e) => match e.kind {
                    EventType::Added => None,
                    EventType::Modified => e.previous.as_deref(),
                    EventType::Deleted => Some(&*e.object),
                },
            };
            if let Some(then) = then {
                out.push((key.clone(), then));
            }
        }
        Ok(out)
    }

    /// A receiver of the changes made from now on to the objects of one storage key in one
    /// namespace (`None`: every namespace).
    pub fn subscribe(
        &mut self,
        storage_key: &str,
        namespace: Option<&str>,
    ) -> mpsc::Receiver<Arc<Event>> {
        self.watchers.add(storage_key, namespace.unwrap_or(""))
    }

    /// A receiver that fires when watches must end (history compaction, shutdown).
    pub fn subscribe_close(&self) -> broadcast::Receiver<()> {
        self.closers.subscribe()
    }

    /// Forgets the history (as an etcd compaction does) and ends every open watch, so
    /// clients that resume from an older resourceVersion get `410 Gone`.
    pub fn compact(&mut self) {
        // The compaction is a revision of its own, so every watcher is behind it.
        self.rv += 1;
        self.history.clear();
        self.compacted = self.rv;
        let _ = self.closers.send(());
    }

    /// Ends every open watch (shutdown).
    pub fn close_watches(&self) {
        let _ = self.closers.send(());
    }
}
