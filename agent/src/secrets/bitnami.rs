//! Bitnami SealedSecrets (`bitnami.com/v1alpha1`) in Git, unsealed at apply time with the
//! Sealed Secrets controller's own keys, so a repository sealed with `kubeseal` works as it is.
//!
//! [`BitnamiKeys`] holds the controller's private keys: every Secret labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key` in its namespace (newest first; the
//! controller adds one every 30 days and old SealedSecrets keep using old ones) and PEM files
//! (`keys.bitnami` in the config). [`unseal`] turns one SealedSecret into the Secret to apply
//! (as the controller does: the scope from the SealedSecret's annotations, `spec.template`
//! honoured); the SealedSecret itself is not applied, so neither the controller nor its CRD is
//! needed. The newest key's certificate is published at `GET /api/v1/bitnami-cert` for
//! `tether-seal kubeseal --cert`.

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};
use tether_seal::bitnami::{self, BitnamiSealedSecret, PrivateKey};
use zeroize::Zeroizing;

use super::SecretsError;
use super::object::{SecretObject, SecretOrigin};
use crate::config::BitnamiKeysConfig;

/// Why the controller's keys could not be loaded. Names the Secret or file, never a key.
#[derive(Debug, thiserror::Error)]
pub enum BitnamiKeyError {
    /// The key Secrets could not be listed.
    #[error("listing the Sealed Secrets key Secrets in namespace {namespace}: {source}")]
    ListKeySecretsFailed {
        /// The controller's namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A key file could not be read.
    #[error("reading the Sealed Secrets key file {path}: {source}")]
    ReadKeyFileFailed {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key could not be parsed.
    #[error(transparent)]
    InvalidKey(#[from] bitnami::KeyError),
}

/// One reading of the controller's keys, newest first, and the newest one's certificate.
#[derive(Default)]
struct KeySet {
    keys: Vec<PrivateKey>,
    cert_pem: Option<String>,
}

impl KeySet {
    /// Adds the private keys of a PEM text (after those held: they count as older), and
    /// `cert_pem` as the published certificate when none is held yet.
    fn add_pem(
        &mut self,
        key_pem: &str,
        cert_pem: Option<&str>,
        source_name: &str,
    ) -> Result<(), BitnamiKeyError> {
        let keys = PrivateKey::from_pem(key_pem, source_name)?;
        if self.cert_pem.is_none() {
            self.cert_pem = Some(match cert_pem {
                Some(cert) => cert.to_owned(),
                None => keys
                    .first()
                    .map(|k| k.public_key().to_pem())
                    .unwrap_or_default(),
            });
        }
        self.keys.extend(keys);
        Ok(())
    }

    /// Adds the keys of a PEM file.
    fn add_file(&mut self, path: &Path) -> Result<(), BitnamiKeyError> {
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|source| BitnamiKeyError::ReadKeyFileFailed {
                path: path.display().to_string(),
                source,
            })?;
        self.add_pem(&text, None, &path.display().to_string())
    }

    /// Reads what `config` names: the key Secrets of the cluster (newest first), then files.
    async fn read(
        config: &BitnamiKeysConfig,
        client: &kube::Client,
    ) -> Result<Self, BitnamiKeyError> {
        let mut out = Self::default();
        if config.from_cluster {
            let api: kube::Api<Secret> = kube::Api::namespaced(client.clone(), &config.namespace);
            let list = api
                .list(&ListParams::default().labels(bitnami::KEY_LABEL))
                .await
                .map_err(|source| BitnamiKeyError::ListKeySecretsFailed {
                    namespace: config.namespace.clone(),
                    source,
                })?;
            let mut secrets = list.items;
            newest_first(&mut secrets);
            for secret in secrets {
                out.add_secret(secret, &config.namespace)?;
            }
        }
        for file in &config.files {
            out.add_file(file)?;
        }
        tracing::info!(keys = out.keys.len(), namespace = %config.namespace, "loaded the Sealed Secrets controller's keys");
        Ok(out)
    }

    fn add_secret(&mut self, secret: Secret, namespace: &str) -> Result<(), BitnamiKeyError> {
        let name = format!(
            "Secret {namespace}/{}: tls.key",
            secret.metadata.name.as_deref().unwrap_or("")
        );
        let mut data = secret.data.unwrap_or_default();
        let key = data.remove("tls.key").map(|b| Zeroizing::new(b.0));
        let cert = data
            .remove("tls.crt")
            .and_then(|b| String::from_utf8(b.0).ok());
        let Some(key) = key else {
            tracing::warn!(secret = %name, "a Sealed Secrets key Secret without tls.key is skipped");
            return Ok(());
        };
        let text = std::str::from_utf8(&key).map_err(|_| bitnami::KeyError::ReadPemFailed {
            source_name: name.clone(),
            reason: "is not PEM text".into(),
        })?;
        self.add_pem(text, cert.as_deref(), &name)
    }
}

/// How soon after a reading the cluster's key Secrets may be read again, when a value opens
/// with none of the keys held (the controller may have added a key since).
const REFRESH_AFTER: Duration = Duration::from_secs(10);

/// The controller's private keys, newest first, and the newest one's certificate. Keys read
/// from the cluster are read again ([`BitnamiKeys::refresh`]) when a value opens with none of
/// them, at most every 10 s, so a key the controller adds while the agent runs is picked up.
#[derive(Default)]
pub struct BitnamiKeys {
    current: RwLock<Arc<KeySet>>,
    cluster: Option<(kube::Client, BitnamiKeysConfig)>,
    last_read: Mutex<Option<Instant>>,
}

impl BitnamiKeys {
    /// No key.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn set_mut(&mut self) -> &mut KeySet {
        let current = self
            .current
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if Arc::get_mut(current).is_none() {
            // Snapshots live only inside one call, so `&mut self` holds the only one; should
            // that ever change, keys added now start a set of their own.
            *current = Arc::new(KeySet::default());
        }
        Arc::get_mut(current).expect("the set was just made unique")
    }

    /// Adds the private keys of a PEM text (after those held: they count as older), and
    /// `cert_pem` as the published certificate when none is held yet.
    pub fn add_pem(
        &mut self,
        key_pem: &str,
        cert_pem: Option<&str>,
        source_name: &str,
    ) -> Result<(), BitnamiKeyError> {
        self.set_mut().add_pem(key_pem, cert_pem, source_name)
    }

    /// Adds the keys of a PEM file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), BitnamiKeyError> {
        self.set_mut().add_file(path)
    }

