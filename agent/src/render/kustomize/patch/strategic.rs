//! Kubernetes strategic merge patch, as kustomize applies it (kyaml's merge walker).
//!
//! - Mappings merge key by key; a `null` in the patch deletes the key.
//! - Lists that the schema marks as merged ([`super::schema`]) merge element by element on
//!   their keys: the patch's elements come first, in the patch's order, then the elements
//!   only the original has. Lists of scalars merge as ordered sets. Every other list
//!   (including every list of a custom resource) is replaced by the patch.
//! - Directives: `$patch: delete` (on an object, a mapping or a list element), `$patch:
//!   replace` and `$patch: merge` (on a mapping, or as a list element of its own).

use super::schema::{self, Ty};
use crate::render::yaml;
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";

/// How a list merges: its keys and the type of its elements; `None` when it is replaced.
type ListInfo = Option<(&'static [&'static str], Ty)>;

/// Merges `patch` into `dest` (an object whose schema root is `ty`). `Ok(None)` means the
/// patch deletes the object.
pub(crate) fn merge(dest: Option<&Value>, patch: &Value, ty: Ty) -> Result<Option<Value>, String> {
    merge_node(dest.cloned(), Some(patch), ty, None, "")
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "a mapping",
        Value::Array(_) => "a list",
        Value::Null => "null",
        _ => "a scalar",
    }
}

fn merge_node(
    dest: Option<Value>,
    patch: Option<&Value>,
    ty: Ty,
    list: ListInfo,
    path: &str,
) -> Result<Option<Value>, String> {
    let Some(patch) = patch else {
        return Ok(dest);
    };
    let dest = dest.filter(|d| !d.is_null());
    match patch {
        Value::Null => Ok(None),
        Value::Object(patch_map) => match dest {
            None => merge_map(patch_map.clone(), patch_map, ty, path),
            Some(Value::Object(dest_map)) => merge_map(dest_map, patch_map, ty, path),
            Some(other) => Err(format!(
                "{path}: cannot merge a mapping into {}",
                kind_name(&other)
            )),
        },
        Value::Array(patch_items) => match dest {
            Some(
                ref
                other @ (Value::Object(_) | Value::Bool(_) | Value::Number(_) | Value::String(_)),
            ) => Err(format!(
                "{path}: cannot merge a list into {}",
                kind_name(other)
            )),
            _ if list.is_none() => Ok(Some(patch.clone())),
            None => {
                // Nothing to merge into: the patch's own list, directives dropped, merged
                // with itself (as kustomize does).
                let items = without_directive(patch_items).1;
                merge_list(items.clone(), &items, list, path).map(Some)
            }
            Some(Value::Array(dest_items)) => {
                let (directive, items) = without_directive(patch_items);
                match directive.as_deref() {
                    Some("delete") => Ok(None),
                    Some("replace") => merge_list(items.clone(), &items, list, path).map(Some),
                    Some("merge") | None => merge_list(dest_items, &items, list, path).map(Some),
                    Some(other) => Err(format!("{path}: unknown patch strategy {other:?}")),
                }
            }
            Some(Value::Null) => Ok(Some(patch.clone())),
        },
        scalar => match dest {
            Some(other @ (Value::Object(_) | Value::Array(_))) => Err(format!(
                "{path}: cannot merge a scalar into {}",
                kind_name(&other)
            )),
            _ => Ok(Some(scalar.clone())),
        },
    }
}

/// Splits a list directive (an element that is a mapping holding only `$patch`) from the
/// elements.
fn without_directive(items: &[Value]) -> (Option<String>, Vec<Value>) {
    let position = items
        .iter()
        .position(|item| item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)));
    if let Some(index) = position
        && let Some(map) = items[index].as_object()
        && map.len() == 1
    {
        let directive = map
            .get(DIRECTIVE)
            .map(|v| scalar_text(v).unwrap_or_default());
        let mut rest = items.to_vec();
        rest.remove(index);
        return (directive, rest);
    }
    (None, items.to_vec())
}

fn merge_map(
    mut dest: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: Ty,
    path: &str,
) -> Result<Option<Value>, String> {
    let mut patch = patch.clone();
    let directive = patch.remove(DIRECTIVE);
    dest.remove(DIRECTIVE);
    match directive
        .as_ref()
        .map(|d| scalar_text(d).unwrap_or_default())
        .as_deref()
    {
        Some("delete") => return Ok(None),
        Some("replace") => dest = patch.clone(),
        Some("merge") | None => {}
        Some(other) => return Err(format!("{path}: unknown patch strategy {other:?}")),
    }
    let mut keys: Vec<String> = dest.keys().chain(patch.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let child_path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        let current = dest.get(&key).cloned();
        let merged = merge_node(
            current,
            patch.get(&key),
            schema::field(ty, &key),
            schema::merge_list(ty, &key),
            &child_path,
        )?;
        match merged {
            Some(value) => {
                dest.insert(key, value);
            }
            None => {
                dest.shift_remove(&key);
            }
        }
    }
    Ok(Some(Value::Object(dest)))
}

