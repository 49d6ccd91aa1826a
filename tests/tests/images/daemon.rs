//! End to end through the daemon: a new tag pushed to the registry becomes a commit in Git
//! within one scan interval, that commit is synced to the cluster, the agent's own commit
//! causes no other, and `/api/v1/images` reports it.

use crate::support::{Agent, Cluster, Repo, Settings, wait_for};
use std::process::Command;
use std::time::Duration;
use tether_tests::gitserver::run;
use tether_tests::registry::Registry;

fn configmap(image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release # the web tier's release\ndata:\n  image: {image} # {{\"$imagepolicy\": \"tether-system:web\"}}\n"
    )
}

#[test]
fn a_new_tag_becomes_a_commit_and_reaches_the_cluster() {
    let registry = Registry::start().expect("docker-registry");
    registry.push("shop/web", "1.0.0").expect("push");
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let image = |tag: &str| format!("{}/shop/web:{tag}", registry.host());
    repo.upstream
        .write("apps/one/release.yaml", configmap(&image("1.0.0")))
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
    let agent = Agent::start_with(
        &cluster,
        &repo,
        dir.path(),
        "images-e2e",
        Settings {
            extra: &extra,
            ..Settings::default()
        },
    );
    let released = |tag: &str| {
        let value = cluster.ok(&[
            "get",
            "configmap",
            "release",
            "-n",
            "one",
            "-o",
            "jsonpath={.data.image}",
        ]);
        value == image(tag)
    };
    let synced = || cluster.exists(&["configmap", "release", "-n", "one"]) && released("1.0.0");
    for _ in 0..300 {
        if synced() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(synced(), "the first sync: {}", agent.logs());
    let head = repo.upstream.head().expect("head");

    registry
        .push("shop/web", "1.1.0")
        .expect("push the new tag");
    let bare = |args: &[&str]| {
        run(Command::new("git")
            .arg("-C")
            .arg(&repo.upstream.bare)
            .args(args))
        .unwrap_or_default()
    };
    let commit = wait_for("a commit with the new tag", Duration::from_secs(60), || {
        let now = bare(&["rev-parse", "main"]);
        (now != head).then_some(now)
    });
    assert_eq!(bare(&["rev-parse", "main~1"]), head);
    assert_eq!(
        bare(&["show", "main:apps/one/release.yaml"]),
        configmap(&image("1.1.0")).trim_end()
    );
    wait_for(
        "the new tag in the cluster",
        Duration::from_secs(60),
        || released("1.1.0").then_some(()),
    );
    // The agent's own commit is synced but causes no other: a few more scans, same head.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(bare(&["rev-parse", "main"]), commit, "{}", agent.logs());
    let (code, body) = agent.get("/api/v1/images");
    assert_eq!(code, 200);
    let report: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        report["policies"][0]["latestImage"],
        image("1.1.0"),
        "{report:#}"
    );
    assert_eq!(
        report["automations"][0]["lastCommit"],
        commit.as_str(),
        "{report:#}"
    );
}
