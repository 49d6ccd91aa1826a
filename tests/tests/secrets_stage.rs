//! The secrets stage against real peers: OpenBao (KV v1 and v2; token, AppRole and
//! Kubernetes auth through the API server emulation's TokenReview), moto (Secrets Manager),
//! the real `sops` binary, SealedSecrets made by `tether-seal`'s library, and the agent's
//! keys in the API server emulation. Every peer is started by its test and stopped by PID.

#[path = "secrets_stage/manifests.rs"]
mod manifests;
#[path = "secrets_stage/redaction.rs"]
mod redaction;
#[path = "secrets_stage/support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use manifests::{
    configmap, context, external, remote, shop, sops_encrypt, text, value, vault_store, yaml,
};
use serde_json::{Value, json};
use support::{Bao, ROOT_TOKEN, forged_token, moto_client, seed_auth};
use tether_agent::secrets::{
    self, AppContext, Desired, KeyManager, KeyRing, StaticCredentials, Stores,
};
use tether_seal::keys::Identity;
use tether_seal::sealed::{self as seal, Scope, UnsealedSecret};
use tether_tests::apiserver::ApiServer;
use tether_tests::peers::Moto;
use zeroize::Zeroizing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vault_kv_v1_and_v2_with_token_approle_and_kubernetes_auth_and_token_renewal() {
    let bao = Bao::start();
    let api = ApiServer::start()
        .await
        .expect("the API server emulation starts");
    // OpenBao's Kubernetes auth sends its TokenReviews to the API server emulation.
    let auth = seed_auth(&bao, &api.url(), "4s");
    bao.put_v2(
        "shop/db",
        &json!({"username": "shop-app", "password": "vault-v1-pass"}),
    );
    bao.put_v2(
        "shop/db",
        &json!({"username": "shop-app", "password": "vault-v2-pass", "config": {"host": "db.shop", "port": 5432}}),
    );
    bao.put_v2("bank/db", &json!({"password": "bank-pass"}));
    bao.cli(
        &["kv", "put", "-mount=kv1", "shop/api", "token=kv1-api-token"],
        None,
    );

    let creds = StaticCredentials::new();
    creds.set_secret(
        "shop",
        "vault-token",
        "token",
        Zeroizing::new(ROOT_TOKEN.as_bytes().to_vec()),
    );
    creds.set_secret(
        "shop",
        "approle",
        "secret-id",
        Zeroizing::new(auth.secret_id.as_bytes().to_vec()),
    );
    let issued = api.issue_service_account_token("shop", "app");
    creds.set_service_account_token("shop", "app", Zeroizing::new(issued));
    creds.set_service_account_token(
        "shop",
        "intruder",
        Zeroizing::new(forged_token("shop", "app")),
    );
    let stores = Stores::new(Arc::new(creds));
    let ctx = context(KeyRing::new(), stores);

    let token = json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}});
    let objects = vec![
        vault_store("vault-token", &bao.address, "secret", "v2", token.clone()),
        vault_store("vault-kv1", &bao.address, "kv1", "v1", token),
        vault_store(
            "vault-approle",
            &bao.address,
            "secret",
            "v2",
            json!({"appRole": {"path": "approle", "roleId": auth.role_id, "secretRef": {"name": "approle", "key": "secret-id"}}}),
        ),
        vault_store(
            "vault-k8s",
            &bao.address,
            "secret",
            "v2",
            json!({"kubernetes": {"mountPath": "kubernetes", "role": "shop", "serviceAccountRef": {"name": "app"}}}),
        ),
        vault_store(
            "vault-intruder",
            &bao.address,
            "secret",
            "v2",
            json!({"kubernetes": {"role": "shop", "serviceAccountRef": {"name": "intruder"}}}),
        ),
        external(
            "db-token",
            "vault-token",
            "1h",
            json!({"data": [
                remote("password", "shop/db", Some("password"), None),
                remote("old", "shop/db", Some("password"), Some("1")),
                remote("host", "shop/db", Some("config.host"), None),
                remote("user", "shop/db", Some("username"), None),
            ],
            "target": {"name": "db", "template": {"mergePolicy": "Merge", "type": "Opaque",
                "metadata": {"labels": {"app": "db"}},
                "data": {"url": "postgres://{{ .user }}:{{ .password }}@{{ .host }}/shop"}}}}),
        ),
        external(
            "db-approle",
            "vault-approle",
            "1s",
            json!({"dataFrom": [{"extract": {"key": "shop/db"}}]}),
        ),
        external(
            "db-k8s",
            "vault-k8s",
            "1h",
            json!({"data": [remote("password", "secret/data/shop/db", Some("password"), None)]}),
        ),
        external(
            "api-kv1",
            "vault-kv1",
            "1h",
            json!({"data": [remote("token", "shop/api", Some("token"), None)]}),
        ),
        external(
            "bank",
            "vault-token",
            "1h",
            json!({"data": [remote("p", "bank/db", Some("password"), None)]}),
        ),
        external(
            "intruder",
            "vault-intruder",
            "1h",
            json!({"data": [remote("p", "shop/db", Some("password"), None)]}),
        ),
    ];
    let out = secrets::resolve(&shop(), objects.clone(), &ctx).await;

    // KV v2 with token auth: latest, an older version, a nested property, a template.
    assert_eq!(text(&out, "db", "password"), "vault-v2-pass");
    assert_eq!(text(&out, "db", "old"), "vault-v1-pass");
    assert_eq!(text(&out, "db", "host"), "db.shop");
    assert_eq!(
        text(&out, "db", "url"),
        "postgres://shop-app:vault-v2-pass@db.shop/shop"
    );
    // AppRole and dataFrom.extract: every top-level key, JSON for non-strings.
    assert_eq!(text(&out, "db-approle", "username"), "shop-app");
    assert_eq!(
        text(&out, "db-approle", "config"),
        r#"{"host":"db.shop","port":5432}"#
    );
    // Kubernetes auth, checked by the emulation's TokenReview; a key naming the mount.
    assert_eq!(text(&out, "db-k8s", "password"), "vault-v2-pass");
    // KV v1.
    assert_eq!(text(&out, "api-kv1", "token"), "kv1-api-token");
    // The ESO objects themselves are not applied.
    assert!(out.desired.iter().all(|d| matches!(d, Desired::Secret(_))));
    assert_eq!(out.desired.len(), 4);
    // Outside the allow-list: refused before any read, though Vault's policy allows it.
    let bank = out
        .failures
        .iter()
        .find(|f| f.object == "ExternalSecret shop/bank")
        .expect("bank refused");
    assert_eq!(bank.error.reason(), "PolicyDenied", "{}", bank.error);
    assert!(
        bank.error.to_string().contains("secret/data/bank/db"),
        "{}",
        bank.error
    );
    // A JWT the emulation did not issue does not log in.
    let intruder = out
        .failures
        .iter()
        .find(|f| f.object == "ExternalSecret shop/intruder")
        .expect("intruder refused");
    assert_eq!(intruder.error.reason(), "SecretResolveFailed");
    assert!(
        intruder.error.to_string().contains("login failed"),
        "{}",
        intruder.error
    );
    assert_eq!(out.failures.len(), 2, "{}", out.message());
    assert!(!out.prune_allowed());
    assert_eq!(out.requeue_after, Some(Duration::from_secs(1)));

    // Token renewal: the AppRole token lives 4 s; at 2/3 of it, it is renewed, not replaced.
    let logins = ctx.stores.stats().logins;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (renewed, next) = ctx.stores.renew_due_tokens().await;
    assert_eq!(renewed, 1, "only the AppRole token is due");
    assert!(next.is_some());
    assert_eq!(ctx.stores.stats().renewals, 1);
    tokio::time::sleep(Duration::from_millis(2000)).await;
    // Past the first TTL: the renewed token still reads (the 1s cache entry has expired).
    let again = secrets::resolve(&shop(), vec![objects[2].clone(), objects[6].clone()], &ctx).await;
    assert!(again.failures.is_empty(), "{}", again.message());
    assert_eq!(text(&again, "db-approle", "password"), "vault-v2-pass");
    assert_eq!(ctx.stores.stats().logins, logins, "no new login was needed");
    api.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_string_json_binary_versions_batches_inline_refs_and_rotation() {
    let moto = Moto::start().expect("moto starts");
    let sm = moto_client(&moto.endpoint).await;
    sm.create_secret()
        .name("shop/plain")
        .secret_string("aws-plain-value")
        .send()
        .await
        .expect("create");
    sm.create_secret()
        .name("shop/json")
        .secret_string(r#"{"username":"aws-user","password":"aws-json-pass"}"#)
        .send()
        .await
        .expect("create");
    let binary = vec![0u8, 159, 146, 150, 255, 1, 2];
    sm.create_secret()
        .name("shop/bin")
        .secret_binary(aws_sdk_secretsmanager::primitives::Blob::new(
            binary.clone(),
        ))
        .send()
        .await
        .expect("create");
    let first = sm
        .create_secret()
        .name("shop/rotating")
        .secret_string("rot-1")
        .send()
        .await
        .expect("create");
    let first_id = first.version_id().expect("a version id").to_owned();
    sm.put_secret_value()
        .secret_id("shop/rotating")
        .secret_string("rot-2")
        .send()
        .await
        .expect("put");

    let creds = StaticCredentials::new();
    for ns in ["shop", "tether-system"] {
        creds.set_secret(ns, "aws", "id", Zeroizing::new(b"testing".to_vec()));
        creds.set_secret(ns, "aws", "secret", Zeroizing::new(b"testing".to_vec()));
    }
    let aws = |ns: &str| {
        json!({"aws": {"service": "SecretsManager", "region": "us-east-1", "endpoint": moto.endpoint,
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": "aws", "key": "id", "namespace": ns},
                "secretAccessKeySecretRef": {"name": "aws", "key": "secret", "namespace": ns}}}}})
    };
    let mut stores = Stores::new(Arc::new(creds));
    stores
        .set_inline_store(
            &json!({"kind": "ClusterSecretStore", "metadata": {"name": "inline-aws"}, "spec": {"provider": aws("tether-system")}}),
            "tether-system",
        )
        .expect("the inline store is valid");
    let ctx = context(KeyRing::new(), stores);
    let store = json!({"apiVersion": "external-secrets.io/v1beta1", "kind": "SecretStore",
                       "metadata": {"name": "aws", "namespace": "shop"}, "spec": {"provider": aws("shop")}});
    let es = external(
        "aws",
        "aws",
        "1s",
        json!({"data": [
            remote("plain", "shop/plain", None, None),
            remote("pass", "shop/json", Some("password"), None),
            remote("bin", "shop/bin", None, None),
            remote("cur", "shop/rotating", None, None),
            remote("prev", "shop/rotating", None, Some("AWSPREVIOUS")),
            remote("first", "shop/rotating", None, Some(&format!("uuid/{first_id}"))),
        ]}),
    );
    let inline = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "inline", "namespace": "shop"},
        "stringData": {"p": "ref+awssecrets://shop/json#/password", "w": "ref+awssecrets://shop/plain?version_stage=AWSCURRENT"}});
    let missing = external(
        "missing",
        "aws",
        "1h",
        json!({"data": [remote("x", "shop/missing", None, None)]}),
    );
    let objects = vec![store, es, inline, missing];
    let out = secrets::resolve(&shop(), objects.clone(), &ctx).await;

    assert_eq!(text(&out, "aws", "plain"), "aws-plain-value");
    assert_eq!(text(&out, "aws", "pass"), "aws-json-pass");
    assert_eq!(value(&out, "aws", "bin").expect("binary"), binary);
    assert_eq!(text(&out, "aws", "cur"), "rot-2");
    assert_eq!(text(&out, "aws", "prev"), "rot-1");
    assert_eq!(text(&out, "aws", "first"), "rot-1");
    assert_eq!(text(&out, "inline", "p"), "aws-json-pass");
    assert_eq!(text(&out, "inline", "w"), "aws-plain-value");
    let failure = out.failures.first().expect("the missing secret fails");
    assert_eq!(out.failures.len(), 1, "{}", out.message());
    assert_eq!(failure.error.reason(), "SecretResolveFailed");
    assert!(
        failure.error.to_string().contains("shop/missing not found"),
        "{}",
        failure.error
    );
    assert_eq!(failure.secret, Some(("shop".into(), "missing".into())));
    let stats = ctx.stores.stats();
    assert!(
        stats.batch_calls >= 1,
        "current versions are batched: {stats:?}"
    );

    // Rotation: a new current version is picked up once the 1s refresh interval passed.
    sm.put_secret_value()
        .secret_id("shop/rotating")
        .secret_string("rot-3")
        .send()
        .await
        .expect("put");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = secrets::resolve(&shop(), objects, &ctx).await;
    assert_eq!(text(&out, "aws", "cur"), "rot-3");
    assert_eq!(text(&out, "aws", "prev"), "rot-2");
    // The inline references (1h TTL) came from the cache.
    assert!(ctx.stores.stats().cache_hits > stats.cache_hits);
}

