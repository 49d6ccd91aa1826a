//! Store outages, the agent's keys, and MAC-only files through kustomize.

use super::*;

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
