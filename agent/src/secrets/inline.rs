//! Inline references in a Secret's values, in the vals syntax:
//!
//! - `ref+vault://PATH[?version=N]#/json/pointer`: PATH is the full API path
//!   (`secret/data/shop/db` reads KV v2 mount `secret`; `kv/shop/db`, whose second segment is
//!   not `data`, reads KV v1 mount `kv`), the pointer goes into the secret's data map;
//! - `ref+awssecrets://NAME[?version_stage=S&version_id=ID&region=R]#/json/pointer`: the
//!   pointer goes into the JSON of the `SecretString`; without one the whole value is used.
//!
//! A value is a reference when the whole value is one (in `stringData`, or base64 in `data`).
//! The stores come from the agent's configuration ([`Stores::set_inline_store`]). A reference
//! anywhere but in a Secret's values is refused: elsewhere it would end up in plain objects.

use serde_json::Value;
use std::sync::Arc;

use super::allow::Provider;
use super::external::extract::Selector;
use super::external::store::{KvVersion, ProviderSpec, ResolvedStore};
use super::external::stores::{ReadRequest, Stores};
use super::object::{SecretObject, SecretOrigin};
use super::{AppContext, SecretsError};

const VAULT: &str = "ref+vault://";
const AWS: &str = "ref+awssecrets://";

/// A parsed reference.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reference {
    pub(crate) provider: Provider,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) pointer: Option<String>,
}

/// Whether `text` starts like a vals reference (`ref+BACKEND://`).
pub(crate) fn looks_like_reference(text: &[u8]) -> bool {
    text.starts_with(b"ref+")
        && text
            .iter()
            .take(40)
            .collect::<Vec<_>>()
            .windows(3)
            .any(|w| *w[0] == b':' && *w[1] == b'/' && *w[2] == b'/')
}

/// Parses a reference; the error (about the reference text, which names a path, not a
/// secret) says what is wrong.
pub(crate) fn parse(text: &str) -> Result<Reference, String> {
    let (provider, rest) = if let Some(rest) = text.strip_prefix(VAULT) {
        (Provider::Vault, rest)
    } else if let Some(rest) = text.strip_prefix(AWS) {
        (Provider::Aws, rest)
    } else {
        let backend = text
            .strip_prefix("ref+")
            .and_then(|r| r.split("://").next())
            .unwrap_or("");
        return Err(format!(
            "reference backend {backend:?} is not supported (supported: vault, awssecrets)"
        ));
    };
    let (rest, pointer) = match rest.split_once('#') {
        Some((r, p)) => (r, Some(p.to_owned())),
        None => (rest, None),
    };
    if let Some(p) = &pointer
        && !p.starts_with('/')
    {
        return Err(format!("the fragment #{p} is not a JSON pointer (#/key)"));
    }
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, q),
        None => (rest, ""),
    };
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect::<Vec<_>>();
    let allowed: &[&str] = match provider {
        Provider::Vault => &["version"],
        Provider::Aws => &["version_stage", "version_id", "region"],
    };
    if let Some((k, _)) = query.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "query parameter {k:?} is not supported (supported: {})",
            allowed.join(", ")
        ));
    }
    if path.is_empty() {
        return Err("the reference names no path".into());
    }
    Ok(Reference {
        provider,
        path: path.to_owned(),
        query,
        pointer,
    })
}

