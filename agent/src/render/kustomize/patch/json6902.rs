//! JSON patches (RFC 6902), written as YAML or JSON, through the `json-patch` crate.

use json_patch::{AddOperation, PatchOperation};
use serde_json::Value;

/// Reads the operations of a JSON patch from its parsed documents (one list of operations).
pub(crate) fn parse(docs: &[Value]) -> Result<Vec<PatchOperation>, String> {
    let [ops] = docs else {
        return Err(format!(
            "a JSON patch must be one list of operations, found {} documents",
            docs.len()
        ));
    };
    let patch: json_patch::Patch =
        serde_json::from_value(ops.clone()).map_err(|err| format!("invalid JSON patch: {err}"))?;
    if patch.0.is_empty() {
        return Err("the JSON patch is empty".to_owned());
    }
    Ok(patch.0)
}

/// Applies the operations to an object; on failure the object is left unchanged.
///
/// Like the JSON patch library kustomize uses, `replace` of a key missing from an existing
/// mapping adds it.
pub(crate) fn apply(obj: &mut Value, ops: &[PatchOperation]) -> Result<(), String> {
    let mut doc = obj.clone();
    for op in ops {
        let op = match op {
            PatchOperation::Replace(replace) if doc.pointer(replace.path.as_str()).is_none() => {
                let parent_is_map = replace
                    .path
                    .parent()
                    .and_then(|parent| doc.pointer(parent.as_str()))
                    .is_some_and(Value::is_object);
                if parent_is_map {
                    PatchOperation::Add(AddOperation {
                        path: replace.path.clone(),
                        value: replace.value.clone(),
                    })
                } else {
                    op.clone()
                }
            }
            other => other.clone(),
        };
        json_patch::patch(&mut doc, std::slice::from_ref(&op)).map_err(|err| err.to_string())?;
    }
    *obj = doc;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn applies_add_replace_remove() {
        let ops = parse(&[json!([
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/metadata/labels/tier", "value": "web"},
            {"op": "remove", "path": "/spec/paused"}
        ])])
        .expect("parse");
        let mut obj = json!({"metadata": {"labels": {}}, "spec": {"replicas": 1, "paused": true}});
        apply(&mut obj, &ops).expect("apply");
        assert_eq!(
            obj,
            json!({"metadata": {"labels": {"tier": "web"}}, "spec": {"replicas": 3}})
        );
    }

    #[test]
    fn replace_of_a_missing_key_adds_it() {
        let ops =
            parse(&[json!([{"op": "replace", "path": "/spec/type", "value": "LoadBalancer"}])])
                .expect("parse");
        let mut obj = json!({"spec": {}});
        apply(&mut obj, &ops).expect("apply");
        assert_eq!(obj, json!({"spec": {"type": "LoadBalancer"}}));
        let deep =
            parse(&[json!([{"op": "replace", "path": "/spec/x/y", "value": 1}])]).expect("parse");
        assert!(apply(&mut obj, &deep).is_err());
    }

    #[test]
    fn fail_remove_of_a_missing_path() {
        let ops = parse(&[json!([{"op": "remove", "path": "/nope"}])]).expect("parse");
        let mut obj = json!({"a": 1});
        assert!(apply(&mut obj, &ops).is_err());
        assert_eq!(obj, json!({"a": 1}));
    }
}
