//! [`Stores`]: the store clients, the shared cache and the credential source, and the one
//! entry point that reads remote documents for a stage run ([`Stores::fetch`]): deduplicated,
//! served from the cache when fresh, AWS current versions batched, the rest read
//! concurrently.

use futures::StreamExt as _;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::super::SecretsError;
use super::super::allow::Provider;
use super::super::cache::{RemoteDoc, SecretCache};
use super::super::credentials::CredentialSource;
use super::StoreError;
use super::aws::{AwsSession, AwsVersion, BATCH_LIMIT};
use super::store::{KvVersion, ProviderSpec, ResolvedStore, parse_store};
use super::vault::VaultSession;

/// How many store requests one stage run makes at once.
const CONCURRENCY: usize = 8;

/// One document to read.
#[derive(Clone)]
pub(crate) struct ReadRequest {
    pub(crate) store: Arc<ResolvedStore>,
    /// Vault: the path inside the mount; AWS: the secret name or ARN.
    pub(crate) key: String,
    /// What the allow-list checked (Vault: the full API path; AWS: the name).
    pub(crate) full_path: String,
    /// Vault: a KV v2 version number; AWS: a stage or `uuid/ID`.
    pub(crate) version: Option<String>,
    /// How long the value may be cached (`None`: until invalidated).
    pub(crate) ttl: Option<Duration>,
    /// Vault: the KV mount and version when they differ from the store's (inline
    /// references name their mount in the path).
    pub(crate) mount: Option<(String, KvVersion)>,
    /// Whose cache entry this is: an ExternalSecret's own (`Kind ns/name`), expiring exactly
    /// after its `refreshInterval`; empty for entries shared by inline references.
    pub(crate) scope: String,
}

impl ReadRequest {
    /// The cache key: store identity, path, version.
    pub(crate) fn cache_key(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            self.store.id,
            self.full_path,
            self.version.as_deref().unwrap_or(""),
            self.scope
        )
    }
}

/// Counters of store use, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Documents served from the cache.
    pub cache_hits: u64,
    /// Single reads sent to a store.
    pub reads: u64,
    /// Batch calls sent (AWS `BatchGetSecretValue`).
    pub batch_calls: u64,
    /// Vault logins.
    pub logins: u64,
    /// Vault token renewals.
    pub renewals: u64,
}

#[derive(Default)]
struct Counters {
    cache_hits: AtomicU64,
    reads: AtomicU64,
    batch_calls: AtomicU64,
}

/// The stores of the agent: clients per store identity, the shared cache, the credential
/// source, the trusted ClusterSecretStores of the agent's configuration, and the stores
/// inline references read from.
pub struct Stores {
    credentials: Arc<dyn CredentialSource>,
    cache: SecretCache,
    vault: Mutex<HashMap<String, Arc<VaultSession>>>,
    aws: Mutex<HashMap<String, Arc<AwsSession>>>,
    cluster_stores: BTreeMap<String, Arc<ResolvedStore>>,
    inline_vault: Option<Arc<ResolvedStore>>,
    inline_aws: Option<Arc<ResolvedStore>>,
    inline_ttl: Duration,
    counters: Counters,
}