impl Reference {
    fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A Secret with references, waiting for its documents.
pub(crate) struct InlinePlan {
    pub(crate) secret: SecretObject,
    pub(crate) items: Vec<(String, String, ReadRequest, Selector)>,
}

/// Finds the references among `secret`'s values and authorises them. `Ok(Err(secret))`:
/// there are none, the Secret is given back.
pub(crate) fn plan(
    secret: SecretObject,
    app: &AppContext,
    stores: &Stores,
) -> Result<Result<InlinePlan, SecretObject>, SecretsError> {
    let object = secret.object_ref();
    let mut items = Vec::new();
    for key in secret.keys() {
        let Some(value) = secret.value(key) else {
            continue;
        };
        if !looks_like_reference(value) {
            continue;
        }
        let field = format!("data.{key}");
        let text = std::str::from_utf8(value).map_err(|_| SecretsError::InvalidObject {
            object: object.clone(),
            field: field.clone(),
            reason: "a reference must be UTF-8".into(),
        })?;
        let reference = parse(text).map_err(|reason| SecretsError::InvalidObject {
            object: object.clone(),
            field: field.clone(),
            reason,
        })?;
        let request = request(&object, &field, &reference, app, stores)?;
        let selector = reference
            .pointer
            .clone()
            .map_or(Selector::Whole, Selector::Pointer);
        items.push((key.to_owned(), field, request, selector));
    }
    if items.is_empty() {
        return Ok(Err(secret));
    }
    let mut secret = secret;
    secret.origin = SecretOrigin::Inline;
    Ok(Ok(InlinePlan { secret, items }))
}

fn request(
    object: &str,
    field: &str,
    reference: &Reference,
    app: &AppContext,
    stores: &Stores,
) -> Result<ReadRequest, SecretsError> {
    let store =
        stores
            .inline_store(reference.provider)
            .ok_or_else(|| SecretsError::InvalidObject {
                object: object.to_owned(),
                field: field.to_owned(),
                reason: format!(
                    "no {} store is configured for inline references",
                    reference.provider.as_str()
                ),
            })?;
    let ttl = Some(stores.inline_ttl());
    let deny = |reason: String| SecretsError::PolicyDenied {
        object: object.to_owned(),
        field: field.to_owned(),
        reason,
    };
    match reference.provider {
        Provider::Vault => {
            let path = reference.path.trim_start_matches('/');
            let (mount, rest) = path.split_once('/').unwrap_or((path, ""));
            let (version, key) = match rest.strip_prefix("data/") {
                Some(key) => (KvVersion::V2, key),
                None => (KvVersion::V1, rest),
            };
            app.allow.check(Provider::Vault, path).map_err(deny)?;
            Ok(ReadRequest {
                store,
                key: key.to_owned(),
                full_path: path.to_owned(),
                version: reference.param("version").map(str::to_owned),
                ttl,
                mount: Some((mount.to_owned(), version)),
                scope: String::new(),
            })
        }
        Provider::Aws => {
            app.allow
                .check(Provider::Aws, &reference.path)
                .map_err(deny)?;
            let store = match (reference.param("region"), &store.provider) {
                (Some(region), ProviderSpec::Aws(aws)) => {
                    let mut aws = aws.clone();
                    aws.region = Some(region.to_owned());
                    Arc::new(ResolvedStore::new(
                        ProviderSpec::Aws(aws),
                        &store.credential_namespace,
                        store.display.clone(),
                    ))
                }
                _ => store,
            };
            let version = match (
                reference.param("version_id"),
                reference.param("version_stage"),
            ) {
                (Some(id), _) => Some(format!("uuid/{id}")),
                (None, Some(stage)) => Some(stage.to_owned()),
                (None, None) => None,
            };
            Ok(ReadRequest {
                store,
                key: reference.path.clone(),
                full_path: reference.path.clone(),
                version,
                ttl,
                mount: None,
                scope: String::new(),
            })
        }
    }
}

/// The first field of a non-Secret object holding a reference, if any.
pub(crate) fn find_reference(value: &Value, path: &mut Vec<String>) -> Option<String> {
    match value {
        Value::String(s) if looks_like_reference(s.as_bytes()) => Some(path.join(".")),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            path.push(format!("[{i}]"));
            let found = find_reference(v, path);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            path.push(k.clone());
            let found = find_reference(v, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_parse_in_the_vals_syntax() {
        let r = parse("ref+vault://secret/data/shop/db?version=2#/password").unwrap();
        assert_eq!(r.provider, Provider::Vault);
        assert_eq!(r.path, "secret/data/shop/db");
        assert_eq!(r.param("version"), Some("2"));
        assert_eq!(r.pointer.as_deref(), Some("/password"));
        let r =
            parse("ref+awssecrets://shop/db?version_stage=AWSPREVIOUS&region=eu-west-1").unwrap();
        assert_eq!(r.provider, Provider::Aws);
        assert_eq!(r.path, "shop/db");
        assert_eq!(r.param("region"), Some("eu-west-1"));
        assert!(r.pointer.is_none());
        assert!(
            parse("ref+gcpsecrets://x")
                .unwrap_err()
                .contains("gcpsecrets")
        );
        assert!(
            parse("ref+vault://x?role_arn=y")
                .unwrap_err()
                .contains("role_arn")
        );
        assert!(
            parse("ref+vault://x#password")
                .unwrap_err()
                .contains("pointer")
        );
    }

    #[test]
    fn references_are_found_in_plain_objects() {
        let cm = json!({"kind": "ConfigMap", "data": {"a": "x", "b": "ref+vault://secret/data/shop/db#/p"}});
        assert_eq!(
            find_reference(&cm, &mut Vec::new()).as_deref(),
            Some("data.b")
        );
        assert!(!looks_like_reference(b"ref+ not a reference"));
    }
}
