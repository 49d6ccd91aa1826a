//! The agent's age keys: [`KeyRing`] (the identities SOPS objects and SealedSecrets are
//! decrypted with, newest first, plus the PGP keys and KMS credentials of [`super::kms`]) and [`KeyManager`] (the key Secret in the agent's namespace:
//! generation on first start, renewal on a period with old keys kept for decryption, and the
//! newest recipient published in ConfigMap `tether-recipient`). Keys from mounted identity
//! files are added with [`KeyRing::add_file`].
//!
//! The key Secret holds one identity file per key under `age-<unix seconds>.txt` (the time it
//! was made); other entries are read too, as keys of unknown age. Writes use the
//! resourceVersion read (optimistic concurrency), so two agents cannot both renew.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use secrecy::ExposeSecret as _;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tether_seal::keys::{Identity, Recipient};
use tether_seal::sops::Identities;
use zeroize::{Zeroize as _, Zeroizing};

/// The default name of the key Secret.
pub const KEY_SECRET: &str = "tether-keys";
/// The ConfigMap the newest recipient is published in.
pub const RECIPIENT_CONFIGMAP: &str = "tether-recipient";
/// The default renewal period.
pub const DEFAULT_RENEW_PERIOD: Duration = Duration::from_secs(30 * 24 * 3600);
/// The field manager of the agent's writes.
const FIELD_MANAGER: &str = "tether";

/// What went wrong with the agent's keys. Names the object or file, never a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key Secret could not be read.
    #[error("reading the key Secret {namespace}/{name}: {source}")]
    ReadKeySecretFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The key Secret could not be written.
    #[error("writing the key Secret {namespace}/{name}: {source}")]
    WriteKeySecretFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The recipient ConfigMap could not be written.
    #[error("publishing the recipient in ConfigMap {namespace}/{name}: {source}")]
    PublishRecipientFailed {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A key could not be parsed.
    #[error("{source_name}: {source}")]
    InvalidKey {
        /// The file or Secret entry.
        source_name: String,
        /// The cause.
        #[source]
        source: tether_seal::keys::Error,
    },
    /// An SSH private key file cannot be used (passphrase-protected, unsupported type).
    #[error("{path}: {reason}")]
    SshKeyInvalid {
        /// The file.
        path: String,
        /// Why (names no key material).
        reason: String,
    },
    /// The PGP keys or KMS credentials of the config could not be set up.
    #[error("keys: {reason}")]
    RemoteKeysFailed {
        /// What failed (names the file or field).
        reason: String,
    },
    /// The Sealed Secrets controller's keys could not be loaded.
    #[error(transparent)]
    BitnamiKeysFailed(#[from] super::bitnami::BitnamiKeyError),
    /// A key file could not be read.
    #[error("{path}: {source}")]
    ReadKeyFileFailed {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: tether_seal::keys::Error,
    },
}

/// The agent's identities, newest first, for SealedSecrets and SOPS alike.
#[derive(Default)]
pub struct KeyRing {
    identities: Vec<Identity>,
    sops: Identities,
    recipients: Vec<Recipient>,
    remote: Option<super::kms::RemoteKeys>,
    bitnami: super::bitnami::BitnamiKeys,
}

impl KeyRing {
    /// A ring with no key.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an identity (after the ones already held: they count as newer).
    pub fn push(&mut self, identity: Identity) -> Result<(), KeyError> {
        let text = identity.to_secret_string();
        self.sops
            .add_text(text.expose_secret(), "agent key")
            .map_err(|_| KeyError::InvalidKey {
                source_name: "agent key".into(),
                source: tether_seal::keys::Error::NoIdentity {
                    source_name: "agent key".into(),
                },
            })?;
        self.recipients.push(identity.recipient());
        self.identities.push(identity);
        Ok(())
    }

    /// Adds every identity of an identity file's text (`AGE-SECRET-KEY-1…` lines).
    pub fn add_text(&mut self, text: &str, source_name: &str) -> Result<(), KeyError> {
        let parsed = tether_seal::keys::parse_identities(text, source_name).map_err(|source| {
            KeyError::InvalidKey {
                source_name: source_name.to_owned(),
                source,
            }
        })?;
        for identity in parsed {
            self.push(identity)?;
        }
        Ok(())
    }

    /// Adds the identities of a mounted key file: age identities (for SOPS and SealedSecrets),
    /// or an unencrypted SSH private key (`ssh-ed25519`, `ssh-rsa`; for SOPS only).
    pub fn add_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let head = std::fs::File::open(path).and_then(|f| {
            use std::io::Read as _;
            let mut buf = [0u8; 11];
            let n = f.take(11).read(&mut buf)?;
            Ok(buf[..n].to_vec())
        });
        if head.as_deref().is_ok_and(|h| h.starts_with(b"-----BEGIN")) {
            return self
                .sops
                .add_file(path)
                .map_err(|e| KeyError::SshKeyInvalid {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                });
        }
        let parsed = tether_seal::keys::read_identity_file(path).map_err(|source| {
            KeyError::ReadKeyFileFailed {
                path: path.display().to_string(),
                source,
            }
        })?;
        for identity in parsed {
            self.push(identity)?;
        }
        Ok(())
    }

    /// Sets up the PGP keys and KMS credentials of the config (`keys.pgpFiles`, `keys.kms`).
    pub fn set_remote(&mut self, config: &crate::config::KeysConfig) -> Result<(), KeyError> {
        let kms = &config.kms;
        if config.pgp_files.is_empty()
            && kms.aws.is_none()
            && kms.vault.is_none()
            && kms.gcp.is_none()
            && kms.azure.is_none()
        {
            self.remote = None;
            return Ok(());
        }
        let remote = super::kms::RemoteKeys::new(kms, &config.pgp_files)
            .map_err(|reason| KeyError::RemoteKeysFailed { reason })?;
        self.remote = Some(remote);
        Ok(())
    }

    /// The PGP keys and KMS credentials, when configured.
    pub(crate) fn remote(&self) -> Option<&super::kms::RemoteKeys> {
        self.remote.as_ref()
    }

    /// Whether the ring can try to decrypt SOPS files (an age or SSH identity, or PGP/KMS
    /// keys configured).
    #[must_use]
    pub fn has_sops_keys(&self) -> bool {
        !self.sops.is_empty() || self.remote.is_some()
    }

    /// Whether the ring holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// How many keys the ring holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// The newest recipient (what developers seal for).
    #[must_use]
    pub fn newest_recipient(&self) -> Option<&Recipient> {
        self.recipients.first()
    }

    /// Every recipient, newest first.
    #[must_use]
    pub fn recipients(&self) -> &[Recipient] {
        &self.recipients
    }

    /// The identities, for unsealing.
    pub(crate) fn identities(&self) -> &[Identity] {
        &self.identities
    }

    /// Sets the Sealed Secrets controller's keys (Bitnami SealedSecrets).
    pub fn set_bitnami(&mut self, keys: super::bitnami::BitnamiKeys) {
        self.bitnami = keys;
    }

    /// The Sealed Secrets controller's keys.
    #[must_use]
    pub fn bitnami(&self) -> &super::bitnami::BitnamiKeys {
        &self.bitnami
    }

    /// The identities, for SOPS.
    pub(crate) fn sops_identities(&self) -> &Identities {
        &self.sops
    }
}

