//! The `tether-seal` sealing subcommands, run as a real binary, against Debian's `age` and
//! `age-keygen`: keys, seal/unseal, scopes, several recipients, merge-into, reseal, verify, and
//! the guarantee that no failing command prints a plaintext.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "seal_cli/support.rs"]
mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::process::Command;
use support::*;
use tether_seal::sealed::Scope;
use tether_tests::peers;

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

#[test]
fn failing_commands_never_print_a_plaintext() {
    let (dir, sealed) = strict_db();
    let recipient = keygen(dir.path(), "other.txt");
    let mut moved = sealed.clone();
    moved.metadata.namespace = Some("elsewhere".into());
    write_sealed(&dir.path().join("moved.yaml"), &moved);
    std::fs::write(
        dir.path().join("broken.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\nstringData:\n  password: {PASSWORD}\n   bad: [indent\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("data-scalar.yaml"),
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: shop}}\nstringData: {PASSWORD}\n"),
    )
    .unwrap();
    let bad_string_data = fixture("bad-string-data.yaml");
    let bad_base64 = fixture("bad-base64.yaml");
    let runs: Vec<(Vec<&str>, i32)> = vec![
        (
            vec![
                "seal",
                "-f",
                bad_string_data.to_str().unwrap(),
                "-r",
                &recipient,
            ],
            EXIT_MALFORMED,
        ),
        (
            vec!["seal", "-f", bad_base64.to_str().unwrap(), "-r", &recipient],
            EXIT_MALFORMED,
        ),
        (
            vec!["seal", "-f", "broken.yaml", "-r", &recipient],
            EXIT_MALFORMED,
        ),
        (
            vec!["seal", "-f", "data-scalar.yaml", "-r", &recipient],
            EXIT_MALFORMED,
        ),
        (vec!["seal", "-f", "broken.yaml"], EXIT_USAGE),
        (
            vec!["seal", "-f", "data-scalar.yaml", "-r", "age1notarecipient"],
            EXIT_MALFORMED,
        ),
        (
            vec!["unseal", "-i", "key.txt", "moved.yaml"],
            EXIT_SCOPE_MISMATCH,
        ),
        (
            vec!["unseal", "-i", "other.txt", "db.yaml"],
            EXIT_NO_IDENTITY,
        ),
        (
            vec!["verify", "-i", "other.txt", "db.yaml"],
            EXIT_NO_IDENTITY,
        ),
        (vec!["unseal", "-i", "db.yaml", "db.yaml"], EXIT_MALFORMED),
        (vec!["unseal", "--bogus", "db.yaml"], EXIT_USAGE),
    ];
    for (args, code) in runs {
        let out = seal_cli(dir.path(), &args);
        assert_exit(&out, code);
        assert!(!stderr(&out).trim().is_empty(), "{args:?}: no message");
        assert_no_plaintext(&out);
    }
    // The malformed value is named by its key.
    let out = seal_cli(
        dir.path(),
        &[
            "seal",
            "-f",
            bad_string_data.to_str().unwrap(),
            "-r",
            &recipient,
        ],
    );
    assert!(
        stderr(&out).contains("stringData.pin must be a string"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_age_cli_decrypts_a_sealed_value_and_sees_the_envelope_header() {
    let (dir, sealed) = strict_db();
    let value = STANDARD
        .decode(&sealed.spec.encrypted_data["password"])
        .expect("base64");
    assert!(value.starts_with(b"age-encryption.org/v1\n"));
    std::fs::write(dir.path().join("password.age"), &value).unwrap();
    let out = Command::new(peers::peer_binary("age"))
        .args(["-d", "-i", "key.txt", "password.age"])
        .current_dir(dir.path())
        .output()
        .expect("age runs");
    assert_ok(&out);
    let plain = out.stdout;
    let mut expected = b"tether.dev/sealed\n\x01\x01\x00\x07shop/db\x00\x08password".to_vec();
    expected.extend_from_slice(&u32::try_from(PASSWORD.len()).unwrap().to_be_bytes());
    expected.extend_from_slice(PASSWORD.as_bytes());
    assert_eq!(plain, expected);
}

#[test]
fn every_subcommand_has_help_with_an_example_and_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["keygen", "recipient", "seal", "unseal", "verify", "reseal"] {
        let out = seal_cli(dir.path(), &[cmd, "--help"]);
        assert_ok(&out);
        let help = stdout(&out);
        assert!(help.contains("Example"), "{cmd}: {help}");
        assert!(
            help.contains(&format!("tether-seal {cmd}")),
            "{cmd}: {help}"
        );
        assert!(help.contains("5  scope mismatch"), "{cmd}: {help}");
    }
}

#[test]
fn recipient_from_cluster_reads_what_the_agent_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(tether_tests::apiserver::ApiServer::start())
        .unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    server.write_kubeconfig(&kubeconfig).unwrap();
    let kc = kubeconfig.to_str().unwrap();

    // Nothing published yet: a clear error naming the ConfigMap.
    let missing = seal_cli(
        dir.path(),
        &[
            "recipient",
            "--from-cluster",
            "--kubeconfig",
            kc,
            "--namespace",
            "tether-system",
        ],
    );
    assert_exit(&missing, 1);
    assert!(
        stderr(&missing).contains("tether-system/tether-recipient"),
        "{}",
        stderr(&missing)
    );

    let recipient = keygen(dir.path(), "cluster.agekey");
    for object in [
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tether-system"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "tether-recipient", "namespace": "tether-system"},
            "data": {"recipient": recipient}}),
    ] {
        server.put_object(object).unwrap();
    }
    let out = seal_cli(
        dir.path(),
        &[
            "recipient",
            "--from-cluster",
            "--kubeconfig",
            kc,
            "--namespace",
            "tether-system",
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).trim(), recipient);

    // A file and --from-cluster together is a usage error.
    let both = seal_cli(
        dir.path(),
        &["recipient", "cluster.agekey", "--from-cluster"],
    );
    assert_exit(&both, 2);
    drop(server);
}
