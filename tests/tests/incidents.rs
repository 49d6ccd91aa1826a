//! Past security incidents of Argo CD, Flux, Sealed Secrets and SOPS, one named regression
//! test each (several incidents with one root cause share a test). Each test builds the attack
//! of the advisory against Tether's own stages: the render, the secrets stage, the sync engine
//! against the API server emulation, the Git source against real servers, the sealing library
//! and the daemon as a process.
//!
//! Several advisories have two identifiers (a CVE and a GHSA, as listed in the anchors'
//! reference); a test names one of them and its comment names both. Tests live by project:
//! `incidents/argocd_*.rs`, `incidents/flux.rs`, `incidents/sealed_sops.rs`. Argo CD
//! CVE-2022-29165 and CVE-2023-22482 (JWT claims trusted, audience unchecked) are tested where
//! the web UI checks ID tokens (`agent/src/server/ui/oidc.rs`): every bearer token goes to
//! the API server's TokenReview, even with anonymous reads on.
//!
//! Advisories that do not apply, and why:
//! - Argo CD CVE-2022-24768 asks for impersonation per tenant: Tether confines an app to its
//!   namespace by policy instead (`argocd_secrets::cve_2022_24768_…`); impersonation is not
//!   implemented.
//! - GO-2024-2877 / GHSA-9766-5277-j5hr / CVE-2024-31989 (a shared cache without
//!   integrity): Tether keeps no external cache; its disk caches (Git objects, chart
//!   archives) are private to its user, checked against their hashes or digests before use,
//!   and never hold plaintext (`argocd_limits::cve_2022_24730_…`).

#[path = "bad_inputs/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "bad_inputs/pipeline.rs"]
#[allow(dead_code)]
mod pipeline;
#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use cases::Stage;
use pipeline::{APP_NS, Agent, Outcome};
use serde_json::{Value, json};
use tether_agent::source::{RedactedUrl, Reference, Source, SourceConfig};
use tether_agent::sync::AppSpec;
use tether_agent::sync::changeset::Action;

/// A repository root with a sibling folder outside it, holding a file that must never leak.
struct Layout {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    outside: PathBuf,
}

/// What the file outside the repository holds; no output may ever contain it.
const OUTSIDE_MARK: &str = "OUTSIDE-THE-REPOSITORY-7d1f";

fn layout(files: &[(&str, &str)]) -> Layout {
    let dir = tempfile::tempdir().expect("temporary folder");
    let repo = dir.path().join("repo");
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(
        outside.join("leak.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leak\ndata:\n  v: {OUTSIDE_MARK}\n"
        ),
    )
    .expect("write the outside file");
    for (path, body) in files {
        let full = repo.join(path);
        std::fs::create_dir_all(full.parent().expect("a parent")).expect("mkdir");
        std::fs::write(full, body).expect("write");
    }
    Layout {
        _dir: dir,
        repo,
        outside,
    }
}

fn symlink(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().expect("a parent")).expect("mkdir");
    std::os::unix::fs::symlink(target, link).expect("symlink");
}

/// Runs the app `app` of `layout` and returns the refusing stage and message.
async fn refused(agent: &Agent, name: &str, layout: &Layout, app: &str) -> (Stage, String) {
    match agent.run(name, &layout.repo, app).await {
        Outcome::Failed(stage, message) => {
            assert!(
                !message.contains(OUTSIDE_MARK),
                "{name}: the error shows the outside file: {message}"
            );
            (stage, message)
        }
        Outcome::Synced(result) => panic!("{name}: accepted: {:?}", result.changes),
    }
}

fn configmap(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  v: x\n")
}

/// The good app of the bad-input corpus (a ConfigMap, a Deployment, a sealed Secret whose
/// password is `corpus-test-password`).
fn good_app() -> PathBuf {
    cases::corpus_root().join("_apps")
}

/// A source following `main` of `url`, cached in `cache`, with a `timeout`.
fn source_config(url: &str, cache: PathBuf, timeout: Duration) -> SourceConfig {
    let mut config = SourceConfig::new(
        "config",
        RedactedUrl::new(url),
        Reference::branch("main").expect("a branch"),
        cache,
    );
    config.timeout = timeout;
    config
}

/// A loopback server that accepts connections, counts them and never answers; its thread
/// stops when it is dropped.
struct SilentServer {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (connections, stop) = (connections.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((stream, _)) = listener.accept() {
                        connections.fetch_add(1, Ordering::Relaxed);
                        held.push(stream);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        Self {
            port,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[path = "incidents/argocd_limits.rs"]
mod argocd_limits;
#[path = "incidents/argocd_paths.rs"]
mod argocd_paths;
#[path = "incidents/argocd_secrets.rs"]
mod argocd_secrets;
#[path = "incidents/flux.rs"]
mod flux;
#[path = "incidents/sealed_sops.rs"]
mod sealed_sops;
