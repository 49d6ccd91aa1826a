//! OpenBao: find by name and tags, the allow-list, templates and refresh intervals.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openbao_find_rewrite_templates_refresh_and_the_allow_list() {
    use tracing::instrument::WithSubscriber as _;
    let bao = Bao::start();
    seed_bao(&bao);
    // Every event of these runs, at TRACE, is captured and searched for plaintext too.
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    async {
        find_by_name_and_by_tags_with_rewrites(&bao).await;
        the_allow_list_limits_what_a_find_lists_and_reads(&bao).await;
        templates_from_configmaps_secrets_and_literals_in_both_merge_policies(&bao).await;
        template_sources_are_read_from_the_cluster_through_its_api(&bao).await;
        refresh_interval_is_per_external_secret_and_zero_reads_once(&bao).await;
    }
    .with_subscriber(subscriber)
    .await;
    let text = logs.text();
    assert!(
        text.contains("resolved an ExternalSecret") && text.contains("find: not descending"),
        "the stage logged at TRACE: {text}"
    );
    assert_no_plaintext_in(&text);
}

async fn find_by_name_and_by_tags_with_rewrites(bao: &Bao) {
    let (ctx, store) = bao_context(bao, StaticCredentials::new());
    let objects = vec![
        store,
        external(
            "by-name",
            "vault",
            "1h",
            json!({"dataFrom": [{"find": {"path": "shop/app", "name": {"regexp": "db|cache"}}}]}),
        ),
        external(
            "by-tags",
            "vault",
            "1h",
            json!({"dataFrom": [{"find": {"path": "shop", "tags": {"env": "prod"}},
                "rewrite": [
                    {"regexp": {"source": "^shop/app/(.*)$", "target": "$1"}},
                    {"transform": {"template": "{{ .value | replace \"/\" \"-\" | upper }}"}}]}]}),
        ),
        external(
            "extract-rewrite",
            "vault",
            "1h",
            json!({"dataFrom": [{"extract": {"key": "shop/config"},
                "rewrite": [{"regexp": {"source": "^(.*)$", "target": "config-$1"}}]}]}),
        ),
        external(
            "bad-key",
            "vault",
            "1h",
            json!({"dataFrom": [{"find": {"path": "shop/app", "name": {"regexp": "api"}},
                "rewrite": [{"regexp": {"source": "api-key", "target": "api key!"}}]}]}),
        ),
    ];
    let out = secrets::resolve(&shop(), objects, &ctx).await;
    assert_eq!(
        keys(&out, "by-name"),
        ["shop_app_db-password", "shop_app_nested_cache"]
    );
    let db: Value =
        serde_json::from_slice(&value(&out, "by-name", "shop_app_db-password").expect("db"))
            .expect("the whole secret as JSON");
    assert_eq!(db, json!({"password": "pw-db-1"}));
    assert_eq!(keys(&out, "by-tags"), ["DB-PASSWORD", "NESTED-CACHE"]);
    assert_eq!(
        keys(&out, "extract-rewrite"),
        ["config-cfg", "config-pass", "config-user"]
    );
    assert_eq!(text(&out, "extract-rewrite", "config-pass"), "cfg-pass-9");
    let bad = failure(&out, "ExternalSecret shop/bad-key");
    assert_eq!(bad.error.reason(), "InvalidObject");
    let message = bad.error.to_string();
    assert!(
        message.contains("spec.dataFrom[0].rewrite") && message.contains("\"shop/app/api key!\""),
        "{message}"
    );
    assert_eq!(out.failures.len(), 1, "{}", out.message());
    assert_no_plaintext(&out);
}

