//! OpenBao and AWS Secrets Manager stores, with their auth methods, versions and rotation.

use super::*;

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
