//! `ExternalSecret` / `SecretStore` / `ClusterSecretStore` in the External Secrets Operator
//! schema (`external-secrets.io/v1`, `v1beta1` accepted), consumed by the agent, which builds
//! the target Secret itself: existing repositories work without ESO installed.
//!
//! Supported, as ESO 0.10+ documents them: `spec.secretStoreRef{name,kind}`,
//! `spec.refreshInterval` (default 1h, `0` reads once; per ExternalSecret, see [`plan`]),
//! `spec.data[]{secretKey, remoteRef{key, property, version, decodingStrategy}}`,
//! `spec.dataFrom[]` with `extract{key, property, version, conversionStrategy,
//! decodingStrategy}` or `find{path, name.regexp, tags, conversionStrategy, decodingStrategy}`
//! ([`find`]) and `rewrite[]{regexp{source,target} | transform{template}}` ([`rewrite`]),
//! `spec.target{name, creationPolicy Owner|Merge|Orphan|None, immutable, template{type,
//! engineVersion v2, metadata, data, templateFrom, mergePolicy}}` ([`sources`], [`template`]).
//! Every other field, and every other value of these, is refused with the ExternalSecret and
//! the field named rather than ignored.
//!
//! Layout: [`store`] (store model and trust), [`stores`] (clients, cache, reads), [`vault`],
//! [`aws`], [`extract`] (properties and pointers), [`plan`] (an ExternalSecret checked, then
//! listed and assembled).

pub mod assemble;
pub mod aws;
pub mod extract;
pub mod find;
pub mod model;
pub mod plan;
pub mod rewrite;
pub mod sources;
pub mod store;
pub mod stores;
pub mod template;
pub mod vault;

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::allow::{AllowList, Provider};
use super::credentials::CredentialError;
use super::{AppContext, SecretsError};
pub(crate) use plan::{ExternalPlan, plan};
use store::{KvVersion, ProviderSpec, ResolvedStore};
use stores::ReadRequest;

/// The group of the External Secrets Operator's kinds.
pub const GROUP: &str = "external-secrets.io";

/// The shortest `refreshInterval` accepted (other than `0s`).
pub const MIN_REFRESH: Duration = Duration::from_secs(1);

/// The default `refreshInterval`.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// Why a store read failed. Names the store and path, never a value.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store did not answer, or answered with a server error.
    #[error("{store} is unavailable: {reason}")]
    Unavailable {
        /// The store.
        store: String,
        /// The transport or server error.
        reason: String,
    },
    /// The store refused the read.
    #[error("{store}: permission denied reading {path}")]
    PermissionDenied {
        /// The store.
        store: String,
        /// The path or name.
        path: String,
    },
    /// The path or name does not exist.
    #[error("{store}: {path} not found")]
    NotFound {
        /// The store.
        store: String,
        /// The path or name.
        path: String,
    },
    /// Logging in failed.
    #[error("{store}: login failed: {reason}")]
    LoginFailed {
        /// The store.
        store: String,
        /// The server's message.
        reason: String,
    },
    /// A credential could not be read.
    #[error("{store}: {reason}")]
    Credentials {
        /// The store.
        store: String,
        /// What failed (the Secret and key, never a value).
        reason: String,
    },
    /// The read failed otherwise.
    #[error("{store}: reading {path} failed: {reason}")]
    ReadFailed {
        /// The store.
        store: String,
        /// The path or name.
        path: String,
        /// The error.
        reason: String,
    },
    /// The store's settings cannot work.
    #[error("{store}: {reason}")]
    Invalid {
        /// The store.
        store: String,
        /// What is wrong.
        reason: String,
    },
}

impl StoreError {
    pub(crate) fn credentials(store: &str, source: &CredentialError) -> Self {
        StoreError::Credentials {
            store: store.to_owned(),
            reason: source.to_string(),
        }
    }
}

/// Whether an object is one of the External Secrets Operator's kinds Tether consumes.
#[must_use]
pub fn is_external_kind(api_version: &str, kind: &str) -> bool {
    matches!(
        api_version,
        "external-secrets.io/v1" | "external-secrets.io/v1beta1"
    ) && matches!(
        kind,
        "ExternalSecret" | "SecretStore" | "ClusterSecretStore"
    )
}

/// `(kind, namespace, name)` of a store.
type StoreKey = (String, String, String);

/// What an app's own manifests offer its ExternalSecrets: the stores they define, by
/// `(kind, namespace, name)` (`Err` keeps why a store could not be read, for the
/// ExternalSecrets that use it), and the ConfigMaps and Secrets `templateFrom` may name.
#[derive(Default)]
pub(crate) struct StoreIndex {
    stores: HashMap<StoreKey, Result<Arc<ResolvedStore>, String>>,
    pub(crate) sources: sources::AppSources,
}

