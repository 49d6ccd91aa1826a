//! Support of the sync engine tests: a cluster (the API server emulation and a kube client),
//! an engine with test settings, object builders and bounded waits.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::{Client, Config};
use serde_json::{Value, json};
use tether_agent::sync::{Engine, EngineConfig, HookSettings};
use tether_tests::apiserver::{ApiServer, ApiServerOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The agent's namespace in the tests.
pub const AGENT_NS: &str = "tether-system";
/// The app namespace most tests use.
pub const SHOP: &str = "shop";

/// The API server emulation with a client and the namespaces the tests need.
pub struct Cluster {
    pub server: ApiServer,
    pub client: Client,
}

pub async fn cluster() -> Cluster {
    cluster_with(ApiServerOptions::default()).await
}

pub async fn cluster_with(options: ApiServerOptions) -> Cluster {
    let server = ApiServer::start_with(options)
        .await
        .expect("start the API server emulation");
    let client = client_for(&server);
    for ns in [AGENT_NS, SHOP] {
        server
            .put_object(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}))
            .expect("create a namespace");
    }
    Cluster { server, client }
}

pub fn client_for(server: &ApiServer) -> Client {
    let config = Config::new(server.url().parse().expect("the server URL parses"));
    Client::try_from(config).expect("build a kube client")
}

/// Engine settings for tests: no health wait, quick hook polling, 1 s drift backoff.
pub fn config() -> EngineConfig {
    EngineConfig {
        namespace: AGENT_NS.into(),
        health_timeout: Duration::ZERO,
        health_poll: Duration::from_millis(50),
        crd_timeout: Duration::from_secs(15),
        hooks: HookSettings {
            timeout: Duration::from_secs(20),
            poll: Duration::from_millis(50),
            delete_on_success: true,
        },
        ..EngineConfig::default()
    }
}

impl Cluster {
    pub fn engine(&self) -> Engine {
        Engine::new(self.client.clone(), config())
    }

    /// One stored object (`reference` as the emulation takes it: a kind or plural).
    pub fn get(&self, reference: &str, namespace: &str, name: &str) -> Option<Value> {
        self.server.object(reference, namespace, name)
    }

    pub fn exists(&self, reference: &str, namespace: &str, name: &str) -> bool {
        self.get(reference, namespace, name).is_some()
    }

    pub fn uid(&self, reference: &str, namespace: &str, name: &str) -> String {
        self.get(reference, namespace, name)
            .and_then(|o| o["metadata"]["uid"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("{reference} {namespace}/{name} exists"))
    }

    /// A merge patch by another field manager, as `kubectl edit`/`kubectl patch` makes.
    pub async fn patch_as(
        &self,
        manager: &str,
        api_version: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        patch: Value,
    ) {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = kube::api::GroupVersionKind::gvk(group, version, "");
        let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
        let params = PatchParams {
            field_manager: Some(manager.to_owned()),
            ..PatchParams::default()
        };
        api.patch(name, &params, &Patch::Merge(&patch))
            .await
            .expect("the other manager's patch");
    }

    /// The inventory ConfigMap's text.
    pub fn inventory_text(&self, app: &str) -> Option<String> {
        self.get("ConfigMap", AGENT_NS, &format!("tether-inventory-{app}"))
            .and_then(|cm| cm["data"]["objects"].as_str().map(str::to_owned))
    }
}

/// The drift watcher running in a task, stopped by [`Drift::stop`].
pub struct Drift {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

pub fn start_drift(engine: &Engine) -> Drift {
    let (stop, rx) = oneshot::channel::<()>();
    let engine = engine.clone();
    let task = tokio::spawn(async move {
        engine
            .run_drift(async {
                let _ = rx.await;
            })
            .await;
    });
    Drift {
        stop: Some(stop),
        task,
    }
}

impl Drift {
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), &mut self.task)
            .await
            .expect("the drift watcher stops")
            .expect("the drift watcher did not panic");
    }
}

/// Polls `check` every 50 ms, for at most 15 s.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..300 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/sync")
        .join(name)
}

pub fn yaml_fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture(name)).expect("read the fixture");
    serde_saphyr::from_str(&text).expect("the fixture parses")
}

pub fn config_map(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})
}

pub fn annotated(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["annotations"][key] = json!(value);
    object
}

pub fn deployment(name: &str, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 8080}]}]}}}})
}

pub fn service(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})
}

pub fn secret(name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "data": data})
}

pub fn pvc(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
}

/// Four ordinary objects of the shop app.
pub fn shop_objects() -> Vec<Value> {
    vec![
        config_map("web-config", json!({"LOG_LEVEL": "info"})),
        config_map("web-flags", json!({"beta": "false"})),
        service("web"),
        deployment("web", "ghcr.io/acme/web:1.0.0"),
    ]
}

pub fn resource_version(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
        .expect("a numeric resourceVersion")
}
