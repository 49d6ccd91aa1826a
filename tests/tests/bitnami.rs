//! Bitnami SealedSecrets (`bitnami.com/v1alpha1`) against independent implementations of the
//! format: PyPI `kubesealpy` seals and unseals, npm `@linode/kubeseal-encrypt` seals. Values
//! they seal unseal in Tether (the `tether-seal kubeseal` binary and the agent's secrets
//! stage), values Tether seals unseal in kubesealpy; wrong key, wrong scope, swapped and
//! truncated values are refused naming the object and the field, with no value in any output.
//! Keys are made per run with openssl: RSA 4096 and a self-signed certificate, as the
//! controller makes them, the private key in the controller's PKCS#1 form.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[allow(dead_code)] // shared with the daemon tests, which use more of it
#[path = "daemon/support.rs"]
mod support;

#[path = "bitnami/daemon.rs"]
mod daemon;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use tether_agent::secrets::bitnami::BitnamiKeys;
use tether_agent::secrets::{self, AppContext, KeyRing, SecretsContext, StaticCredentials, Stores};
use tether_tests::{bins, peers};

/// One controller key: `tls.key` (PKCS#1), `tls.crt`, `pub.pem` (the public key alone).
struct Key {
    dir: PathBuf,
}

impl Key {
    fn key(&self) -> PathBuf {
        self.dir.join("tls.key")
    }
    fn cert(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }
    fn public(&self) -> PathBuf {
        self.dir.join("pub.pem")
    }
}

struct Keys {
    _dir: tempfile::TempDir,
    a: Key,
    b: Key,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two controller keys, made once per test binary.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let make = |name: &str| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            openssl(
                &d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:4096",
                    "-nodes",
                    "-keyout",
                    "pkcs8.key",
                    "-out",
                    "tls.crt",
                    "-days",
                    "3650",
                    "-subj",
                    "/O=sealed-secret/CN=sealed-secret",
                ],
            );
            openssl(
                &d,
                &["rsa", "-in", "pkcs8.key", "-traditional", "-out", "tls.key"],
            );
            openssl(
                &d,
                &[
                    "x509", "-in", "tls.crt", "-pubkey", "-noout", "-out", "pub.pem",
                ],
            );
            Key { dir: d }
        };
        let (a, b) = (make("a"), make("b"));
        Keys { _dir: dir, a, b }
    })
}

fn fixture(name: &str) -> PathBuf {
    peers::workspace_root()
        .join("tests/fixtures/bitnami")
        .join(name)
}

fn python() -> PathBuf {
    peers::peers_bin_dir().join("python")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Seals `values` with kubesealpy; returns the SealedSecret YAML.
fn kubesealpy_seal(
    dir: &Path,
    cert: &Path,
    ns: &str,
    name: &str,
    scope: &str,
    values: &[(&str, &str)],
) -> String {
    let mut cmd = Command::new(python());
    cmd.arg(fixture("kubesealpy_seal.py"))
        .arg(cert)
        .args([ns, name, scope]);
    for (k, v) in values {
        let path = dir.join(format!("value-{k}"));
        std::fs::write(&path, v).unwrap();
        cmd.arg(format!("{k}={}", path.display()));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "kubesealpy seal: {}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Unseals with kubesealpy; the values by key, or the exception's name.
fn kubesealpy_unseal(key: &Path, sealed: &str) -> Result<Vec<(String, String)>, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sealed.yaml");
    std::fs::write(&file, sealed).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = Command::new(python())
        .arg(fixture("kubesealpy_unseal.py"))
        .arg(key)
        .arg(&file)
        .env("OUT_DIR", &out_dir)
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(text(&out));
    }
    let mut values: Vec<(String, String)> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    values.sort();
    Ok(values)
}

/// Runs `tether-seal kubeseal ARGS` with `stdin`.
fn kubeseal(args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(bins::tether_seal())
        .arg("kubeseal")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The Secret `tether-seal kubeseal --recovery-unseal` prints, as JSON.
fn tether_unseal(key: &Path, sealed: &str) -> Result<Value, Output> {
    let out = kubeseal(
        &["--recovery-unseal", "--recovery-private-key", p(key)],
        sealed,
    );
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(out)
    }
}

fn data(secret: &Value, key: &str) -> String {
    use base64::Engine as _;
    let b64 = secret["data"][key].as_str().unwrap();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

/// Resolves `manifest` through the agent's secrets stage with `key`, for the app `shop`.
fn agent_resolve(key: &Key, manifest: Value) -> secrets::Resolution {
    let mut bitnami = BitnamiKeys::new();
    bitnami.add_file(&key.key()).unwrap();
    let mut ring = KeyRing::new();
    ring.set_bitnami(bitnami);
    let ctx = SecretsContext {
        keys: Arc::new(ring),
        stores: Arc::new(Stores::new(Arc::new(StaticCredentials::new()))),
    };
    let app = AppContext::new("shop", "shop").unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(secrets::resolve(&app, vec![manifest], &ctx))
}

fn yaml_to_json(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap()
}

#[test]
fn values_kubesealpy_seals_unseal_in_tether_for_every_scope() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let sealed = kubesealpy_seal(
            dir.path(),
            &k.a.cert(),
            "shop",
            "db",
            scope,
            &[("password", "py-pw-1"), ("user", "app")],
        );
        let secret =
            tether_unseal(&k.a.key(), &sealed).unwrap_or_else(|o| panic!("{scope}: {}", text(&o)));
        assert_eq!(data(&secret, "password"), "py-pw-1", "{scope}");
        assert_eq!(data(&secret, "user"), "app");
        // The agent's secrets stage: the Secret to apply, with the values.
        let resolution = agent_resolve(&k.a, yaml_to_json(&sealed));
        assert!(
            resolution.failures.is_empty(),
            "{scope}: {}",
            resolution.message()
        );
        let secrets::Desired::Secret(s) = &resolution.desired[0] else {
            panic!("a Secret")
        };
        assert_eq!(s.name(), "db");
        assert!(s.to_apply_json().contains("cHktcHctMQ=="), "{scope}");
        assert!(
            !resolution.desired[0]
                .redacted()
                .to_string()
                .contains("py-pw-1")
        );
    }
}

