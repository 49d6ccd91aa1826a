//! What the rollout tests share: a cluster, a config repository, agents whose apps carry a
//! `rollout:` block, and a fake controller writing Deployment status.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::{self, Cluster};
use tether_tests::bins;
use tether_tests::gitserver::{GitDaemon, Upstream};
use tether_tests::peers::{self, Process};

pub use support::Agent;

/// A Deployment `web` running `image`.
pub fn deployment(image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, labels: {{app: web}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: web, image: \"{image}\"}}]
"
    )
}

/// A ConfigMap `settings` with `version`.
pub fn settings(version: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{version: \"{version}\"}}\n"
    )
}

/// The live object, as JSON.
pub fn live(cluster: &Cluster, kind: &str, name: &str, namespace: &str) -> serde_json::Value {
    let text = cluster.ok(&["get", kind, name, "-n", namespace, "-o", "json"]);
    serde_json::from_str(&text).expect("kubectl prints JSON")
}

/// The app's status from the agent's API.
pub fn app_status(agent: &Agent, name: &str) -> Option<serde_json::Value> {
    let (code, body) = agent.get(&format!("/api/v1/apps/{name}"));
    (code == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// A cluster, a git daemon serving `config.git`, and a folder for agents.
pub struct Setup {
    pub cluster: Cluster,
    pub upstream: Upstream,
    daemon: GitDaemon,
    pub dir: tempfile::TempDir,
    _repos: tempfile::TempDir,
}

impl Setup {
    pub fn new() -> Self {
        Self::with_cluster_args(&[])
    }

    /// A setup whose API emulation takes more arguments (`--user-token TOKEN=USER:GROUPS`).
    pub fn with_cluster_args(args: &[&str]) -> Self {
        let cluster = Cluster::start_with_args(args);
        cluster.ok(&["create", "namespace", "tether-system"]);
        let repos = tempfile::tempdir().expect("temporary folder");
        let upstream = Upstream::create(repos.path(), "config").expect("create the repository");
        upstream
            .write("README.md", "config\n")
            .expect("write the first file");
        upstream.commit("start").expect("commit");
        let daemon = GitDaemon::start(repos.path()).expect("start git daemon");
        Self {
            cluster,
            upstream,
            daemon,
            dir: tempfile::tempdir().expect("temporary folder"),
            _repos: repos,
        }
    }

    /// The rollout block of the web test: health within 20 s, then the error ratio below 5%
    /// in two measurements a second apart.
    pub fn web_rollout(prometheus: &str) -> String {
        format!(
            "    rollout:
      health: {{timeout: 20s}}
      metrics:
        - name: error-ratio
          count: 2
          interval: 1s
          successCondition: result[0] < 0.05
          provider:
            prometheus:
              address: \"{prometheus}\"
              query: 'tether_test_error_ratio{{app=\"{{{{app}}}}\"}}'
"
        )
    }

    /// Starts `tether-agent run` on apps `apps/*` (namespace: the directory's name) with
    /// `web_rollout`.
    pub fn start_agent(&self, identity: &str, prometheus: &str) -> Agent {
        self.start_agent_with(identity, &Self::web_rollout(prometheus), "apps/*", "")
    }

    /// The agent's configuration: the generator's `rollout` block and directory glob, and
    /// more top-level YAML.
    pub fn config_text(&self, ports: (u16, u16), rollout: &str, glob: &str, extra: &str) -> String {
        let apps = format!(
            "apps:
  - directories: [{{path: \"{glob}\"}}]
    namespace: \"{{{{path.basename}}}}\"
    createNamespace: true
{rollout}"
        );
        self.config_raw(ports, &apps, extra)
    }

    /// The agent's configuration with an `apps:` block as given.
    pub fn config_raw(&self, ports: (u16, u16), apps: &str, extra: &str) -> String {
        let (port, admin_port) = ports;
        format!(
            "listen: 127.0.0.1:{port}
adminListen: 127.0.0.1:{admin_port}
namespace: tether-system
cacheDir: {cache}
log: {{format: json, level: info}}
leaderElection: {{enabled: false}}
sources:
  - name: config
    url: {url}
    ref: main
    interval: 2s
{apps}limits: {{healthTimeout: 0s, shutdownGrace: 10s}}
ui: {{anonymous: true}}
{extra}",
            cache = self.dir.path().join("cache").display(),
            url = self.daemon.url("config.git"),
        )
    }

    /// Rewrites a running agent's configuration (it reloads the file on its own).
    pub fn rewrite(&self, agent: &Agent, rollout: &str, glob: &str, extra: &str) {
        let text = self.config_text((agent.port, agent.admin_port), rollout, glob, extra);
        std::fs::write(&agent.config, text).expect("rewrite the config");
    }

    /// Starts `tether-agent run` with the generator's `rollout` block and directory glob, and
    /// more top-level YAML.
    pub fn start_agent_with(
        &self,
        identity: &str,
        rollout: &str,
        glob: &str,
        extra: &str,
    ) -> Agent {
        self.start_agent_raw(identity, |ports| {
            self.config_text(ports, rollout, glob, extra)
        })
    }

    /// Starts `tether-agent run` with the configuration `text` makes for its ports.
    pub fn start_agent_raw(
        &self,
        identity: &str,
        text: impl FnOnce((u16, u16)) -> String,
    ) -> Agent {
        let port = peers::free_port();
        let admin_port = peers::free_port();
        let text = text((port, admin_port));
        let config: PathBuf = self.dir.path().join(format!("{identity}.yaml"));
        std::fs::write(&config, text).expect("write the config");
        let log = self.dir.path().join(format!("{identity}.log"));
        let mut cmd = Command::new(bins::tether_agent());
        cmd.arg("run")
            .arg("--config")
            .arg(&config)
            .arg("--kubeconfig")
            .arg(&self.cluster.kubeconfig)
            .arg("--identity")
            .arg(identity)
            .env_remove("POD_NAME");
        let process = Process::spawn(identity, cmd, &log).expect("start tether-agent");
        peers::wait_for_port(port, Duration::from_secs(30)).unwrap_or_else(|e| {
            panic!(
                "agent {identity} did not listen: {e}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        });
        Agent {
            process,
            port,
            admin_port,
            log,
            identity: identity.to_owned(),
            config,
        }
    }
}

/// A stand-in for the Deployment controller: whenever a Deployment `web` of the namespaces
/// has a generation not observed yet, it writes its status through the status subresource:
/// healthy, or (for an image tagged `broken`) its progress deadline exceeded.
pub struct Controller {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn status_for(d: &serde_json::Value) -> Option<serde_json::Value> {
    let generation = d["metadata"]["generation"].as_i64()?;
    if d["status"]["observedGeneration"].as_i64() == Some(generation) {
        return None;
    }
    let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .unwrap_or_default();
    Some(if image.ends_with(":broken") {
        serde_json::json!({"status": {"observedGeneration": generation, "replicas": 1,
            "updatedReplicas": 1, "availableReplicas": 0, "conditions": [{"type": "Progressing",
            "status": "False", "reason": "ProgressDeadlineExceeded",
            "message": "ReplicaSet web has timed out progressing"}]}})
    } else {
        serde_json::json!({"status": {"observedGeneration": generation, "replicas": 1,
            "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
            "conditions": [{"type": "Available", "status": "True"}]}})
    })
}

impl Controller {
    pub fn start(cluster: &Cluster, namespaces: &[&str]) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let kubeconfig = cluster.kubeconfig.clone();
        let home = cluster.dir.path().join("home");
        let namespaces: Vec<String> = namespaces.iter().map(|n| (*n).to_owned()).collect();
        let flag = Arc::clone(&stop);
        let kubectl = move |args: &[&str]| {
            Command::new("kubectl")
                .env("KUBECONFIG", &kubeconfig)
                .env("HOME", &home)
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        };
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Acquire) {
                for ns in &namespaces {
                    let Some(text) = kubectl(&["get", "deployment", "web", "-n", ns, "-o", "json"])
                    else {
                        continue;
                    };
                    let Ok(d) = serde_json::from_str::<serde_json::Value>(&text) else {
                        continue;
                    };
                    if let Some(patch) = status_for(&d) {
                        let patch = patch.to_string();
                        let _ = kubectl(&[
                            "patch",
                            "deployment",
                            "web",
                            "-n",
                            ns,
                            "--subresource=status",
                            "--type=merge",
                            "-p",
                            &patch,
                        ]);
                    }
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A webhook receiver: stores the body of every POST and answers 200.
pub struct Receiver {
    pub port: u16,
    bodies: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    pub fn start() -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let bodies: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
        let kept = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(clone) = stream.try_clone() else {
                    continue;
                };
                let mut reader = BufReader::new(clone);
                let mut length = 0usize;
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    line.clear();
                }
                let mut body = vec![0; length.min(1 << 20)];
                if reader.read_exact(&mut body).is_ok() {
                    kept.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(String::from_utf8_lossy(&body).into_owned());
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Self { port, bodies }
    }

    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
