//! SSH commit signatures (`gpg.format=ssh`): an `SSHSIG` over the commit buffer in the `git`
//! namespace, as `git commit -S` writes it.

use super::PushError;
use std::path::Path;

/// Signs `buffer` with the OpenSSH private key in `key`; returns the armored signature.
pub(super) fn ssh_sign(key: &Path, buffer: &[u8]) -> Result<String, PushError> {
    let failed = |message: String| PushError::SignFailed {
        path: key.display().to_string(),
        message,
    };
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(key).map_err(|e| failed(e.kind().to_string()))?,
    );
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
