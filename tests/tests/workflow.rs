//! The GitOps workflow end to end: a gitops-config repository (`apps/<service>/base` with
//! `overlays/staging` and `overlays/production`) served by `git daemon`, and `tether-agent
//! run` as a process against the API emulation. One long test, in labelled steps: a staging
//! update by webhook, promotion to production, a failing pre-sync migration that keeps the
//! old version, `git revert`, a manual edit reverted by drift correction, a service
//! directory deleted (its PVC kept), Secrets from OpenBao and moto (ExternalSecrets with the
//! app's own SecretStores, an inline reference through the agent's store) and their rotation,
//! and the values of all four sources (SOPS, sealed, OpenBao, Secrets Manager) in the cluster
//! and nowhere else. Each step's latency is printed (never asserted).

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
/// The values OpenBao and moto hold for `api` in production, before and after rotation, and
/// the one an inline reference reads; the AWS credentials the test gives the app.
const BAO_PASSWORD: &str = "bao-api-password-5d2f81";
const BAO_ROTATED: &str = "bao-api-password-rotated-e94c10";
const MOTO_KEY: &str = "moto-api-key-7a3b62";
const MOTO_ROTATED: &str = "moto-api-key-rotated-1f08d4";
const INLINE_PASSWORD: &str = "bao-inline-password-93ce07";
const INLINE_ROTATED: &str = "bao-inline-password-rotated-27be4a";
const AWS_ACCESS_KEY_ID: &str = "AKIATETHERWORKFLOW01";
const AWS_SECRET_KEY: &str = "aws-secret-access-key-workflow-6b2e";
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

/// The agent: every `apps/*/overlays/*` is an app named `SERVICE-ENV` in the namespace `ENV`;
/// inline `ref+vault://` references read OpenBao with the token in the Secret
/// `tether-system/inline-bao-token`.
fn start_agent(cluster: &Cluster, repo: &Repo, dir: &std::path::Path, stores: &Stores) -> Agent {
    let extra = format!(
        "inlineRefresh: 2s
inlineStores:
  - apiVersion: external-secrets.io/v1
    kind: ClusterSecretStore
    metadata: {{name: inline-openbao}}
    spec:
      provider:
        vault:
          server: \"{bao}\"
          path: secret
          version: v2
          auth: {{tokenSecretRef: {{name: inline-bao-token, key: token}}}}
",
        bao = stores.bao.address
    );
    let settings = Settings {
        apps: "apps/*/overlays/*",
        name: Some("{{path[1]}}-{{path[3]}}"),
        namespace: "{{path[3]}}",
        extra: &extra,
        ..Settings::default()
    };
    Agent::start_with(cluster, repo, dir, "workflow", settings)
}

/// OpenBao (seeded through its CLI as root) and moto (seeded through the AWS SDK), both
/// stopped by PID when dropped.
struct Stores {
    bao: peers::OpenBao,
    moto: peers::Moto,
    sm: aws_sdk_secretsmanager::Client,
    runtime: tokio::runtime::Runtime,
    home: tempfile::TempDir,
}

impl Stores {
    fn start() -> Self {
        let bao = peers::OpenBao::start().expect("start OpenBao");
        let moto = peers::Moto::start().expect("start moto");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let sm = runtime.block_on(async {
            use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
            let config = aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .endpoint_url(&moto.endpoint)
                .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
                .load()
                .await;
            aws_sdk_secretsmanager::Client::new(&config)
        });
        let stores = Self {
            bao,
            moto,
            sm,
            runtime,
            home: tempfile::tempdir().expect("temporary folder"),
        };
        // OpenBao listens slightly before its `secret/` mount is there.
        wait_for("the KV mount of OpenBao", STEP, || {
            let out = stores.bao_command(&["secrets", "list"]).output().ok()?;
            String::from_utf8_lossy(&out.stdout)
                .contains("secret/")
                .then_some(())
        });
        stores.bao(
            &["policy", "write", "production-reader", "-"],
            "path \"secret/data/production/*\" { capabilities = [\"read\"] }\n",
        );
        stores
    }

