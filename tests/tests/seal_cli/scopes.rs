//! Scopes (strict, namespace, cluster) and values moved or renamed.

use super::*;

#[test]
fn strict_scope_refuses_a_value_moved_to_another_namespace() {
    let (dir, mut sealed) = strict_db();
    sealed.metadata.namespace = Some("attacker".into());
    write_sealed(&dir.path().join("moved.yaml"), &sealed);
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "moved.yaml"]);
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    let err = stderr(&out);
    assert!(err.contains("moved.yaml"), "{err}");
    assert!(err.contains("attacker/db"), "{err}");
    assert!(err.contains("\"shop/db\""), "{err}");
    assert_no_plaintext(&out);
    // The same check where the object is said to be applied, without editing it.
    let out = seal_cli(
        dir.path(),
        &["unseal", "-i", "key.txt", "-n", "attacker", "db.yaml"],
    );
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    assert_no_plaintext(&out);
}

#[test]
fn strict_scope_refuses_a_renamed_object() {
    let (dir, mut sealed) = strict_db();
    sealed.metadata.name = Some("other".into());
    write_sealed(&dir.path().join("renamed.yaml"), &sealed);
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "renamed.yaml"]);
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    assert!(stderr(&out).contains("shop/other"), "{}", stderr(&out));
    assert_no_plaintext(&out);
}

#[test]
fn a_value_renamed_to_another_key_is_refused() {
    let (dir, mut sealed) = strict_db();
    let value = sealed.spec.encrypted_data.remove("password").unwrap();
    sealed.spec.encrypted_data.insert("username".into(), value);
    write_sealed(&dir.path().join("swapped.yaml"), &sealed);
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "swapped.yaml"]);
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    let err = stderr(&out);
    assert!(err.contains("encryptedData.username"), "{err}");
    assert!(err.contains("key \"password\""), "{err}");
    assert_no_plaintext(&out);
}

#[test]
fn namespace_scope_allows_another_name_but_not_another_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "key.txt");
    let mut sealed = seal_to(
        dir.path(),
        &fixture("secret.yaml"),
        &recipient,
        &["--scope", "namespace"],
        "db.yaml",
    );
    assert_eq!(sealed.spec.scope, Scope::Namespace);
    sealed.metadata.name = Some("db-copy".into());
    write_sealed(&dir.path().join("renamed.yaml"), &sealed);
    let secret = unseal_json(dir.path(), "key.txt", "renamed.yaml", &[]);
    assert_eq!(secret["metadata"]["name"], "db-copy");
    assert_eq!(data_value(&secret, "password"), PASSWORD);
    sealed.metadata.namespace = Some("other".into());
    write_sealed(&dir.path().join("moved.yaml"), &sealed);
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "moved.yaml"]);
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    assert_no_plaintext(&out);
}

#[test]
fn cluster_scope_unseals_in_any_namespace_without_one_in_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "key.txt");
    let sealed = seal_to(
        dir.path(),
        &fixture("no-namespace.yaml"),
        &recipient,
        &["--scope", "cluster"],
        "cache.yaml",
    );
    assert_eq!(sealed.metadata.namespace, None);
    for ns in ["shop", "billing"] {
        let secret = unseal_json(dir.path(), "key.txt", "cache.yaml", &["-n", ns]);
        assert_eq!(secret["metadata"]["namespace"], ns);
        assert_eq!(data_value(&secret, "url"), REDIS_URL);
    }
    // The key name stays bound even in cluster scope.
    let mut moved = sealed.clone();
    let value = moved.spec.encrypted_data.remove("url").unwrap();
    moved.spec.encrypted_data.insert("other-url".into(), value);
    write_sealed(&dir.path().join("moved.yaml"), &moved);
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "moved.yaml"]);
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
}

#[test]
fn missing_namespace_is_an_error_for_strict_scope_unless_given() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = keygen(dir.path(), "key.txt");
    let secret = fixture("no-namespace.yaml");
    let secret = secret.to_str().unwrap();
    for scope in ["strict", "namespace"] {
        let out = seal_cli(
            dir.path(),
            &["seal", "-f", secret, "-r", &recipient, "--scope", scope],
        );
        assert_exit(&out, EXIT_MALFORMED);
        let err = stderr(&out);
        assert!(err.contains("no-namespace.yaml"), "{err}");
        assert!(err.contains("metadata.namespace is required"), "{err}");
        assert!(err.contains("--namespace"), "{err}");
        assert_no_plaintext(&out);
    }
    seal_to(
        dir.path(),
        &fixture("no-namespace.yaml"),
        &recipient,
        &["--namespace", "shop"],
        "cache.yaml",
    );
    let secret = unseal_json(dir.path(), "key.txt", "cache.yaml", &[]);
    assert_eq!(secret["metadata"]["namespace"], "shop");
    assert_eq!(data_value(&secret, "url"), REDIS_URL);
}
