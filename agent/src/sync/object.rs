//! Object identity and the preparation of a desired object for server-side apply.
//!
//! An object is named by its group, version, kind, namespace and name ([`ObjectRef`]). Before
//! it is applied, a desired object loses the fields the API server owns, gains Tether's label
//! and owner annotation, and gets the app's namespace when it is namespaced and has none
//! ([`prepare`]). [`hash_value`] gives the stable hash the inventory stores.

use std::fmt;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// The label every applied object carries.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY_LABEL`].
pub const MANAGED_BY_VALUE: &str = "tether";
/// The annotation naming the app that owns an object.
pub const OWNER_ANNOTATION: &str = "tether.dev/owner";
/// The annotation client-side apply writes; it may hold a whole Secret, so it is never applied.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Why a desired object cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// A required field is missing or not a string.
    #[error("object #{index} ({hint}): field {field} is missing or not a string")]
    MissingField {
        /// The position in the desired set.
        index: usize,
        /// What is known of the object (`kind` and name when present).
        hint: String,
        /// The field (`apiVersion`, `kind`, `metadata.name`).
        field: &'static str,
    },
    /// The object is not a JSON object.
    #[error("object #{index} is not a mapping")]
    NotAnObject {
        /// The position in the desired set.
        index: usize,
    },
    /// A namespaced object has no namespace and the app has no target namespace.
    #[error("{object}: metadata.namespace is missing and the app has no target namespace")]
    NamespaceMissing {
        /// The object.
        object: String,
    },
    /// The same object appears twice in the desired set.
    #[error("{object} appears twice in the desired set")]
    Duplicate {
        /// The object.
        object: String,
    },
    /// `metadata.labels` or `metadata.annotations` is not a map of strings.
    #[error("{object}: metadata.{field} must be a map of strings")]
    BadMetadata {
        /// The object.
        object: String,
        /// `labels` or `annotations`.
        field: &'static str,
    },
}

impl ObjectError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        "InvalidObject"
    }
}

/// The identity of an object: group, version, kind, namespace (empty for cluster scope), name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectRef {
    /// The API group (empty for the core group).
    pub group: String,
    /// The API version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectRef {
    /// Reads the identity of `object` (number `index` of a desired set, for messages).
    pub fn from_object(index: usize, object: &Value) -> Result<Self, ObjectError> {
        let map = object
            .as_object()
            .ok_or(ObjectError::NotAnObject { index })?;
        let hint = || {
            let kind = map.get("kind").and_then(Value::as_str).unwrap_or("?");
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            format!("{kind} {name}")
        };
        let field = |value: Option<&Value>, field: &'static str| {
            value
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| ObjectError::MissingField {
                    index,
                    hint: hint(),
                    field,
                })
        };
        let api_version = field(map.get("apiVersion"), "apiVersion")?;
        let kind = field(map.get("kind"), "kind")?;
        let name = field(object.pointer("/metadata/name"), "metadata.name")?;
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (group, version) = split_api_version(&api_version);
        Ok(Self {
            group: group.to_owned(),
            version: version.to_owned(),
            kind,
            namespace,
            name,
        })
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The group/version/kind as kube names it.
    pub fn gvk(&self) -> kube::api::GroupVersionKind {
        kube::api::GroupVersionKind::gvk(&self.group, &self.version, &self.kind)
    }

    /// Whether this is a `Secret` of the core group, whose values are never shown.
    pub fn is_secret(&self) -> bool {
        self.group.is_empty() && self.kind == "Secret"
    }

    /// The same object seen under another namespace (used once the scope is known).
    #[must_use]
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        self
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        };
        if self.namespace.is_empty() {
            write!(f, "{kind} {}", self.name)
        } else {
            write!(f, "{kind} {}/{}", self.namespace, self.name)
        }
    }
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

/// What [`prepare`] needs to know of the object's resource.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// The resource is namespaced.
    pub namespaced: bool,
    /// The resource has a `status` subresource (its `status` is not applied).
    pub status_subresource: bool,
}

/// Makes a desired object ready to apply: strips server-owned fields (managedFields,
/// resourceVersion, uid, creationTimestamp, generation, selfLink, deletion fields, the
/// last-applied annotation, and `status` when the resource has a status subresource), sets
/// the namespace (`default_namespace` when a namespaced object has none; none for
/// cluster-scoped objects), and adds the managed-by label and the owner annotation.
pub fn prepare(
    mut object: Value,
    app: &str,
    default_namespace: &str,
    scope: Scope,
) -> Result<(ObjectRef, Value), ObjectError> {
    let reference = ObjectRef::from_object(0, &object)?;
    let object_name = reference.to_string();
    let map = object
        .as_object_mut()
        .ok_or(ObjectError::NotAnObject { index: 0 })?;
    if scope.status_subresource {
        map.remove("status");
    }
    let metadata = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let metadata = metadata
        .as_object_mut()
        .ok_or_else(|| ObjectError::BadMetadata {
            object: object_name.clone(),
            field: "labels",
        })?;
    for field in [
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "selfLink",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ] {
        metadata.remove(field);
    }
    let namespace = if scope.namespaced {
        let ns = if reference.namespace.is_empty() {
            default_namespace
        } else {
            reference.namespace.as_str()
        };
        if ns.is_empty() {
            return Err(ObjectError::NamespaceMissing {
                object: object_name,
            });
        }
        metadata.insert("namespace".into(), Value::String(ns.to_owned()));
        ns.to_owned()
    } else {
        metadata.remove("namespace");
        String::new()
    };
    string_map(metadata, "labels", &object_name)?
        .insert(MANAGED_BY_LABEL.into(), MANAGED_BY_VALUE.into());
    let annotations = string_map(metadata, "annotations", &object_name)?;
    annotations.remove(LAST_APPLIED_ANNOTATION);
    annotations.insert(OWNER_ANNOTATION.into(), Value::String(app.to_owned()));
    Ok((reference.with_namespace(&namespace), object))
}