async fn the_allow_list_limits_what_a_find_lists_and_reads(bao: &Bao) {
    let (ctx, store) = bao_context(bao, StaticCredentials::new());
    let find = |name: &str, find: Value| {
        external(name, "vault", "1h", json!({"dataFrom": [{"find": find}]}))
    };
    let objects = vec![
        store,
        find("whole-mount", json!({"tags": {"env": "prod"}})),
        find("bank", json!({"path": "bank", "name": {"regexp": "."}})),
        find(
            "one-level",
            json!({"path": "shop/app", "name": {"regexp": "."}}),
        ),
        // A secret whose path starts with `data/` is read where it was listed.
        find("data-dir", json!({"path": "data", "name": {"regexp": "."}})),
    ];
    // Only the secrets directly in shop/app: nested/ is not listed, bank/ never.
    let config = AllowListConfig {
        vault: vec![
            "secret/data/{namespace}/app/*".into(),
            "secret/data/data/**".into(),
        ],
        aws: vec![],
    };
    let app = shop().with_allow_list(AllowList::new(&config, "shop", "shop").expect("compiles"));
    let out = secrets::resolve(&app, objects, &ctx).await;
    for object in [
        "ExternalSecret shop/whole-mount",
        "ExternalSecret shop/bank",
    ] {
        let f = failure(&out, object);
        assert_eq!(f.error.reason(), "PolicyDenied", "{}", f.error);
        assert!(
            f.error.to_string().contains("spec.dataFrom[0].find"),
            "{}",
            f.error
        );
    }
    assert_eq!(
        keys(&out, "one-level"),
        ["shop_app_api-key", "shop_app_db-password"]
    );
    assert_eq!(keys(&out, "data-dir"), ["data_app_x"]);
    assert_eq!(text(&out, "data-dir", "data_app_x"), "{\"v\":\"d\"}");
    assert_no_plaintext(&out);
}

/// The template sources that exist only in the cluster.
fn template_credentials() -> StaticCredentials {
    let creds = StaticCredentials::new();
    creds.set_config_map(
        "shop",
        "cluster-templates",
        "props",
        "host: '{{ index (.cfg | fromJson) \"host\" }}'\nuser-upper: '{{ .user | upper }}'",
    );
    creds.set_secret(
        "shop",
        "cluster-secret-templates",
        "more",
        Zeroizing::new(b"from-cluster-secret: '{{ .user | b64enc }}'".to_vec()),
    );
    creds.set_secret(
        "shop",
        "cluster-secret-templates",
        "broken",
        Zeroizing::new(b"tpl-secret-text {{ .user ".to_vec()),
    );
    creds
}

/// A template kept in a Secret that does not parse (its error never quotes it), and ESO's
/// usual shapes: an env file from a range, a literal block with variables.
fn more_template_objects() -> Vec<Value> {
    vec![
        // A template kept in a Secret that does not parse: the error never quotes it.
        external(
            "bad-secret-template",
            "vault",
            "1h",
            json!({"data": [remote("user", "shop/config", Some("user"), None)],
                   "target": {"template": {"templateFrom": [{"secret": {"name": "cluster-secret-templates",
                       "items": [{"key": "broken"}]}}]}}}),
        ),
        // ESO's usual shapes: an env file from a range, a literal block with variables.
        external(
            "env-file",
            "vault",
            "1h",
            json!({"dataFrom": [{"extract": {"key": "shop/config"}}],
                   "target": {"template": {"engineVersion": "v2",
                       "data": {"app.env": "{{- range $k, $v := . }}{{ if ne $k \"cfg\" }}{{ $k | upper }}={{ $v }}\n{{ end }}{{ end }}"},
                       "templateFrom": [{"literal": "{{- $host := (.cfg | fromJson).host }}\nurl: \"https://{{ $host }}/\"\n{{- if eq $host \"other\" }}\nnever: here{{ end }}"}]}}}),
        ),
    ]
}

