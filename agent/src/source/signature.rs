//! Signed commits: SSH signatures checked in pure Rust against an `allowed_signers` file
//! (the format of `ssh-keygen -Y verify`, namespace `git`), and OpenPGP signatures checked by
//! the `gpg` program against given public keys in a throw-away keyring.
//!
//! An unsigned commit, an unknown signer or a bad signature is an error with reason
//! `SignatureRejected`: the commit is not synced.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The SSH signature namespace Git uses.
pub const GIT_NAMESPACE: &str = "git";

/// Errors from verifying a commit or loading the trusted keys.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The commit carries no signature.
    #[error("commit {commit}: not signed")]
    Unsigned {
        /// The commit id.
        commit: String,
    },
    /// The signature is by a key that is not trusted.
    #[error("commit {commit}: signed by an unknown key {fingerprint}")]
    UnknownSigner {
        /// The commit id.
        commit: String,
        /// The signing key's fingerprint.
        fingerprint: String,
    },
    /// The signature does not verify (wrong data, wrong namespace, malformed).
    #[error("commit {commit}: signature rejected: {message}")]
    BadSignature {
        /// The commit id.
        commit: String,
        /// Why.
        message: String,
    },
    /// The signature's format does not match what the source expects.
    #[error("commit {commit}: {found} signature, but the source expects {expected} signatures")]
    WrongFormat {
        /// The commit id.
        commit: String,
        /// What the commit has.
        found: &'static str,
        /// What the policy wants.
        expected: &'static str,
    },
    /// The commit could not be read.
    #[error("commit {commit}: reading failed: {message}")]
    ReadCommitFailed {
        /// The commit id.
        commit: String,
        /// The cause.
        message: String,
    },
    /// A line of the allowed signers file is invalid.
    #[error("{path}:{line}: invalid allowed signer: {message}")]
    AllowedSignersInvalid {
        /// The file.
        path: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A trusted-keys file could not be read.
    #[error("{path}: read failed: {source}")]
    KeysUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `gpg` is needed for OpenPGP signatures and could not be run.
    #[error("gpg: {step} failed: {message} (OpenPGP signature checks need the gpg program)")]
    GpgFailed {
        /// What was being done.
        step: &'static str,
        /// The cause.
        message: String,
    },
}

impl SignatureError {
    /// A short, stable reason.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::AllowedSignersInvalid { .. } | Self::KeysUnreadable { .. } => "InvalidConfig",
            Self::GpgFailed { .. } => "SignatureCheckFailed",
            _ => "SignatureRejected",
        }
    }
}

/// One trusted SSH key and the principals it signs as.
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// The principals (e.g. e-mail addresses).
    pub principals: Vec<String>,
    /// The key.
    pub key: ssh_key::PublicKey,
    /// The namespaces it may sign for (`None`: any).
    pub namespaces: Option<Vec<String>>,
}

/// The trusted SSH keys, as in Git's `gpg.ssh.allowedSignersFile`.
#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    /// The entries, in file order.
    pub entries: Vec<AllowedSigner>,
}

impl AllowedSigners {
    /// Reads an allowed signers file.
    pub fn load(path: &Path) -> Result<Self, SignatureError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SignatureError::KeysUnreadable {
                path: path.to_owned(),
                source,
            })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses allowed signers text: `principals [options] keytype base64 [comment]` per line;
    /// `#` comments and blank lines are skipped. Options understood: `namespaces="a,b"`;
    /// `cert-authority` is refused (certificates are not supported).
    pub fn parse(text: &str, name: &str) -> Result<Self, SignatureError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let invalid = |message: String| SignatureError::AllowedSignersInvalid {
                path: name.to_owned(),
                line: index + 1,
                message,
            };
            let mut tokens = line.split_whitespace();
            let principals: Vec<String> = tokens
                .next()
                .unwrap_or_default()
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            let mut next = tokens.next().ok_or_else(|| invalid("no key".to_owned()))?;
            let mut namespaces = None;
            if !is_key_type(next) {
                for option in split_options(next) {
                    let lower = option.to_ascii_lowercase();
                    if lower == "cert-authority" {
                        return Err(invalid("cert-authority keys are not supported".to_owned()));
                    }
                    if let Some(value) = lower.strip_prefix("namespaces=") {
                        let value = value.trim_matches('"');
                        namespaces = Some(value.split(',').map(str::to_owned).collect());
                    }
                }
                next = tokens
                    .next()
                    .ok_or_else(|| invalid("no key after the options".to_owned()))?;
            }
            let data = tokens
                .next()
                .ok_or_else(|| invalid("key type without key data".to_owned()))?;
            let key = ssh_key::PublicKey::from_openssh(&format!("{next} {data}"))
                .map_err(|err| invalid(format!("key: {err}")))?;
            entries.push(AllowedSigner {
                principals,
                key,
                namespaces,
            });
        }
        Ok(Self { entries })
    }
}

