//! CustomResourceDefinitions ("Extend the Kubernetes API with CustomResourceDefinitions"):
//! validation of the definition, the `NamesAccepted`/`Established` conditions, serving its
//! versions, and removing its objects when it is deleted.

use serde_json::{Value, json};

use super::kinds::{NameRule, ResourceType};
use super::meta;
use super::status::{ApiError, Cause};
use super::store::Store;

/// Whether `ty` is the CustomResourceDefinition resource.
pub fn is_crd(ty: &ResourceType) -> bool {
    ty.group == "apiextensions.k8s.io" && ty.plural == "customresourcedefinitions"
}

fn invalid(field: &str, message: String) -> Cause {
    Cause {
        reason: "FieldValueInvalid".to_owned(),
        message,
        field: field.to_owned(),
    }
}

/// Validates the parts of a definition the emulation relies on.
pub fn validate(ty: &ResourceType, obj: &Value) -> Result<(), ApiError> {
    let name = meta::name(obj);
    let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
    let group = spec.get("group").and_then(Value::as_str).unwrap_or("");
    let plural = spec
        .get("names")
        .and_then(|n| n.get("plural"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = spec
        .get("names")
        .and_then(|n| n.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let scope = spec.get("scope").and_then(Value::as_str).unwrap_or("");
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut causes = Vec::new();
    if group.is_empty() || !group.contains('.') {
        causes.push(invalid(
            "spec.group",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".to_owned(),
            message: "Required value".to_owned(),
            field: "spec.names.plural".to_owned(),
        });
    }
    if kind.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".to_owned(),
            message: "Required value".to_owned(),
            field: "spec.names.kind".to_owned(),
        });
    }
    if name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause {
            reason: "FieldValueNotSupported".to_owned(),
            message: format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
            field: "spec.scope".to_owned(),
        });
    }
    let storage = versions
        .iter()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .count();
    if versions.is_empty() || storage != 1 {
        causes.push(invalid(
            "spec.versions",
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                versions.len()
            ),
        ));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(ty, name, causes))
    }
}

fn accepted_names(obj: &Value) -> Value {
    obj.get("spec")
        .and_then(|s| s.get("names"))
        .cloned()
        .unwrap_or_else(|| json!({}))
}

fn stored_versions(obj: &Value) -> Vec<Value> {
    obj.get("spec")
        .and_then(|s| s.get("versions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect()
}

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "lastTransitionTime": meta::now_rfc3339(), "reason": reason, "message": message})
}

/// Sets the status of a definition that is served at once.
pub fn establish_status(obj: &mut Value) {
    let status = json!({
        "acceptedNames": accepted_names(obj),
        "conditions": [
            condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            condition("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored_versions(obj),
    });
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), status);
    }
}

/// Sets the status of a definition whose names are accepted but which is not served yet.
pub fn pending_status(obj: &mut Value) {
    let status = json!({
        "acceptedNames": accepted_names(obj),
        "conditions": [
            condition("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
            condition("Established", "False", "Installing", "the initial names have been accepted"),
        ],
        "storedVersions": stored_versions(obj),
    });
    if let Some(m) = obj.as_object_mut() {
        m.insert("status".into(), status);
    }
}

fn is_established(obj: &Value) -> bool {
    obj.get("status")
        .and_then(|s| s.get("conditions"))
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter().any(|c| {
                c.get("type") == Some(&json!("Established"))
                    && c.get("status") == Some(&json!("True"))
            })
        })
}

/// The resource types a definition serves (one per served version).
pub fn types_of(obj: &Value) -> Vec<ResourceType> {
    let Some(spec) = obj.get("spec") else {
        return Vec::new();
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
    let names = spec.get("names").cloned().unwrap_or(Value::Null);
    let kind = text(names.get("kind"));
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let singular = match text(names.get("singular")) {
        s if s.is_empty() => kind.to_ascii_lowercase(),
        s => s,
    };
    spec.get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
        .map(|v| ResourceType {
            group: text(spec.get("group")),
            version: text(v.get("name")),
            kind: kind.clone(),
            plural: text(names.get("plural")),
            singular: singular.clone(),
            namespaced: text(spec.get("scope")) != "Cluster",
            short_names: strings(names.get("shortNames")),
            categories: strings(names.get("categories")),
            verbs: [
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "create",
                "update",
                "watch",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            status_subresource: v
                .get("subresources")
                .and_then(|s| s.get("status"))
                .is_some(),
            generation: true,
            name_rule: NameRule::Subdomain,
            builtin: false,
        })
        .collect()
}

/// Rebuilds the custom part of the registry from the established definitions.
pub fn sync_registry(store: &mut Store) {
    let Some(crd_ty) =
        store
            .registry
            .by_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    else {
        return;
    };
    let definitions: Vec<Value> = store
        .list(&crd_ty.storage_key(), None)
        .into_iter()
        .cloned()
        .collect();
    let custom: Vec<(String, String)> = store
        .registry
        .all()
        .iter()
        .filter(|t| !t.builtin)
        .map(|t| (t.group.clone(), t.plural.clone()))
        .collect();
    for (group, plural) in custom {
        store.registry.remove_custom(&group, &plural);
    }
    for d in definitions.iter().filter(|d| is_established(d)) {
        for ty in types_of(d) {
            store.registry.upsert(ty);
        }
    }
}

/// Deletes every object of a removed definition.
pub fn remove_objects(store: &mut Store, definition: &Value) {
    let Some(spec) = definition.get("spec") else {
        return;
    };
    let group = spec.get("group").and_then(Value::as_str).unwrap_or("");
    let plural = spec
        .get("names")
        .and_then(|n| n.get("plural"))
        .and_then(Value::as_str)
        .unwrap_or("");
    for k in store.keys_of(&format!("{group}/{plural}")) {
        store.remove(&k);
    }
}

/// Marks a pending definition Established and serves it (after the establishing delay).
pub fn establish(store: &mut Store, name: &str) {
    let Some(crd_ty) =
        store
            .registry
            .by_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")
    else {
        return;
    };
    let k = (crd_ty.storage_key(), String::new(), name.to_owned());
    let Some(mut obj) = store.get(&k).cloned() else {
        return;
    };
    establish_status(&mut obj);
    store.put(k, obj);
    sync_registry(store);
}
