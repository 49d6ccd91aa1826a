//! The configuration of the agent's sources: Git repositories (or S3 buckets), their
//! credentials, signature verification and webhooks.

use super::Interval;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// One Git source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceSpec {
    /// Its name (a DNS label): `/webhook/{name}`, status and metrics use it.
    pub name: String,
    /// The remote URL.
    pub url: String,
    /// What to follow: a branch, `tag:NAME`, `semver:RANGE`, `commit:ID`.
    #[serde(default = "default_ref", rename = "ref")]
    pub reference: String,
    /// The polling interval.
    #[serde(default = "default_interval")]
    pub interval: Interval,
    /// Fetch the whole history instead of depth 1.
    #[serde(default)]
    pub full_history: bool,
    /// Credential files.
    #[serde(default)]
    pub credentials: CredentialsSpec,
    /// Commit signature verification.
    #[serde(default)]
    pub verify: Option<VerifySpec>,
    /// Webhook authentication; without it `/webhook/{name}` refuses every request.
    #[serde(default)]
    pub webhook: Option<WebhookSpec>,
    /// Flux's exclusions (gitignore format, as `GitRepository.spec.ignore`): when set, the
    /// snapshot hides Flux's default exclusions, `.sourceignore` files and these patterns.
    #[serde(default)]
    pub ignore: Option<String>,
    /// An S3 bucket instead of a Git remote (Flux's `Bucket`): `url` is then the endpoint.
    #[serde(default)]
    pub bucket: Option<BucketSpec>,
}

/// A bucket source (`sources[].bucket`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BucketSpec {
    /// The bucket.
    pub name: String,
    /// The SigV4 region (default `us-east-1`).
    #[serde(default)]
    pub region: String,
    /// Only keys under this prefix.
    #[serde(default)]
    pub prefix: String,
    /// A file holding the access key id.
    #[serde(default)]
    pub access_key_file: Option<PathBuf>,
    /// A file holding the secret access key.
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
}

fn default_ref() -> String {
    "main".into()
}
fn default_interval() -> Interval {
    Interval(Duration::from_secs(60))
}

/// Credential files of a source (each optional; mounted Secrets).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialsSpec {
    /// HTTP user name file.
    pub username: Option<PathBuf>,
    /// HTTP password file.
    pub password: Option<PathBuf>,
    /// Bearer token file.
    pub bearer_token: Option<PathBuf>,
    /// SSH private key file.
    pub ssh_private_key: Option<PathBuf>,
    /// SSH known_hosts file.
    pub ssh_known_hosts: Option<PathBuf>,
    /// Extra CA certificates (PEM) for HTTPS.
    pub ca_bundle: Option<PathBuf>,
}

/// Which commit signatures are required.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifySpec {
    /// An `allowed_signers` file: commits must carry an SSH signature by one of its keys.
    pub ssh_allowed_signers: Option<PathBuf>,
    /// Armored OpenPGP public key files: commits must be signed by one of them.
    #[serde(default)]
    pub gpg_keys: Vec<PathBuf>,
}

/// Webhook authentication of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebhookSpec {
    /// `github` (also Gitea, Forgejo), `gitlab` or `generic`.
    pub provider: WebhookProvider,
    /// The file holding the secret (HMAC key or token).
    pub secret_file: PathBuf,
    /// The signature header, for `generic`.
    #[serde(default)]
    pub header: Option<String>,
}

/// The kind of webhook sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookProvider {
    /// `X-Hub-Signature-256`.
    Github,
    /// `X-Gitlab-Token`.
    Gitlab,
    /// An HMAC-SHA256 in the header named by `header`.
    Generic,
}
