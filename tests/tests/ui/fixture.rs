//! The world of the UI tests: the API emulation with two users (alice of `shop-team` may
//! operate the shop apps; bob of `viewers` may read every app) and their RBAC, a git daemon
//! with a repository of staging and production overlays, a broken app, a sealed and a SOPS
//! Secret and an orphan, and `tether-agent run` syncing it.

use std::path::Path;
use std::time::Duration;

use hmac::Mac as _;
use tether_tests::peers;

use super::support::{self, Agent, Cluster, EXAMPLE_RECIPIENT, Repo, Settings, http, wait_for};

/// The sealed Secret's value.
pub const SEALED_VALUE: &str = "sealed-ui-value-4b8e2f1a9c60";
/// The SOPS Secret's value.
pub const SOPS_VALUE: &str = "sops-ui-value-7d3c9e5b1f82";
/// alice's token (group `shop-team`).
pub const ALICE: &str = "alice-token-0b1c2d3e4f5a6b7c";
/// bob's token (group `viewers`).
pub const BOB: &str = "bob-token-9a8b7c6d5e4f3a2b";

/// Every app of the repository.
pub const APPS: [&str; 4] = [
    "broken-production",
    "shop-production",
    "shop-staging",
    "vault-production",
];

const RBAC: &str = "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tether-app-viewer}
rules: [{apiGroups: [tether.dev], resources: [apps], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: tether-app-operator}
rules: [{apiGroups: [tether.dev], resources: [apps], verbs: [get, list, watch, patch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: viewers}
subjects: [{kind: Group, name: viewers, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: tether-app-viewer, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: shop-team, namespace: shop-staging}
subjects: [{kind: Group, name: shop-team, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: tether-app-operator, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: shop-team, namespace: shop-production}
subjects: [{kind: Group, name: shop-team, apiGroup: rbac.authorization.k8s.io}]
roleRef: {kind: ClusterRole, name: tether-app-operator, apiGroup: rbac.authorization.k8s.io}
";

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: registry.example/shop/web:1.0.0}
      - {name: cache, image: redis:7}
";

/// The RBAC objects, parsed (for the in-process emulation).
pub fn rbac_objects() -> Vec<serde_json::Value> {
    RBAC.split("\n---\n")
        .map(|doc| serde_saphyr::from_str(doc).expect("RBAC YAML"))
        .collect()
}

/// The production overlay, with `tag` for the web image (`None`: the base's).
pub fn production_overlay(tag: Option<&str>) -> String {
    match tag {
        None => "resources: [../../base]\n".to_owned(),
        Some(tag) => format!(
            "resources: [../../base]\nimages:\n- name: registry.example/shop/web\n  newTag: \"{tag}\"\n"
        ),
    }
}

fn sops_secret(dir: &Path) -> String {
    let file = dir.join("db.sops.yaml");
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {SOPS_VALUE}}}\n"
    );
    std::fs::write(&file, plain).expect("write the plaintext for sops");
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

fn write_repository(repo: &Repo, dir: &Path) {
    let files = [
        (
            "apps/shop/base/kustomization.yaml",
            "resources: [deployment.yaml]\n".to_owned(),
        ),
        ("apps/shop/base/deployment.yaml", DEPLOYMENT.to_owned()),
        (
            "apps/shop/overlays/staging/kustomization.yaml",
            "resources: [../../base]\nimages:\n- name: registry.example/shop/web\n  newTag: \"1.1.0\"\n"
                .to_owned(),
        ),
        (
            "apps/shop/overlays/production/kustomization.yaml",
            production_overlay(None),
        ),
        (
            "apps/broken/overlays/production/kustomization.yaml",
            "resources: [missing.yaml]\n".to_owned(),
        ),
        (
            "apps/vault/overlays/production/token.sealed.yaml",
            support::sealed("vault-production", "token", "token", SEALED_VALUE),
        ),
        ("apps/vault/overlays/production/db.sops.yaml", sops_secret(dir)),
        (
            "apps/vault/overlays/production/keep.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n  annotations: {tether.dev/prune: disabled}\ndata: {a: b}\n"
                .to_owned(),
        ),
    ];
    for (path, body) in files {
        repo.upstream.write(path, body).expect("write");
    }
    repo.upstream
        .commit("shop in staging and production, a broken app, two Secrets")
        .expect("commit");
}

/// The agent's settings: an app per overlay, named and placed by base and environment.
fn settings() -> Settings<'static> {
    Settings {
        apps: "apps/*/overlays/*",
        name: Some("{{path[1]}}-{{path.basename}}"),
        namespace: "{{path[1]}}-{{path.basename}}",
        ui: "",
        ..Settings::default()
    }
}

/// The running world.
pub struct World {
    pub agent: Agent,
    pub repo: Repo,
    pub cluster: Cluster,
    pub dir: tempfile::TempDir,
}

/// Signs a webhook body as the agents' generic webhook expects.
pub fn signed(body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(support::WEBHOOK_SECRET.as_bytes())
        .expect("key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl World {
    /// Starts everything and waits until every app's first sync is done.
    pub fn start() -> Self {
        let alice = format!("{ALICE}=alice:shop-team");
        let bob = format!("{BOB}=bob:viewers");
        let cluster = Cluster::start_with_args(&["--user-token", &alice, "--user-token", &bob]);
        for ns in ["tether-system", "shop-staging", "shop-production"] {
            cluster.ok(&["create", "namespace", ns]);
        }
        let rbac = cluster.dir.path().join("rbac.yaml");
        std::fs::write(&rbac, RBAC).expect("write RBAC");
        cluster.ok(&["apply", "-f", rbac.to_str().expect("UTF-8 path")]);
        let repo = Repo::start();
        let dir = tempfile::tempdir().expect("temporary folder");
        write_repository(&repo, dir.path());
        let agent = Agent::start_with(&cluster, &repo, dir.path(), "agent-ui", settings());
        let world = Self {
            agent,
            repo,
            cluster,
            dir,
        };
        world.wait_synced("the first syncs", |apps| {
            APPS.iter().all(|name| {
                apps.iter()
                    .any(|a| a["name"] == *name && a["sync"] != "Pending")
            })
        });
        world
    }

    /// Stops the agent (SIGTERM, waiting for its exit) and starts it again on new ports:
    /// its sessions are gone, what it keeps in the cluster is not.
    pub fn restart(&mut self) {
        self.agent.terminate();
        wait_for("the agent to stop", Duration::from_secs(30), || {
            self.agent.process.has_exited().then_some(())
        });
        self.agent = Agent::start_with(
            &self.cluster,
            &self.repo,
            self.dir.path(),
            "agent-ui",
            settings(),
        );
        self.wait_synced("the first round after the restart", |apps| {
            apps.iter()
                .any(|a| a["name"] == "shop-staging" && a["sync"] != "Pending")
        });
    }

    /// `/api/v1/apps`, as bob (a viewer of every namespace) sees it.
    pub fn apps(&self) -> Vec<serde_json::Value> {
        let (code, body) = self.with_token(BOB, "GET", "/api/v1/apps");
        if code != 200 {
            return Vec::new();
        }
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["apps"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits (bounded) until `done` holds for the apps' status.
    pub fn wait_synced(&self, what: &str, done: impl Fn(&[serde_json::Value]) -> bool) {
        wait_for(what, Duration::from_secs(90), || {
            let apps = self.apps();
            done(&apps).then_some(())
        });
    }

    /// Asks the agent for a round through its webhook.
    pub fn webhook(&self) {
        let body = br#"{"ref":"refs/heads/main"}"#;
        let (code, text) = http(
            self.agent.port,
            "POST",
            "/webhook/config",
            &[("X-Signature", &signed(body))],
            body,
        );
        assert_eq!(code, 202, "{text}");
    }

    /// A request to the agent with `token` as bearer.
    pub fn with_token(&self, token: &str, method: &str, path: &str) -> (u16, String) {
        http(
            self.agent.port,
            method,
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            b"",
        )
    }

    /// A ReplicaSet owned by the production web Deployment and a Pod owned by it, as the
    /// controllers would create them (the emulation runs no controllers).
    pub fn add_children(&self) {
        let uid = self.cluster.ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "shop-production",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        let rs = format!(
            "apiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: web-5d4f\n  namespace: shop-production\n  ownerReferences: [{{apiVersion: apps/v1, kind: Deployment, name: web, uid: \"{}\", controller: true}}]\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: web, image: registry.example/shop/web:1.0.0}}]}}\n",
            uid.trim()
        );
        let file = self.dir.path().join("rs.yaml");
        std::fs::write(&file, rs).expect("write");
        self.cluster
            .ok(&["apply", "-f", file.to_str().expect("UTF-8")]);
        let rs_uid = self.cluster.ok(&[
            "get",
            "replicaset",
            "web-5d4f",
            "-n",
            "shop-production",
            "-o",
            "jsonpath={.metadata.uid}",
        ]);
        let pod = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-5d4f-x7k2p\n  namespace: shop-production\n  ownerReferences: [{{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f, uid: \"{}\", controller: true}}]\nspec: {{containers: [{{name: web, image: registry.example/shop/web:1.0.0}}]}}\n",
            rs_uid.trim()
        );
        std::fs::write(&file, pod).expect("write");
        self.cluster
            .ok(&["apply", "-f", file.to_str().expect("UTF-8")]);
    }
}

/// The OpenID client's secret.
pub const OIDC_CLIENT_SECRET: &str = "oidc-client-secret-3c5e7a9b";

/// node-oidc-provider on a free loopback port (`tests/fixtures/ui/oidc-provider.mjs`, its
/// packages from `scripts/setup-peers`), stopped by PID when dropped.
pub struct OidcProvider {
    _process: peers::Process,
    pub issuer: String,
}

impl OidcProvider {
    pub fn start(dir: &Path, agent_port: u16) -> Self {
        let modules = peers::peers_bin_dir()
            .parent()
            .map(|venv| venv.join("lib/node/oidc/node_modules"))
            .expect("the venv");
        assert!(
            modules.is_dir(),
            "oidc-provider is missing: run scripts/setup-peers"
        );
        let home = dir.join("oidc");
        std::fs::create_dir_all(&home).expect("folder");
        let script = home.join("oidc-provider.mjs");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ui/oidc-provider.mjs"),
            &script,
        )
        .expect("copy the provider script");
        let link = home.join("node_modules");
        if !link.exists() {
            std::os::unix::fs::symlink(&modules, &link).expect("link node_modules");
        }
        let port = peers::free_port();
        let mut cmd = std::process::Command::new("node");
        cmd.arg(&script)
            .arg(port.to_string())
            .arg(format!("http://127.0.0.1:{agent_port}/oidc/callback"))
            .arg(OIDC_CLIENT_SECRET);
        let log = home.join("provider.log");
        let process = peers::Process::spawn("oidc-provider", cmd, &log).expect("start node");
        wait_for("the OpenID provider", Duration::from_secs(30), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("ready")
                .then_some(())
        });
        Self {
            _process: process,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }
}
