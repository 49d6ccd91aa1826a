//! A `helm:` app's `valuesFrom` through `tether-agent run` against the API emulation: values
//! from a ConfigMap and a Secret read from the cluster, from a Secret in Git encrypted by the
//! real sops, a `targetPath` and an `optional` entry missing; a chart that writes a Secret's
//! value into a ConfigMap is refused (naming the object and field, never the value) and
//! nothing of that revision is applied; the agent's output never holds the values.

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hmac::Mac;
use support::{Agent, Cluster, EXAMPLE_RECIPIENT, Repo, Settings, WEBHOOK_SECRET, http, wait_for};
use tether_tests::bins;
use tether_tests::peers::{self, Process};

const PASSWORD: &str = "git-sops-pw-7d3e1a9c";
const TOKEN: &str = "cluster-token-4b8f2e6d";

const HELM_BLOCK: &str = "    helm:
      valuesFrom:
        - {kind: ConfigMap, name: web-settings}
        - {kind: Secret, name: db-values, path: ../../secrets/db-values.sops.yaml}
        - {kind: Secret, name: api-token, valuesKey: token, targetPath: api.token}
        - {kind: Secret, name: absent, optional: true}
";

fn chart_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/helm_values_from/chart")
            .join(name),
    )
    .expect("read a chart fixture")
}

fn sops_secret(dir: &Path) -> String {
    let file = dir.join("db-values.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-values\nstringData:\n  values.yaml: |\n    db:\n      password: {PASSWORD}\n"
        ),
    )
    .expect("write the plaintext for sops");
    let out = peers::sops_command()
        .args(["--encrypt", "--age", EXAMPLE_RECIPIENT])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .arg(&file)
        .output()
        .expect("run sops");
    std::fs::remove_file(&file).expect("remove the plaintext");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// `tether-agent run` with the `helm:` block in its app generator.
fn start_agent(cluster: &Cluster, repo: &Repo, dir: &Path) -> Agent {
    let (port, admin_port) = (peers::free_port(), peers::free_port());
    let identity = "agent-values-from";
    let config = support::write_config_with_admin(
        dir,
        identity,
        repo,
        (port, admin_port),
        Settings::default(),
    );
    let text = std::fs::read_to_string(&config).expect("read the config");
    let marker = "    createNamespace: true\n";
    assert!(text.contains(marker), "{text}");
    let text = text.replace(marker, &format!("{marker}{HELM_BLOCK}"));
    std::fs::write(&config, text).expect("write the config");
    let log = dir.join(format!("{identity}.log"));
    let mut cmd = Command::new(bins::tether_agent());
    cmd.arg("run")
        .arg("--config")
        .arg(&config)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(["--identity", identity])
        .env_remove("POD_NAME");
    let process = Process::spawn(identity, cmd, &log).expect("start tether-agent");
    peers::wait_for_port(port, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
    Agent {
        process,
        port,
        admin_port,
        log,
        identity: identity.into(),
        config,
    }
}

fn push(agent: &Agent) {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(body);
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let (code, _) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signature)],
        body,
    );
    assert_eq!(code, 202);
}

fn jsonpath(cluster: &Cluster, args: &[&str], path: &str) -> Option<String> {
    let expression = format!("jsonpath={path}");
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-n", "web", "-o", &expression]);
    let out = cluster.kubectl(&all);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn decoded(cluster: &Cluster, key: &str) -> Option<String> {
    let text = jsonpath(cluster, &["secret", "web-db"], &format!("{{.data.{key}}}"))?;
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).ok()?;
    String::from_utf8(bytes).ok()
}

#[test]
fn a_helm_app_reads_values_from_the_cluster_and_a_sops_secret_and_refuses_to_leak_them() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    cluster.ok(&["create", "namespace", "web"]);
    cluster.ok(&[
        "create",
        "configmap",
        "web-settings",
        "-n",
        "web",
        "--from-literal=values.yaml=replicas: 2",
    ]);
    let token = format!("--from-literal=token={TOKEN}");
    cluster.ok(&[
        "create",
        "secret",
        "generic",
        "api-token",
        "-n",
        "web",
        &token,
    ]);
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let files = [
        ("apps/web/Chart.yaml", chart_file("Chart.yaml")),
        ("apps/web/values.yaml", chart_file("values.yaml")),
        (
            "apps/web/templates/secret.yaml",
            chart_file("templates/secret.yaml"),
        ),
        (
            "apps/web/templates/configmap.yaml",
            chart_file("templates/configmap.yaml"),
        ),
        ("secrets/db-values.sops.yaml", sops_secret(dir.path())),
    ];
    for (path, text) in &files {
        repo.upstream.write(path, text).expect("write");
    }
    repo.upstream
        .commit("a chart with values from Secrets")
        .expect("commit");
    let agent = start_agent(&cluster, &repo, dir.path());
    wait_for("the chart's Secret", Duration::from_secs(60), || {
        decoded(&cluster, "token")
    });
    assert_eq!(
        decoded(&cluster, "password").as_deref(),
        Some(PASSWORD),
        "{}",
        agent.logs()
    );
    assert_eq!(decoded(&cluster, "token").as_deref(), Some(TOKEN));
    assert_eq!(
        jsonpath(&cluster, &["configmap", "web-config"], "{.data.replicas}").as_deref(),
        Some("2"),
        "the chart's ConfigMap, with the replicas from the cluster's ConfigMap"
    );

    // The chart now writes the password into a ConfigMap: the app is refused.
    let values = chart_file("values.yaml").replace("leak: false", "leak: true");
    repo.upstream
        .write("apps/web/values.yaml", &values)
        .expect("write");
    repo.upstream.commit("leak the password").expect("commit");
    push(&agent);
    let status = wait_for("the refusal", Duration::from_secs(60), || {
        let (_, body) = agent.get("/api/v1/apps/web");
        body.contains("carries a value read from a Secret")
            .then_some(body)
    });
    assert!(
        status.contains("ConfigMap web-config: field data.url"),
        "the object and field are named: {status}"
    );
    assert_eq!(
        jsonpath(&cluster, &["configmap", "web-config"], "{.data.url}"),
        None,
        "nothing of the refused revision is applied"
    );
    let mut emitted = agent.logs();
    emitted.push_str(&agent.get("/api/v1/apps").1);
    emitted.push_str(&status);
    emitted.push_str(&cluster.ok(&["get", "events", "-A", "-o", "json"]));
    emitted.push_str(&cluster.ok(&["get", "configmaps", "-A", "-o", "json"]));
    for secret in [PASSWORD, TOKEN] {
        assert!(!emitted.contains(secret), "a Secret's value was emitted");
        let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
        assert!(
            !emitted.contains(&encoded),
            "a Secret's value was emitted in base64"
        );
    }
}
