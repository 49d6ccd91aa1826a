//! Writing the format: one value ([`seal_raw`], `kubeseal --raw`), a Secret into a whole
//! SealedSecret ([`seal_secret`]), new values into an existing one ([`merge_into`],
//! `--merge-into`) and every value for a newer key ([`re_encrypt`], `--re-encrypt`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

use super::format::hybrid_encrypt;
use super::keys::{PrivateKey, PublicKey};
use super::model::{BitnamiSealedSecret, object_ref};
use super::unseal::unseal;
use super::{API_VERSION, Error, KIND, Result, Scope};
use crate::sealed::UnsealedSecret;

/// Annotations that carry a whole copy of an applied object (values included): never sealed
/// into a template (sealed-secrets #227).
const LAST_APPLIED: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// Seals one value for `namespace`/`name` with `scope`: base64 of one hybrid ciphertext, what
/// `kubeseal --raw` prints.
pub fn seal_raw(
    key: &PublicKey,
    value: &[u8],
    scope: Scope,
    namespace: &str,
    name: &str,
) -> Result<String> {
    let out = hybrid_encrypt(key, value, &scope.label(namespace, name)).map_err(|source| {
        Error::EncryptFailed {
            object: object_ref(namespace, name),
            field: "value".into(),
            source,
        }
    })?;
    Ok(STANDARD.encode(out))
}

/// Seals a Secret into a SealedSecret as kubeseal does: the scope is `scope` when given (and
/// then written into the Secret's annotations too), else the one the Secret's annotations
/// declare; the template keeps the Secret's labels, annotations (without last-applied copies)
/// and type; a namespace is required unless the scope is cluster-wide.
pub fn seal_secret(
    secret: &UnsealedSecret,
    key: &PublicKey,
    scope: Option<Scope>,
) -> Result<Value> {
    let name = secret.name().unwrap_or_default();
    let namespace = secret.namespace().unwrap_or_default();
    let object = object_ref(namespace, name);
    let invalid = |field: &str, reason: &str| Error::InvalidField {
        object: object.clone(),
        field: field.into(),
        reason: reason.into(),
    };
    if name.is_empty() {
        return Err(invalid("metadata.name", "is required"));
    }
    let mut annotations = secret.annotations().clone();
    for a in LAST_APPLIED {
        annotations.remove(a);
    }
    let scope = match scope {
        Some(scope) => {
            scope.write_annotations(&mut annotations);
            scope
        }
        None => Scope::from_annotations(&annotations),
    };
    if scope != Scope::ClusterWide && namespace.is_empty() {
        return Err(invalid(
            "metadata.namespace",
            "is required unless the scope is cluster-wide (--namespace)",
        ));
    }
    let mut encrypted = Map::new();
    for (k, v) in &secret.data {
        let sealed = seal_raw(key, v, scope, namespace, name).map_err(|e| match e {
            Error::EncryptFailed { source, .. } => Error::EncryptFailed {
                object: object.clone(),
                field: format!("data.{k}"),
                source,
            },
            other => other,
        })?;
        encrypted.insert(k.clone(), sealed.into());
    }
    let mut meta_annotations = BTreeMap::new();
    scope.write_annotations(&mut meta_annotations);
    let mut template_meta = json!({"name": name});
    if !namespace.is_empty() {
        template_meta["namespace"] = namespace.into();
    }
    if !secret.labels().is_empty() {
        template_meta["labels"] = json!(secret.labels());
    }
    if !annotations.is_empty() {
        template_meta["annotations"] = json!(annotations);
    }
    let mut template = json!({"metadata": template_meta});
    if let Some(t) = secret.type_() {
        template["type"] = t.into();
    }
    if let Some(i) = secret.immutable {
        template["immutable"] = i.into();
    }
    let mut metadata = json!({"name": name});
    if !namespace.is_empty() {
        metadata["namespace"] = namespace.into();
    }
    if !meta_annotations.is_empty() {
        metadata["annotations"] = json!(meta_annotations);
    }
    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"encryptedData": encrypted, "template": template},
    }))
}

