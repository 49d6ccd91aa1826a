//! What a rendered release gets before it is applied: the Kustomize post-renderers, the
//! refusal of Secret values outside Secrets, Helm's release annotations, and Secret values
//! held behind stand-ins.

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::model::HelmRelease;
use super::{FluxHelmError, group_kind, post_render};
use crate::render::Decryptor;

/// The annotation on a HelmRelease that allows values from its Secrets in objects that are
/// not Secrets (`allow`).
pub const SECRET_VALUES_ANNOTATION: &str = "tether.dev/secret-values-outside-secrets";

/// Refuses a release whose non-Secret objects carry a value read from a Secret, unless the
/// HelmRelease allows it ([`SECRET_VALUES_ANNOTATION`]).
pub(super) fn refuse_exposure(
    release: &HelmRelease,
    id: &str,
    objects: &[Value],
    leaves: &crate::render::helm::exposure::SecretLeaves,
) -> Result<(), FluxHelmError> {
    if release
        .metadata
        .annotations
        .get(SECRET_VALUES_ANNOTATION)
        .is_some_and(|v| v == "allow")
    {
        return Ok(());
    }
    match crate::render::helm::exposure::find(objects, leaves) {
        None => Ok(()),
        Some(found) => Err(FluxHelmError::SecretValueExposed {
            object: id.to_owned(),
            target: found.object,
            field: found.field,
        }),
    }
}

/// Runs the release's Kustomize post-renderers in order.
pub(super) fn post_render_all(
    release: &HelmRelease,
    id: &str,
    mut all: Vec<Value>,
    secret_values: bool,
) -> Result<Vec<Value>, FluxHelmError> {
    for (index, post) in release.spec.post_renderers.iter().enumerate() {
        if let Some(settings) = &post.kustomize {
            all = post_render::kustomize(all, settings).map_err(|reason| {
                FluxHelmError::PostRenderFailed {
                    object: id.to_owned(),
                    index,
                    reason: if secret_values {
                        "the Kustomize post-renderer failed (details withheld: the values include a Secret's)".into()
                    } else {
                        reason
                    },
                }
            })?;
        }
    }
    Ok(all)
}

/// Sets the namespace of an object without one and Helm's release annotations.
pub(super) fn finish(object: &mut Value, release_name: &str, namespace: &str) {
    let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if metadata
        .get("namespace")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        metadata.insert("namespace".into(), Value::String(namespace.to_owned()));
    }
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    if let Some(map) = annotations.as_object_mut() {
        map.insert(
            crate::sync::adopt::RELEASE_NAME.into(),
            Value::String(release_name.to_owned()),
        );
        map.insert(
            crate::sync::adopt::RELEASE_NAMESPACE.into(),
            Value::String(namespace.to_owned()),
        );
    }
}

/// Moves a rendered Secret's values into the held values, leaving stand-ins.
pub(crate) fn hold_secret(object: &mut Value, hold: &dyn Decryptor) {
    if group_kind(object) != ("", "Secret")
        || object.get("apiVersion").and_then(Value::as_str) != Some("v1")
    {
        return;
    }
    use base64::Engine;
    for field in ["data", "stringData"] {
        let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) else {
            continue;
        };
        for value in map.values_mut() {
            let Value::String(text) = value else { continue };
            let bytes = if field == "data" {
                match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                    Ok(b) => Zeroizing::new(b),
                    Err(_) => continue,
                }
            } else {
                Zeroizing::new(text.as_bytes().to_vec())
            };
            let old = std::mem::replace(value, Value::String(hold.hold(bytes)));
            if let Value::String(s) = old {
                let _wiped = Zeroizing::new(s);
            }
        }
    }
}
