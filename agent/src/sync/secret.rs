//! Secrets in the engine: a desired Secret's values stay in zeroizing memory until the moment
//! of its apply request, and the engine keeps only a keyed fingerprint of them between syncs.
//!
//! A [`SecretManifest`] is the Secret without its values (an object with `data` and
//! `stringData` removed) and the values, by key, in zeroizing memory. It implements no
//! `Debug`, `Display`, `Clone` or `Serialize`. The engine plans, orders, diffs and records it
//! through its *stand-in* ([`SecretManifest::stand_in`]): the object with each value replaced
//! by a keyed fingerprint ([`crate::redact::fingerprint`]). [`SecretManifest::apply_body`]
//! builds the JSON body of the apply request from the prepared stand-in, in zeroizing memory,
//! right before the request; nothing else ever holds the values.
//!
//! Because only fingerprints outlive a sync, a drifted Secret cannot be re-applied from
//! memory: the drift watcher asks for the app to be synced again
//! ([`super::Correction::resync`]), which renders and resolves it anew.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::Write as _;
use zeroize::{Zeroize as _, Zeroizing};

/// The prefix of a value's fingerprint in a stand-in.
const FINGERPRINT_PREFIX: &str = "hmac:";

/// A Secret to apply: its object without values, and the values in zeroizing memory.
pub struct SecretManifest {
    object: Value,
    data: BTreeMap<String, Zeroizing<Vec<u8>>>,
}

impl SecretManifest {
    /// A Secret from its object (any `data` and `stringData` in it are removed and wiped)
    /// and its values.
    #[must_use]
    pub fn new(object: Value, data: BTreeMap<String, Zeroizing<Vec<u8>>>) -> Self {
        let mut object = object;
        if let Some(map) = object.as_object_mut() {
            for field in ["data", "stringData"] {
                if let Some(old) = map.remove(field) {
                    wipe(old);
                }
            }
        }
        Self { object, data }
    }

    /// Takes a Secret given as JSON (`data` base64, read as the API server reads it, newlines
    /// skipped; `stringData` text, winning on the same key): the values move into zeroizing
    /// memory and the JSON strings that held them are wiped. `None` (and the object given
    /// back) when a value is not a string or not base64, for the API server to refuse.
    pub fn from_json(object: Value) -> Result<Self, Value> {
        let mut data = BTreeMap::new();
        for (field, encoded) in [("data", true), ("stringData", false)] {
            let Some(map) = object.get(field).and_then(Value::as_object) else {
                continue;
            };
            for (key, value) in map {
                let bytes = match value {
                    Value::String(text) if encoded => match decode(text) {
                        Some(bytes) => bytes,
                        None => return Err(object),
                    },
                    Value::String(text) => Zeroizing::new(text.as_bytes().to_vec()),
                    Value::Null => Zeroizing::new(Vec::new()),
                    _ => return Err(object),
                };
                data.insert(key.clone(), bytes);
            }
        }
        Ok(Self::new(object, data))
    }

    /// The object with each value replaced by `hmac:<fingerprint>`: what the engine plans,
    /// hashes and keeps. The same values give the same stand-in within an installation.
    #[must_use]
    pub fn stand_in(&self) -> Value {
        let mut object = self.object.clone();
        if let Some(map) = object.as_object_mut()
            && !self.data.is_empty()
        {
            let data: Map<String, Value> = self
                .data
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(fingerprint(v))))
                .collect();
            map.insert("data".to_owned(), Value::Object(data));
        }
        object
    }

    /// The JSON body of the apply request: `prepared` (the stand-in as the engine prepared
    /// it: labels, owner annotation) with the real values in `data`, base64. Built in
    /// zeroizing memory; the caller sends it and lets it drop.
    #[must_use]
    pub fn apply_body(&self, prepared: &Value) -> Zeroizing<Vec<u8>> {
        let mut shell = prepared.clone();
        if let Some(map) = shell.as_object_mut() {
            map.remove("data");
            map.remove("stringData");
        }
        let mut out = Zeroizing::new(Vec::with_capacity(256 + 2 * self.len_hint()));
        let text = serde_json::to_vec(&shell).unwrap_or_else(|_| b"{}".to_vec());
        // `{...}` without its closing brace, then `"data":{...}}`.
        let head = text.strip_suffix(b"}").unwrap_or(&text);
        out.extend_from_slice(head);
        if !self.data.is_empty() {
            if head.len() > 1 {
                out.push(b',');
            }
            out.extend_from_slice(b"\"data\":{");
            for (i, (key, value)) in self.data.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, key);
                out.extend_from_slice(b":\"");
                let mut encoded = Zeroizing::new(String::new());
                STANDARD.encode_string(value.as_slice(), &mut encoded);
                let _ = out.write_all(encoded.as_bytes());
                out.push(b'"');
            }
            out.push(b'}');
        }
        out.push(b'}');
        out
    }

    /// `message` with every value of this Secret (as text, base64 and JSON-escaped) masked by
    /// its redaction mark: for API errors that quote the request back.
    #[must_use]
    pub fn mask(&self, message: &str) -> String {
        let mut out = message.to_owned();
        let mut forms: Vec<(Zeroizing<String>, String)> = Vec::new();
        for value in self.data.values() {
            let mark = crate::redact::mark(value);
            let mut encoded = Zeroizing::new(String::new());
            STANDARD.encode_string(value.as_slice(), &mut encoded);
            forms.push((encoded, mark.clone()));
            if let Ok(text) = std::str::from_utf8(value) {
                let escaped = serde_json::to_string(text).unwrap_or_default();
                let inner = escaped
                    .get(1..escaped.len().saturating_sub(1))
                    .unwrap_or("");
                forms.push((Zeroizing::new(inner.to_owned()), mark.clone()));
                forms.push((Zeroizing::new(text.to_owned()), mark));
            }
        }
        forms.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
        for (form, mark) in forms.iter().filter(|(f, _)| f.len() >= 3) {
            out = out.replace(form.as_str(), mark);
        }
        out
    }

    fn len_hint(&self) -> usize {
        self.data.iter().map(|(k, v)| k.len() + v.len()).sum()
    }
}