#[test]
fn values_tether_seals_unseal_in_kubesealpy_for_every_scope() {
    let k = keys();
    let secret = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":"shop","labels":{"app":"db"}},"stringData":{"password":"rs-pw-2"},"type":"Opaque"}"#;
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let out = kubeseal(
            &["--cert", p(&k.a.cert()), "--scope", scope, "-o", "yaml"],
            secret,
        );
        assert!(out.status.success(), "{}", text(&out));
        let sealed = String::from_utf8(out.stdout).unwrap();
        assert!(!sealed.contains("rs-pw-2"));
        assert_eq!(
            kubesealpy_unseal(&k.a.key(), &sealed).unwrap(),
            vec![("password".into(), "rs-pw-2".into())],
            "{scope}"
        );
        assert!(
            kubesealpy_unseal(&k.b.key(), &sealed).is_err(),
            "{scope}: another key"
        );
    }
}

#[test]
fn raw_values_from_kubeseal_encrypt_and_tether_unseal_in_each_other() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let value = dir.path().join("value");
    std::fs::write(&value, "npm-pw-3").unwrap();
    let package = peers::peers_bin_dir().join("../lib/node/kubeseal-encrypt");
    let out = Command::new("node")
        .arg(fixture("kubeseal_encrypt.cjs"))
        .args([p(&package), p(&k.a.public()), "shop", p(&value)])
        .output()
        .unwrap();
    assert!(out.status.success(), "kubeseal-encrypt: {}", text(&out));
    let ciphertext = String::from_utf8(out.stdout).unwrap();
    // kubeseal-encrypt seals namespace-wide: usable under any name in its namespace.
    let manifest = json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "any", "namespace": "shop",
                     "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"}},
        "spec": {"encryptedData": {"token": ciphertext.trim()}},
    });
    let secret =
        tether_unseal(&k.a.key(), &manifest.to_string()).unwrap_or_else(|o| panic!("{}", text(&o)));
    assert_eq!(data(&secret, "token"), "npm-pw-3");
    // The same value read as strict is refused: the scope is bound by the label.
    let mut strict = manifest.clone();
    strict["metadata"]["annotations"] = json!({});
    let err = tether_unseal(&k.a.key(), &strict.to_string()).unwrap_err();
    assert!(
        text(&err).contains("spec.encryptedData.token"),
        "{}",
        text(&err)
    );
    // tether-seal --raw, unsealed by kubesealpy.
    let out = kubeseal(
        &[
            "--raw",
            "--cert",
            p(&k.a.cert()),
            "--namespace",
            "shop",
            "--name",
            "db",
            "--from-file",
            p(&value),
        ],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let sealed = json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "db", "namespace": "shop"},
        "spec": {"encryptedData": {"token": String::from_utf8(out.stdout).unwrap()}},
    });
    assert_eq!(
        kubesealpy_unseal(&k.a.key(), &sealed.to_string()).unwrap(),
        vec![("token".into(), "npm-pw-3".into())]
    );
}

/// Runs the refusal: exit code, the object and field named, no value anywhere.
fn assert_refused(out: &Output, field: &str, secret_value: &str) {
    let all = text(out);
    assert!(!out.status.success(), "should be refused: {all}");
    assert!(all.contains("SealedSecret shop/db"), "{all}");
    assert!(all.contains(field), "{all}");
    assert!(!all.contains(secret_value), "a value in the output: {all}");
}

