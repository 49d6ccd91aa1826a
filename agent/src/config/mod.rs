//! The agent's configuration file (YAML), read once at start and again on SIGHUP or when the
//! file changes.
//!
//! Every struct refuses unknown fields, so a typo is an error that names the field and its
//! line instead of a setting silently ignored. Durations are written `500ms`, `30s`, `5m`,
//! `1h`. Relative file paths are resolved against the config file's directory.
//!
//! ```yaml
//! listen: 0.0.0.0:8080
//! adminListen: 127.0.0.1:8081      # debug endpoints; reach it with kubectl port-forward
//! namespace: tether-system
//! sources:
//!   - name: config
//!     url: https://git.example.com/platform/config.git
//!     ref: main                    # a branch, tag:NAME, semver:RANGE or commit:ID
//!     interval: 1m
//!     credentials: {bearerToken: /etc/tether/git/token}
//!     verify: {sshAllowedSigners: /etc/tether/git/allowed_signers}
//!     webhook: {provider: github, secretFile: /etc/tether/git/webhook-secret}
//! apps:
//!   - source: config
//!     directories: [{path: "apps/*/overlays/production"}]
//!     name: "{{path[1]}}"
//!     namespace: "{{path[1]}}"
//!     createNamespace: true
//! keys: {files: [/etc/tether/keys/example.agekey]}
//! limits: {concurrency: 4, fetchTimeout: 60s}
//! ```

use crate::policy::PolicyConfig;
use crate::secrets::AllowListConfig;
use crate::sync::IgnoreRule;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The largest config file read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Errors of loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config {path}: {source}")]
    ReadFailed {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML for the schema (the message names the field and line).
    #[error("config {path}: {message}")]
    ParseFailed {
        /// The file.
        path: String,
        /// The parser's message, with the field and line.
        message: String,
    },
    /// A value parsed but is not acceptable.
    #[error("config {path}: {field}: {problem}")]
    Invalid {
        /// The file.
        path: String,
        /// The field (`sources[0].ref`).
        field: String,
        /// What is wrong.
        problem: String,
    },
}

impl ConfigError {
    /// A short, stable reason for logs and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::ReadFailed { .. } => "ConfigReadFailed",
            Self::ParseFailed { .. } | Self::Invalid { .. } => "ConfigInvalid",
        }
    }
}

/// A duration written `500ms`, `30s`, `5m` or `1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval(pub Duration);

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(Interval).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: expected a number and a unit (500ms, 30s, 5m, 1h)"
            ))
        })
    }
}

/// Parses `500ms`, `30s`, `5m`, `1h`, `1h30m`.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let split = rest.find(|c: char| !c.is_ascii_digit())?;
        if split == 0 {
            return None;
        }
        let number: u64 = rest[..split].parse().ok()?;
        let after = &rest[split..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let part = match &after[..unit_len] {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = &after[unit_len..];
    }
    Some(total)
}

fn default_inline_refresh() -> Interval {
    Interval(Duration::from_secs(3600))
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}
fn default_namespace() -> String {
    "tether-system".into()
}
fn default_cache_dir() -> PathBuf {
    PathBuf::from("/var/cache/tether")
}
fn yes() -> bool {
    true
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// The HTTP listen address (health, metrics, webhooks, API).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The admin listen address: the debug endpoints that change the agent (the log level).
    /// Loopback by default, reached with `kubectl port-forward`; never served on `listen`.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// The agent's namespace: inventories, status, the Lease and the key Secret live there.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Where Git caches live.
    #[serde(default = "default_cache_dir")]
    pub cache_dir: PathBuf,
    /// Logging.
    #[serde(default)]
    pub log: LogConfig,
    /// Leader election.
    #[serde(default)]
    pub leader_election: LeaderElectionConfig,
    /// The Git sources.
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    /// The app generators.
    #[serde(default)]
    pub apps: Vec<AppGenerator>,
    /// Apps read from the Argo CD or Flux objects of a source, every round.
    #[serde(default)]
    pub import: Vec<crate::migrate::live::ImportSpec>,
    /// The agent's age keys.
    #[serde(default)]
    pub keys: KeysConfig,
    /// Trusted `ClusterSecretStore` manifests (vault, aws), available to every app.
    #[serde(default)]
    pub secret_stores: Vec<serde_json::Value>,
    /// The stores `ref+vault://` and `ref+awssecrets://` references read from.
    #[serde(default)]
    pub inline_stores: Vec<serde_json::Value>,
    /// How long a value read by an inline reference is used before it is read again (default
    /// 1h, at least 1s).
    #[serde(default = "default_inline_refresh")]
    pub inline_refresh: Interval,
    /// The default SOPS key allow-list (KMS, Transit, ...) of apps without their own.
    #[serde(default)]
    pub key_allow: Option<crate::secrets::kms::KeyAllowConfig>,
    /// The default secret allow-list of apps without their own.
    #[serde(default)]
    pub secret_allow: Option<AllowListConfig>,
    /// Policies.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Bounds on work.
    #[serde(default)]
    pub limits: Limits,
    /// Notifications: providers and rules.
    #[serde(default)]
    pub notifications: crate::notify::NotificationsConfig,
    /// Sync windows (change freezes): when new revisions may be applied.
    #[serde(default)]
    pub sync_windows: Vec<crate::rollout::window::WindowConfig>,
    /// Waves: the order in which apps take a new revision.
    #[serde(default)]
    pub waves: crate::rollout::wave::WavesConfig,
    /// Image automation: registries scanned, tag policies, Git updates.
    #[serde(default)]
    pub images: crate::images::config::ImagesConfig,
    /// The web UI on `listen`: access (tokens, a proxy's headers, anonymous reads).
    #[serde(default)]
    pub ui: crate::server::ui::UiConfig,
    /// Credentials, CA bundles and plain HTTP for Helm repositories and OCI registries.
    #[serde(default)]
    pub helm_repositories: Vec<helm::HelmRepositoryConfig>,
    /// How many replicas run (the Deployment's `replicas`). Above 1, apps are sharded across
    /// the live replicas (each holds a member Lease; see `daemon::shard`); 1, the default,
    /// keeps one syncing leader and standbys.
    #[serde(default = "one_replica")]
    pub replicas: u32,
}

