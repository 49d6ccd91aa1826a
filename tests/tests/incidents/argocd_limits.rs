//! Argo CD: bounded fetches and renders, webhooks, and what the daemon shows.

use super::*;

/// CVE-2023-40584 (GHSA-g687-f2gx-6wm8), CVE-2024-29893 (GHSA-jhwx-mhww-rgc3) and
/// GHSA-jhqp-vf4w-rpwq: unbounded archives, indexes and manifests exhausted memory and disk. A
/// repository over the size limit is refused, a server that never answers is cut by the
/// timeout, and files and renders are capped.
#[tokio::test]
async fn cve_2024_29893_fetches_files_and_renders_are_bounded() {
    use tether_tests::gitserver::{GitDaemon, Upstream};
    let dir = tempfile::tempdir().expect("temporary folder");
    let upstream = Upstream::create(dir.path(), "config").expect("upstream");
    let mut noise = Vec::with_capacity(300_000);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..300_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push((x & 0xff) as u8);
    }
    upstream.write("big.bin", &noise).expect("write");
    upstream.commit("big").expect("commit");
    let daemon = GitDaemon::start(dir.path()).expect("git daemon");
    let mut config = source_config(
        &daemon.url("config.git"),
        dir.path().join("cache-size"),
        tether_agent::source::DEFAULT_TIMEOUT,
    );
    config.max_bytes = 100_000;
    let err = Source::new(config)
        .sync()
        .await
        .expect_err("over the size limit");
    assert_eq!(err.reason(), "SizeLimitExceeded", "{err}");

    // A server that accepts and never answers.
    let silent = SilentServer::start();
    let config = source_config(
        &format!("http://127.0.0.1:{}/config.git", silent.port),
        dir.path().join("cache-hang"),
        Duration::from_secs(2),
    );
    let err = Source::new(config)
        .sync()
        .await
        .expect_err("cut by the timeout");
    assert_eq!(err.reason(), "FetchTimeout", "{err}");
    assert!(silent.connections() > 0, "the fetch never connected");
    drop(silent);

    // Files over the per-file cap, and renders over the document cap.
    let agent = Agent::start().await;
    let big = "a".repeat(9 * 1024 * 1024);
    let many: String = (0..10_001)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n---\n"))
        .collect();
    let l = layout(&[
        ("big/kustomization.yaml", "resources:\n- big.yaml\n"),
        (
            "big/big.yaml",
            &format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big}}\ndata: {{v: {big}}}\n"
            ),
        ),
        ("many/many.yaml", &many),
    ]);
    for app in ["big", "many"] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Render, "{app}: {message}");
        assert!(
            message.contains("limit") || message.contains("budget"),
            "{app}: {message}"
        );
    }
}

/// The ApplicationSet SCM-provider warning (credentials sent to URLs taken from tenant
/// objects): a SecretStore in an app's manifests can name any server, so it may not make the
/// agent authenticate as itself there. The server it names is never contacted.
#[tokio::test]
async fn applicationset_scm_provider_an_apps_store_never_receives_the_agents_credentials() {
    let agent = Agent::start().await;
    let silent = SilentServer::start();
    let port = silent.port;
    let external = |store: &str, provider: &str| {
        format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: {store}\nspec:\n  provider:\n{provider}\n---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {store}-db\nspec:\n  secretStoreRef: {{name: {store}}}\n  target: {{name: {store}-db}}\n  data:\n  - secretKey: password\n    remoteRef: {{key: {APP_NS}/db, property: password}}\n"
        )
    };
    let vault = format!(
        "    vault:\n      server: http://127.0.0.1:{port}\n      path: secret\n      auth:\n        kubernetes: {{role: shop}}\n"
    );
    let aws = format!(
        "    aws:\n      service: SecretsManager\n      region: us-east-1\n      endpoint: http://127.0.0.1:{port}\n"
    );
    let l = layout(&[
        ("vault/store.yaml", &external("collector", &vault)),
        ("aws/store.yaml", &external("collector", &aws)),
    ]);
    for (app, field) in [
        ("vault", "spec.provider.vault.auth.kubernetes"),
        ("aws", "spec.provider.aws.endpoint"),
    ] {
        let (stage, message) = refused(&agent, app, &l, app).await;
        assert_eq!(stage, Stage::Secrets, "{app}: {message}");
        assert!(message.contains(field), "{app}: {message}");
    }
    assert_eq!(silent.connections(), 0, "the app's server was contacted");
}