async fn templates_from_configmaps_secrets_and_literals_in_both_merge_policies(bao: &Bao) {
    let fixture = std::fs::read_to_string(
        peers::workspace_root().join("tests/fixtures/external/templated.yaml"),
    )
    .expect("the fixture");
    for policy in ["Replace", "Merge"] {
        let (ctx, store) = bao_context(bao, template_credentials());
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&fixture.replace("MERGE_POLICY", policy)).expect("YAML");
        let mut objects = vec![store];
        objects.extend(docs);
        objects.extend(more_template_objects());
        let out = secrets::resolve(&shop(), objects, &ctx).await;
        assert_eq!(keys(&out, "env-file"), ["app.env", "url"]);
        assert_eq!(
            text(&out, "env-file", "app.env"),
            "PASS=cfg-pass-9\nUSER=admin\n"
        );
        assert_eq!(text(&out, "env-file", "url"), "https://db.shop/");
        let broken = failure(&out, "ExternalSecret shop/bad-secret-template");
        assert!(
            broken
                .error
                .to_string()
                .contains("spec.target.template.templateFrom[0].secret.items[0]"),
            "{}",
            broken.error
        );
        let templated = [
            "checksum",
            "dsn",
            "from-cluster-secret",
            "greeting",
            "host",
            "literal-key",
            "pass",
            "user-upper",
        ];
        let expected: Vec<&str> = match policy {
            "Replace" => templated.to_vec(),
            _ => {
                let mut all = templated.to_vec();
                all.extend(["cfg", "user"]);
                all.sort_unstable();
                all
            }
        };
        assert_eq!(keys(&out, "templated"), expected, "{policy}");
        assert_eq!(
            text(&out, "templated", "dsn"),
            "postgres://admin:Y2ZnLXBhc3MtOQ==@db.shop/shop"
        );
        // A template wins over the value read of the same key, in both policies.
        assert_eq!(text(&out, "templated", "pass"), "overridden-ADMIN");
        assert_eq!(text(&out, "templated", "host"), "db.shop");
        assert_eq!(text(&out, "templated", "user-upper"), "ADMIN");
        assert_eq!(text(&out, "templated", "greeting"), "hello admin");
        assert_eq!(text(&out, "templated", "from-cluster-secret"), "YWRtaW4=");
        assert_eq!(text(&out, "templated", "literal-key"), "admin-lit");
        assert_eq!(
            text(&out, "templated", "checksum"),
            sha256_hex(b"cfg-pass-9")
        );
        if policy == "Merge" {
            assert_eq!(text(&out, "templated", "user"), "admin");
        }
        assert_eq!(out.failures.len(), 1, "{}", out.message());
        assert_no_plaintext(&out);
    }
}

async fn template_sources_are_read_from_the_cluster_through_its_api(bao: &Bao) {
    use base64::Engine as _;
    let api = ApiServer::start()
        .await
        .expect("the API server emulation starts");
    let b64 = |t: &str| base64::engine::general_purpose::STANDARD.encode(t);
    for object in [
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-token", "namespace": "shop"},
               "data": {"token": b64(ROOT_TOKEN)}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-cm", "namespace": "shop"},
               "data": {"t": "host={{ index (.cfg | fromJson) \"host\" }}"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cluster-sec", "namespace": "shop"},
               "data": {"t": b64("user: '{{ .user }}'")}}),
    ] {
        api.put_object(object).expect("stored");
    }
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().expect("URL")))
        .expect("a kube client");
    let ctx = context(
        KeyRing::new(),
        Stores::new(Arc::new(KubeCredentials::new(client))),
    );
    let store = vault_store(
        "vault",
        &bao.address,
        "secret",
        "v2",
        json!({"tokenSecretRef": {"name": "vault-token", "key": "token"}}),
    );
    let with_sources = |name: &str, from: Value| {
        external(
            name,
            "vault",
            "1h",
            json!({"dataFrom": [{"extract": {"key": "shop/config"}}],
                   "target": {"template": {"templateFrom": from}}}),
        )
    };
    let objects = vec![
        store,
        with_sources(
            "from-cluster",
            json!([{"configMap": {"name": "cluster-cm", "items": [{"key": "t"}]}},
                   {"secret": {"name": "cluster-sec", "items": [{"key": "t", "templateAs": "KeysAndValues"}]}}]),
        ),
        with_sources(
            "absent-source",
            json!([{"configMap": {"name": "absent", "items": [{"key": "t"}]}}]),
        ),
    ];
    let out = secrets::resolve(&shop(), objects, &ctx).await;
    assert_eq!(keys(&out, "from-cluster"), ["t", "user"]);
    assert_eq!(text(&out, "from-cluster", "t"), "host=db.shop");
    assert_eq!(text(&out, "from-cluster", "user"), "admin");
    let absent = failure(&out, "ExternalSecret shop/absent-source")
        .error
        .to_string();
    assert!(
        absent.contains("spec.target.template.templateFrom[0].configMap.items[0].key")
            && absent.contains("ConfigMap shop/absent key t not found"),
        "{absent}"
    );
    assert_eq!(out.failures.len(), 1, "{}", out.message());
    assert_no_plaintext(&out);
    api.shutdown().await;
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

