//! The redaction test: the whole stage at TRACE, with every log line, error and redacted
//! view searched for each plaintext (and its base64).

use std::sync::Arc;

use serde_json::json;
use tether_agent::secrets::{self, KeyRing, StaticCredentials, Stores};
use tether_seal::keys::Identity;
use tether_seal::sealed::{self as seal, Scope, UnsealedSecret};
use tether_tests::peers::Moto;
use zeroize::Zeroizing;

use crate::manifests::{ALONE, context, external, remote, run_alone, shop, text, vault_store};
use crate::support::{Bao, LogBuffer, ROOT_TOKEN, moto_client};

/// A subscriber that records every event at TRACE into the returned buffer.
fn trace_capture() -> (LogBuffer, impl tracing::Subscriber + Send + Sync) {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    (logs, subscriber)
}

#[test]
fn at_trace_level_no_log_line_error_or_redacted_view_holds_a_plaintext() {
    // Tracing's callsite interest is process-wide: another test hitting the same callsites
    // while this one installs its subscriber could hide lines from it. Run alone.
    if std::env::var_os(ALONE).is_none() {
        run_alone("redaction::at_trace_level_no_log_line_error_or_redacted_view_holds_a_plaintext");
        return;
    }
    use base64::Engine as _;
    let (logs, subscriber) = trace_capture();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let plaintexts = [
        "trace-vault-pass-5b2c",
        "trace-aws-pass-77de",
        "trace-sealed-pass-0a9f",
        "trace-plain-pass-c4e1",
        "trace-json-inner-3f3f",
    ];
    let (out, redacted) = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let bao = Bao::start();
            bao.put_v2("shop/db", &json!({"password": plaintexts[0], "nested": {"inner": plaintexts[4]}}));
            let moto = Moto::start().expect("moto starts");
            let sm = moto_client(&moto.endpoint).await;
            sm.create_secret()
                .name("shop/aws")
                .secret_string(json!({"password": plaintexts[1]}).to_string())
                .send()
                .await
                .expect("create");
            let creds = StaticCredentials::new();
            creds.set_secret("shop", "vault-token", "token", Zeroizing::new(ROOT_TOKEN.as_bytes().to_vec()));
            creds.set_secret("shop", "aws", "id", Zeroizing::new(b"testing".to_vec()));
            creds.set_secret("shop", "aws", "secret", Zeroizing::new(b"testing".to_vec()));
            let identity = Identity::generate();
            let mut plain = UnsealedSecret::new("sealed").with_namespace("shop");
            plain.insert("password", Zeroizing::new(plaintexts[2].as_bytes().to_vec()));
            let sealed = seal::seal(&plain, &[identity.recipient()], Scope::Strict).expect("seal");
            let mut keys = KeyRing::new();
            keys.push(identity).expect("a key");
            let ctx = context(keys, Stores::new(Arc::new(creds)));
            let objects = vec![
                vault_store("vault", &bao.address, "secret", "v2", json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}})),
                json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
                       "metadata": {"name": "aws", "namespace": "shop"},
                       "spec": {"provider": {"aws": {"region": "us-east-1", "endpoint": moto.endpoint,
                         "auth": {"secretRef": {"accessKeyIDSecretRef": {"name": "aws", "key": "id"},
                                                "secretAccessKeySecretRef": {"name": "aws", "key": "secret"}}}}}}}),
                external("vault", "vault", "1h", json!({"data": [
                    remote("password", "shop/db", Some("password"), None),
                    remote("nested", "shop/db", Some("nested"), None)]})),
                external("aws", "aws", "1h", json!({"dataFrom": [{"extract": {"key": "shop/aws"}}]})),
                serde_json::from_str(&sealed.to_json().expect("JSON")).expect("JSON"),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain", "namespace": "shop"},
                       "stringData": {"password": plaintexts[3], "bad": 12345}}),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain-ok", "namespace": "shop"},
                       "stringData": {"password": plaintexts[3]}}),
                external("broken", "vault", "1h", json!({"data": [remote("x", "shop/db", Some("password.missing"), None)],
                    "target": {"template": {"data": {"x": "{{ .x | upper }}"}}}})),
            ];
            let out = secrets::resolve(&shop(), objects, &ctx).await;
            let redacted: Vec<String> = out.desired.iter().map(|d| d.redacted().to_string()).collect();
            (out, redacted)
        })
    });
    assert_eq!(out.desired.len(), 4, "{}", out.message());
    let log_text = logs.text();
    assert!(
        log_text.contains("resolved an ExternalSecret"),
        "the capture works"
    );
    assert!(log_text.contains("TRACE"), "trace lines were captured");
    let errors: Vec<String> = out
        .failures
        .iter()
        .flat_map(|f| [f.error.to_string(), format!("{:?}", f.error)])
        .collect();
    assert!(out.failures.len() >= 2, "{}", out.message());
    assert_eq!(out.desired.len(), 4, "{}", out.message());
    // The values are really there (so the searches below search for something real).
    assert_eq!(text(&out, "vault", "password"), plaintexts[0]);
    assert_eq!(text(&out, "aws", "password"), plaintexts[1]);
    assert_eq!(text(&out, "sealed", "password"), plaintexts[2]);
    assert_eq!(text(&out, "plain-ok", "password"), plaintexts[3]);
    assert!(text(&out, "vault", "nested").contains(plaintexts[4]));
    for plaintext in plaintexts {
        let encoded = base64::engine::general_purpose::STANDARD.encode(plaintext);
        for (what, haystack) in [("logs", &log_text), ("message", &out.message())] {
            assert!(
                !haystack.contains(plaintext),
                "{plaintext} appears in the {what}"
            );
            assert!(
                !haystack.contains(&encoded),
                "base64 of {plaintext} appears in the {what}"
            );
        }
        for line in errors.iter().chain(redacted.iter()) {
            assert!(!line.contains(plaintext), "{plaintext} appears in {line}");
            assert!(
                !line.contains(&encoded),
                "base64 of {plaintext} appears in {line}"
            );
        }
    }
    assert!(redacted.iter().any(|r| r.contains("<redacted hmac:")));
}

