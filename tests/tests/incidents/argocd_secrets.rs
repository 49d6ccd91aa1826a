//! Argo CD: tenancy, and secret values and credentials in errors and annotations.

use super::*;

/// CVE-2022-24768 (GHSA-2f5v-8r3f-8pww): push access to a repository let a tenant write
/// objects anywhere. The default policy confines an app to its target namespace; nothing of
/// the app is applied.
#[tokio::test]
async fn cve_2022_24768_an_app_cannot_write_outside_its_namespace() {
    let agent = Agent::start().await;
    let l = layout(&[
        ("app/ok.yaml", &configmap("ok")),
        (
            "app/escape.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: kube-system\ndata:\n  v: x\n",
        ),
    ]);
    let (stage, message) = refused(&agent, "tenant", &l, "app").await;
    assert_eq!(stage, Stage::Policy, "{message}");
    assert!(message.contains("kube-system"), "{message}");
    assert!(
        agent
            .server
            .object("configmaps", "kube-system", "planted")
            .is_none()
    );
    assert!(
        agent.server.object("configmaps", APP_NS, "ok").is_none(),
        "half applied"
    );
}

/// CVE-2021-23135 (GHSA-fp89-h8pj-8894): an invalid Secret was echoed into errors and logs. An
/// invalid Secret is refused with its object and field named and none of its values, by the
/// stages and by the API server alike.
#[tokio::test]
async fn cve_2021_23135_an_invalid_secret_is_refused_without_its_values() {
    let agent = Agent::start().await;
    let values = ["int-secret-23135-value", "not base64 23135-token!"];
    let l = layout(&[(
        "app/secret.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {}\n  port: 5432\ndata:\n  token: {}\n",
            values[0], values[1]
        ),
    )]);
    let (_, message) = refused(&agent, "invalid-secret", &l, "app").await;
    for value in values {
        assert!(
            !message.contains(value),
            "the error shows {value:?}: {message}"
        );
    }
    assert!(message.contains("db"), "names no object: {message}");
    // Straight to the engine: the API server's own refusal is masked too.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "stringData": {"password": values[0], "port": 5432}, "data": {"token": values[1]}});
    let result = agent
        .engine
        .sync(
            &AppSpec::new("invalid-secret", APP_NS),
            "rev-1",
            vec![secret],
        )
        .await;
    let error = result
        .error
        .as_ref()
        .expect("the API server refuses it")
        .to_string();
    let report = format!("{error} {:?}", result.changes);
    for value in values {
        assert!(
            !report.contains(value),
            "the sync shows {value:?}: {report}"
        );
    }
}

/// CVE-2025-23216 (GHSA-47g2-qmh2-749v, GHSA-274v-mgcv-cm8j): patch errors on Secrets were not
/// scrubbed. An admission webhook that denies the Secret and quotes the request back (as JSON,
/// with escaped characters) gives a failed sync whose error and change set hold hashes only.
#[tokio::test]
async fn cve_2025_23216_a_rejected_secret_apply_gives_a_redacted_error() {
    let agent = Agent::start().await;
    agent.server.faults().deny_writes("secrets");
    let value = "denied-23216 \"quoted\"\nsecond line";
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "stringData": {"password": value}});
    let result = agent
        .engine
        .sync(&AppSpec::new("denied", APP_NS), "rev-1", vec![secret])
        .await;
    let error = result
        .error
        .as_ref()
        .expect("the webhook denies it")
        .to_string();
    let report = format!(
        "{error} {:?} {}",
        result.changes,
        serde_json::to_string(&result.changes).unwrap_or_default()
    );
    assert!(report.contains("denied the request"), "{report}");
    let escaped = serde_json::to_string(value).expect("json");
    let base64 = base64::engine::general_purpose::STANDARD.encode(value);
    for shown in ["denied-23216", &escaped[1..escaped.len() - 1], &base64] {
        assert!(
            !report.contains(shown),
            "the error shows {shown:?}: {report}"
        );
    }
    assert!(report.contains("<redacted"), "nothing was masked: {report}");
}

