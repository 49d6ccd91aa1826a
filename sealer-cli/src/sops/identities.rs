//! age identities and recipients: X25519 (`AGE-SECRET-KEY-1...` / `age1...`) and SSH keys
//! (`ssh-ed25519`, `ssh-rsa`), as sops 3.11 accepts them.
//!
//! An identity file may hold X25519 lines, or one OpenSSH/PEM private key. A
//! passphrase-protected identity (an SSH key with a passphrase, or an age identity file
//! encrypted with `age -p`) is refused with an error saying so: nothing here prompts.

use age::armor::{ArmoredReader, ArmoredWriter, Format as ArmorFormat};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::Zeroizing;

use super::Error;
use super::keys::{KeyService, UnwrapError};
use super::master::{KeyKind, KeyRef, MasterKey};

enum AgeIdentity {
    X25519(age::x25519::Identity),
    Ssh(age::ssh::Identity),
}

impl AgeIdentity {
    fn as_dyn(&self) -> &dyn age::Identity {
        match self {
            AgeIdentity::X25519(i) => i,
            AgeIdentity::Ssh(i) => i,
        }
    }
}

/// A set of age identities (X25519 secret keys and SSH private keys) to decrypt with.
#[derive(Default)]
pub struct Identities {
    ids: Vec<AgeIdentity>,
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

    /// Adds an X25519 identity.
    pub fn push(&mut self, id: age::x25519::Identity) {
        self.ids.push(AgeIdentity::X25519(id));
    }

    /// Adds the identities of an identity file's text: `AGE-SECRET-KEY-1...` lines (comments
    /// and blank lines skipped), or one unencrypted SSH private key. `source` names where the
    /// text came from, for errors.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<(), Error> {
        let fail = |reason: String| Error::Identity {
            source_name: source.to_owned(),
            reason,
        };
        if text.contains("-----BEGIN AGE ENCRYPTED FILE-----") {
            return Err(fail(
                "the identity file is passphrase-protected (age -p); passphrase-protected \
                 identities are not supported: provide the decrypted identity"
                    .into(),
            ));
        }
        if text.trim_start().starts_with("-----BEGIN") {
            return self.add_ssh(text, source);
        }
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = age::x25519::Identity::from_str(line).map_err(|_| {
                fail(format!(
                    "line {} is not an age X25519 identity (AGE-SECRET-KEY-1...)",
                    n + 1
                ))
            })?;
            self.push(id);
        }
        Ok(())
    }

    fn add_ssh(&mut self, text: &str, source: &str) -> Result<(), Error> {
        let fail = |reason: String| Error::Identity {
            source_name: source.to_owned(),
            reason,
        };
        let id = age::ssh::Identity::from_buffer(text.as_bytes(), None)
            .map_err(|e| fail(format!("not a usable SSH private key: {e}")))?;
        match id {
            age::ssh::Identity::Unencrypted(_) => {
                self.ids.push(AgeIdentity::Ssh(id));
                Ok(())
            }
            age::ssh::Identity::Encrypted(_) => Err(fail(
                "the SSH key is passphrase-protected; passphrase-protected identities are not \
                 supported: use an unencrypted copy (ssh-keygen -p -N '')"
                    .into(),
            )),
            age::ssh::Identity::Unsupported(k) => Err(fail(match k {
                age::ssh::UnsupportedKey::EncryptedPem
                | age::ssh::UnsupportedKey::EncryptedSsh(_) => {
                    "the SSH key is passphrase-protected; passphrase-protected identities are \
                     not supported"
                        .to_owned()
                }
                other => format!("unsupported SSH key: {other:?} (use ssh-ed25519 or ssh-rsa)"),
            })),
        }
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
    /// the default `$XDG_CONFIG_HOME/sops/age/keys.txt` (else `$HOME/.config/...`) when that
    /// file exists, and the SSH key of `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else
    /// `~/.ssh/id_ed25519` or `~/.ssh/id_rsa` when present.
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
        if let Some(path) = std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            ids.add_file(Path::new(&path))?;
        } else if let Some(home) = std::env::var_os("HOME") {
            let ssh = PathBuf::from(home).join(".ssh");
            if let Some(p) = ["id_ed25519", "id_rsa"]
                .iter()
                .map(|n| ssh.join(n))
                .find(|p| p.is_file())
            {
                // A default key that cannot be used (passphrase, unsupported type) is skipped,
                // as sops does; an explicit one is an error.
                let _ = ids.add_file(&p);
            }
        }
        Ok(ids)
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

/// Parses an age recipient: X25519 (`age1...`) or SSH (`ssh-ed25519 ...`, `ssh-rsa ...`).
pub fn parse_recipient(text: &str) -> Result<Box<dyn age::Recipient + Send>, Error> {
    let text = text.trim();
    let bad = || Error::Recipient {
        recipient: text.chars().take(200).collect(),
    };
    if text.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(text)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|_| bad());
    }
    age::x25519::Recipient::from_str(text)
        .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
        .map_err(|_| bad())
}

/// Wraps a data key (or a Shamir share of it) for one recipient as an armoured age file.
pub fn wrap(secret: &[u8], recipient: &str) -> Result<String, Error> {
    let r = parse_recipient(recipient)?;
    let fail = |e: &dyn std::fmt::Display| Error::DataKeyWrap {
        recipient: recipient.to_owned(),
        reason: e.to_string(),
    };
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(r.as_ref() as &dyn age::Recipient))
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
fn unwrap_age(enc: &str, ids: &Identities) -> Result<Zeroizing<Vec<u8>>, String> {
    let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(enc.as_bytes()))
        .map_err(|e| format!("not an age file: {e}"))?;
    let mut reader = decryptor
        .decrypt(ids.ids.iter().map(AgeIdentity::as_dyn))
        .map_err(|_| {
            if ids.is_empty() {
                "no age identity given".to_owned()
            } else {
                "no identity matches".to_owned()
            }
        })?;
    let mut out = Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut out)
        .map_err(|e| format!("reading the age file: {e}"))?;
    Ok(out)
}

impl KeyService for Identities {
    fn unwrap(&self, key: &MasterKey) -> Result<Zeroizing<Vec<u8>>, UnwrapError> {
        match key.key {
            KeyRef::Age(_) => unwrap_age(&key.enc, self).map_err(UnwrapError::Failed),
            _ => Err(UnwrapError::NotHandled),
        }
    }

    fn wrap(&self, key: &mut MasterKey, data_key: &[u8]) -> Result<(), UnwrapError> {
        match &key.key {
            KeyRef::Age(r) => {
                let enc = wrap(data_key, r).map_err(|e| UnwrapError::Failed(e.to_string()))?;
                key.set_wrapped(enc);
                Ok(())
            }
            _ => Err(UnwrapError::NotHandled),
        }
    }

    fn kinds(&self) -> Vec<KeyKind> {
        vec![KeyKind::Age]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_wrap_round_trips() {
        let id = age::x25519::Identity::generate();
        let enc = wrap(&[5u8; 32], &id.to_public().to_string()).expect("wraps");
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"));
        let mut ids = Identities::new();
        ids.push(id);
        assert_eq!(&unwrap_age(&enc, &ids).expect("unwraps")[..], &[5u8; 32]);
    }

    #[test]
    fn fail_a_passphrase_protected_age_identity_is_refused_clearly() {
        let text = "-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
        let err = Identities::new()
            .add_text(text, "keys.txt")
            .expect_err("refused")
            .to_string();
        assert!(
            err.contains("keys.txt") && err.contains("passphrase-protected"),
            "{err}"
        );
    }
}
