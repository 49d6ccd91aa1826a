//! The GitOps workflow end to end: a gitops-config repository (`apps/<service>/base` with
//! `overlays/staging` and `overlays/production`) served by `git daemon`, and `tether-agent
//! run` as a process against the API emulation. One long test, in labelled steps: a staging
//! update by webhook, promotion to production, a failing pre-sync migration that keeps the
//! old version, `git revert`, a manual edit reverted by drift correction, a service
//! directory deleted (its PVC kept), and SOPS and sealed Secrets that reach the cluster and
//! nowhere else. Each step's latency is printed (never asserted).

#[path = "daemon/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::{Duration, Instant};

use hmac::Mac;
use support::{Agent, Cluster, Repo, Settings, WEBHOOK_SECRET, http, wait_for};
use tether_tests::peers;

/// The services of the config repository; `cache` is deleted in step 6.
const SERVICES: [&str; 3] = ["web", "api", "cache"];
/// The environments (overlays) of every service.
const ENVIRONMENTS: [&str; 2] = ["staging", "production"];
/// The SOPS-encrypted password (production) and the sealed token (staging).
const SOPS_PASSWORD: &str = "sops-db-password-4b1e9d";
const SEALED_TOKEN: &str = "sealed-api-token-c07a55";
/// How long one step may take before the test fails.
const STEP: Duration = Duration::from_secs(90);

