//! SSH keys given in memory (a Flux `GitRepository`'s `secretRef` with `identity` and
//! `known_hosts`), used without ever writing the private key to disk.
//!
//! A [`KeyAgent`] is an `ssh-agent` started by Tether in the foreground (`-D`, so Tether
//! holds its PID), listening on a socket in a fresh folder only Tether's user may read
//! (mode 0700). The private key is handed to it with `ssh-add -` on standard input and
//! wiped from Tether's memory; `ssh` then authenticates through the agent
//! (`IdentityAgent`), offered only that key (`-i` names its *public* half with
//! `IdentitiesOnly=yes`). The host key is checked strictly against the Secret's
//! `known_hosts` (public data, written beside the socket). Dropping the agent stops the
//! process by its PID and removes the folder.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::credentials::SshAuth;

/// How long the agent may take to create its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest socket path a Unix socket address holds (with room to spare).
const MAX_SOCKET_PATH: usize = 100;

/// Why an in-memory SSH key could not be used. Messages never quote the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyAgentError {
    /// The private folder could not be made.
    #[error("ssh-agent: creating its private folder: {0}")]
    Folder(std::io::Error),
    /// `ssh-agent` did not start.
    #[error("ssh-agent: {0}")]
    Start(String),
    /// `ssh-add` refused the key (not a private key, or one with a passphrase).
    #[error("key identity: ssh-add refused it ({0})")]
    KeyRefused(String),
    /// `known_hosts` holds no host key.
    #[error("key known_hosts: {0}")]
    KnownHosts(String),
}

/// A running `ssh-agent` holding one key.
pub struct KeyAgent {
    child: Mutex<Child>,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl std::fmt::Debug for KeyAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyAgent")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl KeyAgent {
    /// Starts an agent in a new private folder under `base` (the system's temporary folder
    /// when `base` is `None` or too deep for a socket path), adds `private_key` to it, and
    /// returns the agent with the [`SshAuth`] that uses it and checks hosts against
    /// `known_hosts`.
    pub fn start(
        base: Option<&Path>,
        private_key: Zeroizing<Vec<u8>>,
        known_hosts: &str,
    ) -> Result<(std::sync::Arc<Self>, SshAuth), KeyAgentError> {
        if !known_hosts
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        {
            return Err(KeyAgentError::KnownHosts(
                "holds no host key (hosts are always checked)".into(),
            ));
        }
        let base = base
            .filter(|b| b.as_os_str().len() + 40 < MAX_SOCKET_PATH)
            .map_or_else(std::env::temp_dir, Path::to_path_buf);
        crate::private_dir::create(&base).map_err(KeyAgentError::Folder)?;
        let dir = tempfile::Builder::new()
            .prefix("ssh-agent-")
            .tempdir_in(&base)
            .map_err(KeyAgentError::Folder)?;
        crate::private_dir::create(dir.path()).map_err(KeyAgentError::Folder)?;
        let socket = dir.path().join("agent.sock");
        let child = Command::new(super::program::find_or_default("ssh-agent"))
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| KeyAgentError::Start(e.to_string()))?;
        let agent = Self {
            child: Mutex::new(child),
            dir,
            socket,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !agent.socket.exists() {
            if Instant::now() > deadline {
                return Err(KeyAgentError::Start("its socket did not appear".into()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        agent.add(&private_key)?;
        drop(private_key);
        let public = agent.public_key()?;
        let public_path = agent.dir.path().join("identity.pub");
        std::fs::write(&public_path, public.as_bytes()).map_err(KeyAgentError::Folder)?;
        let hosts_path = agent.dir.path().join("known_hosts");
        std::fs::write(&hosts_path, known_hosts.as_bytes()).map_err(KeyAgentError::Folder)?;
        let agent = std::sync::Arc::new(agent);
        let auth = SshAuth {
            private_key: public_path,
            known_hosts: Some(hosts_path),
            insecure_ignore_host_key: false,
            agent: Some(std::sync::Arc::clone(&agent)),
        };
        Ok((agent, auth))
    }

    /// The agent's socket.
    #[must_use]
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn ssh_add(&self) -> Command {
        let mut cmd = Command::new(super::program::find_or_default("ssh-add"));
        cmd.env("SSH_AUTH_SOCK", &self.socket)
            .env_remove("SSH_ASKPASS")
            .env("SSH_ASKPASS_REQUIRE", "never")
            .env_remove("DISPLAY");
        cmd
    }

    fn add(&self, key: &[u8]) -> Result<(), KeyAgentError> {
        let mut child = self
            .ssh_add()
            .arg("-q")
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| KeyAgentError::Start(format!("ssh-add: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            let mut bytes = Zeroizing::new(key.to_vec());
            if !bytes.ends_with(b"\n") {
                bytes.push(b'\n');
            }
            // A refused key closes stdin early; the exit status says why.
            let _ = stdin.write_all(&bytes);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| KeyAgentError::Start(format!("ssh-add: {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        let reason = String::from_utf8_lossy(&out.stderr);
        // ssh-add's messages name the input ("(stdin)"), never its content.
        let reason: String = reason.trim().chars().take(200).collect();
        Err(KeyAgentError::KeyRefused(if reason.is_empty() {
            format!("exit status {}", out.status)
        } else {
            reason
        }))
    }

    fn public_key(&self) -> Result<String, KeyAgentError> {
        let out = self
            .ssh_add()
            .arg("-L")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| KeyAgentError::Start(format!("ssh-add -L: {e}")))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find(|l| l.starts_with("ssh-") || l.starts_with("ecdsa-") || l.starts_with("sk-"))
            .map(|l| format!("{l}\n"))
            .ok_or_else(|| KeyAgentError::KeyRefused("the agent holds no key".into()))
    }
}

impl Drop for KeyAgent {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = child.kill();
        let _ = child.wait();
    }
}
