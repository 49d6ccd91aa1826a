//! What kustomize's strategic merge walk does to nulls that the patch does not mention.
//!
//! kustomize merges by walking the whole object, not only the patched part: every mapping,
//! and every element of a list that the schema merges by key. On that walk a field whose
//! value is an *empty* null (`args:` with nothing after it) is dropped, while a written
//! `null` or `~` is kept; and a null element of a keyed list is dropped. Lists that are
//! replaced rather than merged are not walked, so nothing under them changes. Without a
//! patch, or with a JSON 6902 patch, nothing is walked and every null stays.
//!
//! A `serde_json::Value` does not tell an empty null from a written one, so each object
//! carries the paths of its empty nulls as read ([`crate::render::yaml::Document`]); they
//! are located in the original object, followed into the merged one by the keys of the
//! keyed lists (a merge may reorder their elements), and dropped there.

use super::schema::{self, Ty};
use crate::render::yaml::PathSegment;
use serde_json::Value;

/// One step into an object, with keyed-list elements named by their keys.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    /// An element of a list that merges by these keys, with these values.
    Keyed(&'static [&'static str], Vec<String>),
    /// An element of a list that is not walked (replaced lists, lists of scalars).
    Index(usize),
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn key_values(item: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter()
        .map(|k| item.get(*k).map(scalar_text).unwrap_or_default())
        .collect()
}

/// Follows `path` in `original`; returns the steps and whether the whole path lies on the
/// merge walk.
fn locate(original: &Value, root: Ty, path: &[PathSegment]) -> Option<(Vec<Step>, bool)> {
    let mut node = original;
    let mut ty = root;
    let mut list: Option<(&'static [&'static str], Ty)> = None;
    let mut walked = true;
    let mut steps = Vec::with_capacity(path.len());
    for segment in path {
        match segment {
            PathSegment::Key(key) => {
                node = node.get(key)?;
                list = schema::merge_list(ty, key);
                ty = schema::field(ty, key);
                steps.push(Step::Key(key.clone()));
            }
            PathSegment::Index(index) => {
                let item = node.get(*index)?;
                match list {
                    Some((keys, elem)) if walked && !keys.is_empty() => {
                        steps.push(Step::Keyed(keys, key_values(item, keys)));
                        ty = elem;
                    }
                    _ => {
                        walked = false;
                        steps.push(Step::Index(*index));
                        ty = Ty::Opaque;
                    }
                }
                node = item;
                list = None;
            }
        }
    }
    Some((steps, walked))
}

/// Finds the steps in `merged`, as a plain path.
fn resolve(merged: &Value, steps: &[Step]) -> Option<Vec<PathSegment>> {
    let mut node = merged;
    let mut path = Vec::with_capacity(steps.len());
    for step in steps {
        match step {
            Step::Key(key) => {
                node = node.get(key)?;
                path.push(PathSegment::Key(key.clone()));
            }
            Step::Keyed(keys, values) => {
                let items = node.as_array()?;
                let index = items
                    .iter()
                    .position(|item| item.is_object() && key_values(item, keys) == *values)?;
                node = &items[index];
                path.push(PathSegment::Index(index));
            }
            Step::Index(index) => {
                node = node.get(*index)?;
                path.push(PathSegment::Index(*index));
            }
        }
    }
    Some(path)
}

/// Removes the field at `path` when it holds a null.
fn remove_null_field(value: &mut Value, path: &[PathSegment]) {
    let Some((PathSegment::Key(last), parent)) = path.split_last() else {
        return;
    };
    let mut node = value;
    for segment in parent {
        let next = match segment {
            PathSegment::Key(key) => node.get_mut(key),
            PathSegment::Index(index) => node.get_mut(*index),
        };
        match next {
            Some(next) => node = next,
            None => return,
        }
    }
    if let Value::Object(map) = node
        && map.get(last).is_some_and(Value::is_null)
    {
        map.shift_remove(last);
    }
}

/// Drops the null elements of keyed lists on the merge walk.
fn drop_null_elements(value: &mut Value, ty: Ty) {
    let Value::Object(map) = value else {
        return;
    };
    for (key, child) in map.iter_mut() {
        let child_ty = schema::field(ty, key);
        match (child, schema::merge_list(ty, key)) {
            (Value::Array(items), Some((keys, elem))) if !keys.is_empty() => {
                items.retain(|item| !item.is_null());
                for item in items.iter_mut() {
                    drop_null_elements(item, elem);
                }
            }
            (child @ Value::Object(_), _) => drop_null_elements(child, child_ty),
            _ => {}
        }
    }
}

