//! [`SecretObject`]: a Kubernetes Secret whose values are held in zeroizing memory until the
//! apply call, and its redacted view.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use zeroize::Zeroizing;

use super::SecretsError;
use super::held::Held;
use super::redact::{redact_bytes, scrub_value};

/// The annotation `kubectl apply` uses to store the whole last applied object, Secret values
/// included; never carried into a Secret to apply.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Standard base64 as the API server reads it (Go's `base64.StdEncoding`): padding required,
/// non-canonical trailing bits accepted. Line breaks are removed before by [`decode_data`].
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes one value of a Secret's `data` exactly as the API server does: Go's
/// `base64.StdEncoding`, which skips `\r` and `\n` anywhere (Kustomize folds long values
/// over lines of 70 characters), requires padding and accepts non-canonical trailing bits.
/// The copy without line breaks, when one is needed, is wiped.
pub fn decode_data(text: &str) -> Result<Zeroizing<Vec<u8>>, base64::DecodeError> {
    if !text.contains(['\r', '\n']) {
        return BASE64.decode(text).map(Zeroizing::new);
    }
    let mut compact = Zeroizing::new(text.as_bytes().to_vec());
    compact.retain(|b| *b != b'\r' && *b != b'\n');
    BASE64.decode(compact.as_slice()).map(Zeroizing::new)
}

/// The plaintext values of a Secret, by key, in zeroizing memory.
pub type SecretData = BTreeMap<String, Zeroizing<Vec<u8>>>;

/// Where a [`SecretObject`]'s values came from (for status and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOrigin {
    /// A Secret in Git with plain values.
    Plain,
    /// A SOPS-encrypted object (or SOPS-encrypted data entries), decrypted.
    Sops,
    /// A Tether SealedSecret, unsealed.
    Sealed,
    /// An ExternalSecret, resolved from a store.
    External,
    /// A Secret with inline `ref+vault://` / `ref+awssecrets://` references, resolved.
    Inline,
}

impl SecretOrigin {
    /// A short name for logs and status.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SecretOrigin::Plain => "plain",
            SecretOrigin::Sops => "sops",
            SecretOrigin::Sealed => "sealed",
            SecretOrigin::External => "external",
            SecretOrigin::Inline => "inline",
        }
    }
}

/// How the Secret of an ExternalSecret relates to a Secret already in the cluster
/// (`spec.target.creationPolicy`); Secrets from other origins are [`CreationPolicy::Owner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CreationPolicy {
    /// The app owns the Secret: it is created, updated, and pruned with the app.
    #[default]
    Owner,
    /// The values are merged (server-side apply of these keys only) into a Secret that must
    /// already exist; it is never created nor pruned by the app.
    Merge,
    /// The Secret is created and updated, but never pruned.
    Orphan,
}

/// A Kubernetes Secret ready to apply. Its values live in zeroizing memory; the type
/// implements no `Debug`, `Display`, `Clone` or `Serialize`. [`SecretObject::to_apply_json`]
/// is the one moment the plaintext leaves it; [`SecretObject::redacted`] is what everything
/// else (diffs, logs, policy input, status) sees.
pub struct SecretObject {
    pub(crate) name: String,
    pub(crate) namespace: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) type_: Option<String>,
    pub(crate) immutable: Option<bool>,
    pub(crate) data: SecretData,
    pub(crate) origin: SecretOrigin,
    pub(crate) creation_policy: CreationPolicy,
}

