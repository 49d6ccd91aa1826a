//! Failing commands, interoperation with the age CLI, help texts, and the cluster's recipient.

use super::*;

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
