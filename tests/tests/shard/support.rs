//! What the shard tests share: the API emulation in this process (so the test reads its
//! write log), a git daemon with a repository of many small apps, and sharded agents started
//! as processes, each with a kubeconfig whose bearer token names it in the write log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use hmac::Mac;
use serde_json::{Value, json};
use tether_tests::apiserver::ApiServer;
use tether_tests::apiserver::writes::Write;
use tether_tests::bins;
use tether_tests::gitserver::{GitDaemon, Upstream};
use tether_tests::peers::{self, Process};

use crate::support::{http, wait_for};

/// The namespace of every app's objects.
pub const APPS_NAMESPACE: &str = "shard-apps";
/// The agents' namespace.
pub const AGENT_NAMESPACE: &str = "tether-system";
/// The member Lease duration of the agents.
pub const LEASE: Duration = Duration::from_secs(4);
/// The webhook secret of the agents' config.
const WEBHOOK_SECRET: &str = "webhook-secret-for-shard-tests";

/// The name of app `i`.
pub fn app(i: usize) -> String {
    format!("app-{i:02}")
}

/// A repository of `apps` apps of one ConfigMap each, named like the app.
pub struct Repo {
    pub upstream: Upstream,
    pub daemon: GitDaemon,
    apps: usize,
    _dir: tempfile::TempDir,
}

impl Repo {
    pub fn start(apps: usize, value: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let upstream = Upstream::create(dir.path(), "config").expect("create the repository");
        let daemon = GitDaemon::start(dir.path()).expect("start git daemon");
        let repo = Self {
            upstream,
            daemon,
            apps,
            _dir: dir,
        };
        repo.set_all(value);
        repo
    }

    /// Commits every app's ConfigMap with `value`.
    pub fn set_all(&self, value: &str) {
        for i in 0..self.apps {
            let name = app(i);
            self.upstream
                .write(
                    &format!("apps/{name}/config.yaml"),
                    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value}\n"),
                )
                .expect("write");
        }
        self.upstream.commit(value).expect("commit");
    }
}

/// The emulation, with the namespaces the agents and apps use.
pub async fn cluster(dir: &Path) -> ApiServer {
    let server = ApiServer::start().await.expect("start the emulation");
    for ns in [AGENT_NAMESPACE, APPS_NAMESPACE] {
        server
            .put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .expect("namespace");
    }
    std::fs::create_dir_all(dir).expect("folder");
    server
}

/// A kubeconfig for `server` whose bearer token is `token`.
fn kubeconfig(server: &ApiServer, dir: &Path, token: &str) -> PathBuf {
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: {}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\ncurrent-context: t\nusers:\n- name: t\n  user:\n    token: {token}\n",
        server.url()
    );
    let path = dir.join(format!("kubeconfig-{token}"));
    std::fs::write(&path, text).expect("write the kubeconfig");
    path
}

/// A sharded agent process.
pub struct Agent {
    pub process: Process,
    pub identity: String,
    pub port: u16,
    pub log: PathBuf,
}

/// What differs between the agents of the shard and big-app tests.
pub struct Settings<'a> {
    /// `replicas:`.
    pub replicas: u32,
    /// The source's poll interval.
    pub interval: &'a str,
    /// More `limits:` fields (`maxObjects: 60000, `).
    pub limits: &'a str,
    /// More top-level YAML (`policy: ...`).
    pub extra: &'a str,
}

/// Three sharded replicas polling every 3 s.
pub const SHARDED: Settings<'static> = Settings {
    replicas: 3,
    interval: "3s",
    limits: "",
    extra: "",
};

impl Agent {
    /// Starts `identity` of a sharded trio for `repo`.
    pub fn start(server: &ApiServer, repo: &Repo, dir: &Path, identity: &str) -> Self {
        Self::start_with(
            server,
            &repo.daemon.url("config.git"),
            dir,
            identity,
            &SHARDED,
        )
    }