    /// Loads what `config` names: the key Secrets of the cluster (newest first), then files.
    pub async fn load(
        config: &BitnamiKeysConfig,
        client: &kube::Client,
    ) -> Result<Self, BitnamiKeyError> {
        let set = KeySet::read(config, client).await?;
        Ok(Self {
            current: RwLock::new(Arc::new(set)),
            cluster: config
                .from_cluster
                .then(|| (client.clone(), config.clone())),
            last_read: Mutex::new(Some(Instant::now())),
        })
    }

    /// Reads the cluster's key Secrets again, unless they were read less than 10 s ago or do
    /// not come from the cluster; true when the keys changed.
    pub async fn refresh(&self) -> Result<bool, BitnamiKeyError> {
        let Some((client, config)) = &self.cluster else {
            return Ok(false);
        };
        {
            let mut last = self
                .last_read
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|t| t.elapsed() < REFRESH_AFTER) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        let set = KeySet::read(config, client).await?;
        let before = self.snapshot().keys.len();
        let changed = set.keys.len() != before;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(changed)
    }

    fn snapshot(&self) -> Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.snapshot().keys.is_empty()
    }

    /// How many keys are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.snapshot().keys.len()
    }

    /// The newest key's certificate (PEM), what developers seal for.
    #[must_use]
    pub fn cert_pem(&self) -> Option<String> {
        self.snapshot().cert_pem.clone()
    }
}

/// Orders key Secrets newest first (by creation time, then name, as the controller names
/// them with a random suffix): the newest key's certificate is the one published.
fn newest_first(secrets: &mut [Secret]) {
    secrets.sort_by(|a, b| {
        let key = |s: &Secret| {
            (
                s.metadata.creation_timestamp.clone(),
                s.metadata.name.clone(),
            )
        };
        key(b).cmp(&key(a))
    });
}

/// Whether an object is a Bitnami SealedSecret.
#[must_use]
pub fn is_bitnami_sealed_secret(api_version: &str, kind: &str) -> bool {
    bitnami::is_bitnami_sealed_secret(api_version, kind)
}

/// Unseals `manifest` into the Secret to apply, in its namespace or else `default_namespace`
/// (the namespace is part of what strict and namespace-wide values are bound to).
pub(crate) fn unseal(
    manifest: &Value,
    default_namespace: &str,
    keys: &BitnamiKeys,
) -> Result<SecretObject, SecretsError> {
    let object = super::object_ref(manifest, default_namespace);
    let failed = |source| SecretsError::BitnamiUnsealFailed {
        object: object.clone(),
        source,
    };
    let sealed = BitnamiSealedSecret::from_value(manifest, default_namespace).map_err(failed)?;
    let namespace = sealed
        .namespace
        .clone()
        .unwrap_or_else(|| default_namespace.to_owned());
    let opened = bitnami::unseal(&sealed, &keys.snapshot().keys, &namespace).map_err(failed)?;
    let mut secret = SecretObject::new(&namespace, &opened.name, SecretOrigin::Sealed);
    secret.labels = opened.labels.clone();
    secret.annotations = opened.annotations.clone();
    secret
        .annotations
        .remove(super::object::LAST_APPLIED_ANNOTATION);
    secret.type_ = opened.type_.clone();
    secret.immutable = opened.immutable;
    for (key, value) in opened.into_data() {
        secret.insert(key, value);
    }
    Ok(secret)
}

