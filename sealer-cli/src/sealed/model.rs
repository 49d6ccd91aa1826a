//! The `SealedSecret` object as it is stored in Git: a serde model, read from YAML or JSON and
//! written back. It holds ciphertext only, so it may derive `Debug`, `Clone` and `Serialize`.

use super::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The `apiVersion` of a Tether SealedSecret.
pub const API_VERSION: &str = "tether.dev/v1alpha1";
/// The `kind` of a Tether SealedSecret.
pub const KIND: &str = "SealedSecret";
/// The largest SealedSecret manifest read (many keys, each sealed to several recipients).
pub const MAX_MANIFEST_BYTES: usize = 16 * 1024 * 1024;

/// Where a sealed value may be unsealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Only in the same namespace, under the same name (scope string `namespace/name`).
    #[default]
    Strict,
    /// In the same namespace under any name (scope string `namespace`).
    Namespace,
    /// Anywhere (empty scope string).
    Cluster,
}

impl Scope {
    /// The scope string bound in the envelope for an object at `namespace`/`name`.
    #[must_use]
    pub fn scope_string(self, namespace: &str, name: &str) -> String {
        match self {
            Scope::Strict => format!("{namespace}/{name}"),
            Scope::Namespace => namespace.to_owned(),
            Scope::Cluster => String::new(),
        }
    }

    /// Whether this scope binds the namespace (strict and namespace scopes).
    #[must_use]
    pub fn needs_namespace(self) -> bool {
        !matches!(self, Scope::Cluster)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Strict => "strict",
            Scope::Namespace => "namespace",
            Scope::Cluster => "cluster",
        })
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "strict" => Ok(Scope::Strict),
            "namespace" => Ok(Scope::Namespace),
            "cluster" => Ok(Scope::Cluster),
            _ => Err("expected strict, namespace or cluster".to_owned()),
        }
    }
}

/// A Tether SealedSecret (`tether.dev/v1alpha1`, kind `SealedSecret`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecret {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always [`KIND`].
    pub kind: String,
    /// Name and namespace of the object (and of the Secret it produces).
    pub metadata: ObjectMeta,
    /// The sealed values and the template of the Secret.
    pub spec: SealedSecretSpec,
}

/// The metadata kept on a SealedSecret. Other fields (uid, managedFields…) are dropped when read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The object's name (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The object's namespace (required by strict and namespace scopes, unless given where
    /// the object is applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels of the SealedSecret itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations of the SealedSecret itself.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of a SealedSecret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealedSecretSpec {
    /// The scope the values were sealed for, as declared. Unsealing checks the scope bound
    /// inside each value, not this field; re-sealing writes the verified scope here.
    #[serde(default)]
    pub scope: Scope,
    /// Per Secret key, the base64 of an age file holding the value's envelope.
    #[serde(default)]
    pub encrypted_data: BTreeMap<String, String>,
    /// Type and metadata of the Secret to produce.
    #[serde(default, skip_serializing_if = "SecretTemplate::is_empty")]
    pub template: SecretTemplate,
}

/// The non-secret parts of the Secret a SealedSecret produces. Not bound cryptographically:
/// whoever can edit the SealedSecret can edit these, as with any manifest in Git.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretTemplate {
    /// The Secret's `type` (`Opaque` when absent).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Labels and annotations of the Secret.
    #[serde(default, skip_serializing_if = "TemplateMetadata::is_empty")]
    pub metadata: TemplateMetadata,
    /// The Secret's `immutable` flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
}

impl SecretTemplate {
    fn is_empty(&self) -> bool {
        self.type_.is_none() && self.metadata.is_empty() && self.immutable.is_none()
    }
}

/// Labels and annotations of the Secret to produce.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TemplateMetadata {
    /// The Secret's labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The Secret's annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl TemplateMetadata {
    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }
}

impl SealedSecret {
    /// Reads a SealedSecret from YAML or JSON text. `source_name` (a file name) is used in
    /// errors. Checks `apiVersion` and `kind`; the values are checked when unsealed.
    pub fn from_text(text: &str, source_name: &str) -> Result<Self> {
        let parsed: Self = match read_manifest(text, source_name) {
            Ok(parsed) => parsed,
            // serde names the type it expected, not the field: find the field.
            Err(err @ Error::ReadManifest { .. }) => {
                return Err(misplaced_field(text, source_name).unwrap_or(err));
            }
            Err(err) => return Err(err),
        };
        parsed.check_type(source_name)?;
        Ok(parsed)
    }