/// `hmac:<keyed fingerprint>` of a value.
fn fingerprint(value: &[u8]) -> String {
    format!("{FINGERPRINT_PREFIX}{}", crate::redact::fingerprint(value))
}

/// Base64 as the API server decodes a Secret's `data` (Go's decoder skips `\r` and `\n`;
/// padding and trailing bits as Go accepts them).
fn decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let compact: Zeroizing<String> =
        Zeroizing::new(text.chars().filter(|c| !matches!(c, '\n' | '\r')).collect());
    API_BASE64
        .decode(compact.as_bytes())
        .ok()
        .map(Zeroizing::new)
}

/// Standard base64 as the API server reads it: padding optional, non-canonical trailing bits
/// accepted (as Go's `base64.StdEncoding` does).
const API_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// A copy of a live Secret cut down for hashing: each value of `data` and `stringData`
/// replaced by its keyed fingerprint, so a drift hash kept between syncs (and in the
/// inventory) is never a plain hash of a value. Other objects are returned as they are.
#[must_use]
pub fn fingerprinted(object: &Value) -> Value {
    let mut copy = object.clone();
    if !is_secret(object) {
        return copy;
    }
    for (field, encoded) in [("data", true), ("stringData", false)] {
        let Some(map) = copy.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        for value in map.values_mut() {
            let print = match value.as_str() {
                Some(text) if text.starts_with(FINGERPRINT_PREFIX) => continue,
                Some(text) if encoded => match decode(text) {
                    Some(bytes) => fingerprint(&bytes),
                    None => fingerprint(text.as_bytes()),
                },
                Some(text) => fingerprint(text.as_bytes()),
                None => fingerprint(value.to_string().as_bytes()),
            };
            let old = std::mem::replace(value, Value::String(print));
            wipe(old);
        }
    }
    // The API server writes stringData into data: hash both as data.
    let string_data = copy.as_object_mut().and_then(|m| m.remove("stringData"));
    if let (Some(Value::Object(string_data)), Some(map)) = (string_data, copy.as_object_mut()) {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(data) = data.as_object_mut() {
            data.extend(string_data);
        }
    }
    copy
}

fn is_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

fn wipe(value: Value) {
    let mut value = value;
    wipe_in_place(&mut value);
}

fn wipe_in_place(value: &mut Value) {
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe_in_place),
        Value::Object(map) => map.values_mut().for_each(wipe_in_place),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// One desired object handed to the engine: a plain object, or a Secret whose values stay in
/// zeroizing memory. A [`Value`] converts into it; a Secret given as JSON is taken apart at
/// once ([`SecretManifest::from_json`]).
pub enum Manifest {
    /// An object with nothing secret in it.
    Plain(Value),
    /// A Secret.
    Secret(SecretManifest),
}

impl From<Value> for Manifest {
    fn from(value: Value) -> Self {
        if is_secret(&value) {
            match SecretManifest::from_json(value) {
                Ok(secret) => Manifest::Secret(secret),
                Err(value) => Manifest::Plain(value),
            }
        } else {
            Manifest::Plain(value)
        }
    }
}

impl From<SecretManifest> for Manifest {
    fn from(secret: SecretManifest) -> Self {
        Manifest::Secret(secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret() -> SecretManifest {
        SecretManifest::from_json(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop"},
            "type": "Opaque",
            "data": {"password": "aHVudGVy\nMg=="},
            "stringData": {"user": "admin"},
        }))
        .unwrap_or_else(|_| panic!("a valid Secret"))
    }

    #[test]
    fn the_stand_in_holds_fingerprints_and_no_value() {
        let s = secret();
        let text = s.stand_in().to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVy") && !text.contains("admin"),
            "{text}"
        );
        assert!(text.contains("\"password\":\"hmac:"), "{text}");
    }

    #[test]
    fn the_apply_body_is_the_prepared_object_with_the_values() {
        let s = secret();
        let mut prepared = s.stand_in();
        prepared["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "tether"});
        let body = s.apply_body(&prepared);
        let parsed: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(parsed["data"]["password"], "aHVudGVyMg==");
        assert_eq!(parsed["data"]["user"], "YWRtaW4=");
        assert_eq!(
            parsed["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "tether"
        );
        assert_eq!(parsed["type"], "Opaque");
        assert!(parsed.get("stringData").is_none());
    }

    #[test]
    fn a_live_secret_hashes_by_keyed_fingerprints_equal_to_the_stand_in() {
        let s = secret();
        let live = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}});
        let printed = fingerprinted(&live);
        assert_eq!(printed["data"], s.stand_in()["data"]);
        assert!(!printed.to_string().contains("aHVudGVy"));
    }

    #[test]
    fn api_errors_that_quote_a_value_are_masked() {
        let s = secret();
        let masked = s.mask("data[password]: hunter2 (aHVudGVyMg==) user admin");
        assert!(
            !masked.contains("hunter2")
                && !masked.contains("aHVudGVyMg==")
                && !masked.contains("admin"),
            "{masked}"
        );
        assert!(masked.contains(crate::redact::MARK_PREFIX), "{masked}");
    }
}
