//! Vault / OpenBao through `vaultrs`: login (token from a Secret, AppRole, Kubernetes
//! ServiceAccount JWT), KV v1 and v2 reads, and the token lifetime: renewed at 2/3 of its
//! TTL, logged in again when renewal fails or the server refuses the token.
//!
//! `vaultrs` keeps the token and the parsed response in ordinary memory; the token given to
//! it is read from zeroizing memory, and a read's data is copied into zeroizing memory and the
//! parsed copy wiped at once.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vaultrs::client::{Client as _, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use zeroize::{Zeroize as _, Zeroizing};

use super::super::cache::{DocKind, RemoteDoc};
use super::super::credentials::CredentialSource;
use super::super::redact::scrub_value;
use super::StoreError;
use super::store::{KvVersion, ResolvedStore, VaultProvider};

/// How long one HTTP request to Vault may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

struct TokenState {
    client: Arc<VaultClient>,
    obtained: Instant,
    /// `None`: the token does not expire.
    ttl: Option<Duration>,
    renewable: bool,
}

impl TokenState {
    fn renew_at(&self) -> Option<Instant> {
        // A TTL the server set beyond the clock's range is treated as no expiry.
        self.ttl
            .and_then(|ttl| self.obtained.checked_add(ttl.mul_f64(2.0 / 3.0)))
    }

    fn expired(&self, now: Instant) -> bool {
        self.ttl
            .and_then(|ttl| self.obtained.checked_add(ttl))
            .is_some_and(|end| now >= end)
    }
}

/// One logged-in Vault client per store identity.
pub(crate) struct VaultSession {
    store: ResolvedStore,
    state: Mutex<Option<TokenState>>,
    /// Serialises logins and renewals, so concurrent reads do not all log in.
    login: tokio::sync::Mutex<()>,
    pub(crate) logins: std::sync::atomic::AtomicU64,
    pub(crate) renewals: std::sync::atomic::AtomicU64,
}

impl VaultSession {
    pub(crate) fn new(store: ResolvedStore) -> Self {
        Self {
            store,
            state: Mutex::new(None),
            login: tokio::sync::Mutex::new(()),
            logins: 0.into(),
            renewals: 0.into(),
        }
    }

    fn provider(&self) -> Result<&VaultProvider, StoreError> {
        match &self.store.provider {
            super::store::ProviderSpec::Vault(v) => Ok(v.as_ref()),
            super::store::ProviderSpec::Aws(_) => Err(StoreError::Invalid {
                store: self.store.display.clone(),
                reason: "not a vault store".into(),
            }),
        }
    }

    fn current(&self) -> Option<Arc<VaultClient>> {
        let now = Instant::now();
        let state = self.state.lock().ok()?;
        state
            .as_ref()
            .filter(|s| !s.expired(now))
            .map(|s| s.client.clone())
    }

    fn forget(&self) {
        if let Ok(mut state) = self.state.lock() {
            *state = None;
        }
    }

