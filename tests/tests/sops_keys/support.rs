//! Helpers of the SOPS key-type tests: running `sops` and `tether-seal` with one kind of key,
//! and the agent's secrets stage with a key ring configured for one kind.

use serde_json::{Value, json};
use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use tether_agent::config::KeysConfig;
use tether_agent::secrets::kms::{KeyAllowConfig, KeyAllowList};
use tether_agent::secrets::{self, AppContext, KeyRing, SecretsContext, StaticCredentials, Stores};
use tether_tests::bins;
use tether_tests::keypeers::{KeyPeers, Kind};
use tether_tests::peers;

const PLAIN: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: shop\nstringData:\n    password: hunter2-kms-test\n    user: shop\n";
pub const SECRET: &str = "hunter2-kms-test";

pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn write_plain(p: &KeyPeers, name: &str) -> std::path::PathBuf {
    let path = p.dir.path().join(name);
    std::fs::write(&path, PLAIN).expect("write the plaintext");
    path
}

/// `sops --encrypt` with all four kinds (KMS with an encryption context).
pub fn sops_encrypt_all(p: &KeyPeers, file: &Path) -> String {
    let out = p
        .command(&peers::sops(), &[Kind::Kms, Kind::Pgp, Kind::Transit])
        .args(["--encrypt", "--encrypted-regex", "^(data|stringData)$"])
        .args(["--age", &p.age_recipient, "--pgp", &p.gpg.fingerprint])
        .args(["--kms", &p.kms_arns[0], "--encryption-context", "app:shop"])
        .args(["--hc-vault-transit", &p.transit_uris[0]])
        .arg(file)
        .output()
        .expect("sops runs");
    ok(&out, "sops --encrypt")
}

pub fn seal(p: &KeyPeers, kinds: &[Kind], args: &[&str]) -> Output {
    p.command(&bins::tether_seal(), kinds)
        .args(args)
        .output()
        .expect("tether-seal runs")
}

/// The agent's key ring for one kind, configured like a deployment would be.
pub fn agent_ring(p: &KeyPeers, kind: Kind) -> KeyRing {
    let mut ring = KeyRing::new();
    let dir = p.dir.path();
    let config: Value = match kind {
        Kind::Age => {
            ring.add_file(&p.age_key_file).expect("age key");
            json!({})
        }
        Kind::Pgp => json!({"pgpFiles": [p.gpg.secret_key_file]}),
        Kind::Kms => {
            let creds = dir.join("aws-credentials");
            std::fs::write(
                &creds,
                "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
            )
            .expect("write credentials");
            json!({"kms": {"aws": {"endpoint": p.moto.endpoint, "credentialsFile": creds}}})
        }
        Kind::Transit => {
            let token = dir.join("bao-token");
            std::fs::write(&token, &p.bao.root_token).expect("write token");
            json!({"kms": {"vault": {"address": p.bao.address, "tokenFile": token}}})
        }
    };
    let config: KeysConfig = serde_json::from_value(config).expect("a keys config");
    ring.set_remote(&config).expect("the remote keys set up");
    ring
}

pub fn shop_app(allow: KeyAllowConfig) -> AppContext {
    AppContext::new("shop", "shop")
        .expect("the default allow-list compiles")
        .with_key_allow_list(KeyAllowList::new(&allow, "shop", "shop").expect("compiles"))
}

pub fn allow_all(p: &KeyPeers) -> KeyAllowConfig {
    KeyAllowConfig {
        aws_kms: vec![p.kms_arns[0].clone()],
        hc_vault: vec![format!("{}/v1/transit/keys/{{namespace}}", p.bao.address)],
        ..Default::default()
    }
}

/// Runs the agent's secrets stage on one SOPS object; the password, or the failure message.
pub async fn agent_decrypt(
    ring: KeyRing,
    app: &AppContext,
    object: Value,
) -> Result<String, String> {
    let ctx = SecretsContext {
        keys: Arc::new(ring),
        stores: Arc::new(Stores::new(Arc::new(StaticCredentials::new()))),
    };
    let out = secrets::resolve(app, vec![object], &ctx).await;
    if !out.failures.is_empty() {
        return Err(out.message());
    }
    let secret = out
        .desired
        .iter()
        .find_map(|d| match d {
            secrets::Desired::Secret(s) => Some(s.to_apply_json()),
            _ => None,
        })
        .ok_or("no Secret in the output")?;
    let json: Value = serde_json::from_str(&secret).map_err(|e| e.to_string())?;
    Ok(json["stringData"]["password"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            use base64::Engine as _;
            json["data"]["password"].as_str().and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .ok()
                    .map(|v| String::from_utf8_lossy(&v).into_owned())
            })
        })
        .unwrap_or_default())
}

pub fn to_json(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).expect("the encrypted file is YAML")
}
