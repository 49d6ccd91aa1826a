//! The last touches kustomize gives every object of a build before printing it.
//!
//! kustomize keeps its bookkeeping in annotations while it builds and takes it out at the
//! end; an annotations field left empty by that (`metadata.annotations: {}` or `null`) is
//! removed. Labels get no such treatment: `labels: null` or `{}` stays as written.

use super::Resource;
use serde_json::Value;

/// Applies the end-of-build touches to every object.
pub(crate) fn finish(resources: &mut [Resource]) {
    for res in resources {
        drop_empty_annotations(&mut res.obj);
    }
}

fn drop_empty_annotations(obj: &mut Value) {
    let Some(Value::Object(meta)) = obj.get_mut("metadata") else {
        return;
    };
    let empty = match meta.get("annotations") {
        Some(Value::Null) => true,
        Some(Value::Object(map)) => map.is_empty(),
        _ => false,
    };
    if empty {
        meta.shift_remove("annotations");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_annotations_go_and_empty_labels_stay() {
        for annotations in [json!(null), json!({})] {
            let mut obj =
                json!({"metadata": {"name": "a", "labels": null, "annotations": annotations}});
            drop_empty_annotations(&mut obj);
            assert_eq!(obj, json!({"metadata": {"name": "a", "labels": null}}));
        }
        let mut kept = json!({"metadata": {"annotations": {"a": "b"}}});
        drop_empty_annotations(&mut kept);
        assert_eq!(kept, json!({"metadata": {"annotations": {"a": "b"}}}));
    }
}
