//! Builders of the manifests and contexts the secrets stage tests use, and small helpers.

use std::sync::Arc;

use serde_json::{Value, json};
use tether_agent::secrets::{AppContext, Desired, KeyRing, Resolution, SecretsContext, Stores};
use tether_tests::peers;

pub fn context(keys: KeyRing, stores: Stores) -> SecretsContext {
    SecretsContext {
        keys: Arc::new(keys),
        stores: Arc::new(stores),
    }
}

pub fn shop() -> AppContext {
    AppContext::new("shop", "shop").expect("the default allow-list compiles")
}

/// The plaintext of one value of the Secret `name` in the output, from its apply JSON.
pub fn value(out: &Resolution, name: &str, key: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    out.desired.iter().find_map(|d| match d {
        Desired::Secret(s) if s.name() == name => {
            let json: Value = serde_json::from_str(&s.to_apply_json()).expect("apply JSON");
            json["data"][key].as_str().map(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .expect("base64")
            })
        }
        _ => None,
    })
}

pub fn text(out: &Resolution, name: &str, key: &str) -> String {
    let bytes = value(out, name, key).unwrap_or_else(|| {
        panic!(
            "Secret {name} key {key} missing; failures: {}",
            out.message()
        )
    });
    String::from_utf8(bytes).expect("UTF-8")
}

pub fn vault_store(name: &str, server: &str, mount: &str, version: &str, auth: Value) -> Value {
    json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
           "metadata": {"name": name, "namespace": "shop"},
           "spec": {"provider": {"vault": {"server": server, "path": mount, "version": version, "auth": auth}}}})
}

pub fn external(name: &str, store: &str, refresh: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["secretStoreRef"] = json!({"name": store, "kind": "SecretStore"});
    spec["refreshInterval"] = json!(refresh);
    json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
           "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

pub fn remote(secret_key: &str, key: &str, property: Option<&str>, version: Option<&str>) -> Value {
    let mut r = json!({"key": key});
    if let Some(p) = property {
        r["property"] = json!(p);
    }
    if let Some(v) = version {
        r["version"] = json!(v);
    }
    json!({"secretKey": secret_key, "remoteRef": r})
}

pub fn configmap(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "shop"}, "data": {"a": "b"}})
}

/// Encrypts a fixture with the real sops for `recipient`; returns sops's output.
pub fn sops_encrypt(
    fixture: &str,
    recipient: &str,
    regex: Option<&str>,
    dir: &std::path::Path,
) -> String {
    let source = peers::workspace_root()
        .join("tests/fixtures/secrets")
        .join(fixture);
    let copy = dir.join(fixture);
    std::fs::copy(&source, &copy).expect("copy the fixture");
    let mut cmd = peers::sops_command();
    cmd.arg("--encrypt").arg("--age").arg(recipient);
    if let Some(regex) = regex {
        cmd.arg("--encrypted-regex").arg(regex);
    }
    let out = cmd.arg(&copy).output().expect("sops runs");
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

pub fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).expect("YAML")
}

/// Runs the named test alone in a child process of this test binary, so that no other test
/// shares its process-wide tracing state; returns whether it ran and passed.
pub fn run_alone(name: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args(["--exact", name, "--test-threads=1", "--nocapture"])
        .env(ALONE, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} alone: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Set in the child process of [`run_alone`].
pub const ALONE: &str = "TETHER_SECRETS_TEST_ALONE";
