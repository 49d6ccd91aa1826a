//! Field sets as `managedFields[].fieldsV1` writes them ("Server-Side Apply", section
//! "Field Management"): a tree whose keys are path elements, `f:<field>` for a map field,
//! `k:{"name":"x"}` for an associative-list item, `v:<json>` for a set member, and `.` for a
//! node that is itself a member while having children.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::schema::{FieldCtx, ListKind, atomic_map, item_key, list_kind};

/// A set of field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    member: bool,
    children: BTreeMap<String, FieldSet>,
}

/// One path: a list of elements (`f:spec`, `k:{"name":"x"}`).
pub type FieldPath = Vec<String>;

impl FieldSet {
    /// Whether the set holds no path.
    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds a path.
    pub fn insert(&mut self, path: &[String]) {
        match path.split_first() {
            None => self.member = true,
            Some((first, rest)) => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether some member lies strictly below `path`.
    pub fn has_below(&self, path: &[String]) -> bool {
        match path.split_first() {
            None => self.children.values().any(|c| !c.is_empty()),
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.has_below(rest)),
        }
    }

    /// Every member path.
    pub fn paths(&self) -> Vec<FieldPath> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<FieldPath>) {
        if self.member {
            out.push(prefix.clone());
        }
        for (k, child) in &self.children {
            prefix.push(k.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The union of two sets.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for p in other.paths() {
            out.insert(&p);
        }
        out
    }

    /// The paths of `self` that are not in `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.paths() {
            if !other.contains(&p) {
                out.insert(&p);
            }
        }
        out
    }

    /// The paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.paths() {
            if other.contains(&p) {
                out.insert(&p);
            }
        }
        out
    }

    /// Removes each path of `other` together with everything below it.
    pub fn remove_subtrees(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for p in self.paths() {
            let covered = (0..=p.len()).any(|n| other.contains(&p[..n]));
            if !covered {
                out.insert(&p);
            }
        }
        out
    }

    /// The `fieldsV1` JSON.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if self.member && !self.children.is_empty() {
            map.insert(".".to_owned(), Value::Object(Map::new()));
        }
        for (k, child) in &self.children {
            if !child.is_empty() {
                map.insert(k.clone(), child.to_json());
            }
        }
        Value::Object(map)
    }

    /// Reads a `fieldsV1` JSON tree (unknown shapes are ignored).
    pub fn from_json(value: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        if let Some(map) = value.as_object() {
            for (k, v) in map {
                if k == "." {
                    set.member = true;
                    continue;
                }
                let mut child = FieldSet::from_json(v);
                if v.as_object().is_some_and(Map::is_empty) {
                    child.member = true;
                }
                set.children.insert(k.clone(), child);
            }
        }
        set
    }
}

/// The element of a map field.
pub fn field(name: &str) -> String {
    format!("f:{name}")
}

/// The element of an associative-list item.
pub fn key_element(key: &Map<String, Value>) -> String {
    format!("k:{}", Value::Object(key.clone()))
}

/// The element of a set member.
pub fn value_element(v: &Value) -> String {
    format!("v:{v}")
}

/// A path written as conflict messages write it: `.spec.containers[name="app"].image`.
pub fn display_path(path: &[String]) -> String {
    let mut out = String::new();
    for el in path {
        if let Some(f) = el.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = el.strip_prefix("k:") {
            let parsed: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = parsed.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = el.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

/// Walks a value, tracking the field names (for schema lookups) and the path elements.
struct Walk<'a> {
    ctx: FieldCtx<'a>,
    names: Vec<String>,
    path: FieldPath,
}

impl Walk<'_> {
    fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// Inserts the fields a value sets (the server-side apply "toFieldSet" walk).
    fn collect_set(&mut self, value: &Value, out: &mut FieldSet) {
        match value {
            Value::Object(map) if !map.is_empty() && !atomic_map(self.ctx, &self.names()) => {
                for (k, v) in map {
                    self.descend_field(k, |w| w.collect_set(v, out));
                }
            }
            Value::Array(items) => match list_kind(self.ctx, &self.names()) {
                ListKind::Atomic => out.insert(&self.path),
                ListKind::Set => {
                    for item in items {
                        let mut p = self.path.clone();
                        p.push(value_element(item));
                        out.insert(&p);
                    }
                }
                ListKind::Map { keys, defaults, .. } => {
                    for item in items {
                        let Some(key) = item_key(item, &keys, &defaults) else {
                            continue;
                        };
                        self.path.push(key_element(&key));
                        out.insert(&self.path);
                        self.collect_set(item, out);
                        self.path.pop();
                    }
                }
            },
            _ => out.insert(&self.path),
        }
    }

    fn descend_field<R>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> R) -> R {
        self.names.push(name.to_owned());
        self.path.push(field(name));
        let r = f(self);
        self.path.pop();
        self.names.pop();
        r
    }

    /// Records what changed from `old` to `new`: fields set or modified go to `changed`
    /// (with a node of their own for new maps and list items), fields gone go to `removed`.
    fn compare(
        &mut self,
        old: &Value,
        new: &Value,
        changed: &mut FieldSet,
        removed: &mut FieldSet,
    ) {
        if old == new {
            return;
        }
        match (old, new) {
            (Value::Object(o), Value::Object(n)) if !atomic_map(self.ctx, &self.names()) => {
                for (k, nv) in n {
                    self.descend_field(k, |w| match o.get(k) {
                        Some(ov) => w.compare(ov, nv, changed, removed),
                        None => w.added(nv, changed),
                    });
                }
                for k in o.keys().filter(|k| !n.contains_key(*k)) {
                    self.descend_field(k, |w| removed.insert(&w.path));
                }
            }
            (Value::Array(o), Value::Array(n)) => match list_kind(self.ctx, &self.names()) {
                ListKind::Atomic => changed.insert(&self.path),
                ListKind::Set => {
                    for item in n.iter().filter(|i| !o.contains(i)) {
                        let mut p = self.path.clone();
                        p.push(value_element(item));
                        changed.insert(&p);
                    }
                    for item in o.iter().filter(|i| !n.contains(i)) {
                        let mut p = self.path.clone();
                        p.push(value_element(item));
                        removed.insert(&p);
                    }
                }
                ListKind::Map { keys, defaults, .. } => {
                    let keyed = |list: &[Value]| -> Vec<(String, Value)> {
                        list.iter()
                            .filter_map(|i| {
                                item_key(i, &keys, &defaults).map(|k| (key_element(&k), i.clone()))
                            })
                            .collect()
                    };
                    let (ok, nk) = (keyed(o), keyed(n));
                    for (el, nv) in &nk {
                        self.path.push(el.clone());
                        match ok.iter().find(|(e, _)| e == el) {
                            Some((_, ov)) => self.compare(ov, nv, changed, removed),
                            None => self.added(nv, changed),
                        }
                        self.path.pop();
                    }
                    for (el, _) in ok.iter().filter(|(e, _)| !nk.iter().any(|(n, _)| n == e)) {
                        let mut p = self.path.clone();
                        p.push(el.clone());
                        removed.insert(&p);
                    }
                }
            },
            _ => changed.insert(&self.path),
        }
    }

    fn added(&mut self, value: &Value, changed: &mut FieldSet) {
        let node = matches!(value, Value::Object(m) if !m.is_empty());
        if node
            || value.is_array() && !matches!(list_kind(self.ctx, &self.names()), ListKind::Atomic)
        {
            changed.insert(&self.path);
        }
        self.collect_set(value, changed);
    }
}

