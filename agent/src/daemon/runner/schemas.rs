//! The schemas a round validates rendered objects against: the built-in ones of the cluster's
//! Kubernetes version (the newest built in when the cluster's is not supported or not known)
//! and the schemas of the CRDs installed in the cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::schema::{SchemaCatalog, SchemaError, SchemaOptions};
use futures::StreamExt as _;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::runtime::{WatchStreamExt as _, watcher};

/// The rounds' catalog, built again only when the cluster's CRDs changed: a metadata watch of
/// the CRDs counts their changes, so a round at rest neither lists the CRDs nor builds the
/// catalog again.
#[derive(Default)]
pub(super) struct Cached {
    /// CRD changes seen by the watch (starts at 1 once the watch runs).
    changes: Arc<AtomicU64>,
    /// The catalog and the count of changes it was built after.
    built: tokio::sync::Mutex<Option<(u64, Arc<SchemaCatalog>)>>,
    watch: std::sync::OnceLock<tokio::task::JoinHandle<()>>,
}

impl Drop for Cached {
    fn drop(&mut self) {
        if let Some(watch) = self.watch.get() {
            watch.abort();
        }
    }
}

impl Cached {
    /// The catalog for a round: the last one, unless a CRD changed since it was built (or
    /// the watch is not synced: then it is built for this round only).
    pub(super) async fn catalog(
        &self,
        client: &kube::Client,
    ) -> Result<Arc<SchemaCatalog>, SchemaError> {
        self.watch
            .get_or_init(|| tokio::spawn(watch_crds(client.clone(), Arc::clone(&self.changes))));
        let mut built = self.built.lock().await;
        let seen = self.changes.load(Ordering::SeqCst);
        if seen > 0
            && let Some((at, catalog)) = built.as_ref()
            && *at == seen
        {
            return Ok(Arc::clone(catalog));
        }
        let catalog = Arc::new(catalog(client).await?);
        if seen > 0 {
            *built = Some((seen, Arc::clone(&catalog)));
        }
        Ok(catalog)
    }
}

/// Counts changes of the cluster's CRDs (metadata only); a watch error counts as a change
/// (what happened meanwhile is not known).
async fn watch_crds(client: kube::Client, changes: Arc<AtomicU64>) {
    let api: kube::Api<kube::core::PartialObjectMeta<CustomResourceDefinition>> =
        kube::Api::all(client);
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => {}
            Ok(_) => {
                changes.fetch_add(1, Ordering::SeqCst);
            }
            Err(err) => {
                tracing::debug!(error = %err, "CRD watch error; retrying");
                changes.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// The catalog for a round. Failing to read the cluster's version or CRDs is logged, and the
/// round goes on with what could be read.
pub(super) async fn catalog(client: &kube::Client) -> Result<SchemaCatalog, SchemaError> {
    let version = match client.apiserver_version().await {
        Ok(info) => Some(format!(
            "{}.{}",
            info.major,
            info.minor.trim_end_matches('+')
        )),
        Err(err) => {
            tracing::debug!(error = %err, "the cluster's version is not known; validating against the newest schemas");
            None
        }
    };
    let mut catalog = match SchemaCatalog::new(&SchemaOptions {
        kubernetes_version: version.clone(),
        ..SchemaOptions::default()
    }) {
        Ok(catalog) => catalog,
        Err(SchemaError::UnsupportedVersion { .. }) => {
            let catalog = SchemaCatalog::new(&SchemaOptions::default())?;
            tracing::info!(
                cluster = version.as_deref().unwrap_or_default(),
                schemas = catalog.kubernetes_version(),
                "no built-in schemas for the cluster's version; using the newest"
            );
            catalog
        }
        Err(err) => return Err(err),
    };
    let api: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
    match api.list(&kube::api::ListParams::default()).await {
        Ok(list) => {
            let values: Vec<serde_json::Value> = list
                .items
                .iter()
                .filter_map(|crd| serde_json::to_value(crd).ok())
                .map(|mut value| {
                    // Listed items carry no apiVersion/kind.
                    value["apiVersion"] = "apiextensions.k8s.io/v1".into();
                    value["kind"] = "CustomResourceDefinition".into();
                    value
                })
                .collect();
            let added = catalog.add_crds(&values);
            tracing::debug!(kinds = added, "schemas of the cluster's CRDs added");
        }
        Err(err) => {
            tracing::warn!(error = %err, "the cluster's CRDs cannot be listed; custom resources without a CRD in their app are not validated");
        }
    }
    Ok(catalog)
}
