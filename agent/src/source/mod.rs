//! The Git source: fetch the configuration repository, hand the pipeline immutable snapshots
//! (one per commit), discover the apps in them, and say when to fetch again.
//!
//! - [`fetch`]: clone and fetch with gix (https with rustls, ssh through the system `ssh`,
//!   git://, file://), shallow by default, into a cache directory that is checked before use
//!   and re-cloned when unsound; size limit and timeout.
//! - [`refs`]: what is followed: a branch, a tag, the highest tag in a semver range, a commit.
//! - [`snapshot`]: [`Snapshot`], one commit's files read straight from the object database
//!   through [`crate::tree::Tree`] (no worktree; symlinks resolved inside the tree only).
//! - [`credentials`], [`redact`]: credentials from files, never in a message.
//! - [`signature`]: SSH (and OpenPGP) commit signature checks.
//! - [`webhook`], [`trigger`]: verified push notifications, polling, coalesced fetches.
//! - [`discovery`]: apps from directory globs, ApplicationSet-style.
//!
//! [`Source`] ties them together: each [`Source::sync`] fetches in `spawn_blocking` with a
//! timeout, verifies, and either replaces the snapshot or keeps the last good one and reports
//! the source as [`SourceStatus::Degraded`] with a short reason.

pub mod bucket;
mod cache;
pub mod credentials;
pub mod discovery;
pub mod fetch;
pub mod ignore;
pub mod overlay;
pub mod program;
pub mod redact;
pub mod refs;
pub mod signature;
pub mod snapshot;
pub mod ssh_agent;
pub mod trigger;
mod watchdog;
pub mod webhook;

pub use credentials::{CredentialFiles, Credentials};
pub use fetch::{Depth, FetchError};
pub use redact::RedactedUrl;
pub use refs::Reference;
pub use signature::SignaturePolicy;
pub use snapshot::{GitTree, Snapshot};

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing::Instrument as _;

/// The default largest object database of a source: 512 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
/// The default fetch timeout: 60 s (Flux's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Errors of a source sync. [`SourceError::reason`] gives the short reason for status.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The commit's signature was refused.
    #[error(transparent)]
    Signature(#[from] signature::SignatureError),
    /// The fetch task did not finish in time.
    #[error("source {source_name}: fetch did not finish within {seconds} s")]
    TimedOut {
        /// The source.
        source_name: String,
        /// The timeout.
        seconds: u64,
    },
    /// The bucket could not be read.
    #[error(transparent)]
    Bucket(#[from] bucket::BucketError),
    /// The exclusions (`ignore`, `.sourceignore`) could not be applied.
    #[error("source {source_name}: ignore: {message}")]
    IgnoreFailed {
        /// The source.
        source_name: String,
        /// What failed (a path of the tree).
        message: String,
    },
    /// The fetch task failed (panicked or was cancelled).
    #[error("source {source_name}: fetch task failed: {message}")]
    TaskFailed {
        /// The source.
        source_name: String,
        /// What happened.
        message: String,
    },
}

impl SourceError {
    /// A short, stable reason: `FetchFailed`, `AuthFailed`, `RefNotFound`, `SizeLimitExceeded`,
    /// `FetchTimeout`, `CacheFailed`, `SignatureRejected`, ...
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Fetch(err) => err.reason(),
            Self::Signature(err) => err.reason(),
            Self::TimedOut { .. } => "FetchTimeout",
            Self::TaskFailed { .. } => "FetchFailed",
            Self::IgnoreFailed { .. } => "IgnoreFailed",
            Self::Bucket(_) => "BucketFailed",
        }
    }
}

