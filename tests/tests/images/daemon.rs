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
    /// A registry with basic auth holding `shop/web:1.0.0` (its credentials in a
    /// `dockerconfigjson` Secret), a repository whose app `one` runs it, more files from
    /// `files`, and an agent with `images` (its source polls hourly: only the automation's
    /// push triggers a sync).
    fn start(files: &[(&str, String)], images: &str) -> Self {
        let registry = Registry::start_basic("puller", "pull-pass-5150").expect("docker-registry");
        registry.push("shop/web", "1.0.0").expect("push");
        let cluster = Cluster::start();
        cluster.ok(&["create", "namespace", "tether-system"]);
        let host = registry.host();
        let server = format!("--docker-server={host}");
        // The agent's namespace, and app two's (for the Flux objects there).
        cluster.ok(&["create", "namespace", "two"]);
        for namespace in ["tether-system", "two"] {
            cluster.ok(&[
                "create",
                "secret",
                "docker-registry",
                "regcred",
                "-n",
                namespace,
                &server,
                "--docker-username=puller",
                "--docker-password=pull-pass-5150",
            ]);
        }
        let repo = Repo::start();
        let image = format!("{host}/shop/web:1.0.0");
        repo.upstream
            .write("apps/one/release.yaml", configmap(&image))
            .expect("write");
        for (path, text) in files {
            repo.upstream
                .write(path, text.replace("REGISTRY", &host))
                .expect("write");
        }
        repo.upstream.commit("release 1.0.0").expect("commit");
        let dir = tempfile::tempdir().expect("temporary folder");
        let extra = images.replace("REGISTRY", &host);
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

const IMAGES: &str = "images:
  repositories:
    - {name: web, image: REGISTRY/shop/web, insecure: true, interval: 1s, credentials: {secretName: regcred}}
  policies:
    - {name: web, repository: web, policy: {semver: {range: '>=1.0.0'}}}
  automations:
    - {name: web, source: config, paths: [apps/one], interval: 1s}
";

#[test]
fn a_new_tag_becomes_a_commit_and_reaches_the_cluster() {
    let s = Setup::start(&[], IMAGES);
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

const FLUX_OBJECTS: &str = "apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: web}
spec:
  image: REGISTRY/shop/web
  interval: 1s
  insecure: true
  secretRef: {name: regcred}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: web}
spec:
  imageRepositoryRef: {name: web}
  policy: {semver: {range: '>=1.0.0'}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: apps}
spec:
  interval: 1s
  sourceRef: {kind: GitRepository, name: config}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: fluxcdbot, email: fluxcdbot@users.noreply.github.com}
      messageTemplate: '{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}'
    push: {branch: main}
  update: {path: ./apps/one, strategy: Setters}
";

#[test]
fn flux_image_objects_in_an_app_are_used_instead_of_applied() {
    // The objects live in app two's namespace; app one's marker names that policy.
    let release = configmap("REGISTRY/shop/web:1.0.0").replace("tether-system:web", "two:web");
    let s = Setup::start(
        &[
            ("apps/two/flux-images.yaml", FLUX_OBJECTS.to_owned()),
            ("apps/one/release.yaml", release),
        ],
        "",
    );
    s.wait("the first sync", || s.released("1.0.0"));
    assert!(
        !s.cluster
            .kubectl(&["get", "imagerepositories.image.toolkit.fluxcd.io", "-A"])
            .status
            .success()
            || s.cluster
                .ok(&["get", "imagerepositories.image.toolkit.fluxcd.io", "-A"])
                .trim()
                .is_empty(),
        "the Flux objects were not applied"
    );
    let head = s.git(&["rev-parse", "main"]);
    s.registry
        .push("shop/web", "1.2.0")
        .expect("push the new tag");
    s.wait("a commit by the Flux automation", || {
        s.git(&["rev-parse", "main"]) != head
    });
    assert_eq!(
        s.git(&["log", "-1", "--format=%an <%ae>", "main"]),
        "fluxcdbot <fluxcdbot@users.noreply.github.com>"
    );
    // The Flux object's Go template wrote the message: one line per change.
    let message = s.git(&["log", "-1", "--format=%B", "main"]);
    let line = message.lines().next().unwrap_or_default();
    let (old, new) = line.split_once(" -> ").unwrap_or_default();
    assert!(
        old.ends_with("/shop/web:1.0.0") && new.contains("/shop/web:1."),
        "{message}"
    );
    s.wait("the new tag in the cluster", || s.released("1.2.0"));
    let (_, body) = s.agent.get("/api/v1/images");
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(report["automations"][0]["name"], "flux-apps", "{report:#}");
    assert!(
        report["problems"].as_array().is_some_and(Vec::is_empty),
        "{report:#}"
    );
}