#[test]
fn fail_wrong_key_scope_swap_and_truncation_name_object_and_field_without_a_value() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let sealed = yaml_to_json(&kubesealpy_seal(
        dir.path(),
        &k.a.cert(),
        "shop",
        "db",
        "strict",
        &[("password", "hidden-pw-4"), ("user", "hidden-user-4")],
    ));
    let other = yaml_to_json(&kubesealpy_seal(
        dir.path(),
        &k.a.cert(),
        "shop",
        "web",
        "strict",
        &[("password", "hidden-pw-5")],
    ));
    let unseal = |m: &Value, key: &Key| {
        kubeseal(
            &["--validate", "--recovery-private-key", p(&key.key())],
            &m.to_string(),
        )
    };
    assert!(unseal(&sealed, &k.a).status.success());
    // Wrong key.
    let out = unseal(&sealed, &k.b);
    assert_refused(&out, "spec.encryptedData.", "hidden-pw-4");
    assert_eq!(out.status.code(), Some(4));
    // Wrong scope: the annotation widened to cluster-wide or namespace-wide.
    for annotation in [
        "sealedsecrets.bitnami.com/cluster-wide",
        "sealedsecrets.bitnami.com/namespace-wide",
    ] {
        let mut widened = sealed.clone();
        widened["metadata"]["annotations"] = json!({annotation: "true"});
        assert_refused(
            &unseal(&widened, &k.a),
            "spec.encryptedData.",
            "hidden-pw-4",
        );
    }
    // Swapped: another object's value.
    let mut swapped = sealed.clone();
    swapped["spec"]["encryptedData"]["password"] =
        other["spec"]["encryptedData"]["password"].clone();
    assert_refused(
        &unseal(&swapped, &k.a),
        "spec.encryptedData.password",
        "hidden-pw-5",
    );
    // Truncated.
    let full = sealed["spec"]["encryptedData"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    for cut in [8, 400, full.len() - 8] {
        let mut truncated = sealed.clone();
        let mut part = full[..cut].to_owned();
        while !part.len().is_multiple_of(4) {
            part.pop();
        }
        truncated["spec"]["encryptedData"]["password"] = part.into();
        assert_refused(
            &unseal(&truncated, &k.a),
            "spec.encryptedData.password",
            "hidden-pw-4",
        );
    }
    // Moved to another namespace: the agent refuses it too, by object and field.
    let mut moved = sealed.clone();
    moved["metadata"]["namespace"] = "other".into();
    let resolution = agent_resolve(&k.a, moved);
    let message = resolution.message();
    assert!(
        resolution.desired.is_empty() && message.contains("SealedSecret other/db"),
        "{message}"
    );
    assert!(
        message.contains("spec.encryptedData.") && !message.contains("hidden"),
        "{message}"
    );
}

/// CVE-2026-22728: re-encryption took the new scope from the template's annotations, so a
/// strict value could be widened to cluster-wide and unsealed anywhere.
#[test]
fn cve_2026_22728_re_encrypt_keeps_the_scope_that_decrypted() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let mut sealed = yaml_to_json(&kubesealpy_seal(
        dir.path(),
        &k.a.cert(),
        "shop",
        "db",
        "strict",
        &[("password", "victim-pw-6")],
    ));
    sealed["spec"]["template"]["metadata"]["annotations"] =
        json!({"sealedsecrets.bitnami.com/cluster-wide": "true"});
    let out = kubeseal(
        &[
            "--re-encrypt",
            "--recovery-private-key",
            p(&k.a.key()),
            "--cert",
            p(&k.b.cert()),
        ],
        &sealed.to_string(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let re: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        re["spec"]["template"]["metadata"]["annotations"]
            .get("sealedsecrets.bitnami.com/cluster-wide")
            .is_none(),
        "{re}"
    );
    // kubesealpy opens it with the new key for the strict scope only.
    assert_eq!(
        kubesealpy_unseal(&k.b.key(), &re.to_string()).unwrap(),
        vec![("password".into(), "victim-pw-6".into())]
    );
    let mut moved = re.clone();
    moved["metadata"] = json!({"name": "stolen", "namespace": "attacker", "annotations": {"sealedsecrets.bitnami.com/cluster-wide": "true"}});
    assert!(kubesealpy_unseal(&k.b.key(), &moved.to_string()).is_err());
    let out = kubeseal(
        &["--validate", "--recovery-private-key", p(&k.b.key())],
        &moved.to_string(),
    );
    assert!(
        !out.status.success() && !text(&out).contains("victim"),
        "{}",
        text(&out)
    );
}

#[test]
fn merge_into_adds_a_key_that_kubesealpy_unseals_beside_the_old_ones() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db.yaml");
    std::fs::write(
        &file,
        kubesealpy_seal(
            dir.path(),
            &k.a.cert(),
            "shop",
            "db",
            "strict",
            &[("password", "old-pw-7")],
        ),
    )
    .unwrap();
    let update = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db"},"stringData":{"token":"new-tok-7"}}"#;
    let out = kubeseal(
        &["--cert", p(&k.a.cert()), "--merge-into", p(&file)],
        update,
    );
    assert!(out.status.success(), "{}", text(&out));
    let merged = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        kubesealpy_unseal(&k.a.key(), &merged).unwrap(),
        vec![
            ("password".into(), "old-pw-7".into()),
            ("token".into(), "new-tok-7".into())
        ]
    );
}