/// One Git source's settings.
pub struct SourceConfig {
    /// A name for logs and status.
    pub name: String,
    /// The remote.
    pub url: RedactedUrl,
    /// What to follow.
    pub reference: Reference,
    /// Shallow (default) or full history.
    pub depth: Depth,
    /// Credentials for the remote.
    pub credentials: Credentials,
    /// The cache directory (a bare repository).
    pub cache_dir: PathBuf,
    /// The largest the object database may be.
    pub max_bytes: u64,
    /// How long one fetch may take.
    pub timeout: Duration,
    /// Which commit signatures are required.
    pub signatures: SignaturePolicy,
    /// The largest file a snapshot reads.
    pub max_file_bytes: u64,
    /// Flux's exclusions (`GitRepository.spec.ignore`): when set, the snapshot hides Flux's
    /// default exclusions, what `.sourceignore` files and these gitignore-format patterns
    /// exclude ([`ignore`]); `None` hides nothing.
    pub ignore: Option<String>,
    /// When set, the source is an S3 bucket at `url` ([`bucket`]), not a Git remote.
    pub bucket: Option<bucket::BucketSource>,
}

impl SourceConfig {
    /// Settings with the defaults: shallow, no credentials, 512 MiB, 60 s, no signatures.
    #[must_use]
    pub fn new(name: &str, url: RedactedUrl, reference: Reference, cache_dir: PathBuf) -> Self {
        Self {
            name: name.to_owned(),
            url,
            reference,
            depth: Depth::Shallow,
            credentials: Credentials::none(),
            cache_dir,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: DEFAULT_TIMEOUT,
            signatures: SignaturePolicy::None,
            max_file_bytes: crate::tree::DEFAULT_MAX_FILE_BYTES,
            ignore: None,
            bucket: None,
        }
    }
}

/// The state of a source, for status and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceStatus {
    /// No fetch has finished yet.
    Pending,
    /// The last fetch succeeded.
    Ready {
        /// The commit now served.
        revision: String,
    },
    /// The last fetch failed; the last good snapshot (if any) is still served.
    Degraded {
        /// The short reason (`FetchFailed`, `RefNotFound`, `SignatureRejected`, ...).
        reason: &'static str,
        /// The full (redacted) message.
        message: String,
        /// The commit still served, if any.
        last_good: Option<String>,
    },
}

/// A Git source: its settings, the last good snapshot, and its status.
pub struct Source {
    config: Arc<SourceConfig>,
    current: Option<Snapshot>,
    status: SourceStatus,
}

impl Source {
    /// A source that has not fetched yet.
    #[must_use]
    pub fn new(config: SourceConfig) -> Self {
        Self {
            config: Arc::new(config),
            current: None,
            status: SourceStatus::Pending,
        }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// The last good snapshot, if any.
    #[must_use]
    pub fn current(&self) -> Option<&Snapshot> {
        self.current.as_ref()
    }

    /// The status after the last sync.
    #[must_use]
    pub fn status(&self) -> &SourceStatus {
        &self.status
    }

    /// Fetches and, on success, replaces the snapshot. On failure the last good snapshot is
    /// kept, the status becomes [`SourceStatus::Degraded`], and the error is returned.
    pub async fn sync(&mut self) -> Result<Snapshot, SourceError> {
        let config = Arc::clone(&self.config);
        let span = tracing::info_span!("source.fetch", source = %config.name, url = %config.url, reference = %config.reference);
        let result = fetch_snapshot(config).instrument(span.clone()).await;
        let _entered = span.enter();
        match result {
            Ok(snapshot) => {
                if self.current.as_ref().map(|s| &s.revision) != Some(&snapshot.revision) {
                    tracing::info!(revision = %snapshot.revision, ref_name = %snapshot.ref_name, "new revision");
                }
                self.status = SourceStatus::Ready {
                    revision: snapshot.revision.clone(),
                };
                self.current = Some(snapshot.clone());
                Ok(snapshot)
            }
            Err(err) => {
                let last_good = self.current.as_ref().map(|s| s.revision.clone());
                tracing::warn!(reason = err.reason(), error = %err, last_good = ?last_good, "fetch failed; keeping the last good snapshot");
                self.status = SourceStatus::Degraded {
                    reason: err.reason(),
                    message: err.to_string(),
                    last_good,
                };
                Err(err)
            }
        }
    }
}

/// Fetches and verifies one snapshot, off the async runtime, within the timeout.
pub async fn fetch_snapshot(config: Arc<SourceConfig>) -> Result<Snapshot, SourceError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let task = {
        let config = Arc::clone(&config);
        let cancel = Arc::clone(&cancel);
        tokio::task::spawn_blocking(move || fetch_snapshot_blocking(&config, cancel))
    };
    // The watchdog inside enforces the timeout; this outer bound (with some grace) covers a
    // connection that hangs where the interrupt flag is not looked at.
    let outer = config.timeout + Duration::from_secs(5);
    match tokio::time::timeout(outer, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(SourceError::TaskFailed {
            source_name: config.name.clone(),
            message: join.to_string(),
        }),
        Err(_) => {
            cancel.store(true, Ordering::Release);
            Err(SourceError::TimedOut {
                source_name: config.name.clone(),
                seconds: outer.as_secs(),
            })
        }
    }
}

