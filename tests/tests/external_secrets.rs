//! External Secrets parity (ESO 0.10+) against real peers: `dataFrom.find` by name and by
//! tags (OpenBao KV v2 custom metadata; AWS Secrets Manager tags through moto), `rewrite`
//! (regexp and transform), `target.template` with `templateFrom` ConfigMap / Secret / literal
//! sources in both `templateAs` modes and both merge policies, `refreshInterval` per
//! ExternalSecret, the allow-list limiting what a find lists and reads, and bad inputs named
//! by field. Every test searches its errors and redacted output for every plaintext. One
//! OpenBao and one moto are started, each by the one test that uses it, and stopped by PID.

#[path = "external_secrets/bad_inputs.rs"]
mod bad_inputs;
#[allow(dead_code)]
#[path = "secrets_stage/manifests.rs"]
mod manifests;
#[allow(dead_code)]
#[path = "secrets_stage/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use manifests::{context, external, remote, shop, text, value, vault_store};
use serde_json::{Value, json};
use support::{Bao, LogBuffer, ROOT_TOKEN, moto_client};
use tether_agent::secrets::{
    self, AllowList, AllowListConfig, KeyRing, KubeCredentials, Resolution, SecretsContext,
    StaticCredentials, Stores,
};
use tether_tests::apiserver::ApiServer;
use tether_tests::peers::{self, Moto};
use zeroize::Zeroizing;

/// Every plaintext the tests put in a store or a Secret.
const PLAINTEXTS: &[&str] = &[
    "pw-db-1",
    "api-key-1",
    "redis-pass-1",
    "bank-secret-1",
    "cfg-pass-9",
    "rot-value-1",
    "rot-value-2",
    "aws-one-1",
    "aws-two-1",
    "aws-bank-1",
    "aws-other-1",
    "decoded-secret",
    "tpl-secret-text",
];

/// Fails when a plaintext (or its base64) appears in an error or the redacted output.
fn assert_no_plaintext(out: &Resolution) {
    let mut seen = out.message();
    for d in &out.desired {
        seen.push_str(&d.redacted().to_string());
    }
    for f in &out.failures {
        seen.push_str(&format!("{:?}", f.error));
    }
    assert_no_plaintext_in(&seen);
}

fn assert_no_plaintext_in(seen: &str) {
    use base64::Engine as _;
    for p in PLAINTEXTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(p);
        assert!(!seen.contains(p), "plaintext {p:?} in {seen}");
        assert!(!seen.contains(&b64), "base64 of {p:?} in {seen}");
    }
}

fn keys(out: &Resolution, name: &str) -> Vec<String> {
    out.desired
        .iter()
        .find_map(|d| match d {
            secrets::Desired::Secret(s) if s.name() == name => {
                Some(s.keys().map(str::to_owned).collect())
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("Secret {name} missing; failures: {}", out.message()))
}

fn failure<'a>(out: &'a Resolution, object: &str) -> &'a secrets::ObjectFailure {
    out.failures
        .iter()
        .find(|f| f.object == object)
        .unwrap_or_else(|| panic!("no failure of {object}; failures: {}", out.message()))
}

fn bao_context(bao: &Bao, creds: StaticCredentials) -> (SecretsContext, Value) {
    creds.set_secret(
        "shop",
        "vault-token",
        "token",
        Zeroizing::new(ROOT_TOKEN.as_bytes().to_vec()),
    );
    let store = vault_store(
        "vault",
        &bao.address,
        "secret",
        "v2",
        json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}}),
    );
    (context(KeyRing::new(), Stores::new(Arc::new(creds))), store)
}

fn seed_bao(bao: &Bao) {
    bao.put_v2("shop/app/db-password", &json!({"password": "pw-db-1"}));
    bao.put_v2("shop/app/api-key", &json!({"key": "api-key-1"}));
    bao.put_v2(
        "shop/app/nested/cache",
        &json!({"url": "redis://:redis-pass-1@cache"}),
    );
    bao.put_v2("bank/db", &json!({"password": "bank-secret-1"}));
    bao.put_v2("data/app/x", &json!({"v": "d"}));
    bao.put_v2(
        "shop/config",
        &json!({"user": "admin", "pass": "cfg-pass-9", "cfg": "{\"host\":\"db.shop\"}"}),
    );
    for (path, env) in [
        ("shop/app/db-password", "prod"),
        ("shop/app/api-key", "dev"),
        ("shop/app/nested/cache", "prod"),
        ("bank/db", "prod"),
    ] {
        bao.cli(
            &[
                "kv",
                "metadata",
                "put",
                "-mount=secret",
                &format!("-custom-metadata=env={env}"),
                path,
            ],
            None,
        );
    }
}

#[path = "external_secrets/aws.rs"]
mod aws;
#[path = "external_secrets/openbao.rs"]
mod openbao;
