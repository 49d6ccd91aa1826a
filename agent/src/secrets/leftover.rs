//! The last check before apply: no object leaves the stage with SOPS ciphertext (a `sops`
//! block, an `ENC[` value) or, outside a Secret, a secret reference.

use serde_json::Value;

use super::object::SecretObject;
use super::{SecretsError, inline, sops};

/// The `ENC[` prefix of a SOPS ciphertext value.
const CIPHERTEXT_PREFIX: &str = "ENC[AES256_GCM,";

/// Refuses a Secret whose values still hold SOPS ciphertext or a reference.
pub(crate) fn check_secret(secret: &SecretObject) -> Result<(), SecretsError> {
    for key in secret.keys() {
        let Some(value) = secret.value(key) else {
            continue;
        };
        if value.starts_with(CIPHERTEXT_PREFIX.as_bytes()) {
            return Err(SecretsError::CiphertextLeft {
                object: secret.object_ref(),
                field: format!("data.{key}"),
                hint: "a SOPS value without its file's metadata cannot be decrypted".into(),
            });
        }
    }
    Ok(())
}

/// Refuses a plain object with SOPS leftovers or a secret reference.
pub(crate) fn check_plain(object: &Value, reference: &str) -> Result<(), SecretsError> {
    if object.get("sops").is_some() {
        return Err(SecretsError::CiphertextLeft {
            object: reference.to_owned(),
            field: "sops".into(),
            hint: if sops::opted_out(object) {
                "decryption is disabled by tether.dev/decrypt: disabled".into()
            } else {
                "the sops metadata has no mac".into()
            },
        });
    }
    if let Some(field) = find_ciphertext(object, &mut Vec::new()) {
        return Err(SecretsError::CiphertextLeft {
            object: reference.to_owned(),
            field,
            hint: "a SOPS value without its file's metadata cannot be decrypted".into(),
        });
    }
    if let Some(field) = find_string(object, &mut Vec::new(), &crate::render::is_stand_in) {
        return Err(SecretsError::PolicyDenied {
            object: reference.to_owned(),
            field,
            reason: "holds a value decrypted from a Secret (copied by a replacement, var or \
                     patch); decrypted values are only applied inside a Secret's data"
                .into(),
        });
    }
    if let Some(field) = inline::find_reference(object, &mut Vec::new()) {
        return Err(SecretsError::PolicyDenied {
            object: reference.to_owned(),
            field,
            reason: "secret references are only resolved inside a Secret's data or stringData"
                .into(),
        });
    }
    Ok(())
}

fn find_ciphertext(value: &Value, path: &mut Vec<String>) -> Option<String> {
    find_string(value, path, &|s| s.starts_with(CIPHERTEXT_PREFIX))
}

/// The path of the first string of `value` that `matches`, if any.
fn find_string(
    value: &Value,
    path: &mut Vec<String>,
    matches: &dyn Fn(&str) -> bool,
) -> Option<String> {
    match value {
        Value::String(s) if matches(s) => Some(path.join(".")),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            path.push(format!("[{i}]"));
            let found = find_string(v, path, matches);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            path.push(k.clone());
            let found = find_string(v, path, matches);
            path.pop();
            found
        }),
        _ => None,
    }
}