impl SecretObject {
    /// An empty Secret `namespace/name`.
    #[must_use]
    pub fn new(namespace: &str, name: &str, origin: SecretOrigin) -> Self {
        Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            type_: None,
            immutable: None,
            data: BTreeMap::new(),
            origin,
            creation_policy: CreationPolicy::Owner,
        }
    }

    /// Reads a Secret manifest (a rendered object), taking it by value so that its strings can
    /// be wiped once copied: `data` (base64) and `stringData` (`stringData` wins on the same
    /// key, as on the API server). Keeps name, namespace (`default_namespace` when it has
    /// none), labels, annotations (without the last-applied one), `type` and `immutable`.
    /// Errors name the object and the field, never a value.
    pub fn from_manifest(
        manifest: Value,
        default_namespace: &str,
        origin: SecretOrigin,
    ) -> Result<Self, SecretsError> {
        Self::from_rendered(manifest, default_namespace, origin, None)
    }

    /// [`SecretObject::from_manifest`] for a rendered Secret whose values may be stand-ins
    /// for values the render decrypted ([`crate::render::is_stand_in`]): each is exchanged for
    /// its value in `held`; one that `held` does not have is refused by name. A Secret with
    /// a stand-in is of origin [`SecretOrigin::Sops`].
    pub fn from_rendered(
        manifest: Value,
        default_namespace: &str,
        origin: SecretOrigin,
        held: Option<&Held>,
    ) -> Result<Self, SecretsError> {
        let mut manifest = manifest;
        let object = super::object_ref(&manifest, default_namespace);
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SecretsError::InvalidObject {
                object: object.clone(),
                field: "metadata.name".into(),
                reason: "is required".into(),
            })?
            .to_owned();
        let namespace = manifest
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(default_namespace)
            .to_owned();
        let mut out = Self::new(&namespace, &name, origin);
        out.labels = string_map(manifest.pointer("/metadata/labels"));
        out.annotations = string_map(manifest.pointer("/metadata/annotations"));
        out.annotations.remove(LAST_APPLIED_ANNOTATION);
        out.type_ = manifest
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_owned);
        out.immutable = manifest.get("immutable").and_then(Value::as_bool);
        let (data, string_data) = match manifest.as_object_mut() {
            Some(m) => (m.remove("data"), m.remove("stringData")),
            None => (None, None),
        };
        let result = out.read_values(&object, data, string_data, held);
        scrub_value(manifest);
        result.map(|()| out)
    }

    fn read_values(
        &mut self,
        object: &str,
        data: Option<Value>,
        string_data: Option<Value>,
        held: Option<&Held>,
    ) -> Result<(), SecretsError> {
        let mut first_error = None;
        for (field, section) in [("data", data), ("stringData", string_data)] {
            let Some(section) = section else { continue };
            let Value::Object(entries) = section else {
                if !section.is_null() {
                    first_error.get_or_insert(SecretsError::InvalidObject {
                        object: object.to_owned(),
                        field: field.to_owned(),
                        reason: "must be a map of strings".into(),
                    });
                }
                scrub_value(section);
                continue;
            };
            for (key, value) in entries {
                let decoded = match (&value, field) {
                    (Value::String(text), _) if crate::render::is_stand_in(text) => {
                        self.origin = SecretOrigin::Sops;
                        held.and_then(|h| h.value(text))
                            .ok_or("holds a stand-in for a decrypted value that this render did not decrypt")
                    }
                    (Value::String(text), "data") => {
                        decode_data(text).map_err(|_| "is not valid base64")
                    }
                    (Value::String(text), _) => Ok(Zeroizing::new(text.as_bytes().to_vec())),
                    (Value::Null, _) => Ok(Zeroizing::new(Vec::new())),
                    _ => Err("must be a string"),
                };
                scrub_value(value);
                match decoded {
                    Ok(bytes) => {
                        self.data.insert(key, bytes);
                    }
                    Err(reason) => {
                        first_error.get_or_insert(SecretsError::InvalidObject {
                            object: object.to_owned(),
                            field: format!("{field}.{}", crate::text::clip(&key)),
                            reason: reason.into(),
                        });
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The Secret's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Secret's namespace.
    #[must_use]
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Where the values came from.
    #[must_use]
    pub fn origin(&self) -> SecretOrigin {
        self.origin
    }

    /// How the Secret relates to one already in the cluster.
    #[must_use]
    pub fn creation_policy(&self) -> CreationPolicy {
        self.creation_policy
    }

    /// The names of the values, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    /// Borrows one value (for checks inside this crate's stages; never log it).
    pub(crate) fn value(&self, key: &str) -> Option<&[u8]> {
        self.data.get(key).map(|v| v.as_slice())
    }

    /// Adds or replaces one value.
    pub fn insert(&mut self, key: impl Into<String>, value: Zeroizing<Vec<u8>>) {
        self.data.insert(key.into(), value);
    }

    /// `Secret namespace/name`, for messages.
    #[must_use]
    pub fn object_ref(&self) -> String {
        format!("Secret {}/{}", self.namespace, self.name)
    }

    fn metadata_json(&self) -> Map<String, Value> {
        let mut metadata = Map::new();
        metadata.insert("name".into(), self.name.clone().into());
        metadata.insert("namespace".into(), self.namespace.clone().into());
        if !self.labels.is_empty() {
            metadata.insert("labels".into(), to_json_map(&self.labels));
        }
        if !self.annotations.is_empty() {
            metadata.insert("annotations".into(), to_json_map(&self.annotations));
        }
        metadata
    }

    fn shell(&self) -> Map<String, Value> {
        let mut secret = Map::new();
        secret.insert("apiVersion".into(), "v1".into());
        secret.insert("kind".into(), "Secret".into());
        secret.insert("metadata".into(), Value::Object(self.metadata_json()));
        if let Some(immutable) = self.immutable {
            secret.insert("immutable".into(), immutable.into());
        }
        secret.insert(
            "type".into(),
            self.type_.clone().unwrap_or_else(|| "Opaque".into()).into(),
        );
        secret
    }

    /// The Secret with every value replaced by `<redacted hmac:xxxxxxxx>`: what diffs, logs,
    /// policy input and status see.
    #[must_use]
    pub fn redacted(&self) -> Value {
        let mut secret = self.shell();
        let data: Map<String, Value> = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(redact_bytes(v))))
            .collect();
        secret.insert("data".into(), Value::Object(data));
        Value::Object(secret)
    }

    /// The Secret without its values (what [`SecretObject::redacted`] shows, minus `data`)
    /// and a zeroizing copy of the values: what the sync engine takes
    /// (`sync::SecretManifest::new`), so the values never pass through JSON before the
    /// apply request.
    #[must_use]
    pub fn to_parts(&self) -> (Value, SecretData) {
        let data = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        (Value::Object(self.shell()), data)
    }

    /// The Secret as JSON (`apiVersion` v1, values base64 in `data`), for the apply call.
    ///
    /// **This is the moment plaintext leaves the zeroizing types.** The text is built directly
    /// in a zeroizing buffer sized up front (so no growth leaves copies behind) and wiped when
    /// dropped. Call it right before the apply request and drop it right after.
    #[must_use]
    pub fn to_apply_json(&self) -> Zeroizing<String> {
        let mut shell = self.shell();
        shell.insert("data".into(), Value::Object(Map::new()));
        // `{..., "data":{}}`: the values go between the last two braces.
        let head = Value::Object(shell).to_string();
        let keys_len: usize = self
            .data
            .keys()
            .map(|k| Value::String(k.clone()).to_string().len() + 4)
            .sum();
        let values_len: usize = self.data.values().map(|v| v.len().div_ceil(3) * 4).sum();
        let mut out = Zeroizing::new(String::with_capacity(head.len() + keys_len + values_len));
        let cut = head.len().saturating_sub(2);
        out.push_str(&head[..cut]);
        for (index, (key, value)) in self.data.iter().enumerate() {
            if index > 0 {
                out.push(',');
            }
            let _ = write!(out, "{}:\"", Value::String(key.clone()));
            BASE64.encode_string(value.as_slice(), &mut out);
            out.push('"');
        }
        out.push_str(&head[cut..]);
        out
    }
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn to_json_map(map: &BTreeMap<String, String>) -> Value {
    Value::Object(
        map.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_values_are_decoded_as_the_api_server_decodes_them() {
        // Kustomize folds long values over lines of 70 characters.
        let long = vec![7u8; 200];
        let encoded = BASE64.encode(&long);
        let folded: String = encoded
            .as_bytes()
            .chunks(70)
            .map(|c| format!("{}\n", String::from_utf8_lossy(c)))
            .collect();
        assert_eq!(decode_data(&folded).expect("folded").as_slice(), long);
        assert_eq!(
            decode_data("Zm9v\r\nYmFy").expect("crlf").as_slice(),
            b"foobar"
        );
        // Non-canonical trailing bits, as sops and Go accept them.
        assert_eq!(decode_data("Zh==").expect("trailing bits").as_slice(), b"f");
        // Go's StdEncoding requires padding, and skips no other whitespace.
        assert!(decode_data("Zg").is_err());
        assert!(decode_data("Zm9v YmFy").is_err());
        assert!(decode_data("Zg==Zg==").is_err());
    }

    fn secret() -> SecretObject {
        SecretObject::from_manifest(
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "labels": {"app": "db"},
                    "annotations": {LAST_APPLIED_ANNOTATION: "{}"}},
                "type": "Opaque",
                "data": {"password": "aHVudGVyMg=="},
                "stringData": {"user": "admin", "password": "override"},
            }),
            "shop",
            SecretOrigin::Plain,
        )
        .unwrap()
    }

    #[test]
    fn string_data_wins_and_the_namespace_defaults_to_the_app() {
        let s = secret();
        assert_eq!(s.namespace(), "shop");
        assert_eq!(s.value("password").unwrap(), b"override");
        assert_eq!(s.value("user").unwrap(), b"admin");
        assert!(!s.annotations.contains_key(LAST_APPLIED_ANNOTATION));
    }

    #[test]
    fn apply_json_is_a_valid_secret_with_base64_data() {
        let s = secret();
        let text = s.to_apply_json();
        let parsed: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["data"]["password"], "b3ZlcnJpZGU=");
        assert_eq!(parsed["data"]["user"], "YWRtaW4=");
        assert_eq!(parsed["metadata"]["namespace"], "shop");
        assert_eq!(parsed["type"], "Opaque");
        assert!(text.capacity() >= text.len());
    }

    #[test]
    fn an_empty_secret_still_serialises() {
        let s = SecretObject::new("shop", "empty", SecretOrigin::Plain);
        let parsed: Value = serde_json::from_str(&s.to_apply_json()).unwrap();
        assert_eq!(parsed["data"], json!({}));
    }

    #[test]
    fn the_redacted_view_has_no_value() {
        let text = secret().redacted().to_string();
        assert!(
            !text.contains("override") && !text.contains("admin"),
            "{text}"
        );
        assert!(text.contains("<redacted hmac:"));
    }

    #[test]
    fn a_bad_value_is_named_by_its_key_only() {
        let err = SecretObject::from_manifest(
            json!({"kind": "Secret", "metadata": {"name": "x"},
                   "data": {"k": "not base64 !!"}, "stringData": {"n": 12345}}),
            "shop",
            SecretOrigin::Plain,
        )
        .err()
        .unwrap();
        let text = err.to_string();
        assert!(text.contains("data.k"), "{text}");
        assert!(!text.contains("not base64 !!"), "{text}");
    }
}
