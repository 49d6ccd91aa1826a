//! `ExternalSecret` / `SecretStore` / `ClusterSecretStore` in the External Secrets Operator
//! schema (`external-secrets.io/v1`, `v1beta1` accepted), consumed by the agent, which builds
//! the target Secret itself: existing repositories work without ESO installed.
//!
//! Supported: `spec.secretStoreRef{name,kind}`, `spec.refreshInterval` (default 1h, `0s`
//! reads once), `spec.data[]{secretKey, remoteRef{key, property, version}}`,
//! `spec.dataFrom[].extract{key, property, version}`, `spec.target{name, creationPolicy
//! Owner|Merge|Orphan|None, immutable, template{type, metadata, data, mergePolicy}}`.
//! Refused with a clear error rather than half-done: `dataFrom[].find`, `rewrite`,
//! `sourceRef`, `templateFrom`, a `decodingStrategy` or `conversionStrategy` other than the
//! default, and template functions.
//!
//! Layout: [`store`] (store model and trust), [`stores`] (clients, cache, reads), [`vault`],
//! [`aws`], [`extract`] (properties and pointers), [`template`].

pub mod aws;
pub mod extract;
pub mod model;
pub mod store;
pub mod stores;
pub mod template;
pub mod vault;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

use super::allow::{AllowList, Provider};
use super::cache::RemoteDoc;
use super::credentials::CredentialError;
use super::object::{CreationPolicy, SecretObject, SecretOrigin};
use super::{AppContext, SecretsError};
use extract::Selector;
pub(crate) use model::parse_go_duration;
use model::{RemoteRef, Spec};
use store::{KvVersion, ProviderSpec, ResolvedStore};
use stores::{ReadRequest, Stores};

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

enum Item {
    Key {
        secret_key: String,
        field: String,
        request: ReadRequest,
        selector: Selector,
    },
    Extract {
        field: String,
        request: ReadRequest,
        property: Option<String>,
    },
}

/// An ExternalSecret read and authorised, waiting for its documents.
pub(crate) struct ExternalPlan {
    pub(crate) object: String,
    target: Option<SecretObject>,
    items: Vec<Item>,
    template: Option<BTreeMap<String, String>>,
    merge_template: bool,
    /// `None`: read once.
    pub(crate) refresh: Option<Duration>,
}

/// The stores an app's own manifests define, by `(kind, namespace, name)`; `Err` keeps why a
/// store could not be read, for the ExternalSecrets that use it.
pub(crate) type StoreIndex = HashMap<(String, String, String), Result<Arc<ResolvedStore>, String>>;

/// Reads the SecretStores and ClusterSecretStores among an app's objects.
pub(crate) fn index_stores(objects: &[Value], app: &AppContext) -> StoreIndex {
    let mut index = StoreIndex::new();
    for object in objects {
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
        index.insert(
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
    })
}

