//! The master keys of SOPS files besides the agent's age keys: PGP (secret keys from mounted
//! files, used through GnuPG at `/usr/bin/gpg`), AWS KMS (the AWS SDK: the default chain,
//! a credentials file, or IRSA-style web identity), Vault / OpenBao Transit (a token file or
//! Kubernetes auth), GCP KMS and Azure Key Vault (decrypt only, REST with a token file).
//!
//! Credentials come only from the agent's config (`keys:` in the config file); which remote
//! keys an app's files may name is its [`KeyAllowList`], checked before any request, so a
//! tenant cannot use another tenant's KMS key by naming it. Tokens are sent only to the
//! configured Transit address and to Azure vaults on `*.vault.azure.net` (or the configured
//! ones), never to an address a file names.
//!
//! Calls are blocking (the SOPS library is synchronous) and run on a short-lived thread of
//! their own, each bounded by [`TIMEOUT`].

mod allow;
mod aws;
mod http;
mod pgp;
#[cfg(test)]
mod tests;

pub use allow::{KeyAllowConfig, KeyAllowList};

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use tether_seal::sops::keys::UnwrapError;
use tether_seal::sops::{Identities, KeyKind, KeyRef, KeyService, MasterKey};
use zeroize::Zeroizing;

/// The longest one remote call may take.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// AWS KMS credentials.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AwsKmsConfig {
    /// The endpoint (for tests and private endpoints); by default AWS's.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// A shared credentials file (`[default]` or `profile`).
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
    /// The profile of `credentialsFile`.
    #[serde(default)]
    pub profile: Option<String>,
    /// With `webIdentityTokenFile`: the role assumed with the projected token (IRSA).
    #[serde(default)]
    pub role_arn: Option<String>,
    /// A projected service account token for web identity.
    #[serde(default)]
    pub web_identity_token_file: Option<PathBuf>,
}

/// Kubernetes auth for OpenBao / Vault.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KubernetesAuth {
    /// The role to log in as.
    pub role: String,
    /// The auth mount (default `kubernetes`).
    #[serde(default = "default_k8s_mount")]
    pub mount_path: String,
    /// The service account token (default the pod's).
    #[serde(default = "default_sa_token")]
    pub token_file: PathBuf,
}

fn default_k8s_mount() -> String {
    "kubernetes".into()
}

fn default_sa_token() -> PathBuf {
    PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token")
}

/// Vault / OpenBao Transit credentials.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransitConfig {
    /// The server; files must name this address (the token is sent nowhere else).
    pub address: String,
    /// A file holding a token.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Kubernetes auth instead of a token file.
    #[serde(default)]
    pub kubernetes: Option<KubernetesAuth>,
}

/// A bearer token for a REST key service (GCP KMS, Azure Key Vault).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenConfig {
    /// A file holding an OAuth access token.
    pub token_file: PathBuf,
    /// The API endpoint (GCP: default `https://cloudkms.googleapis.com`; Azure: the vault
    /// URLs a token may be sent to, comma separated, default any `https://*.vault.azure.net`).
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// The agent's credentials for remote SOPS master keys (`keys.kms` in the config).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KmsConfig {
    /// AWS KMS.
    #[serde(default)]
    pub aws: Option<AwsKmsConfig>,
    /// Vault / OpenBao Transit.
    #[serde(default)]
    pub vault: Option<TransitConfig>,
    /// GCP KMS (decrypt only).
    #[serde(default)]
    pub gcp: Option<TokenConfig>,
    /// Azure Key Vault (decrypt only).
    #[serde(default)]
    pub azure: Option<TokenConfig>,
}

/// The agent's remote key services and PGP keys, built from its config.
#[derive(Default)]
pub struct RemoteKeys {
    config: KmsConfig,
    pgp: Option<pgp::GpgHome>,
    transit_token: std::sync::Mutex<Option<Zeroizing<String>>>,
}

