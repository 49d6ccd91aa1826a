//! Unit tests of the stage without stores: sealed secrets, plain Secrets, leftovers, refused
//! references, and per-object failures.
#![allow(clippy::unwrap_used)]

use super::*;
use serde_json::json;
use tether_seal::keys::Identity;
use tether_seal::sealed::{self as seal, Scope, UnsealedSecret};
use zeroize::Zeroizing;

fn context(identity: Identity) -> SecretsContext {
    let mut ring = KeyRing::new();
    ring.push(identity).unwrap();
    SecretsContext {
        keys: Arc::new(ring),
        stores: Arc::new(Stores::new(Arc::new(StaticCredentials::new()))),
    }
}

fn sealed_manifest(
    identity: &Identity,
    namespace: Option<&str>,
    name: &str,
    value: &[u8],
) -> Value {
    let mut secret = UnsealedSecret::new(name);
    if let Some(ns) = namespace {
        secret = secret.with_namespace(ns);
    }
    secret.insert("password", Zeroizing::new(value.to_vec()));
    let sealed = seal::seal(&secret, &[identity.recipient()], Scope::Strict).unwrap();
    serde_json::from_str(&sealed.to_json().unwrap()).unwrap()
}

fn run(app: &AppContext, objects: Vec<Value>, ctx: &SecretsContext) -> Resolution {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(resolve(app, objects, ctx))
}

#[test]
fn a_sealed_secret_becomes_a_secret_and_is_not_applied_itself() {
    let id = Identity::generate();
    let manifest = sealed_manifest(&id, Some("shop"), "db", b"pa55");
    let ctx = context(id);
    let app = AppContext::new("shop", "shop").unwrap();
    let out = run(&app, vec![manifest], &ctx);
    assert!(out.failures.is_empty(), "{}", out.message());
    assert_eq!(out.desired.len(), 1);
    let Desired::Secret(secret) = &out.desired[0] else {
        panic!("not a secret")
    };
    assert_eq!(secret.origin(), SecretOrigin::Sealed);
    let applied: Value = serde_json::from_str(&secret.to_apply_json()).unwrap();
    assert_eq!(applied["data"]["password"], "cGE1NQ==");
    assert_eq!(applied["kind"], "Secret");
}

#[test]
fn one_bad_object_does_not_hide_the_others_and_blocks_pruning() {
    let id = Identity::generate();
    let good = sealed_manifest(&id, Some("shop"), "db", b"one");
    let moved = {
        let mut m = sealed_manifest(&id, Some("shop"), "db", b"two");
        m["metadata"]["name"] = json!("other");
        m
    };
    let ctx = context(id);
    let app = AppContext::new("shop", "shop").unwrap();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
    let out = run(&app, vec![good, moved, cm], &ctx);
    assert_eq!(out.desired.len(), 2);
    assert_eq!(out.failures.len(), 1);
    assert!(!out.prune_allowed());
    assert_eq!(out.degraded_reason(), Some("DecryptFailed"));
    assert_eq!(
        out.failures[0].secret,
        Some(("shop".into(), "other".into()))
    );
    assert!(
        out.failures[0].error.to_string().contains("was sealed for"),
        "{}",
        out.failures[0].error
    );
}

#[test]
fn leftovers_and_references_outside_secrets_are_refused() {
    let ctx = context(Identity::generate());
    let app = AppContext::new("shop", "shop").unwrap();
    let objects = vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "enc"},
               "data": {"a": "ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ref"},
               "data": {"a": "ref+vault://secret/data/shop/db#/p"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
                 "annotations": {"tether.dev/decrypt": "disabled"}},
               "stringData": {"a": "x"}, "sops": {"mac": "ENC[...]"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t"},
               "stringData": {"a": "ENC[AES256_GCM,data:abc,iv:def,tag:ghi,type:str]"}}),
    ];
    let out = run(&app, objects, &ctx);
    assert!(out.desired.is_empty());
    let reasons: Vec<_> = out
        .failures
        .iter()
        .map(|f| (f.object.as_str(), f.error.reason()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("ConfigMap shop/enc", "DecryptFailed"),
            ("ConfigMap shop/ref", "PolicyDenied"),
            ("Secret shop/s", "DecryptFailed"),
            ("Secret shop/t", "DecryptFailed"),
        ]
    );
    assert!(
        out.failures[2]
            .error
            .to_string()
            .contains("tether.dev/decrypt")
    );
}

#[test]
fn an_inline_reference_without_a_configured_store_fails_that_secret_only() {
    let ctx = context(Identity::generate());
    let app = AppContext::new("shop", "shop").unwrap();
    let out = run(
        &app,
        vec![
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "r"},
                   "stringData": {"p": "ref+vault://secret/data/shop/db#/p"}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "plain"},
                   "stringData": {"p": "x"}}),
        ],
        &ctx,
    );
    assert_eq!(out.desired.len(), 1);
    assert_eq!(out.failures.len(), 1);
    assert!(out.failures[0].error.to_string().contains("no vault store"));
}

#[test]
fn a_reference_outside_the_allow_list_is_refused_before_any_read() {
    let mut stores = Stores::new(Arc::new(StaticCredentials::new()));
    stores
        .set_inline_store(
            &json!({"kind": "ClusterSecretStore", "metadata": {"name": "inline"},
                    "spec": {"provider": {"vault": {"server": "http://127.0.0.1:9",
                      "auth": {"tokenSecretRef": {"name": "t", "key": "t"}}}}}}),
            "tether-system",
        )
        .unwrap();
    let ctx = SecretsContext {
        keys: Arc::new(KeyRing::new()),
        stores: Arc::new(stores),
    };
    let app = AppContext::new("shop", "shop").unwrap();
    let out = run(
        &app,
        vec![
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "r"},
                    "stringData": {"p": "ref+vault://secret/data/bank/db#/p"}}),
        ],
        &ctx,
    );
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].error.reason(), "PolicyDenied");
    assert_eq!(ctx.stores.stats().reads, 0);
}

#[test]
fn the_stage_future_can_be_spawned() {
    fn assert_send<T: Send>(_: &T) {}
    let ctx = context(Identity::generate());
    let app = AppContext::new("shop", "shop").unwrap();
    let future = resolve(&app, Vec::new(), &ctx);
    assert_send(&future);
    let out = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future);
    assert!(out.desired.is_empty() && out.prune_allowed());
}
