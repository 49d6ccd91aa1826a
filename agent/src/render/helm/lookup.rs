//! Helm's `lookup` against the cluster, for an app that opts in (`helm.lookup: true`):
//! read-only (a GET or a LIST), and only in the namespaces the app writes (its target
//! namespace and the release's). Without the opt-in, `lookup` answers as `helm template`
//! does offline: an empty map.
//!
//! A lookup outside those namespaces, or of a cluster-scoped object, is refused with an
//! error naming the kind, namespace and name. The values of a Secret looked up are secret:
//! they are kept ([`SecretLeaves`]) so that the render refuses a non-Secret object that
//! carries one, as it does for `valuesFrom` ([`super::exposure`]).
//!
//! Templates execute synchronously; each lookup runs on a thread of its own that waits for
//! the request on the daemon's runtime, with a timeout.

use std::sync::Mutex;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use serde_json::{Map, Value};

use super::exposure::SecretLeaves;
use super::template::Lookup;

/// The longest one lookup may take.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Read-only lookups through a cluster client, limited to some namespaces.
pub struct ClusterLookup {
    client: kube::Client,
    runtime: tokio::runtime::Handle,
    namespaces: Vec<String>,
    leaves: Mutex<SecretLeaves>,
    refused: Mutex<Option<String>>,
}

impl std::fmt::Debug for ClusterLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLookup")
            .field("namespaces", &self.namespaces)
            .finish_non_exhaustive()
    }
}

impl ClusterLookup {
    /// Lookups through `client` (whose requests run on `runtime`) in `namespaces` only.
    #[must_use]
    pub fn new(
        client: kube::Client,
        runtime: tokio::runtime::Handle,
        namespaces: Vec<String>,
    ) -> Self {
        Self {
            client,
            runtime,
            namespaces,
            leaves: Mutex::new(SecretLeaves::new()),
            refused: Mutex::new(None),
        }
    }

    /// Why the first refused lookup was refused (names the kind, namespace and name, never
    /// a value), so that a render error withheld for secrecy can still say it.
    pub fn take_refusal(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|mut r| r.take())
    }

    fn refuse(&self, reason: String) -> String {
        if let Ok(mut refused) = self.refused.lock() {
            refused.get_or_insert_with(|| reason.clone());
        }
        reason
    }

    /// The string values of the Secrets looked up so far.
    pub fn take_leaves(&self) -> SecretLeaves {
        self.leaves
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    async fn read(
        &self,
        gvk: GroupVersionKind,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        let (resource, caps) = kube::discovery::oneshot::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| format!("the kind is not served: {}", super::clip(&e.to_string())))?;
        if caps.scope == kube::discovery::Scope::Cluster {
            return Err("cluster-scoped objects are not looked up".into());
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        let found = if name.is_empty() {
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| super::clip(&e.to_string()))?;
            let items: Vec<Value> = list
                .items
                .into_iter()
                .filter_map(|o| serde_json::to_value(o).ok())
                .collect();
            let mut map = Map::new();
            map.insert("apiVersion".into(), Value::String("v1".into()));
            map.insert("kind".into(), Value::String("List".into()));
            map.insert("items".into(), Value::Array(items));
            Value::Object(map)
        } else {
            match api
                .get_opt(name)
                .await
                .map_err(|e| super::clip(&e.to_string()))?
            {
                Some(object) => serde_json::to_value(object).map_err(|e| e.to_string())?,
                None => Value::Object(Map::new()),
            }
        };
        Ok(found)
    }

    /// Keeps the decoded values of the Secrets in `found` (an object or a list).
    fn keep_secret_values(&self, found: &Value) {
        let objects: Vec<&Value> = match found.get("items").and_then(Value::as_array) {
            Some(items) => items.iter().collect(),
            None => vec![found],
        };
        let Ok(mut leaves) = self.leaves.lock() else {
            return;
        };
        for object in objects
            .into_iter()
            .filter(|o| super::exposure::is_secret(o))
        {
            for field in ["data", "stringData"] {
                let Some(map) = object.get(field).and_then(Value::as_object) else {
                    continue;
                };
                for value in map.values().filter_map(Value::as_str) {
                    leaves.add(value);
                    if field == "data" {
                        use base64::Engine;
                        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(value)
                            && let Ok(text) = std::str::from_utf8(&bytes)
                        {
                            leaves.add(text);
                        }
                    }
                }
            }
        }
    }
}

fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

impl Lookup for ClusterLookup {
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        let what = format!("lookup {api_version} {kind} {namespace:?} {name:?}");
        if namespace.is_empty() || !self.namespaces.iter().any(|n| n == namespace) {
            return Err(self.refuse(format!(
                "{what}: the app may look up only in the namespaces it writes ({})",
                self.namespaces.join(", ")
            )));
        }
        let read = || {
            std::thread::scope(|s| {
                s.spawn(|| {
                    self.runtime.block_on(async {
                        tokio::time::timeout(
                            LOOKUP_TIMEOUT,
                            self.read(gvk(api_version, kind), namespace, name),
                        )
                        .await
                        .unwrap_or_else(|_| Err("timed out".into()))
                    })
                })
                .join()
                .unwrap_or_else(|_| Err("the lookup thread ended abnormally".into()))
            })
        };
        let found = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(read)
            }
            _ => read(),
        }
        .map_err(|reason| self.refuse(format!("{what}: {reason}")))?;
        self.keep_secret_values(&found);
        tracing::debug!(
            api_version,
            kind,
            namespace,
            name,
            "lookup answered from the cluster"
        );
        Ok(found)
    }
}
