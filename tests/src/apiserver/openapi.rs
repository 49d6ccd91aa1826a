//! OpenAPI v3 ("OpenAPI v3 discovery"): the index at `/openapi/v3` and one document per
//! built-in group/version. The documents hold what kubectl reads from them: a PATCH
//! operation per kind, tagged with `x-kubernetes-group-version-kind`, listing the
//! `fieldValidation`, `dryRun`, `fieldManager` and `force` parameters (so kubectl lets the
//! server validate fields), and the patch content types accepted. Strategic merge patch is
//! not listed, so kubectl computes client-side apply patches from its compiled-in types.
//! Schemas are left out; `/openapi/v2` answers 404, which kubectl tolerates.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use super::kinds::{Registry, ResourceType};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn hash_of(types: &[&ResourceType]) -> String {
    let mut h = DefaultHasher::new();
    for t in types {
        (&t.group, &t.version, &t.kind, &t.plural, t.namespaced).hash(&mut h);
    }
    format!("{:016X}", h.finish())
}

fn builtin_in<'a>(registry: &'a Registry, group: &str, version: &str) -> Vec<&'a ResourceType> {
    registry
        .all()
        .iter()
        .map(AsRef::as_ref)
        .filter(|t| {
            t.builtin
                && t.group == group
                && t.version == version
                && t.verbs.iter().any(|v| v == "patch")
        })
        .collect()
}

/// `/openapi/v3`: the documents, each with a content hash in its URL.
pub fn index(registry: &Registry) -> Value {
    let mut paths = Map::new();
    for (group, versions) in registry.groups() {
        for version in versions {
            let types = builtin_in(registry, &group, &version);
            if types.is_empty() {
                continue;
            }
            let p = gv_path(&group, &version);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", hash_of(&types))}),
            );
        }
    }
    json!({"paths": paths})
}

fn param(name: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": ty, "uniqueItems": true}})
}

/// `/openapi/v3/api/v1` or `/openapi/v3/apis/GROUP/VERSION`.
pub fn document(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    let types = builtin_in(registry, group, version);
    if types.is_empty() {
        return None;
    }
    let prefix = format!("/{}", gv_path(group, version));
    let mut paths = Map::new();
    for t in types {
        let item = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let body = json!({"schema": {"type": "object"}});
        let patch = json!({
            "description": format!("partially update the specified {}", t.kind),
            "operationId": format!("patch{}", t.kind),
            "parameters": [param("dryRun", "string"), param("fieldManager", "string"),
                param("fieldValidation", "string"), param("force", "boolean")],
            "requestBody": {"content": {
                "application/json-patch+json": body,
                "application/merge-patch+json": body,
                "application/apply-patch+yaml": body,
            }, "required": true},
            "responses": {"200": {"description": "OK", "content": {"application/json": body}}},
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": {"group": t.group, "version": t.version, "kind": t.kind},
        });
        paths.insert(item, json!({"patch": patch}));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_carry_the_field_validation_parameter_per_kind() {
        let r = Registry::default();
        let doc = document(&r, "apps", "v1").expect("apps/v1 is served");
        let path =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert_eq!(
            path["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        assert!(
            path["parameters"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["name"] == "fieldValidation"))
        );
        assert!(index(&r)["paths"]["apis/apps/v1"]["serverRelativeURL"].is_string());
    }
}
