//! Charts from where their users publish them: HTTP(S) Helm repositories (`index.yaml`) and
//! OCI registries (`oci://host/path`), resolved as Helm resolves them and checked by digest.
//!
//! - A [`Fetcher`] knows the repositories it may contact ([`Repository`]: URL, credentials,
//!   CA bundle, plain HTTP for OCI); a chart from any other place is refused before any
//!   connection ([`FetchError::NotAllowed`]), and so is an archive URL of an index that
//!   points outside its repository's host.
//! - Versions are Helm's: an exact version string first, else the highest version that
//!   satisfies the constraint ([`semver`]); pre-releases only when the constraint names one.
//! - HTTP repositories: the archive's sha256 must equal the index entry's `digest`.
//!   OCI registries: the manifest (pinned by `@sha256:` when given) must list one layer of
//!   [`CHART_LAYER_MEDIA_TYPE`], and the blob must hash to its digest. Tags carry `_` where
//!   the version has `+`, as `helm push` writes them.
//! - Archives are kept in memory by digest, up to [`FetchLimits::cache_bytes`]; a digest
//!   already held is never downloaded again. Credentials are never cached or logged.
//!
//! Fetching blocks (it runs on the render's blocking thread); every call has a timeout and
//! every body a size bound.

pub mod access;
mod cache;
mod http_repo;
pub mod local;
mod oci;
pub mod semver;
mod transport;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use zeroize::Zeroizing;

pub use access::RepositoryAccess;
pub use cache::ArchiveCache;

/// The media type of a Helm chart's layer in an OCI registry.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
/// The media type of a Helm chart's config blob in an OCI registry.
pub const CHART_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";

/// Why a chart could not be fetched. Messages name the repository and chart, never a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The chart's repository is not one the fetcher may contact.
    #[error(
        "chart {chart}: repository {repository} is not configured (only configured repositories are contacted)"
    )]
    NotAllowed {
        /// The chart.
        chart: String,
        /// The repository URL asked for.
        repository: String,
    },
    /// The repository URL or chart reference is malformed.
    #[error("chart {chart}: {problem}")]
    InvalidReference {
        /// The chart.
        chart: String,
        /// What is wrong.
        problem: String,
    },
    /// The version constraint is not one Helm accepts.
    #[error("chart {chart}: version: {source}")]
    InvalidVersion {
        /// The chart.
        chart: String,
        /// The cause.
        #[source]
        source: semver::SemverError,
    },
    /// Reading the repository's index or the registry's tags failed.
    #[error("chart {chart}: reading {what} from {repository} failed: {message}")]
    IndexFailed {
        /// The chart.
        chart: String,
        /// The repository.
        repository: String,
        /// `index.yaml`, `tags`, `manifest`.
        what: &'static str,
        /// The cause.
        message: String,
    },
    /// No version of the chart satisfies the constraint.
    #[error("chart {chart}: no version matches {constraint:?} in {repository}")]
    NoMatchingVersion {
        /// The chart.
        chart: String,
        /// The constraint.
        constraint: String,
        /// The repository.
        repository: String,
    },
    /// Downloading the archive failed.
    #[error("chart {chart}: downloading {url} failed: {message}")]
    DownloadFailed {
        /// The chart.
        chart: String,
        /// Where from (without credentials).
        url: String,
        /// The cause.
        message: String,
    },
    /// The archive does not hash to the digest its index or manifest gives.
    #[error("chart {chart}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The chart.
        chart: String,
        /// The expected digest.
        expected: String,
        /// The digest of what was downloaded.
        actual: String,
    },
    /// A body exceeded its size bound.
    #[error("chart {chart}: {what} is larger than {limit} bytes")]
    TooLarge {
        /// The chart.
        chart: String,
        /// What was read.
        what: String,
        /// The bound.
        limit: u64,
    },
    /// The credentials were refused.
    #[error("chart {chart}: {repository} refused the credentials (HTTP {status})")]
    Unauthorized {
        /// The chart.
        chart: String,
        /// The repository.
        repository: String,
        /// The HTTP status.
        status: u16,
    },
    /// The repository's TLS settings (CA bundle) are unusable.
    #[error("repository {repository}: {problem}")]
    InvalidRepository {
        /// The repository.
        repository: String,
        /// What is wrong.
        problem: String,
    },
}

impl FetchError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotAllowed { .. } => "ChartRepositoryNotAllowed",
            Self::DigestMismatch { .. } => "ChartDigestMismatch",
            Self::NoMatchingVersion { .. } => "ChartVersionNotFound",
            Self::Unauthorized { .. } => "ChartRepositoryUnauthorized",
            _ => "ChartFetchFailed",
        }
    }
}

/// Credentials for a repository. Derives nothing that could print them.
pub enum Credentials {
    /// HTTP basic authentication (also the user/password for an OCI token service).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Zeroizing<String>,
    },
    /// A bearer token sent as is.
    Bearer {
        /// The token.
        token: Zeroizing<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Basic { .. } => "Credentials::Basic(<redacted>)",
            Self::Bearer { .. } => "Credentials::Bearer(<redacted>)",
        })
    }
}