#[tokio::test]
async fn sops_objects_and_data_entries_made_by_real_sops_decrypt_and_tampering_or_leftovers_are_refused()
 {
    use base64::Engine as _;
    let dir = tempfile::tempdir().expect("a temporary folder");
    let identity = Identity::generate();
    let recipient = identity.recipient().to_string();
    let mut keys = KeyRing::new();
    keys.push(identity).expect("a valid key");
    let ctx = context(keys, Stores::new(Arc::new(StaticCredentials::new())));

    let secret = yaml(&sops_encrypt(
        "db-secret.yaml",
        &recipient,
        Some("^(data|stringData)$"),
        dir.path(),
    ));
    let config = yaml(&sops_encrypt(
        "app-config.yaml",
        &recipient,
        Some("^data$"),
        dir.path(),
    ));
    let settings = sops_encrypt("settings.yaml", &recipient, None, dir.path());
    let generated = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "settings", "namespace": "shop"},
        "data": {"settings.yaml": base64::engine::general_purpose::STANDARD.encode(settings.as_bytes())}});
    let mut tampered = secret.clone();
    tampered["metadata"]["name"] = json!("tampered");
    let enc = tampered["stringData"]["password"]
        .as_str()
        .expect("encrypted")
        .to_owned();
    let flipped = enc.replacen("data:", "data:A", 1);
    tampered["stringData"]["password"] = json!(flipped);
    let mut stripped = secret.clone();
    stripped["metadata"]["name"] = json!("stripped");
    stripped.as_object_mut().expect("a map").remove("sops");
    let mut opted_out = config.clone();
    opted_out["metadata"]["name"] = json!("opted-out");
    opted_out["metadata"]["annotations"] = json!({"tether.dev/decrypt": "disabled"});

    let out = secrets::resolve(
        &shop(),
        vec![secret, config, generated, tampered, stripped, opted_out],
        &ctx,
    )
    .await;
    assert_eq!(text(&out, "db", "password"), "sops-db-password-7f3a");
    assert_eq!(text(&out, "db", "username"), "shop-app");
    let settings = text(&out, "settings", "settings.yaml");
    assert!(
        settings.contains("api_key: sops-settings-key-91c2"),
        "{settings}"
    );
    assert!(!settings.contains("ENC["));
    let plain_config = out
        .desired
        .iter()
        .find_map(|d| match d {
            Desired::Plain(v) if v["metadata"]["name"] == "app-config" => Some(v.clone()),
            _ => None,
        })
        .expect("the decrypted ConfigMap");
    assert_eq!(
        plain_config["data"]["endpoint"],
        "https://sops-config.shop.internal"
    );
    assert!(plain_config.get("sops").is_none());
    let reasons: Vec<(&str, &str)> = out
        .failures
        .iter()
        .map(|f| (f.object.as_str(), f.error.reason()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("Secret shop/tampered", "DecryptFailed"),
            ("Secret shop/stripped", "DecryptFailed"),
            ("ConfigMap shop/opted-out", "DecryptFailed"),
        ],
        "{}",
        out.message()
    );
    assert!(
        out.failures[1]
            .error
            .to_string()
            .contains("still encrypted"),
        "{}",
        out.failures[1].error
    );
    assert!(
        out.failures[2]
            .error
            .to_string()
            .contains("tether.dev/decrypt"),
        "{}",
        out.failures[2].error
    );
    assert_eq!(out.desired.len(), 3);
}

