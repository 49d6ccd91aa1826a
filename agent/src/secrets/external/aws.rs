//! AWS Secrets Manager through `aws-sdk-secretsmanager`: one client per store identity
//! (region, endpoint, credentials: static ones from Secrets, else the default chain, which
//! covers IRSA through web identity), single reads by version stage or id, and batch reads
//! (`BatchGetSecretValue`, 20 names a call) of current versions.
//!
//! The SDK marks secret values sensitive, so it never logs them; the strings it returns are
//! moved into zeroizing memory at once.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use std::time::Duration;
use zeroize::Zeroizing;

use super::super::cache::{DocKind, RemoteDoc};
use super::super::credentials::CredentialSource;
use super::StoreError;
use super::store::{AwsProvider, ProviderSpec, ResolvedStore, SecretKeySelector};

/// The most names `BatchGetSecretValue` takes in one call.
pub(crate) const BATCH_LIMIT: usize = 20;

/// A version of an AWS secret: a stage (`AWSCURRENT`, `AWSPREVIOUS`, custom) or an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AwsVersion {
    /// `AWSCURRENT`, the default.
    Current,
    /// A stage label.
    Stage(String),
    /// A version id.
    Id(String),
}

impl AwsVersion {
    /// ESO's `remoteRef.version`: `uuid/ID` is an id, anything else a stage.
    pub(crate) fn from_eso(version: Option<&str>) -> Self {
        match version {
            None | Some("") | Some("AWSCURRENT") => AwsVersion::Current,
            Some(v) => match v.strip_prefix("uuid/") {
                Some(id) => AwsVersion::Id(id.to_owned()),
                None => AwsVersion::Stage(v.to_owned()),
            },
        }
    }
}

/// One SDK client per store identity.
pub(crate) struct AwsSession {
    store: ResolvedStore,
    client: tokio::sync::Mutex<Option<Client>>,
}

impl AwsSession {
    pub(crate) fn new(store: ResolvedStore) -> Self {
        Self {
            store,
            client: tokio::sync::Mutex::new(None),
        }
    }

    fn provider(&self) -> Result<&AwsProvider, StoreError> {
        match &self.store.provider {
            ProviderSpec::Aws(a) => Ok(a.as_ref()),
            ProviderSpec::Vault(_) => Err(StoreError::Invalid {
                store: self.store.display.clone(),
                reason: "not an aws store".into(),
            }),
        }
    }

    async fn credential(
        &self,
        creds: &dyn CredentialSource,
        selector: &SecretKeySelector,
    ) -> Result<Zeroizing<String>, StoreError> {
        let bytes = creds
            .secret_value(
                self.store.namespace_of(selector),
                &selector.name,
                &selector.key,
            )
            .await
            .map_err(|source| StoreError::credentials(&self.store.display, &source))?;
        std::str::from_utf8(&bytes)
            .map(|s| Zeroizing::new(s.trim().to_owned()))
            .map_err(|_| StoreError::Invalid {
                store: self.store.display.clone(),
                reason: format!("credential {}/{} is not UTF-8", selector.name, selector.key),
            })
    }

