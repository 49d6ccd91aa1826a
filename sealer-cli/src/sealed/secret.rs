//! The plaintext side: [`UnsealedSecret`], read from a Kubernetes Secret manifest for sealing,
//! or produced by unsealing, and turned into a Kubernetes Secret only by
//! [`UnsealedSecret::expose_secret_json`].

use super::model::{object_ref, read_manifest};
use super::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use zeroize::Zeroizing;

/// The annotation `kubectl apply` uses to store the whole last applied object, Secret data
/// included; dropped when sealing.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The plaintext of a Secret: its name, namespace, type, labels, annotations, `immutable`
/// flag and values. Values are held in zeroizing memory; the type implements no `Debug`,
/// `Display`, `Clone` or `Serialize`.
pub struct UnsealedSecret {
    pub(crate) name: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) type_: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) immutable: Option<bool>,
    pub(crate) data: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl UnsealedSecret {
    /// An empty Secret named `name`.
    #[must_use]
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            namespace: None,
            type_: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            immutable: None,
            data: BTreeMap::new(),
        }
    }

    /// Sets the namespace.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the Secret `type`.
    #[must_use]
    pub fn with_type(mut self, type_: impl Into<String>) -> Self {
        self.type_ = Some(type_.into());
        self
    }

    /// Adds or replaces one value.
    pub fn insert(&mut self, key: impl Into<String>, value: Zeroizing<Vec<u8>>) {
        self.data.insert(key.into(), value);
    }

    /// Overrides the name (for example from `--name`).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = Some(name.into());
    }

    /// Overrides the namespace (for example from `--namespace`).
    pub fn set_namespace(&mut self, namespace: impl Into<String>) {
        self.namespace = Some(namespace.into());
    }

    /// The name, if any.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The namespace, if any.
    #[must_use]
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The Secret `type`, if any.
    #[must_use]
    pub fn type_(&self) -> Option<&str> {
        self.type_.as_deref()
    }

    /// The labels.
    #[must_use]
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The annotations.
    #[must_use]
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// The names of the values, sorted.
    pub fn key_names(&self) -> impl Iterator<Item = &str> {
        self.data.keys().map(String::as_str)
    }

    /// `namespace/name` for messages.
    #[must_use]
    pub fn object_ref(&self) -> String {
        object_ref(
            self.namespace.as_deref(),
            self.name.as_deref().unwrap_or("<unnamed>"),
        )
    }

    /// Builds the Kubernetes `Secret` (apiVersion v1, `data` in base64) as JSON.
    ///
    /// **This is the moment plaintext leaves the zeroizing types**: the returned value is an
    /// ordinary `serde_json::Value` that is not wiped on drop. Call it only right before the
    /// Secret is applied (or printed by an explicit recovery command), and drop it right after.
    #[must_use]
    pub fn expose_secret_json(&self) -> serde_json::Value {
        let mut metadata = serde_json::Map::new();
        if let Some(name) = &self.name {
            metadata.insert("name".into(), name.clone().into());
        }
        if let Some(ns) = &self.namespace {
            metadata.insert("namespace".into(), ns.clone().into());
        }
        if !self.labels.is_empty() {
            metadata.insert("labels".into(), string_map(&self.labels));
        }
        if !self.annotations.is_empty() {
            metadata.insert("annotations".into(), string_map(&self.annotations));
        }
        let mut secret = serde_json::Map::new();
        secret.insert("apiVersion".into(), "v1".into());
        secret.insert("kind".into(), "Secret".into());
        secret.insert("metadata".into(), metadata.into());
        if let Some(immutable) = self.immutable {
            secret.insert("immutable".into(), immutable.into());
        }
        let data: serde_json::Map<String, serde_json::Value> = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), STANDARD.encode(v.as_slice()).into()))
            .collect();
        secret.insert("data".into(), data.into());
        secret.insert(
            "type".into(),
            self.type_.clone().unwrap_or_else(|| "Opaque".into()).into(),
        );
        serde_json::Value::Object(secret)
    }

    /// Reads a Kubernetes Secret manifest (YAML or JSON) for sealing.
    ///
    /// Keeps name, namespace, type, labels, annotations and `immutable`; everything else of the
    /// metadata (`managedFields`, `resourceVersion`, `uid`, `creationTimestamp`, `generation`,
    /// `selfLink`…), `status`, and the [`LAST_APPLIED_ANNOTATION`] are dropped. Values come
    /// from `data` (base64) and `stringData`; `stringData` wins on the same key, as with the
    /// API server. Errors name `source_name`, the object and the field, never a value: a
    /// malformed value is reported by its key only.
    pub fn from_manifest(text: &str, source_name: &str) -> Result<Self> {
        let manifest: SecretManifest = read_manifest(text, source_name)?;
        manifest.into_secret(source_name)
    }
}

