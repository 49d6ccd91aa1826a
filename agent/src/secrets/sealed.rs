//! Tether SealedSecrets (`tether.dev/v1alpha1`): unsealed with the agent's keys, the scope
//! verified against the namespace and name the Secret will be applied as (the rendered
//! namespace, else the app's target namespace). The SealedSecret itself is never sent to the
//! cluster, so no CRD is needed.

use serde_json::Value;
use tether_seal::sealed::{self, SealedSecret};

use super::SecretsError;
use super::keys::KeyRing;
use super::object::{SecretObject, SecretOrigin};

/// Whether an object is a Tether SealedSecret.
#[must_use]
pub fn is_sealed_secret(api_version: &str, kind: &str) -> bool {
    api_version == sealed::API_VERSION && kind == sealed::KIND
}

/// Unseals `manifest` into the Secret to apply.
pub(crate) fn unseal(
    manifest: &Value,
    default_namespace: &str,
    keys: &KeyRing,
) -> Result<SecretObject, SecretsError> {
    let object = super::object_ref(manifest, default_namespace);
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| SecretsError::InvalidObject {
            object: object.clone(),
            field: "metadata.name".into(),
            reason: "is required".into(),
        })?;
    let namespace = manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(default_namespace);
    if keys.is_empty() {
        return Err(SecretsError::NoKeys { object });
    }
    let sealed = SealedSecret::from_text(&manifest.to_string(), &object).map_err(|source| {
        SecretsError::UnsealFailed {
            object: object.clone(),
            source,
        }
    })?;
    let unsealed =
        sealed::unseal(&sealed, keys.identities(), namespace, name).map_err(|source| {
            SecretsError::UnsealFailed {
                object: object.clone(),
                source,
            }
        })?;
    // The one place the plaintext passes through a plain JSON value: it is moved into
    // zeroizing memory and the JSON wiped by `from_manifest`.
    SecretObject::from_manifest(
        unsealed.expose_secret_json(),
        namespace,
        SecretOrigin::Sealed,
    )
}