    async fn client(&self, creds: &dyn CredentialSource) -> Result<Client, StoreError> {
        let mut slot = self.client.lock().await;
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let provider = self.provider()?.clone();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_timeout(Duration::from_secs(30))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(2));
        if let Some(region) = &provider.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &provider.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some(refs) = &provider.auth.secret_ref {
            let id = self.credential(creds, &refs.access_key_id).await?;
            let secret = self.credential(creds, &refs.secret_access_key).await?;
            let session = match &refs.session_token {
                Some(s) => Some(self.credential(creds, s).await?),
                None => None,
            };
            loader = loader.credentials_provider(Credentials::new(
                id.as_str(),
                secret.as_str(),
                session.as_ref().map(|s| s.to_string()),
                None,
                "tether-secret-ref",
            ));
        }
        let config = loader.load().await;
        let client = Client::new(&config);
        *slot = Some(client.clone());
        Ok(client)
    }

    /// Drops the client, so the next read builds one with fresh credentials.
    async fn forget(&self) {
        *self.client.lock().await = None;
    }

    fn error<E: ProvideErrorMetadata + std::error::Error + 'static>(
        &self,
        name: &str,
        e: &SdkError<E>,
    ) -> StoreError {
        let store = self.store.display.clone();
        match e {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = err.code().unwrap_or("Unknown");
                let reason = format!("{code}: {}", err.message().unwrap_or(""));
                match code {
                    "ResourceNotFoundException" => StoreError::NotFound {
                        store,
                        path: name.to_owned(),
                    },
                    "AccessDeniedException"
                    | "UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "ExpiredTokenException" => StoreError::PermissionDenied {
                        store,
                        path: name.to_owned(),
                    },
                    "InternalServiceError" | "ThrottlingException" => {
                        StoreError::Unavailable { store, reason }
                    }
                    _ => StoreError::ReadFailed {
                        store,
                        path: name.to_owned(),
                        reason,
                    },
                }
            }
            other => StoreError::Unavailable {
                store,
                reason: describe(other),
            },
        }
    }

    /// Reads one version of one secret.
    pub(crate) async fn get(
        &self,
        creds: &dyn CredentialSource,
        name: &str,
        version: &AwsVersion,
    ) -> Result<RemoteDoc, StoreError> {
        let client = self.client(creds).await?;
        let mut request = client.get_secret_value().secret_id(name);
        match version {
            AwsVersion::Current => {}
            AwsVersion::Stage(stage) => request = request.version_stage(stage),
            AwsVersion::Id(id) => request = request.version_id(id),
        }
        match request.send().await {
            Ok(mut output) => take_doc(output.secret_string.take(), output.secret_binary.take())
                .ok_or_else(|| StoreError::ReadFailed {
                    store: self.store.display.clone(),
                    path: name.to_owned(),
                    reason: "the secret version has neither SecretString nor SecretBinary".into(),
                }),
            Err(e) => {
                let err = self.error(name, &e);
                if matches!(err, StoreError::PermissionDenied { .. }) {
                    self.forget().await;
                }
                Err(err)
            }
        }
    }

    /// Reads the current versions of up to [`BATCH_LIMIT`] secrets in one call. Returns one
    /// result per name (in order). When the batch call itself fails, falls back to single
    /// reads.
    pub(crate) async fn batch_get(
        &self,
        creds: &dyn CredentialSource,
        names: &[String],
    ) -> Vec<Result<RemoteDoc, StoreError>> {
        let client = match self.client(creds).await {
            Ok(c) => c,
            Err(e) => return names.iter().map(|_| Err(e.clone())).collect(),
        };
        let response = client
            .batch_get_secret_value()
            .set_secret_id_list(Some(names.to_vec()))
            .send()
            .await;
        let mut output = match response {
            Ok(output) => output,
            Err(e) => {
                tracing::debug!(store = %self.store.display, error = %describe(&e), "batch read failed; reading one by one");
                let mut out = Vec::with_capacity(names.len());
                for name in names {
                    out.push(self.get(creds, name, &AwsVersion::Current).await);
                }
                return out;
            }
        };
        let mut entries = output.secret_values.take().unwrap_or_default();
        let errors = output.errors.take().unwrap_or_default();
        names
            .iter()
            .map(|name| {
                let wanted = super::super::allow::aws_name(name);
                if let Some(pos) = entries.iter().position(|e| {
                    e.name.as_deref() == Some(name.as_str())
                        || e.arn.as_deref() == Some(name.as_str())
                        || e.name.as_deref() == Some(wanted)
                }) {
                    let mut entry = entries.swap_remove(pos);
                    return take_doc(entry.secret_string.take(), entry.secret_binary.take())
                        .ok_or_else(|| StoreError::ReadFailed {
                            store: self.store.display.clone(),
                            path: name.clone(),
                            reason: "no SecretString nor SecretBinary".into(),
                        });
                }
                let error = errors
                    .iter()
                    .find(|e| e.secret_id.as_deref() == Some(name.as_str()));
                let code = error.and_then(|e| e.error_code.as_deref()).unwrap_or("");
                let store = self.store.display.clone();
                Err(match code {
                    "" | "ResourceNotFoundException" => StoreError::NotFound {
                        store,
                        path: name.clone(),
                    },
                    "AccessDeniedException" => StoreError::PermissionDenied {
                        store,
                        path: name.clone(),
                    },
                    other => StoreError::ReadFailed {
                        store,
                        path: name.clone(),
                        reason: format!(
                            "{other}: {}",
                            error.and_then(|e| e.message.as_deref()).unwrap_or("")
                        ),
                    },
                })
            })
            .collect()
    }

    /// `ListSecrets` with `filters` (`(key, values)`, e.g. `("name", ["shop/"])`), every page
    /// up to `limit` secrets: each secret's name and tags.
    pub(crate) async fn list(
        &self,
        creds: &dyn CredentialSource,
        filters: &[(&str, Vec<String>)],
        limit: usize,
    ) -> Result<Vec<(String, Vec<(String, String)>)>, StoreError> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        let client = self.client(creds).await?;
        let filters: Vec<Filter> = filters
            .iter()
            .map(|(key, values)| {
                Filter::builder()
                    .key(FilterNameStringType::from(*key))
                    .set_values(Some(values.clone()))
                    .build()
            })
            .collect();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let response = client
                .list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .set_next_token(token.take())
                .max_results(100)
                .send()
                .await
                .map_err(|e| self.error("ListSecrets", &e))?;
            for entry in response.secret_list() {
                let Some(name) = entry.name() else { continue };
                let tags = entry
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                    .collect();
                out.push((name.to_owned(), tags));
                if out.len() > limit {
                    return Err(StoreError::Invalid {
                        store: self.store.display.clone(),
                        reason: format!("a find matches more than {limit} secrets"),
                    });
                }
            }
            match response.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(out),
            }
        }
    }
}

fn take_doc(
    string: Option<String>,
    binary: Option<aws_sdk_secretsmanager::primitives::Blob>,
) -> Option<RemoteDoc> {
    if let Some(text) = string {
        return Some(RemoteDoc {
            bytes: Zeroizing::new(text.into_bytes()),
            kind: DocKind::Text,
        });
    }
    binary.map(|blob| RemoteDoc {
        bytes: Zeroizing::new(blob.into_inner()),
        kind: DocKind::Binary,
    })
}

fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
