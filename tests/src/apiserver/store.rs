//! The object store: every object of one server instance, the global `resourceVersion`
//! counter, and a bounded history of changes that watches replay ("API Concepts", sections
//! "Resource versions" and "Efficient detection of changes").

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

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
    /// The object after the change (for deletions, its last state).
    pub object: Value,
    /// The object before the change, for selector transitions.
    pub previous: Option<Value>,
}

/// Where one object is stored: storage key, namespace (empty for cluster scope), name.
pub type ObjKey = (String, String, String);

/// Everything one server instance holds.
#[derive(Debug)]
pub struct Store {
    /// The served resource types.
    pub registry: Registry,
    objects: BTreeMap<ObjKey, Value>,
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
    tx: broadcast::Sender<Arc<Event>>,
    closers: broadcast::Sender<()>,
}

impl Store {
    /// An empty store keeping the last `history_limit` changes for watches.
    pub fn new(history_limit: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
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
            tx,
            closers,
        }
    }

    /// The latest resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// One object.
    pub fn get(&self, key: &ObjKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// The objects of one storage key, in key order; `namespace` `None` means all.
    pub fn list(&self, storage_key: &str, namespace: Option<&str>) -> Vec<&Value> {
        self.objects
            .iter()
            .filter(|((k, ns, _), _)| k == storage_key && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v)
            .collect()
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
        self.objects
            .keys()
            .filter(|(k, _, _)| k == storage_key)
            .cloned()
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
        // Nobody listening is fine.
        let _ = self.tx.send(event);
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
        let previous = self.objects.insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(Event {
            rv: self.rv,
            storage_key: key.0,
            kind,
            object: object.clone(),
            previous,
        });
        object
    }

    /// Removes an object, recording a DELETED event carrying a new resourceVersion.
    pub fn remove(&mut self, key: &ObjKey) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.rv += 1;
        meta::set_meta(
            &mut object,
            "resourceVersion",
            Value::String(self.rv.to_string()),
        );
        self.record(Event {
            rv: self.rv,
            storage_key: key.0.clone(),
            kind: EventType::Deleted,
            object: object.clone(),
            previous: None,
        });
        Some(object)
    }

    /// The changes after `rv`, or `Err(oldest)` when `rv` is older than the history kept.
    pub fn events_since(&self, rv: u64) -> Result<Vec<Arc<Event>>, u64> {
        if rv < self.compacted {
            return Err(self.compacted);
        }
        Ok(self.history.iter().filter(|e| e.rv > rv).cloned().collect())
    }

    /// A receiver of the changes made from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
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