/// The text of a scalar, as YAML would print it.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn key_values(item: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|k| item.get(*k).and_then(scalar_text).unwrap_or_default())
        .collect()
}

/// Whether an element has every key, with these values.
fn matches(item: &Value, keys: &[&str], values: &[String]) -> bool {
    item.is_object()
        && keys.iter().zip(values).all(|(key, value)| {
            item.get(*key)
                .and_then(scalar_text)
                .is_some_and(|text| text == *value || value.is_empty())
        })
}

/// Two key tuples name the same element when they agree wherever both are set.
fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut merged = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            merged.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if x.is_empty() {
            merged.push(y.clone());
        } else {
            merged.push(x.clone());
        }
    }
    common.then_some(merged)
}

fn merge_list(
    dest: Vec<Value>,
    patch: &[Value],
    list: ListInfo,
    path: &str,
) -> Result<Value, String> {
    let Some((keys, elem_ty)) = list else {
        return Ok(Value::Array(patch.to_vec()));
    };
    if keys.is_empty() {
        return Ok(Value::Array(merge_scalar_set(&dest, patch)));
    }
    let all = key_value_sets(&dest, patch, keys);
    let mut merge = KeyedMerge {
        keys,
        global: lookup_keys(&all, keys),
        dest: dest.into_iter().map(Some).collect(),
        items: Vec::new(),
    };
    for values in &all {
        merge.element(values, patch, elem_ty, path)?;
    }
    Ok(Value::Array(merge.result()))
}

/// The distinct key values of the patch's and the destination's elements (patch first);
/// with several keys, two sets that agree where both are set are made one.
fn key_value_sets(dest: &[Value], patch: &[Value], keys: &[&str]) -> Vec<Vec<String>> {
    let mut all: Vec<Vec<String>> = Vec::new();
    for item in patch.iter().chain(dest.iter()) {
        let values = key_values(item, keys);
        if !all.contains(&values) {
            all.push(values);
        }
    }
    if keys.len() > 1 {
        for i in 0..all.len() {
            for j in 0..all.len() {
                if let Some(merged) = match_values(&all[i], &all[j]) {
                    all[i] = merged.clone();
                    all[j] = merged;
                }
            }
        }
    }
    all
}

/// The keys some element sets (all of them when none is set).
fn lookup_keys(all: &[Vec<String>], keys: &[&str]) -> Vec<usize> {
    let used: Vec<bool> = (0..keys.len())
        .map(|i| all.iter().any(|v| v.get(i).is_some_and(|s| !s.is_empty())))
        .collect();
    if used.iter().any(|u| *u) {
        (0..keys.len()).filter(|i| used[*i]).collect()
    } else {
        (0..keys.len()).collect()
    }
}

/// A list merged by its merge keys, element by element.
struct KeyedMerge {
    keys: &'static [&'static str],
    /// The indexes of the keys elements are looked up by.
    global: Vec<usize>,
    /// The destination's elements; `None` once an element was deleted.
    dest: Vec<Option<Value>>,
    /// Merged elements, with the index of the original element each came from.
    items: Vec<(Value, Option<usize>)>,
}

impl KeyedMerge {
    /// Merges the elements whose keys are `values` (an element is looked up by those of
    /// its own keys that are set).
    fn element(
        &mut self,
        values: &[String],
        patch: &[Value],
        elem_ty: Ty,
        path: &str,
    ) -> Result<(), String> {
        let keys = self.keys;
        let mut lookup: Vec<usize> = (self.global.iter().copied())
            .filter(|i| !values[*i].is_empty())
            .collect();
        if lookup.is_empty() {
            lookup.clone_from(&self.global);
        }
        let lkeys: Vec<&str> = lookup.iter().map(|i| keys[*i]).collect();
        let lvalues: Vec<String> = lookup.iter().map(|i| values[*i].clone()).collect();
        let found = |item: &Value| matches(item, &lkeys, &lvalues);
        let dest_index = self.dest.iter().position(|d| d.as_ref().is_some_and(found));
        let patch_item = patch.iter().find(|item| found(item));
        if dest_index.is_none() && patch_item.is_none() {
            return Ok(());
        }
        let element_path = format!("{path}[{}]", lvalues.join(","));
        let current = dest_index.and_then(|i| self.dest[i].clone());
        let merged = match merge_node(current, patch_item, elem_ty, None, &element_path)? {
            Some(Value::Object(map)) if map.is_empty() => None,
            Some(Value::Null) | None => None,
            Some(other) => Some(other),
        };
        let Some(mut merged) = merged else {
            for slot in &mut self.dest {
                if slot.as_ref().is_some_and(found) {
                    *slot = None;
                }
            }
            self.items.retain(|(item, _)| !found(item));
            return Ok(());
        };
        if let Value::Object(map) = &mut merged {
            for i in &self.global {
                if !map.contains_key(keys[*i]) && !values[*i].is_empty() {
                    map.insert(keys[*i].to_owned(), yaml::parse_scalar(&values[*i]));
                }
            }
        }
        if let Some(i) = dest_index {
            self.dest[i] = Some(merged.clone());
        }
        match self.items.iter_mut().find(|(item, _)| found(item)) {
            Some(slot) => *slot = (merged, dest_index),
            None => self.items.push((merged, dest_index)),
        }
        Ok(())
    }