fn string_map<'a>(
    metadata: &'a mut Map<String, Value>,
    field: &'static str,
    object: &str,
) -> Result<&'a mut Map<String, Value>, ObjectError> {
    let bad = || ObjectError::BadMetadata {
        object: object.to_owned(),
        field,
    };
    let entry = metadata
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    let map = entry.as_object_mut().ok_or_else(bad)?;
    if map.values().any(|v| !v.is_string()) {
        return Err(bad());
    }
    Ok(map)
}

/// A label of a live or desired object.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

/// An annotation of a live or desired object.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

/// A metadata string field (`uid`, `resourceVersion`, `creationTimestamp`).
pub fn meta_str<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object
        .get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

/// A stable hash of a JSON value (keys in sorted order), 16 hex digits.
pub fn hash_value(value: &Value) -> String {
    let mut hasher = Sha256::new();
    feed(&mut hasher, value);
    let digest = hasher.finalize();
    hex::encode(&digest[..8])
}

fn feed(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Null => hasher.update(b"n"),
        Value::Bool(b) => hasher.update(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            hasher.update(b"#");
            hasher.update(n.to_string().as_bytes());
            hasher.update(b";");
        }
        Value::String(s) => {
            hasher.update(b"s");
            hasher.update((s.len() as u64).to_le_bytes());
            hasher.update(s.as_bytes());
        }
        Value::Array(items) => {
            hasher.update(b"[");
            for item in items {
                feed(hasher, item);
            }
            hasher.update(b"]");
        }
        Value::Object(map) => {
            hasher.update(b"{");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for key in keys {
                hasher.update((key.len() as u64).to_le_bytes());
                hasher.update(key.as_bytes());
                if let Some(v) = map.get(key) {
                    feed(hasher, v);
                }
            }
            hasher.update(b"}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NAMESPACED: Scope = Scope {
        namespaced: true,
        status_subresource: true,
    };

    #[test]
    fn prepare_strips_server_fields_and_marks_the_owner() {
        let desired = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u", "resourceVersion": "3", "managedFields": [],
                "annotations": {LAST_APPLIED_ANNOTATION: "{}"}},
            "spec": {}, "status": {"replicas": 1}});
        let (reference, object) = prepare(desired, "shop", "shop-ns", NAMESPACED).expect("ok");
        assert_eq!(reference.to_string(), "Deployment.apps shop-ns/web");
        assert_eq!(
            object,
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop-ns",
                "annotations": {OWNER_ANNOTATION: "shop"}, "labels": {MANAGED_BY_LABEL: "tether"}},
            "spec": {}})
        );
    }

    #[test]
    fn cluster_scoped_objects_lose_their_namespace() {
        let desired = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "namespace": "x"}});
        let scope = Scope {
            namespaced: false,
            status_subresource: false,
        };
        let (reference, object) = prepare(desired, "a", "b", scope).expect("ok");
        assert_eq!(reference.namespace, "");
        assert!(object.pointer("/metadata/namespace").is_none());
    }

    #[test]
    fn a_namespaced_object_without_any_namespace_is_refused() {
        let desired = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        let err = prepare(desired, "a", "", NAMESPACED).expect_err("no namespace");
        assert!(err.to_string().contains("ConfigMap c"), "{err}");
    }

    #[test]
    fn missing_fields_are_named() {
        let err =
            ObjectRef::from_object(3, &json!({"kind": "ConfigMap", "metadata": {"name": "c"}}))
                .expect_err("no apiVersion");
        assert_eq!(
            err.to_string(),
            "object #3 (ConfigMap c): field apiVersion is missing or not a string"
        );
    }

    #[test]
    fn hashes_ignore_key_order() {
        let a = json!({"a": 1, "b": [1, "x"], "c": {"d": null}});
        let b = json!({"c": {"d": null}, "b": [1, "x"], "a": 1});
        assert_eq!(hash_value(&a), hash_value(&b));
        assert_ne!(hash_value(&a), hash_value(&json!({"a": 1})));
        assert_eq!(hash_value(&a).len(), 16);
    }
}
