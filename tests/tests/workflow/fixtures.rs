//! The config repository's files, the agent's settings, the secret stores, and what the
//! steps read back from the cluster and the agent.

use super::*;

/// The services of the config repository; `cache` is deleted in step 6.
pub(crate) const SERVICES: [&str; 3] = ["web", "api", "cache"];
/// The environments (overlays) of every service.
pub(crate) const ENVIRONMENTS: [&str; 2] = ["staging", "production"];
/// The SOPS-encrypted password (production) and the sealed token (staging).
pub(crate) const SOPS_PASSWORD: &str = "sops-db-password-4b1e9d";
pub(crate) const SEALED_TOKEN: &str = "sealed-api-token-c07a55";
/// The values OpenBao and moto hold for `api` in production, before and after rotation, and
/// the one an inline reference reads; the AWS credentials the test gives the app.
pub(crate) const BAO_PASSWORD: &str = "bao-api-password-5d2f81";
pub(crate) const BAO_ROTATED: &str = "bao-api-password-rotated-e94c10";
pub(crate) const MOTO_KEY: &str = "moto-api-key-7a3b62";
pub(crate) const MOTO_ROTATED: &str = "moto-api-key-rotated-1f08d4";
pub(crate) const INLINE_PASSWORD: &str = "bao-inline-password-93ce07";
pub(crate) const INLINE_ROTATED: &str = "bao-inline-password-rotated-27be4a";
pub(crate) const AWS_ACCESS_KEY_ID: &str = "AKIATETHERWORKFLOW01";
pub(crate) const AWS_SECRET_KEY: &str = "aws-secret-access-key-workflow-6b2e";
/// How long one step may take before the test fails.
pub(crate) const STEP: Duration = Duration::from_secs(90);

pub(crate) fn signed(body: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("an HMAC key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub(crate) fn base(service: &str) -> Vec<(String, String)> {
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
pub(crate) fn overlay(service: &str, env: &str, tag: &str, extra: &[&str]) -> String {
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

pub(crate) fn overlay_path(service: &str, env: &str) -> String {
    format!("apps/{service}/overlays/{env}/kustomization.yaml")
}

/// A Secret of namespace `production` encrypted by the real sops for the example key; the
/// plaintext goes through a temporary file outside the repository. The file carries the
/// namespace and the label the overlay sets, so that the overlay's transformers change
/// nothing the MAC covers (the agent does not read `mac_only_encrypted`).
pub(crate) fn sops_secret(dir: &std::path::Path) -> String {
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
pub(crate) fn start_agent(
    cluster: &Cluster,
    repo: &Repo,
    dir: &std::path::Path,
    stores: &Stores,
) -> Agent {
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
pub(crate) struct Stores {
    pub(crate) bao: peers::OpenBao,
    pub(crate) moto: peers::Moto,
    pub(crate) sm: aws_sdk_secretsmanager::Client,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) home: tempfile::TempDir,
}

impl Stores {
    pub(crate) fn start() -> Self {
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

    pub(crate) fn bao_command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(peers::peer_binary("bao"));
        cmd.args(args)
            .env("BAO_ADDR", &self.bao.address)
            .env("BAO_TOKEN", &self.bao.root_token)
            .env("HOME", self.home.path());
        cmd
    }

    /// Runs `bao ARGS` with `stdin`; returns its stdout, trimmed.
    pub(crate) fn bao(&self, args: &[&str], stdin: &str) -> String {
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
    pub(crate) fn put_password(&self, path: &str, password: &str) {
        let data = serde_json::json!({ "password": password }).to_string();
        self.bao(&["kv", "put", "-mount=secret", path, "-"], &data);
    }

    /// A token that may read `secret/data/production/*` and nothing else.
    pub(crate) fn production_token(&self) -> String {
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
    pub(crate) fn put_api_key(&self, name: &str, key: &str, create: bool) {
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
pub(crate) fn store_manifests(stores: &Stores) -> Vec<(&'static str, String)> {
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

pub(crate) fn app_status(agent: &Agent, name: &str) -> Option<serde_json::Value> {
    let (code, body) = agent.get(&format!("/api/v1/apps/{name}"));
    (code == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// Waits until the app synced `revision` successfully.
pub(crate) fn synced(agent: &Agent, app: &str, revision: &str) {
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

pub(crate) fn image(cluster: &Cluster, service: &str, env: &str) -> String {
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
pub(crate) fn webhook(agent: &Agent) -> Instant {
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

pub(crate) fn secret_value(cluster: &Cluster, name: &str, namespace: &str, key: &str) -> Vec<u8> {
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
pub(crate) fn secret_becomes(
    cluster: &Cluster,
    name: &str,
    namespace: &str,
    key: &str,
    expected: &str,
) {
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
pub(crate) fn everything_but_secrets(cluster: &Cluster) -> String {
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