    /// Writes the object as YAML.
    pub fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self).map_err(|e| Error::WriteManifest {
            reason: e.to_string(),
        })
    }

    /// Writes the object as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::WriteManifest {
            reason: e.to_string(),
        })
    }

    /// `namespace/name` (or `name`) of the object, for messages.
    #[must_use]
    pub fn object_ref(&self) -> String {
        object_ref(
            self.metadata.namespace.as_deref(),
            self.metadata.name.as_deref().unwrap_or("<unnamed>"),
        )
    }

    /// Checks `apiVersion` and `kind`.
    pub(crate) fn check_type(&self, source_name: &str) -> Result<()> {
        if self.api_version != API_VERSION {
            return Err(Error::InvalidField {
                object: format!("{source_name}: {}", self.object_ref()),
                field: "apiVersion".to_owned(),
                reason: format!("must be {API_VERSION}"),
            });
        }
        if self.kind != KIND {
            return Err(Error::InvalidField {
                object: format!("{source_name}: {}", self.object_ref()),
                field: "kind".to_owned(),
                reason: format!("must be {KIND}"),
            });
        }
        Ok(())
    }
}

/// `namespace/name`, or `name` alone without a namespace.
/// The first field of a SealedSecret manifest whose value has the wrong shape, as an
/// [`Error::InvalidField`] naming the object and the field; `None` when the text does not
/// even parse as a document, or no field is found wrong.
fn misplaced_field(text: &str, source_name: &str) -> Option<Error> {
    use serde_json::Value;
    let doc: Value = read_manifest(text, source_name).ok()?;
    let meta = doc.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    let object = match name {
        Some(name) => object_ref(namespace, name),
        None => source_name.to_owned(),
    };
    let invalid = |field: &str, reason: &str| {
        Some(Error::InvalidField {
            object: object.clone(),
            field: field.to_owned(),
            reason: reason.to_owned(),
        })
    };
    let string_map = |value: &Value, field: &str, what: &str| -> Option<Error> {
        let Some(map) = value.as_object() else {
            return invalid(field, &format!("must be a map of {what}"));
        };
        map.iter().find(|(_, v)| !v.is_string()).and_then(|(k, _)| {
            invalid(
                &format!("{field}.{k}"),
                &format!("must be a string ({what})"),
            )
        })
    };
    if let Some(meta) = meta {
        if !meta.is_object() {
            return invalid("metadata", "must be a map");
        }
        for key in ["name", "namespace"] {
            if meta.get(key).is_some_and(|v| !v.is_string()) {
                return invalid(&format!("metadata.{key}"), "must be a string");
            }
        }
        for key in ["labels", "annotations"] {
            if let Some(err) = meta
                .get(key)
                .and_then(|v| string_map(v, &format!("metadata.{key}"), "strings"))
            {
                return Some(err);
            }
        }
    }
    let spec = doc.get("spec")?;
    if !spec.is_object() {
        return invalid("spec", "must be a map");
    }
    if spec
        .get("scope")
        .is_some_and(|scope| !matches!(scope.as_str(), Some("strict" | "namespace" | "cluster")))
    {
        return invalid("spec.scope", "must be one of strict, namespace, cluster");
    }
    if let Some(data) = spec.get("encryptedData")
        && let Some(err) = string_map(data, "spec.encryptedData", "key to sealed value")
    {
        return Some(err);
    }
    if let Some(template) = spec.get("template") {
        if !template.is_object() {
            return invalid("spec.template", "must be a map");
        }
        if template.get("type").is_some_and(|v| !v.is_string()) {
            return invalid("spec.template.type", "must be a string");
        }
        if template.get("immutable").is_some_and(|v| !v.is_boolean()) {
            return invalid("spec.template.immutable", "must be true or false");
        }
        if let Some(meta) = template.get("metadata") {
            if !meta.is_object() {
                return invalid("spec.template.metadata", "must be a map");
            }
            for key in ["labels", "annotations"] {
                let field = format!("spec.template.metadata.{key}");
                if let Some(err) = meta.get(key).and_then(|v| string_map(v, &field, "strings")) {
                    return Some(err);
                }
            }
        }
    }
    None
}

pub(crate) fn object_ref(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// Whether the text is JSON rather than YAML (its first non-blank character opens an object).
/// Reads one manifest from YAML or JSON text, bounded in size; errors name `source_name`.
pub(crate) fn read_manifest<T: serde::de::DeserializeOwned>(
    text: &str,
    source_name: &str,
) -> Result<T> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(Error::ManifestTooLarge {
            source_name: source_name.to_owned(),
            max: MAX_MANIFEST_BYTES,
        });
    }
    let read_failed = |reason: String| Error::ReadManifest {
        source_name: source_name.to_owned(),
        reason,
    };
    if looks_like_json(text) {
        serde_json::from_str(text).map_err(|e| read_failed(e.to_string()))
    } else {
        serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|e| read_failed(e.to_string()))
    }
}

pub(crate) fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// YAML options for manifests: kubectl's YAML 1.1 reading, no source snippets in errors (a
/// snippet could quote a plaintext line of a Secret).
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        legacy_octal_numbers: true,
        with_snippet: false,
    }
}