#[tokio::test]
async fn sealed_secrets_unseal_where_they_are_applied_and_a_scope_violation_is_refused() {
    let identity = Identity::generate();
    let mut plain = UnsealedSecret::new("db").with_namespace("shop");
    plain.insert("password", Zeroizing::new(b"sealed-pass-3e1d".to_vec()));
    let sealed = seal::seal(&plain, &[identity.recipient()], Scope::Strict).expect("seals");
    let mut manifest: Value = serde_json::from_str(&sealed.to_json().expect("JSON")).expect("JSON");
    // Rendered without a namespace: the app's target namespace applies.
    manifest["metadata"]
        .as_object_mut()
        .expect("a map")
        .remove("namespace");
    let mut keys = KeyRing::new();
    keys.push(identity).expect("a valid key");
    let ctx = context(keys, Stores::new(Arc::new(StaticCredentials::new())));

    let out = secrets::resolve(&shop(), vec![manifest.clone()], &ctx).await;
    assert!(out.failures.is_empty(), "{}", out.message());
    assert_eq!(text(&out, "db", "password"), "sealed-pass-3e1d");
    assert_eq!(
        out.desired.len(),
        1,
        "only the Secret, never the SealedSecret"
    );

    let bank = AppContext::new("bank", "bank").expect("allow-list");
    let out = secrets::resolve(&bank, vec![manifest.clone()], &ctx).await;
    assert!(out.desired.is_empty());
    assert_eq!(out.failures.len(), 1);
    assert_eq!(out.failures[0].error.reason(), "DecryptFailed");
    assert!(
        out.failures[0].error.to_string().contains("was sealed for"),
        "{}",
        out.failures[0].error
    );
    assert!(!out.prune_allowed());

    // A key the agent does not hold: refused too.
    let stranger = context(
        {
            let mut k = KeyRing::new();
            k.push(Identity::generate()).expect("a key");
            k
        },
        Stores::new(Arc::new(StaticCredentials::new())),
    );
    let out = secrets::resolve(&shop(), vec![manifest], &stranger).await;
    assert_eq!(out.failures.len(), 1);
    assert!(
        out.failures[0].error.to_string().contains("not sealed for"),
        "{}",
        out.failures[0].error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_fails_that_secret_blocks_pruning_and_recovers_after_restart() {
    let mut bao = Bao::start();
    bao.put_v2("shop/db", &json!({"password": "outage-pass"}));
    let creds = StaticCredentials::new();
    creds.set_secret(
        "shop",
        "vault-token",
        "token",
        Zeroizing::new(ROOT_TOKEN.as_bytes().to_vec()),
    );
    let ctx = context(KeyRing::new(), Stores::new(Arc::new(creds)));
    let objects = vec![
        vault_store(
            "vault",
            &bao.address,
            "secret",
            "v2",
            json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}}),
        ),
        external(
            "db",
            "vault",
            "1s",
            json!({"data": [remote("password", "shop/db", Some("password"), None)]}),
        ),
        configmap("app"),
    ];
    let out = secrets::resolve(&shop(), objects.clone(), &ctx).await;
    assert!(out.prune_allowed(), "{}", out.message());
    assert_eq!(text(&out, "db", "password"), "outage-pass");

    bao.stop();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = secrets::resolve(&shop(), objects.clone(), &ctx).await;
    assert!(!out.prune_allowed());
    assert_eq!(out.degraded_reason(), Some("SecretResolveFailed"));
    assert_eq!(out.failures[0].secret, Some(("shop".into(), "db".into())));
    assert!(out.message().contains("unavailable"), "{}", out.message());
    assert!(
        value(&out, "db", "password").is_none(),
        "the live Secret is kept, not replaced"
    );
    assert_eq!(out.desired.len(), 1, "the other objects still apply");
    assert_eq!(
        out.requeue_after,
        Some(secrets::RETRY_AFTER_FAILURE.min(Duration::from_secs(1)))
    );

    bao.restart();
    bao.put_v2("shop/db", &json!({"password": "outage-pass-2"}));
    let out = secrets::resolve(&shop(), objects, &ctx).await;
    assert!(out.prune_allowed(), "{}", out.message());
    assert_eq!(out.degraded_reason(), None);
    assert_eq!(text(&out, "db", "password"), "outage-pass-2");
}

