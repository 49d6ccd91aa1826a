//! AWS Secrets Manager: find by name and tags within the allow-list.

use super::*;

/// Secrets with tags, one outside the allow-list (`bank/`) carrying the same tags.
async fn seed_moto(sm: &aws_sdk_secretsmanager::Client) {
    use aws_sdk_secretsmanager::types::Tag;
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    for (name, value, tags) in [
        ("shop/app/one", "aws-one-1", vec![tag("team", "shop")]),
        (
            "shop/app/two",
            "{\"k\":\"aws-two-1\"}",
            vec![tag("team", "shop"), tag("env", "prod")],
        ),
        ("shop/other", "aws-other-1", vec![tag("env", "prod")]),
        ("shop/b64", "ZGVjb2RlZC1zZWNyZXQ=", vec![]),
        (
            "bank/app/one",
            "aws-bank-1",
            vec![tag("team", "shop"), tag("env", "prod")],
        ),
    ] {
        sm.create_secret()
            .name(name)
            .secret_string(value)
            .set_tags(Some(tags))
            .send()
            .await
            .expect("create");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_find_by_name_and_tags_within_the_allow_list() {
    let moto = Moto::start().expect("moto starts");
    seed_moto(&moto_client(&moto.endpoint).await).await;
    let creds = StaticCredentials::new();
    creds.set_secret("shop", "aws", "id", Zeroizing::new(b"testing".to_vec()));
    creds.set_secret("shop", "aws", "secret", Zeroizing::new(b"testing".to_vec()));
    let ctx = context(KeyRing::new(), Stores::new(Arc::new(creds)));
    let store = json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "aws", "namespace": "shop"},
        "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
            "endpoint": moto.endpoint, "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
                "secretAccessKeySecretRef": {"name": "aws", "key": "secret"}}}}}}});
    let find = |name: &str, from: Value| external(name, "aws", "1h", json!({"dataFrom": [from]}));
    let objects = vec![
        store,
        find(
            "by-name",
            json!({"find": {"name": {"regexp": "^shop/app/"}}}),
        ),
        find(
            "by-tags",
            json!({"find": {"tags": {"env": "prod"}, "conversionStrategy": "Unicode"}}),
        ),
        find(
            "tags-and-path",
            json!({"find": {"path": "shop/app/", "tags": {"team": "shop"}},
            "rewrite": [{"regexp": {"source": "^shop/app/", "target": ""}}]}),
        ),
        find(
            "decoded",
            json!({"find": {"name": {"regexp": "b64$"}, "decodingStrategy": "Base64"}}),
        ),
        find(
            "bank",
            json!({"find": {"path": "bank/", "name": {"regexp": "."}}}),
        ),
    ];
    let out = secrets::resolve(&shop(), objects, &ctx).await;
    assert_eq!(keys(&out, "by-name"), ["shop_app_one", "shop_app_two"]);
    assert_eq!(text(&out, "by-name", "shop_app_one"), "aws-one-1");
    assert_eq!(
        text(&out, "by-name", "shop_app_two"),
        "{\"k\":\"aws-two-1\"}"
    );
    // bank/app/one carries the tag too, but is outside the allow-list: never listed.
    assert_eq!(
        keys(&out, "by-tags"),
        ["shop_U002f_app_U002f_two", "shop_U002f_other"]
    );
    assert_eq!(keys(&out, "tags-and-path"), ["one", "two"]);
    assert_eq!(text(&out, "decoded", "shop_b64"), "decoded-secret");
    let bank = failure(&out, "ExternalSecret shop/bank");
    assert_eq!(bank.error.reason(), "PolicyDenied", "{}", bank.error);
    assert_eq!(out.failures.len(), 1, "{}", out.message());
    assert_no_plaintext(&out);
}