/// The fields an applied configuration sets.
pub fn to_field_set(ctx: FieldCtx<'_>, value: &Value) -> FieldSet {
    let mut out = FieldSet::default();
    let mut walk = Walk {
        ctx,
        names: Vec::new(),
        path: Vec::new(),
    };
    walk.collect_set(value, &mut out);
    out
}

/// What changed between two versions of an object: (set or modified, removed).
pub fn compare(ctx: FieldCtx<'_>, old: &Value, new: &Value) -> (FieldSet, FieldSet) {
    let mut changed = FieldSet::default();
    let mut removed = FieldSet::default();
    let mut walk = Walk {
        ctx,
        names: Vec::new(),
        path: Vec::new(),
    };
    walk.compare(old, new, &mut changed, &mut removed);
    (changed, removed)
}

/// Removes the field at `path` from `value` (a map key, a list item by key or by value).
pub fn remove_path(ctx: FieldCtx<'_>, value: &mut Value, path: &[String]) {
    remove_at(ctx, value, path, &mut Vec::new());
}

fn remove_at(ctx: FieldCtx<'_>, value: &mut Value, path: &[String], names: &mut Vec<String>) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if let Some(f) = first.strip_prefix("f:") {
        let Some(map) = value.as_object_mut() else {
            return;
        };
        if rest.is_empty() {
            map.remove(f);
        } else if let Some(child) = map.get_mut(f) {
            names.push(f.to_owned());
            remove_at(ctx, child, rest, names);
            names.pop();
        }
        return;
    }
    let Some(items) = value.as_array_mut() else {
        return;
    };
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let position = if let Some(k) = first.strip_prefix("k:") {
        let wanted: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
        match list_kind(ctx, &name_refs) {
            ListKind::Map { keys, defaults, .. } => items
                .iter()
                .position(|i| item_key(i, &keys, &defaults).as_ref() == Some(&wanted)),
            _ => None,
        }
    } else if let Some(v) = first.strip_prefix("v:") {
        let wanted: Value = serde_json::from_str(v).unwrap_or(Value::Null);
        items.iter().position(|i| *i == wanted)
    } else {
        None
    };
    let Some(position) = position else {
        return;
    };
    if rest.is_empty() {
        items.remove(position);
    } else if let Some(item) = items.get_mut(position) {
        remove_at(ctx, item, rest, names);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOY: FieldCtx<'static> = FieldCtx {
        kind: "Deployment",
        builtin: true,
    };

    #[test]
    fn applied_containers_are_keyed_by_name() {
        let obj = json!({"spec": {"replicas": 2, "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}}});
        let set = to_field_set(DEPLOY, &obj);
        assert_eq!(
            set.to_json(),
            json!({"f:spec": {"f:replicas": {}, "f:selector": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"app\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        assert_eq!(FieldSet::from_json(&set.to_json()), set);
    }

    #[test]
    fn compare_reports_changed_and_removed_fields() {
        let old = json!({"data": {"a": "1", "b": "2"}});
        let new = json!({"data": {"a": "x", "c": "3"}});
        let (changed, removed) = compare(DEPLOY, &old, &new);
        assert_eq!(changed.to_json(), json!({"f:data": {"f:a": {}, "f:c": {}}}));
        assert_eq!(removed.to_json(), json!({"f:data": {"f:b": {}}}));
    }

    #[test]
    fn removes_list_items_by_key() {
        let mut obj =
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
        let path: Vec<String> = [
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            "k:{\"name\":\"a\"}",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        remove_path(DEPLOY, &mut obj, &path);
        assert_eq!(
            obj,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b"}]}}}})
        );
        assert_eq!(
            display_path(&path),
            ".spec.template.spec.containers[name=\"a\"]"
        );
    }
}
