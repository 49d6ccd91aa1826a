//! An emulation of the Kubernetes API server that kubectl and kube-rs talk to over real
//! HTTP on a loopback port, with all state in memory per instance.
//!
//! It serves discovery (legacy and aggregated), a minimal OpenAPI v3, CRUD with label and
//! field selectors, merge/JSON/strategic merge patches, server-side apply with
//! `managedFields` and conflicts, dry run, watches with bookmarks and `410 Gone`, the
//! defaults that matter for drift, status subresources, CRDs, TokenReviews, and test hooks:
//! injected faults and request counters. `tests/NOT-EMULATED.md` lists what it does not do.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use tether_tests::apiserver::{ApiServer, FaultPlan};
//!
//! let server = ApiServer::start().await?;
//! let url = server.url(); // http://127.0.0.1:PORT, no TLS, no authentication
//! server.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! server.faults().set(FaultPlan { error_rate_5xx: 0.2, seed: 1, ..FaultPlan::default() });
//! // ... run the code under test against `url` ...
//! assert!(server.requests().count("patch", "deployments") > 0);
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Layout: [`kinds`] (the built-in kinds and the registry), [`store`] (objects,
//! resourceVersion, history), [`verbs`], [`write`](mod@write) and [`delete`] (the verbs), [`apply`],
//! [`managed`], [`fields`] and [`schema`] (server-side apply), [`patch`], [`defaults`],
//! [`validation`], [`selectors`], [`watch`], [`discovery`], [`openapi`], [`table`] (Table and
//! metadata-only answers), [`crd`], [`tokens`] (token and access reviews) and [`rbac`] (their RBAC), [`faults`] (test
//! hooks), [`handlers`] and [`params`] (HTTP), [`protobuf`] (kubectl's protobuf bodies),
//! [`status`] (error bodies), [`meta`] (helpers).
//!
//! The binary `tether-test-apiserver [--port N] [--kubeconfig PATH]` serves one instance
//! until killed and prints its URL once it listens.

pub mod apply;
pub mod crd;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod faults;
pub mod fields;
pub mod handlers;
pub mod holds;
pub mod kinds;
pub mod managed;
pub mod meta;
pub mod openapi;
pub mod params;
pub mod patch;
pub mod protobuf;
pub mod rbac;
pub mod schema;
pub mod selectors;
pub mod status;
pub mod store;
pub mod table;
pub mod tokens;
pub mod validation;
pub mod verbs;
pub mod watch;
pub mod write;
pub mod writes;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use faults::{Fault, FaultPlan, Faults, Requests};
use handlers::{AppState, Settings};
use kinds::ResourceType;
use store::Store;

/// Why the server or one of its hooks failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiServerError {
    /// The listening socket could not be bound.
    #[error("bind the API server to {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bound socket has no local address.
    #[error("read the API server's local address: {0}")]
    LocalAddr(#[source] std::io::Error),
    /// The kubeconfig file could not be written.
    #[error("write the kubeconfig {path}: {source}")]
    WriteKubeconfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No served resource matches the reference.
    #[error("no served resource matches {reference:?}")]
    UnknownResource {
        /// What was asked for (`Deployment`, `deployments.apps`, `apps/v1/Deployment`).
        reference: String,
    },
    /// An object given to a hook lacks a field.
    #[error("the object has no {field}")]
    MissingField {
        /// The field (`apiVersion`, `kind`, `metadata.name`).
        field: &'static str,
    },
    /// The object a hook names does not exist.
    #[error("{reference} {namespace}/{name} does not exist")]
    NotFound {
        /// The resource reference.
        reference: String,
        /// The namespace (empty for cluster scope).
        namespace: String,
        /// The name.
        name: String,
    },
}

/// Settings of a server instance.
#[derive(Debug, Clone)]
pub struct ApiServerOptions {
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK (default 1 s).
    pub bookmark_interval: Duration,
    /// How many changes are kept for watches to resume from (default 1000); older
    /// resourceVersions get `410 Gone`.
    pub watch_history: usize,
    /// How long a new CRD stays not Established (default 0: at once).
    pub crd_establish_delay: Duration,
}

impl Default for ApiServerOptions {
    fn default() -> Self {
        Self {
            bookmark_interval: Duration::from_secs(1),
            watch_history: 1000,
            crd_establish_delay: Duration::ZERO,
        }
    }
}

/// A running API server emulation, stopped by [`ApiServer::shutdown`] or when dropped.
#[derive(Debug)]
pub struct ApiServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    task: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts an instance on `127.0.0.1:0` with default options.
    pub async fn start() -> Result<Self, ApiServerError> {
        Self::start_with(ApiServerOptions::default()).await
    }

    /// Starts an instance on `127.0.0.1:0`.
    pub async fn start_with(options: ApiServerOptions) -> Result<Self, ApiServerError> {
        let addr = "127.0.0.1:0";
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ApiServerError::Bind {
                addr: addr.to_owned(),
                source,
            })?;
        Self::serve(listener, options)
    }

    /// Serves on a listener the caller bound (the binary binds its `--port`).
    pub fn serve(listener: TcpListener, options: ApiServerOptions) -> Result<Self, ApiServerError> {
        let addr = listener.local_addr().map_err(ApiServerError::LocalAddr)?;
        let mut store = Store::new(options.watch_history);
        store.crd_delay_zero = options.crd_establish_delay.is_zero();
        let state = Arc::new(AppState {
            store: Mutex::new(store),
            faults: Faults::default(),
            requests: Requests::default(),
            writes: writes::Writes::default(),
            holds: holds::Holds::default(),
            settings: Settings {
                bookmark_interval: options.bookmark_interval,
                crd_establish_delay: options.crd_establish_delay,
            },
            address: addr.to_string(),
        });
        seed_cluster(&state);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = handlers::router(state.clone());
        let task = tokio::spawn(async move {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            if let Err(err) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %err, "the API server emulation stopped with an error");
            }
        });
        Ok(Self {
            addr,
            state,
            stop: Mutex::new(Some(stop_tx)),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A kubeconfig for this server (context `tether-test`, namespace `default`, no auth).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig_for(&self.url())
    }

    /// Writes [`ApiServer::kubeconfig_yaml`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), ApiServerError> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| {
            ApiServerError::WriteKubeconfig {
                path: path.to_owned(),
                source,
            }
        })
    }

    /// The fault plan (set, clear, count of injected faults).
    pub fn faults(&self) -> &Faults {
        &self.state.faults
    }

    /// The request counters.
    pub fn requests(&self) -> &Requests {
        &self.state.requests
    }

    /// The writes that changed the store, per object and writer ([`writes`]).
    pub fn writes(&self) -> &writes::Writes {
        &self.state.writes
    }

    /// Writes held at a known point ([`holds`]).
    pub fn holds(&self) -> &holds::Holds {
        &self.state.holds
    }

    /// The latest resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.state.lock().current_rv()
    }

    fn resolve(&self, reference: &str) -> Result<Arc<ResourceType>, ApiServerError> {
        self.state
            .lock()
            .registry
            .resolve(reference)
            .ok_or_else(|| ApiServerError::UnknownResource {
                reference: reference.to_owned(),
            })
    }

    /// One stored object. `reference` is a kind (`Deployment`), a plural, a short name,
    /// `plural.group` or `group/version/Kind`; `namespace` is ignored for cluster scope.
    pub fn object(&self, reference: &str, namespace: &str, name: &str) -> Option<Value> {
        let ty = self.resolve(reference).ok()?;
        verbs::get(&self.state.lock(), &ty, namespace, name).ok()
    }

    /// Every stored object of one resource, in all namespaces.
    pub fn list_objects(&self, reference: &str) -> Vec<Value> {
        let Ok(ty) = self.resolve(reference) else {
            return Vec::new();
        };
        let store = self.state.lock();
        store
            .list(&ty.storage_key(), None)
            .into_iter()
            .cloned()
            .collect()
    }

    /// Stores an object as is (created or replaced, no validation, no defaults, no
    /// managedFields change), bumping resourceVersion and emitting a watch event, as a
    /// controller's write would. Returns the stored object.
    pub fn put_object(&self, mut object: Value) -> Result<Value, ApiServerError> {
        let api_version = object.get("apiVersion").and_then(Value::as_str).ok_or(
            ApiServerError::MissingField {
                field: "apiVersion",
            },
        )?;
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .ok_or(ApiServerError::MissingField { field: "kind" })?;
        let mut store = self.state.lock();
        let ty = store.registry.by_gvk(api_version, kind).ok_or_else(|| {
            ApiServerError::UnknownResource {
                reference: format!("{api_version}/{kind}"),
            }
        })?;
        let name = meta::name(&object).to_owned();
        if name.is_empty() {
            return Err(ApiServerError::MissingField {
                field: "metadata.name",
            });
        }
        let key = verbs::key(&ty, meta::namespace(&object), &name);
        let old = store.get(&key).cloned();
        for field in ["uid", "creationTimestamp"] {
            if meta::meta_str(&object, field).is_none() {
                let value = match (&old, field) {
                    (Some(o), _) => o.get("metadata").and_then(|m| m.get(field)).cloned(),
                    (None, "uid") => Some(Value::String(meta::new_uid())),
                    (None, _) => Some(Value::String(meta::now_rfc3339())),
                };
                if let Some(v) = value {
                    meta::set_meta(&mut object, field, v);
                }
            }
        }
        Ok(store.put(key, object))
    }

    /// Removes an object at once (finalizers ignored), emitting a DELETED event.
    pub fn delete_object(&self, reference: &str, namespace: &str, name: &str) -> Option<Value> {
        let ty = self.resolve(reference).ok()?;
        self.state.lock().remove(&verbs::key(&ty, namespace, name))
    }

    /// Replaces `status` of an object (as a controller would: Ready, Progressing, Failed).
    pub fn set_status(
        &self,
        reference: &str,
        namespace: &str,
        name: &str,
        status: Value,
    ) -> Result<Value, ApiServerError> {
        let ty = self.resolve(reference)?;
        let mut store = self.state.lock();
        let key = verbs::key(&ty, namespace, name);
        let mut obj = store
            .get(&key)
            .cloned()
            .ok_or_else(|| ApiServerError::NotFound {
                reference: reference.to_owned(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })?;
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".to_owned(), status);
        }
        Ok(store.put(key, obj))
    }

    /// Issues a service account token that `POST /apis/authentication.k8s.io/v1/tokenreviews`
    /// reports as `system:serviceaccount:NAMESPACE:NAME`. Like the real server's bound tokens
    /// it is a JWT carrying the service account claims (both the `kubernetes.io` claim and the
    /// legacy flat ones), so clients that read the claims before asking for a review (OpenBao's
    /// Kubernetes auth) accept it; the signature is not a real one and only the review decides.
    /// One service account keeps one uid across tokens, as a real object would.
    pub fn issue_service_account_token(&self, namespace: &str, name: &str) -> String {
        let mut state = self.state.lock();
        let uid = state
            .service_account_uids
            .entry((namespace.to_owned(), name.to_owned()))
            .or_insert_with(meta::new_uid)
            .clone();
        let token = tokens::service_account_jwt(namespace, name, &uid);
        state.tokens.insert(
            token.clone(),
            tokens::IssuedToken {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                uid,
            },
        );
        token
    }

    /// Adds a user token that TokenReviews report as `user` with `groups` (and
    /// `system:authenticated`); what the user may do is decided by the RBAC objects held.
    pub fn add_user_token(&self, token: &str, user: &str, groups: &[&str]) {
        self.state.lock().user_tokens.insert(
            token.to_owned(),
            (
                user.to_owned(),
                groups.iter().map(|g| (*g).to_owned()).collect(),
            ),
        );
    }

    /// Forgets the watch history and ends every open watch, as an etcd compaction followed
    /// by a watch cache restart would: clients resuming from an older resourceVersion get
    /// `410 Gone` and must relist.
    pub fn compact_watch_history(&self) {
        self.state.lock().compact();
    }

    /// Stops serving: open watches end, then the listener closes.
    pub async fn shutdown(mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }

    fn stop_now(&self) {
        self.state.lock().close_watches();
        if let Some(tx) = self.stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(());
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop_now();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A kubeconfig for a plain-HTTP server at `url`.
pub fn kubeconfig_for(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: tether-test\n  cluster:\n    server: {url}\ncontexts:\n- name: tether-test\n  context:\n    cluster: tether-test\n    user: tether-test\n    namespace: default\ncurrent-context: tether-test\nusers:\n- name: tether-test\n  user: {{}}\npreferences: {{}}\n"
    )
}

/// The objects every cluster starts with: the `default`, `kube-system`, `kube-public` and
/// `kube-node-lease` namespaces.
fn seed_cluster(state: &AppState) {
    let mut store = state.lock();
    let Some(ns_ty) = store.registry.by_path("", "v1", "namespaces") else {
        return;
    };
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let body = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        let opts = verbs::WriteOptions {
            manager: "kube-apiserver".to_owned(),
            ..verbs::WriteOptions::default()
        };
        if let Err(err) = verbs::create(&mut store, &ns_ty, "", body, &opts) {
            tracing::warn!(namespace = name, error = %err, "could not seed a namespace");
        }
    }
}
