//! The agent as an operator runs it: `plan --offline` on the bundled example, configuration
//! errors, `deploy/` rendered and applied to the API emulation, and `tether-agent run` as
//! processes against the emulation and a git daemon: syncs, readiness, metrics, webhooks,
//! status, leader election, failover and shutdown.

#[path = "daemon/support.rs"]
mod support;

#[path = "daemon/deploy.rs"]
mod deploy;
#[path = "daemon/leader.rs"]
mod leader;
#[path = "daemon/offline.rs"]
mod offline;
#[path = "daemon/overlays.rs"]
mod overlays;
#[path = "daemon/rest.rs"]
mod rest;
#[path = "daemon/validation.rs"]
mod validation;

use std::time::Duration;

use hmac::Mac;
use support::{Agent, Cluster, Repo, Settings, http, wait_for};

/// The sealed token's values in the daemon test.
const TOKEN_BEFORE: &str = "sealed-token-value-before-7f3a";
const TOKEN_AFTER: &str = "sealed-token-value-after-91c2";

fn signed(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes())
        .expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The redaction mark of `value` under the installation's key (the Secret
/// `tether-redaction-key` the agent created): what every output of this installation shows.
fn installation_mark(cluster: &Cluster, value: &str) -> String {
    let text = cluster.ok(&[
        "get",
        "secret",
        "tether-redaction-key",
        "-n",
        "tether-system",
        "-o",
        "jsonpath={.data.key}",
    ]);
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text.trim())
        .expect("the redaction key is base64");
    assert_eq!(key.len(), 32, "the redaction key is 32 bytes");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("key");
    mac.update(value.as_bytes());
    format!(
        "<redacted hmac:{}>",
        hex::encode(&mac.finalize().into_bytes()[..4])
    )
}