impl StoreIndex {
    /// The store `(kind, namespace, name)`, if the app defines it.
    pub(crate) fn get(&self, key: &StoreKey) -> Option<&Result<Arc<ResolvedStore>, String>> {
        self.stores.get(key)
    }
}

/// Reads the SecretStores, ClusterSecretStores, ConfigMaps and Secrets among an app's
/// objects.
pub(crate) fn index_stores(objects: &[Value], app: &AppContext) -> StoreIndex {
    let mut index = StoreIndex::default();
    for object in objects {
        index.sources.add(object, &app.namespace);
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        if !is_external_kind(api_version, kind) || kind == "ExternalSecret" {
            continue;
        }
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let namespace = if kind == "SecretStore" {
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(&app.namespace)
        } else {
            ""
        };
        let parsed = store::parse_store(object, &app.namespace, false)
            .map(Arc::new)
            .map_err(|e| e.to_string());
        index.stores.insert(
            (kind.to_owned(), namespace.to_owned(), name.to_owned()),
            parsed,
        );
    }
    index
}

/// Vault: the key inside the mount and the full API path of an ESO `remoteRef.key`, which
/// may or may not start with the mount (and `data/` for KV v2).
fn vault_paths(mount: &str, version: KvVersion, key: &str) -> (String, String) {
    let mount = mount.trim_matches('/');
    let mut inner = key.trim_start_matches('/');
    if let Some(rest) = inner.strip_prefix(mount).and_then(|r| r.strip_prefix('/')) {
        inner = rest;
    }
    match version {
        KvVersion::V2 => {
            let inner = inner.strip_prefix("data/").unwrap_or(inner);
            (inner.to_owned(), format!("{mount}/data/{inner}"))
        }
        KvVersion::V1 => (inner.to_owned(), format!("{mount}/{inner}")),
    }
}

/// A read request for a secret a `find` listed (Vault: its path inside the mount, taken as
/// it is; AWS: its name), checked against the allow-list.
pub(crate) fn request_for_found(
    object: &str,
    field: &str,
    store: &Arc<ResolvedStore>,
    name: &str,
    ttl: Option<Duration>,
    allow: &AllowList,
) -> Result<ReadRequest, SecretsError> {
    let (provider, full) = match &store.provider {
        ProviderSpec::Vault(v) => (
            Provider::Vault,
            format!("{}/data/{name}", v.path.trim_matches('/')),
        ),
        ProviderSpec::Aws(_) => (Provider::Aws, name.to_owned()),
    };
    allow
        .check(provider, &full)
        .map_err(|reason| SecretsError::PolicyDenied {
            object: object.to_owned(),
            field: field.to_owned(),
            reason,
        })?;
    Ok(ReadRequest {
        store: store.clone(),
        key: name.to_owned(),
        full_path: full,
        version: None,
        ttl,
        mount: None,
        scope: object.to_owned(),
    })
}

/// A read request for `key` of `store`, checked against the allow-list.
pub(crate) fn request_for(
    object: &str,
    field: &str,
    store: &Arc<ResolvedStore>,
    key: &str,
    version: Option<&str>,
    ttl: Option<Duration>,
    allow: &AllowList,
) -> Result<ReadRequest, SecretsError> {
    let (provider, inner, full) = match &store.provider {
        ProviderSpec::Vault(v) => {
            let (inner, full) = vault_paths(&v.path, v.version, key);
            (Provider::Vault, inner, full)
        }
        ProviderSpec::Aws(_) => (Provider::Aws, key.to_owned(), key.to_owned()),
    };
    allow
        .check(provider, &full)
        .map_err(|reason| SecretsError::PolicyDenied {
            object: object.to_owned(),
            field: field.to_owned(),
            reason,
        })?;
    Ok(ReadRequest {
        store: store.clone(),
        key: inner,
        full_path: full,
        version: version.map(str::to_owned),
        ttl,
        mount: None,
        scope: object.to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn vault_keys_are_made_api_paths_with_or_without_the_mount() {
        assert_eq!(
            vault_paths("secret", KvVersion::V2, "shop/db"),
            ("shop/db".into(), "secret/data/shop/db".into())
        );
        assert_eq!(
            vault_paths("secret", KvVersion::V2, "secret/data/shop/db"),
            ("shop/db".into(), "secret/data/shop/db".into())
        );
        assert_eq!(
            vault_paths("kv1/", KvVersion::V1, "/kv1/shop/db"),
            ("shop/db".into(), "kv1/shop/db".into())
        );
    }
}
