//! A Flux GitRepository over SSH with its key in a Secret (`identity`, `known_hosts`):
//! fetched from a real sshd through an `ssh-agent` that holds the key in memory. The key is
//! never written: no file under the agent's cache folder holds it after (or during the
//! setup of) the fetch, and no output or error quotes it. Host keys are checked against
//! the Secret's `known_hosts`.

use std::path::Path;

use serde_json::{Value, json};
use tether_agent::render::flux_helm::git::GitSources;
use tether_agent::render::flux_helm::{self, NativeRenderer};
use tether_tests::gitserver::{SshGit, Upstream};

#[path = "shared/flux_context.rs"]
mod flux_context;
use flux_context::ctx;

const CHART: &str = "apiVersion: v2\nname: web\nversion: 0.3.0\n";
const TEMPLATE: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\ndata:\n  colour: {{ .Values.colour | quote }}\n";

fn objects(url: &str, identity: &str, known_hosts: Option<&str>) -> Vec<Value> {
    let mut data = json!({"identity": identity});
    if let Some(known_hosts) = known_hosts {
        data["known_hosts"] = json!(known_hosts);
    }
    vec![
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "ssh-auth", "namespace": "shop"},
            "stringData": data}),
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "charts", "namespace": "shop"},
            "spec": {"url": url, "interval": "5m", "ref": {"branch": "main"}, "secretRef": {"name": "ssh-auth"}}}),
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"interval": "10m", "chart": {"spec": {"chart": "./deploy/web",
                "sourceRef": {"kind": "GitRepository", "name": "charts"}}}}}),
    ]
}

/// Every file below `dir` that contains `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(bytes) = std::fs::read(&path)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn an_ssh_key_from_a_secret_is_used_through_an_agent_and_never_written() {
    let root = tempfile::tempdir().expect("tempdir");
    let upstream = Upstream::create(root.path(), "charts").expect("an upstream");
    for (path, text) in [
        ("deploy/web/Chart.yaml", CHART),
        ("deploy/web/values.yaml", "colour: teal\n"),
        ("deploy/web/templates/cm.yaml", TEMPLATE),
    ] {
        upstream.write(path, text).expect("write");
    }
    upstream.commit("the chart").expect("commit");
    let sshd = SshGit::start().expect("sshd");
    let url = sshd.url(&upstream.bare);
    let identity = std::fs::read_to_string(&sshd.client_key).expect("the client key");
    let known_hosts = std::fs::read_to_string(&sshd.known_hosts).expect("known_hosts");
    // The key's body: a line of its base64, which no other file holds.
    let body = identity
        .lines()
        .nth(2)
        .expect("a multi-line OpenSSH key")
        .to_owned();
    let cache = root.path().join("cache");
    let git = GitSources::new(None, Some(cache.clone()));
    let renderer = NativeRenderer;

    let out = flux_helm::expand(
        objects(&url, &identity, Some(&known_hosts)),
        &ctx(&renderer, &git),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out[1]["data"]["colour"], "teal", "{out:#?}");
    assert_eq!(out.len(), 2, "the GitRepository is consumed: {out:#?}");
    assert!(
        !serde_json::to_string(&out[1])
            .expect("json")
            .contains(&body)
    );
    // Nothing under the cache holds the key, and the agent's private folder is gone.
    assert!(cache.is_dir(), "the fetch used the cache");
    assert_eq!(files_holding(&cache, body.as_bytes()), Vec::<String>::new());
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .expect("the cache")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("ssh-agent-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "the agent's folder is removed after the fetch"
    );

    // A known_hosts without the server's key: refused by ssh's strict checking; the error
    // names the GitRepository and quotes no key.
    let other = "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n";
    let git = GitSources::new(None, Some(root.path().join("cache-2")));
    let err = flux_helm::expand(objects(&url, &identity, Some(other)), &ctx(&renderer, &git))
        .expect_err("an unknown host key")
        .to_string();
    assert!(
        err.contains("GitRepository shop/charts")
            && err.contains("AuthFailed")
            && err.to_lowercase().contains("host key"),
        "{err}"
    );
    assert!(!err.contains(&body), "{err}");

    // Without known_hosts the Secret is refused, naming the field; nothing is started.
    let err = flux_helm::expand(objects(&url, &identity, None), &ctx(&renderer, &git))
        .expect_err("no known_hosts")
        .to_string();
    assert!(
        err.contains("spec.secretRef") && err.contains("known_hosts"),
        "{err}"
    );

    // Not a key: ssh-add's refusal is named, the text is not quoted.
    let err = flux_helm::expand(
        objects(&url, "not-a-key-7f3e91", Some(&known_hosts)),
        &ctx(&renderer, &git),
    )
    .expect_err("not a key")
    .to_string();
    assert!(
        err.contains("key identity") && !err.contains("not-a-key-7f3e91"),
        "{err}"
    );
    for dir in [root.path().join("cache"), root.path().join("cache-2")] {
        assert_eq!(files_holding(&dir, body.as_bytes()), Vec::<String>::new());
    }
}
