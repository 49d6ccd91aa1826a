//! The data key: wrapping it for age recipients, unwrapping it with age identities, and
//! splitting/combining it with Shamir's secret sharing across key groups.
//!
//! sops stores the 32-byte data key once per age recipient as an ASCII-armoured age file. With
//! several key groups, each group holds one Shamir share of the key (HashiCorp Vault's scheme
//! over GF(2^8) with the AES polynomial; a share is the y-bytes followed by its x coordinate),
//! and `shamir_threshold` groups are needed to recover it.

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use rand::RngCore;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

use super::Error;
use super::metadata::{KeyGroup, Metadata};

/// A set of age identities (X25519 secret keys) to decrypt with.
#[derive(Default)]
pub struct Identities {
    ids: Vec<age::x25519::Identity>,
}

impl Identities {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the set holds no identity.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How many identities the set holds.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Adds an identity.
    pub fn push(&mut self, id: age::x25519::Identity) {
        self.ids.push(id);
    }

    /// Adds the `AGE-SECRET-KEY-1...` lines of an identity file's text (comments and blank
    /// lines are skipped). `source` names where the text came from, for errors.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<(), Error> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| Error::Identity {
                source_name: source.to_owned(),
                reason: format!(
                    "line {} is not an age X25519 identity (AGE-SECRET-KEY-1...)",
                    n + 1
                ),
            })?;
            self.ids.push(id);
        }
        Ok(())
    }

    /// Adds the identities of a file.
    pub fn add_file(&mut self, path: &Path) -> Result<(), Error> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::Identity {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        })?);
        self.add_text(&text, &path.display().to_string())
    }

    /// The identities sops would find in the environment: `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
    /// and the default `$XDG_CONFIG_HOME/sops/age/keys.txt` (else `$HOME/.config/...`), when
    /// that file exists.
    pub fn from_environment() -> Result<Self, Error> {
        let mut ids = Identities::new();
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            let text = Zeroizing::new(text);
            ids.add_text(&text, "SOPS_AGE_KEY")?;
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE") {
            ids.add_file(Path::new(&path))?;
        }
        if let Some(path) = default_key_file()
            && path.is_file()
        {
            ids.add_file(&path)?;
        }
        Ok(ids)
    }

    fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.ids.iter().map(|i| i as &dyn age::Identity)
    }
}

/// sops's default identity file: `$XDG_CONFIG_HOME/sops/age/keys.txt`, or
/// `$HOME/.config/sops/age/keys.txt` when `XDG_CONFIG_HOME` is unset.
pub fn default_key_file() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) if !x.is_empty() => PathBuf::from(x),
        _ => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(base.join("sops").join("age").join("keys.txt"))
}

/// Parses an age X25519 recipient (`age1...`).
pub fn parse_recipient(text: &str) -> Result<age::x25519::Recipient, Error> {
    age::x25519::Recipient::from_str(text.trim()).map_err(|_| Error::Recipient {
        recipient: text.trim().to_owned(),
    })
}

/// Wraps a data key (or a Shamir share of it) for one recipient as an armoured age file.
pub fn wrap(secret: &[u8], recipient: &str) -> Result<String, Error> {
    let r = parse_recipient(recipient)?;
    let fail = |e: &dyn std::fmt::Display| Error::DataKeyWrap {
        recipient: recipient.to_owned(),
        reason: e.to_string(),
    };
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient))
        .map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    let armor =
        ArmoredWriter::wrap_output(&mut out, ArmorFormat::AsciiArmor).map_err(|e| fail(&e))?;
    let mut writer = encryptor.wrap_output(armor).map_err(|e| fail(&e))?;
    writer.write_all(secret).map_err(|e| fail(&e))?;
    writer
        .finish()
        .and_then(|armor| armor.finish())
        .map_err(|e| fail(&e))?;
    String::from_utf8(out).map_err(|e| fail(&e))
}

/// Unwraps one armoured age file with any of the identities.
fn unwrap(enc: &str, ids: &Identities) -> Option<Zeroizing<Vec<u8>>> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(enc.as_bytes())).ok()?;
    let mut reader = decryptor.decrypt(ids.as_dyn()).ok()?;
    let mut out = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut out).ok()?;
    Some(out)
}

fn unwrap_group(group: &KeyGroup, ids: &Identities) -> Option<Zeroizing<Vec<u8>>> {
    group.age.iter().find_map(|k| unwrap(&k.enc, ids))
}