    fn bao_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(peers::peer_binary("bao"));
        cmd.args(args)
            .env("BAO_ADDR", &self.bao.address)
            .env("BAO_TOKEN", &self.bao.root_token)
            .env("HOME", self.home.path());
        cmd
    }

    /// Runs `bao ARGS` with `stdin`; returns its stdout, trimmed.
    fn bao(&self, args: &[&str], stdin: &str) -> String {
        use std::io::Write as _;
        use std::process::Stdio;
        let mut child = self
            .bao_command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run bao");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("bao");
        assert!(
            out.status.success(),
            "bao {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes the KV v2 secret `secret/PATH` with one `password` (from stdin, never argv).
    fn put_password(&self, path: &str, password: &str) {
        let data = serde_json::json!({ "password": password }).to_string();
        self.bao(&["kv", "put", "-mount=secret", path, "-"], &data);
    }

    /// A token that may read `secret/data/production/*` and nothing else.
    fn production_token(&self) -> String {
        self.bao(
            &[
                "token",
                "create",
                "-policy=production-reader",
                "-ttl=1h",
                "-field=token",
            ],
            "",
        )
    }

    /// Creates, or gives a new current version to, the Secrets Manager secret `name` holding
    /// `{"apiKey": key}`.
    fn put_api_key(&self, name: &str, key: &str, create: bool) {
        let value = serde_json::json!({ "apiKey": key }).to_string();
        self.runtime.block_on(async {
            if create {
                self.sm
                    .create_secret()
                    .name(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| format!("{e:?}"))
            } else {
                self.sm
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value)
                    .send()
                    .await
                    .map(drop)
                    .map_err(|e| format!("{e:?}"))
            }
            .unwrap_or_else(|e| panic!("moto {name}: {e:?}"));
        });
    }
}

/// The overlay files of `api` in production that read OpenBao and moto: the app's own
/// SecretStores (credentials in Secrets of the namespace, which the test creates), two
/// ExternalSecrets refreshed every 2 s, and a Secret with an inline reference.
fn store_manifests(stores: &Stores) -> Vec<(&'static str, String)> {
    vec![
        (
            "stores.yaml",
            format!(
                "apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: openbao
spec:
  provider:
    vault:
      server: {bao}
      path: secret
      version: v2
      auth:
        tokenSecretRef:
          name: bao-token
          key: token
---
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: moto
spec:
  provider:
    aws:
      service: SecretsManager
      region: us-east-1
      endpoint: {moto}
      auth:
        secretRef:
          accessKeyIDSecretRef:
            name: aws-credentials
            key: access-key-id
          secretAccessKeySecretRef:
            name: aws-credentials
            key: secret-access-key
",
                bao = stores.bao.address,
                moto = stores.moto.endpoint
            ),
        ),
        (
            "external.yaml",
            "apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: api-vault
spec:
  refreshInterval: 2s
  secretStoreRef:
    name: openbao
    kind: SecretStore
  target:
    name: api-vault
  data:
  - secretKey: password
    remoteRef:
      key: production/api
      property: password
---
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: api-aws
spec:
  refreshInterval: 2s
  secretStoreRef:
    name: moto
    kind: SecretStore
  target:
    name: api-aws
  data:
  - secretKey: apiKey
    remoteRef:
      key: production/api-key
      property: apiKey
"
            .to_owned(),
        ),
        (
            "inline.yaml",
            "apiVersion: v1
kind: Secret
metadata:
  name: api-inline
type: Opaque
stringData:
  password: ref+vault://secret/data/production/inline#/password
"
            .to_owned(),
        ),
    ]
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

/// Waits until the Secret `namespace/name` holds `expected` under `key`.
fn secret_becomes(cluster: &Cluster, name: &str, namespace: &str, key: &str, expected: &str) {
    wait_for(
        &format!("{namespace}/{name} to hold its value"),
        STEP,
        || {
            let out = cluster.kubectl(&[
                "get",
                "secret",
                name,
                "-n",
                namespace,
                "-o",
                &format!("jsonpath={{.data.{key}}}"),
            ]);
            let data = String::from_utf8_lossy(&out.stdout);
            let value =
                base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data.trim())
                    .ok()?;
            (out.status.success() && value == expected.as_bytes()).then_some(())
        },
    );
}

