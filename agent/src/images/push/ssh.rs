//! Pushing over SSH: the branch is fetched with gix exactly like an https:// remote (the
//! sync's ssh command: the write key, strict host key checking, batch mode), and the push
//! is the send-pack of module `sendpack` spoken over the pipes of a child process,
//! `ssh … HOST git-receive-pack 'PATH'`: the advertisement is read up to its flush packet,
//! the request written, stdin closed, and the report read to the end. Every read is
//! bounded, a watchdog kills the child when the deadline passes, and the child is killed
//! (if still running) and reaped on every path.

use super::sendpack::{MAX_ANSWER_BYTES, Transport, pkt_len, pkt_lines};
use super::{PushError, WriteTarget};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// How long the whole push may take.
const TIMEOUT: Duration = Duration::from_secs(120);
/// How much of ssh's own messages is kept for an error.
const MAX_STDERR_BYTES: u64 = 8 * 1024;

/// An SSH remote: `ssh://[USER@]HOST[:PORT]/PATH` or scp-like `[USER@]HOST:PATH`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SshRemote {
    /// `[USER@]HOST`.
    pub(super) host: String,
    /// The port, when given.
    pub(super) port: Option<u16>,
    /// The repository path as the server's shell sees it.
    pub(super) path: String,
}

/// Parses an SSH remote; `None` when `raw` is not one (another scheme, a local path).
pub(super) fn parse(raw: &str) -> Option<SshRemote> {
    for scheme in ["ssh://", "git+ssh://", "ssh+git://"] {
        if let Some(rest) = raw.strip_prefix(scheme) {
            let (authority, path) = rest.split_at(rest.find('/')?);
            let (user_host, port) = match authority.rfind(':') {
                Some(i) if !authority[i..].contains(']') => {
                    (&authority[..i], Some(authority[i + 1..].parse().ok()?))
                }
                _ => (authority, None),
            };
            // `ssh://host/~user/repo` names a path relative to a home folder.
            let path = path
                .strip_prefix('/')
                .filter(|p| p.starts_with('~'))
                .unwrap_or(path);
            return Some(SshRemote {
                host: user_host.replace(['[', ']'], ""),
                port,
                path: path.to_owned(),
            });
        }
    }
    if raw.contains("://") {
        return None;
    }
    let colon = raw.find(':')?;
    if raw.find('/').is_some_and(|slash| slash < colon) {
        return None;
    }
    let (host, path) = (&raw[..colon], &raw[colon + 1..]);
    (!host.is_empty() && !path.is_empty()).then(|| SshRemote {
        host: host.replace(['[', ']'], ""),
        port: None,
        path: path.to_owned(),
    })
}

/// A running `ssh … git-receive-pack` and its watchdog.
struct Ssh<'a> {
    target: &'a WriteTarget,
    child: Arc<Mutex<Child>>,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: Option<std::thread::JoinHandle<String>>,
    timed_out: Arc<AtomicBool>,
    stop: Option<mpsc::Sender<()>>,
    watchdog: Option<std::thread::JoinHandle<()>>,
}

impl WriteTarget {
    /// The ssh arguments: batch mode, the write key only, strict host key checking.
    fn ssh_command(&self, remote: &SshRemote) -> Command {
        let mut cmd = Command::new(crate::source::program::find_or_default("ssh"));
        if let Some(ssh) = &self.credentials.ssh {
            cmd.arg("-i").arg(&ssh.private_key);
            cmd.args(["-o", "IdentitiesOnly=yes"]);
            if ssh.insecure_ignore_host_key {
                cmd.args(["-o", "StrictHostKeyChecking=no"]);
                cmd.args(["-o", "UserKnownHostsFile=/dev/null"]);
            } else if let Some(known) = &ssh.known_hosts {
                cmd.arg("-o")
                    .arg(format!("UserKnownHostsFile={}", known.display()));
            }
        }
        if !self
            .credentials
            .ssh
            .as_ref()
            .is_some_and(|s| s.insecure_ignore_host_key)
        {
            cmd.args(["-o", "StrictHostKeyChecking=yes"]);
        }
        cmd.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=20"]);
        if let Some(port) = remote.port {
            cmd.arg("-p").arg(port.to_string());
        }
        let quoted = format!("'{}'", remote.path.replace('\'', r"'\''"));
        cmd.arg("--")
            .arg(&remote.host)
            .arg(format!("git-receive-pack {quoted}"));
        cmd
    }

    /// Pushes `commit` (based on `tip`) over SSH; `Ok(Some(reason))` when the server
    /// refused the update because the branch moved.
    pub(super) fn push_ssh(
        &self,
        repo: &git2::Repository,
        tip: git2::Oid,
        commit: git2::Oid,
    ) -> Result<Option<String>, PushError> {
        let remote = parse(self.url.expose())
            .ok_or_else(|| self.push_failed("not an ssh:// or user@host:path remote"))?;
        if remote.host.starts_with('-') {
            return Err(self.push_failed("the host name starts with '-'"));
        }
        let mut ssh = Ssh::start(self, self.ssh_command(&remote))?;
        self.send_pack(&mut ssh, repo, tip, commit)
    }
}

