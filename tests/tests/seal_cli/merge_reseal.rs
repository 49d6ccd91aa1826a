//! Several recipients, merge-into, reseal and verify.

use super::*;

#[test]
fn one_value_sealed_for_two_recipients_unseals_with_either_identity() {
    let dir = tempfile::tempdir().unwrap();
    let a = keygen(dir.path(), "a.txt");
    age_keygen(dir.path(), "b.txt");
    let b = age_keygen_recipient(dir.path(), "b.txt");
    std::fs::write(dir.path().join("clusters.txt"), format!("# prod\n{b}\n")).unwrap();
    let secret = fixture("secret.yaml");
    let out = seal_cli(
        dir.path(),
        &[
            "seal",
            "-f",
            secret.to_str().unwrap(),
            "-r",
            &a,
            "-R",
            "clusters.txt",
        ],
    );
    assert_ok(&out);
    std::fs::write(dir.path().join("db.yaml"), &out.stdout).unwrap();
    for identity in ["a.txt", "b.txt"] {
        let secret = unseal_json(dir.path(), identity, "db.yaml", &[]);
        assert_eq!(data_value(&secret, "password"), PASSWORD);
    }
    keygen(dir.path(), "c.txt");
    let out = seal_cli(dir.path(), &["unseal", "-i", "c.txt", "db.yaml"]);
    assert_exit(&out, EXIT_NO_IDENTITY);
    assert_no_plaintext(&out);
}

#[test]
fn merge_into_adds_a_key_and_leaves_the_other_ciphertexts_byte_identical() {
    let (dir, before) = strict_db();
    let recipient = public_key_of(&dir.path().join("key.txt"));
    let token = fixture("token.yaml");
    let token = token.to_str().unwrap();
    // To stdout first: the file itself is untouched.
    let out = seal_cli(
        dir.path(),
        &[
            "seal",
            "-f",
            token,
            "-r",
            &recipient,
            "--merge-into",
            "db.yaml",
        ],
    );
    assert_ok(&out);
    assert_no_plaintext(&out);
    assert_eq!(read_sealed(&dir.path().join("db.yaml")), before);
    // Then in place.
    let out = seal_cli(
        dir.path(),
        &[
            "seal",
            "-f",
            token,
            "-r",
            &recipient,
            "--merge-into",
            "db.yaml",
            "-i",
        ],
    );
    assert_ok(&out);
    assert!(out.stdout.is_empty());
    let after = read_sealed(&dir.path().join("db.yaml"));
    assert_eq!(after.metadata, before.metadata);
    assert_eq!(after.spec.scope, before.spec.scope);
    assert_eq!(after.spec.template, before.spec.template);
    assert_eq!(
        after.spec.encrypted_data.len(),
        before.spec.encrypted_data.len() + 1
    );
    for (key, value) in &before.spec.encrypted_data {
        assert_eq!(&after.spec.encrypted_data[key], value, "{key} changed");
    }
    let secret = unseal_json(dir.path(), "key.txt", "db.yaml", &[]);
    assert_eq!(data_value(&secret, "api-token"), TOKEN);
    assert_eq!(data_value(&secret, "password"), PASSWORD);
}

#[test]
fn merge_into_refuses_a_key_sealed_for_another_scope() {
    let (dir, before) = strict_db();
    let recipient = public_key_of(&dir.path().join("key.txt"));
    let token = fixture("token.yaml");
    let token = token.to_str().unwrap();
    let cases: [&[&str]; 3] = [
        &["--scope", "cluster"],
        &["--namespace", "billing"],
        &["--name", "other"],
    ];
    for extra in cases {
        let mut args = vec![
            "seal",
            "-f",
            token,
            "-r",
            &recipient,
            "--merge-into",
            "db.yaml",
            "-i",
        ];
        args.extend_from_slice(extra);
        let out = seal_cli(dir.path(), &args);
        assert_exit(&out, EXIT_SCOPE_MISMATCH);
        assert!(stderr(&out).contains("db.yaml"), "{}", stderr(&out));
        assert_no_plaintext(&out);
        assert_eq!(read_sealed(&dir.path().join("db.yaml")), before);
    }
}

#[test]
fn reseal_ignores_an_edited_scope_and_keeps_the_verified_one() {
    // CVE-2026-22728: re-encryption took the output scope from caller-supplied fields.
    let (dir, mut sealed) = strict_db();
    sealed.spec.scope = Scope::Cluster;
    sealed.spec.template.metadata.annotations.insert(
        "sealedsecrets.bitnami.com/cluster-wide".into(),
        "true".into(),
    );
    write_sealed(&dir.path().join("widened.yaml"), &sealed);
    let new = keygen(dir.path(), "new.txt");
    let out = seal_cli(
        dir.path(),
        &["reseal", "-i", "key.txt", "-r", &new, "widened.yaml"],
    );
    assert_ok(&out);
    assert_no_plaintext(&out);
    std::fs::write(dir.path().join("resealed.yaml"), &out.stdout).unwrap();
    let resealed = read_sealed(&dir.path().join("resealed.yaml"));
    assert_eq!(resealed.spec.scope, Scope::Strict);
    for (key, value) in &sealed.spec.encrypted_data {
        assert_ne!(
            &resealed.spec.encrypted_data[key], value,
            "{key} not re-sealed"
        );
    }
    // Still strict: moving the re-sealed object is refused with the new key.
    let mut moved = resealed.clone();
    moved.metadata.namespace = Some("attacker".into());
    write_sealed(&dir.path().join("moved.yaml"), &moved);
    let out = seal_cli(dir.path(), &["unseal", "-i", "new.txt", "moved.yaml"]);
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    assert_no_plaintext(&out);
    // The new identity opens it where it belongs; the old one no longer does.
    let secret = unseal_json(dir.path(), "new.txt", "resealed.yaml", &[]);
    assert_eq!(data_value(&secret, "password"), PASSWORD);
    let out = seal_cli(dir.path(), &["unseal", "-i", "key.txt", "resealed.yaml"]);
    assert_exit(&out, EXIT_NO_IDENTITY);
}

#[test]
fn reseal_refuses_an_object_moved_to_another_namespace() {
    let (dir, mut sealed) = strict_db();
    sealed.metadata.namespace = Some("attacker".into());
    write_sealed(&dir.path().join("moved.yaml"), &sealed);
    let new = keygen(dir.path(), "new.txt");
    let out = seal_cli(
        dir.path(),
        &["reseal", "-i", "key.txt", "-r", &new, "moved.yaml"],
    );
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    assert!(out.stdout.is_empty());
    assert_no_plaintext(&out);
}

#[test]
fn verify_prints_key_names_only_and_names_the_keys_that_fail() {
    let (dir, mut sealed) = strict_db();
    let out = seal_cli(dir.path(), &["verify", "-i", "key.txt", "db.yaml"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("password, username"),
        "{}",
        stdout(&out)
    );
    assert_no_plaintext(&out);
    let copy = sealed.spec.encrypted_data["username"].clone();
    sealed.spec.encrypted_data.insert("login".into(), copy);
    write_sealed(&dir.path().join("bad.yaml"), &sealed);
    let out = seal_cli(dir.path(), &["verify", "-i", "key.txt", "bad.yaml"]);
    assert_exit(&out, EXIT_SCOPE_MISMATCH);
    let err = stderr(&out);
    assert!(err.contains("failed: login"), "{err}");
    assert!(!err.contains("failed: login, "), "{err}");
    assert_no_plaintext(&out);
}
