//! [`BitnamiSealedSecret`]: the parts of a `bitnami.com/v1alpha1` SealedSecret that unsealing
//! reads, checked field by field from the manifest (errors name the field).

use serde_json::Value;
use std::collections::BTreeMap;

use super::{Error, Result, Scope};

/// A SealedSecret as found in Git. `encryptedData` values are ciphertext (base64).
#[derive(Debug, Clone)]
pub struct BitnamiSealedSecret {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// `metadata.annotations`: the scope is read from here, as the controller does.
    pub annotations: BTreeMap<String, String>,
    /// `spec.encryptedData`.
    pub encrypted_data: BTreeMap<String, String>,
    /// `spec.template.type`.
    pub type_: Option<String>,
    /// `spec.template.immutable`.
    pub immutable: Option<bool>,
    /// `spec.template.metadata.labels`.
    pub template_labels: BTreeMap<String, String>,
    /// `spec.template.metadata.annotations`.
    pub template_annotations: BTreeMap<String, String>,
    /// `spec.template.data`: a template per key, or `None` to drop the key.
    pub template_data: BTreeMap<String, Option<String>>,
}

impl BitnamiSealedSecret {
    /// Reads a manifest; `default_namespace` names the object in errors when it has none.
    pub fn from_value(manifest: &Value, default_namespace: &str) -> Result<Self> {
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let namespace = manifest
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty());
        let object = object_ref(namespace.unwrap_or(default_namespace), name);
        let invalid = |field: &str, reason: &str| Error::InvalidField {
            object: object.clone(),
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        if name.is_empty() {
            return Err(invalid("metadata.name", "is required"));
        }
        if manifest.pointer("/spec/data").is_some_and(|d| !d.is_null()) {
            return Err(invalid(
                "spec.data",
                "is the deprecated single-blob format, which the controller no longer reads; re-seal with encryptedData",
            ));
        }
        let encrypted_data = string_map(
            manifest.pointer("/spec/encryptedData"),
            "spec.encryptedData",
        )
        .map_err(|(f, r)| invalid(&f, &r))?;
        let template = manifest.pointer("/spec/template");
        let field = |path: &str| template.and_then(|t| t.pointer(path));
        let type_ = match field("/type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(invalid("spec.template.type", "must be a string")),
        };
        let immutable = match field("/immutable") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => return Err(invalid("spec.template.immutable", "must be a boolean")),
        };
        let mut template_data = BTreeMap::new();
        match field("/data") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    let text = match value {
                        Value::Null => None,
                        Value::String(s) => Some(s.clone()),
                        _ => {
                            return Err(invalid(
                                &format!("spec.template.data.{key}"),
                                "must be a string (a template) or null",
                            ));
                        }
                    };
                    template_data.insert(key.clone(), text);
                }
            }
            Some(_) => return Err(invalid("spec.template.data", "must be a map")),
        }
        let map = |path: &str, name: &str| string_map(manifest.pointer(path), name);
        Ok(Self {
            annotations: map("/metadata/annotations", "metadata.annotations")
                .map_err(|(f, r)| invalid(&f, &r))?,
            template_labels: map(
                "/spec/template/metadata/labels",
                "spec.template.metadata.labels",
            )
            .map_err(|(f, r)| invalid(&f, &r))?,
            template_annotations: map(
                "/spec/template/metadata/annotations",
                "spec.template.metadata.annotations",
            )
            .map_err(|(f, r)| invalid(&f, &r))?,
            name: name.to_owned(),
            namespace: namespace.map(str::to_owned),
            encrypted_data,
            type_,
            immutable,
            template_data,
        })
    }

    /// The scope its `metadata.annotations` declare (what the OAEP label is built from).
    #[must_use]
    pub fn scope(&self) -> Scope {
        Scope::from_annotations(&self.annotations)
    }
}

/// `SealedSecret namespace/name`.
#[must_use]
pub fn object_ref(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("SealedSecret {name}")
    } else {
        format!("SealedSecret {namespace}/{name}")
    }
}

fn string_map(
    value: Option<&Value>,
    field: &str,
) -> Result<BTreeMap<String, String>, (String, String)> {
    let mut out = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let Some(text) = value.as_str() else {
                    return Err((format!("{field}.{key}"), "must be a string".into()));
                };
                out.insert(key.clone(), text.to_owned());
            }
        }
        Some(_) => return Err((field.to_owned(), "must be a map of strings".into())),
    }
    Ok(out)
}
