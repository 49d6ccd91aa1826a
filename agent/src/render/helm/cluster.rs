//! The cluster as charts other than a `helm:` app's see it: Flux `HelmRelease`s and
//! Kustomize's `helmCharts`. [`HelmCluster`] gives their renders `.Capabilities` from the
//! cluster's discovery ([`super::capabilities`], cached 5 minutes; read only when a chart
//! is rendered) and, when the app opted in (`helm.lookup: true`), `lookup` through a
//! [`ClusterLookup`] limited to the namespaces the release writes.
//!
//! The precedence is the one of `helm:` apps: a `kubeVersion` written in Git wins over the
//! discovered version; for Kustomize's `helmCharts`, a chart that lists `apiVersions` gets
//! those (and Helm's defaults) only, as `kubectl kustomize --enable-helm` renders it.

use std::sync::Arc;
use std::time::Duration;

use super::ReleaseOptions;
use super::capabilities::{ClusterCapabilities, discover};
use super::lookup::ClusterLookup;

/// The longest discovery may take before the offline defaults are used.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// Cluster access for chart renders inside an app's render.
#[derive(Clone)]
pub struct HelmCluster {
    client: kube::Client,
    runtime: tokio::runtime::Handle,
    app_namespace: String,
    lookup: bool,
    allow_secret_values: bool,
}

impl std::fmt::Debug for HelmCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelmCluster")
            .field("lookup", &self.lookup)
            .finish_non_exhaustive()
    }
}

/// What one release is rendered with: the capabilities, and the lookup when opted in.
#[derive(Debug, Default)]
pub struct ReleaseCluster {
    /// The cluster's version and served API versions (`None`: discovery failed).
    pub capabilities: Option<Arc<ClusterCapabilities>>,
    /// `lookup` against the cluster (`None`: empty, as `helm template`).
    pub lookup: Option<Arc<ClusterLookup>>,
    /// Whether a looked-up Secret's value may be in an object that is not a Secret.
    pub allow_secret_values: bool,
}

impl HelmCluster {
    /// Access through `client` (whose requests run on `runtime`) for an app whose target
    /// namespace is `app_namespace`; `lookup` is the app's opt-in, `allow_secret_values`
    /// its `allowSecretValuesOutsideSecrets`.
    #[must_use]
    pub fn new(
        client: kube::Client,
        runtime: tokio::runtime::Handle,
        app_namespace: &str,
        lookup: bool,
        allow_secret_values: bool,
    ) -> Self {
        Self {
            client,
            runtime,
            app_namespace: app_namespace.to_owned(),
            lookup,
            allow_secret_values,
        }
    }

    /// The cluster for one release writing into `namespaces` (besides the app's target
    /// namespace). Blocks on discovery (from the cache when fresh).
    #[must_use]
    pub fn for_release(&self, namespaces: &[&str]) -> ReleaseCluster {
        let mut allowed: Vec<String> = Vec::new();
        let all = std::iter::once(self.app_namespace.as_str()).chain(namespaces.iter().copied());
        for namespace in all.filter(|n| !n.is_empty()) {
            if !allowed.iter().any(|a| a == namespace) {
                allowed.push((*namespace).to_owned());
            }
        }
        ReleaseCluster {
            capabilities: self.capabilities(),
            lookup: self.lookup.then(|| {
                Arc::new(ClusterLookup::new(
                    self.client.clone(),
                    self.runtime.clone(),
                    allowed,
                ))
            }),
            allow_secret_values: self.allow_secret_values,
        }
    }

    fn capabilities(&self) -> Option<Arc<ClusterCapabilities>> {
        let discover = || {
            std::thread::scope(|s| {
                s.spawn(|| {
                    self.runtime.block_on(async {
                        match tokio::time::timeout(DISCOVERY_TIMEOUT, discover(&self.client)).await
                        {
                            Ok(Ok(found)) => Some(found),
                            Ok(Err(e)) => {
                                tracing::warn!(error = %e, "the cluster's discovery failed; .Capabilities keeps helm template's defaults");
                                None
                            }
                            Err(_) => {
                                tracing::warn!("the cluster's discovery timed out; .Capabilities keeps helm template's defaults");
                                None
                            }
                        }
                    })
                })
                .join()
                .unwrap_or(None)
            })
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(discover)
            }
            _ => discover(),
        }
    }
}

impl ReleaseCluster {
    /// Sets `.Capabilities` and `lookup` on `options`. A `kubeVersion` already set wins; when
    /// `explicit_api_versions` the discovered API versions are not added.
    pub fn apply(&self, options: &mut ReleaseOptions, explicit_api_versions: bool) {
        if let Some(found) = &self.capabilities {
            if options.kube_version.is_none() {
                options.kube_version = Some(found.kube_version.clone());
            }
            if !explicit_api_versions {
                options
                    .api_versions
                    .extend(found.api_versions.iter().cloned());
            }
        }
        if let Some(lookup) = &self.lookup {
            let lookup: Arc<dyn super::template::Lookup> = lookup.clone();
            options.lookup = Some(lookup);
            // A Secret looked up may reach an error message: none quotes a value.
            options.secret_values = true;
        }
    }

    /// The render's error, or the refused lookup that caused it (named, no value).
    #[must_use]
    pub fn explain(&self, error: super::HelmError) -> super::HelmError {
        match self.lookup.as_ref().and_then(|l| l.take_refusal()) {
            Some(reason) => super::HelmError::LookupRefused { reason },
            None => error,
        }
    }

    /// The values of the Secrets looked up (for the exposure check), emptied.
    #[must_use]
    pub fn take_leaves(&self) -> super::exposure::SecretLeaves {
        self.lookup
            .as_ref()
            .map(|l| l.take_leaves())
            .unwrap_or_default()
    }

    /// Refuses `objects` when one that is not a Secret carries a looked-up Secret's value,
    /// unless allowed.
    pub fn refuse_exposure<'a>(
        &self,
        objects: impl IntoIterator<Item = &'a serde_json::Value>,
    ) -> Result<(), super::HelmError> {
        let leaves = self.take_leaves();
        if self.allow_secret_values || leaves.is_empty() {
            return Ok(());
        }
        match super::exposure::find(objects, &leaves) {
            None => Ok(()),
            Some(found) => Err(super::HelmError::SecretValueExposed {
                target: found.object,
                field: found.field,
            }),
        }
    }
}
