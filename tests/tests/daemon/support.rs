//! What the daemon tests share: the API emulation and kubectl, a git daemon with a config
//! repository, agents started as processes, and a small HTTP client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use tether_tests::bins;
use tether_tests::gitserver::{GitDaemon, Upstream};
use tether_tests::peers::{self, Process};

/// The workspace root (examples/, deploy/).
pub fn root() -> PathBuf {
    peers::workspace_root()
}

/// A fixture of `tests/fixtures/daemon`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/daemon")
        .join(name)
}

/// Runs `tether-agent ARGS` in the workspace root.
pub fn agent(args: &[&str]) -> Output {
    Command::new(bins::tether_agent())
        .args(args)
        .current_dir(root())
        .env_remove("KUBECONFIG")
        .output()
        .expect("run tether-agent")
}

/// Waits (bounded) until `check` returns `Some`; panics with `what` and the last state.
pub fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One API server emulation process and kubectl pointed at it.
pub struct Cluster {
    _server: Process,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
}

impl Cluster {
    pub fn start() -> Self {
        Self::start_with_args(&[])
    }

    /// Starts the emulation with more arguments (`--user-token TOKEN=USER:GROUPS`).
    pub fn start_with_args(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let kubeconfig = dir.path().join("kubeconfig");
        let log = dir.path().join("apiserver.log");
        let mut cmd = Command::new(bins::tether_test_apiserver());
        cmd.arg("--kubeconfig").arg(&kubeconfig).args(args);
        let server =
            Process::spawn("tether-test-apiserver", cmd, &log).expect("start the emulation");
        wait_for("the API emulation", Duration::from_secs(30), || {
            let printed = std::fs::read_to_string(&log).unwrap_or_default();
            (printed.contains("http://127.0.0.1:") && kubeconfig.is_file()).then_some(())
        });
        std::fs::create_dir_all(dir.path().join("home")).expect("HOME");
        Self {
            _server: server,
            dir,
            kubeconfig,
        }
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new("kubectl")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path().join("home"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// kubectl's stdout; panics with stderr when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Whether `kubectl get ARGS` finds the object.
    pub fn exists(&self, args: &[&str]) -> bool {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        self.kubectl(&all).status.success()
    }

    /// The `tether.dev/leader` label of a Pod in tether-system.
    pub fn leader_label(&self, pod: &str) -> String {
        let out = self.kubectl(&[
            "get",
            "pod",
            pod,
            "-n",
            "tether-system",
            "-o",
            "jsonpath={.metadata.labels.tether\\.dev/leader}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The holder of the leader Lease (empty when free).
    pub fn lease_holder(&self) -> String {
        let out = self.kubectl(&[
            "get",
            "lease",
            "tether-leader",
            "-n",
            "tether-system",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// A config repository served by `git daemon`, with two apps.
pub struct Repo {
    pub upstream: Upstream,
    pub daemon: GitDaemon,
    _dir: tempfile::TempDir,
}

pub fn configmap(name: &str, value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n")
}

impl Repo {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let upstream = Upstream::create(dir.path(), "config").expect("create the repository");
        upstream
            .write("apps/one/settings.yaml", configmap("settings", "one"))
            .expect("write");
        upstream
            .write("apps/two/settings.yaml", configmap("settings", "two"))
            .expect("write");
        upstream.commit("two apps").expect("commit");
        let daemon = GitDaemon::start(dir.path()).expect("start git daemon");
        Self {
            upstream,
            daemon,
            _dir: dir,
        }
    }
}

/// The webhook secret the agents' config names.
pub const WEBHOOK_SECRET: &str = "webhook-secret-for-tests";

/// The example key's recipient (the agents of these tests hold the example key).
pub const EXAMPLE_RECIPIENT: &str =
    "age1pzfu83pfsz4qs4d89sqptrsshpvm9c0yf4mvfm87eqrk7zw87qls353cyg";

/// What varies between the agents of the tests.
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    /// The apps glob.
    pub apps: &'a str,
    /// The app name template; `None` keeps the default (the directory's name).
    pub name: Option<&'a str>,
    /// The target namespace template.
    pub namespace: &'a str,
    /// More top-level YAML (secretStores).
    pub extra: &'a str,
    /// Keep the agent's keys in the Secret `tether-keys` instead of the example key file.
    pub managed_keys: bool,
    /// Run as if in the Pod named like the identity (`POD_NAME`).
    pub in_pod: bool,
    /// The `ui:` block: by default anonymous reads, so that tests read `/api/v1/apps`
    /// without a token (the web UI's tests set their own).
    pub ui: &'a str,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Self {
            apps: "apps/*",
            name: None,
            namespace: "{{path.basename}}",
            extra: "",
            managed_keys: false,
            in_pod: false,
            ui: "ui: {anonymous: true}",
        }
    }
}

/// Writes an agent config for `repo` listening on `port` (its admin endpoints on a free
/// port); returns its path.
pub fn write_config(
    dir: &Path,
    name: &str,
    repo: &Repo,
    port: u16,
    settings: Settings<'_>,
) -> PathBuf {
    write_config_with_admin(dir, name, repo, (port, peers::free_port()), settings)
}

/// Writes an agent config for `repo` listening on `ports.0`, its admin endpoints on
/// `ports.1`; returns its path.
pub fn write_config_with_admin(
    dir: &Path,
    name: &str,
    repo: &Repo,
    ports: (u16, u16),
    settings: Settings<'_>,
) -> PathBuf {
    let (port, admin_port) = ports;
    let secret = dir.join("webhook-secret");
    std::fs::write(&secret, WEBHOOK_SECRET).expect("write the webhook secret");
    let text = format!(
        "listen: 127.0.0.1:{port}
adminListen: 127.0.0.1:{admin_port}
namespace: tether-system
cacheDir: {cache}
log: {{format: json, level: info}}
leaderElection: {{enabled: true, leaseDuration: 4s, renewGrace: 2s}}
sources:
  - name: config
    url: {url}
    ref: main
    interval: 1h
    webhook: {{provider: generic, header: X-Signature, secretFile: {secret}}}
apps:
  - directories: [{{path: \"{apps}\"}}]
{name}    namespace: \"{namespace}\"
    createNamespace: true
{keys}
limits: {{healthTimeout: 0s, shutdownGrace: 10s}}
{ui}
{extra}
",
        ui = settings.ui,
        apps = settings.apps,
        name = settings
            .name
            .map(|n| format!("    name: \"{n}\"\n"))
            .unwrap_or_default(),
        namespace = settings.namespace,
        extra = settings.extra,
        keys = if settings.managed_keys {
            "keys: {secretName: tether-keys}".to_owned()
        } else {
            format!(
                "keys: {{files: [{}]}}",
                root().join("examples/keys/example.agekey").display()
            )
        },
        cache = dir.join(format!("cache-{name}")).display(),
        url = repo.daemon.url("config.git"),
        secret = secret.display(),
    );
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(&path, text).expect("write the config");
    path
}

/// `tether-agent run` as a process.
pub struct Agent {
    pub process: Process,
    pub port: u16,
    /// The admin listener's port (`adminListen`).
    pub admin_port: u16,
    pub log: PathBuf,
    pub identity: String,
    pub config: PathBuf,
}

impl Agent {
    pub fn start(cluster: &Cluster, repo: &Repo, dir: &Path, identity: &str) -> Self {
        Self::start_with(cluster, repo, dir, identity, Settings::default())
    }

    pub fn start_with(
        cluster: &Cluster,
        repo: &Repo,
        dir: &Path,
        identity: &str,
        settings: Settings<'_>,
    ) -> Self {
        let port = peers::free_port();
        let admin_port = peers::free_port();
        let config = write_config_with_admin(dir, identity, repo, (port, admin_port), settings);
        let log = dir.join(format!("{identity}.log"));
        let mut cmd = Command::new(bins::tether_agent());
        cmd.arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(&cluster.kubeconfig)
            .arg("--identity")
            .arg(identity);
        if settings.in_pod {
            cmd.env("POD_NAME", identity);
        } else {
            cmd.env_remove("POD_NAME");
        }
        let process = Process::spawn(identity, cmd, &log).expect("start tether-agent");
        peers::wait_for_port(port, Duration::from_secs(30)).unwrap_or_else(|e| {
            panic!(
                "agent {identity} did not listen: {e}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Self {
            process,
            port,
            admin_port,
            log,
            identity: identity.to_owned(),
            config,
        }
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        http(self.port, "GET", path, &[], b"")
    }

    /// `GET path` on the admin listener.
    pub fn get_admin(&self, path: &str) -> (u16, String) {
        http(self.admin_port, "GET", path, &[], b"")
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (by PID).
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Sends a signal (`-HUP`, `-USR1`, ...) by PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.process.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

/// One HTTP/1.1 request to 127.0.0.1:`port`; returns the status and the body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// A SealedSecret for the example key's recipient, sealed by `tether-seal` from stdin (the
/// plaintext never touches the disk).
pub fn sealed(namespace: &str, name: &str, key: &str, value: &str) -> String {
    use std::process::Stdio;
    let mut child = Command::new(bins::tether_seal())
        .args(["seal", "-f", "-", "--recipient", EXAMPLE_RECIPIENT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run tether-seal");
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\nstringData: {{{key}: {value}}}\n"
    );
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(manifest.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("tether-seal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}
