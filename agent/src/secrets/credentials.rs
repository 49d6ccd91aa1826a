//! Store credentials referenced from Kubernetes (a token or an AppRole secret-id in a Secret,
//! a ServiceAccount token), read through [`CredentialSource`]: the daemon reads them from the
//! cluster with [`KubeCredentials`], tests hand them in with [`StaticCredentials`].

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Why a credential could not be read. Names the Secret and key, never a value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The Secret or its key does not exist.
    #[error("credential {what} not found")]
    NotFound {
        /// `Secret namespace/name key k` or `ServiceAccount namespace/name`.
        what: String,
    },
    /// The cluster refused or failed the read.
    #[error("reading credential {what} failed: {reason}")]
    ReadFailed {
        /// What was read.
        what: String,
        /// The cause (an API error, never a value).
        reason: String,
    },
}

/// Reads store credentials. Implementations hold values in zeroizing memory only.
pub trait CredentialSource: Send + Sync {
    /// The value of `key` in the Secret `namespace/name`.
    fn secret_value<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, CredentialError>>;

    /// A token of the ServiceAccount `namespace/name` for `audiences` (empty: the API
    /// server's default), for Vault's Kubernetes auth.
    fn service_account_token<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<Zeroizing<String>, CredentialError>>;

    /// The value of `key` in the ConfigMap `namespace/name` (an ExternalSecret's
    /// `templateFrom`).
    fn config_map_value<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, CredentialError>>;

    /// The cluster client behind this source, if any (Helm's opt-in `lookup` reads with it).
    fn client(&self) -> Option<kube::Client> {
        None
    }
}

/// `(namespace, name, key)` of a value in a Secret.
type SecretKeyRef = (String, String, String);

/// Credentials held in memory (tests, or values mounted from files by the daemon).
#[derive(Default)]
pub struct StaticCredentials {
    secrets: Mutex<BTreeMap<SecretKeyRef, Zeroizing<Vec<u8>>>>,
    tokens: Mutex<BTreeMap<(String, String), Zeroizing<String>>>,
    config_maps: Mutex<BTreeMap<SecretKeyRef, String>>,
}

impl StaticCredentials {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the value of `key` in Secret `namespace/name`.
    pub fn set_secret(&self, namespace: &str, name: &str, key: &str, value: Zeroizing<Vec<u8>>) {
        if let Ok(mut map) = self.secrets.lock() {
            map.insert((namespace.into(), name.into(), key.into()), value);
        }
    }

    /// Sets the value of `key` in ConfigMap `namespace/name`.
    pub fn set_config_map(&self, namespace: &str, name: &str, key: &str, value: &str) {
        if let Ok(mut map) = self.config_maps.lock() {
            map.insert(
                (namespace.into(), name.into(), key.into()),
                value.to_owned(),
            );
        }
    }

    /// Sets the token of ServiceAccount `namespace/name`.
    pub fn set_service_account_token(&self, namespace: &str, name: &str, token: Zeroizing<String>) {
        if let Ok(mut map) = self.tokens.lock() {
            map.insert((namespace.into(), name.into()), token);
        }
    }
}

impl CredentialSource for StaticCredentials {
    fn secret_value<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, CredentialError>> {
        let found = self.secrets.lock().ok().and_then(|map| {
            map.get(&(namespace.into(), name.into(), key.into()))
                .map(|v| Zeroizing::new(v.to_vec()))
        });
        Box::pin(async move {
            found.ok_or_else(|| CredentialError::NotFound {
                what: format!("Secret {namespace}/{name} key {key}"),
            })
        })
    }

