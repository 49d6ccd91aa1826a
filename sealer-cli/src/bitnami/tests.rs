//! Unit tests of the format with the test keys in `testdata/` (RSA 2048, made by openssl).

use super::*;
use crate::sealed::UnsealedSecret;
use serde_json::{Value, json};
use zeroize::Zeroizing;

const KEY_A: &str = include_str!("testdata/key-a.pkcs1.pem");
const KEY_A_PKCS8: &str = include_str!("testdata/key-a.pem");
const CERT_A: &str = include_str!("testdata/cert-a.pem");
const KEY_B: &str = include_str!("testdata/key-b.pem");
const CERT_B: &str = include_str!("testdata/cert-b.pem");

fn keys(texts: &[(&str, &str)]) -> Vec<PrivateKey> {
    texts
        .iter()
        .flat_map(|(text, name)| PrivateKey::from_pem(text, name).unwrap())
        .collect()
}

fn secret(namespace: &str, name: &str) -> UnsealedSecret {
    let mut s = UnsealedSecret::new(name).with_namespace(namespace);
    s.insert("password", Zeroizing::new(b"s3cret-pw".to_vec()));
    s.insert("user", Zeroizing::new(b"app".to_vec()));
    s.labels.insert("app".into(), "db".into());
    s
}

fn sealed(scope: Option<Scope>) -> Value {
    let cert = PublicKey::from_pem(CERT_A, "cert-a.pem").unwrap();
    seal_secret(&secret("shop", "db"), &cert, scope).unwrap()
}

fn open(manifest: &Value, keys: &[PrivateKey], namespace: &str) -> Result<UnsealedBitnami> {
    unseal(
        &BitnamiSealedSecret::from_value(manifest, namespace)?,
        keys,
        namespace,
    )
}

fn value(u: &UnsealedBitnami, key: &str) -> String {
    String::from_utf8(u.expose_data()[key].to_vec()).unwrap()
}

#[test]
fn a_sealed_secret_round_trips_with_its_template() {
    let manifest = sealed(None);
    assert_eq!(manifest["apiVersion"], API_VERSION);
    assert_eq!(
        manifest["spec"]["template"]["metadata"]["labels"]["app"],
        "db"
    );
    let opened = open(&manifest, &keys(&[(KEY_A, "a")]), "shop").unwrap();
    assert_eq!(value(&opened, "password"), "s3cret-pw");
    assert_eq!(opened.scope, Scope::Strict);
    assert_eq!(opened.labels["app"], "db");
    assert_eq!(opened.opened_with["user"], "a");
}

#[test]
fn the_layout_is_length_prefixed_rsa_then_aes_gcm() {
    let cert = PublicKey::from_pem(CERT_A, "c").unwrap();
    let raw = seal_raw(&cert, b"abc", Scope::Strict, "shop", "db").unwrap();
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, raw).unwrap();
    assert_eq!(
        u16::from_be_bytes([bytes[0], bytes[1]]),
        256,
        "RSA 2048 ciphertext"
    );
    assert_eq!(bytes.len(), 2 + 256 + 3 + 16, "value plus the GCM tag");
}

#[test]
fn pkcs1_and_pkcs8_keys_and_an_older_key_all_open() {
    let manifest = sealed(None);
    for ring in [
        keys(&[(KEY_A_PKCS8, "a8")]),
        keys(&[(KEY_B, "newer"), (KEY_A, "older")]),
    ] {
        let opened = open(&manifest, &ring, "shop").unwrap();
        assert_eq!(value(&opened, "user"), "app");
    }
    let opened = open(
        &manifest,
        &keys(&[(KEY_B, "newer"), (KEY_A, "older")]),
        "shop",
    )
    .unwrap();
    assert_eq!(opened.opened_with["password"], "older");
}