/// [`unseal`], and when no key opened a value, once more after reading the cluster's key
/// Secrets again ([`BitnamiKeys::refresh`]): the controller may have added a key.
pub(crate) async fn unseal_or_refresh(
    manifest: &Value,
    default_namespace: &str,
    keys: &BitnamiKeys,
) -> Result<SecretObject, SecretsError> {
    match unseal(manifest, default_namespace, keys) {
        Err(SecretsError::BitnamiUnsealFailed {
            source:
                bitnami::Error::DecryptFailed {
                    source: bitnami::FormatError::NoKeyMatched { .. },
                    ..
                }
                | bitnami::Error::NoKeys { .. },
            ..
        }) if keys.cluster.is_some() => {
            match keys.refresh().await {
                Ok(true) => tracing::info!(
                    keys = keys.len(),
                    "read the Sealed Secrets controller's keys again"
                ),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "reading the Sealed Secrets controller's keys again failed")
                }
            }
            unseal(manifest, default_namespace, keys)
        }
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{AppContext, KeyRing, SecretsContext, StaticCredentials, Stores};
    use super::*;
    use serde_json::json;
    use std::sync::Arc;
    use tether_seal::bitnami::PublicKey;
    use tether_seal::sealed::UnsealedSecret;

    const KEY: &str = include_str!("../../../sealer-cli/src/bitnami/testdata/key-a.pkcs1.pem");
    const CERT: &str = include_str!("../../../sealer-cli/src/bitnami/testdata/cert-a.pem");

    fn context() -> SecretsContext {
        let mut keys = BitnamiKeys::new();
        keys.add_pem(KEY, Some(CERT), "test key").unwrap();
        assert_eq!(keys.cert_pem().as_deref(), Some(CERT));
        let mut ring = KeyRing::new();
        ring.set_bitnami(keys);
        SecretsContext {
            keys: Arc::new(ring),
            stores: Arc::new(Stores::new(Arc::new(StaticCredentials::new()))),
        }
    }

    fn manifest(namespace: &str) -> Value {
        let mut s = UnsealedSecret::new("db").with_namespace(namespace);
        s.insert("password", Zeroizing::new(b"hunter2-pw".to_vec()));
        let cert = PublicKey::from_pem(CERT, "cert").unwrap();
        let mut m = bitnami::seal_secret(&s, &cert, None).unwrap();
        m["spec"]["template"]["type"] = "kubernetes.io/basic-auth".into();
        m["spec"]["template"]["metadata"]["labels"] = json!({"app": "db"});
        m
    }

    fn run(objects: Vec<Value>, ctx: &SecretsContext) -> super::super::Resolution {
        let app = AppContext::new("shop", "shop").unwrap();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(super::super::resolve(&app, objects, ctx))
    }

    #[test]
    fn key_secrets_are_ordered_newest_first() {
        let at = |name: &str, secs: i64| {
            let mut s = Secret::default();
            s.metadata.name = Some(name.into());
            s.metadata.creation_timestamp =
                Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    k8s_openapi::jiff::Timestamp::from_second(secs).unwrap(),
                ));
            s
        };
        let mut secrets = vec![at("old", 100), at("newest", 300), at("middle", 200)];
        newest_first(&mut secrets);
        let names: Vec<_> = secrets
            .iter()
            .filter_map(|s| s.metadata.name.as_deref())
            .collect();
        assert_eq!(names, ["newest", "middle", "old"]);
    }

    #[test]
    fn a_bitnami_sealed_secret_becomes_its_secret_and_is_not_applied_itself() {
        let resolution = run(vec![manifest("shop")], &context());
        assert!(resolution.failures.is_empty(), "{}", resolution.message());
        assert_eq!(resolution.desired.len(), 1);
        let redacted = resolution.desired[0].redacted();
        assert_eq!(redacted["kind"], "Secret");
        assert_eq!(redacted["type"], "kubernetes.io/basic-auth");
        assert_eq!(redacted["metadata"]["labels"]["app"], "db");
        assert!(!redacted.to_string().contains("hunter2"));
        let super::super::Desired::Secret(secret) = &resolution.desired[0] else {
            panic!("a Secret");
        };
        assert!(secret.to_apply_json().contains("aHVudGVyMi1wdw=="));
    }

    #[test]
    fn fail_a_moved_or_keyless_bitnami_sealed_secret_names_object_and_field() {
        let mut moved = manifest("shop");
        moved["metadata"]["namespace"] = "other".into();
        let resolution = run(vec![moved], &context());
        assert!(resolution.desired.is_empty() && !resolution.prune_allowed());
        let message = resolution.message();
        assert!(message.contains("SealedSecret other/db"), "{message}");
        assert!(message.contains("spec.encryptedData.password"), "{message}");
        assert_eq!(resolution.degraded_reason(), Some("DecryptFailed"));
        let empty = SecretsContext {
            keys: Arc::new(KeyRing::new()),
            stores: Arc::new(Stores::new(Arc::new(StaticCredentials::new()))),
        };
        let message = run(vec![manifest("shop")], &empty).message();
        assert!(message.contains("no Sealed Secrets key"), "{message}");
    }
}
