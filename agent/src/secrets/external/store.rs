//! `SecretStore` / `ClusterSecretStore` (External Secrets Operator schema, providers `vault`
//! and `aws`): the serde model and its resolution into a [`ResolvedStore`].
//!
//! Credentials are referenced from Kubernetes Secrets. A store that comes from an app's own
//! manifests is not trusted: every Secret it references must be in the app's target
//! namespace (a `namespace` pointing elsewhere is refused), so a tenant cannot make the agent
//! read another namespace's credentials. Stores from the agent's configuration are trusted and
//! may name any namespace.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::super::SecretsError;

/// A reference to one key of a Kubernetes Secret.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    /// The Secret's name.
    pub name: String,
    /// The key in the Secret.
    pub key: String,
    /// The Secret's namespace (default: the store's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A ServiceAccount whose token is used for Vault's Kubernetes auth.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSelector {
    /// The ServiceAccount's name.
    pub name: String,
    /// Its namespace (default: the store's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Token audiences.
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// Vault AppRole auth.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AppRoleAuth {
    /// The auth mount (default `approle`).
    #[serde(default = "default_approle")]
    pub path: String,
    /// The role id, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// The role id, from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ref: Option<SecretKeySelector>,
    /// The secret id, from a Secret.
    pub secret_ref: SecretKeySelector,
}

fn default_approle() -> String {
    "approle".into()
}

/// Vault Kubernetes auth.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct KubernetesAuth {
    /// The auth mount (default `kubernetes`).
    #[serde(default = "default_kubernetes")]
    pub mount_path: String,
    /// The Vault role.
    pub role: String,
    /// The ServiceAccount whose token logs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
    /// A Secret holding the token instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
}

fn default_kubernetes() -> String {
    "kubernetes".into()
}

/// How to authenticate to Vault (exactly one).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct VaultAuth {
    /// A token from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeySelector>,
    /// AppRole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role: Option<AppRoleAuth>,
    /// Kubernetes ServiceAccount JWT login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<KubernetesAuth>,
}

/// KV engine version.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum KvVersion {
    /// KV version 1.
    V1,
    /// KV version 2 (the default).
    #[default]
    V2,
}

/// The `vault` provider.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct VaultProvider {
    /// `https://vault.example:8200`.
    pub server: String,
    /// The KV mount (default `secret`).
    #[serde(default = "default_mount")]
    pub path: String,
    /// KV version (default v2).
    #[serde(default)]
    pub version: KvVersion,
    /// A Vault Enterprise / OpenBao namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Authentication.
    pub auth: VaultAuth,
}

fn default_mount() -> String {
    "secret".into()
}

/// Static AWS credentials from Secrets.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct AwsSecretRef {
    /// The access key id.
    #[serde(rename = "accessKeyIDSecretRef")]
    pub access_key_id: SecretKeySelector,
    /// The secret access key.
    #[serde(rename = "secretAccessKeySecretRef")]
    pub secret_access_key: SecretKeySelector,
    /// A session token, for temporary credentials.
    #[serde(
        rename = "sessionTokenSecretRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub session_token: Option<SecretKeySelector>,
}

/// How to authenticate to AWS: static credentials from Secrets, or (when absent) the
/// default credential chain (environment, profile, web identity / IRSA, container, IMDS).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct AwsAuth {
    /// Static credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsSecretRef>,
}

/// The `aws` provider (Secrets Manager only).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AwsProvider {
    /// Must be `SecretsManager` (the default).
    #[serde(default = "default_service")]
    pub service: String,
    /// The region (default: the credential chain's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A custom endpoint URL (a Tether extension; also `AWS_ENDPOINT_URL_SECRETS_MANAGER`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Authentication.
    #[serde(default)]
    pub auth: AwsAuth,
}

fn default_service() -> String {
    "SecretsManager".into()
}

/// One provider.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub enum ProviderSpec {
    /// Vault / OpenBao.
    Vault(Box<VaultProvider>),
    /// AWS Secrets Manager.
    Aws(Box<AwsProvider>),
}

/// A store ready to read from: its provider, where its credentials live, and an identity
/// (hash of both) that keys clients and the cache.
#[derive(Debug, Clone)]
pub struct ResolvedStore {
    /// The provider.
    pub provider: ProviderSpec,
    /// The namespace of credential Secrets without an explicit one.
    pub credential_namespace: String,
    /// `SecretStore shop/vault`, for messages.
    pub display: String,
    /// A hash of provider and credential namespace.
    pub id: String,
}

impl ResolvedStore {
    /// Builds a store, computing its identity.
    #[must_use]
    pub fn new(provider: ProviderSpec, credential_namespace: &str, display: String) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(&provider).unwrap_or_default());
        hasher.update([0]);
        hasher.update(credential_namespace.as_bytes());
        Self {
            provider,
            credential_namespace: credential_namespace.to_owned(),
            display,
            id: hex::encode(hasher.finalize()),
        }
    }

    /// The namespace of a credential reference.
    #[must_use]
    pub fn namespace_of<'a>(&'a self, selector: &'a SecretKeySelector) -> &'a str {
        selector
            .namespace
            .as_deref()
            .unwrap_or(&self.credential_namespace)
    }
}