fn one_replica() -> u32 {
    1
}

/// Log output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogConfig {
    /// `json` (default) or `text`.
    #[serde(default)]
    pub format: LogFormat,
    /// The filter (`info`, `tether_agent=debug`); changeable at run time.
    #[serde(default = "default_level")]
    pub level: String,
}

fn default_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: default_level(),
        }
    }
}

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

/// Leader election on a `coordination.k8s.io/v1` Lease.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LeaderElectionConfig {
    /// On by default; off only for a single replica.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The Lease's name (in the agent's namespace).
    #[serde(default = "default_lease_name")]
    pub lease_name: String,
    /// How long a lease lasts without renewal: a standby takes over within it.
    #[serde(default = "default_lease_duration")]
    pub lease_duration: Interval,
    /// How long before expiry the holder renews.
    #[serde(default = "default_renew_grace")]
    pub renew_grace: Interval,
}

fn default_lease_name() -> String {
    "tether-leader".into()
}
fn default_lease_duration() -> Interval {
    Interval(Duration::from_secs(15))
}
fn default_renew_grace() -> Interval {
    Interval(Duration::from_secs(5))
}

impl Default for LeaderElectionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            lease_name: default_lease_name(),
            lease_duration: default_lease_duration(),
            renew_grace: default_renew_grace(),
        }
    }
}

/// One app generator: directories of a source that become apps, with their settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppGenerator {
    /// The source's name (the only source when omitted).
    #[serde(default)]
    pub source: Option<String>,
    /// Directory globs (`apps/*/overlays/production`), with exclusions.
    pub directories: Vec<crate::source::discovery::DirectoryRule>,
    /// The app name template (default `{{path.basename}}`).
    #[serde(default)]
    pub name: Option<String>,
    /// The target namespace template.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Create the target namespace when missing.
    #[serde(default)]
    pub create_namespace: bool,
    /// Delete objects that left Git (with protections).
    #[serde(default = "yes")]
    pub prune: bool,
    /// Revert drift at once.
    #[serde(default = "yes")]
    pub self_heal: bool,
    /// Fields left out of drift detection.
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
    /// The policy enforcement of these apps (default: the global one).
    #[serde(default)]
    pub policy: Option<crate::policy::Enforcement>,
    /// Which remote SOPS master keys these apps' files may use (default: the agent's).
    #[serde(default)]
    pub key_allow: Option<crate::secrets::kms::KeyAllowConfig>,
    /// Which store paths these apps may read (default: their namespace's).
    #[serde(default)]
    pub secret_allow: Option<AllowListConfig>,
    /// The largest share (percent) of an app's objects one sync may prune.
    #[serde(default)]
    pub max_prune_percent: Option<u8>,
    /// Gates after apply and automatic rollback (progressive delivery).
    #[serde(default)]
    pub rollout: Option<crate::rollout::RolloutConfig>,
    /// Labels of these apps (wave steps select apps by them).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The apps' directories hold Helm charts, rendered with these settings.
    #[serde(default)]
    pub helm: Option<helm::HelmAppConfig>,
    /// Kustomize transforms over the apps' render (patches, images, name prefix, ...).
    #[serde(default)]
    pub kustomize: Option<crate::migrate::overlay::Overlay>,
    /// Variables substituted in the apps' render, as Flux's `postBuild`.
    #[serde(default)]
    pub post_build: Option<crate::migrate::postbuild::PostBuild>,
    /// Apps that must be synced and healthy before these apps sync.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// The apps are neither synced nor pruned; their objects stay as they are.
    #[serde(default)]
    pub suspend: bool,
    /// Which applied objects gate the apps' health, and for how long (Flux's `wait`,
    /// `healthChecks`, `timeout`).
    #[serde(default)]
    pub health: Option<crate::migrate::health::HealthConfig>,
}