    /// When the token should next be renewed, if it expires.
    pub(crate) fn renew_at(&self) -> Option<Instant> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.as_ref().and_then(TokenState::renew_at))
    }

    /// A client with a valid token: the current one, or a new login.
    async fn client(&self, creds: &dyn CredentialSource) -> Result<Arc<VaultClient>, StoreError> {
        if let Some(client) = self.current() {
            return Ok(client);
        }
        let _guard = self.login.lock().await;
        if let Some(client) = self.current() {
            return Ok(client);
        }
        let state = self.log_in(creds).await?;
        let client = state.client.clone();
        if let Ok(mut slot) = self.state.lock() {
            *slot = Some(state);
        }
        Ok(client)
    }

    fn new_client(&self, token: &str) -> Result<VaultClient, StoreError> {
        let provider = self.provider()?;
        let mut settings = VaultClientSettingsBuilder::default();
        // The address was checked to be an http(s) URL when the store was read.
        settings
            .address(&provider.server)
            .token(token)
            .timeout(Some(REQUEST_TIMEOUT));
        if let Some(ns) = &provider.namespace {
            settings.set_namespace(ns.clone());
        }
        let settings = settings.build().map_err(|e| StoreError::Invalid {
            store: self.store.display.clone(),
            reason: e.to_string(),
        })?;
        VaultClient::new(settings).map_err(|e| StoreError::Invalid {
            store: self.store.display.clone(),
            reason: e.to_string(),
        })
    }

    async fn credential(
        &self,
        creds: &dyn CredentialSource,
        selector: &super::store::SecretKeySelector,
    ) -> Result<Zeroizing<String>, StoreError> {
        let bytes = creds
            .secret_value(
                self.store.namespace_of(selector),
                &selector.name,
                &selector.key,
            )
            .await
            .map_err(|source| StoreError::credentials(&self.store.display, &source))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| StoreError::Invalid {
            store: self.store.display.clone(),
            reason: format!("credential {}/{} is not UTF-8", selector.name, selector.key),
        })?;
        Ok(Zeroizing::new(text.trim().to_owned()))
    }

    async fn log_in(&self, creds: &dyn CredentialSource) -> Result<TokenState, StoreError> {
        use std::sync::atomic::Ordering;
        let provider = self.provider()?.clone();
        let auth = &provider.auth;
        let login_failed = |e: ClientError| self.login_error(e);
        self.logins.fetch_add(1, Ordering::Relaxed);
        let mut info = if let Some(selector) = &auth.token_secret_ref {
            let token = self.credential(creds, selector).await?;
            let client = self.new_client(&token)?;
            let lookup = vaultrs::token::lookup_self(&client)
                .await
                .map_err(login_failed)?;
            let ttl = (lookup.ttl > 0).then(|| Duration::from_secs(lookup.ttl));
            tracing::debug!(store = %self.store.display, ttl_s = lookup.ttl, "vault token accepted");
            return Ok(TokenState {
                client: Arc::new(client),
                obtained: Instant::now(),
                ttl,
                renewable: lookup.renewable.unwrap_or(false),
            });
        } else if let Some(app_role) = &auth.app_role {
            let role_id = match (&app_role.role_id, &app_role.role_ref) {
                (Some(id), _) => Zeroizing::new(id.clone()),
                (None, Some(selector)) => self.credential(creds, selector).await?,
                (None, None) => Zeroizing::new(String::new()),
            };
            let secret_id = self.credential(creds, &app_role.secret_ref).await?;
            let client = self.new_client("")?;
            vaultrs::auth::approle::login(&client, &app_role.path, &role_id, &secret_id)
                .await
                .map_err(login_failed)?
        } else if let Some(k8s) = &auth.kubernetes {
            let jwt = match (&k8s.secret_ref, &k8s.service_account_ref) {
                (Some(selector), _) => self.credential(creds, selector).await?,
                (None, Some(sa)) => {
                    let ns = sa
                        .namespace
                        .as_deref()
                        .unwrap_or(&self.store.credential_namespace);
                    creds
                        .service_account_token(ns, &sa.name, &sa.audiences)
                        .await
                        .map_err(|source| StoreError::credentials(&self.store.display, &source))?
                }
                (None, None) => {
                    own_service_account_token().map_err(|reason| StoreError::Invalid {
                        store: self.store.display.clone(),
                        reason,
                    })?
                }
            };
            let client = self.new_client("")?;
            vaultrs::auth::kubernetes::login(&client, &k8s.mount_path, &k8s.role, &jwt)
                .await
                .map_err(login_failed)?
        } else {
            return Err(StoreError::Invalid {
                store: self.store.display.clone(),
                reason: "no auth method".into(),
            });
        };
        let token = Zeroizing::new(std::mem::take(&mut info.client_token));
        info.accessor.zeroize();
        let client = self.new_client(&token)?;
        tracing::debug!(
            store = %self.store.display,
            ttl_s = info.lease_duration,
            renewable = info.renewable,
            "logged in to vault"
        );
        Ok(TokenState {
            client: Arc::new(client),
            obtained: Instant::now(),
            ttl: (info.lease_duration > 0).then(|| Duration::from_secs(info.lease_duration)),
            renewable: info.renewable,
        })
    }

    fn login_error(&self, e: ClientError) -> StoreError {
        match classify(&e) {
            Class::Unavailable(reason) => StoreError::Unavailable {
                store: self.store.display.clone(),
                reason,
            },
            Class::Denied | Class::NotFound | Class::Other(_) => StoreError::LoginFailed {
                store: self.store.display.clone(),
                reason: describe(&e),
            },
        }
    }

    /// Renews the token when 2/3 of its TTL have passed; logs in again when renewal fails or
    /// the token cannot be renewed. Returns whether anything was done.
    pub(crate) async fn renew_if_due(
        &self,
        creds: &dyn CredentialSource,
    ) -> Result<bool, StoreError> {
        use std::sync::atomic::Ordering;
        let now = Instant::now();
        let due = self.renew_at().is_some_and(|at| now >= at);
        if !due {
            return Ok(false);
        }
        let _guard = self.login.lock().await;
        let (client, renewable) = match self.state.lock().ok().and_then(|s| {
            s.as_ref()
                .map(|s| (s.client.clone(), s.renewable && !s.expired(now)))
        }) {
            Some(found) => found,
            None => return Ok(false),
        };
        if renewable {
            match client.renew(None).await {
                Ok(mut info) => {
                    info.client_token.zeroize();
                    self.renewals.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut slot) = self.state.lock()
                        && let Some(state) = slot.as_mut()
                    {
                        state.obtained = Instant::now();
                        state.ttl = (info.lease_duration > 0)
                            .then(|| Duration::from_secs(info.lease_duration));
                    }
                    tracing::debug!(store = %self.store.display, ttl_s = info.lease_duration, "vault token renewed");
                    return Ok(true);
                }
                Err(e) => {
                    tracing::info!(store = %self.store.display, error = %describe(&e), "vault token renewal failed; logging in again");
                }
            }
        }
        let state = self.log_in(creds).await?;
        if let Ok(mut slot) = self.state.lock() {
            *slot = Some(state);
        }
        Ok(true)
    }

    /// Reads the KV secret at `key` (the path inside the mount), optionally a KV v2 version.
    /// A refused token is dropped and the read retried once after a new login.
    pub(crate) async fn read(
        &self,
        creds: &dyn CredentialSource,
        mount: Option<&(String, KvVersion)>,
        key: &str,
        full_path: &str,
        version: Option<&str>,
    ) -> Result<RemoteDoc, StoreError> {
        let client = self.client(creds).await?;
        match self
            .read_once(&client, mount, key, full_path, version)
            .await
        {
            Err(StoreError::PermissionDenied { .. }) => {
                self.forget();
                let client = self.client(creds).await?;
                self.read_once(&client, mount, key, full_path, version)
                    .await
            }
            other => other,
        }
    }

    async fn read_once(
        &self,
        client: &VaultClient,
        mount: Option<&(String, KvVersion)>,
        key: &str,
        full_path: &str,
        version: Option<&str>,
    ) -> Result<RemoteDoc, StoreError> {
        let provider = self.provider()?;
        let (mount, kv) = match mount {
            Some((mount, kv)) => (mount.as_str(), *kv),
            None => (provider.path.trim_matches('/'), provider.version),
        };
        let result: Result<Value, ClientError> = match (kv, version) {
            (KvVersion::V2, None) => vaultrs::kv2::read(client, mount, key).await,
            (KvVersion::V2, Some(v)) => {
                let number = v.parse::<u64>().map_err(|_| StoreError::Invalid {
                    store: self.store.display.clone(),
                    reason: format!("version {v:?} of {full_path} is not a KV v2 version number"),
                })?;
                vaultrs::kv2::read_version(client, mount, key, number).await
            }
            (KvVersion::V1, None) => vaultrs::kv1::get(client, mount, key).await,
            (KvVersion::V1, Some(_)) => {
                return Err(StoreError::Invalid {
                    store: self.store.display.clone(),
                    reason: format!("{full_path}: KV v1 has no versions"),
                });
            }
        };
        let value = result.map_err(|e| self.read_error(&e, full_path))?;
        let bytes = Zeroizing::new(serde_json::to_vec(&value).unwrap_or_default());
        let is_map = value.is_object();
        scrub_value(value);
        if !is_map {
            return Err(StoreError::ReadFailed {
                store: self.store.display.clone(),
                path: full_path.to_owned(),
                reason: "the secret's data is not a map".into(),
            });
        }
        Ok(RemoteDoc {
            bytes,
            kind: DocKind::JsonMap,
        })
    }

    fn read_error(&self, e: &ClientError, full_path: &str) -> StoreError {
        match classify(e) {
            Class::Unavailable(reason) => StoreError::Unavailable {
                store: self.store.display.clone(),
                reason,
            },
            Class::Denied => StoreError::PermissionDenied {
                store: self.store.display.clone(),
                path: full_path.to_owned(),
            },
            Class::NotFound => StoreError::NotFound {
                store: self.store.display.clone(),
                path: full_path.to_owned(),
            },
            Class::Other(reason) => StoreError::ReadFailed {
                store: self.store.display.clone(),
                path: full_path.to_owned(),
                reason,
            },
        }
    }

    /// KV v2: the names under `dir` (inside the store's mount; directories end with `/`).
    /// A directory that does not exist lists as empty.
    pub(crate) async fn list(
        &self,
        creds: &dyn CredentialSource,
        dir: &str,
    ) -> Result<Vec<String>, StoreError> {
        let mount = self.provider()?.path.trim_matches('/').to_owned();
        let full = format!("{mount}/metadata/{dir}");
        let client = self.client(creds).await?;
        match vaultrs::kv2::list(client.as_ref(), &mount, dir).await {
            Ok(names) => Ok(names),
            Err(e) => match self.read_error(&e, &full) {
                StoreError::NotFound { .. } => Ok(Vec::new()),
                StoreError::PermissionDenied { .. } => {
                    self.forget();
                    let client = self.client(creds).await?;
                    vaultrs::kv2::list(client.as_ref(), &mount, dir)
                        .await
                        .map_err(|e| self.read_error(&e, &full))
                }
                other => Err(other),
            },
        }
    }

    /// KV v2: the `custom_metadata` of the secret `key` (inside the store's mount).
    pub(crate) async fn custom_metadata(
        &self,
        creds: &dyn CredentialSource,
        key: &str,
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mount = self.provider()?.path.trim_matches('/').to_owned();
        let full = format!("{mount}/metadata/{key}");
        let client = self.client(creds).await?;
        vaultrs::kv2::read_metadata(client.as_ref(), &mount, key)
            .await
            .map(|m| m.custom_metadata.unwrap_or_default())
            .map_err(|e| self.read_error(&e, &full))
    }
}

enum Class {
    Unavailable(String),
    Denied,
    NotFound,
    Other(String),
}

fn classify(e: &ClientError) -> Class {
    match e {
        ClientError::APIError { code: 403, .. } => Class::Denied,
        ClientError::APIError { code: 404, .. } => Class::NotFound,
        ClientError::APIError { code, .. } if *code >= 500 => Class::Unavailable(describe(e)),
        ClientError::RestClientError { .. } => Class::Unavailable(describe(e)),
        _ => Class::Other(describe(e)),
    }
}

/// An error's text with its causes (Vault's own error strings, never a value).
fn describe(e: &ClientError) -> String {
    let mut text = e.to_string();
    if let ClientError::APIError { errors, .. } = e
        && !errors.is_empty()
    {
        text.push_str(": ");
        text.push_str(&errors.join("; "));
    }
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The agent's own ServiceAccount token, mounted by Kubernetes.
fn own_service_account_token() -> Result<Zeroizing<String>, String> {
    const PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
    std::fs::read_to_string(PATH)
        .map(|t| Zeroizing::new(t.trim().to_owned()))
        .map_err(|e| format!("no serviceAccountRef nor secretRef, and {PATH}: {e}"))
}
