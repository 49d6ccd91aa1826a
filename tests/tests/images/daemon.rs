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

#[test]
fn a_push_that_meets_a_colleagues_commit_is_applied_again_on_top_through_the_daemon() {
    let s = Setup::start(&[], IMAGES);
    s.wait("the first sync", || s.released("1.0.0"));
    let head = s.git(&["rev-parse", "main"]);
    // The server moves main while the agent's first push is received: that push is refused.
    crate::write::race_once_in(&s.repo.upstream.bare);
    s.registry
        .push("shop/web", "1.1.0")
        .expect("push the new tag");
    s.wait("the new tag in the cluster", || s.released("1.1.0"));
    assert!(
        s.repo.upstream.bare.join("raced").exists(),
        "the race happened"
    );
    assert_eq!(
        s.git(&["log", "-1", "--format=%s", "main~1"]),
        "a colleague's change"
    );
    assert_eq!(s.git(&["rev-parse", "main~2"]), head);
    assert_eq!(
        s.git(&["show", "main:apps/one/release.yaml"]),
        configmap(&s.image("1.1.0")).trim_end()
    );
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
      signingKey: {secretRef: {name: signing-key}}
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
    // The automation's OpenPGP key, in a Secret of its namespace as Flux keeps it.
    let keys = tempfile::tempdir().expect("temporary folder");
    let signer = crate::sign::Gpg::new(keys.path(), "signer");
    let (secret, public) = signer.generate(
        "Flux Bot <fluxcdbot@users.noreply.github.com>",
        "ed25519",
        "flux-pass-99",
    );
    let key_file = keys.path().join("git.asc");
    std::fs::write(&key_file, secret).expect("write the key");
    s.cluster.ok(&[
        "create",
        "secret",
        "generic",
        "signing-key",
        "-n",
        "two",
        &format!("--from-file=git.asc={}", key_file.display()),
        "--from-literal=passphrase=flux-pass-99",
    ]);
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
    // Signed with the Secret's key: git verifies it with the public key alone.
    let verifier = crate::sign::Gpg::new(keys.path(), "verifier");
    verifier.run(&["--import"], Some(&public));
    let verified = Command::new("git")
        .arg("-C")
        .arg(&s.repo.upstream.bare)
        .args(["verify-commit", "main"])
        .env("GNUPGHOME", &verifier.home)
        .output()
        .expect("git verify-commit");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
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

/// The Events of `namespace` (events.k8s.io) with `reason`, as JSON objects.
fn events(s: &Setup, namespace: &str, reason: &str) -> Vec<serde_json::Value> {
    let text = s
        .cluster
        .ok(&["get", "events.events.k8s.io", "-n", namespace, "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    list["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|e| e["reason"] == reason)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The value of the metric line starting with `prefix` on `/metrics`.
fn metric(s: &Setup, prefix: &str) -> Option<f64> {
    let (_, text) = s.agent.get("/metrics");
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

const BROKEN: &str = "images:
  repositories:
    - {name: web, image: REGISTRY/shop/web, insecure: true, interval: 1s, credentials: {secretName: regcred}}
    - {name: anonymous, image: REGISTRY/shop/web, insecure: true, interval: 1s}
  policies:
    - {name: web, repository: web, policy: {semver: {range: '>=1.0.0'}}}
  automations:
    - {name: web, source: config, paths: [apps/one], interval: 1s}
    - {name: nowhere, source: config, url: 'file:///nonexistent/tether/config.git', paths: [apps/one], interval: 1s}
";

#[test]
fn image_commits_and_failures_are_events_and_metrics() {
    let s = Setup::start(&[], BROKEN);
    s.wait("the first sync", || s.released("1.0.0"));
    s.registry
        .push("shop/web", "1.1.0")
        .expect("push the new tag");
    s.wait("the new tag in the cluster", || s.released("1.1.0"));
    let commit = s.git(&["rev-parse", "main"]);

    // A pushed commit: a Normal Event on the automation, naming the commit and the change.
    s.wait("an ImageUpdatePushed Event", || {
        !events(&s, "tether-system", "ImageUpdatePushed").is_empty()
    });
    let pushed = &events(&s, "tether-system", "ImageUpdatePushed")[0];
    assert_eq!(pushed["type"], "Normal", "{pushed:#}");
    assert_eq!(
        pushed["regarding"]["kind"], "ImageUpdateAutomation",
        "{pushed:#}"
    );
    assert_eq!(pushed["regarding"]["name"], "web", "{pushed:#}");
    let note = pushed["note"].as_str().unwrap_or_default();
    assert!(
        note.contains(&commit) && note.contains("apps/one/release.yaml") && note.contains(":1.1.0"),
        "{note}"
    );
    // A failed write and a failed scan: Warning Events on their objects.
    s.wait("an ImageUpdateFailed Event", || {
        !events(&s, "tether-system", "ImageUpdateFailed").is_empty()
    });
    let failed = &events(&s, "tether-system", "ImageUpdateFailed")[0];
    assert_eq!(failed["type"], "Warning");
    assert_eq!(failed["regarding"]["name"], "nowhere", "{failed:#}");
    assert!(
        failed["note"]
            .as_str()
            .unwrap_or_default()
            .contains("FetchFailed")
            || failed["note"]
                .as_str()
                .unwrap_or_default()
                .contains("nonexistent"),
        "{failed:#}"
    );
    s.wait("an ImageScanFailed Event", || {
        !events(&s, "tether-system", "ImageScanFailed").is_empty()
    });
    let scan = &events(&s, "tether-system", "ImageScanFailed")[0];
    assert_eq!(scan["regarding"]["kind"], "ImageRepository", "{scan:#}");
    assert_eq!(scan["regarding"]["name"], "anonymous", "{scan:#}");
    assert!(
        !scan.to_string().contains("pull-pass-5150"),
        "no credential in an Event: {scan:#}"
    );

    // The metrics, scraped.
    assert_eq!(
        metric(
            &s,
            "tether_image_updates_total{automation=\"tether-system/web\",result=\"pushed\"}"
        ),
        Some(1.0)
    );
    assert!(
        metric(
            &s,
            "tether_image_updates_total{automation=\"tether-system/nowhere\",result=\"failed\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(
        metric(&s, "tether_image_tags{repository=\"tether-system:web\"}"),
        Some(2.0)
    );
    assert!(
        metric(
            &s,
            "tether_image_last_scan_timestamp_seconds{repository=\"tether-system:web\"}"
        )
        .is_some_and(|t| t > 1.6e9)
    );
    assert!(
        metric(
            &s,
            "tether_image_scan_errors_total{repository=\"tether-system:anonymous\"}"
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert_eq!(
        metric(
            &s,
            "tether_image_last_scan_timestamp_seconds{repository=\"tether-system:anonymous\"}"
        ),
        None,
        "a repository never scanned has no last scan"
    );
}
