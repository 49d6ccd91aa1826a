//! Bitnami SealedSecrets (`bitnami.com/v1alpha1`), the format of the Sealed Secrets controller
//! and `kubeseal`, read and written as they are so that a repository moves over unchanged.
//!
//! ```yaml
//! apiVersion: bitnami.com/v1alpha1
//! kind: SealedSecret
//! metadata:
//!   name: db
//!   namespace: shop
//!   annotations: {sealedsecrets.bitnami.com/namespace-wide: "true"}   # scope, else strict
//! spec:
//!   encryptedData: {password: AgB...}      # per key: base64 of one hybrid ciphertext
//!   template:                              # the Secret to produce (type, metadata, data)
//!     type: Opaque
//!     metadata: {labels: {app: db}}
//!     data: {url: "postgres://app:{{ .password }}@db"}
//! ```
//!
//! Each value is encrypted with the controller's RSA public key ([`format`]): RSA-OAEP
//! (SHA-256) wraps a one-time AES-256-GCM key, and the OAEP label binds the scope
//! ([`Scope::label`]): `namespace/name` (strict), `namespace` (namespace-wide) or nothing
//! (cluster-wide). The scope is read from the SealedSecret's own `metadata.annotations`, so
//! an object moved to another namespace or name, or whose annotation was changed to widen its
//! scope, does not decrypt. [`unseal`] opens every value with any of the controller's keys
//! ([`keys`], newest first), renders `spec.template.data` ([`template`]) and returns the
//! Secret's parts in zeroizing memory; [`seal`] writes values and objects as kubeseal does,
//! merges into an existing object and re-encrypts for a newer key, keeping the scope that
//! decryption verified (never one read from the template: CVE-2026-22728).
//!
//! Layout: [`der`] (PEM and DER, by hand), [`keys`], [`format`] (the byte format), [`model`]
//! (the object), [`template`], [`unseal`] and [`seal`] (the operations).

mod der;
pub mod format;
pub mod keys;
pub mod model;
pub mod seal;
pub mod template;
pub mod unseal;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests;

pub use format::FormatError;
pub use keys::{KeyError, PrivateKey, PublicKey};
pub use model::BitnamiSealedSecret;
pub use seal::{merge_into, re_encrypt, seal_raw, seal_secret};
pub use unseal::{UnsealedBitnami, unseal};

use std::collections::BTreeMap;

/// `apiVersion` of a Bitnami SealedSecret.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// `kind` of a Bitnami SealedSecret.
pub const KIND: &str = "SealedSecret";
/// The annotation that makes a SealedSecret namespace-wide.
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// The annotation that makes a SealedSecret cluster-wide.
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// The label of the controller's key Secrets.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// Whether `apiVersion`/`kind` are those of a Bitnami SealedSecret.
#[must_use]
pub fn is_bitnami_sealed_secret(api_version: &str, kind: &str) -> bool {
    api_version == API_VERSION && kind == KIND
}

/// Where a sealed value may be unsealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Only as this name in this namespace (the default).
    #[default]
    Strict,
    /// Under any name in this namespace.
    NamespaceWide,
    /// Anywhere.
    ClusterWide,
}

impl Scope {
    /// The scope an object's annotations declare: `cluster-wide: "true"` wins over
    /// `namespace-wide: "true"`; anything else is strict, as the controller reads them.
    #[must_use]
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Self {
        let set = |name: &str| annotations.get(name).is_some_and(|v| v == "true");
        if set(CLUSTER_WIDE_ANNOTATION) {
            Scope::ClusterWide
        } else if set(NAMESPACE_WIDE_ANNOTATION) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// Parses kubeseal's `--scope` values (`strict`, `namespace-wide`, `cluster-wide`).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "" | "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            _ => Err("must be one of: strict, namespace-wide, cluster-wide".into()),
        }
    }

    /// The scope's name as kubeseal spells it.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }

    /// The OAEP label of a value of this scope for `namespace`/`name`.
    #[must_use]
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// Sets the scope annotations of `annotations` to say this scope (and nothing wider).
    pub fn write_annotations(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        match self {
            Scope::Strict => {}
            Scope::NamespaceWide => {
                annotations.insert(NAMESPACE_WIDE_ANNOTATION.into(), "true".into());
            }
            Scope::ClusterWide => {
                annotations.insert(CLUSTER_WIDE_ANNOTATION.into(), "true".into());
            }
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a Bitnami SealedSecret could not be read, unsealed or written. Every variant names the
/// object (`SealedSecret namespace/name`) and the field; none carries a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object is malformed.
    #[error("{object}: {field} {reason}")]
    InvalidField {
        /// The object.
        object: String,
        /// The field (`spec.encryptedData.password`...).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A value did not decrypt.
    #[error("{object}: {field} {source}")]
    DecryptFailed {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// Why.
        #[source]
        source: FormatError,
    },
    /// A value could not be encrypted.
    #[error("{object}: {field}: {source}")]
    EncryptFailed {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// Why.
        #[source]
        source: FormatError,
    },
    /// A `spec.template.data` template did not render.
    #[error("{object}: {field}: {reason}")]
    TemplateFailed {
        /// The object.
        object: String,
        /// The field (`spec.template.data.url`).
        field: String,
        /// Why (names keys and functions, never a value).
        reason: String,
    },
    /// No private key was given to unseal with.
    #[error("{object}: no Sealed Secrets key to unseal with")]
    NoKeys {
        /// The object.
        object: String,
    },
}

/// `Result` with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
