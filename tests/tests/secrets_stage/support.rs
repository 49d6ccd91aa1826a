//! Support for the secrets stage tests: an OpenBao dev server that can be stopped and
//! restarted on the same port and seeded with the `bao` CLI, forged service account tokens,
//! moto seeding through the AWS SDK,
//! and a log capture buffer.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tether_tests::peers::{self, Process};

/// The dev root token.
pub const ROOT_TOKEN: &str = "tether-root-token";

/// An OpenBao dev server on a fixed loopback port, restartable (its storage is in memory, so
/// a restart loses everything: seed again).
pub struct Bao {
    pub process: Option<Process>,
    pub port: u16,
    pub address: String,
    dir: tempfile::TempDir,
    starts: usize,
}

impl Bao {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        // The dev server also binds PORT+1: take a port whose successor is free too.
        let port = loop {
            let p = peers::free_port();
            if std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
                break p;
            }
        };
        let mut bao = Self {
            process: None,
            port,
            address: format!("http://127.0.0.1:{port}"),
            dir,
            starts: 0,
        };
        bao.restart();
        bao
    }

    /// Stops the server (by PID).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.stop();
        }
    }

    /// Starts (again) on the same port and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        self.starts += 1;
        let mut cmd = Command::new(peers::peer_binary("bao"));
        cmd.arg("server")
            .arg("-dev")
            .arg(format!("-dev-root-token-id={ROOT_TOKEN}"))
            .arg(format!("-dev-listen-address=127.0.0.1:{}", self.port))
            .env("HOME", self.dir.path());
        let log = self.dir.path().join(format!("bao-{}.log", self.starts));
        self.process = Some(Process::spawn("bao", cmd, &log).expect("bao starts"));
        peers::wait_for_port(self.port, Duration::from_secs(20)).expect("bao listens");
        // Listening comes slightly before unsealed and mounted: wait for `secret/`.
        for _ in 0..100 {
            let out = self.cli_raw(&["secrets", "list", "-format=json"], None);
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("secret/") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("bao did not become ready; see {}", log.display());
    }

    fn cli_raw(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut cmd = Command::new(peers::peer_binary("bao"));
        cmd.args(args)
            .env("BAO_ADDR", &self.address)
            .env("BAO_TOKEN", ROOT_TOKEN)
            .env("HOME", self.dir.path())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("bao CLI runs");
        if let Some(text) = stdin
            && let Some(mut input) = child.stdin.take()
        {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        child.wait_with_output().expect("bao CLI finishes")
    }

    /// Runs the `bao` CLI as root; returns stdout; panics with stderr on failure.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.cli_raw(args, stdin);
        assert!(
            out.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes a KV v2 secret (mount `secret`) from JSON; returns nothing.
    pub fn put_v2(&self, path: &str, data: &Value) {
        self.cli(
            &["kv", "put", "-mount=secret", path, "-"],
            Some(&data.to_string()),
        );
    }
}

impl Drop for Bao {
    fn drop(&mut self) {
        self.stop();
    }
}

/// AppRole and Kubernetes auth, a KV v1 mount `kv1`, and the `reader` policy.
pub struct VaultAuth {
    pub role_id: String,
    pub secret_id: String,
}

/// Seeds auth methods and policy; `kubernetes_host` is the TokenReview endpoint's base URL.
pub fn seed_auth(bao: &Bao, kubernetes_host: &str, token_ttl: &str) -> VaultAuth {
    bao.cli(
        &["secrets", "enable", "-path=kv1", "-version=1", "kv"],
        None,
    );
    bao.cli(
        &["policy", "write", "reader", "-"],
        Some("path \"secret/data/*\" { capabilities = [\"read\"] }\npath \"kv1/*\" { capabilities = [\"read\"] }\n"),
    );
    bao.cli(&["auth", "enable", "approle"], None);
    bao.cli(
        &[
            "write",
            "auth/approle/role/shop",
            "token_policies=reader",
            &format!("token_ttl={token_ttl}"),
            "token_max_ttl=1h",
        ],
        None,
    );
    let role_id = bao.cli(
        &["read", "-field=role_id", "auth/approle/role/shop/role-id"],
        None,
    );
    let secret_id = bao.cli(
        &[
            "write",
            "-f",
            "-field=secret_id",
            "auth/approle/role/shop/secret-id",
        ],
        None,
    );
    bao.cli(&["auth", "enable", "kubernetes"], None);
    bao.cli(
        &[
            "write",
            "auth/kubernetes/config",
            &format!("kubernetes_host={kubernetes_host}"),
            &format!("kubernetes_ca_cert=@{}", any_pem().display()),
            "disable_local_ca_jwt=true",
        ],
        None,
    );
    bao.cli(
        &[
            "write",
            "auth/kubernetes/role/shop",
            "bound_service_account_names=app",
            "bound_service_account_namespaces=shop",
            "token_policies=reader",
            "token_ttl=1h",
        ],
        None,
    );
    VaultAuth { role_id, secret_id }
}

/// Any PEM certificate (OpenBao wants one for `kubernetes_ca_cert`; it is not used over
/// plain HTTP): a self-signed certificate kept as a fixture, without its key.
pub fn any_pem() -> std::path::PathBuf {
    peers::workspace_root().join("tests/fixtures/secrets/any-ca.pem")
}

/// A JWT with the claims of the service account `namespace/name` that the API server
/// emulation never issued: its TokenReview must refuse it.
pub fn forged_token(namespace: &str, name: &str) -> String {
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.{}",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&json!({
            "iss": "https://kubernetes.default.svc.cluster.local",
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": "00000000-0000-0000-0000-000000000000",
        })),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"forged")
    )
}

/// Creates the AWS SDK client the tests seed moto with.
pub async fn moto_client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
pub struct LogBuffer(pub Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
