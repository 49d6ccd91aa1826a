//! Tests of encryption, decryption and Kubernetes objects.
use super::*;

fn identity() -> (Identities, String) {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    let mut ids = Identities::new();
    ids.push(id);
    (ids, recipient)
}

#[test]
fn a_kubernetes_object_decrypts_like_flux_does_with_key_order_kept() {
    let (ids, recipient) = identity();
    let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\nstringData:\n    zeta: one\n    alpha: two\n    replicas: 3\n";
    let tree = parse_plain(yaml, Format::Yaml).expect("parses");
    let rule = Rule::from_key("encrypted_regex", "^(data|stringData)$").expect("valid");
    let options = EncryptOptions {
        key_groups: vec![vec![KeyRef::Age(recipient)]],
        shamir_threshold: 0,
        rule,
        mac_only_encrypted: false,
    };
    let enc = encrypt(tree, &options)
        .expect("encrypts")
        .to_bytes(Format::Json)
        .expect("writes");
    let object: serde_json::Value = serde_json::from_slice(&enc).expect("json");
    assert!(object_is_encrypted(&object));
    let plain = decrypt_object(&object, &ids).expect("decrypts");
    assert_eq!(
        serde_json::to_string(&plain).expect("serializes"),
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"zeta":"one","alpha":"two","replicas":3}}"#
    );
}

#[test]
fn fail_errors_name_the_path_and_never_the_value() {
    let (ids, recipient) = identity();
    let tree =
        parse_plain(b"a:\n    secret: hunter2\n    other: x\n", Format::Yaml).expect("parses");
    let options = EncryptOptions {
        key_groups: vec![vec![KeyRef::Age(recipient)]],
        shamir_threshold: 0,
        rule: Rule::default(),
        mac_only_encrypted: false,
    };
    let enc = String::from_utf8(
        encrypt(tree, &options)
            .expect("encrypts")
            .to_bytes(Format::Yaml)
            .expect("writes"),
    )
    .expect("utf8");
    // Move the first ciphertext onto the other key: the AAD no longer matches.
    let values: Vec<&str> = enc
        .lines()
        .filter_map(|l| l.split_once(": ENC[").map(|(_, v)| v))
        .collect();
    let swapped = enc
        .replacen(values[0], "@", 1)
        .replacen(values[1], values[0], 1)
        .replacen('@', values[1], 1);
    let err = decrypt_bytes(swapped.as_bytes(), Format::Yaml, &ids)
        .expect_err("fails")
        .in_file("s.yaml");
    let msg = err.to_string();
    assert!(matches!(err, Error::AuthenticationFailed { .. }), "{msg}");
    assert!(
        msg.contains("s.yaml") && msg.contains("a.secret") && !msg.contains("hunter2"),
        "{msg}"
    );
}

#[test]
fn fail_a_plain_file_is_not_encrypted() {
    assert!(!is_encrypted(b"a: 1\n", Format::Yaml));
    assert!(matches!(
        parse_encrypted(b"a: 1\n", Format::Yaml),
        Err(Error::NotEncrypted { .. })
    ));
}

#[test]
fn metadata_of_every_key_kind_written_by_sops_round_trips_byte_for_byte() {
    for (text, format) in [
        (include_str!("testdata/all-kinds.enc.yaml"), Format::Yaml),
        (include_str!("testdata/all-kinds.enc.json"), Format::Json),
        (include_str!("testdata/shamir-kinds.enc.yaml"), Format::Yaml),
    ] {
        let file = parse_encrypted(text.as_bytes(), format).expect("parses");
        let kinds: Vec<KeyKind> = file
            .metadata
            .key_groups
            .iter()
            .flat_map(|g| g.keys.iter().map(MasterKey::kind))
            .collect();
        for kind in [KeyKind::Age, KeyKind::Pgp, KeyKind::Kms, KeyKind::HcVault] {
            assert!(kinds.contains(&kind), "{kind:?} not read");
        }
        let back = file.to_bytes(format).expect("writes");
        assert_eq!(String::from_utf8_lossy(&back), text);
    }
}

#[test]
fn fail_a_file_no_key_opens_says_which_keys_it_tried() {
    let text = include_str!("testdata/all-kinds.enc.yaml");
    let err = decrypt_bytes(text.as_bytes(), Format::Yaml, &Identities::new())
        .expect_err("no key")
        .in_file("all.yaml")
        .to_string();
    for needle in [
        "all.yaml",
        "age age1",
        "pgp 1BAB",
        "kms arn:aws:kms",
        "hc_vault http",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}