/// The whole path from encrypted manifests to the cluster, at TRACE: the secrets stage, then
/// a sync by the engine against the API server emulation. The plaintexts must reach the
/// applied Secrets (checked, so the search looks for something real) and nothing else: no
/// log line, no change set or sync result, no inventory, no Event, no other object.
#[test]
fn a_whole_sync_at_trace_level_puts_plaintext_only_into_the_applied_secrets() {
    if std::env::var_os(ALONE).is_none() {
        run_alone(
            "redaction::a_whole_sync_at_trace_level_puts_plaintext_only_into_the_applied_secrets",
        );
        return;
    }
    use base64::Engine as _;
    use tether_agent::secrets::Desired;
    use tether_agent::sync::{AppSpec, Engine, EngineConfig};
    use tether_tests::apiserver::ApiServer;

    let (logs, subscriber) = trace_capture();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let vault_plain = "whole-sync-vault-9d1e";
    let sealed_plain = "whole-sync-sealed-41b7";
    let plaintexts = [vault_plain, sealed_plain];

    let (result, server) = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let bao = Bao::start();
            bao.put_v2("shop/db", &json!({"password": vault_plain}));
            let creds = StaticCredentials::new();
            creds.set_secret("shop", "vault-token", "token", Zeroizing::new(ROOT_TOKEN.as_bytes().to_vec()));
            let identity = Identity::generate();
            let mut plain = UnsealedSecret::new("sealed").with_namespace("shop");
            plain.insert("password", Zeroizing::new(sealed_plain.as_bytes().to_vec()));
            let sealed = seal::seal(&plain, &[identity.recipient()], Scope::Strict).expect("seal");
            let mut keys = KeyRing::new();
            keys.push(identity).expect("a key");
            let ctx = context(keys, Stores::new(Arc::new(creds)));
            let objects = vec![
                vault_store("vault", &bao.address, "secret", "v2", json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}})),
                external("db", "vault", "1h", json!({"data": [remote("password", "shop/db", Some("password"), None)]})),
                serde_json::from_str(&sealed.to_json().expect("JSON")).expect("JSON"),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "shop"},
                       "data": {"mode": "production"}}),
            ];
            let resolution = secrets::resolve(&shop(), objects, &ctx).await;
            assert!(resolution.failures.is_empty(), "{}", resolution.message());
            // The one moment plaintext leaves zeroizing memory: the objects handed to apply.
            let desired: Vec<serde_json::Value> = resolution
                .desired
                .iter()
                .map(|d| match d {
                    Desired::Plain(v) => v.clone(),
                    Desired::Secret(s) => serde_json::from_str(&s.to_apply_json()).expect("Secret JSON"),
                })
                .collect();

            let server = ApiServer::start().await.expect("the API server emulation starts");
            for ns in ["tether-system", "shop"] {
                server
                    .put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
                    .expect("namespace");
            }
            let client = kube::Client::try_from(kube::Config::new(server.url().parse().expect("URL")))
                .expect("client");
            let engine = Engine::new(client, EngineConfig { health_timeout: std::time::Duration::ZERO, ..EngineConfig::default() });
            let result = engine.sync(&AppSpec::new("shop", "shop"), "rev-1", desired).await;
            (result, server)
        })
    });
    assert!(result.is_success(), "{:?}", result.error);

    // The plaintexts are in the applied Secrets.
    let secret_value = |name: &str| {
        let secret = server
            .object("Secret", "shop", name)
            .expect("the Secret was applied");
        let b64 = secret["data"]["password"]
            .as_str()
            .expect("data.password")
            .to_owned();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64"),
        )
        .expect("UTF-8")
    };
    assert_eq!(secret_value("db"), vault_plain);
    assert_eq!(secret_value("sealed"), sealed_plain);
    assert!(
        server.object("SealedSecret", "shop", "sealed").is_none(),
        "a SealedSecret is never sent"
    );

    // And nowhere else.
    let mut haystacks = vec![
        ("logs".to_owned(), logs.text()),
        ("sync result".to_owned(), format!("{result:?}")),
        ("change set".to_owned(), format!("{:?}", result.changes)),
    ];
    for kind in ["ConfigMap", "Event", "Namespace"] {
        for object in server.list_objects(kind) {
            haystacks.push((
                format!("{kind} {}", object["metadata"]["name"]),
                object.to_string(),
            ));
        }
    }
    assert!(
        haystacks
            .iter()
            .any(|(what, _)| what.contains("tether-inventory-shop")),
        "the inventory was written and is searched"
    );
    assert!(logs.text().contains("TRACE"), "trace lines were captured");
    for plaintext in plaintexts {
        let encoded = base64::engine::general_purpose::STANDARD.encode(plaintext);
        for (what, haystack) in &haystacks {
            assert!(
                !haystack.contains(plaintext),
                "{plaintext} appears in the {what}"
            );
            assert!(
                !haystack.contains(&encoded),
                "base64 of {plaintext} appears in the {what}"
            );
        }
    }
}