/// The agent's age keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeysConfig {
    /// Identity files (a mounted Secret).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Keep generated keys in this Secret of the agent's namespace (generated when missing,
    /// renewed on `renewPeriod`); none: only `files`.
    #[serde(default)]
    pub secret_name: Option<String>,
    /// How often a new key is added (`0s`: never).
    #[serde(default = "default_renew")]
    pub renew_period: Interval,
    /// Armoured PGP secret keys for SOPS files encrypted with PGP.
    #[serde(default)]
    pub pgp_files: Vec<PathBuf>,
    /// Credentials for SOPS files encrypted with AWS KMS, Transit, GCP KMS or Azure Key Vault.
    #[serde(default)]
    pub kms: crate::secrets::kms::KmsConfig,
    /// The Sealed Secrets controller's keys, to unseal Bitnami SealedSecrets (none: those are
    /// refused).
    #[serde(default)]
    pub bitnami: Option<BitnamiKeysConfig>,
}

fn default_renew() -> Interval {
    Interval(crate::secrets::keys::DEFAULT_RENEW_PERIOD)
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            files: Vec::new(),
            secret_name: None,
            renew_period: default_renew(),
            pgp_files: Vec::new(),
            kms: crate::secrets::kms::KmsConfig::default(),
            bitnami: None,
        }
    }
}

/// Bounds on the agent's work.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Limits {
    /// Apps synced at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The largest object database of a source, in bytes.
    #[serde(default = "default_repo_bytes")]
    pub max_repository_bytes: u64,
    /// The largest file read from a snapshot, in bytes.
    #[serde(default = "default_file_bytes")]
    pub max_file_bytes: u64,
    /// How long one fetch may take.
    #[serde(default = "default_fetch_timeout")]
    pub fetch_timeout: Interval,
    /// How long applied objects may take to become healthy (`0s`: assess once).
    #[serde(default = "default_health_timeout")]
    pub health_timeout: Interval,
    /// The largest share (percent) of an app's objects one sync may prune.
    #[serde(default = "default_prune_percent")]
    pub max_prune_percent: u8,
    /// How long a shutdown waits for the sync in flight.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: Interval,
    /// How long a pre-sync hook Job may run.
    #[serde(default = "default_hook_timeout")]
    pub hook_timeout: Interval,
    /// How long one app's render may take.
    #[serde(default = "default_render_timeout")]
    pub render_timeout: Interval,
    /// The most objects one app may render to (and documents one file may hold); raise it
    /// for big apps (default 10000).
    #[serde(default = "default_max_objects")]
    pub max_objects: usize,
}

fn default_max_objects() -> usize {
    10_000
}

fn default_concurrency() -> usize {
    4
}
fn default_repo_bytes() -> u64 {
    crate::source::DEFAULT_MAX_BYTES
}
fn default_file_bytes() -> u64 {
    crate::tree::DEFAULT_MAX_FILE_BYTES
}
fn default_fetch_timeout() -> Interval {
    Interval(crate::source::DEFAULT_TIMEOUT)
}
fn default_health_timeout() -> Interval {
    Interval(Duration::from_secs(120))
}
fn default_prune_percent() -> u8 {
    50
}
fn default_shutdown_grace() -> Interval {
    Interval(Duration::from_secs(25))
}
fn default_hook_timeout() -> Interval {
    Interval(Duration::from_secs(600))
}
fn default_render_timeout() -> Interval {
    Interval(Duration::from_secs(30))
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            max_repository_bytes: default_repo_bytes(),
            max_file_bytes: default_file_bytes(),
            fetch_timeout: default_fetch_timeout(),
            health_timeout: default_health_timeout(),
            max_prune_percent: default_prune_percent(),
            shutdown_grace: default_shutdown_grace(),
            hook_timeout: default_hook_timeout(),
            render_timeout: default_render_timeout(),
            max_objects: default_max_objects(),
        }
    }
}

mod bitnami;
pub mod helm;
mod load;
mod source;
pub use source::{
    BucketSpec, CredentialsSpec, SourceSpec, VerifySpec, WebhookProvider, WebhookSpec,
};

pub use bitnami::{BitnamiKeysConfig, DEFAULT_CONTROLLER_NAMESPACE};
pub use load::is_dns_label;