/// GO-2024-3002 and CVE-2025-59537: unauthenticated webhook endpoints were a way to stall
/// the controller. A webhook needs its signature, and an oversized body is refused before
/// any work on it.
#[tokio::test]
async fn go_2024_3002_webhooks_need_a_signature_and_a_bounded_body() {
    use hmac::Mac as _;
    use tether_agent::source::webhook::{WebhookAuth, verify};
    let auth = WebhookAuth::Generic {
        header: "X-Signature".into(),
        secret: tether_agent::source::credentials::SecretText::new("webhook-3002".to_owned()),
    };
    let body = br#"{"ref":"refs/heads/main"}"#;
    let sign = |body: &[u8]| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"webhook-3002").expect("key");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    assert!(verify(&auth, &[], body).is_err(), "no signature");
    let wrong = sign(b"another body");
    assert!(verify(&auth, &[("x-signature", wrong.as_bytes())], body).is_err());
    let good = sign(body);
    assert!(verify(&auth, &[("x-signature", good.as_bytes())], body).is_ok());
    let huge = vec![b' '; 2 * 1024 * 1024];
    let signed_huge = sign(&huge);
    let err = verify(&auth, &[("x-signature", signed_huge.as_bytes())], &huge)
        .expect_err("over the size limit");
    assert!(err.to_string().contains("limit"), "{err}");
}

/// CVE-2022-24730 (GHSA-r9cr-hvjj-496v; an API endpoint rendered out-of-bounds files),
/// CVE-2025-55190 (GHSA-786q-9hcg-v9ff; API tokens read repository credentials) and
/// GO-2024-2877 (a cache without integrity holding manifests): the running daemon serves no
/// file by path, and neither its API, metrics, Events, status, logs nor anything it writes to
/// disk holds the webhook secret or a decrypted value.
#[test]
fn cve_2022_24730_cve_2025_55190_go_2024_2877_the_daemon_shows_no_file_credential_or_plaintext() {
    let cluster = support::Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = support::Repo::start();
    let value = "daemon-plaintext-55190";
    repo.upstream
        .write(
            "apps/one/secret.yaml",
            support::sealed("one", "db", "password", value),
        )
        .expect("write");
    repo.upstream.commit("a sealed Secret").expect("commit");
    let dir = tempfile::tempdir().expect("temporary folder");
    let agent = support::Agent::start(&cluster, &repo, dir.path(), "agent-a");
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !cluster.exists(&["secret", "db", "-n", "one"]) {
        assert!(
            std::time::Instant::now() < deadline,
            "no decrypted Secret: {}\n{}\n{}",
            agent.logs(),
            agent.get("/api/v1/apps").1,
            cluster.ok(&["get", "events", "-A"])
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for path in [
        "/api/v1/apps/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/apps/../../../../etc/passwd",
        "/api/v1/apps/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/apps/one/../../../../../etc/passwd",
        "/../../../../etc/passwd",
        "/api/v1/apps?path=../../../../etc/passwd",
    ] {
        let (code, body) = agent.get(path);
        assert!(!body.contains("root:"), "{path} served a file: {body}");
        if path.contains("?path=") {
            assert!(!body.contains("passwd"), "{path}: {body}");
        } else {
            assert!((400..500).contains(&code), "{path}: {code} {body}");
        }
    }
    let mut shown = String::new();
    for path in [
        "/api/v1/apps",
        "/api/v1/apps/one",
        "/api/v1/apps/two",
        "/metrics",
        "/api/v1/recipient",
        "/readyz",
    ] {
        let (code, body) = agent.get(path);
        assert_eq!(code, 200, "{path}: {body}");
        shown.push_str(&body);
    }
    shown.push_str(&cluster.ok(&["get", "events", "-A", "-o", "json"]));
    shown.push_str(&cluster.ok(&["get", "configmaps", "-A", "-o", "json"]));
    shown.push_str(&agent.logs());
    let encoded = base64::engine::general_purpose::STANDARD.encode(value);
    for secret in [support::WEBHOOK_SECRET, value, encoded.as_str()] {
        assert!(!shown.contains(secret), "{secret} is shown");
    }
    // On disk: everything under the agent's folder (cache, config, logs) but the webhook
    // secret file the test wrote itself.
    let files = tether_tests::files_under(dir.path());
    assert!(
        files.len() > 3,
        "the agent wrote almost nothing: {} files",
        files.len()
    );
    for (file, bytes) in files.iter().filter(|(f, _)| !f.ends_with("webhook-secret")) {
        let text = String::from_utf8_lossy(bytes);
        for secret in [value, encoded.as_str()] {
            assert!(!text.contains(secret), "{} holds {secret}", file.display());
        }
    }
    agent.terminate();
}
