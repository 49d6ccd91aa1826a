//! `recipient --from-cluster`: the recipient the agent publishes in its ConfigMap
//! `tether-recipient`, read through the user's kubeconfig. Only the public recipient is read;
//! no private key ever leaves the cluster.

use k8s_openapi::api::core::v1::ConfigMap;
use std::path::Path;

/// The ConfigMap the agent publishes its newest recipient in, and its key.
const RECIPIENT_CONFIGMAP: &str = "tether-recipient";
const RECIPIENT_KEY: &str = "recipient";

/// Reads the published recipient from `namespace`, with the kubeconfig at `kubeconfig` (or the
/// usual `KUBECONFIG` / `~/.kube/config`) and its `context` (or the current one).
pub fn published_recipient(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
    namespace: &str,
) -> Result<String, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    runtime.block_on(async {
        let options = kube::config::KubeConfigOptions {
            context: context.map(str::to_owned),
            ..Default::default()
        };
        let config = match kubeconfig {
            Some(path) => {
                let file = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                kube::Config::from_custom_kubeconfig(file, &options).await
            }
            None => kube::Config::from_kubeconfig(&options).await,
        }
        .map_err(|e| format!("kubeconfig: {e}"))?;
        let client = kube::Client::try_from(config).map_err(|e| format!("cluster client: {e}"))?;
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, namespace);
        let found = api
            .get_opt(RECIPIENT_CONFIGMAP)
            .await
            .map_err(|e| format!("read ConfigMap {namespace}/{RECIPIENT_CONFIGMAP}: {e}"))?;
        let Some(cm) = found else {
            return Err(format!(
                "ConfigMap {namespace}/{RECIPIENT_CONFIGMAP} not found: is the agent running in \
                 namespace {namespace}? (--namespace)"
            ));
        };
        cm.data
            .and_then(|mut d| d.remove(RECIPIENT_KEY))
            .ok_or_else(|| {
                format!("ConfigMap {namespace}/{RECIPIENT_CONFIGMAP} has no `{RECIPIENT_KEY}` key")
            })
    })
}