impl RemoteKeys {
    /// Services configured by `config`, with the PGP secret keys of `pgp_files` imported into
    /// a private GnuPG home. `Err` names the file that failed.
    pub fn new(config: &KmsConfig, pgp_files: &[PathBuf]) -> Result<Self, String> {
        let pgp = if pgp_files.is_empty() {
            None
        } else {
            Some(pgp::GpgHome::with_keys(pgp_files)?)
        };
        Ok(RemoteKeys {
            config: config.clone(),
            pgp,
            transit_token: std::sync::Mutex::new(None),
        })
    }

    fn unwrap_remote(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        let failed = |r: String| UnwrapError::Failed(r);
        match &key.key {
            KeyRef::Pgp(_) => match &self.pgp {
                Some(home) => home.decrypt(&key.enc).map_err(failed),
                None => Err(UnwrapError::NotHandled),
            },
            KeyRef::Kms(k) => match &self.config.aws {
                Some(aws) => off_thread(|| aws::decrypt(aws, k, &key.enc)).map_err(failed),
                None => Err(UnwrapError::NotHandled),
            },
            KeyRef::HcVault(v) => match &self.config.vault {
                Some(t) => {
                    off_thread(|| http::transit_decrypt(t, &self.transit_token, v, &key.enc))
                        .map_err(failed)
                }
                None => Err(UnwrapError::NotHandled),
            },
            KeyRef::GcpKms(id) => match &self.config.gcp {
                Some(t) => off_thread(|| http::gcp_decrypt(t, id, &key.enc)).map_err(failed),
                None => Err(UnwrapError::NotHandled),
            },
            KeyRef::AzureKv(a) => match &self.config.azure {
                Some(t) => off_thread(|| http::azure_decrypt(t, a, &key.enc)).map_err(failed),
                None => Err(UnwrapError::NotHandled),
            },
            KeyRef::Age(_) | KeyRef::Other(..) => Err(UnwrapError::NotHandled),
        }
    }
}

/// Runs a blocking call on a thread of its own, so that neither an async runtime's worker
/// nor a blocking HTTP client inside one is a problem.
fn off_thread<T: Send>(f: impl FnOnce() -> Result<T, String> + Send) -> Result<T, String> {
    let run = || {
        std::thread::scope(|s| {
            s.spawn(f)
                .join()
                .unwrap_or_else(|_| Err("the key service call failed".to_owned()))
        })
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

/// The key service of one app: the agent's age identities, its PGP keys, and the remote
/// keys the app's [`KeyAllowList`] lets it use.
pub struct AgentKeys<'a> {
    /// The agent's age identities.
    pub age: &'a Identities,
    /// PGP and remote services (none configured: `None`).
    pub remote: Option<&'a RemoteKeys>,
    /// The app's key allow-list.
    pub allow: &'a KeyAllowList,
}

impl KeyService for AgentKeys<'_> {
    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        if key.kind() == KeyKind::Age {
            return self.age.unwrap(key);
        }
        self.allow
            .check(key.kind(), &key.id())
            .map_err(UnwrapError::Failed)?;
        match self.remote {
            Some(r) => r.unwrap_remote(key),
            None => Err(UnwrapError::NotHandled),
        }
    }

    fn kinds(&self) -> Vec<KeyKind> {
        let mut kinds = vec![KeyKind::Age];
        if let Some(r) = self.remote {
            if r.pgp.is_some() {
                kinds.push(KeyKind::Pgp);
            }
            let c = &r.config;
            for (set, kind) in [
                (c.aws.is_some(), KeyKind::Kms),
                (c.vault.is_some(), KeyKind::HcVault),
                (c.gcp.is_some(), KeyKind::GcpKms),
                (c.azure.is_some(), KeyKind::AzureKv),
            ] {
                if set {
                    kinds.push(kind);
                }
            }
        }
        kinds
    }
}
