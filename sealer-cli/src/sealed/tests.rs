//! Unit and property tests of sealing, unsealing, merging and re-sealing.

use super::*;
use crate::keys::Identity;
use proptest::prelude::*;

fn secret(ns: &str, name: &str, values: &[(&str, &[u8])]) -> UnsealedSecret {
    let mut s = UnsealedSecret::new(name).with_namespace(ns);
    for (k, v) in values {
        s.insert(*k, Zeroizing::new(v.to_vec()));
    }
    s
}

fn value_of(s: &UnsealedSecret, key: &str) -> Vec<u8> {
    s.data.get(key).map(|v| v.to_vec()).unwrap_or_default()
}

fn sealed_db(scope: Scope) -> (Identity, SealedSecret) {
    let id = Identity::generate();
    let s = secret("shop", "db", &[("password", b"hunter2"), ("user", b"app")]);
    let sealed = seal(&s, &[id.recipient()], scope).unwrap();
    (id, sealed)
}

#[test]
fn seal_then_unseal_returns_values_and_template() {
    let id = Identity::generate();
    let mut s =
        secret("shop", "db", &[("password", b"hunter2")]).with_type("kubernetes.io/basic-auth");
    s.labels.insert("app".into(), "db".into());
    s.immutable = Some(true);
    let sealed = seal(&s, &[id.recipient()], Scope::Strict).unwrap();
    assert_eq!(
        sealed.spec.template.type_.as_deref(),
        Some("kubernetes.io/basic-auth")
    );
    assert_eq!(sealed.spec.template.metadata.labels["app"], "db");
    let opened = unseal(&sealed, &[id], "shop", "db").unwrap();
    assert_eq!(value_of(&opened, "password"), b"hunter2");
    let json = opened.expose_secret_json();
    assert_eq!(json["type"], "kubernetes.io/basic-auth");
    assert_eq!(json["immutable"], true);
    assert_eq!(json["metadata"]["namespace"], "shop");
    assert_eq!(json["data"]["password"], "aHVudGVyMg==");
}

