//! Decryption for the render ([`crate::render::Decryptor`]): SOPS-encrypted documents and
//! generator inputs are decrypted as the render loads them, with the agent's keys, and the
//! values of decrypted Secrets stay here, in zeroizing memory, while the render carries
//! stand-ins ([`crate::render::stand_in`]) through its transformers. The secrets stage then
//! exchanges each stand-in of a rendered Secret for its value ([`Held::value`]); a stand-in
//! anywhere else is refused.
//!
//! A stand-in names a keyed fingerprint of its value ([`crate::redact::fingerprint`]), so a
//! generated Secret's name hash changes when a value changes, without a plain hash of it in
//! any name.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tether_seal::sops::Format;
use zeroize::Zeroizing;

use super::keys::KeyRing;
use super::kms::KeyAllowList;
use super::object::decode_data;
use super::redact::scrub_value;
use crate::render::{Decryptor, stand_in};
use crate::tree::RelPath;

/// The decrypted values of one render, by stand-in.
#[derive(Default)]
pub struct Held {
    values: Mutex<HashMap<String, Zeroizing<Vec<u8>>>>,
}

impl Held {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps `value`; returns its stand-in.
    pub fn hold(&self, value: Zeroizing<Vec<u8>>) -> String {
        let text = stand_in(&crate::redact::fingerprint(&value));
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(text.clone())
            .or_insert(value);
        text
    }

    /// A copy of the value behind the stand-in `text`, if this render holds it.
    #[must_use]
    pub fn value(&self, text: &str) -> Option<Zeroizing<Vec<u8>>> {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(text)
            .cloned()
    }

    /// How many values are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The render's decryptor: the agent's keys and the values it decrypted.
pub struct RenderDecryptor {
    keys: Arc<KeyRing>,
    allow: KeyAllowList,
    held: Arc<Held>,
}

impl RenderDecryptor {
    /// A decryptor with `keys` (remote keys as the app's `allow` list permits), keeping
    /// values in `held`.
    #[must_use]
    pub fn new(keys: Arc<KeyRing>, allow: KeyAllowList, held: Arc<Held>) -> Self {
        Self { keys, allow, held }
    }
}

impl Decryptor for RenderDecryptor {
    fn decrypt_file(&self, path: &RelPath, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        if self.keys.is_empty() && self.keys.remote().is_none() {
            return Err("the agent has no key to decrypt with".to_owned());
        }
        let format = Format::from_path(Path::new(path.as_str()));
        let service = super::sops::service(&self.keys, &self.allow);
        tether_seal::sops::decrypt_bytes(bytes, format, &service)
            .map_err(|e| e.in_file(path.as_str()).to_string())
    }

    fn decrypt_object(&self, path: &RelPath, object: &Value) -> Result<Value, String> {
        let reference = format!("{path}: {}", super::object_ref(object, ""));
        let mut plain = super::sops::decrypt_object(object, &reference, &self.keys, &self.allow)
            .map_err(|e| e.to_string())?;
        if super::stage::is_secret(&plain) {
            hold_secret_values(&mut plain, &self.held);
        }
        Ok(plain)
    }

    fn hold(&self, value: Zeroizing<Vec<u8>>) -> String {
        self.held.hold(value)
    }
}

/// Moves the values of a decrypted Secret's `data` (base64, decoded as the API server
/// decodes it) and `stringData` into `held`, leaving stand-ins; the replaced strings are
/// wiped. A `data` value that is not base64 stays, for the secrets stage to refuse by name.
fn hold_secret_values(secret: &mut Value, held: &Held) {
    for field in ["data", "stringData"] {
        let Some(map) = secret.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        for value in map.values_mut() {
            let Value::String(text) = value else { continue };
            let bytes = if field == "data" {
                match decode_data(text) {
                    Ok(bytes) => bytes,
                    Err(_) => continue,
                }
            } else {
                Zeroizing::new(text.as_bytes().to_vec())
            };
            let old = std::mem::replace(value, Value::String(held.hold(bytes)));
            scrub_value(old);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_decrypted_secret_carries_stand_ins_and_its_values_stay_held() {
        let held = Held::new();
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"},
            "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "admin"}});
        hold_secret_values(&mut secret, &held);
        let text = secret.to_string();
        assert!(
            !text.contains("aHVudGVyMg") && !text.contains("admin"),
            "{text}"
        );
        let stand_in = secret["data"]["password"].as_str().unwrap_or_default();
        assert!(crate::render::is_stand_in(stand_in));
        assert_eq!(
            held.value(stand_in).as_deref().map(Vec::as_slice),
            Some(&b"hunter2"[..])
        );
        let user = secret["stringData"]["user"].as_str().unwrap_or_default();
        assert_eq!(
            held.value(user).as_deref().map(Vec::as_slice),
            Some(&b"admin"[..])
        );
    }

    #[test]
    fn folded_base64_is_read_like_the_api_server_reads_it() {
        let held = Held::new();
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"}, "data": {"k": "aHVu\ndGVy\nMg=="}});
        hold_secret_values(&mut secret, &held);
        let k = secret["data"]["k"].as_str().unwrap_or_default();
        assert_eq!(
            held.value(k).as_deref().map(Vec::as_slice),
            Some(&b"hunter2"[..])
        );
    }
}
