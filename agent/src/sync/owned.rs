//! Fields owned by named field managers (Argo CD's `ignoreDifferences[].managedFieldsManagers`):
//! read from the live object's `metadata.managedFields` (`fieldsV1`, the field-set format of
//! server-side apply), they count as matching the desired object in the drift comparison
//! ([`yield_owned`]) and are left out of what Tether applies ([`strip_owned`]), so a change by
//! one of those managers is neither drift nor reverted.
//!
//! The field-set keys read: `f:NAME` (a field), `k:{JSON}` (a list item by its key fields),
//! `v:JSON` (a member of a list of scalars). `i:N` (an item by index, of atomic lists) is not
//! followed: such a field stays compared, the safe side. An object's identity (`apiVersion`,
//! `kind`, `metadata.name`, `metadata.namespace`), Tether's own label and annotations and the
//! key fields of a list item are never stripped.

use serde_json::{Map, Value};

use super::object::{MANAGED_BY_LABEL, OWNER_ANNOTATION};

/// The union of the `fieldsV1` sets of `live`'s `managedFields` entries whose manager is one
/// of `managers`; `None` when there is none.
#[must_use]
pub fn owned_set(live: &Value, managers: &[String]) -> Option<Value> {
    if managers.is_empty() {
        return None;
    }
    let mut union = Value::Object(Map::new());
    let mut any = false;
    for entry in live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let manager = entry.get("manager").and_then(Value::as_str).unwrap_or("");
        if !managers.iter().any(|m| m == manager) {
            continue;
        }
        if let Some(fields) = entry.get("fieldsV1").filter(|f| f.is_object()) {
            merge(&mut union, fields);
            any = true;
        }
    }
    any.then_some(union)
}

fn merge(into: &mut Value, from: &Value) {
    let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) else {
        return;
    };
    for (key, value) in from {
        match into.get_mut(key) {
            Some(existing) => merge(existing, value),
            None => {
                into.insert(key.clone(), value.clone());
            }
        }
    }
}

/// Whether a field-set node owns its field entirely (it names no member of it).
fn is_leaf(node: &Value) -> bool {
    node.as_object()
        .is_none_or(|m| m.keys().all(|k| !k.contains(':')))
}

/// The field-set child of `set` for the list item `item`: the `k:{...}` entry whose key
/// fields all equal the item's, or the `v:` entry of a scalar.
fn item_node<'a>(set: &'a Value, item: &Value) -> Option<&'a Value> {
    let map = set.as_object()?;
    if !item.is_object() {
        return map.get(&format!("v:{item}"));
    }
    map.iter().find_map(|(key, node)| {
        let keys: Map<String, Value> = serde_json::from_str(key.strip_prefix("k:")?).ok()?;
        (!keys.is_empty() && keys.iter().all(|(k, v)| item.get(k) == Some(v))).then_some(node)
    })
}

/// Sets every field of `projected` (a live object cut to `shape`) that `set` owns to the
/// shape's value, so that it compares equal to what Tether applied.
pub fn yield_owned(projected: &mut Value, shape: &Value, set: &Value) {
    match shape {
        Value::Object(fields) => {
            let Some(out) = projected.as_object_mut() else {
                return;
            };
            for (key, sub) in fields {
                let Some(node) = set.get(format!("f:{key}")) else {
                    continue;
                };
                if is_leaf(node) {
                    out.insert(key.clone(), sub.clone());
                } else if let Some(value) = out.get_mut(key) {
                    yield_owned(value, sub, node);
                }
            }
        }
        Value::Array(items) => {
            let Some(out) = projected.as_array_mut() else {
                return;
            };
            for (index, item) in items.iter().enumerate() {
                let (Some(node), Some(value)) = (item_node(set, item), out.get_mut(index)) else {
                    continue;
                };
                if is_leaf(node) {
                    *value = item.clone();
                } else {
                    yield_owned(value, item, node);
                }
            }
        }
        _ => {}
    }
}

/// `object` (what Tether applies) without the fields `set` owns; `None` when it owns none
/// of them.
#[must_use]
pub fn strip_owned(object: &Value, set: &Value) -> Option<Value> {
    let mut out = object.clone();
    let mut removed = false;
    if let (Some(map), Some(nodes)) = (out.as_object_mut(), set.as_object()) {
        for (key, node) in nodes {
            let Some(name) = key.strip_prefix("f:") else {
                continue;
            };
            if matches!(name, "apiVersion" | "kind") {
                continue;
            }
            if name == "metadata" {
                if let Some(meta) = map.get_mut("metadata") {
                    removed |= strip_metadata(meta, node);
                }
                continue;
            }
            removed |= strip_field(map, name, node, &[]);
        }
    }
    removed.then_some(out)
}

