//! `KUBECONFIG=a:b`: the agent merges the files as kubectl does (the first file to set a
//! value wins; clusters, users and contexts merged by name, the first definition kept), so
//! `kubectl config view --merge` and the agent agree, and the agent reaches the cluster kubectl
//! reaches.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use tether_tests::bins;

use super::support::Cluster;

/// The cluster's server URL, from the kubeconfig the emulation wrote.
fn server_of(cluster: &Cluster) -> String {
    let text = std::fs::read_to_string(&cluster.kubeconfig).expect("kubeconfig");
    text.lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .map(|s| s.trim().trim_matches('"').to_owned())
        .expect("a server line")
}

/// Two files that disagree on every kind of entry.
fn write_files(dir: &Path, server: &str) -> (String, String) {
    let a = dir.join("a.yaml");
    std::fs::write(
        &a,
        format!(
            "apiVersion: v1
kind: Config
current-context: main
clusters:
- name: shared
  cluster: {{server: '{server}'}}
contexts:
- name: main
  context: {{cluster: shared, user: alice, namespace: from-a}}
users:
- name: alice
  user: {{token: token-a}}
"
        ),
    )
    .expect("write");
    let b = dir.join("b.yaml");
    std::fs::write(
        &b,
        "apiVersion: v1
kind: Config
current-context: other
clusters:
- name: shared
  cluster: {server: 'http://127.0.0.1:9'}
- name: dead
  cluster: {server: 'http://127.0.0.1:9'}
contexts:
- name: main
  context: {cluster: dead, user: bob}
- name: other
  context: {cluster: dead, user: bob}
users:
- name: alice
  user: {token: token-b}
- name: bob
  user: {token: token-bob}
",
    )
    .expect("write");
    (a.display().to_string(), b.display().to_string())
}

/// The parts of a merged kubeconfig both tools must agree on, from kubectl's JSON view.
fn summary(view: &Value) -> Value {
    let by_name = |list: &str, inner: &str| -> Value {
        view[list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or("").to_owned(),
                    e[inner].clone(),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    json!({
        "current-context": view["current-context"],
        "clusters": by_name("clusters", "cluster"),
        "contexts": by_name("contexts", "context"),
        "users": by_name("users", "user"),
    })
}

fn kubectl_view(list: &str, home: &Path) -> Value {
    let out = Command::new("kubectl")
        .env("KUBECONFIG", list)
        .env("HOME", home)
        .args(["config", "view", "--merge", "--raw", "-o", "json"])
        .output()
        .expect("run kubectl config view");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("kubectl's JSON")
}

fn agent_status(list: &str) -> Output {
    Command::new(bins::tether_agent())
        .env("KUBECONFIG", list)
        .args(["status", "-n", "tether-system"])
        .output()
        .expect("run tether-agent status")
}

#[test]
fn a_kubeconfig_list_is_merged_as_kubectl_merges_it() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let (a, b) = write_files(dir.path(), &server_of(&cluster));
    let missing = dir.path().join("missing.yaml").display().to_string();
    for list in [
        format!("{a}:{b}"),
        format!("{b}:{a}"),
        format!("{a}:{missing}:{b}"),
    ] {
        let kubectl = summary(&kubectl_view(&list, dir.path()));
        let merged = tether_agent::sync::kubeconfig::read(Path::new(&list)).expect("merged");
        let ours = summary(&serde_json::to_value(&merged).expect("JSON"));
        assert_eq!(ours, kubectl, "KUBECONFIG={list}");
    }
    // a first: current-context `main` of a, on a's `shared` cluster (the emulation).
    let view = summary(&kubectl_view(&format!("{a}:{b}"), dir.path()));
    assert_eq!(view["current-context"], "main");
    assert_eq!(view["contexts"]["main"]["cluster"], "shared");
    assert_eq!(view["users"]["alice"]["token"], "token-a");
    let out = agent_status(&format!("{a}:{b}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no apps in tether-system"), "{stderr}");
    // b first: its context `other` on the dead cluster, as kubectl would pick.
    let out = agent_status(&format!("{b}:{a}"));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
