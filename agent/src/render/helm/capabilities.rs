//! `.Capabilities` from the cluster's discovery, for a `helm:` app rendered by the daemon:
//! the API server's version as `.Capabilities.KubeVersion` and every served
//! `group/version` and `group/version/Kind` added to `.Capabilities.APIVersions` (as helm
//! does when it talks to a cluster). Read once and kept for [`CACHE_TTL`], so a round of
//! syncs costs one discovery; when discovery fails, `helm template`'s offline defaults stay.
//! An app's own `kubeVersion` wins over the discovered version.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long discovered capabilities are reused.
pub const CACHE_TTL: Duration = Duration::from_secs(300);

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterCapabilities {
    /// The API server's `gitVersion` (`v1.33.0`).
    pub kube_version: String,
    /// `group/version` and `group/version/Kind` (the core group without a group).
    pub api_versions: Vec<String>,
}

type Cached = Option<(Instant, Arc<ClusterCapabilities>)>;

fn cache() -> &'static Mutex<Cached> {
    static CACHE: OnceLock<Mutex<Cached>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(None))
}

/// The cluster's capabilities, from the cache when fresh.
pub async fn discover(client: &kube::Client) -> Result<Arc<ClusterCapabilities>, kube::Error> {
    if let Some((at, found)) = cache()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        && at.elapsed() < CACHE_TTL
    {
        return Ok(Arc::clone(found));
    }
    let version = client.apiserver_version().await?;
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await?;
    let mut api_versions = Vec::new();
    for group in discovery.groups() {
        for version in group.versions() {
            let group_version = if group.name().is_empty() {
                version.to_owned()
            } else {
                format!("{}/{version}", group.name())
            };
            for (resource, _) in group.versioned_resources(version) {
                api_versions.push(format!("{group_version}/{}", resource.kind));
            }
            api_versions.push(group_version);
        }
    }
    api_versions.sort();
    api_versions.dedup();
    let found = Arc::new(ClusterCapabilities {
        kube_version: version.git_version,
        api_versions,
    });
    *cache().lock().unwrap_or_else(PoisonError::into_inner) =
        Some((Instant::now(), Arc::clone(&found)));
    Ok(found)
}