    fn service_account_token<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        _audiences: &'a [String],
    ) -> BoxFuture<'a, Result<Zeroizing<String>, CredentialError>> {
        let found = self.tokens.lock().ok().and_then(|map| {
            map.get(&(namespace.into(), name.into()))
                .map(|v| Zeroizing::new(v.to_string()))
        });
        Box::pin(async move {
            found.ok_or_else(|| CredentialError::NotFound {
                what: format!("ServiceAccount {namespace}/{name} token"),
            })
        })
    }

    fn config_map_value<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, CredentialError>> {
        let found = self.config_maps.lock().ok().and_then(|map| {
            map.get(&(namespace.into(), name.into(), key.into()))
                .cloned()
        });
        Box::pin(async move {
            found.ok_or_else(|| CredentialError::NotFound {
                what: format!("ConfigMap {namespace}/{name} key {key}"),
            })
        })
    }
}

/// Credentials read from the cluster: Secrets with a GET, ServiceAccount tokens with a
/// TokenRequest (`serviceaccounts/token`).
///
/// kube deserialises the Secret into ordinary memory; the value read is copied into
/// zeroizing memory and the deserialised copy is wiped at once.
pub struct KubeCredentials {
    client: kube::Client,
}

impl KubeCredentials {
    /// Reads through `client`.
    #[must_use]
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

impl CredentialSource for KubeCredentials {
    fn client(&self) -> Option<kube::Client> {
        Some(self.client.clone())
    }

    fn secret_value<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Zeroizing<Vec<u8>>, CredentialError>> {
        use k8s_openapi::api::core::v1::Secret;
        use zeroize::Zeroize as _;
        Box::pin(async move {
            let what = format!("Secret {namespace}/{name} key {key}");
            let api: kube::Api<Secret> = kube::Api::namespaced(self.client.clone(), namespace);
            let secret = api
                .get_opt(name)
                .await
                .map_err(|e| CredentialError::ReadFailed {
                    what: what.clone(),
                    reason: e.to_string(),
                })?;
            let Some(mut secret) = secret else {
                return Err(CredentialError::NotFound { what });
            };
            let value = secret
                .data
                .as_ref()
                .and_then(|d| d.get(key))
                .map(|v| Zeroizing::new(v.0.clone()));
            if let Some(data) = secret.data.as_mut() {
                data.values_mut().for_each(|v| v.0.zeroize());
            }
            if let Some(data) = secret.string_data.as_mut() {
                data.values_mut().for_each(zeroize::Zeroize::zeroize);
            }
            value.ok_or(CredentialError::NotFound { what })
        })
    }

    fn service_account_token<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<Zeroizing<String>, CredentialError>> {
        use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
        use k8s_openapi::api::core::v1::ServiceAccount;
        use zeroize::Zeroize as _;
        Box::pin(async move {
            let what = format!("ServiceAccount {namespace}/{name} token");
            let api: kube::Api<ServiceAccount> =
                kube::Api::namespaced(self.client.clone(), namespace);
            let request = TokenRequest {
                spec: TokenRequestSpec {
                    audiences: audiences.to_vec(),
                    expiration_seconds: Some(600),
                    ..TokenRequestSpec::default()
                },
                ..TokenRequest::default()
            };
            let mut response = api
                .create_token_request(name, &kube::api::PostParams::default(), &request)
                .await
                .map_err(|e| CredentialError::ReadFailed {
                    what: what.clone(),
                    reason: e.to_string(),
                })?;
            let token = response
                .status
                .as_mut()
                .map(|s| Zeroizing::new(std::mem::take(&mut s.token)));
            if let Some(status) = response.status.as_mut() {
                status.token.zeroize();
            }
            token
                .filter(|t| !t.is_empty())
                .ok_or(CredentialError::NotFound { what })
        })
    }

    fn config_map_value<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<String, CredentialError>> {
        use k8s_openapi::api::core::v1::ConfigMap;
        Box::pin(async move {
            let what = format!("ConfigMap {namespace}/{name} key {key}");
            let api: kube::Api<ConfigMap> = kube::Api::namespaced(self.client.clone(), namespace);
            let map = api
                .get_opt(name)
                .await
                .map_err(|e| CredentialError::ReadFailed {
                    what: what.clone(),
                    reason: e.to_string(),
                })?;
            map.and_then(|m| m.data.and_then(|mut d| d.remove(key)))
                .ok_or(CredentialError::NotFound { what })
        })
    }
}
