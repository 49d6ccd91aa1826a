//! Through the daemon, against the API emulation: the controller's key Secrets created with
//! kubectl, a Bitnami SealedSecret in Git (sealed by kubesealpy, with a
//! `spec.template`) becomes its Secret with the right values, and the plaintext appears nowhere
//! else (logs, status, other objects); the agent serves the newest key's certificate, which
//! `tether-seal kubeseal --cert URL` seals for.

use super::support::{self, Agent, Cluster, Repo, Settings};
use super::*;
use std::time::Duration;

const PASSWORD: &str = "daemon-bitnami-pw-8";

fn decoded(cluster: &Cluster, namespace: &str, name: &str, key: &str) -> Option<String> {
    use base64::Engine as _;
    let path = format!("{{.data.{}}}", key.replace('.', "\\."));
    let out = cluster.kubectl(&[
        "get",
        "secret",
        name,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={path}"),
    ]);
    let b64 = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || b64.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    String::from_utf8(bytes).ok()
}

/// Starts an agent whose config reads the controller's keys from `kube-system`.
fn start_agent(cluster: &Cluster, repo: &Repo, dir: &Path) -> Agent {
    let (port, admin_port) = (peers::free_port(), peers::free_port());
    let config = support::write_config_with_admin(
        dir,
        "agent-bitnami",
        repo,
        (port, admin_port),
        Settings::default(),
    );
    let text = std::fs::read_to_string(&config).unwrap();
    let keys_line = text
        .lines()
        .find(|l| l.starts_with("keys: {files: ["))
        .unwrap()
        .to_owned();
    let patched = keys_line.replace("]}", "], bitnami: {namespace: kube-system}}");
    std::fs::write(&config, text.replace(&keys_line, &patched)).unwrap();
    let log = dir.join("agent-bitnami.log");
    let mut cmd = Command::new(bins::tether_agent());
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .arg("--identity")
        .arg("agent-bitnami")
        .env_remove("POD_NAME");
    let process = peers::Process::spawn("agent-bitnami", cmd, &log).unwrap();
    peers::wait_for_port(port, Duration::from_secs(30)).unwrap_or_else(|e| {
        panic!(
            "the agent did not listen: {e}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    Agent {
        process,
        port,
        admin_port,
        log,
        identity: "agent-bitnami".into(),
        config,
    }
}

#[test]
fn a_bitnami_sealed_secret_in_git_becomes_its_secret_through_the_daemon() {
    let k = keys();
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    // The emulation has kube-system already, as a cluster does.
    cluster.ok(&["get", "namespace", "kube-system"]);
    // The controller's key as it keeps it: a labelled kubernetes.io/tls Secret.
    add_key_secret(&cluster, "sealed-secrets-keya", &k.a);
    let repo = Repo::start();
    let dir = tempfile::tempdir().unwrap();
    let mut sealed = yaml_to_json(&kubesealpy_seal(
        dir.path(),
        &k.a.cert(),
        "one",
        "db",
        "strict",
        &[("password", PASSWORD), ("user", "app")],
    ));
    sealed["spec"]["template"]["type"] = "kubernetes.io/basic-auth".into();
    sealed["spec"]["template"]["metadata"]["labels"] = json!({"tier": "db"});
    sealed["spec"]["template"]["data"] =
        json!({"url": "postgres://{{ .user }}:{{ .password }}@db"});
    repo.upstream
        .write(
            "apps/one/db.sealed.yaml",
            serde_saphyr::to_string(&sealed).unwrap(),
        )
        .unwrap();
    repo.upstream.commit("a Bitnami SealedSecret").unwrap();
    let agent = start_agent(&cluster, &repo, dir.path());

    support::wait_for("the unsealed Secret", Duration::from_secs(60), || {
        decoded(&cluster, "one", "db", "password")
    });
    assert_eq!(
        decoded(&cluster, "one", "db", "password").as_deref(),
        Some(PASSWORD),
        "{}",
        agent.logs()
    );
    assert_eq!(
        decoded(&cluster, "one", "db", "user").as_deref(),
        Some("app")
    );
    assert_eq!(
        decoded(&cluster, "one", "db", "url").as_deref(),
        Some(format!("postgres://app:{PASSWORD}@db").as_str())
    );
    let get = |path: &str| {
        cluster.ok(&[
            "get",
            "secret",
            "db",
            "-n",
            "one",
            "-o",
            &format!("jsonpath={path}"),
        ])
    };
    assert_eq!(get("{.type}"), "kubernetes.io/basic-auth");
    assert_eq!(get("{.metadata.labels.tier}"), "db");

    // The plaintext (and its base64) is nowhere else: logs, status, other objects.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    let (status, body) = agent.get("/api/v1/apps/one");
    assert_eq!(status, 200, "{body}");
    let others = cluster.ok(&["get", "configmaps,events", "-A", "-o", "yaml"]);
    let other_secrets = cluster.ok(&["get", "secrets", "-n", "tether-system", "-o", "yaml"]);
    for (what, text) in [
        ("logs", agent.logs()),
        ("status", body),
        ("other objects", others),
        ("agent Secrets", other_secrets),
    ] {
        assert!(
            !text.contains(PASSWORD) && !text.contains(&b64),
            "the value is in the {what}"
        );
    }
    // The SealedSecret itself is not applied (no CRD is needed).
    let inventory = cluster.ok(&["get", "configmaps", "-n", "tether-system", "-o", "yaml"]);
    assert!(!inventory.contains("bitnami.com"), "{inventory}");

    // The key's certificate is served; tether-seal seals for it by URL.
    let (status, cert) = agent.get("/api/v1/bitnami-cert");
    assert_eq!(status, 200);
    assert_eq!(cert, std::fs::read_to_string(k.a.cert()).unwrap());
    let url = format!("http://127.0.0.1:{}/api/v1/bitnami-cert", agent.port);
    let secret = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"web","namespace":"one"},"stringData":{"token":"by-url-9"}}"#;
    let out = kubeseal(&["--cert", &url], secret);
    assert!(out.status.success(), "{}", text(&out));
    let sealed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        kubesealpy_unseal(&k.a.key(), &sealed).unwrap(),
        vec![("token".into(), "by-url-9".into())]
    );

    // The controller renews its key while the agent runs: a SealedSecret sealed for the new
    // key unseals (the agent reads the key Secrets again), and the old one still does.
    add_key_secret(&cluster, "sealed-secrets-keyb", &k.b);
    let newer = kubesealpy_seal(
        dir.path(),
        &k.b.cert(),
        "one",
        "api",
        "strict",
        &[("token", "renewed-10")],
    );
    repo.upstream
        .write("apps/one/api.sealed.yaml", newer)
        .unwrap();
    repo.upstream.commit("sealed for the renewed key").unwrap();
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, _) = support::http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(body))],
        body,
    );
    assert_eq!(code, 202);
    support::wait_for(
        "the Secret sealed for the renewed key",
        Duration::from_secs(60),
        || decoded(&cluster, "one", "api", "token"),
    );
    assert_eq!(
        decoded(&cluster, "one", "api", "token").as_deref(),
        Some("renewed-10"),
        "{}",
        agent.logs()
    );
    assert_eq!(
        decoded(&cluster, "one", "db", "password").as_deref(),
        Some(PASSWORD)
    );
    assert!(!agent.logs().contains("renewed-10"));
    agent.terminate();
}

fn add_key_secret(cluster: &Cluster, name: &str, key: &Key) {
    cluster.ok(&[
        "create",
        "secret",
        "tls",
        name,
        "-n",
        "kube-system",
        "--cert",
        p(&key.cert()),
        "--key",
        p(&key.key()),
    ]);
    cluster.ok(&[
        "label",
        "secret",
        name,
        "-n",
        "kube-system",
        "sealedsecrets.bitnami.com/sealed-secrets-key=active",
    ]);
}

fn signed(body: &[u8]) -> String {
    use hmac::Mac as _;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
