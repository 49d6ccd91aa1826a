//! A `secretGenerator` over a file longer than 52 bytes: Kustomize folds its base64 over lines
//! of 70 characters, which the API server accepts; so must `plan` and the sync.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use tether_tests::bins;

use super::support::{Agent, Cluster, Repo, Settings, wait_for};

/// 200 bytes of a token-like value, folded by Kustomize over three lines of base64.
fn token() -> String {
    (0..200u32)
        .map(|i| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(i * 7 % 36) as usize]))
        .collect()
}

const KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
secretGenerator:
  - name: creds
    files: [token.txt]
";

/// An offline plan configuration for the apps under `apps/*` of a working directory.
pub fn offline_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tether.yaml");
    std::fs::write(
        &path,
        "namespace: tether-system
sources:
  - name: local
    url: https://example.invalid/config.git
apps:
  - source: local
    directories: [{path: \"apps/*\"}]
    namespace: \"{{path.basename}}\"
# The generated Secret is plain in Git, which the default policies deny.
policy: {enforcement: warn}
",
    )
    .expect("write the config");
    path
}

#[test]
fn plan_accepts_a_secret_generator_over_a_file_longer_than_one_base64_line() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let app = dir.path().join("repo/apps/gen");
    std::fs::create_dir_all(&app).expect("mkdir");
    std::fs::write(app.join("kustomization.yaml"), KUSTOMIZATION).expect("write");
    std::fs::write(app.join("token.txt"), token()).expect("write");
    // What the generator writes is folded, as kubectl kustomize folds it.
    let built = Command::new("kubectl")
        .arg("kustomize")
        .arg(&app)
        .output()
        .expect("run kubectl kustomize");
    let built = String::from_utf8_lossy(&built.stdout);
    assert!(built.contains("token.txt: |"), "{built}");
    let config = offline_config(dir.path());
    let out = Command::new(bins::tether_agent())
        .arg("plan")
        .arg("--offline")
        .arg("--config")
        .arg(&config)
        .arg("--repo")
        .arg(dir.path().join("repo"))
        .env_remove("KUBECONFIG")
        .output()
        .expect("run tether-agent plan");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("+ create Secret gen/creds-"), "{stdout}");
    assert!(stdout.contains("token.txt: <redacted"), "{stdout}");
    assert!(!stdout.contains("not valid base64"), "{stdout}");
    assert!(!stdout.contains(&token()[..40]), "the value leaked");
}

#[test]
fn the_daemon_syncs_a_secret_generator_over_a_file_longer_than_one_base64_line() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    repo.upstream
        .write("apps/gen/kustomization.yaml", KUSTOMIZATION)
        .expect("write");
    repo.upstream
        .write("apps/gen/token.txt", token())
        .expect("write");
    repo.upstream.commit("a generated Secret").expect("commit");
    let dir = tempfile::tempdir().expect("temporary folder");
    let settings = Settings {
        extra: "policy: {enforcement: warn}",
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "agent-gen", settings);
    let stored = wait_for("the generated Secret", Duration::from_secs(60), || {
        let out = cluster.kubectl(&[
            "get",
            "secrets",
            "-n",
            "gen",
            "-o",
            "jsonpath={.items[*].data.token\\.txt}",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        (!text.is_empty()).then_some(text)
    });
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .expect("stored base64");
    assert_eq!(decoded, token().as_bytes(), "{}", agent.logs());
    let (_, status) = agent.get("/api/v1/apps/gen");
    assert!(status.contains("\"Succeeded\""), "{status}");
}
