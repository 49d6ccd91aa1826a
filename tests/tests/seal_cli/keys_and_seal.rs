//! Identities and recipients, sealing and unsealing, and what sealing strips.

use super::*;

#[test]
fn keygen_writes_a_private_identity_file_and_never_overwrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = seal_cli(dir.path(), &["keygen", "-o", "key.txt"]);
    assert_ok(&out);
    let path = dir.path().join("key.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# created: "), "{text}");
    let public = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("a public key line");
    assert!(stderr(&out).contains(&format!("Public key: {public}")));
    assert!(!stdout(&out).contains("AGE-SECRET-KEY-1"));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let again = seal_cli(dir.path(), &["keygen", "-o", "key.txt"]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn recipient_matches_debian_age_keygen_for_both_tools_files() {
    let dir = tempfile::tempdir().unwrap();
    let ours = keygen(dir.path(), "ours.txt");
    assert!(ours.starts_with("age1"));
    assert_eq!(ours, age_keygen_recipient(dir.path(), "ours.txt"));
    age_keygen(dir.path(), "theirs.txt");
    let out = seal_cli(dir.path(), &["recipient", "theirs.txt"]);
    assert_ok(&out);
    assert_eq!(
        stdout(&out).trim(),
        age_keygen_recipient(dir.path(), "theirs.txt")
    );
}

#[test]
fn identity_made_by_debian_age_keygen_unseals() {
    let dir = tempfile::tempdir().unwrap();
    age_keygen(dir.path(), "debian.txt");
    let recipient = age_keygen_recipient(dir.path(), "debian.txt");
    seal_to(
        dir.path(),
        &fixture("secret.yaml"),
        &recipient,
        &[],
        "db.yaml",
    );
    let secret = unseal_json(dir.path(), "debian.txt", "db.yaml", &[]);
    assert_eq!(data_value(&secret, "password"), PASSWORD);
}

#[test]
fn seal_unseal_round_trip_keeps_data_string_data_and_template() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "key.txt");
    let sealed = seal_to(
        dir.path(),
        &fixture("secret.yaml"),
        &recipient,
        &[],
        "db.yaml",
    );
    assert_eq!(sealed.spec.scope, Scope::Strict);
    assert_eq!(
        sealed.spec.template.type_.as_deref(),
        Some("kubernetes.io/basic-auth")
    );
    assert_eq!(sealed.spec.template.immutable, Some(true));
    let secret = unseal_json(dir.path(), "key.txt", "db.yaml", &[]);
    // stringData wins over data on the same key, as with the API server.
    assert_eq!(data_value(&secret, "password"), PASSWORD);
    assert_eq!(data_value(&secret, "username"), USERNAME);
    assert_eq!(secret["metadata"]["name"], "db");
    assert_eq!(secret["metadata"]["namespace"], "shop");
    assert_eq!(secret["metadata"]["labels"]["app"], "db");
    assert_eq!(secret["metadata"]["annotations"]["team"], "payments");
    assert_eq!(secret["type"], "kubernetes.io/basic-auth");
    assert_eq!(secret["immutable"], true);
    // The YAML form of unseal carries the same values.
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "db.yaml"]);
    assert_ok(&out);
    assert!(stdout(&out).contains(&STANDARD.encode(PASSWORD)));
}

#[test]
fn json_secret_in_and_json_sealed_secret_out() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "key.txt");
    let json = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "stringData": {"password": PASSWORD}
    });
    std::fs::write(dir.path().join("s.json"), json.to_string()).unwrap();
    let out = seal_cli(
        dir.path(),
        &["seal", "-f", "s.json", "-r", &recipient, "-o", "json"],
    );
    assert_ok(&out);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON output");
    assert_eq!(value["kind"], "SealedSecret");
    std::fs::write(dir.path().join("db.json"), &out.stdout).unwrap();
    let secret = unseal_json(dir.path(), "key.txt", "db.json", &[]);
    assert_eq!(data_value(&secret, "password"), PASSWORD);
}

#[test]
fn server_set_metadata_and_last_applied_configuration_are_stripped() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "key.txt");
    seal_to(
        dir.path(),
        &fixture("secret.yaml"),
        &recipient,
        &[],
        "db.yaml",
    );
    let sealed_text = std::fs::read_to_string(dir.path().join("db.yaml")).unwrap();
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "db.yaml"]);
    assert_ok(&out);
    for text in [sealed_text, stdout(&out)] {
        for field in [
            "kubectl.kubernetes.io/last-applied-configuration",
            "managedFields",
            "resourceVersion",
            "uid:",
            "creationTimestamp",
            "generation",
            "selfLink",
            "status",
        ] {
            assert!(!text.contains(field), "{field} survived:\n{text}");
        }
        assert!(!text.contains(OLD_PASSWORD_B64));
    }
}