fn app_status(agent: &Agent, name: &str) -> Option<serde_json::Value> {
    let (code, body) = agent.get(&format!("/api/v1/apps/{name}"));
    (code == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

#[test]
fn the_daemon_syncs_two_apps_serves_readiness_metrics_and_status_and_syncs_on_a_webhook() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    repo.upstream
        .write(
            "apps/two/token.sealed.yaml",
            support::sealed("two", "token", "token", TOKEN_BEFORE),
        )
        .expect("write");
    repo.upstream.commit("a sealed token").expect("commit");
    let agent = Agent::start(&cluster, &repo, dir.path(), "agent-a");
    let (code, body) = agent.get("/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    wait_for("readiness", Duration::from_secs(60), || {
        (agent.get("/readyz") == (200, "ready\n".to_owned()) && cluster.lease_holder() == "agent-a")
            .then_some(())
    });
    // Both apps synced into their namespaces.
    for app in ["one", "two"] {
        let value = cluster.ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            app,
            "-o",
            "jsonpath={.data.value}",
        ]);
        assert_eq!(value, app, "{}", agent.logs());
        let status = app_status(&agent, app).expect("the app's status");
        assert_eq!(status["sync"], "Succeeded", "{status}");
        assert_eq!(
            status["revision"].as_str().map(str::len),
            Some(40),
            "{status}"
        );
    }
    // The sealed token became a Secret; its value is nowhere else.
    let applied = cluster.ok(&[
        "get",
        "secret",
        "token",
        "-n",
        "two",
        "-o",
        "jsonpath={.data.token}",
    ]);
    assert_eq!(
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, applied.trim())
            .expect("base64"),
        TOKEN_BEFORE.as_bytes()
    );
    assert!(!agent.get("/api/v1/apps").1.contains(TOKEN_BEFORE));
    let status_map = cluster.ok(&[
        "get",
        "configmap",
        "tether-status-two",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]);
    assert!(
        status_map.contains("Succeeded") && !status_map.contains(TOKEN_BEFORE),
        "{status_map}"
    );
    // The metrics parse as OpenMetrics text and carry the documented names.
    let (code, metrics) = agent.get("/metrics");
    assert_eq!(code, 200);
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').expect("a sample line");
        assert!(value.parse::<f64>().is_ok(), "bad sample {line:?}");
        assert!(name.starts_with("tether_"), "unexpected metric {name}");
    }
    for name in [
        "tether_sync_total{app=\"one\",result=\"Succeeded\"} 1",
        "tether_sync_duration_seconds_count{app=\"two\"} 1",
        "tether_git_fetch_duration_seconds_count{source=\"config\"}",
        "tether_source_revision_info{source=\"config\",revision=\"",
        // Its ConfigMap and the Namespace `createNamespace` made.
        "tether_managed_objects{app=\"one\"} 2",
        "tether_drift_corrections_total{app=\"one\"} 0",
        "tether_prune_blocked_total{app=\"two\"} 0",
        "tether_orphaned_objects{app=\"one\"} 0",
        "tether_leader 1",
    ] {
        assert!(metrics.contains(name), "missing {name:?} in:\n{metrics}");
    }
    // `tether-agent status` reads the status back from the cluster.
    let out = std::process::Command::new(tether_tests::bins::tether_agent())
        .args(["status", "-n", "tether-system", "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .output()
        .expect("run status");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("APP") && lines[0].contains("REVISION") && lines[0].ends_with("AGE"),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("one ") && l.contains("Succeeded")),
        "{table}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("two ") && l.contains("Succeeded")),
        "{table}"
    );
    let one = std::process::Command::new(tether_tests::bins::tether_agent())
        .args(["status", "one", "-n", "tether-system", "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .output()
        .expect("run status");
    let one = String::from_utf8_lossy(&one.stdout);
    assert_eq!(one.lines().count(), 2, "{one}");
    let missing = std::process::Command::new(tether_tests::bins::tether_agent())
        .args(["status", "nope", "-n", "tether-system", "--kubeconfig"])
        .arg(&cluster.kubeconfig)
        .output()
        .expect("run status");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no status for app \"nope\""));
    // Events on the inventory ConfigMaps.
    let events = cluster.ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]);
    assert!(events.contains("SyncSucceeded"), "{events}");
    // A refused webhook triggers nothing; a signed one triggers a fetch at once (the poll
    // interval is an hour).
    repo.upstream
        .write("apps/one/extra.yaml", support::configmap("extra", "pushed"))
        .expect("write");
    repo.upstream.commit("add extra").expect("commit");
    let body = br#"{"ref":"refs/heads/main"}"#;
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", "sha256=00")],
        body,
    );
    assert_eq!(code, 401);
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(body))],
        body,
    );
    assert_eq!(code, 202);
    wait_for("the pushed object", Duration::from_secs(60), || {
        cluster
            .exists(&["configmap", "extra", "-n", "one"])
            .then_some(())
    });
    // An oversized webhook body is refused before verification.
    let big = vec![b' '; 2 * 1024 * 1024];
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(&big))],
        &big,
    );
    assert_eq!(code, 413);
    // `plan` against the cluster: what the next sync would do, changing nothing.
    repo.upstream
        .write(
            "apps/two/settings.yaml",
            support::configmap("settings", "changed"),
        )
        .expect("write");
    repo.upstream.remove("apps/one/extra.yaml").expect("remove");
    repo.upstream
        .write(
            "apps/two/token.sealed.yaml",
            support::sealed("two", "token", "token", TOKEN_AFTER),
        )
        .expect("write");
    let head = repo
        .upstream
        .commit("change two, drop extra")
        .expect("commit");
    let out = std::process::Command::new(tether_tests::bins::tether_agent())
        .arg("plan")
        .arg("--config")
        .arg(&agent.config)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .output()
        .expect("run plan");
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{plan}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "= unchanged ConfigMap one/settings",
        "~ update ConfigMap two/settings",
        "/data/value: \"two\" -> \"changed\"",
        "- prune ConfigMap one/extra",
        "~ update Secret two/token",
        &format!(
            "/data/token: \"{}\" -> \"{}\"",
            installation_mark(&cluster, TOKEN_BEFORE),
            installation_mark(&cluster, TOKEN_AFTER)
        ),
        &format!("app two (apps/two -> namespace two) at {head}"),
    ] {
        assert!(plan.contains(expected), "missing {expected:?} in:\n{plan}");
    }
    let value = cluster.ok(&[
        "get",
        "configmap",
        "settings",
        "-n",
        "two",
        "-o",
        "jsonpath={.data.value}",
    ]);
    assert_eq!(value, "two", "the plan changed the cluster");
    for secret in [TOKEN_BEFORE, TOKEN_AFTER] {
        assert!(
            !plan.contains(secret),
            "a plaintext leaked into the plan:\n{plan}"
        );
    }
    // An app whose directory leaves Git is pruned, but its PVC stays (orphaned, reported).
    let push = || {
        let (code, _) = http(
            agent.port,
            "POST",
            "/webhook/config",
            &[("X-Signature", &signed(body))],
            body,
        );
        assert_eq!(code, 202);
    };
    repo.upstream
        .write(
            "apps/one/data.yaml",
            "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n",
        )
        .expect("write");
    repo.upstream.commit("a volume for one").expect("commit");
    push();
    wait_for("the PVC of app one", Duration::from_secs(60), || {
        cluster
            .exists(&["persistentvolumeclaim", "data", "-n", "one"])
            .then_some(())
    });
    repo.upstream.remove("apps/one").expect("remove");
    repo.upstream.commit("app one leaves Git").expect("commit");
    push();
    wait_for("app one's objects pruned", Duration::from_secs(60), || {
        (!cluster.exists(&["configmap", "settings", "-n", "one"])).then_some(())
    });
    assert!(
        cluster.exists(&["persistentvolumeclaim", "data", "-n", "one"]),
        "the PVC of a removed app was deleted\n{}",
        agent.logs()
    );
    assert!(
        cluster.exists(&["configmap", "settings", "-n", "two"]),
        "the other app was touched"
    );
    wait_for("app one forgotten", Duration::from_secs(30), || {
        app_status(&agent, "one").is_none().then_some(())
    });
    let events = cluster.ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]);
    for reason in ["AppRemoved", "Orphaned"] {
        assert!(events.contains(reason), "no {reason} Event: {events}");
    }
    // The log level changes at run time, on the admin listener.
    let (code, _) = http(agent.admin_port, "PUT", "/debug/log-level", &[], b"debug");
    assert_eq!(code, 200);
    assert_eq!(
        agent.get_admin("/debug/log-level"),
        (200, "debug\n".to_owned())
    );
    let (code, _) = http(agent.admin_port, "PUT", "/debug/log-level", &[], b"[[[");
    assert_eq!(code, 400);
    // The agent's recipient, for sealing.
    let (code, recipient) = agent.get("/api/v1/recipient");
    assert_eq!((code, recipient.trim()), (200, support::EXAMPLE_RECIPIENT));
    // No secret and no webhook secret ever appears in the logs.
    let logs = agent.logs();
    for secret in [support::WEBHOOK_SECRET, TOKEN_BEFORE, TOKEN_AFTER] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
}