#[tokio::test]
async fn agent_keys_are_generated_renewed_published_and_old_keys_still_decrypt() {
    let api = ApiServer::start()
        .await
        .expect("the API server emulation starts");
    let client =
        kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL"))).expect("client");
    api.put_object(
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tether-system"}}),
    )
    .expect("namespace");
    let manager = KeyManager::new(client, "tether-system");
    let start = SystemTime::now();

    let first = manager.ensure(start).await.expect("keys");
    assert!(first.generated && !first.renewed);
    assert_eq!(first.ring.len(), 1);
    let recipient = first
        .ring
        .newest_recipient()
        .expect("a recipient")
        .to_string();
    let published = api
        .object("ConfigMap", "tether-system", "tether-recipient")
        .expect("published");
    assert_eq!(published["data"]["recipient"], recipient);
    let stored = api
        .object("Secret", "tether-system", "tether-keys")
        .expect("the key Secret");
    assert_eq!(stored["data"].as_object().expect("data").len(), 1);

    let again = manager
        .ensure(start + Duration::from_secs(3600))
        .await
        .expect("keys");
    assert!(
        !again.generated && !again.renewed,
        "a restarted agent reuses its key"
    );
    assert_eq!(
        again
            .ring
            .newest_recipient()
            .expect("recipient")
            .to_string(),
        recipient
    );

    // A value sealed for the first key.
    let mut plain = UnsealedSecret::new("db").with_namespace("shop");
    plain.insert("password", Zeroizing::new(b"old-key-pass".to_vec()));
    let sealed = seal::seal(
        &plain,
        &[again.ring.newest_recipient().expect("r").clone()],
        Scope::Strict,
    )
    .expect("seal");
    let manifest: Value = serde_json::from_str(&sealed.to_json().expect("JSON")).expect("JSON");

    let renewed = manager
        .ensure(start + Duration::from_secs(31 * 24 * 3600))
        .await
        .expect("keys");
    assert!(renewed.renewed);
    assert_eq!(renewed.ring.len(), 2);
    let newest = renewed
        .ring
        .newest_recipient()
        .expect("recipient")
        .to_string();
    assert_ne!(newest, recipient);
    let published = api
        .object("ConfigMap", "tether-system", "tether-recipient")
        .expect("published");
    assert_eq!(published["data"]["recipient"], newest);

    let ctx = context(
        renewed.ring,
        Stores::new(Arc::new(StaticCredentials::new())),
    );
    let out = secrets::resolve(&shop(), vec![manifest], &ctx).await;
    assert_eq!(text(&out, "db", "password"), "old-key-pass");
    api.shutdown().await;
}

