//! The byte format of one sealed value, as the controller's `crypto.HybridEncrypt` lays it out:
//!
//! ```text
//! u16 big-endian length of the RSA ciphertext || RSA-OAEP ciphertext || AES-256-GCM ciphertext+tag
//! ```
//!
//! The RSA part wraps a random 32-byte session key with RSA-OAEP (SHA-256, MGF1-SHA-256)
//! under a label that binds the scope (`namespace/name`, `namespace`, or empty); the AES part
//! encrypts the value under that key with a zero 12-byte nonce (the key is used once) and no
//! associated data. Written from the format's description; the interoperability tests check it
//! against independent implementations.

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256;
use zeroize::Zeroizing;

use super::keys::{PrivateKey, PublicKey};

/// The length of the session key.
pub const SESSION_KEY_BYTES: usize = 32;

/// Why one sealed value could not be opened or written. Carries no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// Shorter than its own length prefix says.
    #[error("is truncated (shorter than its RSA part)")]
    Truncated,
    /// No key opens the RSA part under this scope's label.
    #[error(
        "no key could decrypt it ({tried} tried): sealed for another key, another scope, or another namespace or name"
    )]
    NoKeyMatched {
        /// How many keys were tried.
        tried: usize,
    },
    /// The RSA part opened but the AES-GCM part does not authenticate (truncated, altered,
    /// or a part of another value).
    #[error("its encrypted value does not authenticate (truncated, altered or swapped)")]
    Corrupt,
    /// The RSA part opened to something that is not a 32-byte session key.
    #[error("its session key is malformed")]
    BadSessionKey,
    /// The crypto backend refused to encrypt.
    #[error("cannot encrypt: {0}")]
    EncryptFailed(String),
}

/// Encrypts `plaintext` for `key` under `label`.
pub fn hybrid_encrypt(
    key: &PublicKey,
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, FormatError> {
    let mut session = Zeroizing::new([0u8; SESSION_KEY_BYTES]);
    aws_lc_rs::rand::fill(session.as_mut_slice())
        .map_err(|e| FormatError::EncryptFailed(e.to_string()))?;
    let oaep = key.oaep();
    let mut rsa = vec![0u8; oaep.ciphertext_size()];
    let rsa_len = oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            session.as_slice(),
            &mut rsa,
            Some(label),
        )
        .map_err(|e| FormatError::EncryptFailed(e.to_string()))?
        .len();
    rsa.truncate(rsa_len);
    let prefix = u16::try_from(rsa.len())
        .map_err(|_| FormatError::EncryptFailed("the RSA key is too large".into()))?;
    let cipher = Aes256Gcm::new_from_slice(session.as_slice())
        .map_err(|e| FormatError::EncryptFailed(e.to_string()))?;
    let sealed = cipher
        .encrypt(&Nonce::default(), plaintext)
        .map_err(|e| FormatError::EncryptFailed(e.to_string()))?;
    let mut out = Vec::with_capacity(2 + rsa.len() + sealed.len());
    out.extend_from_slice(&prefix.to_be_bytes());
    out.extend_from_slice(&rsa);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts one value with the first of `keys` whose RSA-OAEP opens it under `label`; returns
/// the plaintext and the index of that key.
pub fn hybrid_decrypt(
    keys: &[PrivateKey],
    ciphertext: &[u8],
    label: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, usize), FormatError> {
    let (prefix, rest) = ciphertext
        .split_first_chunk::<2>()
        .ok_or(FormatError::Truncated)?;
    let rsa_len = usize::from(u16::from_be_bytes(*prefix));
    if rest.len() < rsa_len {
        return Err(FormatError::Truncated);
    }
    let (rsa, aes) = rest.split_at(rsa_len);
    for (index, key) in keys.iter().enumerate() {
        let oaep = key.oaep();
        let mut out = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
        let Ok(session) = oaep.decrypt(&OAEP_SHA256_MGF1SHA256, rsa, &mut out, Some(label)) else {
            continue;
        };
        if session.len() != SESSION_KEY_BYTES {
            return Err(FormatError::BadSessionKey);
        }
        let cipher = Aes256Gcm::new_from_slice(session).map_err(|_| FormatError::BadSessionKey)?;
        let plain = cipher
            .decrypt(&Nonce::default(), aes)
            .map_err(|_| FormatError::Corrupt)?;
        return Ok((Zeroizing::new(plain), index));
    }
    Err(FormatError::NoKeyMatched { tried: keys.len() })
}
