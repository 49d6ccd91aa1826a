//! Detects a value that came from a Secret (through `valuesFrom`) written into an object
//! that is not a Secret: a ConfigMap's data, a container's `env[].value`, an annotation.
//! Such an object would be applied, diffed and shown in clear, so the render refuses it,
//! naming the object and the field and never the value, unless the app opts out.
//!
//! The Secret's string values are kept here in zeroizing memory ([`SecretLeaves`]); a
//! rendered string matches when it contains one of them, or its base64 form. Values shorter
//! than [`MIN_LEAF_LEN`] bytes (`on`, `80`) and values also present in the non-secret values
//! are not secret enough to tell apart and are left out.

use base64::Engine;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

/// The shortest Secret-sourced string that is looked for.
pub const MIN_LEAF_LEN: usize = 4;

/// The string values read from Secrets. Derives nothing: no `Debug`, no `Clone`.
#[derive(Default)]
pub struct SecretLeaves {
    leaves: Vec<Zeroizing<String>>,
}

impl SecretLeaves {
    /// No values.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every string (and map key) under `value`.
    pub fn add_value(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.add(text),
            Value::Array(items) => items.iter().for_each(|v| self.add_value(v)),
            Value::Object(map) => map.values().for_each(|v| self.add_value(v)),
            _ => {}
        }
    }

    /// Adds one string, with its base64 form.
    pub fn add(&mut self, text: &str) {
        let trimmed = text.trim();
        if trimmed.len() < MIN_LEAF_LEN || self.leaves.iter().any(|l| l.as_str() == trimmed) {
            return;
        }
        self.leaves.push(Zeroizing::new(trimmed.to_owned()));
        let encoded = base64::engine::general_purpose::STANDARD.encode(trimmed.as_bytes());
        self.leaves.push(Zeroizing::new(encoded));
    }

    /// Appends a copy of `other`'s values.
    pub fn extend_from(&mut self, other: &SecretLeaves) {
        self.leaves.extend(
            other
                .leaves
                .iter()
                .map(|l| Zeroizing::new(l.as_str().to_owned())),
        );
    }

    /// Appends `other`'s values.
    pub fn extend(&mut self, other: SecretLeaves) {
        self.leaves.extend(other.leaves);
    }

    /// Leaves out the strings that also appear in `public` (values that are not secret).
    pub fn forget_public(&mut self, public: &Map<String, Value>) {
        let mut known = Vec::new();
        collect_strings(&Value::Object(public.clone()), &mut known);
        self.leaves.retain(|leaf| {
            !known.iter().any(|k| k.trim() == leaf.as_str())
                && !known.iter().any(|k| {
                    base64::engine::general_purpose::STANDARD.encode(k.trim().as_bytes())
                        == leaf.as_str()
                })
        });
    }

    /// Whether nothing is looked for.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    fn found_in(&self, text: &str) -> bool {
        self.leaves.iter().any(|leaf| text.contains(leaf.as_str()))
    }
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Where a Secret-sourced value was found: the object and the field, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// `Kind namespace/name`.
    pub object: String,
    /// The field (`data.password`, `spec.template.spec.containers[0].env[1].value`).
    pub field: String,
}

/// Whether `object` is a core `Secret` (whose values the sync engine holds as secret).
#[must_use]
pub fn is_secret(object: &Value) -> bool {
    object.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && object.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// The first object (not a Secret) of `objects` with a field that carries one of `leaves`.
#[must_use]
pub fn find<'a>(
    objects: impl IntoIterator<Item = &'a Value>,
    leaves: &SecretLeaves,
) -> Option<Exposure> {
    if leaves.is_empty() {
        return None;
    }
    for object in objects.into_iter().filter(|o| !is_secret(o)) {
        let mut path = Vec::new();
        if let Some(field) = search(object, leaves, &mut path) {
            return Some(Exposure {
                object: object_id(object),
                field,
            });
        }
    }
    None
}

fn search(value: &Value, leaves: &SecretLeaves, path: &mut Vec<String>) -> Option<String> {
    match value {
        Value::String(text) if leaves.found_in(text) => Some(join(path)),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            path.push(format!("[{index}]"));
            let found = search(item, leaves, path);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            path.push(key.clone());
            let found = if leaves.found_in(key) {
                Some(format!("{} (a key)", join(path)))
            } else {
                search(item, leaves, path)
            };
            path.pop();
            found
        }),
        _ => None,
    }
}

fn join(path: &[String]) -> String {
    let mut out = String::new();
    for part in path {
        if !part.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(part);
    }
    out
}

fn object_id(object: &Value) -> String {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let namespace = text("/metadata/namespace");
    let name = text("/metadata/name");
    if namespace.is_empty() {
        format!("{} {name}", text("/kind"))
    } else {
        format!("{} {namespace}/{name}", text("/kind"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn leaves(values: Value) -> SecretLeaves {
        let mut leaves = SecretLeaves::new();
        leaves.add_value(&values);
        leaves
    }

    #[test]
    fn a_secret_value_in_a_config_map_is_found_by_object_and_field() {
        let leaves = leaves(json!({"db": {"password": "hunter22", "port": 5432}}));
        let objects = [
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "stringData": {"password": "hunter22"}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "web", "namespace": "shop"},
                "data": {"url": "postgres://app:hunter22@db"}}),
        ];
        let found = find(&objects, &leaves).expect("found");
        assert_eq!(found.object, "ConfigMap shop/web");
        assert_eq!(found.field, "data.url");
        assert!(!format!("{found:?}").contains("hunter22"));
    }

    #[test]
    fn an_env_value_and_a_base64_form_are_found() {
        let leaves = leaves(json!({"token": "s3cr3t-token"}));
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "a",
                "env": [{"name": "A", "value": "x"}, {"name": "T", "value": "s3cr3t-token"}]}]}}}});
        let found = find([&deployment], &leaves).expect("found");
        assert_eq!(found.field, "spec.template.spec.containers[0].env[1].value");
        let encoded = base64::engine::general_purpose::STANDARD.encode("s3cr3t-token");
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "binaryData": {"t": encoded}});
        assert_eq!(
            find([&config], &leaves).map(|e| e.field),
            Some("binaryData.t".into())
        );
    }

    #[test]
    fn short_and_public_values_are_not_looked_for() {
        let mut leaves = leaves(json!({"enabled": "on", "port": 80, "image": "nginx:1.27"}));
        let objects = [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"a": "on", "b": "80", "image": "nginx:1.27"}}),
        ];
        assert!(find(&objects, &leaves).is_some());
        let public = json!({"image": "nginx:1.27"});
        leaves.forget_public(public.as_object().expect("a map"));
        assert_eq!(find(&objects, &leaves), None);
    }
}