#[test]
fn fail_wrong_scope_value_moved_to_another_namespace() {
    let (id, sealed) = sealed_db(Scope::Strict);
    let err = unseal(&sealed, &[id], "other", "db").err().unwrap();
    match err {
        Error::ScopeMismatch {
            key,
            expected,
            found,
            ..
        } => {
            assert_eq!(key, "password");
            assert!(expected.contains("\"other/db\""), "{expected}");
            assert!(found.contains("\"shop/db\""), "{found}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn fail_wrong_name_value_moved_to_another_object() {
    let (id, sealed) = sealed_db(Scope::Strict);
    let err = unseal(&sealed, &[id], "shop", "cache").err().unwrap();
    assert!(matches!(err, Error::ScopeMismatch { .. }), "{err}");
}

#[test]
fn fail_wrong_key_value_renamed_inside_the_object() {
    let (id, mut sealed) = sealed_db(Scope::Cluster);
    let moved = sealed.spec.encrypted_data.remove("password").unwrap();
    sealed.spec.encrypted_data.insert("token".into(), moved);
    let err = unseal(&sealed, &[id], "", "db").err().unwrap();
    match err {
        Error::ScopeMismatch { key, found, .. } => {
            assert_eq!(key, "token");
            assert!(found.contains("key \"password\""), "{found}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn namespace_scope_allows_any_name_in_the_namespace_only() {
    let (id, sealed) = sealed_db(Scope::Namespace);
    assert!(unseal(&sealed, &[id], "shop", "renamed").is_ok());
    let (id, sealed) = sealed_db(Scope::Namespace);
    assert!(matches!(
        unseal(&sealed, &[id], "other", "db"),
        Err(Error::ScopeMismatch { .. })
    ));
}

#[test]
fn cluster_scope_allows_any_namespace_and_name() {
    let (id, sealed) = sealed_db(Scope::Cluster);
    let opened = unseal(&sealed, &[id], "elsewhere", "x").unwrap();
    assert_eq!(value_of(&opened, "user"), b"app");
}

#[test]
fn fail_strict_scope_without_namespace() {
    let id = Identity::generate();
    let s = {
        let mut s = UnsealedSecret::new("db");
        s.insert("k", Zeroizing::new(b"v".to_vec()));
        s
    };
    let err = seal(&s, &[id.recipient()], Scope::Strict).err().unwrap();
    assert!(
        err.to_string().contains("metadata.namespace is required"),
        "{err}"
    );
    assert!(seal(&s, &[id.recipient()], Scope::Cluster).is_ok());
}

#[test]
fn fail_unseal_with_a_foreign_identity() {
    let (_id, sealed) = sealed_db(Scope::Strict);
    let err = unseal(&sealed, &[Identity::generate()], "shop", "db")
        .err()
        .unwrap();
    assert!(matches!(err, Error::NoMatchingIdentity { .. }), "{err}");
}

#[test]
fn fail_garbage_values_are_malformed_not_panics() {
    let (id, mut sealed) = sealed_db(Scope::Strict);
    let cases = [
        "!!!",
        "",
        "YWdl",
        "YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOQ==",
    ];
    for case in cases {
        sealed
            .spec
            .encrypted_data
            .insert("password".into(), case.into());
        let err = unseal(&sealed, std::slice::from_ref(&id), "shop", "db")
            .err()
            .unwrap();
        assert!(matches!(err, Error::MalformedValue { .. }), "{case}: {err}");
    }
}

#[test]
fn fail_an_age_file_that_is_not_an_envelope() {
    let id = Identity::generate();
    let recipient: age::x25519::Recipient = id.recipient().to_string().parse().unwrap();
    let raw = age::encrypt(&recipient, b"just a value").unwrap();
    let (_, mut sealed) = sealed_db(Scope::Strict);
    sealed
        .spec
        .encrypted_data
        .insert("password".into(), STANDARD.encode(raw));
    let err = unseal(&sealed, &[id], "shop", "db").err().unwrap();
    assert!(
        matches!(
            err,
            Error::Envelope {
                source: EnvelopeError::BadMagic,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn errors_never_carry_the_plaintext() {
    let (id, sealed) = sealed_db(Scope::Strict);
    for err in [
        unseal(&sealed, std::slice::from_ref(&id), "other", "db")
            .err()
            .unwrap(),
        unseal(&sealed, &[Identity::generate()], "shop", "db")
            .err()
            .unwrap(),
    ] {
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}

#[test]
fn verify_reports_key_names_only() {
    let (id, mut sealed) = sealed_db(Scope::Strict);
    let moved = sealed.spec.encrypted_data["user"].clone();
    sealed.spec.encrypted_data.insert("login".into(), moved);
    let report = verify(&sealed, &[id], "shop", "db").unwrap();
    assert_eq!(report.ok, vec!["password".to_string(), "user".to_string()]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, "login");
    assert!(!report.is_ok());
}

#[test]
fn merge_into_adds_a_key_and_keeps_other_ciphertexts() {
    let (id, mut target) = sealed_db(Scope::Strict);
    let before = target.spec.encrypted_data.clone();
    let update = seal(
        &secret("shop", "db", &[("token", b"t0k")]),
        &[id.recipient()],
        Scope::Strict,
    )
    .unwrap();
    let merged = merge_into(&mut target, &update).unwrap();
    assert_eq!(merged, vec!["token".to_string()]);
    for (k, v) in &before {
        assert_eq!(&target.spec.encrypted_data[k], v);
    }
    let opened = unseal(&target, &[id], "shop", "db").unwrap();
    assert_eq!(value_of(&opened, "token"), b"t0k");
}

#[test]
fn fail_merge_of_a_key_sealed_for_another_scope() {
    let (id, mut target) = sealed_db(Scope::Strict);
    let other_object = seal(
        &secret("shop", "cache", &[("token", b"x")]),
        &[id.recipient()],
        Scope::Strict,
    )
    .unwrap();
    assert!(matches!(
        merge_into(&mut target, &other_object),
        Err(Error::ScopeMismatch { .. })
    ));
    let cluster = seal(
        &secret("shop", "db", &[("token", b"x")]),
        &[id.recipient()],
        Scope::Cluster,
    )
    .unwrap();
    assert!(matches!(
        merge_into(&mut target, &cluster),
        Err(Error::ScopeMismatch { .. })
    ));
    assert!(!target.spec.encrypted_data.contains_key("token"));
}

#[test]
fn reseal_keeps_the_verified_scope_not_the_declared_one() {
    // CVE-2026-22728: the scope of a re-encrypted object must not come from the input.
    let (old, mut sealed) = sealed_db(Scope::Strict);
    sealed.spec.scope = Scope::Cluster;
    sealed.spec.template.metadata.annotations.insert(
        "sealedsecrets.bitnami.com/cluster-wide".into(),
        "true".into(),
    );
    let new = Identity::generate();
    let resealed = reseal(&sealed, &[old], &[new.recipient()]).unwrap();
    assert_eq!(resealed.spec.scope, Scope::Strict);
    assert!(matches!(
        unseal(&resealed, std::slice::from_ref(&new), "other", "db"),
        Err(Error::ScopeMismatch { .. })
    ));
    let opened = unseal(&resealed, &[new], "shop", "db").unwrap();
    assert_eq!(value_of(&opened, "password"), b"hunter2");
}

#[test]
fn fail_reseal_of_an_object_moved_elsewhere() {
    let (old, mut sealed) = sealed_db(Scope::Strict);
    sealed.metadata.namespace = Some("attacker".into());
    let err = reseal(&sealed, &[old], &[Identity::generate().recipient()])
        .err()
        .unwrap();
    assert!(matches!(err, Error::ScopeMismatch { .. }), "{err}");
}

#[test]
fn manifest_reading_strips_server_fields_and_merges_string_data() {
    let text = include_str!("testdata/secret-from-kubectl.yaml");
    let s = UnsealedSecret::from_manifest(text, "secret.yaml").unwrap();
    assert_eq!(s.name(), Some("db"));
    assert_eq!(s.namespace(), Some("shop"));
    assert!(
        !s.annotations()
            .contains_key(secret::LAST_APPLIED_ANNOTATION)
    );
    assert_eq!(s.annotations()["team"], "payments");
    assert_eq!(value_of(&s, "user"), b"admin");
    // stringData wins over data on the same key.
    assert_eq!(value_of(&s, "password"), b"from-string-data");
    let id = Identity::generate();
    let sealed = seal(&s, &[id.recipient()], Scope::Strict).unwrap();
    let yaml = sealed.to_yaml().unwrap();
    for field in [
        "last-applied",
        "managedFields",
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "generation",
        "selfLink",
        "status",
    ] {
        assert!(!yaml.contains(field), "{field} in {yaml}");
    }
    let back = SealedSecret::from_text(&yaml, "out.yaml").unwrap();
    assert_eq!(back, sealed);
}

#[test]
fn fail_manifest_with_non_string_value_names_the_key_not_the_value() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  port: 543219\n";
    let err = UnsealedSecret::from_manifest(text, "s.yaml").err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("stringData.port"), "{msg}");
    assert!(!msg.contains("543219"), "{msg}");
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: hunter2hunter2\n";
    let msg = UnsealedSecret::from_manifest(text, "s.yaml")
        .err()
        .unwrap()
        .to_string();
    assert!(!msg.contains("hunter2"), "{msg}");
    let text = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata:\n  k: 'hunter2!!'\n";
    let msg = UnsealedSecret::from_manifest(text, "s.yaml")
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("data.k is not valid base64"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn fail_manifest_of_another_kind() {
    let text = r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}"#;
    let err = UnsealedSecret::from_manifest(text, "cm.json")
        .err()
        .unwrap();
    assert!(err.to_string().contains("kind must be Secret"), "{err}");
}

fn scope_strategy() -> impl Strategy<Value = Scope> {
    prop_oneof![
        Just(Scope::Strict),
        Just(Scope::Namespace),
        Just(Scope::Cluster)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn seal_unseal_round_trips_generated_secrets(
        ns in "[a-z][a-z0-9-]{0,10}[a-z0-9]",
        name in "[a-z][a-z0-9.-]{0,20}[a-z0-9]",
        values in proptest::collection::btree_map("[-._a-zA-Z0-9]{1,30}", proptest::collection::vec(any::<u8>(), 0..300), 0..6),
        scope in scope_strategy(),
        n_recipients in 1usize..=3,
        opener in 0usize..3,
    ) {
        prop_assume!(!name.contains("..") && !name.contains(".-") && !name.contains("-."));
        let identities: Vec<Identity> = (0..n_recipients).map(|_| Identity::generate()).collect();
        let recipients: Vec<_> = identities.iter().map(Identity::recipient).collect();
        let mut s = UnsealedSecret::new(name.clone()).with_namespace(ns.clone());
        for (k, v) in &values {
            s.insert(k.clone(), Zeroizing::new(v.clone()));
        }
        let sealed = seal(&s, &recipients, scope).unwrap();
        prop_assert_eq!(sealed.spec.encrypted_data.len(), values.len());
        let text = sealed.to_yaml().unwrap();
        let sealed = SealedSecret::from_text(&text, "gen.yaml").unwrap();
        let one = identities.into_iter().nth(opener % n_recipients).unwrap();
        let opened = unseal(&sealed, std::slice::from_ref(&one), &ns, &name).unwrap();
        for (k, v) in &values {
            prop_assert_eq!(&value_of(&opened, k), v);
        }
        let elsewhere = unseal(&sealed, std::slice::from_ref(&one), &format!("{ns}x"), &name);
        if scope == Scope::Cluster || values.is_empty() {
            prop_assert!(elsewhere.is_ok());
        } else {
            let is_mismatch = matches!(elsewhere, Err(Error::ScopeMismatch { .. }));
            prop_assert!(is_mismatch);
        }
    }
}

#[test]
fn fail_a_misshaped_field_is_named_in_the_error() {
    let base = "apiVersion: tether.dev/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n  namespace: shop\n";
    for (spec, field) in [
        ("spec:\n  encryptedData: [a, b]\n", "spec.encryptedData"),
        (
            "spec:\n  scope: everywhere\n  encryptedData: {}\n",
            "spec.scope",
        ),
        (
            "spec:\n  encryptedData:\n    password: {nested: 12345}\n",
            "spec.encryptedData.password",
        ),
        (
            "spec:\n  encryptedData: {}\n  template: {immutable: maybe}\n",
            "spec.template.immutable",
        ),
    ] {
        let err = SealedSecret::from_text(&format!("{base}{spec}"), "sealed.yaml")
            .expect_err("a misshaped field is refused");
        let message = err.to_string();
        assert!(matches!(err, Error::InvalidField { .. }), "{message}");
        assert!(message.starts_with("shop/db: "), "{message}");
        assert!(message.contains(field), "{field} not named: {message}");
        assert!(!message.contains("12345"), "the value is echoed: {message}");
    }
}
