//! The documents a policy sees: the object (as conftest gives it) with every Secret value
//! replaced by a hash, and Tether's metadata about the app and the object.
//!
//! Redaction happens here, before anything reaches the engine: a Secret's `data` and
//! `stringData` values become `<redacted hmac:HEX>` (the hash of the decoded value), and its
//! `kubectl.kubernetes.io/last-applied-configuration` annotation, which may hold a copy of the
//! data, is replaced the same way. Policies can still count keys or compare two values for
//! equality, never read one.

use serde_json::{Map, Value};

use zeroize::Zeroizing;

/// The annotation kubectl uses for client-side apply; on a Secret it may hold the data.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Where the values of a Secret came from. The secrets stage sets it; a Secret whose source is
/// [`SecretSource::None`] was written in Git as plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretSource {
    /// Decrypted from a SOPS-encrypted file.
    Sops,
    /// Produced from a `SealedSecret`.
    Sealed,
    /// Resolved from an external store (`ExternalSecret` or `ref+vault://`-style references).
    External,
    /// Not a produced Secret (or not a Secret at all): what is in Git is what is applied.
    #[default]
    None,
}

impl SecretSource {
    /// The lowercase name policies see (`sops`, `sealed`, `external`, `none`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sops => "sops",
            Self::Sealed => "sealed",
            Self::External => "external",
            Self::None => "none",
        }
    }
}

/// The app an evaluation is about, as policies see it under `data.tether.app`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppMeta {
    /// The app name.
    pub name: String,
    /// The app's target namespace, when it has one.
    pub namespace: Option<String>,
    /// The app's directory in the repository.
    pub path: String,
    /// The commit being synced (empty when unknown, e.g. a working directory).
    pub revision: String,
}

/// One rendered object of an app, with what the pipeline knows about it.
#[derive(Debug, Clone, Copy)]
pub struct AppObject<'a> {
    /// The object as it will be applied (Secret values may be plaintext here: they are redacted
    /// before evaluation).
    pub object: &'a Value,
    /// The file the object came from, relative to the repository root, when known.
    pub file: Option<&'a str>,
    /// Where a Secret's values came from.
    pub secret_source: SecretSource,
}

impl<'a> AppObject<'a> {
    /// An object from `file` that is not a produced Secret.
    #[must_use]
    pub fn new(object: &'a Value, file: Option<&'a str>) -> Self {
        Self {
            object,
            file,
            secret_source: SecretSource::None,
        }
    }

    /// Sets where the Secret's values came from.
    #[must_use]
    pub fn with_secret_source(mut self, source: SecretSource) -> Self {
        self.secret_source = source;
        self
    }
}

/// `kind`, `namespace` and `name` of an object, for messages and reports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectRef {
    /// `apiVersion` (empty when missing).
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `kind` (empty when missing).
    pub kind: String,
    /// `metadata.namespace`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name` (empty when missing).
    pub name: String,
}

impl ObjectRef {
    /// Reads the reference of `object`; missing fields become empty strings.
    #[must_use]
    pub fn of(object: &Value) -> Self {
        let text =
            |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
        let metadata = object.get("metadata");
        Self {
            api_version: text(object.get("apiVersion")),
            kind: text(object.get("kind")),
            namespace: metadata
                .and_then(|m| m.get("namespace"))
                .and_then(Value::as_str)
                .filter(|ns| !ns.is_empty())
                .map(str::to_owned),
            name: text(metadata.and_then(|m| m.get("name"))),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.kind.is_empty() {
            "<no kind>"
        } else {
            &self.kind
        };
        let name = if self.name.is_empty() {
            "<no name>"
        } else {
            &self.name
        };
        // Names and kinds come from the repository: quoted, never in full.
        let (kind, name) = (crate::text::clip(kind), crate::text::clip(name));
        match &self.namespace {
            Some(ns) => write!(f, "{kind} {}/{name}", crate::text::clip(ns)),
            None => write!(f, "{kind} {name}"),
        }
    }
}

/// Whether `object` is a core/v1 Secret.
#[must_use]
pub fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// The redaction marker for `bytes`: `<redacted hmac:HEX>`, the one redaction
/// ([`crate::redact::mark`]).
#[must_use]
pub fn redaction_marker(bytes: &[u8]) -> String {
    crate::redact::mark(bytes)
}

/// A copy of `object` that is safe to show a policy: for a Secret, every value of `data`
/// (hash of the base64-decoded bytes, or of the text when it is not valid base64) and
/// `stringData` (hash of the text) and the last-applied annotation are replaced by
/// redaction markers. Other objects are returned unchanged.
#[must_use]
pub fn redact(object: &Value) -> Value {
    let mut copy = object.clone();
    if !is_secret(object) {
        return copy;
    }
    if let Some(data) = copy.get_mut("data").and_then(Value::as_object_mut) {
        redact_values(data, true);
    }
    if let Some(data) = copy.get_mut("stringData").and_then(Value::as_object_mut) {
        redact_values(data, false);
    }
    if let Some(annotations) = copy
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
        && let Some(value) = annotations.get_mut(LAST_APPLIED)
    {
        let text = Zeroizing::new(value.as_str().unwrap_or_default().to_owned());
        *value = Value::String(redaction_marker(text.as_bytes()));
    }
    copy
}

fn redact_values(map: &mut Map<String, Value>, base64_encoded: bool) {
    for value in map.values_mut() {
        let marker = match &mut *value {
            Value::String(text) => {
                let text = Zeroizing::new(std::mem::take(text));
                let decoded = if base64_encoded {
                    crate::secrets::object::decode_data(&text).ok()
                } else {
                    None
                };
                match decoded {
                    Some(bytes) => redaction_marker(&bytes),
                    None => redaction_marker(text.as_bytes()),
                }
            }
            // A non-string value is invalid in a Secret; hash its JSON text all the same.
            other => redaction_marker(Zeroizing::new(other.to_string()).as_bytes()),
        };
        *value = Value::String(marker);
    }
}

/// The metadata of one object, as policies see it under `data.tether.object`.
pub(crate) fn object_meta(object: &AppObject<'_>) -> Value {
    let mut meta = Map::new();
    meta.insert(
        "secretSource".into(),
        Value::String(object.secret_source.as_str().to_owned()),
    );
    meta.insert(
        "file".into(),
        object
            .file
            .map_or(Value::Null, |file| Value::String(file.to_owned())),
    );
    Value::Object(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_become_hashes_of_the_decoded_bytes() {
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "annotations": {LAST_APPLIED: "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg=="},
            "stringData": {"user": "admin"}
        });
        let redacted = redact(&secret);
        assert_eq!(
            redacted["data"]["password"],
            json!(redaction_marker(b"hunter2"))
        );
        assert_eq!(
            redacted["stringData"]["user"],
            json!(redaction_marker(b"admin"))
        );
        let text = redacted.to_string();
        assert!(!text.contains("aHVudGVyMg"), "{text}");
        assert!(!text.contains("admin"), "{text}");
    }

    #[test]
    fn objects_other_than_secrets_are_unchanged() {
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"}});
        assert_eq!(redact(&config), config);
    }

    #[test]
    fn object_refs_read_missing_fields_as_empty() {
        let reference = ObjectRef::of(&json!({"kind": "Pod", "metadata": {"namespace": "shop"}}));
        assert_eq!(reference.to_string(), "Pod shop/<no name>");
    }
}