    /// The merged list in kustomize's order.
    fn result(self) -> Vec<Value> {
        if self.global.len() > 1 {
            // With several keys, kustomize moves every original element after the new
            // ones, in the original order.
            return (self.items.into_iter())
                .filter(|(_, from)| from.is_none())
                .map(|(item, _)| item)
                .chain(self.dest.into_iter().flatten())
                .collect();
        }
        let taken: Vec<usize> = self.items.iter().filter_map(|(_, from)| *from).collect();
        let rest = (self.dest.into_iter().enumerate())
            .filter(|(i, _)| !taken.contains(i))
            .filter_map(|(_, item)| item);
        self.items
            .into_iter()
            .map(|(item, _)| item)
            .chain(rest)
            .collect()
    }
}

/// A list of scalars merged as an ordered set: the patch's values, then the others.
fn merge_scalar_set(dest: &[Value], patch: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for item in patch.iter().chain(dest.iter()) {
        let text = scalar_text(item).unwrap_or_default();
        if seen.contains(&text) {
            continue;
        }
        seen.push(text);
        out.push(item.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    fn apply(dest: &Value, patch: &Value) -> Option<Value> {
        let root = schema::root_type("apps/v1", "Deployment");
        merge(Some(dest), patch, root).expect("merge")
    }

    #[test]
    fn containers_merge_by_name_patched_first() {
        let dest = deployment(json!([
            {"name": "a", "image": "a:1"},
            {"name": "b", "image": "b:1", "env": [{"name": "X", "value": "1"}]}
        ]));
        let patch = deployment(json!([
            {"name": "b", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}]}
        ]));
        let out = apply(&dest, &patch).expect("object");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "b", "image": "b:1", "env": [{"name": "Y", "value": "2"}, {"name": "X", "value": "3"}]},
                {"name": "a", "image": "a:1"}
            ])
        );
    }

    #[test]
    fn patch_delete_directive_removes_one_element() {
        let dest = deployment(json!([{"name": "a"}, {"name": "b"}]));
        let patch = deployment(json!([{"name": "a", "$patch": "delete"}]));
        let out = apply(&dest, &patch).expect("object");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b"}])
        );
    }

    #[test]
    fn patch_replace_directive_replaces_the_list() {
        let dest = deployment(json!([{"name": "a", "image": "x"}, {"name": "b"}]));
        let patch = deployment(json!([{"$patch": "replace"}, {"name": "c"}]));
        let out = apply(&dest, &patch).expect("object");
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "c"}])
        );
    }

    #[test]
    fn null_deletes_and_object_delete_removes_all() {
        let dest = json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"a": "1", "b": "2"}});
        let patch = json!({"kind": "ConfigMap", "apiVersion": "v1", "data": {"a": null, "c": "3"}});
        let out = merge(Some(&dest), &patch, schema::root_type("v1", "ConfigMap"))
            .expect("merge")
            .expect("object");
        assert_eq!(out["data"], json!({"b": "2", "c": "3"}));
        let delete = json!({"kind": "ConfigMap", "$patch": "delete"});
        assert_eq!(
            merge(Some(&dest), &delete, Ty::Opaque).expect("merge"),
            None
        );
    }

    #[test]
    fn custom_resource_lists_are_replaced() {
        let dest = json!({"apiVersion": "x.io/v1", "kind": "Thing", "spec": {"items": [{"name": "a"}, {"name": "b"}]}});
        let patch = json!({"spec": {"items": [{"name": "c"}]}});
        let out = merge(Some(&dest), &patch, schema::root_type("x.io/v1", "Thing"))
            .expect("merge")
            .expect("object");
        assert_eq!(out["spec"]["items"], json!([{"name": "c"}]));
    }

    #[test]
    fn ports_merge_on_port_and_protocol() {
        let dest = deployment(
            json!([{"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}]),
        );
        let patch = deployment(
            json!([{"name": "a", "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 53, "protocol": "TCP"}]}]),
        );
        let out = apply(&dest, &patch).expect("object");
        // Recorded with kubectl kustomize (v5.5.0): with two keys in use, new elements
        // come first, then the original ones in their order.
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["ports"],
            json!([
                {"containerPort": 53, "protocol": "TCP"},
                {"containerPort": 80, "name": "http"},
                {"containerPort": 53, "protocol": "UDP"}
            ])
        );
    }

    #[test]
    fn fail_mapping_into_scalar() {
        let dest = json!({"spec": {"replicas": 1}});
        let patch = json!({"spec": {"replicas": {"x": 1}}});
        let err = merge(Some(&dest), &patch, Ty::Opaque).expect_err("kind mismatch");
        assert!(err.contains("spec.replicas"), "{err}");
    }
}
