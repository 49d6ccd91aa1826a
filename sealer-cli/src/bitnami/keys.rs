//! The Sealed Secrets controller's RSA keys: the public key developers seal with (a PEM
//! certificate, as `kubeseal --fetch-cert` prints it, or a PEM public key) and the private keys
//! the controller keeps in its `sealedsecrets.bitnami.com/sealed-secrets-key` Secrets
//! (`tls.key`, PKCS#1 `RSA PRIVATE KEY`; PKCS#8 `PRIVATE KEY` is read too).
//!
//! [`PrivateKey`] derives nothing: no `Debug`, no `Clone`, no `Serialize`.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
};
use sha2::{Digest as _, Sha256};

use super::der;

/// Why a key could not be read. Names the source (file or Secret), never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The text is not PEM of the expected kind.
    #[error("{source_name}: {reason}")]
    ReadPemFailed {
        /// The file or Secret.
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The PEM block holds no usable RSA key.
    #[error("{source_name}: not a usable RSA key ({reason})")]
    KeyRejected {
        /// The file or Secret.
        source_name: String,
        /// The backend's reason.
        reason: String,
    },
}

/// A public key to seal for.
pub struct PublicKey {
    key: OaepPublicEncryptingKey,
    spki: Vec<u8>,
}

impl PublicKey {
    /// Reads the first `CERTIFICATE` or `PUBLIC KEY` block of `text`.
    pub fn from_pem(text: &str, source_name: &str) -> Result<Self, KeyError> {
        let pem_failed = |reason: String| KeyError::ReadPemFailed {
            source_name: source_name.to_owned(),
            reason,
        };
        let blocks = der::pem_blocks(text).map_err(pem_failed)?;
        for block in blocks {
            let spki = match block.label.as_str() {
                "CERTIFICATE" => der::certificate_spki(&block.der).map_err(pem_failed)?,
                "PUBLIC KEY" => block.der.to_vec(),
                _ => continue,
            };
            let key = PublicEncryptingKey::from_der(&spki).map_err(|e| KeyError::KeyRejected {
                source_name: source_name.to_owned(),
                reason: e.to_string(),
            })?;
            return Self::new(key, source_name);
        }
        Err(pem_failed(
            "holds no CERTIFICATE or PUBLIC KEY PEM block".into(),
        ))
    }

    fn new(key: PublicEncryptingKey, source_name: &str) -> Result<Self, KeyError> {
        let spki =
            key.as_der()
                .map(|d| d.as_ref().to_vec())
                .map_err(|e| KeyError::KeyRejected {
                    source_name: source_name.to_owned(),
                    reason: e.to_string(),
                })?;
        let key = OaepPublicEncryptingKey::new(key).map_err(|e| KeyError::KeyRejected {
            source_name: source_name.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self { key, spki })
    }

    /// A short fingerprint (SHA-256 of the public key info, first 16 hex digits), for messages.
    #[must_use]
    pub fn fingerprint(&self) -> String {
        hex::encode(&Sha256::digest(&self.spki)[..8])
    }

    /// The public key as a PEM `PUBLIC KEY` block.
    #[must_use]
    pub fn to_pem(&self) -> String {
        der::pem_encode("PUBLIC KEY", &self.spki)
    }

    pub(crate) fn oaep(&self) -> &OaepPublicEncryptingKey {
        &self.key
    }
}

/// One private key of the controller, with the name of where it came from.
pub struct PrivateKey {
    name: String,
    key: OaepPrivateDecryptingKey,
    public: PublicKey,
}

impl PrivateKey {
    /// Reads every `RSA PRIVATE KEY` / `PRIVATE KEY` block of `text` (a `tls.key`);
    /// `source_name` names them in messages (`kube-system/sealed-secrets-keyabcde`, a path).
    pub fn from_pem(text: &str, source_name: &str) -> Result<Vec<Self>, KeyError> {
        let blocks = der::pem_blocks(text).map_err(|reason| KeyError::ReadPemFailed {
            source_name: source_name.to_owned(),
            reason,
        })?;
        let mut keys = Vec::new();
        for block in blocks {
            let pkcs8 = match block.label.as_str() {
                "RSA PRIVATE KEY" => der::pkcs1_to_pkcs8(&block.der),
                "PRIVATE KEY" => block.der,
                _ => continue,
            };
            let rejected = |reason: String| KeyError::KeyRejected {
                source_name: source_name.to_owned(),
                reason,
            };
            let key =
                PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|e| rejected(e.to_string()))?;
            let public = PublicKey::new(key.public_key(), source_name)?;
            let key = OaepPrivateDecryptingKey::new(key).map_err(|e| rejected(e.to_string()))?;
            keys.push(Self {
                name: source_name.to_owned(),
                key,
                public,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::ReadPemFailed {
                source_name: source_name.to_owned(),
                reason: "holds no RSA PRIVATE KEY or PRIVATE KEY PEM block".into(),
            });
        }
        Ok(keys)
    }

    /// Where the key came from.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its public half (what a re-encryption seals for).
    #[must_use]
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn oaep(&self) -> &OaepPrivateDecryptingKey {
        &self.key
    }
}
