//! Flux Kustomization options the daemon maps, checked live against the API emulation:
//! `wait`, `healthChecks` and `timeout` as health gates, and `postBuild.substituteFrom`.

use super::live::{live, start, start_with, status, wait_synced};
use super::support::{Cluster, EXAMPLE_RECIPIENT, root, wait_for};
use super::{serve, serve_with};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tether_tests::peers;

const GIT_SECRET: &str = "git-db-pass-7d1e";
const CLUSTER_SECRET: &str = "cluster-token-3f9a";

/// The Secret `cluster-secrets` of flux-system, SOPS-encrypted for the example key.
fn sops_secret(dir: &Path) -> String {
    let file = dir.join("cluster-secrets.yaml");
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: cluster-secrets, namespace: flux-system}}\n\
         stringData: {{db_password: {GIT_SECRET}}}\n"
    );
    std::fs::write(&file, plain).expect("write the plaintext for sops");
    let out = peers::sops_command()
        .args(["--encrypt", "--age", EXAMPLE_RECIPIENT])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .arg(&file)
        .output()
        .expect("run sops");
    std::fs::remove_file(&file).expect("remove the plaintext");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The app's status once its sync has ended with a health verdict other than Progressing.
fn settled(port: u16, app: &str) -> Value {
    wait_for(
        &format!("app {app} settled"),
        Duration::from_secs(90),
        || {
            status(port, app).filter(|s| {
                let health = s["health"].as_str().unwrap_or_default();
                health == "Healthy" || health == "Degraded"
            })
        },
    )
}

#[test]
fn flux_wait_health_checks_and_timeout_gate_the_imported_apps_health() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let daemon = serve("flux-options", &dir.path().join("git"));
    let port = peers::free_port();
    let import = "[{from: flux, paths: [clusters/test], \
                  urls: ['ssh://git@github.com/example/options']}]";
    // The agent's own health timeout is 0s (assess once): a Deployment the emulation never
    // rolls out is Progressing unless the app's own gate says otherwise.
    let _agent = start(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
    );
    // wait: true, timeout: 2s: the Deployment gates the app and times out after 2s.
    let gated = settled(port, "gated");
    assert_eq!(gated["health"], "Degraded", "{gated}");
    assert!(gated.to_string().contains("HealthTimeout"), "{gated}");
    assert!(gated.to_string().contains("gated"), "{gated}");
    // healthChecks name only the ConfigMap: the Deployment does not gate the app.
    let checked = settled(port, "checked");
    assert_eq!(checked["health"], "Healthy", "{checked}");
    // Neither wait nor healthChecks: healthy once applied, as in Flux.
    let unchecked = settled(port, "unchecked");
    assert_eq!(unchecked["health"], "Healthy", "{unchecked}");
    for name in ["gated", "checked", "unchecked"] {
        assert!(cluster.exists(&["deployment", name, "-n", "default"]));
    }
}

#[test]
fn flux_substitute_from_reads_config_maps_and_sops_secrets_from_git_and_the_cluster() {
    let cluster = Cluster::start();
    for namespace in ["tether-system", "flux-system"] {
        cluster.ok(&["create", "namespace", namespace]);
    }
    cluster.ok(&[
        "create",
        "configmap",
        "live-vars",
        "-n",
        "flux-system",
        "--from-literal=region=eu-north-1",
    ]);
    let token = format!("--from-literal=api_token={CLUSTER_SECRET}");
    cluster.ok(&[
        "create",
        "secret",
        "generic",
        "live-secrets",
        "-n",
        "flux-system",
        &token,
    ]);
    let dir = tempfile::tempdir().expect("temporary folder");
    let encrypted = sops_secret(dir.path());
    assert!(
        !encrypted.contains(GIT_SECRET),
        "the file in Git is encrypted"
    );
    let daemon = serve_with(
        "flux-options",
        &dir.path().join("git"),
        &[("clusters/test/cluster-secrets.yaml", encrypted)],
    );
    let port = peers::free_port();
    let import = "[{from: flux, paths: [clusters/test], \
                  urls: ['ssh://git@github.com/example/options']}]";
    let keys = format!(
        "keys: {{files: [{}]}}\n",
        root().join("examples/keys/example.agekey").display()
    );
    let _agent = start_with(
        &cluster,
        dir.path(),
        &daemon.url("config.git"),
        import,
        port,
        &keys,
    );
    let synced = wait_synced(port, "vars");
    let settings = live(&cluster, "configmap", "vars-settings", "default");
    assert_eq!(
        settings["data"],
        serde_json::json!({"cluster": "test-cluster", "region": "eu-north-1",
            "greeting": "hello", "fallback": "fallback"}),
        "a ConfigMap from Git, one from the cluster, substitute, a default"
    );
    let secret = live(&cluster, "secret", "vars-secret", "default");
    let decoded = |key: &str| {
        use base64::Engine as _;
        let text = secret["data"][key].as_str().expect("a value");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("base64");
        String::from_utf8(bytes).expect("UTF-8")
    };
    assert_eq!(
        decoded("db_password"),
        GIT_SECRET,
        "from the SOPS Secret in Git"
    );
    assert_eq!(
        decoded("api_url"),
        format!("https://bot:{CLUSTER_SECRET}@api.example"),
        "from the Secret in the cluster"
    );
    // A required object found nowhere: the app says which entry, nothing is applied.
    let missing = wait_for("vars-missing failed", Duration::from_secs(60), || {
        status(port, "vars-missing").filter(|s| s.to_string().contains("SubstituteFailed"))
    });
    let text = missing.to_string();
    assert!(
        text.contains("substituteFrom[0]") && text.contains("nowhere"),
        "{text}"
    );
    assert!(!cluster.exists(&["configmap", "missing-settings", "-n", "default"]));
    // An object that cannot be mapped shows as its app, naming the object, file and field.
    let bad = wait_for("bad-field reported", Duration::from_secs(60), || {
        status(port, "bad-field").filter(|s| s["reason"] == "ImportFailed")
    });
    let text = bad.to_string();
    for part in [
        "Kustomization flux-system/bad-field",
        "clusters/test/vars.yaml",
        "spec.unknownThing",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    // No secret value in the status, the app list or the log.
    let (_, apps) = super::support::http(port, "GET", "/api/v1/apps", &[], b"");
    let log = std::fs::read_to_string(dir.path().join("agent.log")).unwrap_or_default();
    for text in [synced.to_string(), apps, log] {
        assert!(!text.contains(GIT_SECRET) && !text.contains(CLUSTER_SECRET));
    }
}