fn strip_metadata(meta: &mut Value, set: &Value) -> bool {
    let (Some(map), Some(nodes)) = (meta.as_object_mut(), set.as_object()) else {
        return false;
    };
    let mut removed = false;
    for (key, node) in nodes {
        let Some(name) = key.strip_prefix("f:") else {
            continue;
        };
        let protected: &[&str] = match name {
            "labels" => &[MANAGED_BY_LABEL],
            "annotations" => &[OWNER_ANNOTATION],
            _ => continue,
        };
        let Some(inner) = map.get_mut(name).and_then(Value::as_object_mut) else {
            continue;
        };
        for (member, _) in node.as_object().into_iter().flatten() {
            let Some(member) = member.strip_prefix("f:") else {
                continue;
            };
            if protected.contains(&member) || member.starts_with("tether.dev/") {
                continue;
            }
            removed |= inner.remove(member).is_some();
        }
    }
    removed
}

/// Removes field `name` of `map` (or what `node` owns inside it); `keep` are the key fields
/// of the list item `map` is, never removed.
fn strip_field(map: &mut Map<String, Value>, name: &str, node: &Value, keep: &[String]) -> bool {
    if keep.iter().any(|k| k == name) {
        return false;
    }
    if is_leaf(node) {
        return map.remove(name).is_some();
    }
    match map.get_mut(name) {
        Some(Value::Object(inner)) => strip_map(inner, node, &[]),
        Some(Value::Array(items)) => strip_list(items, node),
        _ => false,
    }
}

fn strip_map(map: &mut Map<String, Value>, set: &Value, keep: &[String]) -> bool {
    let mut removed = false;
    for (key, node) in set.as_object().into_iter().flatten() {
        if let Some(name) = key.strip_prefix("f:") {
            removed |= strip_field(map, name, node, keep);
        }
    }
    removed
}

fn strip_list(items: &mut Vec<Value>, set: &Value) -> bool {
    let before = items.len();
    let mut removed = false;
    items.retain_mut(|item| {
        let Some(node) = item_node(set, item) else {
            return true;
        };
        let Some(fields) = item.as_object_mut() else {
            // A scalar member owned by the manager: left to it.
            return false;
        };
        let keys: Vec<String> = set
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| std::ptr::eq(*n, node))
            .filter_map(|(k, _)| k.strip_prefix("k:"))
            .filter_map(|k| serde_json::from_str::<Map<String, Value>>(k).ok())
            .flat_map(|k| k.into_iter().map(|(name, _)| name))
            .collect();
        removed |= strip_map(fields, node, &keys);
        true
    });
    removed || items.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live() -> Value {
        json!({"metadata": {"managedFields": [
            {"manager": "tether", "operation": "Apply", "fieldsV1": {"f:data": {"f:theme": {}}}},
            {"manager": "flag-operator", "operation": "Update", "fieldsV1": {
                "f:data": {"f:beta": {}},
                "f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:name": {}, "f:image": {}}}},
                "f:metadata": {"f:labels": {"f:team": {}, "f:app.kubernetes.io/managed-by": {}}}}},
        ]}})
    }

    #[test]
    fn fields_of_named_managers_compare_equal_and_others_do_not() {
        let set = owned_set(&live(), &["flag-operator".to_owned()]).expect("owned");
        let shape = json!({"data": {"beta": "false", "theme": "dark"},
            "spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]}});
        let mut projected = json!({"data": {"beta": "true", "theme": "light"},
            "spec": {"containers": [{"name": "app", "image": "a:2"}, {"name": "side", "image": "s:2"}]}});
        yield_owned(&mut projected, &shape, &set);
        assert_eq!(
            projected["data"]["beta"], "false",
            "owned: taken from the shape"
        );
        assert_eq!(projected["data"]["theme"], "light", "not owned: compared");
        assert_eq!(projected["spec"]["containers"][0]["image"], "a:1");
        assert_eq!(projected["spec"]["containers"][1]["image"], "s:2");
        assert!(owned_set(&live(), &["someone-else".to_owned()]).is_none());
        assert!(owned_set(&live(), &[]).is_none());
    }

    #[test]
    fn owned_fields_are_left_out_of_the_apply_but_identity_keys_and_tether_labels_stay() {
        let set = owned_set(&live(), &["flag-operator".to_owned()]).expect("owned");
        let object = json!({"apiVersion": "v1", "kind": "X",
            "metadata": {"name": "x", "labels": {"team": "a", "app.kubernetes.io/managed-by": "tether"}},
            "data": {"beta": "false", "theme": "dark"},
            "spec": {"containers": [{"name": "app", "image": "a:1"}]}});
        let stripped = strip_owned(&object, &set).expect("something owned");
        assert_eq!(stripped["data"], json!({"theme": "dark"}));
        assert_eq!(stripped["spec"]["containers"], json!([{"name": "app"}]));
        assert_eq!(
            stripped["metadata"],
            json!({"name": "x", "labels": {"app.kubernetes.io/managed-by": "tether"}})
        );
        let none = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "data": {"theme": "dark"}});
        assert!(strip_owned(&none, &set).is_none());
    }
}