fn metric(agent: &Agent, sample: &str) -> Option<f64> {
    let (_, text) = agent.get("/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(sample))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn the_daemon_corrects_drift_reports_unresolvable_secrets_and_reloads_a_changed_config() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    let repo = Repo::start();
    repo.upstream
        .write(
            "apps/vaulted/external.yaml",
            "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: db\nspec:\n  secretStoreRef: {kind: ClusterSecretStore, name: vault}\n  target: {name: db}\n  data:\n    - secretKey: password\n      remoteRef: {key: secret/data/vaulted/db, property: password}\n",
        )
        .expect("write");
    repo.upstream
        .commit("a secret from a store that is down")
        .expect("commit");
    // A Vault that does not answer: nothing listens on this port.
    let closed = tether_tests::peers::free_port();
    let stores = format!(
        "secretStores:\n  - apiVersion: external-secrets.io/v1\n    kind: ClusterSecretStore\n    metadata: {{name: vault}}\n    spec:\n      provider:\n        vault:\n          server: http://127.0.0.1:{closed}\n          path: secret\n          version: v2\n          auth: {{tokenSecretRef: {{name: vault-token, key: token, namespace: tether-system}}}}\n"
    );
    let dir = tempfile::tempdir().expect("temporary folder");
    let settings = Settings {
        apps: "apps/*",
        extra: &stores,
        ..Settings::default()
    };
    let agent = Agent::start_with(&cluster, &repo, dir.path(), "agent-a", settings);
    wait_for("readiness", Duration::from_secs(60), || {
        (agent.get("/readyz") == (200, "ready\n".to_owned())).then_some(())
    });
    // The unresolvable Secret fails its app, with the reason, and only that app.
    let vaulted = app_status(&agent, "vaulted").expect("status of vaulted");
    assert_eq!(vaulted["sync"], "Failed", "{vaulted}");
    assert_eq!(vaulted["reason"], "SecretResolveFailed", "{vaulted}");
    assert_eq!(vaulted["health"], "Degraded", "{vaulted}");
    // Where the Secret comes from (store, path, key), though it could not be read.
    assert_eq!(vaulted["secrets"][0]["name"], "db", "{vaulted}");
    assert_eq!(
        vaulted["secrets"][0]["store"],
        "ClusterSecretStore vault: secret/data/vaulted/db#password (read again every 1h)",
        "{vaulted}"
    );
    assert_eq!(vaulted["secrets"][0]["readAt"], "", "never read: {vaulted}");
    assert_eq!(vaulted["secrets"][0]["file"], "apps/vaulted/external.yaml");
    assert_eq!(app_status(&agent, "one").expect("one")["sync"], "Succeeded");
    let (_, text) = agent.get("/metrics");
    assert!(
        text.contains(
            "tether_secret_resolve_errors_total{store=\"ClusterSecretStore tether-system/vault\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("tether_sync_total{app=\"vaulted\",result=\"SecretResolveFailed\"} 1"),
        "{text}"
    );
    let events = cluster.ok(&[
        "get",
        "events.events.k8s.io",
        "-n",
        "tether-system",
        "-o",
        "json",
    ]);
    assert!(events.contains("SecretResolveFailed"), "{events}");
    // Drift: a deleted object comes back, and the correction is counted.
    cluster.ok(&["delete", "configmap", "settings", "-n", "one"]);
    wait_for("the drift correction", Duration::from_secs(60), || {
        (metric(&agent, "tether_drift_corrections_total{app=\"one\"}") == Some(1.0)).then_some(())
    });
    assert!(cluster.exists(&["configmap", "settings", "-n", "one"]));
    wait_for(
        "the DriftCorrected Event on the object",
        Duration::from_secs(30),
        || {
            let events = cluster.ok(&["get", "events.events.k8s.io", "-n", "one", "-o", "json"]);
            events.contains("DriftCorrected").then_some(())
        },
    );
    wait_for("the status to count it", Duration::from_secs(30), || {
        app_status(&agent, "one")
            .filter(|s| s["driftCorrections"] == 1)
            .map(|_| ())
    });
    // A changed config file is reloaded: only app `one` is left.
    write_config_again(
        &agent,
        &repo,
        Settings {
            apps: "apps/one",
            extra: &stores,
            ..Settings::default()
        },
    );
    wait_for("the reload", Duration::from_secs(60), || {
        let (_, apps) = agent.get("/api/v1/apps");
        let apps: serde_json::Value = serde_json::from_str(&apps).ok()?;
        let names: Vec<String> = apps["apps"]
            .as_array()?
            .iter()
            .filter_map(|a| a["name"].as_str().map(str::to_owned))
            .collect();
        (names == ["one"]).then_some(())
    });
    // An invalid config is refused and the running one kept.
    std::fs::write(&agent.config, "sources: [{name: x, url: y, bogus: 1}]\n").expect("write");
    wait_for("the refusal in the log", Duration::from_secs(30), || {
        agent
            .logs()
            .contains("keeping the running one")
            .then_some(())
    });
    assert_eq!(agent.get("/healthz").0, 200);
    assert!(app_status(&agent, "one").is_some());
    // SIGHUP reloads too (the invalid file is refused a second time).
    let refusals = agent.logs().matches("keeping the running one").count();
    agent.signal("-HUP");
    wait_for("the SIGHUP reload", Duration::from_secs(30), || {
        (agent.logs().matches("keeping the running one").count() > refusals).then_some(())
    });
    // SIGUSR1 toggles debug logs.
    agent.signal("-USR1");
    wait_for("debug logs", Duration::from_secs(30), || {
        (agent.get_admin("/debug/log-level").1 == "debug\n").then_some(())
    });
    agent.signal("-USR1");
    wait_for(
        "the configured level again",
        Duration::from_secs(30),
        || (agent.get_admin("/debug/log-level").1 == "info\n").then_some(()),
    );
}

fn write_config_again(agent: &Agent, repo: &Repo, settings: Settings<'_>) {
    let dir = agent.config.parent().expect("a folder");
    let path = support::write_config(dir, &agent.identity, repo, agent.port, settings);
    assert_eq!(path, agent.config);
}
