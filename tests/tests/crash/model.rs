//! The desired state of the crash test: ConfigMaps in three apps, changed at random, and
//! what was ever desired or removed (for the uid checks).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand::Rng;
use rand::rngs::StdRng;
use tether_tests::gitserver::Upstream;

/// The apps (directories `apps/<app>`, synced into the namespace of the same name).
pub const APPS: [&str; 3] = ["one", "two", "three"];
/// The ConfigMap every app keeps (never removed, so no app ever leaves Git).
const KEPT: &str = "settings";
/// The ConfigMaps that come and go.
const EXTRAS: [&str; 5] = ["extra-0", "extra-1", "extra-2", "extra-3", "extra-4"];

/// One object: a ConfigMap `namespace/name`, or a Namespace (empty `namespace`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub namespace: String,
    pub name: String,
}

impl Key {
    fn config_map(app: &str, name: &str) -> Self {
        Self {
            namespace: app.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The Namespace `name`.
    pub fn namespace(name: &str) -> Self {
        Self {
            namespace: String::new(),
            name: name.to_owned(),
        }
    }

    fn path(&self) -> String {
        format!("apps/{}/{}.yaml", self.namespace, self.name)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "Namespace {}", self.name)
        } else {
            write!(f, "ConfigMap {}/{}", self.namespace, self.name)
        }
    }
}

/// One change of a commit.
#[derive(Debug, Clone)]
pub enum Change {
    Add(Key),
    Update(Key),
    Remove(Key),
}

/// The ConfigMaps Git holds and their history.
pub struct Desired {
    objects: BTreeMap<Key, String>,
    desired: BTreeSet<Key>,
    removed: BTreeSet<Key>,
}

impl Desired {
    pub fn new() -> Self {
        Self {
            objects: BTreeMap::new(),
            desired: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    /// The objects of the current commit and their `data.value`.
    pub fn objects(&self) -> &BTreeMap<Key, String> {
        &self.objects
    }

    /// Whether the object was removed from Git at some commit.
    pub fn ever_removed(&self, key: &Key) -> bool {
        self.removed.contains(key)
    }

    /// How many objects were removed from Git at some commit.
    pub fn removed_count(&self) -> usize {
        self.removed.len()
    }

    /// Whether some commit held the object (the app Namespaces always).
    pub fn ever_desired(&self, key: &Key) -> bool {
        if key.namespace.is_empty() {
            return APPS.contains(&key.name.as_str());
        }
        self.desired.contains(key)
    }

    fn set(&mut self, key: Key, value: String) {
        self.desired.insert(key.clone());
        self.objects.insert(key, value);
    }

    /// The starting state: `settings` and about half the extras in every app.
    pub fn start(&mut self, rng: &mut StdRng) {
        for app in APPS {
            self.set(Key::config_map(app, KEPT), format!("{app}-start"));
            for extra in EXTRAS {
                if rng.gen_bool(0.5) {
                    self.set(Key::config_map(app, extra), format!("{app}-{extra}-start"));
                }
            }
        }
    }

    /// One to three random changes for round `round`, applied to the model.
    pub fn mutate(&mut self, rng: &mut StdRng, round: usize) -> Vec<Change> {
        let mut changes = Vec::new();
        let mut touched = BTreeSet::new();
        for n in 0..rng.gen_range(1..=3) {
            let app = APPS[rng.gen_range(0..APPS.len())];
            let name = if rng.gen_bool(0.2) {
                KEPT
            } else {
                EXTRAS[rng.gen_range(0..EXTRAS.len())]
            };
            let key = Key::config_map(app, name);
            if !touched.insert(key.clone()) {
                continue;
            }
            let value = format!("round-{round}-{n}");
            let change = match self.objects.contains_key(&key) {
                true if name != KEPT && rng.gen_bool(0.5) => {
                    self.objects.remove(&key);
                    self.removed.insert(key.clone());
                    Change::Remove(key)
                }
                true => {
                    self.set(key.clone(), value);
                    Change::Update(key)
                }
                false => {
                    self.set(key.clone(), value);
                    Change::Add(key)
                }
            };
            changes.push(change);
        }
        changes
    }

    /// Writes every object's file.
    pub fn write_all(&self, upstream: &Upstream) {
        for (key, value) in &self.objects {
            upstream
                .write(&key.path(), manifest(&key.name, value))
                .expect("write");
        }
    }

    /// Writes or removes the files of `changes`.
    pub fn write_changes(&self, upstream: &Upstream, changes: &[Change]) {
        for change in changes {
            match change {
                Change::Add(key) | Change::Update(key) => {
                    let value = &self.objects[key];
                    upstream
                        .write(&key.path(), manifest(&key.name, value))
                        .expect("write");
                }
                Change::Remove(key) => upstream.remove(&key.path()).expect("remove"),
            }
        }
    }
}

fn manifest(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n")
}
