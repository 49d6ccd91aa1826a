//! Commit signatures, written into the commit's `gpgsig` header as `git commit -S` does:
//! - SSH (`gpg.format=ssh`): an `SSHSIG` over the commit buffer in the `git` namespace;
//! - OpenPGP (`gpg.format=openpgp`, git's default): a detached binary signature over the
//!   commit buffer, ASCII-armored, made in process by rpgp (no `gpg` is run).
//!
//! Key material lives in zeroizing buffers; no error or log line quotes it.

use super::PushError;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// How commits are signed.
pub enum Signer {
    /// An OpenSSH private key file (unencrypted).
    Ssh(PathBuf),
    /// An ASCII-armored OpenPGP secret key, with its passphrase.
    Gpg(GpgKey),
}

/// An OpenPGP secret key (Flux's `git.asc`) and its optional passphrase. No `Debug`,
/// `Display` or `Serialize`: the text never leaves this value but to the signer.
pub struct GpgKey {
    armored: Zeroizing<String>,
    passphrase: Option<Zeroizing<String>>,
    origin: String,
}

impl GpgKey {
    /// A key read from `origin` (a file path or `Secret NS/NAME`, for errors).
    #[must_use]
    pub fn new(
        armored: Zeroizing<String>,
        passphrase: Option<Zeroizing<String>>,
        origin: &str,
    ) -> Self {
        Self {
            armored,
            passphrase,
            origin: origin.to_owned(),
        }
    }

    /// Where the key came from.
    #[must_use]
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Signs `buffer` (a commit without signature) with `signer`; returns the armored signature
/// without a final newline, ready for the `gpgsig` header.
pub(super) fn sign(signer: &Signer, buffer: &[u8]) -> Result<String, PushError> {
    let text = match signer {
        Signer::Ssh(key) => ssh_sign(key, buffer)?,
        Signer::Gpg(key) => gpg_sign(key, buffer)?,
    };
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Signs `buffer` with the OpenSSH private key in `key`; returns the armored signature.
fn ssh_sign(key: &Path, buffer: &[u8]) -> Result<String, PushError> {
    let failed = |message: String| PushError::SignFailed {
        path: key.display().to_string(),
        message,
    };
    let text =
        Zeroizing::new(std::fs::read_to_string(key).map_err(|e| failed(e.kind().to_string()))?);
    let private = ssh_key::PrivateKey::from_openssh(text.as_bytes())
        .map_err(|_| failed("not an unencrypted OpenSSH private key".into()))?;
    if private.is_encrypted() {
        return Err(failed("the key is encrypted".into()));
    }
    let signature = private
        .sign("git", ssh_key::HashAlg::Sha512, buffer)
        .map_err(|e| failed(format!("signing: {e}")))?;
    signature
        .to_pem(ssh_key::LineEnding::LF)
        .map_err(|e| failed(format!("encoding: {e}")))
}

/// Signs `buffer` with the OpenPGP key: a signing-capable subkey when the key has one (as
/// gpg chooses), else the primary key.
fn gpg_sign(key: &GpgKey, buffer: &[u8]) -> Result<String, PushError> {
    use pgp::composed::{ArmorOptions, Deserializable as _, DetachedSignature, SignedSecretKey};
    use pgp::crypto::hash::HashAlgorithm;
    use pgp::types::Password;
    let failed = |message: &str| PushError::SignFailed {
        path: key.origin.clone(),
        message: message.to_owned(),
    };
    let (secret, _) = SignedSecretKey::from_string(&key.armored)
        .map_err(|_| failed("not an ASCII-armored OpenPGP secret key"))?;
    let password = match &key.passphrase {
        Some(p) => Password::from(p.as_bytes()),
        None => Password::empty(),
    };
    let subkey = secret
        .secret_subkeys
        .iter()
        .rev()
        .find(|s| s.signatures.iter().any(|sig| sig.key_flags().sign()));
    let rng = rand::thread_rng();
    let signature = match subkey {
        Some(sub) => DetachedSignature::sign_binary_data(
            rng,
            &sub.key,
            &password,
            HashAlgorithm::Sha256,
            buffer,
        ),
        None => DetachedSignature::sign_binary_data(
            rng,
            &secret.primary_key,
            &password,
            HashAlgorithm::Sha256,
            buffer,
        ),
    }
    .map_err(|_| {
        failed(if key.passphrase.is_some() {
            "signing failed: the passphrase does not unlock the key, or the key cannot sign"
        } else {
            "signing failed: the key is locked with a passphrase (set one), or cannot sign"
        })
    })?;
    signature
        .to_armored_string(ArmorOptions::default())
        .map_err(|_| failed("encoding the signature failed"))
}
