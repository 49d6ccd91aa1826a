//! The real receivers: Prometheus Alertmanager (Debian's `prometheus-alertmanager`) and an
//! SMTP server (`aiosmtpd`) with STARTTLS and AUTH that stores each message it accepts.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tether_tests::peers::{self, Process};

/// The SMTP server's user and password (the password: never in a mail or a log).
pub const SMTP_USER: &str = "tether";
pub const SMTP_PASSWORD: &str = "smtp-password-plaintext-a1b2";

/// One peer shared by the tests of this binary that run at the same time: started by the
/// first, stopped (by PID) when the last lets go of it.
fn shared<T>(slot: &Mutex<Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut slot = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(peer) = slot.upgrade() {
        return peer;
    }
    let peer = Arc::new(start());
    *slot = Arc::downgrade(&peer);
    peer
}

/// The Alertmanager of this test binary (tests tell their alerts apart by app).
pub fn alertmanager() -> Arc<Alertmanager> {
    static SLOT: Mutex<Weak<Alertmanager>> = Mutex::new(Weak::new());
    shared(&SLOT, Alertmanager::start)
}

/// The SMTP server of this test binary (tests tell their mails apart by recipient).
pub fn smtp() -> Arc<Smtp> {
    static SLOT: Mutex<Weak<Smtp>> = Mutex::new(Weak::new());
    shared(&SLOT, || Smtp::start(SMTP_USER, SMTP_PASSWORD))
}

/// An Alertmanager on a loopback port.
pub struct Alertmanager {
    _process: Process,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: none\n  group_wait: 1s\nreceivers:\n  - name: none\n",
        )
        .expect("write the config");
        let port = peers::free_port();
        let mut cmd = Command::new("prometheus-alertmanager");
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=");
        let process = Process::spawn("alertmanager", cmd, &dir.path().join("log"))
            .expect("start prometheus-alertmanager (scripts/setup-peers installs it)");
        peers::wait_for_port(port, Duration::from_secs(30)).expect("alertmanager listens");
        Self {
            _process: process,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The alerts the API lists (active ones by default), as JSON.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let (code, body) = crate::support::http(self.port, "GET", "/api/v2/alerts", &[], b"");
        assert_eq!(code, 200, "GET /api/v2/alerts: {body}");
        serde_json::from_str(&body).expect("alerts JSON")
    }
}

const SERVER: &str = r#"
import json, os, ssl, sys, threading
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, outdir, user, password = sys.argv[1:]

class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".json")])
        tmp = os.path.join(outdir, f"{n:04}.tmp")
        with open(tmp, "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                       "data": envelope.content.decode("utf-8", "replace"),
                       "tls": session.ssl is not None}, f)
        os.rename(tmp, os.path.join(outdir, f"{n:04}.json"))
        return "250 Message accepted for delivery"

def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
          and auth_data.password == password.encode())
    return AuthResult(success=ok)

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
controller = Controller(Handler(), hostname="127.0.0.1", port=int(port), tls_context=ctx,
                        require_starttls=True, authenticator=authenticate, auth_require_tls=True)
controller.start()
print("ready", flush=True)
threading.Event().wait()
"#;

/// An SMTP server requiring STARTTLS and AUTH, storing each message as JSON in `outdir`.
pub struct Smtp {
    _process: Process,
    pub port: u16,
    pub cert: PathBuf,
    pub outdir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Smtp {
    pub fn start(user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("run openssl");
        assert!(
            status.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let outdir = dir.path().join("mail");
        std::fs::create_dir_all(&outdir).expect("mail folder");
        let script = dir.path().join("smtp.py");
        std::fs::write(&script, SERVER).expect("write the server");
        let port = peers::free_port();
        let python = peers::peers_bin_dir().join("python");
        let mut cmd = Command::new(python);
        cmd.arg(&script)
            .arg(port.to_string())
            .arg(&cert)
            .arg(&key)
            .arg(&outdir)
            .arg(user)
            .arg(password);
        let log = dir.path().join("log");
        let process = Process::spawn("aiosmtpd", cmd, &log)
            .expect("start aiosmtpd (scripts/setup-peers installs it)");
        crate::support::wait_for("aiosmtpd", Duration::from_secs(30), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("ready")
                .then_some(())
        });
        Self {
            _process: process,
            port,
            cert,
            outdir,
            _dir: dir,
        }
    }

    /// The messages received for `to`, in order.
    pub fn messages(&self, to: &str) -> Vec<serde_json::Value> {
        messages(&self.outdir)
            .into_iter()
            .filter(|m| {
                m["to"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|a| a == to))
            })
            .collect()
    }

    /// Each message for `to` as text: its headers and its body (base64 decoded).
    pub fn texts(&self, to: &str) -> Vec<String> {
        use base64::Engine as _;
        self.messages(to)
            .iter()
            .map(|m| {
                let data = m["data"].as_str().unwrap_or_default();
                let (head, body) = data
                    .split_once("\r\n\r\n")
                    .or_else(|| data.split_once("\n\n"))
                    .unwrap_or((data, ""));
                let compact: String = body.split_whitespace().collect();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_else(|_| body.to_owned());
                format!("{head}\n\n{decoded}")
            })
            .collect()
    }
}

fn messages(dir: &Path) -> Vec<serde_json::Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|f| f.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .map(|f| serde_json::from_str(&std::fs::read_to_string(f).expect("read")).expect("JSON"))
        .collect()
}
