//! How Tether tells that a live object still matches what it applied, without any write.
//!
//! The desired object is the *shape*: only the fields Tether sets are compared, so fields
//! filled in by server defaulting and fields other managers own that Tether does not set (an
//! HPA's `spec.replicas`) are never drift. [`project`] cuts a live object down to that shape;
//! the hash of the projection taken right after an apply is kept in the inventory, and a
//! later projection with another hash means someone changed a field Tether owns.
//!
//! Per-app [`IgnoreRule`]s (JSON pointers with a target selector, like Flux's `spec.ignore`)
//! remove fields from the shape, so changes to them are not drift either.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::object::{ObjectRef, hash_value};

/// Fields to leave out of the drift comparison of the objects a target selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IgnoreRule {
    /// JSON pointers (`/spec/replicas`, `/metadata/annotations/x~1y`).
    pub paths: Vec<String>,
    /// Which objects the rule applies to; every object when absent.
    #[serde(default)]
    pub target: Option<Target>,
    /// Field managers whose fields (per the live object's `managedFields`) are neither drift
    /// nor reverted, as Argo CD's `ignoreDifferences[].managedFieldsManagers`
    /// ([`super::owned`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

/// An object selector: every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Target {
    /// The API group (empty string for the core group).
    pub group: Option<String>,
    /// The version.
    pub version: Option<String>,
    /// The kind.
    pub kind: Option<String>,
    /// The namespace.
    pub namespace: Option<String>,
    /// The name.
    pub name: Option<String>,
}

impl Target {
    /// Whether the target selects `object`.
    pub fn matches(&self, object: &ObjectRef) -> bool {
        let ok = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        ok(&self.group, &object.group)
            && ok(&self.version, &object.version)
            && ok(&self.kind, &object.kind)
            && ok(&self.namespace, &object.namespace)
            && ok(&self.name, &object.name)
    }
}

/// The list item keys used to match items of a desired list with live ones.
const MERGE_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "ip",
];

/// The shape of a prepared desired object: what is compared. Identity (`apiVersion`, `kind`)
/// and `status` are left out, metadata keeps only name, namespace, labels and annotations, and
/// ignored paths are removed.
pub fn shape(reference: &ObjectRef, desired: &Value, ignore: &[IgnoreRule]) -> Value {
    let mut shape = desired.clone();
    if let Some(map) = shape.as_object_mut() {
        for field in ["status", "apiVersion", "kind"] {
            map.remove(field);
        }
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| {
                matches!(k.as_str(), "name" | "namespace" | "labels" | "annotations")
            });
        }
    }
    for rule in ignore {
        if rule.target.as_ref().is_none_or(|t| t.matches(reference)) {
            for path in &rule.paths {
                remove_pointer(&mut shape, path);
            }
        }
    }
    shape
}

fn remove_pointer(value: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match value.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.remove(&last);
        }
        Some(Value::Array(items)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        _ => {}
    }
}

/// `live` cut down to the fields of `shape` (absent fields as `null`).
pub fn project(live: &Value, shape: &Value) -> Value {
    match shape {
        Value::Object(fields) => {
            let mut out = Map::new();
            for (key, sub) in fields {
                let value = live.get(key).unwrap_or(&Value::Null);
                out.insert(key.clone(), project(value, sub));
            }
            Value::Object(out)
        }
        Value::Array(items) => project_list(live, items),
        _ => live.clone(),
    }
}

fn project_list(live: &Value, shape: &[Value]) -> Value {
    let Some(live_items) = live.as_array() else {
        return live.clone();
    };
    if shape.is_empty() || !shape.iter().all(Value::is_object) {
        return live.clone();
    }
    let key = MERGE_KEYS.iter().find(|key| {
        let values: Vec<&Value> = shape.iter().filter_map(|i| i.get(**key)).collect();
        values.len() == shape.len()
            && values
                .iter()
                .enumerate()
                .all(|(i, v)| !values[..i].contains(v))
    });
    match key {
        Some(key) => Value::Array(
            shape
                .iter()
                .map(|item| {
                    let found = live_items
                        .iter()
                        .find(|l| l.get(*key) == item.get(*key))
                        .unwrap_or(&Value::Null);
                    project(found, item)
                })
                .collect(),
        ),
        None => {
            let mut out: Vec<Value> = shape
                .iter()
                .enumerate()
                .map(|(i, item)| project(live_items.get(i).unwrap_or(&Value::Null), item))
                .collect();
            if live_items.len() != shape.len() {
                out.push(Value::String(format!("#len={}", live_items.len())));
            }
            Value::Array(out)
        }
    }
}