/// A repository the fetcher may contact.
#[derive(Debug, Default)]
pub struct Repository {
    /// `https://charts.example.com/stable` or `oci://registry.example.com/charts`.
    pub url: String,
    /// Credentials, if any.
    pub credentials: Option<Credentials>,
    /// PEM CA certificates trusted (besides the system's) for this repository.
    pub ca_pem: Option<Vec<u8>>,
    /// OCI only: talk plain HTTP to the registry (never the default).
    pub plain_http: bool,
}

impl Repository {
    /// A repository without credentials.
    #[must_use]
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            ..Self::default()
        }
    }

    fn is_oci(&self) -> bool {
        self.url.starts_with("oci://")
    }
}

/// The chart asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartRequest {
    /// The repository URL (`https://...` or `oci://host/path`).
    pub repository: String,
    /// The chart's name (appended to the OCI path).
    pub name: String,
    /// A version or constraint; empty for the latest release.
    pub version: String,
    /// OCI only: the manifest digest the chart is pinned to (`sha256:...`).
    pub digest: Option<String>,
}

/// A fetched chart archive.
#[derive(Clone)]
pub struct FetchedChart {
    /// The chart's name.
    pub name: String,
    /// The version chosen.
    pub version: String,
    /// The archive's digest, `sha256:<hex>`.
    pub digest: String,
    /// The `.tgz` archive.
    pub archive: Arc<Vec<u8>>,
}

impl std::fmt::Debug for FetchedChart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchedChart")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("digest", &self.digest)
            .field("archive_bytes", &self.archive.len())
            .finish()
    }
}

/// Bounds on what fetching may cost.
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// The largest `index.yaml` read (bitnami's is tens of megabytes).
    pub max_index_bytes: u64,
    /// The largest chart archive or manifest read.
    pub max_archive_bytes: u64,
    /// The most archive bytes kept in the cache.
    pub cache_bytes: u64,
    /// Timeout of one HTTP call.
    pub timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_index_bytes: 64 << 20,
            max_archive_bytes: 20 << 20,
            cache_bytes: 256 << 20,
            timeout: Duration::from_secs(30),
        }
    }
}

/// Fetches charts from configured repositories, with a digest-keyed archive cache shared
/// by every render that uses it.
pub struct Fetcher {
    repositories: Vec<Repository>,
    limits: FetchLimits,
    cache: Arc<Mutex<ArchiveCache>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("repositories", &self.repositories.len())
            .finish_non_exhaustive()
    }
}

/// Normalises a repository URL for comparison (no trailing `/`).
fn normalise(url: &str) -> &str {
    url.trim_end_matches('/')
}

impl Fetcher {
    /// A fetcher that may contact `repositories` only.
    #[must_use]
    pub fn new(repositories: Vec<Repository>, limits: FetchLimits) -> Self {
        let cache = Arc::new(Mutex::new(ArchiveCache::new(limits.cache_bytes)));
        Self {
            repositories,
            limits,
            cache,
        }
    }

    /// The same repositories with the archive cache of `other` (so that archives fetched
    /// for one render serve the next).
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<Mutex<ArchiveCache>>) -> Self {
        self.cache = cache;
        self
    }

    /// The shared archive cache.
    pub fn cache(&self) -> Arc<Mutex<ArchiveCache>> {
        Arc::clone(&self.cache)
    }

    /// How many archives were downloaded (not served from the cache) so far.
    pub fn downloads(&self) -> u64 {
        cache::lock(&self.cache).downloads()
    }

    fn repository(&self, request: &ChartRequest) -> Result<&Repository, FetchError> {
        let wanted = normalise(&request.repository);
        self.repositories
            .iter()
            .find(|r| normalise(&r.url) == wanted)
            .ok_or_else(|| FetchError::NotAllowed {
                chart: request.name.clone(),
                repository: transport::without_userinfo(&request.repository),
            })
    }

    /// Fetches the chart: resolves the version, downloads the archive unless its digest is
    /// in the cache, checks the digest. Runs on a thread of its own, so that it may be
    /// called from inside an async runtime.
    pub fn fetch(&self, request: &ChartRequest) -> Result<FetchedChart, FetchError> {
        let run = || {
            std::thread::scope(|s| {
                s.spawn(|| self.fetch_here(request))
                    .join()
                    .unwrap_or_else(|_| {
                        Err(FetchError::DownloadFailed {
                            chart: request.name.clone(),
                            url: transport::without_userinfo(&request.repository),
                            message: "the fetch thread ended abnormally".into(),
                        })
                    })
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(run)
            }
            _ => run(),
        }
    }

    fn fetch_here(&self, request: &ChartRequest) -> Result<FetchedChart, FetchError> {
        let repository = self.repository(request)?;
        if request.name.is_empty() || request.name.contains("..") || request.name.starts_with('/') {
            return Err(FetchError::InvalidReference {
                chart: request.name.clone(),
                problem: "the chart name must be a plain name".into(),
            });
        }
        let client = transport::Client::new(repository, &self.limits)?;
        let span = tracing::info_span!("fetch_chart", chart = %request.name,
            repository = %transport::without_userinfo(&repository.url), version = %request.version);
        let _entered = span.enter();
        if repository.is_oci() {
            oci::fetch(&client, request, &self.cache)
        } else {
            http_repo::fetch(&client, request, &self.cache)
        }
    }
}

/// `sha256:<hex>` of `bytes`.
fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
