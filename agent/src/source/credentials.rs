//! Credentials for a Git remote, read from files (a mounted Kubernetes Secret): HTTP basic
//! auth or a bearer token, an SSH private key with its known_hosts, and a CA bundle for HTTPS.
//!
//! Secret values live in [`SecretText`], which zeroizes on drop and has no `Debug`,
//! `Display` or `Serialize`, so they cannot be formatted into a log line or an error.

use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Errors from loading credentials. They name the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A credentials file could not be read.
    #[error("credentials file {path}: read failed: {source}")]
    ReadFailed {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A credentials file is empty (after trimming a trailing newline).
    #[error("credentials file {path}: empty")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A field combination that cannot work (e.g. a password without a user name).
    #[error("credentials: {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
}

/// A secret string (password, token). Zeroized on drop; deliberately without `Debug`,
/// `Display`, `Clone` or `Serialize`.
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps a secret.
    #[must_use]
    pub fn new(value: String) -> Self {
        Self(Zeroizing::new(value))
    }

    /// The secret value, for handing to the transport only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How to authenticate over HTTP(S).
pub enum HttpAuth {
    /// `Authorization: Basic`, through the Git credential protocol.
    Basic {
        /// The user name (not secret).
        username: String,
        /// The password or personal access token.
        password: SecretText,
    },
    /// `Authorization: Bearer <token>`, sent as an extra header.
    Bearer {
        /// The token.
        token: SecretText,
    },
}

/// How to reach an SSH remote: the system `ssh`, with a key from a file and strict host key
/// checking against a known_hosts file.
#[derive(Debug, Clone)]
pub struct SshAuth {
    /// The private key file (`ssh -i`).
    pub private_key: PathBuf,
    /// The known_hosts file; `None` uses ssh's defaults (still strict).
    pub known_hosts: Option<PathBuf>,
    /// Accept any host key. Off by default; only for tests and first contact.
    pub insecure_ignore_host_key: bool,
    /// An agent holding the key in memory ([`super::ssh_agent`]): `private_key` is then the
    /// public half, which selects the agent's key. Kept alive as long as this is.
    pub agent: Option<std::sync::Arc<super::ssh_agent::KeyAgent>>,
}

impl SshAuth {
    /// The `core.sshCommand` value: batch mode (never prompt), only the given key, strict
    /// host key checking.
    #[must_use]
    pub fn ssh_command(&self) -> String {
        let mut cmd = format!(
            "{} -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o ConnectTimeout=20",
            shell_quote(&super::program::find_or_default("ssh")),
            shell_quote(&self.private_key)
        );
        if let Some(agent) = &self.agent {
            cmd.push_str(" -o IdentityAgent=");
            cmd.push_str(&shell_quote(agent.socket()));
        }
        if self.insecure_ignore_host_key {
            cmd.push_str(" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null");
        } else {
            cmd.push_str(" -o StrictHostKeyChecking=yes");
            if let Some(known_hosts) = &self.known_hosts {
                cmd.push_str(" -o UserKnownHostsFile=");
                cmd.push_str(&shell_quote(known_hosts));
            }
        }
        cmd
    }
}

/// Quotes a path for the shell that runs `core.sshCommand`.
pub(crate) fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// Where the credential files are (each optional). This is the configuration form; see
/// [`Credentials::load`].
#[derive(Debug, Clone, Default)]
pub struct CredentialFiles {
    /// HTTP user name file (basic auth).
    pub username: Option<PathBuf>,
    /// HTTP password (or token used as a password) file (basic auth).
    pub password: Option<PathBuf>,
    /// Bearer token file.
    pub bearer_token: Option<PathBuf>,
    /// SSH private key file.
    pub ssh_private_key: Option<PathBuf>,
    /// SSH known_hosts file.
    pub ssh_known_hosts: Option<PathBuf>,
    /// PEM bundle of CA certificates to trust for HTTPS, in addition to the system roots.
    pub ca_bundle: Option<PathBuf>,
}

/// Loaded credentials for one remote.
#[derive(Default)]
pub struct Credentials {
    /// HTTP authentication.
    pub http: Option<HttpAuth>,
    /// SSH key and host checking.
    pub ssh: Option<SshAuth>,
    /// Extra CA certificates (PEM) for HTTPS.
    pub ca_bundle: Option<Vec<u8>>,
}