/// CVE-2026-42880 (GHSA-3v3m-wc6v-x4x3) and CVE-2026-43824: server-side diffs returned Secret
/// data in clear, and the mask could be spoofed by a value that looked like the mask. Diffs of
/// Secrets show hashes; a value equal to the shown hash is a change like any other.
#[tokio::test]
async fn cve_2026_42880_secret_diffs_are_hashes_and_a_mask_cannot_pass_for_the_value() {
    let agent = Agent::start().await;
    let spec = AppSpec::new("diffs", APP_NS);
    // As the secrets stage hands Secrets to the engine: values in `data`.
    let secret = |v: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"password": base64::engine::general_purpose::STANDARD.encode(v)}})
    };
    let first = agent
        .engine
        .sync(&spec, "rev-1", vec![secret("value-one-42880")])
        .await;
    assert!(first.is_success(), "{:?}", first.error);
    let second = agent
        .engine
        .sync(&spec, "rev-2", vec![secret("value-two-42880")])
        .await;
    assert!(second.is_success(), "{:?}", second.error);
    let change = &second.changes.changes[0];
    assert_eq!(change.action, Action::Configured);
    let shown = serde_json::to_string(&second.changes).expect("json");
    for value in ["value-one-42880", "value-two-42880"] {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        assert!(!shown.contains(value) && !shown.contains(&b64), "{shown}");
    }
    let mask = change
        .diff
        .iter()
        .find_map(|d| d.after.clone())
        .unwrap_or_else(|| panic!("no mask in the diff: {change:?}"));
    assert!(mask.contains("redacted"), "{mask}");
    // Git now holds the mask itself: a change, applied, not taken for the value it masks.
    let third = agent.engine.sync(&spec, "rev-3", vec![secret(&mask)]).await;
    assert!(third.is_success(), "{:?}", third.error);
    assert_eq!(third.changes.changes[0].action, Action::Configured);
    let live = agent
        .server
        .object("secrets", APP_NS, "db")
        .expect("the Secret");
    let stored = live
        .pointer("/data/password")
        .and_then(Value::as_str)
        .expect("data");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .expect("base64");
    assert_eq!(decoded, mask.as_bytes());
}

/// CVE-2023-40029 (GHSA-fwr2-64vr-xv9m) and Sealed Secrets 0.8.3: Secret bodies leaked through the
/// `last-applied-configuration` annotation. Tether applies server-side and drops the
/// annotation from every Secret, and the sealing library drops it before sealing.
#[tokio::test]
async fn cve_2023_40029_no_secret_carries_a_last_applied_configuration() {
    let agent = Agent::start().await;
    let dir = tempfile::tempdir().expect("temporary folder");
    cases::copy_dir(&good_app().join("good-web"), &dir.path().join("app")).expect("copy");
    let sealed_path = dir.path().join("app/secret.sealed.yaml");
    let sealed = std::fs::read_to_string(&sealed_path).expect("read");
    let leaky = r#"{"stringData":{"password":"corpus-test-password"}}"#;
    let sealed = sealed.replace(
        "  scope: strict\n",
        &format!(
            "  scope: strict\n  template:\n    metadata:\n      annotations:\n        kubectl.kubernetes.io/last-applied-configuration: '{leaky}'\n"
        ),
    );
    std::fs::write(&sealed_path, sealed).expect("write");
    match agent.run("web", dir.path(), "app").await {
        Outcome::Synced(result) => assert!(result.is_success()),
        Outcome::Failed(stage, message) => panic!("{stage:?}: {message}"),
    }
    let live = agent
        .server
        .object("secrets", APP_NS, "web-db")
        .expect("the Secret");
    let metadata = serde_json::to_string(&live["metadata"]).expect("json");
    assert!(!metadata.contains("last-applied"), "{metadata}");
    assert!(!metadata.contains("corpus-test-password"), "{metadata}");

    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: '{leaky}'\nstringData:\n  password: corpus-test-password\n"
    );
    let secret = tether_seal::sealed::UnsealedSecret::from_manifest(&manifest, "db.yaml")
        .expect("the manifest reads");
    let identity = tether_seal::keys::Identity::generate();
    let out = tether_seal::sealed::seal(
        &secret,
        &[identity.recipient()],
        tether_seal::sealed::Scope::Strict,
    )
    .expect("seal")
    .to_yaml()
    .expect("yaml");
    assert!(
        !out.contains("last-applied") && !out.contains("corpus-test-password"),
        "{out}"
    );
}

/// CVE-2023-25163 (GHSA-mv6w-j4xc-qpfw): repository credentials appeared in error messages and
/// logs. A failed fetch with a password in the URL, and with a password from a file, shows
/// neither.
#[tokio::test]
async fn cve_2023_25163_repository_credentials_never_appear_in_errors() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let closed = tether_tests::peers::free_port();
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, "file-pa55word-25163").expect("write");
    let user_file = dir.path().join("user");
    std::fs::write(&user_file, "git").expect("write");
    for (url, files) in [
        (
            format!("http://git:url-pa55word-25163@127.0.0.1:{closed}/config.git"),
            false,
        ),
        (format!("http://127.0.0.1:{closed}/config.git"), true),
    ] {
        let mut config = source_config(&url, dir.path().join("cache"), Duration::from_secs(20));
        if files {
            config.credentials =
                tether_agent::source::Credentials::load(&tether_agent::source::CredentialFiles {
                    username: Some(user_file.clone()),
                    password: Some(password_file.clone()),
                    ..Default::default()
                })
                .expect("credentials load");
        }
        let mut source = Source::new(config);
        let err = source.sync().await.expect_err("nothing listens there");
        let shown = format!(
            "{err} {err:?} {:?} {}",
            source.status(),
            source.config().url
        );
        for secret in ["url-pa55word-25163", "file-pa55word-25163"] {
            assert!(!shown.contains(secret), "{secret} shown: {shown}");
        }
    }
}
