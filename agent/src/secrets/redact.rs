//! Redaction: how a secret value is shown in logs, Events, status, errors, policy input and
//! diffs: `<redacted hmac:xxxxxxxx>`, the installation's keyed hash ([`crate::redact`]), applied
//! to Secret objects given as JSON, and the wiping of JSON that held plaintext.

use serde_json::Value;

use super::object::decode_data;

/// The redaction mark of one value: `<redacted hmac:xxxxxxxx>` ([`crate::redact::mark`]).
#[must_use]
pub fn redact_bytes(value: &[u8]) -> String {
    crate::redact::mark(value)
}

/// Replaces, in place, every value of `data` (base64) and `stringData` of a Secret given as
/// JSON (for example a live Secret read from the cluster, before it is diffed or logged) with
/// its redaction mark. A `data` value that is not base64 is redacted as its text. The
/// `kubectl.kubernetes.io/last-applied-configuration` annotation, which holds the whole
/// object, is redacted too. The replaced strings are wiped.
pub fn redact_secret_json(secret: &mut Value) {
    if let Some(data) = secret.get_mut("data").and_then(Value::as_object_mut) {
        for value in data.values_mut() {
            let mark = match value.as_str() {
                Some(text) => match decode_data(text) {
                    Ok(bytes) => redact_bytes(&bytes),
                    Err(_) => redact_bytes(text.as_bytes()),
                },
                None => redact_bytes(value.to_string().as_bytes()),
            };
            scrub_value(std::mem::replace(value, Value::String(mark)));
        }
    }
    if let Some(data) = secret.get_mut("stringData").and_then(Value::as_object_mut) {
        for value in data.values_mut() {
            let mark = match value.as_str() {
                Some(text) => redact_bytes(text.as_bytes()),
                None => redact_bytes(value.to_string().as_bytes()),
            };
            scrub_value(std::mem::replace(value, Value::String(mark)));
        }
    }
    if let Some(annotations) = secret
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        && let Some(value) = annotations.get_mut(super::object::LAST_APPLIED_ANNOTATION)
    {
        let mark = redact_bytes(value.as_str().unwrap_or_default().as_bytes());
        scrub_value(std::mem::replace(value, Value::String(mark)));
    }
}

/// Wipes every string (and object key) of a JSON value that held plaintext, then drops it.
///
/// `serde_json::Value` does not zeroize on drop; values parsed from decrypted or fetched
/// plaintext go through this function as soon as their content has been copied into
/// zeroizing memory. Numbers and booleans cannot be wiped through serde_json's API; secret
/// values are strings in every format this module reads.
pub fn scrub_value(value: Value) {
    let mut value = value;
    scrub_in_place(&mut value);
}

fn scrub_in_place(value: &mut Value) {
    use zeroize::Zeroize as _;
    match value {
        Value::String(s) => s.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(scrub_in_place),
        Value::Object(map) => {
            let taken = std::mem::take(map);
            for (mut key, mut item) in taken {
                scrub_in_place(&mut item);
                key.zeroize();
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_mark_names_a_keyed_hash_and_never_the_value() {
        let mark = redact_bytes(b"hunter2");
        assert!(crate::redact::is_mark(&mark), "{mark}");
        assert!(!mark.contains("hunter2"));
        assert_eq!(mark, redact_bytes(b"hunter2"), "stable within a process");
        assert_ne!(mark, redact_bytes(b"hunter3"));
    }

    #[test]
    fn a_value_that_looks_like_a_mark_is_redacted_like_any_other() {
        let spoof = redact_bytes(b"real");
        assert_ne!(redact_bytes(spoof.as_bytes()), spoof);
    }

    #[test]
    fn a_live_secret_is_redacted_in_place_including_last_applied() {
        let mut secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"p\":\"aHVudGVyMg==\"}}"}},
            "data": {"p": "aHVudGVyMg=="},
            "stringData": {"q": "hunter2"},
        });
        redact_secret_json(&mut secret);
        let text = secret.to_string();
        assert!(!text.contains("aHVudGVyMg"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(secret["data"]["p"], redact_bytes(b"hunter2"));
        assert_eq!(secret["stringData"]["q"], redact_bytes(b"hunter2"));
    }
}
