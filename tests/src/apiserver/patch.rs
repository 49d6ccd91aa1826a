//! PATCH bodies ("API Concepts", section "Patch operations"): JSON merge patch (RFC 7386),
//! JSON patch (RFC 6902) and the Kubernetes strategic merge patch with its directives
//! (`$patch: replace|delete|merge`, `$setElementOrder/<list>`, `$retainKeys`,
//! `$deleteFromPrimitiveList/<list>`).

use serde_json::{Map, Value};

use super::schema::{FieldCtx, ListKind, item_key, list_kind};

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The body is not valid JSON.
    #[error("the patch body is not valid JSON: {0}")]
    ParseBody(#[source] serde_json::Error),
    /// The JSON patch body is not a list of operations.
    #[error("the JSON patch is not a list of RFC 6902 operations: {0}")]
    ParseJsonPatch(#[source] serde_json::Error),
    /// A JSON patch operation failed (a missing path, a failed `test`).
    #[error("the JSON patch could not be applied: {0}")]
    ApplyJsonPatch(#[source] json_patch::PatchError),
    /// A strategic merge patch is not a JSON object.
    #[error("the strategic merge patch is not a JSON object")]
    NotAnObject,
    /// A directive has an unknown value.
    #[error("unknown strategic merge patch directive {0:?}")]
    UnknownDirective(String),
}

/// Applies a JSON merge patch.
pub fn merge_patch(target: &mut Value, body: &[u8]) -> Result<(), PatchError> {
    let patch: Value = serde_json::from_slice(body).map_err(PatchError::ParseBody)?;
    json_patch::merge(target, &patch);
    Ok(())
}

/// Applies a JSON patch.
pub fn json_patch(target: &mut Value, body: &[u8]) -> Result<(), PatchError> {
    let patch: json_patch::Patch =
        serde_json::from_slice(body).map_err(PatchError::ParseJsonPatch)?;
    json_patch::patch(target, &patch).map_err(PatchError::ApplyJsonPatch)
}

/// Applies a strategic merge patch to a built-in object.
pub fn strategic_merge_patch(
    ctx: FieldCtx<'_>,
    target: &mut Value,
    body: &[u8],
) -> Result<(), PatchError> {
    let patch: Value = serde_json::from_slice(body).map_err(PatchError::ParseBody)?;
    if !patch.is_object() {
        return Err(PatchError::NotAnObject);
    }
    let mut names = Vec::new();
    smp_value(ctx, target, &patch, &mut names)
}

const DIRECTIVE: &str = "$patch";
const ORDER: &str = "$setElementOrder/";
const RETAIN: &str = "$retainKeys";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

/// Strips directives from a value that is inserted as is.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|i| i.get(DIRECTIVE).is_none_or(|d| d != "delete"))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn smp_value(
    ctx: FieldCtx<'_>,
    target: &mut Value,
    patch: &Value,
    names: &mut Vec<String>,
) -> Result<(), PatchError> {
    let Some(pmap) = patch.as_object() else {
        *target = strip(patch);
        return Ok(());
    };
    match pmap.get(DIRECTIVE).and_then(Value::as_str) {
        Some("replace") => {
            *target = strip(patch);
            return Ok(());
        }
        Some("merge") | None => {}
        Some(other) => return Err(PatchError::UnknownDirective(other.to_owned())),
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let mut orders: Vec<(String, Vec<Value>)> = Vec::new();
    for (key, pv) in pmap {
        if key == DIRECTIVE || key == RETAIN {
            continue;
        }
        if let Some(list) = key.strip_prefix(ORDER) {
            orders.push((list.to_owned(), pv.as_array().cloned().unwrap_or_default()));
            continue;
        }
        let Some(tmap) = target.as_object_mut() else {
            return Ok(());
        };
        if let Some(list) = key.strip_prefix(DELETE_FROM) {
            if let (Some(Value::Array(items)), Some(gone)) = (tmap.get_mut(list), pv.as_array()) {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if pv.is_null() {
            tmap.remove(key);
            continue;
        }
        names.push(key.clone());
        match pv {
            Value::Object(inner)
                if inner.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") =>
            {
                tmap.remove(key);
            }
            Value::Object(_) => {
                let slot = tmap.entry(key.clone()).or_insert(Value::Null);
                smp_value(ctx, slot, pv, names)?;
            }
            Value::Array(items) => {
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let kind = list_kind(ctx, &refs);
                let slot = tmap.entry(key.clone()).or_insert(Value::Array(Vec::new()));
                smp_list(ctx, slot, items, &kind, names)?;
            }
            scalar => {
                tmap.insert(key.clone(), scalar.clone());
            }
        }
        names.pop();
    }
    if let (Some(retain), Some(tmap)) = (
        pmap.get(RETAIN).and_then(Value::as_array),
        target.as_object_mut(),
    ) {
        tmap.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k)));
    }
    for (list, order) in orders {
        names.push(list.clone());
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let kind = list_kind(ctx, &refs);
        names.pop();
        if let Some(Value::Array(items)) = target.get_mut(&list) {
            reorder(items, &order, &kind);
        }
    }
    Ok(())
}

fn smp_list(
    ctx: FieldCtx<'_>,
    slot: &mut Value,
    patch_items: &[Value],
    kind: &ListKind,
    names: &mut Vec<String>,
) -> Result<(), PatchError> {
    let replace = patch_items
        .iter()
        .any(|i| i.get(DIRECTIVE).and_then(Value::as_str) == Some("replace"));
    if replace {
        *slot = Value::Array(
            patch_items
                .iter()
                .filter(|i| i.get(DIRECTIVE).is_none())
                .map(strip)
                .collect(),
        );
        return Ok(());
    }
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    let Some(items) = slot.as_array_mut() else {
        return Ok(());
    };
    match kind {
        ListKind::Atomic => *items = patch_items.iter().map(strip).collect(),
        ListKind::Set => {
            for p in patch_items {
                if !items.contains(p) {
                    items.push(p.clone());
                }
            }
        }
        ListKind::Map { merge_key, .. } => {
            for p in patch_items {
                let Some(key) = p.get(*merge_key) else {
                    items.push(strip(p));
                    continue;
                };
                let found = items.iter().position(|i| i.get(*merge_key) == Some(key));
                let delete = p.get(DIRECTIVE).and_then(Value::as_str) == Some("delete");
                match (found, delete) {
                    (Some(pos), true) => {
                        items.remove(pos);
                    }
                    (None, true) => {}
                    (Some(pos), false) => {
                        if let Some(item) = items.get_mut(pos) {
                            smp_value(ctx, item, p, names)?;
                        }
                    }
                    (None, false) => items.push(strip(p)),
                }
            }
        }
    }
    Ok(())
}

/// Orders a list after `$setElementOrder`: listed items first in the given order, the rest
/// after them in their current order.
fn reorder(items: &mut [Value], order: &[Value], kind: &ListKind) {
    let rank = |item: &Value| -> usize {
        let found = match kind {
            ListKind::Map {
                keys,
                defaults,
                merge_key,
            } => order.iter().position(|o| {
                o.get(*merge_key) == item.get(*merge_key)
                    || item_key(o, keys, defaults).is_some()
                        && item_key(o, keys, defaults) == item_key(item, keys, defaults)
            }),
            _ => order.iter().position(|o| o == item),
        };
        found.unwrap_or(usize::MAX)
    };
    items.sort_by_key(|i| rank(i));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const DEPLOY: FieldCtx<'static> = FieldCtx {
        kind: "Deployment",
        builtin: true,
    };

    fn smp(target: Value, patch: Value) -> Value {
        let mut t = target;
        let body = serde_json::to_vec(&patch).expect("a JSON patch body");
        strategic_merge_patch(DEPLOY, &mut t, &body).expect("the patch applies");
        t
    }

    #[test]
    fn containers_merge_by_name() {
        let live = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "one", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "two"}]}}}});
        let out = smp(
            live,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "three"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["image"],
            "one"
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][1]["image"],
            "three"
        );
    }

    #[test]
    fn delete_and_replace_directives() {
        let live = json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}},
            "metadata": {"labels": {"x": "1", "y": "2"}}});
        let out = smp(
            live,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}},
                "metadata": {"labels": {"$patch": "replace", "z": "3"}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}])
        );
        assert_eq!(out["metadata"]["labels"], json!({"z": "3"}));
    }

    #[test]
    fn set_element_order_and_retain_keys() {
        let live = json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
            "template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}});
        let out = smp(
            live,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"},
                "template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}, {"name": "a"}])
        );
    }
}