async fn refresh_interval_is_per_external_secret_and_zero_reads_once(bao: &Bao) {
    bao.put_v2("shop/rot", &json!({"v": "rot-value-1"}));
    let (ctx, store) = bao_context(bao, StaticCredentials::new());
    let read = |name: &str, refresh: &str| {
        external(
            name,
            "vault",
            refresh,
            json!({"data": [remote("v", "shop/rot", Some("v"), None)]}),
        )
    };
    let find = |name: &str, refresh: &str| {
        external(
            name,
            "vault",
            refresh,
            json!({"dataFrom": [{"find": {"path": "shop", "name": {"regexp": "^shop/rot"}}}]}),
        )
    };
    let objects = vec![
        store,
        read("every-5s", "5s"),
        read("once", "0s"),
        read("hourly", "1h"),
        find("find-every-5s", "5s"),
        find("find-once", "0"),
    ];
    let out = secrets::resolve(&shop(), objects.clone(), &ctx).await;
    for name in ["every-5s", "once", "hourly"] {
        assert_eq!(text(&out, name, "v"), "rot-value-1", "{name}");
    }
    assert_eq!(keys(&out, "find-once"), ["shop_rot"]);
    assert_eq!(out.requeue_after, Some(Duration::from_secs(5)));
    bao.put_v2("shop/rot", &json!({"v": "rot-value-2"}));
    bao.put_v2("shop/rot-new", &json!({"v": "new"}));
    // Within the interval: every ExternalSecret still has its cached values and names.
    let out = secrets::resolve(&shop(), objects.clone(), &ctx).await;
    for name in ["every-5s", "once", "hourly"] {
        assert_eq!(
            text(&out, name, "v"),
            "rot-value-1",
            "{name} before its interval"
        );
    }
    assert_eq!(keys(&out, "find-every-5s"), ["shop_rot"]);
    // Past 5s (polled, bounded): only the 5s ones read and list again; 0 never does, 1h
    // not yet.
    let mut rotated = None;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let out = secrets::resolve(&shop(), objects.clone(), &ctx).await;
        if text(&out, "every-5s", "v") == "rot-value-2"
            && keys(&out, "find-every-5s") == ["shop_rot", "shop_rot-new"]
        {
            rotated = Some(out);
            break;
        }
    }
    let out = rotated.expect("the 5s ExternalSecrets read and list again after their interval");
    assert_eq!(text(&out, "once", "v"), "rot-value-1");
    assert_eq!(text(&out, "hourly", "v"), "rot-value-1");
    assert_eq!(keys(&out, "find-once"), ["shop_rot"]);
    assert_eq!(
        text(&out, "find-once", "shop_rot"),
        "{\"v\":\"rot-value-1\"}"
    );
    assert_eq!(
        text(&out, "find-every-5s", "shop_rot"),
        "{\"v\":\"rot-value-2\"}"
    );
    assert_no_plaintext(&out);
}
