//! The stages before and including apply, run on one app directory the way the agent runs
//! them: render, secrets, policy (the default bundle), sync against the API server emulation.
//! The first stage that fails ends the run and gives its error message.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use kube::{Client, Config};
use serde_json::{Value, json};
use tether_agent::policy::{AppMeta, AppObject, PolicyConfig, PolicySet, SecretSource};
use tether_agent::render::{RenderOptions, render};
use tether_agent::secrets::{
    self, AppContext, Desired, KeyRing, SecretOrigin, SecretsContext, StaticCredentials, Stores,
};
use tether_agent::sync::{AppSpec, Engine, EngineConfig, SyncResult};
use tether_agent::tree::{FsTree, RelPath, Tree};
use tether_tests::apiserver::ApiServer;

use super::cases::Stage;

/// The agent's namespace in these tests.
pub const AGENT_NS: &str = "tether-system";
/// The namespace every app targets.
pub const APP_NS: &str = "shop";

/// How one run ended.
#[derive(Debug)]
pub enum Outcome {
    /// A stage refused the input with this message.
    Failed(Stage, String),
    /// Every stage passed and the sync succeeded.
    Synced(Box<SyncResult>),
}

/// The shared pieces: the cluster, an engine, the agent's keys and the policy set.
pub struct Agent {
    pub server: ApiServer,
    pub engine: Engine,
    pub secrets: SecretsContext,
    pub policies: Arc<PolicySet>,
}

/// The test cluster's age key (a key made for these tests, in the corpus).
pub fn cluster_key() -> std::path::PathBuf {
    super::cases::corpus_root().join("keys/cluster.agekey")
}

pub fn client_for(server: &ApiServer) -> Client {
    let config = Config::new(server.url().parse().expect("the server URL parses"));
    Client::try_from(config).expect("build a kube client")
}

pub fn engine_config() -> EngineConfig {
    EngineConfig {
        namespace: AGENT_NS.into(),
        health_timeout: Duration::ZERO,
        health_poll: Duration::from_millis(50),
        crd_timeout: Duration::from_secs(5),
        ..EngineConfig::default()
    }
}

impl Agent {
    pub async fn start() -> Self {
        let server = ApiServer::start()
            .await
            .expect("start the API server emulation");
        for ns in [AGENT_NS, APP_NS, "bank"] {
            server
                .put_object(
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                )
                .expect("create a namespace");
        }
        let engine = Engine::new(client_for(&server), engine_config());
        let mut keys = KeyRing::new();
        keys.add_file(&cluster_key())
            .expect("the corpus's cluster key loads");
        let mut stores = Stores::new(Arc::new(StaticCredentials::new()));
        // Inline references resolve against a Vault that is not running: every read that the
        // allow-list lets through fails to connect (on the loopback address only).
        stores
            .set_inline_store(
                &json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
                    "metadata": {"name": "inline-vault"},
                    "spec": {"provider": {"vault": {"server": "http://127.0.0.1:9", "path": "secret",
                        "version": "v2", "auth": {"tokenSecretRef": {"name": "vault-token",
                            "namespace": AGENT_NS, "key": "token"}}}}}}),
                AGENT_NS,
            )
            .expect("the inline store parses");
        stores
            .set_inline_store(
                &json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
                    "metadata": {"name": "inline-aws"},
                    "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
                        "endpoint": "http://127.0.0.1:9", "auth": {"secretRef": {
                            "accessKeyIDSecretRef": {"name": "aws", "key": "id", "namespace": AGENT_NS},
                            "secretAccessKeySecretRef": {"name": "aws", "key": "secret", "namespace": AGENT_NS}}}}}}}),
                AGENT_NS,
            )
            .expect("the inline store parses");
        let secrets = SecretsContext {
            keys: Arc::new(keys),
            stores: Arc::new(stores),
        };
        let policies = PolicySet::load(&PolicyConfig::default(), None)
            .expect("the default policy bundle loads");
        Self {
            server,
            engine,
            secrets,
            policies: Arc::new(policies),
        }
    }

    /// Runs every stage on the app at `app` (a directory of the snapshot rooted at `root`).
    pub async fn run(&self, name: &str, root: &Path, app: &str) -> Outcome {
        self.run_with(name, root, app, &RenderOptions::default())
            .await
    }

    /// [`Agent::run`] with these render options (a chart's settings, say).
    pub async fn run_with(
        &self,
        name: &str,
        root: &Path,
        app: &str,
        options: &RenderOptions,
    ) -> Outcome {
        // Render.
        let tree = Tree::new(FsTree::new(root));
        let path = match RelPath::parse(app) {
            Ok(path) => path,
            Err(err) => return Outcome::Failed(Stage::Render, err.to_string()),
        };
        let rendered = match render(&tree, &path, options) {
            Ok(objects) => objects,
            Err(err) => return Outcome::Failed(Stage::Render, err.to_string()),
        };
        let files: HashMap<String, String> = rendered
            .iter()
            .map(|o| (identity(&o.value), o.source.to_string()))
            .collect();
        // Secrets.
        let context = AppContext::new(name, APP_NS).expect("the default allow-list compiles");
        let resolution = secrets::resolve(
            &context,
            rendered.into_iter().map(|o| o.value).collect(),
            &self.secrets,
        )
        .await;
        if !resolution.failures.is_empty() {
            return Outcome::Failed(Stage::Secrets, resolution.message());
        }
        // Policy, on the redacted objects.
        let redacted: Vec<(Value, SecretSource)> = resolution
            .desired
            .iter()
            .map(|d| (d.redacted(), secret_source(d)))
            .collect();
        let objects: Vec<AppObject<'_>> = redacted
            .iter()
            .map(|(value, source)| {
                AppObject::new(value, files.get(&identity(value)).map(String::as_str))
                    .with_secret_source(*source)
            })
            .collect();
        let meta = AppMeta {
            name: name.to_owned(),
            namespace: Some(APP_NS.to_owned()),
            path: app.to_owned(),
            revision: String::new(),
        };
        match self.policies.evaluate(&meta, &objects) {
            Ok(report) => {
                if let Err(err) = report.check() {
                    return Outcome::Failed(Stage::Policy, err.to_string());
                }
            }
            Err(err) => return Outcome::Failed(Stage::Policy, err.to_string()),
        }
        // Sync.
        let desired: Vec<Value> = resolution.desired.iter().map(apply_value).collect();
        let result = self
            .engine
            .sync(&AppSpec::new(name, APP_NS), "rev-1", desired)
            .await;
        match &result.error {
            Some(err) => Outcome::Failed(Stage::Sync, err.to_string()),
            None => Outcome::Synced(Box::new(result)),
        }
    }
}

/// `apiVersion/kind/name` of a rendered object, to find its file again after the secrets
/// stage.
fn identity(value: &Value) -> String {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    format!(
        "{}/{}/{}",
        text("/apiVersion"),
        text("/kind"),
        text("/metadata/name")
    )
}

fn secret_source(desired: &Desired) -> SecretSource {
    match desired {
        Desired::Plain(_) => SecretSource::None,
        Desired::Secret(s) => match s.origin() {
            SecretOrigin::Sops => SecretSource::Sops,
            SecretOrigin::Sealed => SecretSource::Sealed,
            SecretOrigin::Plain => SecretSource::None,
            SecretOrigin::External | SecretOrigin::Inline => SecretSource::External,
        },
    }
}

fn apply_value(desired: &Desired) -> Value {
    match desired {
        Desired::Plain(v) => v.clone(),
        Desired::Secret(s) => {
            serde_json::from_str(&s.to_apply_json()).expect("a Secret's apply JSON parses")
        }
    }
}