fn assert_refused(result: Result<UnsealedBitnami>, field: &str) -> String {
    let err = match result {
        Ok(_) => panic!("expected a refusal naming {field}"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("SealedSecret"), "{err}");
    assert!(err.contains(field), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    err
}

#[test]
fn fail_wrong_key() {
    let err = assert_refused(
        open(&sealed(None), &keys(&[(KEY_B, "b")]), "shop"),
        "spec.encryptedData.",
    );
    assert!(err.contains("no key could decrypt"), "{err}");
}

#[test]
fn fail_moved_to_another_namespace_or_name() {
    let ring = keys(&[(KEY_A, "a")]);
    let mut moved = sealed(None);
    moved["metadata"]["namespace"] = "other".into();
    assert_refused(open(&moved, &ring, "other"), "spec.encryptedData.password");
    let mut renamed = sealed(None);
    renamed["metadata"]["name"] = "db2".into();
    assert_refused(open(&renamed, &ring, "shop"), "spec.encryptedData.password");
    // Without a namespace in Git, the app's namespace is the one checked.
    let mut bare = sealed(None);
    bare["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    assert!(open(&bare, &ring, "shop").is_ok());
    assert_refused(
        open(&bare, &ring, "elsewhere"),
        "spec.encryptedData.password",
    );
}

#[test]
fn namespace_wide_and_cluster_wide_values_move_as_far_as_their_scope() {
    let ring = keys(&[(KEY_A, "a")]);
    let mut ns = sealed(Some(Scope::NamespaceWide));
    assert_eq!(
        ns["metadata"]["annotations"][NAMESPACE_WIDE_ANNOTATION],
        "true"
    );
    ns["metadata"]["name"] = "renamed".into();
    assert!(open(&ns, &ring, "shop").is_ok());
    ns["metadata"]["namespace"] = "other".into();
    assert_refused(open(&ns, &ring, "other"), "spec.encryptedData.");
    let mut cluster = sealed(Some(Scope::ClusterWide));
    cluster["metadata"]["namespace"] = "anywhere".into();
    cluster["metadata"]["name"] = "x".into();
    assert!(open(&cluster, &ring, "anywhere").is_ok());
}

#[test]
fn fail_wrong_scope_a_strict_value_under_a_widened_annotation() {
    let ring = keys(&[(KEY_A, "a")]);
    for annotation in [CLUSTER_WIDE_ANNOTATION, NAMESPACE_WIDE_ANNOTATION] {
        let mut widened = sealed(None);
        widened["metadata"]["annotations"] = json!({annotation: "true"});
        assert_refused(open(&widened, &ring, "shop"), "spec.encryptedData.");
    }
}

#[test]
fn fail_swapped_and_truncated_ciphertexts() {
    let ring = keys(&[(KEY_A, "a")]);
    let cert = PublicKey::from_pem(CERT_A, "c").unwrap();
    let other = seal_secret(&secret("shop", "web"), &cert, None).unwrap();
    // A value of another object in the same namespace.
    let mut swapped = sealed(None);
    swapped["spec"]["encryptedData"]["password"] =
        other["spec"]["encryptedData"]["password"].clone();
    assert_refused(open(&swapped, &ring, "shop"), "spec.encryptedData.password");
    // The RSA part of one value with the AES part of another.
    let manifest = sealed(None);
    let decode = |k: &str| {
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            manifest["spec"]["encryptedData"][k].as_str().unwrap(),
        )
        .unwrap()
    };
    let (pw, user) = (decode("password"), decode("user"));
    let mut spliced = pw[..258].to_vec();
    spliced.extend_from_slice(&user[258..]);
    let mut mixed = manifest.clone();
    mixed["spec"]["encryptedData"]["password"] =
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spliced).into();
    let err = assert_refused(open(&mixed, &ring, "shop"), "spec.encryptedData.password");
    assert!(err.contains("authenticate"), "{err}");
    for cut in [1, 100, 259, pw.len() - 1] {
        let mut truncated = manifest.clone();
        truncated["spec"]["encryptedData"]["password"] =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &pw[..cut]).into();
        assert_refused(
            open(&truncated, &ring, "shop"),
            "spec.encryptedData.password",
        );
    }
    let mut not_b64 = manifest;
    not_b64["spec"]["encryptedData"]["user"] = "%%%".into();
    assert_refused(open(&not_b64, &ring, "shop"), "spec.encryptedData.user");
}

#[test]
fn template_data_renders_over_the_values_and_null_drops_a_key() {
    let mut manifest = sealed(None);
    manifest["spec"]["template"]["data"] = json!({
        "url": "postgres://{{ .user }}:{{ .password }}@db",
        "user": null,
    });
    let opened = open(&manifest, &keys(&[(KEY_A, "a")]), "shop").unwrap();
    assert_eq!(value(&opened, "url"), "postgres://app:s3cret-pw@db");
    assert!(!opened.expose_data().contains_key("user"));
    manifest["spec"]["template"]["data"] = json!({"url": "{{ .nope }}"});
    assert_refused(
        open(&manifest, &keys(&[(KEY_A, "a")]), "shop"),
        "spec.template.data.url",
    );
}

