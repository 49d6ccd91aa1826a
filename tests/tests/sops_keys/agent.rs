//! The agent with remote keys: Kubernetes auth to OpenBao for Transit, and the
//! `tether-agent` binary planning from a config with KMS and Transit credentials.

use serde_json::json;
use std::path::Path;
use std::process::Command;
use tether_agent::config::KeysConfig;
use tether_agent::secrets::KeyRing;
use tether_tests::bins;
use tether_tests::keypeers::{KeyPeers, Kind};
use tether_tests::peers;

use super::support::{
    SECRET, agent_decrypt, allow_all, ok, shop_app, sops_encrypt_all, stderr, to_json, write_plain,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_logs_in_to_openbao_with_kubernetes_auth_for_transit() {
    let p = KeyPeers::start().expect("the key peers start");
    let api = tether_tests::apiserver::ApiServer::start()
        .await
        .expect("the API server emulation starts");
    let pem = peers::workspace_root().join("tests/fixtures/secrets/any-ca.pem");
    p.bao(&["auth", "enable", "kubernetes"], None)
        .expect("enable");
    p.bao(
        &[
            "write",
            "auth/kubernetes/config",
            &format!("kubernetes_host={}", api.url()),
            &format!("kubernetes_ca_cert=@{}", pem.display()),
            "disable_local_ca_jwt=true",
        ],
        None,
    )
    .expect("configure");
    p.bao(
        &["policy", "write", "sops-shop", "-"],
        Some("path \"transit/decrypt/shop\" { capabilities = [\"update\"] }\n"),
    )
    .expect("policy");
    p.bao(
        &[
            "write",
            "auth/kubernetes/role/tether",
            "bound_service_account_names=tether",
            "bound_service_account_namespaces=tether-system",
            "token_policies=sops-shop",
            "token_ttl=1h",
        ],
        None,
    )
    .expect("role");
    let plain = write_plain(&p, "secret.yaml");
    let object = to_json(&sops_encrypt_all(&p, &plain));
    let token = p.dir.path().join("sa-token");
    std::fs::write(
        &token,
        api.issue_service_account_token("tether-system", "tether"),
    )
    .expect("write the token");
    let ring_with = |token_file: &Path| {
        let mut ring = KeyRing::new();
        let config: KeysConfig = serde_json::from_value(json!({"kms": {"vault": {
            "address": p.bao.address,
            "kubernetes": {"role": "tether", "tokenFile": token_file},
        }}}))
        .expect("config");
        ring.set_remote(&config).expect("set up");
        ring
    };
    let password = agent_decrypt(ring_with(&token), &shop_app(allow_all(&p)), object.clone())
        .await
        .expect("the agent decrypts through Kubernetes auth");
    assert_eq!(password, SECRET);
    // A token the API server never issued is refused at login: the error names the key.
    let forged = p.dir.path().join("forged-token");
    std::fs::write(&forged, "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.Zm9yZ2Vk").expect("write");
    let err = agent_decrypt(ring_with(&forged), &shop_app(allow_all(&p)), object)
        .await
        .expect_err("a forged token cannot log in");
    assert!(
        err.contains(&p.transit_uris[0]) && err.contains("auth/kubernetes/login"),
        "{err}"
    );
}

#[test]
fn the_agent_binary_plans_kms_and_transit_secrets_from_its_config_and_refuses_keys_not_allowed() {
    let p = KeyPeers::start().expect("the key peers start");
    // The repository (and config) folder, apart from the GnuPG home and its sockets.
    let repo = p.dir.path().join("repo");
    let dir = repo.as_path();
    for app in ["shop", "bank"] {
        std::fs::create_dir_all(dir.join("apps").join(app)).expect("mkdir");
    }
    let plain = write_plain(&p, "plain.yaml");
    let encrypt = |flags: &[&str], out: &str| {
        let o = p
            .command(&peers::sops(), &[Kind::Kms, Kind::Transit])
            .args(["--encrypt", "--encrypted-regex", "^(data|stringData)$"])
            .args(flags)
            .arg(&plain)
            .output()
            .expect("sops runs");
        std::fs::write(dir.join(out), ok(&o, "sops --encrypt")).expect("write");
    };
    // shop: a KMS key it may use; bank: the `shop` Transit key, which it may not.
    encrypt(&["--kms", &p.kms_arns[0]], "apps/shop/secret.yaml");
    encrypt(
        &["--hc-vault-transit", &p.transit_uris[0]],
        "apps/bank/secret.yaml",
    );
    std::fs::write(
        dir.join("aws-credentials"),
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n",
    )
    .expect("write");
    std::fs::write(dir.join("bao-token"), &p.bao.root_token).expect("write");
    let config = format!(
        "namespace: tether-system\nsources:\n  - {{name: repo, url: \"file:///nonexistent\"}}\napps:\n  - directories: [{{path: \"apps/*\"}}]\n    name: \"{{{{path.basename}}}}\"\n    namespace: \"{{{{path.basename}}}}\"\n    keyAllow:\n      awsKms: [\"{}\"]\n      hcVault: [\"{}/v1/transit/keys/{{namespace}}-*\"]\nkeys:\n  kms:\n    aws: {{endpoint: \"{}\", credentialsFile: aws-credentials}}\n    vault: {{address: \"{}\", tokenFile: bao-token}}\n",
        p.kms_arns[0], p.bao.address, p.moto.endpoint, p.bao.address
    );
    std::fs::write(dir.join("tether.yaml"), config).expect("write the config");
    let out = Command::new(bins::tether_agent())
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .args(["plan", "--config", "tether.yaml", "--offline"])
        .current_dir(dir)
        .output()
        .expect("tether-agent runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", stderr(&out));
    assert!(
        stdout.contains("Secret shop/db (sops):") && stdout.contains("+ create Secret shop/db"),
        "{stdout}"
    );
    assert!(
        stdout.contains("secret failed: DecryptFailed: Secret shop/db")
            && stdout.contains(&format!(
                "the app may not use hc_vault key {}",
                p.transit_uris[0]
            )),
        "{stdout}"
    );
    assert!(!stdout.contains(SECRET) && !stderr(&out).contains(SECRET));
}