/// Reads an ExternalSecret, finds its store, and authorises every read.
pub(crate) fn plan(
    manifest: &Value,
    app: &AppContext,
    index: &StoreIndex,
    stores: &Stores,
) -> Result<ExternalPlan, SecretsError> {
    let object = super::object_ref(manifest, &app.namespace);
    let invalid = |field: &str, reason: String| SecretsError::InvalidObject {
        object: object.clone(),
        field: field.to_owned(),
        reason,
    };
    let name = manifest
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("metadata.name", "is required".into()))?;
    let namespace = manifest
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(&app.namespace)
        .to_owned();
    let spec: Spec = serde_json::from_value(manifest.get("spec").cloned().unwrap_or(Value::Null))
        .map_err(|e| invalid("spec", e.to_string()))?;
    let refresh = match spec.refresh_interval.as_deref() {
        None => Some(DEFAULT_REFRESH),
        Some(text) => match parse_go_duration(text) {
            Some(d) if d.is_zero() => None,
            // Shorter would have the agent read the store in a tight loop.
            Some(d) if d < MIN_REFRESH => {
                return Err(invalid(
                    "spec.refreshInterval",
                    format!("{text:?} is shorter than {MIN_REFRESH:?} (0s means: read once)"),
                ));
            }
            Some(d) => Some(d),
            None => {
                return Err(invalid(
                    "spec.refreshInterval",
                    format!("{text:?} is not a duration such as 1h, 15m or 30s"),
                ));
            }
        },
    };
    // Which store.
    let store_ref = spec
        .secret_store_ref
        .as_ref()
        .ok_or_else(|| invalid("spec.secretStoreRef", "is required".into()))?;
    let kind = store_ref.kind.as_deref().unwrap_or("SecretStore");
    let store = match kind {
        "SecretStore" => index
            .get(&(
                "SecretStore".into(),
                namespace.clone(),
                store_ref.name.clone(),
            ))
            .cloned(),
        "ClusterSecretStore" => index
            .get(&(
                "ClusterSecretStore".into(),
                String::new(),
                store_ref.name.clone(),
            ))
            .cloned()
            .or_else(|| stores.cluster_store(&store_ref.name).map(Ok)),
        other => {
            return Err(invalid(
                "spec.secretStoreRef.kind",
                format!("{other:?} is not SecretStore or ClusterSecretStore"),
            ));
        }
    };
    let store = match store {
        Some(Ok(store)) => store,
        Some(Err(reason)) => {
            return Err(invalid(
                "spec.secretStoreRef",
                format!("{kind} {:?} is invalid: {reason}", store_ref.name),
            ));
        }
        None => {
            return Err(invalid(
                "spec.secretStoreRef",
                format!(
                    "{kind} {:?} is neither in the app's manifests nor in the agent's configuration",
                    store_ref.name
                ),
            ));
        }
    };
    // What to read.
    let mut items = Vec::new();
    let check_ref = |field: &str, r: &RemoteRef| -> Result<(), SecretsError> {
        if r.decoding_strategy.as_deref().is_some_and(|d| d != "None") {
            return Err(invalid(
                &format!("{field}.decodingStrategy"),
                "only None is supported".into(),
            ));
        }
        if r.conversion_strategy
            .as_deref()
            .is_some_and(|d| d != "Default")
        {
            return Err(invalid(
                &format!("{field}.conversionStrategy"),
                "only Default is supported".into(),
            ));
        }
        if r.key.is_empty() {
            return Err(invalid(&format!("{field}.key"), "is required".into()));
        }
        Ok(())
    };
    for (i, item) in spec.data.iter().enumerate() {
        let field = format!("spec.data[{i}].remoteRef");
        if item.source_ref.is_some() {
            return Err(invalid(
                &format!("spec.data[{i}].sourceRef"),
                "is not supported".into(),
            ));
        }
        check_ref(&field, &item.remote_ref)?;
        let request = request_for(
            &object,
            &format!("{field}.key"),
            &store,
            &item.remote_ref.key,
            item.remote_ref.version.as_deref(),
            refresh,
            &app.allow,
        )?;
        let selector = match &item.remote_ref.property {
            Some(p) if !p.is_empty() => Selector::Property(p.clone()),
            _ => Selector::Whole,
        };
        items.push(Item::Key {
            secret_key: item.secret_key.clone(),
            field,
            request,
            selector,
        });
    }
    for (i, from) in spec.data_from.iter().enumerate() {
        let field = format!("spec.dataFrom[{i}]");
        for (present, what) in [
            (from.find.is_some(), "find"),
            (from.rewrite.is_some(), "rewrite"),
            (from.source_ref.is_some(), "sourceRef"),
        ] {
            if present {
                return Err(invalid(
                    &format!("{field}.{what}"),
                    "is not supported".into(),
                ));
            }
        }
        let extract = from
            .extract
            .as_ref()
            .ok_or_else(|| invalid(&format!("{field}.extract"), "is required".into()))?;
        check_ref(&format!("{field}.extract"), extract)?;
        let request = request_for(
            &object,
            &format!("{field}.extract.key"),
            &store,
            &extract.key,
            extract.version.as_deref(),
            refresh,
            &app.allow,
        )?;
        items.push(Item::Extract {
            field: format!("{field}.extract"),
            request,
            property: extract.property.clone().filter(|p| !p.is_empty()),
        });
    }
    if items.is_empty() {
        return Err(invalid(
            "spec",
            "neither data nor dataFrom reads anything".into(),
        ));
    }
    // The target.
    let template = spec.target.template.unwrap_or_default();
    if template.template_from.is_some() {
        return Err(invalid(
            "spec.target.template.templateFrom",
            "is not supported".into(),
        ));
    }
    let merge_template = match template.merge_policy.as_deref() {
        None | Some("Replace") => false,
        Some("Merge") => true,
        Some(other) => {
            return Err(invalid(
                "spec.target.template.mergePolicy",
                format!("{other:?} is not Replace or Merge"),
            ));
        }
    };
    let policy = match spec.target.creation_policy.as_deref() {
        None | Some("Owner") => Some(CreationPolicy::Owner),
        Some("Merge") => Some(CreationPolicy::Merge),
        Some("Orphan") => Some(CreationPolicy::Orphan),
        Some("None") => None,
        Some(other) => {
            return Err(invalid(
                "spec.target.creationPolicy",
                format!("{other:?} is not Owner, Merge, Orphan or None"),
            ));
        }
    };
    let target = policy.map(|policy| {
        let target_name = spec.target.name.clone().unwrap_or_else(|| name.to_owned());
        let mut secret = SecretObject::new(&namespace, &target_name, SecretOrigin::External);
        secret.creation_policy = policy;
        secret.labels = template.metadata.labels.clone();
        secret.annotations = template.metadata.annotations.clone();
        secret.type_ = template.type_.clone();
        secret.immutable = spec.target.immutable;
        secret
    });
    Ok(ExternalPlan {
        object,
        target,
        items,
        template: template.data,
        merge_template,
        refresh,
    })
}