/// What [`KeyManager::ensure`] did.
pub struct KeyStatus {
    /// The keys, newest first.
    pub ring: KeyRing,
    /// A first key was generated.
    pub generated: bool,
    /// A new key was added because the newest one reached the renewal period.
    pub renewed: bool,
}

/// Keeps the agent's keys in a Secret of its namespace.
pub struct KeyManager {
    client: kube::Client,
    namespace: String,
    secret_name: String,
    renew_period: Duration,
}

fn key_entry_name(created: SystemTime) -> String {
    let seconds = created
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("age-{seconds}.txt")
}

fn key_entry_time(name: &str) -> u64 {
    name.strip_prefix("age-")
        .and_then(|r| r.strip_suffix(".txt"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl KeyManager {
    /// Keys in Secret [`KEY_SECRET`] of `namespace`, renewed every
    /// [`DEFAULT_RENEW_PERIOD`].
    #[must_use]
    pub fn new(client: kube::Client, namespace: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_owned(),
            secret_name: KEY_SECRET.to_owned(),
            renew_period: DEFAULT_RENEW_PERIOD,
        }
    }

    /// Sets the renewal period (`Duration::ZERO` disables renewal).
    #[must_use]
    pub fn with_renew_period(mut self, period: Duration) -> Self {
        self.renew_period = period;
        self
    }

    /// Sets the name of the key Secret.
    #[must_use]
    pub fn with_secret_name(mut self, name: &str) -> Self {
        self.secret_name = name.to_owned();
        self
    }

    fn read_error(&self, source: kube::Error) -> KeyError {
        KeyError::ReadKeySecretFailed {
            namespace: self.namespace.clone(),
            name: self.secret_name.clone(),
            source,
        }
    }

    fn write_error(&self, source: kube::Error) -> KeyError {
        KeyError::WriteKeySecretFailed {
            namespace: self.namespace.clone(),
            name: self.secret_name.clone(),
            source,
        }
    }

    /// Loads the keys; generates the first one when the Secret holds none; adds a new one
    /// when the newest is older than the renewal period at `now`; publishes the newest
    /// recipient. Call it at start and then periodically (for example daily).
    ///
    /// Replicas starting together race to create the Secret: the one whose write is refused
    /// with 409 (created or changed by another since it was read) reads it again and uses
    /// the keys it holds.
    pub async fn ensure(&self, now: SystemTime) -> Result<KeyStatus, KeyError> {
        match self.ensure_once(now).await {
            Err(KeyError::WriteKeySecretFailed {
                source: kube::Error::Api(status),
                ..
            }) if status.code == 409 => {
                tracing::info!(
                    namespace = %self.namespace,
                    secret = %self.secret_name,
                    "the key Secret was written by another replica meanwhile; reading it again"
                );
                self.ensure_once(now).await
            }
            other => other,
        }
    }

    async fn ensure_once(&self, now: SystemTime) -> Result<KeyStatus, KeyError> {
        let api: kube::Api<Secret> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        let existing = api
            .get_opt(&self.secret_name)
            .await
            .map_err(|e| self.read_error(e))?;
        let mut entries: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
        let mut resource_version = None;
        let found = existing.is_some();
        if let Some(mut secret) = existing {
            resource_version = secret.metadata.resource_version.clone();
            if let Some(data) = secret.data.as_mut() {
                for (name, value) in data.iter_mut() {
                    let text = Zeroizing::new(String::from_utf8_lossy(&value.0).into_owned());
                    value.0.zeroize();
                    entries.insert(name.clone(), text);
                }
            }
        }
        let newest = entries.keys().map(|k| key_entry_time(k)).max();
        let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let generated = entries.is_empty();
        let renewed = !generated
            && !self.renew_period.is_zero()
            && newest.is_some_and(|t| now_s >= t.saturating_add(self.renew_period.as_secs()));
        if generated || renewed {
            let identity = Identity::generate();
            let text = identity.identity_file_text(now);
            entries.insert(
                key_entry_name(now),
                Zeroizing::new(text.expose_secret().to_owned()),
            );
            self.write(&api, &entries, found, resource_version).await?;
            tracing::info!(
                namespace = %self.namespace,
                secret = %self.secret_name,
                recipient = %identity.recipient(),
                keys = entries.len(),
                renewed,
                "generated a new agent key"
            );
        }
        // Newest first: by time in the entry name, descending.
        let mut ordered: Vec<(&String, &Zeroizing<String>)> = entries.iter().collect();
        ordered.sort_by_key(|(name, _)| std::cmp::Reverse(key_entry_time(name)));
        let mut ring = KeyRing::new();
        for (name, text) in ordered {
            ring.add_text(
                text,
                &format!("Secret {}/{} key {name}", self.namespace, self.secret_name),
            )?;
        }
        if let Some(recipient) = ring.newest_recipient() {
            self.publish(recipient).await?;
        }
        Ok(KeyStatus {
            ring,
            generated,
            renewed,
        })
    }

    async fn write(
        &self,
        api: &kube::Api<Secret>,
        entries: &BTreeMap<String, Zeroizing<String>>,
        exists: bool,
        resource_version: Option<String>,
    ) -> Result<(), KeyError> {
        let mut secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(self.secret_name.clone()),
                namespace: Some(self.namespace.clone()),
                resource_version,
                labels: Some(BTreeMap::from([(
                    "app.kubernetes.io/managed-by".to_owned(),
                    "tether".to_owned(),
                )])),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            data: Some(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        };
        let result = if exists {
            api.replace(&self.secret_name, &PostParams::default(), &secret)
                .await
                .map(|_| ())
        } else {
            api.create(&PostParams::default(), &secret)
                .await
                .map(|_| ())
        };
        if let Some(data) = secret.data.as_mut() {
            data.values_mut().for_each(|v| v.0.zeroize());
        }
        result.map_err(|e| self.write_error(e))
    }

    async fn publish(&self, recipient: &Recipient) -> Result<(), KeyError> {
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(self.client.clone(), &self.namespace);
        let body = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": RECIPIENT_CONFIGMAP,
                "namespace": self.namespace,
                "labels": {"app.kubernetes.io/managed-by": "tether"},
            },
            "data": {"recipient": recipient.to_string()},
        });
        api.patch(
            RECIPIENT_CONFIGMAP,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map(|_| ())
        .map_err(|source| KeyError::PublishRecipientFailed {
            namespace: self.namespace.clone(),
            name: RECIPIENT_CONFIGMAP.to_owned(),
            source,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_carry_the_creation_time() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(key_entry_name(t), "age-1700000000.txt");
        assert_eq!(key_entry_time("age-1700000000.txt"), 1_700_000_000);
        assert_eq!(key_entry_time("imported.txt"), 0);
    }

    #[test]
    fn a_ring_takes_identity_files_and_keeps_order() {
        let a = Identity::generate();
        let b = Identity::generate();
        let mut ring = KeyRing::new();
        ring.add_text(a.identity_file_text(SystemTime::now()).expose_secret(), "a")
            .unwrap();
        ring.push(b).unwrap();
        assert_eq!(ring.len(), 2);
        assert_eq!(ring.newest_recipient().unwrap(), &a.recipient());
        assert!(ring.add_text("not a key", "bad").is_err());
    }
}