fn is_key_type(token: &str) -> bool {
    token.starts_with("ssh-") || token.starts_with("ecdsa-") || token.starts_with("sk-")
}

/// Splits `a="x,y",b` at commas outside quotes.
fn split_options(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// What a source requires of its commits.
#[derive(Debug, Clone, Default)]
pub enum SignaturePolicy {
    /// Nothing (the default).
    #[default]
    None,
    /// An SSH signature by one of these keys.
    Ssh(AllowedSigners),
    /// An OpenPGP signature by one of the keys in these armored public key files.
    Gpg {
        /// The public key files.
        keys: Vec<PathBuf>,
    },
}

/// Verifies `commit` in `repo` under `policy`; returns the signer (a principal, or the
/// OpenPGP user id), or `None` when the policy requires nothing.
pub fn verify_commit(
    repo: &gix::Repository,
    commit: gix::ObjectId,
    policy: &SignaturePolicy,
) -> Result<Option<String>, SignatureError> {
    if matches!(policy, SignaturePolicy::None) {
        return Ok(None);
    }
    let id = commit.to_string();
    let read_failed = |message: String| SignatureError::ReadCommitFailed {
        commit: id.clone(),
        message,
    };
    let object = repo
        .find_commit(commit)
        .map_err(|err| read_failed(err.to_string()))?;
    let Some((signature, signed)) = object
        .signature()
        .map_err(|err| read_failed(err.to_string()))?
    else {
        return Err(SignatureError::Unsigned { commit: id });
    };
    let signature = signature.to_vec();
    let signed = signed.to_bstring();
    let is_ssh = signature.starts_with(b"-----BEGIN SSH SIGNATURE-----");
    let is_pgp = signature.starts_with(b"-----BEGIN PGP SIGNATURE-----");
    match policy {
        SignaturePolicy::None => Ok(None),
        SignaturePolicy::Ssh(allowed) => {
            if !is_ssh {
                return Err(SignatureError::WrongFormat {
                    commit: id,
                    found: if is_pgp { "an OpenPGP" } else { "an unknown" },
                    expected: "SSH",
                });
            }
            verify_ssh(&id, &signature, &signed, allowed).map(Some)
        }
        SignaturePolicy::Gpg { keys } => {
            if !is_pgp {
                return Err(SignatureError::WrongFormat {
                    commit: id,
                    found: if is_ssh { "an SSH" } else { "an unknown" },
                    expected: "OpenPGP",
                });
            }
            verify_gpg(&id, &signature, &signed, keys).map(Some)
        }
    }
}

/// Verifies an armored SSH signature over `data` against the allowed signers.
pub fn verify_ssh(
    commit: &str,
    armored: &[u8],
    data: &[u8],
    allowed: &AllowedSigners,
) -> Result<String, SignatureError> {
    let bad = |message: String| SignatureError::BadSignature {
        commit: commit.to_owned(),
        message,
    };
    let sig = ssh_key::SshSig::from_pem(armored).map_err(|err| bad(format!("malformed: {err}")))?;
    if sig.namespace() != GIT_NAMESPACE {
        return Err(bad(format!(
            "namespace {:?}, expected {GIT_NAMESPACE:?}",
            sig.namespace()
        )));
    }
    let signer = allowed.entries.iter().find(|entry| {
        entry.key.key_data() == sig.public_key()
            && entry
                .namespaces
                .as_ref()
                .is_none_or(|ns| ns.iter().any(|n| n == GIT_NAMESPACE))
    });
    let Some(signer) = signer else {
        let fingerprint = ssh_key::PublicKey::from(sig.public_key().clone())
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string();
        return Err(SignatureError::UnknownSigner {
            commit: commit.to_owned(),
            fingerprint,
        });
    };
    signer
        .key
        .verify(GIT_NAMESPACE, data, &sig)
        .map_err(|err| bad(format!("does not verify: {err}")))?;
    Ok(signer
        .principals
        .first()
        .cloned()
        .unwrap_or_else(|| signer.key.fingerprint(ssh_key::HashAlg::Sha256).to_string()))
}

/// Verifies an armored OpenPGP signature with `gpg` in a temporary keyring holding `keys`.
fn verify_gpg(
    commit: &str,
    armored: &[u8],
    data: &[u8],
    keys: &[PathBuf],
) -> Result<String, SignatureError> {
    let gpg_failed = |step, message: String| SignatureError::GpgFailed { step, message };
    let home = tempfile::tempdir().map_err(|err| gpg_failed("create keyring", err.to_string()))?;
    let gpg = super::program::find_or_default("gpg");
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(&gpg)
            .arg("--batch")
            .arg("--no-tty")
            .arg("--homedir")
            .arg(home.path())
            .args(args)
            .stdin(Stdio::null())
            .output()
    };
    for key in keys {
        let out = run(&["--import".as_ref(), key.as_os_str()])
            .map_err(|err| gpg_failed("run", err.to_string()))?;
        if !out.status.success() {
            return Err(gpg_failed(
                "import key",
                format!(
                    "{}: {}",
                    key.display(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
    }
    let sig_path = home.path().join("commit.sig");
    let data_path = home.path().join("commit.data");
    std::fs::write(&sig_path, armored).map_err(|err| gpg_failed("write", err.to_string()))?;
    std::fs::write(&data_path, data).map_err(|err| gpg_failed("write", err.to_string()))?;
    let out = run(&[
        "--status-fd".as_ref(),
        "1".as_ref(),
        "--verify".as_ref(),
        sig_path.as_os_str(),
        data_path.as_os_str(),
    ])
    .map_err(|err| gpg_failed("run", err.to_string()))?;
    let status = String::from_utf8_lossy(&out.stdout);
    let mut signer = None;
    let mut valid = false;
    let mut missing_key = None;
    for line in status.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("[GNUPG:]") {
            continue;
        }
        match words.next() {
            Some("GOODSIG") => {
                let _key_id = words.next();
                signer = Some(words.collect::<Vec<_>>().join(" "));
            }
            Some("VALIDSIG") => valid = true,
            Some("NO_PUBKEY") => missing_key = words.next().map(str::to_owned),
            _ => {}
        }
    }
    if let Some(key) = missing_key {
        return Err(SignatureError::UnknownSigner {
            commit: commit.to_owned(),
            fingerprint: key,
        });
    }
    match (valid, signer) {
        (true, Some(signer)) if out.status.success() => Ok(signer),
        _ => Err(SignatureError::BadSignature {
            commit: commit.to_owned(),
            message: "gpg did not report a good signature".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGaeFqiReYMDONJGAu1q46qY493PgGkwie38TddH+z68";

    #[test]
    fn parses_allowed_signers_with_options_and_comments() {
        let text = format!(
            "# trusted\n\nalice@example.org {KEY} laptop\nbob@example.org,ci namespaces=\"git,file\" {KEY}\n"
        );
        let signers = AllowedSigners::parse(&text, "allowed_signers").expect("parse");
        assert_eq!(signers.entries.len(), 2);
        assert_eq!(signers.entries[1].principals, ["bob@example.org", "ci"]);
        assert_eq!(
            signers.entries[1].namespaces.as_deref(),
            Some(&["git".to_owned(), "file".to_owned()][..])
        );
    }

    #[test]
    fn fail_allowed_signer_lines_name_the_line() {
        let err = AllowedSigners::parse("alice ssh-ed25519 notbase64!\n", "signers")
            .expect_err("must fail");
        assert!(err.to_string().starts_with("signers:1:"), "{err}");
        let err = AllowedSigners::parse(&format!("\nca cert-authority {KEY}\n"), "signers")
            .expect_err("must fail");
        assert!(err.to_string().contains("signers:2:"), "{err}");
    }

    #[test]
    fn fail_malformed_ssh_signature() {
        let err = verify_ssh("c0ffee", b"garbage", b"data", &AllowedSigners::default())
            .expect_err("must fail");
        assert_eq!(err.reason(), "SignatureRejected");
    }
}