/// Recovers the file's data key with the identities: from any recipient of the single key
/// group, or by combining the Shamir shares of at least `shamir_threshold` groups.
pub fn recover_data_key(meta: &Metadata, ids: &Identities) -> Result<Zeroizing<[u8; 32]>, Error> {
    let recipients = || {
        meta.key_groups
            .iter()
            .flat_map(|g| g.age.iter().map(|k| k.recipient.clone()))
            .collect()
    };
    let parts: Vec<Zeroizing<Vec<u8>>> = meta
        .key_groups
        .iter()
        .filter_map(|g| unwrap_group(g, ids))
        .collect();
    let key = if meta.key_groups.len() > 1 {
        let needed = if meta.shamir_threshold == 0 {
            meta.key_groups.len()
        } else {
            meta.shamir_threshold
        };
        if parts.len() < needed {
            if parts.is_empty() {
                return Err(Error::NoMatchingIdentity {
                    file: String::new(),
                    recipients: recipients(),
                });
            }
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
        match parts.into_iter().next() {
            Some(k) => k,
            None => {
                return Err(Error::NoMatchingIdentity {
                    file: String::new(),
                    recipients: recipients(),
                });
            }
        }
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

/// Wraps the data key for every recipient of every group (Shamir shares with several groups).
pub fn wrap_for_groups(key: &[u8; 32], meta: &mut Metadata) -> Result<(), Error> {
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
            for k in &mut group.age {
                k.enc = wrap(&share, &k.recipient)?;
            }
        }
    } else {
        for group in &mut meta.key_groups {
            for k in &mut group.age {
                k.enc = wrap(key, &k.recipient)?;
            }
        }
    }
    Ok(())
}

// GF(2^8) arithmetic with the AES reduction polynomial x^8 + x^4 + x^3 + x + 1.
fn gf_mul(a: u8, b: u8) -> u8 {
    let (mut a, mut b, mut p) = (a, b, 0u8);
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let carry = a & 0x80;
        a <<= 1;
        if carry != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

fn gf_inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8).
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            result = gf_mul(result, base);
        }
        base = gf_mul(base, base);
        e >>= 1;
    }
    result
}

/// Splits a secret into `parts` shares, any `threshold` of which recover it. Each share is
/// the evaluations for every byte followed by the share's x coordinate (1..=parts).
pub fn shamir_split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    if parts < threshold || threshold < 2 || parts > 255 || secret.is_empty() {
        return Err(format!(
            "cannot split into {parts} parts with threshold {threshold}"
        ));
    }
    let mut shares: Vec<Zeroizing<Vec<u8>>> = (1..=parts)
        .map(|x| {
            let mut v = Zeroizing::new(vec![0u8; secret.len() + 1]);
            v[secret.len()] = x as u8;
            v
        })
        .collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coeffs[0] = byte;
        rand::thread_rng().fill_bytes(&mut coeffs[1..]);
        for share in shares.iter_mut() {
            let x = share[secret.len()];
            // Horner's rule from the highest coefficient.
            let y = coeffs.iter().rev().fold(0u8, |acc, &c| gf_mul(acc, x) ^ c);
            share[idx] = y;
        }
    }
    Ok(shares)
}

/// Recovers a secret from Shamir shares (Lagrange interpolation at x = 0).
pub fn shamir_combine(parts: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, String> {
    if parts.len() < 2 {
        return Err("less than two parts cannot be used to reconstruct the secret".into());
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err("the key group parts differ in length".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) || *x == 0 {
            return Err("duplicate or invalid part detected".into());
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, part) in parts.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    // (0 - xj) / (xi - xj) in characteristic 2 is xj / (xi ^ xj).
                    basis = gf_mul(basis, gf_mul(xj, gf_inv(xs[i] ^ xj)));
                }
            }
            acc ^= gf_mul(part[idx], basis);
        }
        *out = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gf_inverse_is_an_inverse() {
        for a in 1..=255u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1, "inverse of {a}");
        }
    }

    #[test]
    fn shamir_any_threshold_subset_recovers_the_secret() {
        let secret = [0x42u8; 32];
        let shares = shamir_split(&secret, 3, 2).expect("splits");
        for (a, b) in [(0, 1), (0, 2), (1, 2)] {
            let pair = vec![
                Zeroizing::new(shares[a].to_vec()),
                Zeroizing::new(shares[b].to_vec()),
            ];
            assert_eq!(&shamir_combine(&pair).expect("combines")[..], &secret[..]);
        }
        let one = vec![Zeroizing::new(shares[0].to_vec())];
        assert!(shamir_combine(&one).is_err());
    }

    #[test]
    fn age_wrap_round_trips() {
        let id = age::x25519::Identity::generate();
        let enc = wrap(&[5u8; 32], &id.to_public().to_string()).expect("wraps");
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        let mut ids = Identities::new();
        ids.push(id);
        assert_eq!(&unwrap(&enc, &ids).expect("unwraps")[..], &[5u8; 32]);
    }
}