    /// Starts `identity` for the repository at `url` (the config and cache are kept across
    /// restarts of one identity).
    pub fn start_with(
        server: &ApiServer,
        url: &str,
        dir: &Path,
        identity: &str,
        settings: &Settings<'_>,
    ) -> Self {
        let port = peers::free_port();
        let secret = dir.join("webhook-secret");
        std::fs::write(&secret, WEBHOOK_SECRET).expect("write the webhook secret");
        let config = dir.join(format!("{identity}.yaml"));
        let text = format!(
            "listen: 127.0.0.1:{port}
adminListen: 127.0.0.1:{admin}
namespace: {AGENT_NAMESPACE}
cacheDir: {cache}
log: {{format: json, level: info}}
replicas: {replicas}
leaderElection: {{enabled: true, leaseDuration: {lease}s, renewGrace: 2s}}
sources:
  - name: config
    url: {url}
    ref: main
    interval: {interval}
    webhook: {{provider: generic, header: X-Signature, secretFile: {secret}}}
apps:
  - directories: [{{path: \"apps/*\"}}]
    namespace: {APPS_NAMESPACE}
keys: {{files: [{key}]}}
limits: {{{limits}healthTimeout: 0s, shutdownGrace: 10s}}
ui: {{anonymous: true}}
{extra}
",
            extra = settings.extra,
            replicas = settings.replicas,
            interval = settings.interval,
            limits = settings.limits,
            admin = peers::free_port(),
            cache = dir.join(format!("cache-{identity}")).display(),
            lease = LEASE.as_secs(),
            url = url,
            secret = secret.display(),
            key = peers::workspace_root()
                .join("examples/keys/example.agekey")
                .display(),
        );
        std::fs::write(&config, text).expect("write the config");
        let log = dir.join(format!("{identity}.log"));
        let mut cmd = Command::new(bins::tether_agent());
        cmd.arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(kubeconfig(server, dir, identity))
            .arg("--identity")
            .arg(identity)
            .env_remove("POD_NAME");
        // The log of an earlier run of this identity is kept beside.
        if log.is_file() {
            let _ = std::fs::rename(&log, dir.join(format!("{identity}.earlier.log")));
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
            identity: identity.to_owned(),
            port,
            log,
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`-KILL`, `-STOP`, `-CONT`, `-TERM`) by PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.process.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} {}", self.identity);
    }

    /// SIGTERM, then waits (bounded) for the exit.
    pub fn terminate(mut self) {
        self.signal("-TERM");
        wait_for("the agent to stop", Duration::from_secs(30), || {
            self.process.has_exited().then_some(())
        });
    }

    /// Asks the agent to fetch now (a signed webhook); returns the HTTP status.
    pub fn push(&self) -> u16 {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
        mac.update(body);
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        http(
            self.port,
            "POST",
            "/webhook/config",
            &[("X-Signature", &signature)],
            body,
        )
        .0
    }

    /// `/api/v1/apps` of this replica.
    pub fn apps(&self) -> Vec<Value> {
        let (code, body) = http(self.port, "GET", "/api/v1/apps", &[], b"");
        if code != 200 {
            return Vec::new();
        }
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match parsed {
            Value::Array(items) => items,
            other => other
                .get("apps")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// The live value of app `name`'s ConfigMap.
pub fn value(server: &ApiServer, name: &str) -> Option<String> {
    let cm = server.object("configmaps", APPS_NAMESPACE, name)?;
    cm["data"]["value"].as_str().map(str::to_owned)
}

/// The owner recorded in app `name`'s status ConfigMap.
pub fn status_owner(server: &ApiServer, name: &str) -> Option<String> {
    let cm = server.object(
        "configmaps",
        AGENT_NAMESPACE,
        &format!("tether-status-{name}"),
    )?;
    cm["data"]["owner"].as_str().map(str::to_owned)
}

/// Whether a write touched an app's objects (its ConfigMap, inventory or status), not the
/// agents' own Leases, Events or keys.
pub fn app_write(w: &Write) -> bool {
    (w.namespace == APPS_NAMESPACE && w.resource == "configmaps")
        || (w.namespace == AGENT_NAMESPACE
            && w.resource == "configmaps"
            && (w.name.starts_with("tether-inventory-") || w.name.starts_with("tether-status-")))
}