/// Reads a `SecretStore` or `ClusterSecretStore` manifest.
///
/// `trusted` stores (from the agent's configuration) may reference credentials in any
/// namespace; others only in `app_namespace`.
pub fn parse_store(
    manifest: &Value,
    app_namespace: &str,
    trusted: bool,
) -> Result<ResolvedStore, SecretsError> {
    let object = super::super::object_ref(manifest, app_namespace);
    let invalid = |field: &str, reason: String| SecretsError::InvalidObject {
        object: object.clone(),
        field: field.to_owned(),
        reason,
    };
    let provider = manifest
        .pointer("/spec/provider")
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("spec.provider", "is required".into()))?;
    let spec = if let Some(vault) = provider.get("vault") {
        let vault: VaultProvider = serde_json::from_value(vault.clone())
            .map_err(|e| invalid("spec.provider.vault", e.to_string()))?;
        check_vault(&vault).map_err(|(f, r)| invalid(&format!("spec.provider.vault.{f}"), r))?;
        ProviderSpec::Vault(Box::new(vault))
    } else if let Some(aws) = provider.get("aws") {
        let aws: AwsProvider = serde_json::from_value(aws.clone())
            .map_err(|e| invalid("spec.provider.aws", e.to_string()))?;
        if aws.service != "SecretsManager" {
            return Err(invalid(
                "spec.provider.aws.service",
                format!("{:?} is not supported (only SecretsManager)", aws.service),
            ));
        }
        ProviderSpec::Aws(Box::new(aws))
    } else {
        let names: Vec<&str> = provider.keys().map(String::as_str).collect();
        return Err(invalid(
            "spec.provider",
            format!("provider {names:?} is not supported (supported: vault, aws)"),
        ));
    };
    let kind = manifest.get("kind").and_then(Value::as_str).unwrap_or("");
    let credential_namespace = if kind == "SecretStore" {
        manifest
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(app_namespace)
            .to_owned()
    } else {
        app_namespace.to_owned()
    };
    if !trusted {
        if let Some((field, reason)) = uses_agent_identity(&spec) {
            return Err(SecretsError::PolicyDenied {
                object: object.clone(),
                field: field.into(),
                reason: reason.into(),
            });
        }
        for (field, namespace) in credential_namespaces(&spec) {
            if namespace != app_namespace {
                return Err(SecretsError::PolicyDenied {
                    object: object.clone(),
                    field,
                    reason: format!(
                        "credentials may only be read from the app's namespace {app_namespace:?}, not {namespace:?}"
                    ),
                });
            }
        }
        if credential_namespace != app_namespace {
            return Err(SecretsError::PolicyDenied {
                object: object.clone(),
                field: "metadata.namespace".into(),
                reason: format!(
                    "a SecretStore of this app must be in its namespace {app_namespace:?}"
                ),
            });
        }
    }
    Ok(ResolvedStore::new(spec, &credential_namespace, object))
}

/// Where a store would authenticate as the agent itself at an address its manifest chose: the
/// agent's service account token sent to the store's Vault server, or the agent's AWS
/// credentials signing requests to a custom endpoint. An app's own stores may not, so a tenant
/// cannot point a store at a server of theirs and collect the agent's credentials.
fn uses_agent_identity(spec: &ProviderSpec) -> Option<(&'static str, &'static str)> {
    match spec {
        ProviderSpec::Vault(vault) => vault
            .auth
            .kubernetes
            .as_ref()
            .filter(|k| k.secret_ref.is_none() && k.service_account_ref.is_none())
            .map(|_| {
                (
                    "spec.provider.vault.auth.kubernetes",
                    "a store from the app's manifests must name its token (secretRef or serviceAccountRef): the agent's own service account token is only sent to stores of the agent's configuration",
                )
            }),
        ProviderSpec::Aws(aws) => (aws.auth.secret_ref.is_none() && aws.endpoint.is_some()).then_some((
            "spec.provider.aws.endpoint",
            "a store from the app's manifests that sets an endpoint must name its credentials (auth.secretRef): the agent's own AWS credentials are only sent to AWS or to stores of the agent's configuration",
        )),
    }
}

fn check_vault(vault: &VaultProvider) -> Result<(), (&'static str, String)> {
    match reqwest::Url::parse(&vault.server) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        _ => return Err(("server", "must be an http(s) URL".into())),
    }
    let methods = [
        vault.auth.token_secret_ref.is_some(),
        vault.auth.app_role.is_some(),
        vault.auth.kubernetes.is_some(),
    ];
    if methods.iter().filter(|m| **m).count() != 1 {
        return Err((
            "auth",
            "exactly one of tokenSecretRef, appRole, kubernetes is required".into(),
        ));
    }
    if let Some(app_role) = &vault.auth.app_role
        && app_role.role_id.is_none() == app_role.role_ref.is_none()
    {
        return Err((
            "auth.appRole",
            "exactly one of roleId, roleRef is required".into(),
        ));
    }
    if vault.path.trim_matches('/').is_empty() {
        return Err(("path", "must name the KV mount".into()));
    }
    Ok(())
}

