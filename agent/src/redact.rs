//! The one redaction of secret values: how a value is shown in logs, Events, status, errors,
//! policy input, plans, diffs and the API: `<redacted hmac:xxxxxxxx>`.
//!
//! The eight hex digits are the start of an HMAC-SHA-256 of the value under the
//! installation's redaction key, never a bare hash: a plain hash of a short password is
//! reversed offline with a dictionary in seconds, and plan output is pasted into pull
//! requests. Two outputs of one installation can still be compared (the same value gives the
//! same mark, so a diff shows which keys changed), but nobody without the key can test guesses.
//!
//! The key is set once per process with [`install_key`]: the daemon and the online plan read
//! it from the installation's Secret (see `secrets::keys`), so marks are stable across
//! restarts and replicas; without it (for example `plan --offline`) a random key is drawn on
//! first use, so marks are comparable within one run only.
//!
//! Every module redacts through this one: [`mark`] for one value, [`fingerprint`] for the
//! longer keyed hash that stands for a value where content must be compared (drift hashes,
//! generated names), never where people read it.

use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// The prefix of every redaction mark.
pub const MARK_PREFIX: &str = "<redacted hmac:";

/// Length of a redaction key, in bytes.
pub const KEY_LEN: usize = 32;

static KEY: OnceLock<Zeroizing<[u8; KEY_LEN]>> = OnceLock::new();

/// Why the redaction key could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    /// Another key is in use already (marks were computed with it).
    #[error("a different redaction key is already in use in this process")]
    KeyAlreadySet,
}

/// Installs the installation's redaction key. Installing the same key twice is fine; a
/// different key after the first mark was computed is refused (marks would stop matching).
pub fn install_key(key: &[u8; KEY_LEN]) -> Result<(), RedactError> {
    let mut candidate = Zeroizing::new([0u8; KEY_LEN]);
    candidate.copy_from_slice(key);
    match KEY.set(candidate) {
        Ok(()) => Ok(()),
        Err(_) if KEY.get().is_some_and(|k| k.as_slice() == key.as_slice()) => Ok(()),
        Err(_) => Err(RedactError::KeyAlreadySet),
    }
}

/// Whether a key was installed or drawn in this process.
#[must_use]
pub fn key_in_use() -> bool {
    KEY.get().is_some()
}

/// A new random key, for an installation that has none yet.
#[must_use]
pub fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(key.as_mut_slice());
    key
}

fn key() -> &'static [u8; KEY_LEN] {
    KEY.get_or_init(random_key)
}

fn hmac(value: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key()) {
        Ok(mac) => mac,
        Err(_) => return [0u8; 32],
    };
    mac.update(value);
    mac.finalize().into_bytes().into()
}

/// The redaction mark of one value: `<redacted hmac:xxxxxxxx>`. Computed from the value,
/// never taken from input, so a value that looks like a mark is redacted like any other.
#[must_use]
pub fn mark(value: &[u8]) -> String {
    format!("{MARK_PREFIX}{}>", hex::encode(&hmac(value)[..4]))
}

/// A 128-bit keyed fingerprint of a value (32 hex digits), for comparing content that must
/// not be shown: drift hashes of Secrets and the stand-ins of decrypted values in a render.
#[must_use]
pub fn fingerprint(value: &[u8]) -> String {
    hex::encode(&hmac(value)[..16])
}

/// Whether `text` is exactly a redaction mark.
#[must_use]
pub fn is_mark(text: &str) -> bool {
    text.strip_prefix(MARK_PREFIX)
        .and_then(|rest| rest.strip_suffix('>'))
        .is_some_and(|hex| hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_a_keyed_hash_and_never_the_value() {
        let m = mark(b"hunter2");
        assert!(is_mark(&m), "{m}");
        assert!(!m.contains("hunter2"));
        assert_eq!(m, mark(b"hunter2"), "stable within a process");
        assert_ne!(m, mark(b"hunter3"));
        use sha2::Digest as _;
        let plain = hex::encode(&Sha256::digest(b"hunter2")[..4]);
        assert!(!m.contains(&plain), "a plain SHA-256 is not the mark");
    }

    #[test]
    fn a_value_that_looks_like_a_mark_is_redacted_like_any_other() {
        let spoof = mark(b"real");
        assert_ne!(mark(spoof.as_bytes()), spoof);
    }

    #[test]
    fn the_key_in_use_cannot_be_swapped() {
        let _ = mark(b"x");
        let other = random_key();
        assert!(install_key(&other).is_err());
        let current = *key();
        assert!(install_key(&current).is_ok());
    }
}