impl ExternalPlan {
    /// The read requests of this ExternalSecret.
    pub(crate) fn requests(&self) -> impl Iterator<Item = &ReadRequest> {
        self.items.iter().map(|item| match item {
            Item::Key { request, .. } | Item::Extract { request, .. } => request,
        })
    }

    /// `namespace/name` of the Secret this ExternalSecret writes, if it writes one.
    pub(crate) fn target_ref(&self) -> Option<(String, String)> {
        self.target
            .as_ref()
            .map(|t| (t.namespace.clone(), t.name.clone()))
    }

    /// Builds the Secret from the documents read. The first failed read fails the whole
    /// ExternalSecret: a partial Secret is never applied.
    pub(crate) fn assemble(
        self,
        docs: &HashMap<String, Result<Arc<RemoteDoc>, StoreError>>,
    ) -> Result<Option<SecretObject>, SecretsError> {
        let object = self.object.clone();
        let doc_for =
            |field: &str, request: &ReadRequest| -> Result<Arc<RemoteDoc>, SecretsError> {
                match docs.get(&request.cache_key()) {
                    Some(Ok(doc)) => Ok(doc.clone()),
                    Some(Err(source)) => Err(SecretsError::StoreReadFailed {
                        object: object.clone(),
                        field: field.to_owned(),
                        source: source.clone(),
                    }),
                    None => Err(SecretsError::StoreReadFailed {
                        object: object.clone(),
                        field: field.to_owned(),
                        source: StoreError::ReadFailed {
                            store: request.store.display.clone(),
                            path: request.full_path.clone(),
                            reason: "not read".into(),
                        },
                    }),
                }
            };
        let mut values: BTreeMap<String, Zeroizing<Vec<u8>>> = BTreeMap::new();
        for item in &self.items {
            match item {
                Item::Key {
                    secret_key,
                    field,
                    request,
                    selector,
                } => {
                    let doc = doc_for(field, request)?;
                    let value = extract::select(&doc, selector).map_err(|reason| {
                        SecretsError::ValueMissing {
                            object: object.clone(),
                            field: field.clone(),
                            path: format!("{} {}", request.full_path, selector.describe()),
                            reason,
                        }
                    })?;
                    values.insert(secret_key.clone(), value);
                }
                Item::Extract {
                    field,
                    request,
                    property,
                } => {
                    let doc = doc_for(field, request)?;
                    let all =
                        extract::extract_all(&doc, property.as_deref()).map_err(|reason| {
                            SecretsError::ValueMissing {
                                object: object.clone(),
                                field: field.clone(),
                                path: request.full_path.clone(),
                                reason,
                            }
                        })?;
                    values.extend(all);
                }
            }
        }
        let Some(mut secret) = self.target else {
            return Ok(None);
        };
        match &self.template {
            Some(template) => {
                let mut rendered = BTreeMap::new();
                for (key, text) in template {
                    let value = template::render(text, &values).map_err(|reason| {
                        SecretsError::InvalidObject {
                            object: object.clone(),
                            field: format!("spec.target.template.data.{key}"),
                            reason,
                        }
                    })?;
                    rendered.insert(key.clone(), value);
                }
                if self.merge_template {
                    secret.data = values;
                    secret.data.extend(rendered);
                } else {
                    secret.data = rendered;
                }
            }
            None => secret.data = values,
        }
        Ok(Some(secret))
    }
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