/// sops's MAC covers the values it leaves in clear, so a Kustomize transformer that changes
/// them (an overlay's labels, a name prefix) breaks a file encrypted in the default mode; with
/// `mac_only_encrypted` the MAC covers only the encrypted values and the transformed object
/// still decrypts. The README gives this as the way to combine both.
#[tokio::test]
async fn mac_only_encrypted_files_survive_kustomize_transformers_and_default_ones_do_not() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let identity = Identity::generate();
    let recipient = identity.recipient().to_string();
    let mut keys = KeyRing::new();
    keys.push(identity).expect("a valid key");
    let ctx = context(keys, Stores::new(Arc::new(StaticCredentials::new())));
    let encrypt = |mac_only: bool| {
        let file = dir.path().join(format!("db-{mac_only}.yaml"));
        std::fs::copy(
            tether_tests::peers::workspace_root().join("tests/fixtures/secrets/db-secret.yaml"),
            &file,
        )
        .expect("copy the fixture");
        let mut cmd = tether_tests::peers::sops_command();
        cmd.args([
            "--encrypt",
            "--age",
            &recipient,
            "--encrypted-regex",
            "^(data|stringData)$",
        ]);
        if mac_only {
            cmd.arg("--mac-only-encrypted");
        }
        let out = cmd.arg(&file).output().expect("sops runs");
        assert!(
            out.status.success(),
            "sops: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut object = yaml(&String::from_utf8(out.stdout).expect("UTF-8"));
        // What an overlay with `namePrefix: prod-` and `labels: {env: production}` does.
        object["metadata"]["name"] = json!(format!("prod-db-{mac_only}"));
        object["metadata"]["labels"] = json!({"env": "production"});
        object
    };
    let out = secrets::resolve(&shop(), vec![encrypt(true), encrypt(false)], &ctx).await;
    assert_eq!(
        text(&out, "prod-db-true", "password"),
        "sops-db-password-7f3a"
    );
    assert_eq!(out.failures.len(), 1, "{}", out.message());
    let failure = &out.failures[0];
    assert_eq!(failure.error.reason(), "DecryptFailed", "{}", failure.error);
    assert!(
        failure.error.to_string().contains("MAC"),
        "{}",
        failure.error
    );
}