/// Every object of the cluster but Secrets, in all namespaces, as JSON.
fn everything_but_secrets(cluster: &Cluster) -> String {
    let kinds: Vec<String> = cluster
        .ok(&["api-resources", "--verbs=list", "-o", "name"])
        .lines()
        .map(str::trim)
        .filter(|k| !k.is_empty() && *k != "secrets")
        .map(str::to_owned)
        .collect();
    assert!(
        kinds.iter().any(|k| k == "configmaps") && kinds.iter().any(|k| k.starts_with("events")),
        "the kinds listed: {kinds:?}"
    );
    cluster.ok(&["get", &kinds.join(","), "-A", "-o", "json"])
}

#[test]
fn the_gitops_workflow_runs_from_commit_to_cluster() {
    let cluster = Cluster::start();
    cluster.ok(&["create", "namespace", "tether-system"]);
    // OpenBao and moto hold the values of `api` in production (read from step 7 on). The
    // tokens and AWS keys only go to the cluster, as Secrets the test creates.
    let stores = Stores::start();
    stores.put_password("production/api", BAO_PASSWORD);
    stores.put_password("production/inline", INLINE_PASSWORD);
    stores.put_api_key("production/api-key", MOTO_KEY, true);
    let app_token = stores.production_token();
    let agent_token = stores.production_token();
    cluster.ok(&[
        "create",
        "secret",
        "generic",
        "inline-bao-token",
        "-n",
        "tether-system",
        &format!("--from-literal=token={agent_token}"),
    ]);
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
    let agent = start_agent(&cluster, &repo, dir.path(), &stores);
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

    // The SOPS and sealed Secrets are in the cluster with their values from the start (the
    // plaintext checks are in step 9).
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

    // Step 7: `api` in production reads OpenBao and moto through its own SecretStores, whose
    // credentials are Secrets of its namespace (created here, never in Git), and OpenBao
    // through the agent's inline store.
    for args in [
        vec![
            "bao-token".to_owned(),
            format!("--from-literal=token={app_token}"),
        ],
        vec![
            "aws-credentials".to_owned(),
            format!("--from-literal=access-key-id={AWS_ACCESS_KEY_ID}"),
            format!("--from-literal=secret-access-key={AWS_SECRET_KEY}"),
        ],
    ] {
        let mut all = vec!["create", "secret", "generic", "-n", "production"];
        all.extend(args.iter().map(String::as_str));
        cluster.ok(&all);
    }
    let files = store_manifests(&stores);
    for (file, text) in &files {
        up.write(&format!("apps/api/overlays/production/{file}"), text)
            .expect("write");
    }
    let names: Vec<&str> = files.iter().map(|(file, _)| *file).collect();
    up.write(
        &overlay_path("api", "production"),
        overlay("api", "production", "1.0.0", &names),
    )
    .expect("write");
    let external = up
        .commit("api reads OpenBao and Secrets Manager")
        .expect("commit");
    let sent = webhook(&agent);
    secret_becomes(
        &cluster,
        "api-vault",
        "production",
        "password",
        BAO_PASSWORD,
    );
    secret_becomes(&cluster, "api-aws", "production", "apiKey", MOTO_KEY);
    secret_becomes(
        &cluster,
        "api-inline",
        "production",
        "password",
        INLINE_PASSWORD,
    );
    table.push(("7. OpenBao and moto secrets synced", sent.elapsed()));
    synced(&agent, "api-production", &external);
    // All four sources in the cluster at once, with their values.
    for (name, namespace, key, value) in [
        ("db", "production", "password", SOPS_PASSWORD),
        ("token", "staging", "token", SEALED_TOKEN),
        ("api-vault", "production", "password", BAO_PASSWORD),
        ("api-aws", "production", "apiKey", MOTO_KEY),
        ("api-inline", "production", "password", INLINE_PASSWORD),
    ] {
        assert_eq!(
            secret_value(&cluster, name, namespace, key),
            value.as_bytes(),
            "{namespace}/{name}"
        );
    }

    // Step 8: new values in OpenBao and moto (and behind the inline reference) reach the
    // cluster within the refresh interval.
    let rotated = Instant::now();
    stores.put_password("production/api", BAO_ROTATED);
    stores.put_api_key("production/api-key", MOTO_ROTATED, false);
    stores.put_password("production/inline", INLINE_ROTATED);
    secret_becomes(&cluster, "api-vault", "production", "password", BAO_ROTATED);
    secret_becomes(&cluster, "api-aws", "production", "apiKey", MOTO_ROTATED);
    secret_becomes(
        &cluster,
        "api-inline",
        "production",
        "password",
        INLINE_ROTATED,
    );
    table.push(("8. rotation in OpenBao, moto and inline", rotated.elapsed()));
    let status = app_status(&agent, "api-production").expect("the status of api-production");
    assert_eq!(status["sync"], "Succeeded", "{status}");
    assert_eq!(status["revision"], external.as_str(), "{status}");

    // Step 9: the plaintexts (and the store credentials) appear nowhere but in the Secrets:
    // not in the agent's log, its API and metrics, any object of the cluster but a Secret,
    // the files it wrote, or the repository.
    let mut places = vec![
        ("agent log".to_owned(), agent.logs()),
        ("metrics".to_owned(), agent.get("/metrics").1),
        (
            "cluster objects".to_owned(),
            everything_but_secrets(&cluster),
        ),
    ];
    for path in ["/api/v1/apps".to_owned(), "/api/v1/recipient".to_owned()]
        .into_iter()
        .chain(
            ["web", "api"]
                .iter()
                .flat_map(|s| ENVIRONMENTS.map(|env| format!("/api/v1/apps/{s}-{env}"))),
        )
    {
        let (code, body) = agent.get(&path);
        assert_eq!(code, 200, "{path}: {body}");
        places.push((path, body));
    }
    let cache = dir.path().join("cache-workflow");
    for (path, bytes) in tether_tests::files_under(&cache) {
        places.push((
            path.display().to_string(),
            String::from_utf8_lossy(&bytes).into_owned(),
        ));
    }
    let plaintexts = [
        SOPS_PASSWORD,
        SEALED_TOKEN,
        BAO_PASSWORD,
        BAO_ROTATED,
        MOTO_KEY,
        MOTO_ROTATED,
        INLINE_PASSWORD,
        INLINE_ROTATED,
        AWS_ACCESS_KEY_ID,
        AWS_SECRET_KEY,
        &app_token,
        &agent_token,
    ];
    for (name, text) in &places {
        for plain in plaintexts {
            assert!(!text.contains(plain), "{name} holds a plaintext");
            for encoded in tether_tests::memory::base64_forms(plain) {
                assert!(
                    !text.contains(&encoded),
                    "{name} holds a plaintext in base64"
                );
            }
        }
    }
    // The same search finds the values where they belong.
    let secrets = cluster.ok(&["get", "secrets", "-A", "-o", "json"]);
    for plain in [
        SOPS_PASSWORD,
        SEALED_TOKEN,
        BAO_ROTATED,
        MOTO_ROTATED,
        INLINE_ROTATED,
        AWS_SECRET_KEY,
        &app_token,
    ] {
        assert!(
            tether_tests::memory::base64_forms(plain)
                .iter()
                .any(|e| secrets.contains(e)),
            "the search does not find a value in the Secrets"
        );
    }
    for plain in plaintexts {
        let grep = up
            .git()
            .args(["grep", "-I", "-q", "-F", "-e", plain, "--", "."])
            .status()
            .expect("run git grep");
        assert_eq!(grep.code(), Some(1), "the repository holds a plaintext");
    }
    let objects = &places[2].1;
    for read in [
        "tether-status-api-production",
        "tether-inventory-api-production",
        "Orphaned",
        "SyncSucceeded",
    ] {
        assert!(
            objects.contains(read),
            "{read} was not among the objects read"
        );
    }
    assert!(places.len() > 8, "the agent's files were read");

    eprintln!("\nstep                                latency");
    for (step, took) in &table {
        eprintln!("{step:<36}{took:>10.2?}");
    }
}