impl Credentials {
    /// No credentials (public repositories, git://, file://).
    #[must_use]
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the files named in `files`.
    pub fn load(files: &CredentialFiles) -> Result<Self, CredentialsError> {
        let http = match (&files.username, &files.password, &files.bearer_token) {
            (_, Some(_), Some(_)) => {
                return Err(CredentialsError::Invalid {
                    field: "bearerToken",
                    reason: "set either a password or a bearer token, not both",
                });
            }
            (Some(user), Some(password), None) => Some(HttpAuth::Basic {
                username: read_secret(user)?.expose().to_owned(),
                password: read_secret(password)?,
            }),
            (None, Some(_), None) => {
                return Err(CredentialsError::Invalid {
                    field: "username",
                    reason: "a password needs a user name",
                });
            }
            (_, None, Some(token)) => Some(HttpAuth::Bearer {
                token: read_secret(token)?,
            }),
            (Some(_), None, None) => {
                return Err(CredentialsError::Invalid {
                    field: "password",
                    reason: "a user name needs a password",
                });
            }
            (None, None, None) => None,
        };
        let ssh = match &files.ssh_private_key {
            Some(key) => {
                // Check the key is readable now rather than at the first fetch.
                std::fs::metadata(key).map_err(|source| CredentialsError::ReadFailed {
                    path: key.clone(),
                    source,
                })?;
                Some(SshAuth {
                    private_key: key.clone(),
                    known_hosts: files.ssh_known_hosts.clone(),
                    insecure_ignore_host_key: false,
                    agent: None,
                })
            }
            None => None,
        };
        let ca_bundle = match &files.ca_bundle {
            Some(path) => {
                Some(
                    std::fs::read(path).map_err(|source| CredentialsError::ReadFailed {
                        path: path.clone(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Ok(Self {
            http,
            ssh,
            ca_bundle,
        })
    }

    /// The secret strings, for scrubbing messages from lower layers.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        match &self.http {
            Some(HttpAuth::Basic { password, .. }) => vec![password.expose()],
            Some(HttpAuth::Bearer { token }) => vec![token.expose()],
            None => Vec::new(),
        }
    }
}

fn read_secret(path: &Path) -> Result<SecretText, CredentialsError> {
    let bytes =
        Zeroizing::new(
            std::fs::read(path).map_err(|source| CredentialsError::ReadFailed {
                path: path.to_owned(),
                source,
            })?,
        );
    let text = std::str::from_utf8(&bytes).map_err(|_| CredentialsError::Invalid {
        field: "file content",
        reason: "not valid UTF-8",
    })?;
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(CredentialsError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(SecretText::new(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_basic_auth_and_trims_the_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("u"), "ci\n").expect("write");
        std::fs::write(dir.path().join("p"), "s3cret-value\n").expect("write");
        let creds = Credentials::load(&CredentialFiles {
            username: Some(dir.path().join("u")),
            password: Some(dir.path().join("p")),
            ..CredentialFiles::default()
        })
        .expect("load");
        match creds.http {
            Some(HttpAuth::Basic { username, password }) => {
                assert_eq!(username, "ci");
                assert_eq!(password.expose(), "s3cret-value");
            }
            _ => panic!("expected basic auth"),
        }
    }

    #[test]
    fn fail_password_without_user_and_missing_file() {
        let err = Credentials::load(&CredentialFiles {
            password: Some("/nonexistent".into()),
            ..CredentialFiles::default()
        })
        .err()
        .expect("must fail");
        assert!(err.to_string().contains("username"), "{err}");
        let err = Credentials::load(&CredentialFiles {
            bearer_token: Some("/nonexistent/token".into()),
            ..CredentialFiles::default()
        })
        .err()
        .expect("must fail");
        assert!(err.to_string().contains("/nonexistent/token"), "{err}");
    }

    #[test]
    fn ssh_command_is_strict_by_default() {
        let ssh = SshAuth {
            private_key: "/keys/id".into(),
            known_hosts: Some("/keys/known hosts".into()),
            insecure_ignore_host_key: false,
            agent: None,
        };
        let cmd = ssh.ssh_command();
        assert!(cmd.contains("StrictHostKeyChecking=yes"), "{cmd}");
        assert!(cmd.contains("'/keys/known hosts'"), "{cmd}");
    }
}