fn signed(body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("an HMAC key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn base(service: &str) -> Vec<(String, String)> {
    let dir = format!("apps/{service}/base");
    vec![
        (
            format!("{dir}/kustomization.yaml"),
            "resources:\n- deployment.yaml\n- service.yaml\n- pvc.yaml\n".to_owned(),
        ),
        (
            format!("{dir}/deployment.yaml"),
            format!(
                "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {service}
  labels:
    app: {service}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {service}
  template:
    metadata:
      labels:
        app: {service}
    spec:
      containers:
      - name: {service}
        image: ghcr.io/acme/{service}:1.0.0
        env:
        - name: MODE
          value: normal
"
            ),
        ),
        (
            format!("{dir}/service.yaml"),
            format!(
                "apiVersion: v1
kind: Service
metadata:
  name: {service}
spec:
  selector:
    app: {service}
  ports:
  - port: 80
    targetPort: 8080
"
            ),
        ),
        (
            format!("{dir}/pvc.yaml"),
            format!(
                "apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {service}-data
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
"
            ),
        ),
    ]
}

/// An overlay's kustomization: namespace, an `env` label, the image tag, more resources.
fn overlay(service: &str, env: &str, tag: &str, extra: &[&str]) -> String {
    let mut resources = "- ../../base\n".to_owned();
    for r in extra {
        resources.push_str(&format!("- {r}\n"));
    }
    format!(
        "namespace: {env}
resources:
{resources}labels:
- pairs:
    env: {env}
  includeSelectors: false
images:
- name: ghcr.io/acme/{service}
  newTag: {tag}
"
    )
}

fn overlay_path(service: &str, env: &str) -> String {
    format!("apps/{service}/overlays/{env}/kustomization.yaml")
}

/// A Secret of namespace `production` encrypted by the real sops for the example key; the
/// plaintext goes through a temporary file outside the repository. The file carries the
/// namespace and the label the overlay sets, so that the overlay's transformers change
/// nothing the MAC covers (the agent does not read `mac_only_encrypted`).
fn sops_secret(dir: &std::path::Path) -> String {
    let plain = dir.join("db.yaml");
    std::fs::write(
        &plain,
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: production\n  labels:\n    env: production\ntype: Opaque\nstringData:\n  password: {SOPS_PASSWORD}\n"
        ),
    )
    .expect("write the plaintext");
    let out = peers::sops_command()
        .args(["--encrypt", "--age", support::EXAMPLE_RECIPIENT])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .arg(&plain)
        .output()
        .expect("run sops");
    std::fs::remove_file(&plain).expect("remove the plaintext");
    assert!(
        out.status.success(),
        "sops: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(!text.contains(SOPS_PASSWORD));
    text
}

/// The agent: every `apps/*/overlays/*` is an app named `SERVICE-ENV` in the namespace `ENV`.
fn start_agent(cluster: &Cluster, repo: &Repo, dir: &std::path::Path) -> Agent {
    let settings = Settings {
        apps: "apps/*/overlays/*",
        name: Some("{{path[1]}}-{{path[3]}}"),
        namespace: "{{path[3]}}",
        ..Settings::default()
    };
    Agent::start_with(cluster, repo, dir, "workflow", settings)
}

fn app_status(agent: &Agent, name: &str) -> Option<serde_json::Value> {
    let (code, body) = agent.get(&format!("/api/v1/apps/{name}"));
    (code == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// Waits until the app synced `revision` successfully.
fn synced(agent: &Agent, app: &str, revision: &str) {
    let deadline = Instant::now() + STEP;
    loop {
        let status = app_status(agent, app);
        if let Some(s) = &status
            && s["sync"] == "Succeeded"
            && s["revision"] == revision
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{app} did not sync {revision}: {status:?}\n{}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn image(cluster: &Cluster, service: &str, env: &str) -> String {
    let out = cluster.kubectl(&[
        "get",
        "deployment",
        service,
        "-n",
        env,
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Calls the signed webhook; returns when it was accepted.
fn webhook(agent: &Agent) -> Instant {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let sent = Instant::now();
    let (code, answer) = http(
        agent.port,
        "POST",
        "/webhook/config",
        &[("X-Signature", &signed(body))],
        body,
    );
    assert!((200..300).contains(&code), "webhook: {code} {answer}");
    sent
}

fn secret_value(cluster: &Cluster, name: &str, namespace: &str, key: &str) -> Vec<u8> {
    let data = cluster.ok(&[
        "get",
        "secret",
        name,
        "-n",
        namespace,
        "-o",
        &format!("jsonpath={{.data.{key}}}"),
    ]);
    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data.trim()).expect("base64")
}

#[test]
fn the_gitops_workflow_runs_from_commit_to_cluster() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    // The repository of the support module starts with `apps/one` and `apps/two`, which the
    // glob `apps/*/overlays/*` does not match.
    let repo = Repo::start();
    let dir = tempfile::tempdir().expect("temporary folder");
    let up = &repo.upstream;
    for service in SERVICES {
        for (path, text) in base(service) {
            up.write(&path, text).expect("write");
        }
        for env in ENVIRONMENTS {
            let extra: &[&str] = match (service, env) {
                ("web", "production") => &["db.sops.yaml"],
                ("web", "staging") => &["token.sealed.yaml"],
                _ => &[],
            };
            up.write(
                &overlay_path(service, env),
                overlay(service, env, "1.0.0", extra),
            )
            .expect("write");
        }
    }
    up.write(
        "apps/web/overlays/production/db.sops.yaml",
        sops_secret(dir.path()),
    )
    .expect("write");
    up.write(
        "apps/web/overlays/staging/token.sealed.yaml",
        support::sealed("staging", "token", "token", SEALED_TOKEN),
    )
    .expect("write");
    let first = up
        .commit("three services, two environments")
        .expect("commit");
    let mut table: Vec<(&str, Duration)> = Vec::new();

    // Step 0: the agent syncs every app of the repository.
    let started = Instant::now();
    let agent = start_agent(&cluster, &repo, dir.path());
    for service in SERVICES {
        for env in ENVIRONMENTS {
            synced(&agent, &format!("{service}-{env}"), &first);
            assert_eq!(
                image(&cluster, service, env),
                format!("ghcr.io/acme/{service}:1.0.0")
            );
        }
    }
    table.push(("initial sync of 6 apps", started.elapsed()));

    // Step 7 (checked first, the plaintext checks are at the end): both Secrets are in the
    // cluster with their values.
    assert_eq!(
        secret_value(&cluster, "db", "production", "password"),
        SOPS_PASSWORD.as_bytes(),
        "{}",
        agent.logs()
    );
    assert_eq!(
        secret_value(&cluster, "token", "staging", "token"),
        SEALED_TOKEN.as_bytes()
    );

    // Step 1: CI commits a new image tag to staging and calls the webhook.
    up.write(
        &overlay_path("web", "staging"),
        overlay("web", "staging", "1.1.0", &["token.sealed.yaml"]),
    )
    .expect("write");
    let ci = up.commit("ci: web 1.1.0 to staging").expect("commit");
    let sent = webhook(&agent);
    wait_for("web 1.1.0 in staging", STEP, || {
        (image(&cluster, "web", "staging") == "ghcr.io/acme/web:1.1.0").then_some(())
    });
    let latency = sent.elapsed();
    eprintln!("webhook to image visible in staging: {latency:?}");
    table.push(("1. staging update (webhook)", latency));
    synced(&agent, "web-production", &ci);
    assert_eq!(
        image(&cluster, "web", "production"),
        "ghcr.io/acme/web:1.0.0"
    );

    // Step 2: promotion copies the tag to production.
    up.write(
        &overlay_path("web", "production"),
        overlay("web", "production", "1.1.0", &["db.sops.yaml"]),
    )
    .expect("write");
    let promoted = up
        .commit("promote web 1.1.0 to production")
        .expect("commit");
    let sent = webhook(&agent);
    wait_for("web 1.1.0 in production", STEP, || {
        (image(&cluster, "web", "production") == "ghcr.io/acme/web:1.1.0").then_some(())
    });
    table.push(("2. promotion to production", sent.elapsed()));
    synced(&agent, "web-production", &promoted);

    // Step 3: a failing pre-sync migration keeps the old version running.
    up.write(
        "apps/web/overlays/production/migrate.yaml",
        "apiVersion: batch/v1
kind: Job
metadata:
  name: web-migrate
  annotations:
    tether.dev/hook: pre-sync
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: ghcr.io/acme/web-migrate:1.2.0
",
    )
    .expect("write");
    up.write(
        &overlay_path("web", "production"),
        overlay(
            "web",
            "production",
            "1.2.0",
            &["db.sops.yaml", "migrate.yaml"],
        ),
    )
    .expect("write");
    let migration = up.commit("web 1.2.0 with a migration").expect("commit");
    let sent = webhook(&agent);
    wait_for("the migration Job", STEP, || {
        cluster
            .exists(&["job", "web-migrate", "-n", "production"])
            .then_some(())
    });
    cluster.ok(&[
        "patch",
        "job",
        "web-migrate",
        "-n",
        "production",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Failed","status":"True"}]}}"#,
    ]);
    let failed = wait_for("the hook failure in the app's status", STEP, || {
        let s = app_status(&agent, "web-production")?;
        (s["reason"] == "HookFailed").then_some(s)
    });
    table.push(("3. failing pre-sync hook reported", sent.elapsed()));
    assert_ne!(failed["sync"], "Succeeded", "{failed}");
    wait_for("the HookFailed Event", STEP, || {
        let events = cluster.ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "tether-system",
            "-o",
            "json",
        ]);
        events.contains("HookFailed").then_some(())
    });
    assert_eq!(failed["revision"], migration.as_str(), "{failed}");
    assert_eq!(
        image(&cluster, "web", "production"),
        "ghcr.io/acme/web:1.1.0",
        "the old version keeps running"
    );

    // Step 4: `git revert` of that commit syncs back to the previous state.
    tether_tests::gitserver::run(up.git().args(["revert", "--no-edit", "HEAD"])).expect("revert");
    tether_tests::gitserver::run(up.git().args([
        "push",
        "-q",
        "--force",
        "origin",
        "HEAD:refs/heads/main",
    ]))
    .expect("push");
    let reverted = up.head().expect("head");
    let sent = webhook(&agent);
    synced(&agent, "web-production", &reverted);
    table.push(("4. revert synced", sent.elapsed()));
    assert_eq!(
        image(&cluster, "web", "production"),
        "ghcr.io/acme/web:1.1.0"
    );

    // Step 5: a manual edit of a label Tether set is reverted by drift correction.
    let edited = Instant::now();
    cluster.ok(&[
        "patch",
        "deployment",
        "web",
        "-n",
        "production",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"env":"edited-by-hand"}}}"#,
    ]);
    let label = || {
        cluster
            .ok(&[
                "get",
                "deployment",
                "web",
                "-n",
                "production",
                "-o",
                "jsonpath={.metadata.labels.env}",
            ])
            .trim()
            .to_owned()
    };
    wait_for("the manual edit reverted", STEP, || {
        (label() == "production").then_some(())
    });
    table.push(("5. drift corrected", edited.elapsed()));
    wait_for("the drift correction counted", STEP, || {
        let s = app_status(&agent, "web-production")?;
        (s["driftCorrections"].as_u64() >= Some(1)).then_some(())
    });

    // Step 6: deleting a service's directory prunes its objects and keeps its PVC.
    up.remove("apps/cache").expect("remove");
    up.commit("retire the cache service").expect("commit");
    let sent = webhook(&agent);
    for env in ENVIRONMENTS {
        wait_for(&format!("cache pruned from {env}"), STEP, || {
            (!cluster.exists(&["deployment", "cache", "-n", env])
                && !cluster.exists(&["service", "cache", "-n", env]))
            .then_some(())
        });
    }
    table.push(("6. service directory pruned", sent.elapsed()));
    for env in ENVIRONMENTS {
        assert!(
            cluster.exists(&["pvc", "cache-data", "-n", env]),
            "the PVC of {env} is kept"
        );
    }
    wait_for("the Orphaned Event", STEP, || {
        let events = cluster.ok(&[
            "get",
            "events.events.k8s.io",
            "-n",
            "tether-system",
            "-o",
            "json",
        ]);
        (events.contains("Orphaned") && events.contains("cache-data")).then_some(())
    });
    assert!(
        cluster.exists(&["deployment", "web", "-n", "production"]),
        "the other services stay"
    );
    wait_for("the status of the removed apps gone", STEP, || {
        ENVIRONMENTS
            .iter()
            .all(|env| agent.get(&format!("/api/v1/apps/cache-{env}")).0 == 404)
            .then_some(())
    });

    // Step 7: the plaintexts appear nowhere but in the Secrets.
    let mut places = vec![
        ("agent log", agent.logs()),
        ("/api/v1/apps", agent.get("/api/v1/apps").1),
    ];
    for kind in ["configmaps", "events.events.k8s.io", "events"] {
        for namespace in ["tether-system", "staging", "production"] {
            places.push((
                "cluster objects",
                cluster.ok(&["get", kind, "-n", namespace, "-o", "json"]),
            ));
        }
    }
    for (name, text) in &places {
        for plain in [SOPS_PASSWORD, SEALED_TOKEN] {
            let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, plain);
            assert!(
                !text.contains(plain) && !text.contains(&encoded),
                "{name} holds a plaintext"
            );
        }
    }
    for plain in [SOPS_PASSWORD, SEALED_TOKEN] {
        let grep = up
            .git()
            .args(["grep", "-I", "-q", "-F", "-e", plain, "--", "."])
            .status()
            .expect("run git grep");
        assert_eq!(grep.code(), Some(1), "the repository holds a plaintext");
    }
    assert!(
        places[2].1.contains("tether-status-web-production"),
        "the status ConfigMaps were read"
    );

    eprintln!("\nstep                                latency");
    for (step, took) in &table {
        eprintln!("{step:<36}{took:>10.2?}");
    }
}
