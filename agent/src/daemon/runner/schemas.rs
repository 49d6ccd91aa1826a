//! The schemas a round validates rendered objects against: the built-in ones of the cluster's
//! Kubernetes version (the newest built in when the cluster's is not supported or not known)
//! and the schemas of the CRDs installed in the cluster.

use crate::schema::{SchemaCatalog, SchemaError, SchemaOptions};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

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