/// Applies the merge walk's treatment of nulls to `merged`, the result of patching
/// `original` (whose schema root is `root`); `empty_nulls` (paths into `original`) becomes
/// the paths of the empty nulls left in `merged`.
pub(crate) fn after_merge(
    original: &Value,
    merged: &mut Value,
    root: Ty,
    empty_nulls: &mut Vec<Vec<PathSegment>>,
) {
    let mut kept = Vec::new();
    for path in empty_nulls.iter() {
        let Some((steps, walked)) = locate(original, root, path) else {
            continue;
        };
        let Some(now) = resolve(merged, &steps) else {
            continue;
        };
        if walked {
            remove_null_field(merged, &now);
        } else {
            kept.push(now);
        }
    }
    drop_null_elements(merged, root);
    *empty_nulls = kept;
}

/// The reserved key under which [`super::super::load::Dir::parse_mappings`] passes a document's empty-null paths
/// to [`super::super::Resource::new`]. No YAML key can start with a NUL character unless written as an
/// escape, and no Kubernetes object has such a field.
pub(crate) const EMPTY_NULLS_KEY: &str = "\u{0}tether.empty-nulls";

pub(crate) fn encode_paths(paths: &[Vec<PathSegment>]) -> Value {
    Value::Array(
        paths
            .iter()
            .map(|path| {
                Value::Array(
                    path.iter()
                        .map(|segment| match segment {
                            PathSegment::Key(key) => Value::from(key.as_str()),
                            PathSegment::Index(index) => Value::from(*index),
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

/// Takes the empty-null paths that [`super::super::load::Dir::parse_mappings`] put into an object out of it.
pub(crate) fn take_empty_nulls(obj: &mut Value) -> Vec<Vec<PathSegment>> {
    let Some(Value::Array(paths)) = obj
        .as_object_mut()
        .and_then(|map| map.shift_remove(EMPTY_NULLS_KEY))
    else {
        return Vec::new();
    };
    paths
        .iter()
        .filter_map(|path| {
            path.as_array()?
                .iter()
                .map(|segment| match segment {
                    Value::String(key) => Some(PathSegment::Key(key.clone())),
                    other => other
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .map(PathSegment::Index),
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(k: &str) -> PathSegment {
        PathSegment::Key(k.to_owned())
    }

    #[test]
    fn empty_nulls_on_the_walk_are_dropped_and_followed_through_reordering() {
        let original = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "containers": [{"name": "a", "args": null}, {"name": "b", "args": null, "command": null}],
            "volumes": null}}}});
        // The patch moved `b` first.
        let mut merged = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "containers": [{"name": "b", "args": null, "command": null, "image": "x"}, {"name": "a", "args": null}],
            "volumes": null}}}});
        let containers = [key("spec"), key("template"), key("spec"), key("containers")];
        let mut b_args = containers.to_vec();
        b_args.extend([PathSegment::Index(1), key("args")]);
        let mut empty = vec![b_args];
        let root = schema::root_type("apps/v1", "Deployment");
        after_merge(&original, &mut merged, root, &mut empty);
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            json!([{"name": "b", "command": null, "image": "x"}, {"name": "a", "args": null}])
        );
        assert!(empty.is_empty());
    }

    #[test]
    fn replaced_lists_are_not_walked() {
        let original =
            json!({"apiVersion": "x.io/v1", "kind": "Thing", "spec": {"items": [{"a": null}]}});
        let mut merged = original.clone();
        let path = vec![key("spec"), key("items"), PathSegment::Index(0), key("a")];
        let mut empty = vec![path.clone()];
        after_merge(
            &original,
            &mut merged,
            schema::root_type("x.io/v1", "Thing"),
            &mut empty,
        );
        assert_eq!(merged, original);
        assert_eq!(empty, vec![path]);
    }

    #[test]
    fn null_elements_of_keyed_lists_are_dropped() {
        let mut merged = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {
            "containers": [{"name": "a", "ports": [null, {"containerPort": 80}]}]}}}});
        let original = merged.clone();
        after_merge(
            &original,
            &mut merged,
            schema::root_type("apps/v1", "Deployment"),
            &mut Vec::new(),
        );
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80}])
        );
    }
}
