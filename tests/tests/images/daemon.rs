//! End to end through the daemon: a new tag pushed to the registry becomes a commit in Git
//! within one scan interval, that commit is synced to the cluster, the agent's own commit
//! causes no other, and `/api/v1/images` reports it.

use crate::support::{Agent, Cluster, Repo, Settings};
use std::process::Command;
use std::time::Duration;
use tether_tests::gitserver::run;
use tether_tests::registry::Registry;

fn configmap(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release # the web tier's release\ndata:\n  image: {image} # {{\"$imagepolicy\": \"tether-system:web\"}}\n"
    )
}

struct Setup {
    registry: Registry,
    cluster: Cluster,
    repo: Repo,
    agent: Agent,
    _dir: tempfile::TempDir,
}

impl Setup {
    /// A registry with `shop/web:1.0.0`, a repository whose app `one` runs it, and an agent
    /// scanning every second (its source polls hourly: only the automation's push triggers
    /// a sync).
    fn start() -> Self {
        let registry = Registry::start().expect("docker-registry");
        registry.push("shop/web", "1.0.0").expect("push");
        let cluster = Cluster::start();
        cluster.ok(&["create", "namespace", "tether-system"]);
        let repo = Repo::start();
        let image = format!("{}/shop/web:1.0.0", registry.host());
        repo.upstream
            .write("apps/one/release.yaml", configmap(&image))
            .expect("write");
        repo.upstream.commit("release 1.0.0").expect("commit");
        let dir = tempfile::tempdir().expect("temporary folder");
        let extra = format!(
            "images:
  repositories:
    - {{name: web, image: {host}/shop/web, insecure: true, interval: 1s}}
  policies:
    - {{name: web, repository: web, policy: {{semver: {{range: '>=1.0.0'}}}}}}
  automations:
    - {{name: web, source: config, paths: [apps/one], interval: 1s}}
",
            host = registry.host()
        );
        let settings = Settings {
            extra: &extra,
            ..Settings::default()
        };
        let agent = Agent::start_with(&cluster, &repo, dir.path(), "images-e2e", settings);
        Self {
            registry,
            cluster,
            repo,
            agent,
            _dir: dir,
        }
    }

    fn image(&self, tag: &str) -> String {
        format!("{}/shop/web:{tag}", self.registry.host())
    }

    fn released(&self, tag: &str) -> bool {
        self.cluster.exists(&["configmap", "release", "-n", "one"])
            && self.cluster.ok(&[
                "get",
                "configmap",
                "release",
                "-n",
                "one",
                "-o",
                "jsonpath={.data.image}",
            ]) == self.image(tag)
    }

    fn git(&self, args: &[&str]) -> String {
        run(Command::new("git")
            .arg("-C")
            .arg(&self.repo.upstream.bare)
            .args(args))
        .unwrap_or_default()
    }

    /// Waits (bounded) until `check` holds; panics with the agent's log.
    fn wait(&self, what: &str, check: impl Fn() -> bool) {
        for _ in 0..300 {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("timed out waiting for {what}: {}", self.agent.logs());
    }
}

#[test]
fn a_new_tag_becomes_a_commit_and_reaches_the_cluster() {
    let s = Setup::start();
    s.wait("the first sync", || s.released("1.0.0"));
    let head = s.git(&["rev-parse", "main"]);

    s.registry
        .push("shop/web", "1.1.0")
        .expect("push the new tag");
    s.wait("a commit with the new tag", || {
        s.git(&["rev-parse", "main"]) != head
    });
    let commit = s.git(&["rev-parse", "main"]);
    assert_eq!(s.git(&["rev-parse", "main~1"]), head);
    assert_eq!(
        s.git(&["show", "main:apps/one/release.yaml"]),
        configmap(&s.image("1.1.0")).trim_end()
    );
    s.wait("the new tag in the cluster", || s.released("1.1.0"));
    // The agent's own commit is synced but causes no other: more scans and runs, same head.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(s.git(&["rev-parse", "main"]), commit, "{}", s.agent.logs());
    let (code, body) = s.agent.get("/api/v1/images");
    assert_eq!(code, 200);
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        report["policies"][0]["latestImage"],
        s.image("1.1.0"),
        "{report:#}"
    );
    assert_eq!(
        report["automations"][0]["lastCommit"],
        commit.as_str(),
        "{report:#}"
    );
    assert_eq!(report["repositories"][0]["tagCount"], 2, "{report:#}");
}