impl<'a> Ssh<'a> {
    fn start(target: &'a WriteTarget, mut cmd: Command) -> Result<Self, PushError> {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| target.push_failed(format!("starting ssh: {}", e.kind())))?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(target.push_failed("ssh has no pipes"));
        };
        let stderr = std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut stderr = stderr;
            let _ = (&mut stderr).take(MAX_STDERR_BYTES).read_to_end(&mut kept);
            let _ = std::io::copy(&mut stderr, &mut std::io::sink());
            String::from_utf8_lossy(&kept).into_owned()
        });
        let child = Arc::new(Mutex::new(child));
        let timed_out = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = mpsc::channel::<()>();
        let watchdog = {
            let (child, timed_out) = (child.clone(), timed_out.clone());
            std::thread::spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TIMEOUT) {
                    timed_out.store(true, Ordering::Release);
                    if let Ok(mut child) = child.lock() {
                        let _ = child.kill();
                    }
                }
            })
        };
        Ok(Self {
            target,
            child,
            stdin: Some(stdin),
            stdout,
            stderr: Some(stderr),
            timed_out,
            stop: Some(stop),
            watchdog: Some(watchdog),
        })
    }

    /// Ends the child (killed when still running) and reaps it; returns its messages.
    fn finish(&mut self) -> String {
        self.stdin = None;
        if let Some(stop) = self.stop.take() {
            drop(stop);
        }
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
        // Give a child that is closing its connection a moment, then kill it.
        for _ in 0..100 {
            match self.child.lock().map(|mut c| c.try_wait()) {
                Ok(Ok(None)) => std::thread::sleep(Duration::from_millis(20)),
                _ => break,
            }
        }
        if let Ok(mut child) = self.child.lock() {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        self.stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }

    /// The error for a failed step, with ssh's own reason.
    fn failed(&mut self, what: &str) -> PushError {
        let timed_out = self.timed_out.load(Ordering::Acquire);
        let messages = self.finish();
        let last = messages
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_owned();
        let message = if timed_out {
            format!("{what}: no answer within {} s", TIMEOUT.as_secs())
        } else if last.is_empty() {
            format!("{what}: the connection closed")
        } else {
            format!("{what}: ssh: {}", crate::text::clip_message(&last))
        };
        self.target.push_failed(message)
    }
}

impl Transport for Ssh<'_> {
    fn advertisement(&mut self) -> Result<Vec<String>, PushError> {
        let mut bytes = Vec::new();
        loop {
            let mut header = [0u8; 4];
            if self.stdout.read_exact(&mut header).is_err() {
                return Err(self.failed("reading the advertisement"));
            }
            let Some(len) = pkt_len(&header) else {
                return Err(self.failed("the advertisement is not a pkt-line stream"));
            };
            bytes.extend_from_slice(&header);
            if len == 0 {
                break;
            }
            if bytes.len() + len > MAX_ANSWER_BYTES as usize {
                return Err(self.failed("the advertisement is too large"));
            }
            let start = bytes.len();
            bytes.resize(start + len - 4, 0);
            if self.stdout.read_exact(&mut bytes[start..]).is_err() {
                return Err(self.failed("reading the advertisement"));
            }
        }
        pkt_lines(&bytes).ok_or_else(|| self.failed("the advertisement is not a pkt-line stream"))
    }

    fn send(&mut self, request: Vec<u8>) -> Result<Vec<String>, PushError> {
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(&request).and_then(|()| stdin.flush()),
            None => Ok(()),
        };
        self.stdin = None;
        if written.is_err() {
            return Err(self.failed("sending the pack"));
        }
        let mut answer = Vec::new();
        let read = (&mut self.stdout)
            .take(MAX_ANSWER_BYTES)
            .read_to_end(&mut answer);
        if read.is_err() || answer.is_empty() {
            return Err(self.failed("reading the report"));
        }
        let lines =
            pkt_lines(&answer).ok_or_else(|| self.failed("the report is not a pkt-line stream"))?;
        self.finish();
        Ok(lines)
    }
}

impl Drop for Ssh<'_> {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(host: &str, port: Option<u16>, path: &str) -> Option<SshRemote> {
        Some(SshRemote {
            host: host.into(),
            port,
            path: path.into(),
        })
    }

    #[test]
    fn ssh_urls_and_scp_like_remotes_are_parsed() {
        assert_eq!(
            parse("ssh://git@example.com:2222/srv/config.git"),
            remote("git@example.com", Some(2222), "/srv/config.git")
        );
        assert_eq!(
            parse("ssh://example.com/~alice/config.git"),
            remote("example.com", None, "~alice/config.git")
        );
        assert_eq!(
            parse("git@github.com:org/config.git"),
            remote("git@github.com", None, "org/config.git")
        );
        assert_eq!(
            parse("git+ssh://[::1]:22/x.git"),
            remote("::1", Some(22), "/x.git")
        );
        assert_eq!(parse("https://example.com/x.git"), None);
        assert_eq!(parse("/srv/git/x.git"), None);
        assert_eq!(parse("./a:b"), None);
        assert_eq!(parse("ssh://host:notaport/x"), None);
    }
}
