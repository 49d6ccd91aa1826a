//! The data key: unwrapping it from a file's master keys, wrapping it for new ones, and
//! splitting/combining it with Shamir's secret sharing across key groups.
//!
//! The work on each master key is done by a [`KeyService`]: [`Identities`] handles age in
//! this library; the agent and the CLI add PGP, AWS KMS, Vault Transit, GCP KMS and Azure Key
//! Vault. [`Services`] chains several. With several key groups, each group holds one Shamir
//! share, and `shamir_threshold` groups are needed to recover the key.

use rand::RngCore;
use zeroize::Zeroizing;

use super::Error;
use super::metadata::{KeyGroup, Metadata};
use super::shamir::{shamir_combine, shamir_split};

pub use super::identities::{Identities, default_key_file, parse_recipient, wrap};
pub use super::master::{KeyKind, KeyRef, MasterKey};

/// Why a service did not unwrap (or wrap) a key.
#[derive(Debug, Clone)]
pub enum UnwrapError {
    /// The service does not handle this kind of key (or has no credentials for it).
    NotHandled,
    /// The service tried and failed; the reason names the key, never a value.
    Failed(String),
}

/// Wraps and unwraps data keys for master keys. Synchronous: implementations that call a
/// remote service block until it answers (and must bound the wait).
pub trait KeyService {
    /// Unwraps the data key (or Shamir share) held by `key`.
    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, UnwrapError>;

    /// Wraps `data_key` for `key`, storing the result with [`MasterKey::set_wrapped`].
    fn wrap(&self, key: &mut MasterKey, data_key: &[u8]) -> Result<(), UnwrapError> {
        let _ = (key, data_key);
        Err(UnwrapError::NotHandled)
    }

    /// The kinds this service can try (for the message when no key works).
    fn kinds(&self) -> Vec<KeyKind>;
}

/// Several services, tried in order; the first that handles a key decides.
pub struct Services<'a>(pub Vec<&'a dyn KeyService>);

impl KeyService for Services<'_> {
    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        let mut last = UnwrapError::NotHandled;
        for s in &self.0 {
            match s.unwrap(key) {
                Ok(k) => return Ok(k),
                Err(UnwrapError::NotHandled) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn wrap(&self, key: &mut MasterKey, data_key: &[u8]) -> Result<(), UnwrapError> {
        let mut last = UnwrapError::NotHandled;
        for s in &self.0 {
            match s.wrap(key, data_key) {
                Ok(()) => return Ok(()),
                Err(UnwrapError::NotHandled) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn kinds(&self) -> Vec<KeyKind> {
        let mut kinds: Vec<KeyKind> = self.0.iter().flat_map(|s| s.kinds()).collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }
}

/// The order keys of a group are tried in: local kinds first (no network), then the others.
fn try_order(kind: KeyKind) -> u8 {
    match kind {
        KeyKind::Age => 0,
        KeyKind::Pgp => 1,
        KeyKind::HcVault => 2,
        KeyKind::Kms => 3,
        KeyKind::GcpKms => 4,
        KeyKind::AzureKv => 5,
        KeyKind::HcKms => 6,
    }
}

fn unwrap_group(
    group: &KeyGroup,
    service: &dyn KeyService,
    tried: &mut Vec<String>,
) -> Option<Zeroizing<Vec<u8>>> {
    let mut keys: Vec<_> = group.keys.iter().collect();
    keys.sort_by_key(|k| try_order(k.kind()));
    for k in keys {
        let why = match service.unwrap(k) {
            Ok(v) => return Some(v),
            Err(UnwrapError::NotHandled) => "no credentials for this key type".to_owned(),
            Err(UnwrapError::Failed(reason)) => reason,
        };
        tried.push(format!("{} {}: {why}", k.kind().field(), k.id()));
    }
    None
}

/// Recovers the file's data key: from any key of the single key group, or by combining the
/// Shamir shares of at least `shamir_threshold` groups.
pub fn recover_data_key(
    meta: &Metadata,
    service: &dyn KeyService,
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let mut tried = Vec::new();
    let needed = if meta.key_groups.len() > 1 {
        if meta.shamir_threshold == 0 {
            meta.key_groups.len()
        } else {
            meta.shamir_threshold
        }
    } else {
        1
    };
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for g in &meta.key_groups {
        if parts.len() >= needed {
            break;
        }
        if let Some(p) = unwrap_group(g, service, &mut tried) {
            parts.push(p);
        }
    }
    if parts.is_empty() {
        return Err(Error::NoMatchingIdentity {
            file: String::new(),
            recipients: tried,
        });
    }
    let key = if meta.key_groups.len() > 1 {
        if parts.len() < needed {
            return Err(Error::NotEnoughKeyGroups {
                file: String::new(),
                needed,
                recovered: parts.len(),
            });
        }
        shamir_combine(&parts).map_err(|reason| Error::Malformed {
            file: String::new(),
            path: "sops.key_groups".into(),
            reason,
        })?
    } else {
        parts.swap_remove(0)
    };
    let arr: [u8; 32] = key[..].try_into().map_err(|_| Error::Malformed {
        file: String::new(),
        path: "sops".into(),
        reason: format!("the data key is {} bytes, not 32", key.len()),
    })?;
    Ok(Zeroizing::new(arr))
}

/// A fresh random 32-byte data key.
pub fn generate_data_key() -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    rand::thread_rng().fill_bytes(&mut key[..]);
    key
}

fn wrap_one(service: &dyn KeyService, k: &mut MasterKey, secret: &[u8]) -> Result<(), Error> {
    service.wrap(k, secret).map_err(|e| Error::DataKeyWrap {
        recipient: format!("{} {}", k.kind().field(), k.id()),
        reason: match e {
            UnwrapError::NotHandled => "no way to wrap for this key type here".into(),
            UnwrapError::Failed(reason) => reason,
        },
    })
}

/// Wraps the data key for every key of every group (Shamir shares with several groups).
pub fn wrap_for_groups(
    key: &[u8; 32],
    meta: &mut Metadata,
    service: &dyn KeyService,
) -> Result<(), Error> {
    let groups = meta.key_groups.len();
    if groups > 1 {
        let threshold = if meta.shamir_threshold == 0 {
            groups
        } else {
            meta.shamir_threshold
        };
        let shares =
            shamir_split(key, groups, threshold).map_err(|reason| Error::InvalidRules {
                reason: format!("shamir_threshold: {reason}"),
            })?;
        for (group, share) in meta.key_groups.iter_mut().zip(shares) {
            for k in &mut group.keys {
                wrap_one(service, k, &share)?;
            }
        }
    } else {
        for group in &mut meta.key_groups {
            for k in &mut group.keys {
                wrap_one(service, k, key)?;
            }
        }
    }
    Ok(())
}
