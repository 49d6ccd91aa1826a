//! The errors of the secrets stage, one per object.

use super::StoreError;

/// Why one object failed in the secrets stage. Every variant names the object and, where it
/// applies, the field; none carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A SOPS-encrypted object or value did not decrypt.
    #[error("{object}: SOPS decryption failed: {source}")]
    DecryptFailed {
        /// The object.
        object: String,
        /// The cause.
        #[source]
        source: tether_seal::sops::Error,
    },
    /// A SealedSecret did not unseal (wrong key, scope mismatch, malformed value).
    #[error("{object}: unsealing failed: {source}")]
    UnsealFailed {
        /// The object.
        object: String,
        /// The cause.
        #[source]
        source: tether_seal::sealed::Error,
    },
    /// A Bitnami SealedSecret did not unseal (no key, wrong key or scope, moved, truncated,
    /// a template that does not render).
    #[error("unsealing failed: {source}")]
    BitnamiUnsealFailed {
        /// The object.
        object: String,
        /// The cause (names the object and the field).
        #[source]
        source: tether_seal::bitnami::Error,
    },
    /// The agent holds no key to decrypt with.
    #[error("{object}: the agent has no age key to decrypt with")]
    NoKeys {
        /// The object.
        object: String,
    },
    /// Ciphertext is left in an object that would be applied.
    #[error("{object}: {field} is still encrypted ({hint}); it is never applied encrypted")]
    CiphertextLeft {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// Why it was not decrypted.
        hint: String,
    },
    /// A SOPS-encrypted document did not decrypt when the render loaded it.
    #[error("{object}: SOPS decryption failed: {reason}")]
    DecryptFailedAtLoad {
        /// The object.
        object: String,
        /// The cause (names no value).
        reason: String,
    },
    /// The object is malformed or uses something not supported.
    #[error("{object}: {field} {reason}")]
    InvalidObject {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The app may not do this (a path outside its allow-list, a reference outside a Secret,
    /// credentials from another namespace).
    #[error("{object}: {field}: refused: {reason}")]
    PolicyDenied {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A store read failed (down, permission denied, not found).
    #[error("{object}: {field}: {source}")]
    StoreReadFailed {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// The cause.
        #[source]
        source: StoreError,
    },
    /// A store answered, but the key or property asked for is not there.
    #[error("{object}: {field}: {path}: {reason}")]
    ValueMissing {
        /// The object.
        object: String,
        /// The field.
        field: String,
        /// The store path and property.
        path: String,
        /// What is missing.
        reason: String,
    },
}

impl SecretsError {
    /// A short, stable reason for status, Events and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            SecretsError::DecryptFailed { .. }
            | SecretsError::DecryptFailedAtLoad { .. }
            | SecretsError::UnsealFailed { .. }
            | SecretsError::BitnamiUnsealFailed { .. }
            | SecretsError::NoKeys { .. }
            | SecretsError::CiphertextLeft { .. } => "DecryptFailed",
            SecretsError::InvalidObject { .. } => "InvalidObject",
            SecretsError::PolicyDenied { .. } => "PolicyDenied",
            SecretsError::StoreReadFailed { .. } | SecretsError::ValueMissing { .. } => {
                "SecretResolveFailed"
            }
        }
    }
}
