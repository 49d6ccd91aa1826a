//! Go's maps are shared references: `set`, `unset` and `merge` change a dict in place, and
//! every variable, field and value holding that dict sees the change (charts rely on it:
//! `$_ := set $ctx "key" v`, `$_ := set .Values "x" y`). Values here are immutable and
//! shared through `Arc`s, so a change makes a new map and records it as the successor of
//! the old one (by the old `Arc`'s identity); every read of a value resolves it through
//! these records, rebuilding the containers that hold a changed map. A render with no
//! change pays nothing. The records outlive one template (Helm's templates share the same
//! values, so a change made by one is seen by those rendered after it).

use super::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The successors of changed maps and lists.
#[derive(Default)]
pub(crate) struct Mutations {
    /// Old container identity → (the old value, kept alive so its address is not reused;
    /// its successor).
    replaced: HashMap<usize, (Value, Value)>,
    /// Containers known to hold no replaced container since the last change.
    clean: HashSet<usize>,
}

fn id(v: &Value) -> Option<usize> {
    match v {
        Value::Map(m) => Some(Arc::as_ptr(m) as *const u8 as usize),
        Value::List(l) => Some(Arc::as_ptr(l) as *const u8 as usize),
        _ => None,
    }
}

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
        self.clean.clear();
    }

    /// The current state of a value.
    pub(crate) fn resolve(&mut self, v: Value) -> Value {
        if self.replaced.is_empty() || id(&v).is_none() {
            return v;
        }
        let mut visiting = HashSet::new();
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

    fn deep(&mut self, v: Value, visiting: &mut HashSet<usize>, depth: usize) -> Value {
        let v = self.follow(v);
        let Some(i) = id(&v) else { return v };
        if self.clean.contains(&i) || depth > MAX_DEPTH || !visiting.insert(i) {
            return v;
        }
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
        visiting.remove(&i);
        match out {
            Some(new) => {
                if let Some(n) = id(&new) {
                    self.replaced.insert(i, (v, new.clone()));
                    self.clean.insert(n);
                }
                new
            }
            None => {
                self.clean.insert(i);
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
