//! SOPS at apply time: objects encrypted as a whole (a top-level `sops` map with a `mac`, as
//! Flux users write them) and Secret data entries that are SOPS-encrypted files (a
//! `secretGenerator` fed with `*.enc.yaml`, `.json`, `.env`, or binary files), decrypted with
//! the agent's age identities, PGP keys and KMS/Transit credentials ([`super::kms`]); a
//! remote key the app's key allow-list does not name is refused. `tether.dev/decrypt: disabled` opts an object out; an object
//! still encrypted after this stage is refused by the leftover check, never applied.

use serde_json::Value;
use std::path::Path;
use tether_seal::sops::{self, Format};
use zeroize::Zeroizing;

use super::SecretsError;
use super::keys::KeyRing;
use super::kms::{AgentKeys, KeyAllowList};
use super::object::SecretObject;

/// The opt-out annotation.
pub const DECRYPT_ANNOTATION: &str = "tether.dev/decrypt";

/// Whether the object opts out of decryption (`tether.dev/decrypt: disabled`).
#[must_use]
pub fn opted_out(object: &Value) -> bool {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DECRYPT_ANNOTATION))
        .and_then(Value::as_str)
        == Some("disabled")
}

/// Decrypts an object encrypted as a whole; the result is plaintext the caller must move
/// into zeroizing memory (a Secret) or treat as a plain object.
pub(crate) fn decrypt_object(
    object: &Value,
    object_ref: &str,
    keys: &KeyRing,
    allow: &KeyAllowList,
) -> Result<Value, SecretsError> {
    if !keys.has_sops_keys() {
        return Err(SecretsError::NoKeys {
            object: object_ref.to_owned(),
        });
    }
    sops::decrypt_object(object, &service(keys, allow)).map_err(|source| {
        SecretsError::DecryptFailed {
            object: object_ref.to_owned(),
            source: source.in_file(object_ref),
        }
    })
}

/// The key service of one app: the agent's keys, remote keys as the allow-list permits.
#[must_use]
pub fn service<'a>(keys: &'a KeyRing, allow: &'a KeyAllowList) -> AgentKeys<'a> {
    AgentKeys {
        age: keys.sops_identities(),
        remote: keys.remote(),
        allow,
    }
}

/// Whether a Secret value is a SOPS-encrypted file, for the format its key names. A value
/// shaped like one (sops metadata and `ENC[...]` values) that cannot be read, for example
/// because its aliases expand beyond the reader's bounds, is an error, not a plain value.
fn encrypted_entry(key: &str, value: &[u8]) -> Result<Option<Format>, sops::Error> {
    // Cheap filter before parsing: every sops file carries its metadata's `mac` and `sops`.
    let has = |needle: &[u8]| value.windows(needle.len()).any(|w| w == needle);
    if !(has(b"sops") && has(b"mac")) {
        return Ok(None);
    }
    let format = Format::from_path(Path::new(key));
    match sops::parse_encrypted(value, format) {
        Ok(file) => Ok((!file.metadata.mac.is_empty()).then_some(format)),
        Err(err) if has(b"ENC[AES256_GCM,") => Err(err),
        Err(_) => Ok(None),
    }
}

/// Decrypts, in place, the values of `secret` that are SOPS-encrypted files. Returns how
/// many were.
pub(crate) fn decrypt_entries(
    secret: &mut SecretObject,
    keys: &KeyRing,
    allow: &KeyAllowList,
) -> Result<usize, SecretsError> {
    let object = secret.object_ref();
    let mut count = 0;
    let names: Vec<String> = secret.keys().map(str::to_owned).collect();
    for key in names {
        let Some(value) = secret.value(&key) else {
            continue;
        };
        let format =
            encrypted_entry(&key, value).map_err(|source| SecretsError::DecryptFailed {
                object: object.clone(),
                source: source.in_file(&format!("data.{key}")),
            })?;
        let Some(format) = format else {
            continue;
        };
        if !keys.has_sops_keys() {
            return Err(SecretsError::NoKeys { object });
        }
        let plain: Zeroizing<Vec<u8>> = sops::decrypt_bytes(value, format, &service(keys, allow))
            .map_err(|source| SecretsError::DecryptFailed {
            object: object.clone(),
            source: source.in_file(&format!("data.{key}")),
        })?;
        secret.insert(key, plain);
        count += 1;
    }
    Ok(count)
}