impl Stores {
    /// Stores reading credentials through `credentials`, with an empty cache.
    #[must_use]
    pub fn new(credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            credentials,
            cache: SecretCache::new(),
            vault: Mutex::new(HashMap::new()),
            aws: Mutex::new(HashMap::new()),
            cluster_stores: BTreeMap::new(),
            inline_vault: None,
            inline_aws: None,
            inline_ttl: Duration::from_secs(3600),
            counters: Counters::default(),
        }
    }

    /// Uses `cache` (to share one cache between several `Stores`).
    #[must_use]
    pub fn with_cache(mut self, cache: SecretCache) -> Self {
        self.cache = cache;
        self
    }

    /// Adds a trusted `ClusterSecretStore` (from the agent's configuration), available to
    /// every app's ExternalSecrets; its credential references must name their namespace or
    /// use `agent_namespace`.
    pub fn add_cluster_store(
        &mut self,
        manifest: &Value,
        agent_namespace: &str,
    ) -> Result<(), SecretsError> {
        let name = manifest
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let store = parse_store(manifest, agent_namespace, true)?;
        self.cluster_stores.insert(name, Arc::new(store));
        Ok(())
    }

    /// Sets the store `ref+vault://` or `ref+awssecrets://` references read from (a
    /// `ClusterSecretStore`-shaped manifest from the agent's configuration, trusted), by its
    /// provider.
    pub fn set_inline_store(
        &mut self,
        manifest: &Value,
        agent_namespace: &str,
    ) -> Result<(), SecretsError> {
        let store = Arc::new(parse_store(manifest, agent_namespace, true)?);
        match store.provider {
            ProviderSpec::Vault(_) => self.inline_vault = Some(store),
            ProviderSpec::Aws(_) => self.inline_aws = Some(store),
        }
        Ok(())
    }

    /// How long values of inline references are cached (default 1 h).
    #[must_use]
    pub fn with_inline_ttl(mut self, ttl: Duration) -> Self {
        self.inline_ttl = ttl;
        self
    }

    pub(crate) fn cluster_store(&self, name: &str) -> Option<Arc<ResolvedStore>> {
        self.cluster_stores.get(name).cloned()
    }

    pub(crate) fn inline_store(&self, provider: Provider) -> Option<Arc<ResolvedStore>> {
        match provider {
            Provider::Vault => self.inline_vault.clone(),
            Provider::Aws => self.inline_aws.clone(),
        }
    }

    pub(crate) fn inline_ttl(&self) -> Duration {
        self.inline_ttl
    }

    /// Where store credentials are read from.
    pub(crate) fn credentials(&self) -> &dyn CredentialSource {
        self.credentials.as_ref()
    }

    /// The shared cache.
    #[must_use]
    pub fn cache(&self) -> &SecretCache {
        &self.cache
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let (mut logins, mut renewals) = (0, 0);
        if let Ok(sessions) = self.vault.lock() {
            for s in sessions.values() {
                logins += s.logins.load(Ordering::Relaxed);
                renewals += s.renewals.load(Ordering::Relaxed);
            }
        }
        StoreStats {
            cache_hits: self.counters.cache_hits.load(Ordering::Relaxed),
            reads: self.counters.reads.load(Ordering::Relaxed),
            batch_calls: self.counters.batch_calls.load(Ordering::Relaxed),
            logins,
            renewals,
        }
    }

    pub(crate) fn vault_session(&self, store: &Arc<ResolvedStore>) -> Arc<VaultSession> {
        let mut sessions = match self.vault.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        sessions
            .entry(store.id.clone())
            .or_insert_with(|| Arc::new(VaultSession::new((**store).clone())))
            .clone()
    }

    pub(crate) fn aws_session(&self, store: &Arc<ResolvedStore>) -> Arc<AwsSession> {
        let mut sessions = match self.aws.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        sessions
            .entry(store.id.clone())
            .or_insert_with(|| Arc::new(AwsSession::new((**store).clone())))
            .clone()
    }

    /// Renews every Vault token that reached 2/3 of its TTL (logging in again where renewal
    /// fails). Returns how many sessions were renewed or logged in again, and the earliest
    /// next renewal time.
    pub async fn renew_due_tokens(&self) -> (usize, Option<Instant>) {
        let sessions: Vec<Arc<VaultSession>> = match self.vault.lock() {
            Ok(s) => s.values().cloned().collect(),
            Err(_) => Vec::new(),
        };
        let mut renewed = 0;
        for session in &sessions {
            match session.renew_if_due(self.credentials.as_ref()).await {
                Ok(true) => renewed += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "vault token renewal and login failed"),
            }
        }
        let next = sessions.iter().filter_map(|s| s.renew_at()).min();
        (renewed, next)
    }

    /// The token renewal loop: renews tokens when due until `shutdown` completes. Checks at
    /// least every minute and at most every second.
    pub async fn run_token_renewal(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let (_, next) = self.renew_due_tokens().await;
            let wait = next
                .map(|at| at.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(60))
                .clamp(Duration::from_secs(1), Duration::from_secs(60));
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Reads every document of `requests` (deduplicated by cache key), from the cache when
    /// fresh. Returns one result per cache key.
    pub(crate) async fn fetch(
        &self,
        requests: Vec<ReadRequest>,
    ) -> HashMap<String, Result<Arc<RemoteDoc>, StoreError>> {
        let mut results = HashMap::new();
        let mut pending: BTreeMap<String, ReadRequest> = BTreeMap::new();
        for request in requests {
            let key = request.cache_key();
            if results.contains_key(&key) {
                continue;
            }
            if let Some(existing) = pending.get_mut(&key) {
                // The shortest TTL asked for wins.
                existing.ttl = match (existing.ttl, request.ttl) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                continue;
            }
            if let Some(doc) = self.cache.get(&key) {
                self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                tracing::trace!(store = %request.store.display, path = %request.full_path, "served from the cache");
                results.insert(key, Ok(doc));
                continue;
            }
            pending.insert(key, request);
        }
        // AWS current versions: batched per store.
        let mut batches: BTreeMap<String, Vec<ReadRequest>> = BTreeMap::new();
        let mut singles = Vec::new();
        for request in pending.into_values() {
            let batchable = matches!(request.store.provider, ProviderSpec::Aws(_))
                && AwsVersion::from_eso(request.version.as_deref()) == AwsVersion::Current;
            if batchable {
                batches
                    .entry(request.store.id.clone())
                    .or_default()
                    .push(request);
            } else {
                singles.push(request);
            }
        }
        let mut jobs: Vec<Vec<ReadRequest>> = Vec::new();
        for (_, group) in batches {
            if group.len() == 1 {
                singles.extend(group);
            } else {
                jobs.extend(group.chunks(BATCH_LIMIT).map(<[ReadRequest]>::to_vec));
            }
        }
        jobs.extend(singles.into_iter().map(|r| vec![r]));
        let outcomes: Vec<Vec<(ReadRequest, Result<RemoteDoc, StoreError>)>> =
            futures::stream::iter(jobs)
                .map(|job| self.run_job(job))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        for (request, outcome) in outcomes.into_iter().flatten() {
            let key = request.cache_key();
            let outcome = outcome.map(Arc::new);
            if let Ok(doc) = &outcome {
                if request.scope.is_empty() {
                    self.cache.put(key.clone(), doc.clone(), request.ttl);
                } else {
                    self.cache.put_exact(key.clone(), doc.clone(), request.ttl);
                }
            }
            results.insert(key, outcome);
        }
        results
    }

    async fn run_job(
        &self,
        job: Vec<ReadRequest>,
    ) -> Vec<(ReadRequest, Result<RemoteDoc, StoreError>)> {
        let creds = self.credentials.as_ref();
        if job.len() > 1 {
            let store = job[0].store.clone();
            let session = self.aws_session(&store);
            // Several ExternalSecrets may read one name (each keeps its own cache entry):
            // the batch asks for each name once.
            let mut names: Vec<String> = Vec::new();
            for request in &job {
                if !names.contains(&request.key) {
                    names.push(request.key.clone());
                }
            }
            self.counters.batch_calls.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(store = %store.display, count = names.len(), "batch read");
            let outcomes = session.batch_get(creds, &names).await;
            let by_name: HashMap<String, Result<RemoteDoc, StoreError>> =
                names.into_iter().zip(outcomes).collect();
            return job
                .into_iter()
                .map(|request| {
                    let outcome = match by_name.get(&request.key) {
                        Some(Ok(doc)) => Ok(RemoteDoc {
                            bytes: zeroize::Zeroizing::new(doc.bytes.to_vec()),
                            kind: doc.kind,
                        }),
                        Some(Err(e)) => Err(e.clone()),
                        None => Err(StoreError::ReadFailed {
                            store: request.store.display.clone(),
                            path: request.full_path.clone(),
                            reason: "not in the batch answer".into(),
                        }),
                    };
                    (request, outcome)
                })
                .collect();
        }
        let mut out = Vec::with_capacity(1);
        for request in job {
            self.counters.reads.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(store = %request.store.display, path = %request.full_path, "read");
            let outcome = match &request.store.provider {
                ProviderSpec::Vault(_) => {
                    self.vault_session(&request.store)
                        .read(
                            creds,
                            request.mount.as_ref(),
                            &request.key,
                            &request.full_path,
                            request.version.as_deref(),
                        )
                        .await
                }
                ProviderSpec::Aws(_) => {
                    let version = AwsVersion::from_eso(request.version.as_deref());
                    self.aws_session(&request.store)
                        .get(creds, &request.key, &version)
                        .await
                }
            };
            out.push((request, outcome));
        }
        out
    }
}