/// Seals the values of `secret` into the existing SealedSecret `existing` (kubeseal's
/// `--merge-into`): for its name, namespace and scope, whatever the Secret says; keys already
/// there are replaced, the others kept; the Secret's labels and annotations are added to the
/// template.
pub fn merge_into(existing: &mut Value, secret: &UnsealedSecret, key: &PublicKey) -> Result<()> {
    let parsed = BitnamiSealedSecret::from_value(existing, "")?;
    let namespace = parsed.namespace.clone().unwrap_or_default();
    let scope = parsed.scope();
    let object = object_ref(&namespace, &parsed.name);
    for (k, v) in &secret.data {
        let sealed = seal_raw(key, v, scope, &namespace, &parsed.name).map_err(|e| match e {
            Error::EncryptFailed { source, .. } => Error::EncryptFailed {
                object: object.clone(),
                field: format!("data.{k}"),
                source,
            },
            other => other,
        })?;
        set_path(existing, &["spec", "encryptedData", k], sealed.into());
    }
    for (k, v) in secret.labels() {
        set_path(
            existing,
            &["spec", "template", "metadata", "labels", k],
            v.clone().into(),
        );
    }
    for (k, v) in secret.annotations() {
        if !LAST_APPLIED.contains(&k.as_str()) && !k.starts_with("sealedsecrets.bitnami.com/") {
            set_path(
                existing,
                &["spec", "template", "metadata", "annotations", k],
                v.clone().into(),
            );
        }
    }
    Ok(())
}

/// Re-encrypts every value of `existing` for `new_key` (kubeseal's `--re-encrypt`), after
/// opening it with `keys` as it is applied in `namespace`. The output scope is the one whose
/// label opened the values: the scope annotations of `metadata` and of the template are
/// rewritten to say it, whatever the input's template claims (CVE-2026-22728: a scope widened
/// by an annotation is never carried into the new ciphertext).
pub fn re_encrypt(
    existing: &Value,
    keys: &[PrivateKey],
    new_key: &PublicKey,
    namespace: &str,
) -> Result<Value> {
    let parsed = BitnamiSealedSecret::from_value(existing, namespace)?;
    let namespace = parsed
        .namespace
        .clone()
        .unwrap_or_else(|| namespace.to_owned());
    // Opens the values only (templates are left as they are).
    let mut values_only = parsed.clone();
    values_only.template_data.clear();
    let opened = unseal(&values_only, keys, &namespace)?;
    let scope = opened.scope;
    let object = object_ref(&namespace, &parsed.name);
    let mut out = existing.clone();
    for (k, v) in opened.expose_data() {
        let sealed =
            seal_raw(new_key, v, scope, &namespace, &parsed.name).map_err(|e| match e {
                Error::EncryptFailed { source, .. } => Error::EncryptFailed {
                    object: object.clone(),
                    field: format!("spec.encryptedData.{k}"),
                    source,
                },
                other => other,
            })?;
        set_path(&mut out, &["spec", "encryptedData", k], sealed.into());
    }
    for path in [
        &["metadata", "annotations"][..],
        &["spec", "template", "metadata", "annotations"][..],
    ] {
        let mut annotations = get_string_map(&out, path);
        let had = !annotations.is_empty();
        scope.write_annotations(&mut annotations);
        if had || !annotations.is_empty() {
            set_path(&mut out, path, json!(annotations));
        }
    }
    Ok(out)
}

fn get_string_map(value: &Value, path: &[&str]) -> BTreeMap<String, String> {
    let mut current = value;
    for p in path {
        match current.get(p) {
            Some(v) => current = v,
            None => return BTreeMap::new(),
        }
    }
    current
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn set_path(value: &mut Value, path: &[&str], new: Value) {
    let mut current = value;
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    for p in parents {
        if !current.get(p).is_some_and(Value::is_object) {
            if let Some(map) = current.as_object_mut() {
                map.insert((*p).to_owned(), Value::Object(Map::new()));
            } else {
                return;
            }
        }
        match current.get_mut(p) {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(map) = current.as_object_mut() {
        map.insert((*last).to_owned(), new);
    }
}