/// Every explicit credential namespace a provider names, with its field.
fn credential_namespaces(spec: &ProviderSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut push = |field: &str, ns: &Option<String>| {
        if let Some(ns) = ns {
            out.push((field.to_owned(), ns.clone()));
        }
    };
    match spec {
        ProviderSpec::Vault(v) => {
            if let Some(t) = &v.auth.token_secret_ref {
                push(
                    "spec.provider.vault.auth.tokenSecretRef.namespace",
                    &t.namespace,
                );
            }
            if let Some(a) = &v.auth.app_role {
                push(
                    "spec.provider.vault.auth.appRole.secretRef.namespace",
                    &a.secret_ref.namespace,
                );
                if let Some(r) = &a.role_ref {
                    push(
                        "spec.provider.vault.auth.appRole.roleRef.namespace",
                        &r.namespace,
                    );
                }
            }
            if let Some(k) = &v.auth.kubernetes {
                if let Some(s) = &k.secret_ref {
                    push(
                        "spec.provider.vault.auth.kubernetes.secretRef.namespace",
                        &s.namespace,
                    );
                }
                if let Some(s) = &k.service_account_ref {
                    push(
                        "spec.provider.vault.auth.kubernetes.serviceAccountRef.namespace",
                        &s.namespace,
                    );
                }
            }
        }
        ProviderSpec::Aws(a) => {
            if let Some(s) = &a.auth.secret_ref {
                push(
                    "spec.provider.aws.auth.secretRef.accessKeyIDSecretRef.namespace",
                    &s.access_key_id.namespace,
                );
                push(
                    "spec.provider.aws.auth.secretRef.secretAccessKeySecretRef.namespace",
                    &s.secret_access_key.namespace,
                );
                if let Some(t) = &s.session_token {
                    push(
                        "spec.provider.aws.auth.secretRef.sessionTokenSecretRef.namespace",
                        &t.namespace,
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(auth: Value) -> Value {
        json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
               "metadata": {"name": "vault", "namespace": "shop"},
               "spec": {"provider": {"vault": {"server": "http://127.0.0.1:1", "path": "secret",
                         "version": "v2", "auth": auth}}}})
    }

    #[test]
    fn a_store_of_the_app_reads_credentials_in_its_namespace_only() {
        let ok = store(json!({"tokenSecretRef": {"name": "t", "key": "token"}}));
        assert!(parse_store(&ok, "shop", false).is_ok());
        let elsewhere = store(
            json!({"tokenSecretRef": {"name": "t", "key": "token", "namespace": "kube-system"}}),
        );
        let err = parse_store(&elsewhere, "shop", false).err().unwrap();
        assert_eq!(err.reason(), "PolicyDenied", "{err}");
        assert!(parse_store(&elsewhere, "shop", true).is_ok());
    }

    #[test]
    fn a_store_of_the_app_never_authenticates_as_the_agent_at_an_address_it_chose() {
        let own_token = store(json!({"kubernetes": {"role": "shop"}}));
        let err = parse_store(&own_token, "shop", false).err().unwrap();
        assert_eq!(err.reason(), "PolicyDenied", "{err}");
        assert!(err.to_string().contains("auth.kubernetes"), "{err}");
        assert!(parse_store(&own_token, "shop", true).is_ok());
        let named = store(json!({"kubernetes": {"role": "shop",
            "serviceAccountRef": {"name": "shop-reader"}}}));
        assert!(parse_store(&named, "shop", false).is_ok());

        let aws = |auth: Value| {
            json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
                   "metadata": {"name": "aws", "namespace": "shop"},
                   "spec": {"provider": {"aws": {"region": "us-east-1",
                       "endpoint": "http://collector.example", "auth": auth}}}})
        };
        let err = parse_store(&aws(json!({})), "shop", false).err().unwrap();
        assert!(
            err.to_string().contains("spec.provider.aws.endpoint"),
            "{err}"
        );
        let keys = json!({"secretRef": {
            "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
            "secretAccessKeySecretRef": {"name": "aws", "key": "secret"}}});
        assert!(parse_store(&aws(keys), "shop", false).is_ok());
    }

    #[test]
    fn exactly_one_auth_method_and_a_known_provider_are_required() {
        let none = store(json!({}));
        assert!(
            parse_store(&none, "shop", false)
                .err()
                .unwrap()
                .to_string()
                .contains("exactly one")
        );
        let gcp = json!({"kind": "SecretStore", "metadata": {"name": "g"}, "spec": {"provider": {"gcpsm": {}}}});
        assert!(
            parse_store(&gcp, "shop", false)
                .err()
                .unwrap()
                .to_string()
                .contains("not supported")
        );
    }

    #[test]
    fn the_identity_differs_with_the_credentials() {
        let a = parse_store(
            &store(json!({"tokenSecretRef": {"name": "a", "key": "t"}})),
            "shop",
            false,
        )
        .unwrap();
        let b = parse_store(
            &store(json!({"tokenSecretRef": {"name": "b", "key": "t"}})),
            "shop",
            false,
        )
        .unwrap();
        assert_ne!(a.id, b.id);
    }
}