fn string_map(map: &BTreeMap<String, String>) -> serde_json::Value {
    map.iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A Kubernetes Secret as read for sealing; unknown fields are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretManifest {
    api_version: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    metadata: ManifestMeta,
    #[serde(rename = "type")]
    type_: Option<String>,
    immutable: Option<bool>,
    #[serde(default)]
    data: Values,
    #[serde(default)]
    string_data: Values,
}

#[derive(Default, Deserialize)]
struct ManifestMeta {
    name: Option<String>,
    namespace: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl SecretManifest {
    fn into_secret(self, source_name: &str) -> Result<UnsealedSecret> {
        let object = format!(
            "{source_name}: {}",
            object_ref(
                self.metadata.namespace.as_deref(),
                self.metadata.name.as_deref().unwrap_or("<unnamed>")
            )
        );
        let invalid = |field: &str, reason: &str| Error::InvalidField {
            object: object.clone(),
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        if self.kind.as_deref() != Some("Secret") {
            return Err(invalid("kind", "must be Secret"));
        }
        if self.api_version.as_deref().is_some_and(|v| v != "v1") {
            return Err(invalid("apiVersion", "must be v1"));
        }
        let mut data = BTreeMap::new();
        for (field, values) in [("data", self.data), ("stringData", self.string_data)] {
            let entries = match values {
                Values::Absent => continue,
                Values::NotAMap => return Err(invalid(field, "must be a map of key to string")),
                Values::Map(entries) => entries,
            };
            for (key, value) in entries {
                let path = format!("{field}.{key}");
                let text = match value {
                    Value::Text(text) => text,
                    Value::Null => Zeroizing::new(String::new()),
                    Value::Other => return Err(invalid(&path, "must be a string")),
                };
                let bytes = if field == "data" {
                    let mut clean = Zeroizing::new(text.as_bytes().to_vec());
                    clean.retain(|b| !b.is_ascii_whitespace());
                    Zeroizing::new(
                        STANDARD
                            .decode(clean.as_slice())
                            .map_err(|_| invalid(&path, "is not valid base64"))?,
                    )
                } else {
                    Zeroizing::new(text.as_bytes().to_vec())
                };
                // Later fields win: stringData replaces data, as with the API server.
                data.insert(key, bytes);
            }
        }
        let mut annotations = self.metadata.annotations;
        annotations.remove(LAST_APPLIED_ANNOTATION);
        Ok(UnsealedSecret {
            name: self.metadata.name,
            namespace: self.metadata.namespace,
            type_: self.type_,
            labels: self.metadata.labels,
            annotations,
            immutable: self.immutable,
            data,
        })
    }
}

/// `data` or `stringData`: read without ever echoing a value in an error.
#[derive(Default)]
enum Values {
    #[default]
    Absent,
    NotAMap,
    Map(Vec<(String, Value)>),
}

/// One value of `data`/`stringData`. Anything but a string is recorded, not quoted.
enum Value {
    Text(Zeroizing<String>),
    Null,
    Other,
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValuesVisitor)
    }
}

struct ValuesVisitor;

/// Accepts any YAML/JSON node; the contents of a non-map are skipped unread.
macro_rules! not_a_map {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _v: $ty) -> Result<Values, E> {
            Ok(Values::NotAMap)
        })*
    };
}

impl<'de> Visitor<'de> for ValuesVisitor {
    type Value = Values;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of key to string")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Values, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Value>()?;
            entries.push((key, value));
        }
        Ok(Values::Map(entries))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Values, E> {
        Ok(Values::Absent)
    }

    fn visit_none<E: de::Error>(self) -> Result<Values, E> {
        Ok(Values::Absent)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Values, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Values::NotAMap)
    }

    not_a_map!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64,
        visit_i128: i128, visit_u128: u128, visit_char: char, visit_str: &str,
        visit_bytes: &[u8]);
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

/// Records a value that is not a string, without keeping it.
macro_rules! other_value {
    ($($name:ident: $ty:ty),*) => {
        $(fn $name<E: de::Error>(self, _v: $ty) -> Result<Value, E> {
            Ok(Value::Other)
        })*
    };
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(Zeroizing::new(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(Zeroizing::new(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Value::Other)
    }

    other_value!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64,
        visit_i128: i128, visit_u128: u128, visit_char: char, visit_bytes: &[u8]);
}
