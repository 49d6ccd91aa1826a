//! The Git source against real servers: git daemon (git://), lighttpd + git-http-backend
//! (smart HTTP with basic auth and a bearer-token area), sshd (ssh:// with a key and strict
//! known_hosts), and file://. Every server binds 127.0.0.1 on a port chosen at run time and
//! is stopped by PID when its guard drops.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tether_agent::source::credentials::{CredentialFiles, Credentials, SecretText, SshAuth};
use tether_agent::source::discovery::{DirectoryRule, DiscoveryConfig, discover};
use tether_agent::source::signature::{AllowedSigners, SignaturePolicy};
use tether_agent::source::trigger::{self, Cause, Poll, Trigger};
use tether_agent::source::webhook::{self, WebhookAuth};
use tether_agent::source::{Depth, RedactedUrl, Reference, Source, SourceConfig, SourceStatus};
use tether_agent::tree::{RelPath, TreeError};
use tether_tests::gitserver::{GitDaemon, HttpGit, SshGit, TestCa, Upstream, run};

// ---- log capture: every tracing line of this test binary, searched for secrets ----

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut log) = self.0.lock() {
            log.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(Arc::clone(&buffer));
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
}

fn captured() -> String {
    String::from_utf8_lossy(&logs().lock().expect("log lock")).into_owned()
}

// ---- helpers ----

struct Fixture {
    root: tempfile::TempDir,
    upstream: Upstream,
}

fn fixture() -> Fixture {
    logs();
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::create(root.path(), "config").expect("upstream");
    Fixture { root, upstream }
}

impl Fixture {
    fn cache(&self, name: &str) -> std::path::PathBuf {
        self.root.path().join("cache").join(name)
    }

    fn source(&self, url: &str, reference: Reference) -> SourceConfig {
        let mut config = SourceConfig::new(
            "config",
            RedactedUrl::new(url),
            reference,
            self.cache("main"),
        );
        config.timeout = Duration::from_secs(30);
        config
    }
}

fn main_branch() -> Reference {
    Reference::branch("main").expect("branch")
}

fn read(source: &Source, path: &str) -> String {
    let snapshot = source.current().expect("a snapshot");
    snapshot
        .tree
        .read_to_string(&RelPath::parse(path).expect("path"))
        .expect("read")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn commit_count(cache: &Path) -> String {
    run(tether_tests::gitserver::git()
        .arg("--git-dir")
        .arg(cache)
        .args(["rev-list", "--count", "refs/heads/main"]))
    .expect("rev-list")
}

#[path = "source_git/credentials.rs"]
mod credentials;
#[path = "source_git/fetching.rs"]
mod fetching;
#[path = "source_git/signatures_triggers.rs"]
mod signatures_triggers;