/// Fetches and verifies one snapshot, blocking (for command-line use and benchmarks).
pub fn fetch_snapshot_blocking(
    config: &SourceConfig,
    cancel: Arc<AtomicBool>,
) -> Result<Snapshot, SourceError> {
    if let Some(source) = &config.bucket {
        return Ok(bucket::source_snapshot(config, source)?);
    }
    let fetched = fetch::fetch_blocking(&fetch::FetchRequest {
        url: &config.url,
        reference: &config.reference,
        depth: config.depth,
        credentials: &config.credentials,
        cache_dir: &config.cache_dir,
        max_bytes: config.max_bytes,
        timeout: config.timeout,
        cancel,
    })?;
    let local = fetched.repo.to_thread_local();
    let signer = signature::verify_commit(&local, fetched.commit, &config.signatures)?;
    let commit = snapshot::CommitInfo::read(&local, fetched.commit);
    let mut tree = GitTree::new(fetched.repo, fetched.tree)
        .into_tree()
        .with_max_file_bytes(config.max_file_bytes);
    if let Some(ignore) = &config.ignore {
        tree = ignore::flux_tree(&tree, Some(ignore)).map_err(|e| SourceError::IgnoreFailed {
            source_name: config.name.clone(),
            message: e.to_string(),
        })?;
    }
    Ok(Snapshot {
        revision: fetched.commit.to_string(),
        ref_name: fetched.ref_name,
        tree,
        signer,
        shallow: fetched.shallow,
        commit,
    })
}

/// Parses what to follow as written on a command line: a branch name, `tag:NAME`,
/// `semver:RANGE` or `commit:ID`.
pub fn parse_reference(text: &str) -> Result<Reference, refs::RefError> {
    if let Some(tag) = text.strip_prefix("tag:") {
        Reference::tag(tag)
    } else if let Some(range) = text.strip_prefix("semver:") {
        Reference::semver(range)
    } else if let Some(commit) = text.strip_prefix("commit:") {
        Reference::commit(commit)
    } else {
        Reference::branch(text.strip_prefix("branch:").unwrap_or(text))
    }
}

/// Fetches `url` once into `cache` (no credentials, default limits) and returns a line with
/// the commit, the ref and whether the result is shallow. For the hidden
/// `tether-agent fetch` command that benchmarks use.
pub fn fetch_once(
    url: &str,
    reference: &str,
    cache: &std::path::Path,
    full: bool,
) -> Result<String, String> {
    let reference = parse_reference(reference).map_err(|err| err.to_string())?;
    let mut config = SourceConfig::new("cli", RedactedUrl::new(url), reference, cache.to_owned());
    if full {
        config.depth = Depth::Full;
    }
    let snapshot = fetch_snapshot_blocking(&config, Arc::new(AtomicBool::new(false)))
        .map_err(|err| err.to_string())?;
    Ok(format!(
        "{} {} shallow={}",
        snapshot.revision, snapshot.ref_name, snapshot.shallow
    ))
}
