//! SOPS-encrypted Secrets under Kustomize overlays, through the daemon: the Secret is
//! decrypted when the render loads it, before any transformer, so each overlay's namespace,
//! name prefix or suffix, labels and patches apply to the decrypted Secret (the sops MAC
//! covers the values as they are in Git). Afterwards no plaintext is left in the agent's
//! memory.

use std::path::Path;
use std::time::Duration;

use tether_tests::memory;
use tether_tests::peers;

use super::support::{Agent, Cluster, EXAMPLE_RECIPIENT, Repo, Settings, wait_for};

const PASSWORD: &str = "pw-overlay-3f9c1e7a5b2d4c6e";
const USER: &str = "user-overlay-8a7b6c5d4e3f";
const TOKEN: &str = "token-generated-5e4d3c2b1a09";

/// `plain` encrypted by the real sops for the example key, as Flux users encrypt Secrets
/// (`name` gives the format: `.yaml` or `.env`).
fn sops_encrypted(dir: &Path, name: &str, plain: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, plain).expect("write the plaintext for sops");
    let mut cmd = peers::sops_command();
    cmd.args(["--encrypt", "--age", EXAMPLE_RECIPIENT]);
    if name.ends_with(".yaml") {
        cmd.args(["--encrypted-regex", "^(data|stringData)$"]);
    }
    let out = cmd.arg(&file).output().expect("run sops");
    std::fs::remove_file(&file).expect("remove the plaintext");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn write_overlays(repo: &Repo, encrypted: &str, env: &str) {
    let files = [
        ("apps/db/base/secret.sops.yaml", encrypted.to_owned()),
        ("apps/db/base/token.sops.env", env.to_owned()),
        (
            "apps/db/base/kustomization.yaml",
            "resources: [secret.sops.yaml]\nsecretGenerator:\n- name: gen\n  envs: [token.sops.env]\n"
                .to_owned(),
        ),
        (
            "apps/db/overlays/staging/kustomization.yaml",
            "resources: [../../base]\nnamespace: db-staging\nnamePrefix: stg-\n\
             labels:\n- pairs: {tier: db}\n\
             patches:\n- patch: |-\n    apiVersion: v1\n    kind: Secret\n    metadata:\n      name: db\n\
             \x20     annotations: {rotated: \"no\"}\n    stringData:\n      mode: staging\n"
                .to_owned(),
        ),
        (
            "apps/db/overlays/production/kustomization.yaml",
            "resources: [../../base]\nnamespace: db-production\nnameSuffix: -prod\n\
             commonLabels: {env: production}\n\
             patches:\n- target: {kind: Secret, name: db}\n  patch: |-\n    - op: replace\n      path: /type\n      value: example.com/db\n"
                .to_owned(),
        ),
    ];
    for (path, body) in files {
        repo.upstream.write(path, body).expect("write");
    }
    repo.upstream
        .commit("a SOPS Secret in a base, two overlays")
        .expect("commit");
}