#[test]
fn merge_into_adds_and_replaces_keys_for_the_existing_scope() {
    let cert = PublicKey::from_pem(CERT_A, "c").unwrap();
    let mut existing = sealed(Some(Scope::NamespaceWide));
    let mut update = UnsealedSecret::new("ignored");
    update.insert("token", Zeroizing::new(b"t0ken".to_vec()));
    update.insert("user", Zeroizing::new(b"admin".to_vec()));
    merge_into(&mut existing, &update, &cert).unwrap();
    let opened = open(&existing, &keys(&[(KEY_A, "a")]), "shop").unwrap();
    assert_eq!(value(&opened, "token"), "t0ken");
    assert_eq!(value(&opened, "user"), "admin");
    assert_eq!(value(&opened, "password"), "s3cret-pw");
}

#[test]
fn re_encrypt_moves_values_to_the_new_key_and_keeps_the_scope() {
    let new_cert = PublicKey::from_pem(CERT_B, "b").unwrap();
    let out = re_encrypt(&sealed(None), &keys(&[(KEY_A, "a")]), &new_cert, "shop").unwrap();
    assert!(open(&out, &keys(&[(KEY_A, "a")]), "shop").is_err());
    let opened = open(&out, &keys(&[(KEY_B, "b")]), "shop").unwrap();
    assert_eq!(value(&opened, "password"), "s3cret-pw");
}

/// CVE-2026-22728: the controller's re-encryption took the output scope from the template's
/// annotations, so a caller could widen a strict value to cluster-wide and unseal it anywhere.
#[test]
fn cve_2026_22728_re_encrypt_never_widens_the_scope_from_template_annotations() {
    let ring = keys(&[(KEY_A, "a")]);
    let new_cert = PublicKey::from_pem(CERT_B, "b").unwrap();
    let mut attack = sealed(None);
    attack["spec"]["template"]["metadata"]["annotations"] =
        json!({CLUSTER_WIDE_ANNOTATION: "true"});
    let out = re_encrypt(&attack, &ring, &new_cert, "shop").unwrap();
    assert!(
        out["spec"]["template"]["metadata"]["annotations"]
            .get(CLUSTER_WIDE_ANNOTATION)
            .is_none()
    );
    assert!(
        out["metadata"]
            .get("annotations")
            .is_none_or(|a| a.get(CLUSTER_WIDE_ANNOTATION).is_none())
    );
    // Moved elsewhere and marked cluster-wide, the re-encrypted values still do not open.
    let mut moved = out.clone();
    moved["metadata"]["namespace"] = "attacker".into();
    moved["metadata"]["annotations"] = json!({CLUSTER_WIDE_ANNOTATION: "true"});
    assert!(open(&moved, &keys(&[(KEY_B, "b")]), "attacker").is_err());
    // A widened metadata annotation does not even decrypt for re-encryption.
    let mut widened = sealed(None);
    widened["metadata"]["annotations"] = json!({CLUSTER_WIDE_ANNOTATION: "true"});
    assert!(re_encrypt(&widened, &ring, &new_cert, "shop").is_err());
}

#[test]
fn fail_malformed_objects_name_the_field() {
    let ring = keys(&[(KEY_A, "a")]);
    let mut m = sealed(None);
    m["spec"]["encryptedData"]["user"] = json!(5);
    assert_refused(open(&m, &ring, "shop"), "spec.encryptedData.user");
    let mut m = sealed(None);
    m["spec"]["data"] = "AAAA".into();
    assert_refused(open(&m, &ring, "shop"), "spec.data");
    let mut m = sealed(None);
    m["metadata"]["name"] = "".into();
    assert_refused(open(&m, &ring, "shop"), "metadata.name");
    assert!(open(&sealed(None), &[], "shop").is_err());
    assert!(PublicKey::from_pem("nothing", "x").is_err());
    assert!(PrivateKey::from_pem(CERT_A, "cert-as-key").is_err());
}