/// The field managers the rules matching `reference` yield to (`managedFieldsManagers`).
#[must_use]
pub fn yielding_managers(reference: &ObjectRef, ignore: &[IgnoreRule]) -> Vec<String> {
    let mut managers: Vec<String> = Vec::new();
    for rule in ignore {
        if rule.target.as_ref().is_none_or(|t| t.matches(reference)) {
            for m in &rule.managed_fields_managers {
                if !managers.contains(m) {
                    managers.push(m.clone());
                }
            }
        }
    }
    managers
}

/// [`project`], with the fields `managers` own in `live` taken from the shape (a Secret's
/// fields are always compared).
#[must_use]
pub fn project_yielding(live: &Value, shape: &Value, managers: &[String]) -> Value {
    let mut projected = project(live, shape);
    if live.get("kind").and_then(Value::as_str) != Some("Secret")
        && let Some(set) = super::owned::owned_set(live, managers)
    {
        super::owned::yield_owned(&mut projected, shape, &set);
    }
    projected
}

/// [`live_hash`], with the fields `managers` own in `live` counted as Tether applied them.
#[must_use]
pub fn live_hash_yielding(live: &Value, shape: &Value, managers: &[String]) -> String {
    if managers.is_empty() || live.get("kind").and_then(Value::as_str) == Some("Secret") {
        return live_hash(live, shape);
    }
    hash_value(&project_yielding(live, shape, managers))
}

/// `object` without the fields `managers` own in `live`, so that applying it does not take
/// them back; `None` when there is nothing to leave out.
#[must_use]
pub fn without_owned(object: &Value, live: &Value, managers: &[String]) -> Option<Value> {
    if live.get("kind").and_then(Value::as_str) == Some("Secret") {
        return None;
    }
    let set = super::owned::owned_set(live, managers)?;
    super::owned::strip_owned(object, &set)
}

/// The hash of `live` projected onto `shape`. A Secret's values are hashed by their keyed
/// fingerprints ([`super::secret::fingerprinted`]), never by a plain hash.
pub fn live_hash(live: &Value, shape: &Value) -> String {
    let projected = project(live, shape);
    if projected.get("kind").and_then(Value::as_str) == Some("Secret") {
        return hash_value(&super::secret::fingerprinted(&projected));
    }
    hash_value(&projected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment_ref() -> ObjectRef {
        ObjectRef::from_object(
            0,
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
        )
        .expect("valid")
    }

    #[test]
    fn defaults_and_other_managers_fields_are_not_compared() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:1"}]}}}});
        let live = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "x", "resourceVersion": "9"},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "sidecar", "image": "s:1"},
                {"name": "app", "image": "a:1", "imagePullPolicy": "IfNotPresent"}]}}},
            "status": {"replicas": 5}});
        let s = shape(&deployment_ref(), &desired, &[]);
        assert_eq!(
            project(&live, &s),
            s,
            "the live object matches on every field Tether sets"
        );
        let mut changed = live.clone();
        changed["spec"]["template"]["spec"]["containers"][1]["image"] = json!("a:2");
        assert_ne!(live_hash(&changed, &s), live_hash(&live, &s));
    }

    #[test]
    fn ignore_rules_remove_paths_of_the_objects_they_target() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 2, "paused": false}});
        let rules = vec![IgnoreRule {
            paths: vec!["/spec/replicas".into()],
            target: Some(Target {
                kind: Some("Deployment".into()),
                ..Target::default()
            }),
            managed_fields_managers: Vec::new(),
        }];
        let s = shape(&deployment_ref(), &desired, &rules);
        assert_eq!(s["spec"], json!({"paused": false}));
        let other = vec![IgnoreRule {
            paths: vec!["/spec/replicas".into()],
            target: Some(Target {
                kind: Some("StatefulSet".into()),
                ..Target::default()
            }),
            managed_fields_managers: Vec::new(),
        }];
        assert_eq!(
            shape(&deployment_ref(), &desired, &other)["spec"]["replicas"],
            2
        );
    }

    #[test]
    fn an_extra_item_in_an_unkeyed_list_is_drift() {
        let s = json!({"args": ["a"], "rules": [{"host": "x"}]});
        let same = json!({"args": ["a"], "rules": [{"host": "x"}]});
        let more = json!({"args": ["a"], "rules": [{"host": "x"}, {"host": "y"}]});
        assert_ne!(live_hash(&same, &s), live_hash(&more, &s));
    }
}
