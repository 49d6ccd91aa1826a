//! What an offline plan does not resolve: ExternalSecrets and Secrets with inline store
//! references, listed with their store instead of read.

use super::Unresolved;
use serde_json::Value;

const INLINE_PREFIXES: [&str; 2] = ["ref+vault://", "ref+awssecrets://"];

/// Whether a Secret carries an inline store reference (in `stringData`, or base64 in `data`).
pub(super) fn has_inline_reference(object: &Value) -> bool {
    let is_secret = object.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && object.get("kind").and_then(Value::as_str) == Some("Secret");
    if !is_secret {
        return false;
    }
    let starts = |text: &[u8]| {
        INLINE_PREFIXES
            .iter()
            .any(|p| text.starts_with(p.as_bytes()))
    };
    let plain = object
        .get("stringData")
        .and_then(Value::as_object)
        .is_some_and(|m| {
            m.values()
                .filter_map(Value::as_str)
                .any(|v| starts(v.as_bytes()))
        });
    let encoded = object
        .get("data")
        .and_then(Value::as_object)
        .is_some_and(|m| {
            m.values()
                .filter_map(Value::as_str)
                .any(|v| crate::secrets::object::decode_data(v).is_ok_and(|bytes| starts(&bytes)))
        });
    plain || encoded
}

/// `namespace/name` of a rendered object, the app's namespace standing in for a missing one.
fn object_id(object: &Value, namespace: &str) -> String {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let ns = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(namespace);
    format!("{ns}/{name}")
}

pub(super) fn inline_unresolved(object: &Value, namespace: &str) -> Unresolved {
    Unresolved {
        object: format!("Secret {}", object_id(object, namespace)),
        store: "inline reference".into(),
        note: "offline: the store was not contacted; the Secret is not planned and the live one would stay".into(),
    }
}

pub(super) fn is_external(object: &Value) -> bool {
    let api = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    api.starts_with("external-secrets.io/") && kind == "ExternalSecret"
}

pub(super) fn unresolved_of(object: &Value, namespace: &str) -> Unresolved {
    let store_kind = object
        .pointer("/spec/secretStoreRef/kind")
        .and_then(Value::as_str)
        .unwrap_or("SecretStore");
    let store = object
        .pointer("/spec/secretStoreRef/name")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    Unresolved {
        object: format!("ExternalSecret {}", object_id(object, namespace)),
        store: format!("{store_kind} {store}"),
        note: "offline: the store was not contacted; the target Secret is not planned and the live one would stay".into(),
    }
}
