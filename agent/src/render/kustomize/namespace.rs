//! `namespace`: sets the namespace of every namespaced object, renames `v1` Namespace
//! objects to it, and sets it on the fields kustomize knows (APIService and CRD conversion
//! webhook services). On RoleBindings and ClusterRoleBindings, like kustomize's default,
//! only subjects named `default` get the namespace here; subjects that are ServiceAccounts
//! of the build follow their ServiceAccount later, through the name references.

use super::fieldspec::{self, CreateKind, FieldSpec};
use super::{KustomizeError, Resource, transform_error};
use crate::tree::RelPath;
use serde_json::Value;

const FIELD: &str = "namespace";

/// Applies `namespace: <ns>` to every resource.
pub(crate) fn apply(
    ns: &str,
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    for i in 0..resources.len() {
        let res = &mut resources[i];
        if res.is_empty() {
            continue;
        }
        res.store_previous_id();
        let gvk = res.gvk();
        if !gvk.is_cluster_scoped() {
            res.set_namespace(ns);
        }
        if matches!(res.kind(), "RoleBinding" | "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = res.obj.get_mut("subjects")
        {
            for subject in subjects.iter_mut() {
                if let Value::Object(map) = subject
                    && map.get("name").and_then(Value::as_str) == Some("default")
                {
                    map.insert("namespace".to_owned(), Value::from(ns));
                }
            }
        }
        let is_v1 = res.api_version() == "v1";
        let is_binding = matches!(res.kind(), "RoleBinding" | "ClusterRoleBinding");
        for spec in specs {
            // As kustomize: `metadata/namespace` is set above, `metadata/name` only on `v1`
            // objects (Namespaces), and binding subjects only as above.
            if spec.path == "metadata/namespace"
                || (spec.path == "metadata/name" && !is_v1)
                || (is_binding && spec.path == "subjects/namespace")
            {
                continue;
            }
            fieldspec::apply(&mut res.obj, &gvk, spec, CreateKind::Scalar, &mut |node| {
                *node = Value::from(ns);
                Ok(())
            })
            .map_err(|reason| {
                transform_error(file, FIELD, format!("{}: {reason}", res.cur_id()))
            })?;
        }
        let id = resources[i].cur_id();
        let same = resources.iter().filter(|r| r.cur_id().equals(&id)).count();
        if same != 1 {
            return Err(transform_error(
                file,
                FIELD,
                format!("setting the namespace makes two objects with the same id: {id}"),
            ));
        }
    }
    Ok(())
}