fn secret_field(cluster: &Cluster, namespace: &str, name: &str, path: &str) -> Option<String> {
    let out = cluster.kubectl(&[
        "get",
        "secret",
        name,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={{{path}}}"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
        .filter(|s| !s.is_empty())
}

fn decoded(cluster: &Cluster, namespace: &str, name: &str, key: &str) -> Option<String> {
    let text = secret_field(cluster, namespace, name, &format!(".data.{key}"))?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

#[test]
fn sops_secrets_of_a_base_are_decrypted_before_each_overlay_transforms_them() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let password = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, PASSWORD);
    let env = sops_encrypted(dir.path(), "token.env", &format!("TOKEN={TOKEN}\n"));
    let encrypted = sops_encrypted(
        dir.path(),
        "secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\n\
             data:\n  password: {password}\nstringData:\n  user: {USER}\n"
        ),
    );
    write_overlays(&repo, &encrypted, &env);
    let agent = Agent::start_with(
        &cluster,
        &repo,
        dir.path(),
        "agent-overlays",
        Settings {
            apps: "apps/db/overlays/*",
            namespace: "db-{{path.basename}}",
            ..Settings::default()
        },
    );
    // Staging: prefix, namespace, labels and a strategic-merge patch on the decrypted Secret.
    wait_for("the staging Secret", Duration::from_secs(60), || {
        decoded(&cluster, "db-staging", "stg-db", "password")
    });
    assert_eq!(
        decoded(&cluster, "db-staging", "stg-db", "password").as_deref(),
        Some(PASSWORD),
        "{}",
        agent.logs()
    );
    assert_eq!(
        decoded(&cluster, "db-staging", "stg-db", "user").as_deref(),
        Some(USER)
    );
    assert_eq!(
        decoded(&cluster, "db-staging", "stg-db", "mode").as_deref(),
        Some("staging")
    );
    assert_eq!(
        secret_field(&cluster, "db-staging", "stg-db", ".metadata.labels.tier").as_deref(),
        Some("db")
    );
    assert_eq!(
        secret_field(
            &cluster,
            "db-staging",
            "stg-db",
            ".metadata.annotations.rotated"
        )
        .as_deref(),
        Some("no")
    );
    // Production: suffix, namespace, common labels and a JSON 6902 patch.
    wait_for("the production Secret", Duration::from_secs(60), || {
        decoded(&cluster, "db-production", "db-prod", "password")
    });
    assert_eq!(
        decoded(&cluster, "db-production", "db-prod", "user").as_deref(),
        Some(USER)
    );
    assert_eq!(
        secret_field(&cluster, "db-production", "db-prod", ".type").as_deref(),
        Some("example.com/db")
    );
    assert_eq!(
        secret_field(&cluster, "db-production", "db-prod", ".metadata.labels.env").as_deref(),
        Some("production")
    );
    // The generated Secret over a SOPS env file: decrypted, prefixed, with a name hash.
    let generated = cluster.ok(&["get", "secrets", "-n", "db-staging", "-o", "name"]);
    let name = generated
        .lines()
        .filter_map(|l| l.strip_prefix("secret/"))
        .find(|n| n.starts_with("stg-gen-"))
        .unwrap_or_else(|| panic!("no generated Secret in {generated}"))
        .to_owned();
    assert_eq!(
        decoded(&cluster, "db-staging", &name, "TOKEN").as_deref(),
        Some(TOKEN)
    );
    // The file in Git is untouched: still the bytes sops wrote.
    let in_git = repo
        .upstream
        .git()
        .args(["show", "HEAD:apps/db/base/secret.sops.yaml"])
        .output()
        .expect("read the file in Git");
    assert_eq!(String::from_utf8_lossy(&in_git.stdout), encrypted);
    // A Secret changed by someone else is restored: its values are not kept between syncs,
    // so the agent syncs the app again (render and decrypt) to restore it.
    let other = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "overwritten");
    cluster.ok(&[
        "patch",
        "secret",
        "stg-db",
        "-n",
        "db-staging",
        "--type",
        "merge",
        "-p",
        &format!("{{\"data\":{{\"password\":\"{other}\"}}}}"),
    ]);
    wait_for(
        "the drifted Secret restored",
        Duration::from_secs(60),
        || {
            (decoded(&cluster, "db-staging", "stg-db", "password").as_deref() == Some(PASSWORD))
                .then_some(())
        },
    );
    // Once the syncs have returned, no plaintext is anywhere in the agent's memory.
    wait_for("both apps synced", Duration::from_secs(60), || {
        ["staging", "production"]
            .iter()
            .all(|app| super::app_status(&agent, app).is_some_and(|s| s["sync"] == "Succeeded"))
            .then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let image = memory::snapshot(agent.process.pid()).expect("read the agent's memory");
    assert!(
        image.len() > 1 << 20,
        "the memory image is too small to be real"
    );
    for plain in [PASSWORD, USER, TOKEN] {
        assert!(
            !memory::contains(&image, plain.as_bytes()),
            "the agent's memory holds {plain}"
        );
        for form in memory::base64_forms(plain) {
            assert!(
                !memory::contains(&image, form.as_bytes()),
                "the agent's memory holds {plain} in base64"
            );
        }
    }
    // A control: the search finds what is there (the app names, in the agent's status).
    assert!(memory::contains(&image, b"db-production"));
}
