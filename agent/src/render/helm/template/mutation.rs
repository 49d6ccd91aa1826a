//! Go's maps are shared references: `set`, `unset` and `merge` change a dict in place, and
//! every variable, field and value holding that dict sees the change (charts rely on it:
//! `$_ := set $ctx "key" v`, `$_ := set .Values "x" y`). Values here are immutable and
//! shared through `Arc`s, so a change makes a new map and records it as the successor of
//! the old one (by the old `Arc`'s identity); every read of a value resolves it through
//! these records, rebuilding the containers that hold a changed map. A render with no
//! change pays nothing. The records outlive one template (Helm's templates share the same
//! values, so a change made by one is seen by those rendered after it).

use super::Value;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// A hasher for container identities (addresses): one multiplication, as the keys are
/// already unique and only their low bits vary little (allocations are aligned).
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_usize(&mut self, i: usize) {
        self.0 = (i as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(26);
    }
}

/// Maps and sets keyed by container identity.
type IdBuild = BuildHasherDefault<IdHasher>;

/// The successors of changed maps and lists.
#[derive(Default)]
pub(crate) struct Mutations {
    /// Old container identity → (the old value, kept alive so its address is not reused;
    /// its successor).
    replaced: HashMap<usize, (Value, Value), IdBuild>,
    /// Containers known to hold no replaced container, pinned (see [`Pin`]). Every
    /// container inside a clean one is clean too, unless a walk was `cut`.
    clean: HashMap<usize, Pin, IdBuild>,
    /// Container → the clean containers found holding it, so that a change un-marks only
    /// the containers that hold the changed one.
    parents: HashMap<usize, Vec<usize>, IdBuild>,
    /// A walk stopped short (nesting bound or a cycle): clean containers may hold
    /// containers `parents` does not know, so the next change un-marks everything.
    cut: bool,
}

/// A clean container's allocation kept (not its contents), so that its address is not
/// taken by another container while it is listed as clean.
enum Pin {
    Map {
        _keep: std::sync::Weak<BTreeMap<String, Value>>,
    },
    List {
        _keep: std::sync::Weak<Vec<Value>>,
    },
    None,
}

fn pin(v: &Value) -> Pin {
    match v {
        Value::Map(m) => Pin::Map {
            _keep: Arc::downgrade(m),
        },
        Value::List(l) => Pin::List {
            _keep: Arc::downgrade(l),
        },
        _ => Pin::None,
    }
}

fn id(v: &Value) -> Option<usize> {
    match v {
        Value::Map(m) => Some(Arc::as_ptr(m) as *const u8 as usize),
        Value::List(l) => Some(Arc::as_ptr(l) as *const u8 as usize),
        _ => None,
    }
}

/// Most containers whose holders are remembered (past it, a change un-marks everything).
const MAX_LINKED: usize = 1 << 20;

/// Deepest nesting resolved (deeper values are returned as they are).
const MAX_DEPTH: usize = 200;

impl Mutations {
    /// Records that `old` (a map) was changed into `new`.
    pub(crate) fn record(&mut self, old: &Value, new: &Value) {
        let (Some(o), Some(n)) = (id(old), id(new)) else {
            return;
        };
        if o == n {
            return;
        }
        self.replaced.insert(o, (old.clone(), new.clone()));
        if self.cut || self.parents.len() > MAX_LINKED {
            self.clean.clear();
            self.parents.clear();
            self.cut = false;
            return;
        }
        // Un-mark `old` and every clean container holding it.
        let mut stack = vec![o];
        while let Some(c) = stack.pop() {
            if (self.clean.remove(&c).is_some() || c == o)
                && let Some(holders) = self.parents.get(&c)
            {
                stack.extend(holders.iter().copied());
            }
        }
    }

    /// Records that `holder`'s containers are held by it.
    fn link(&mut self, holder: &Value) {
        let Some(h) = id(holder) else { return };
        let mut add = |c: &Value| {
            if let Some(c) = id(c) {
                let holders = self.parents.entry(c).or_default();
                if !holders.contains(&h) {
                    holders.push(h);
                }
            }
        };
        match holder {
            Value::Map(m) => m.values().for_each(&mut add),
            Value::List(l) => l.iter().for_each(&mut add),
            _ => {}
        }
    }

    /// The current state of a value.
    pub(crate) fn resolve(&mut self, v: Value) -> Value {
        if self.replaced.is_empty() || id(&v).is_none() {
            return v;
        }
        // Cheap when nothing in `v` changed since its last walk.
        if let Some(i) = id(&v)
            && self.clean.contains_key(&i)
            && !self.replaced.contains_key(&i)
        {
            return v;
        }
        let mut visiting = Vec::new();
        self.deep(v, &mut visiting, 0)
    }

    fn follow(&self, mut v: Value) -> Value {
        for _ in 0..10_000 {
            let Some(i) = id(&v) else { return v };
            match self.replaced.get(&i) {
                Some((_, next)) => v = next.clone(),
                None => return v,
            }
        }
        v
    }

    fn deep(&mut self, v: Value, visiting: &mut Vec<usize>, depth: usize) -> Value {
        let v = self.follow(v);
        let Some(i) = id(&v) else { return v };
        // The containers being walked (the path from the root: at most MAX_DEPTH).
        if self.clean.contains_key(&i) {
            return v;
        }
        if depth > MAX_DEPTH || visiting.contains(&i) {
            self.cut = true;
            return v;
        }
        visiting.push(i);
        let out = match &v {
            Value::Map(m) => {
                let mut changed: Option<BTreeMap<String, Value>> = None;
                for (k, c) in m.iter() {
                    if id(c).is_none() {
                        continue;
                    }
                    let nc = self.deep(c.clone(), visiting, depth + 1);
                    if id(&nc) != id(c) {
                        changed
                            .get_or_insert_with(|| (**m).clone())
                            .insert(k.clone(), nc);
                    }
                }
                changed.map(|n| Value::Map(Arc::new(n)))
            }
            Value::List(l) => {
                let mut changed: Option<Vec<Value>> = None;
                for (idx, c) in l.iter().enumerate() {
                    if id(c).is_none() {
                        continue;
                    }
                    let nc = self.deep(c.clone(), visiting, depth + 1);
                    if id(&nc) != id(c) {
                        changed.get_or_insert_with(|| (**l).clone())[idx] = nc;
                    }
                }
                changed.map(|n| Value::List(Arc::new(n)))
            }
            _ => None,
        };
        visiting.pop();
        match out {
            Some(new) => {
                if let Some(n) = id(&new) {
                    self.replaced.insert(i, (v, new.clone()));
                    self.link(&new);
                    self.clean.insert(n, pin(&new));
                }
                new
            }
            None => {
                self.link(&v);
                self.clean.insert(i, pin(&v));
                v
            }
        }
    }
}

/// A deep copy with new identities (Sprig's `deepCopy`): later changes to the original
/// are not seen through the copy.
pub(crate) fn deep_copy(v: &Value) -> Value {
    match v {
        Value::Map(m) => Value::Map(Arc::new(
            m.iter().map(|(k, x)| (k.clone(), deep_copy(x))).collect(),
        )),
        Value::List(l) => Value::List(Arc::new(l.iter().map(deep_copy).collect())),
        other => other.clone(),
    }
}
