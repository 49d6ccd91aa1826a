//! What a render needs from outside the snapshot, read before it starts (the render itself
//! never reaches the cluster): a `helm:` app's settings with its `valuesFrom` resolved
//! ([`super::values_from`]), the configured access to chart repositories
//! ([`crate::render::helm_fetch::RepositoryAccess`]), and the objects the app applied at its
//! last sync, which tell a HelmRelease's install from its upgrade
//! ([`crate::render::flux_helm::phase`]); for a `helm:` app, `.Capabilities` from the
//! cluster's discovery ([`super::capabilities`]); for Flux HelmReleases and Kustomize's
//! `helmCharts`, the cluster ([`super::cluster`]) and where GitRepository charts are read
//! ([`crate::render::flux_helm::git`]).

use std::sync::Arc;

use super::cluster::HelmCluster;
use super::lookup::ClusterLookup;
use super::values_from::{self, ValuesFromInput};
use super::{ChartSettings, HelmError};
use crate::config::helm::{HelmAppConfig, HelmRepositoryConfig};
use crate::render::Decryptor;
use crate::render::flux_helm::HeldValues;
use crate::render::flux_helm::ReleaseEnv;
use crate::render::flux_helm::git::{GitSources, OwnSource};
use crate::render::flux_helm::phase::AppliedObjects;
use crate::render::helm_fetch::RepositoryAccess;
use crate::secrets::credentials::CredentialSource;
use crate::tree::{RelPath, Tree};

/// The app and where its inputs are read.
pub struct HelmInputs<'a> {
    /// The snapshot.
    pub tree: &'a Tree,
    /// The app's name.
    pub app: &'a str,
    /// The app's directory.
    pub path: &'a RelPath,
    /// The app's target namespace.
    pub namespace: &'a str,
    /// The app generator's `helm:` block.
    pub helm: Option<&'a HelmAppConfig>,
    /// `helmRepositories`.
    pub repositories: &'a [HelmRepositoryConfig],
    /// The agent's namespace (of repository Secrets that name none).
    pub agent_namespace: &'a str,
    /// The render's decryption (SOPS files of `valuesFrom`; holds rendered Secret values).
    pub decryptor: &'a Arc<dyn Decryptor>,
    /// The values the decryption holds.
    pub held: &'a dyn HeldValues,
    /// Reads the cluster (`None` offline).
    pub cluster: Option<&'a dyn CredentialSource>,
    /// Where downloaded chart archives are kept across restarts (`None`: memory only).
    pub archive_dir: Option<&'a std::path::Path>,
    /// The synced repository's URL and reference (`main`, `tag:X`, `semver:R`,
    /// `commit:C`): a GitRepository naming them is read from `tree`.
    pub own_source: Option<(&'a str, &'a str)>,
    /// Where other GitRepositories are fetched (`None`: refused).
    pub git_cache_dir: Option<&'a std::path::Path>,
}

/// What [`resolve`] read.
pub struct ResolvedInputs {
    /// The chart settings of a `helm:` app (none for other apps).
    pub settings: Option<ChartSettings>,
    /// The access to chart repositories.
    pub repositories: Arc<RepositoryAccess>,
    /// The cluster, for Kustomize's `helmCharts` (`None` offline).
    pub cluster: Option<Arc<HelmCluster>>,
    /// What the app's Flux HelmReleases are rendered with.
    pub flux: ReleaseEnv,
}

/// Reads the app's inputs.
pub async fn resolve(inputs: &HelmInputs<'_>) -> Result<ResolvedInputs, HelmError> {
    if let Some(dir) = inputs.archive_dir {
        crate::render::flux_helm::use_cache_dir(dir);
    }
    let access =
        RepositoryAccess::resolve(inputs.repositories, inputs.agent_namespace, inputs.cluster)
            .await
            .map_err(|source| HelmError::RepositoryFailed { source })?;
    let access = Arc::new(access);
    let client = inputs.cluster.and_then(CredentialSource::client);
    let cluster = client.clone().map(|client| {
        Arc::new(HelmCluster::new(
            client,
            tokio::runtime::Handle::current(),
            inputs.namespace,
            inputs.helm.is_some_and(|h| h.lookup),
            inputs
                .helm
                .is_some_and(|h| h.allow_secret_values_outside_secrets),
        ))
    });
    let flux = ReleaseEnv {
        git: Some(GitSources::new(
            own_source(inputs),
            inputs.git_cache_dir.map(std::path::Path::to_path_buf),
        )),
        cluster: cluster.as_deref().cloned(),
        repositories: Some(Arc::clone(&access)),
    };
    let Some(helm) = inputs.helm else {
        return Ok(ResolvedInputs {
            settings: None,
            repositories: access,
            cluster,
            flux,
        });
    };
    let mut settings = helm.settings(inputs.app, inputs.namespace);
    settings.hold = Some(Arc::clone(inputs.decryptor));
    settings.repositories = Some(Arc::clone(&access));
    if let Some(client) = &client {
        match super::capabilities::discover(client).await {
            Ok(found) => {
                if settings.kube_version.is_none() {
                    settings.kube_version = Some(found.kube_version.clone());
                }
                settings
                    .api_versions
                    .extend(found.api_versions.iter().cloned());
            }
            Err(e) => tracing::warn!(app = inputs.app, error = %e,
                "the cluster's discovery failed; .Capabilities keeps helm template's defaults"),
        }
    }
    if helm.lookup
        && let Some(client) = client
    {
        let mut namespaces = vec![inputs.namespace.to_owned()];
        if let Some(release) = settings.namespace.clone().filter(|n| n != inputs.namespace) {
            namespaces.push(release);
        }
        let runtime = tokio::runtime::Handle::current();
        settings.lookup = Some(Arc::new(ClusterLookup::new(client, runtime, namespaces)));
    }
    let sources = helm.values_sources();
    if !sources.is_empty() {
        let namespace = settings.namespace.clone().unwrap_or_default();
        let input = ValuesFromInput {
            app: inputs.app,
            namespace: &namespace,
            tree: inputs.tree,
            chart_dir: inputs.path,
            decryptor: Some(inputs.decryptor.as_ref()),
            held: inputs.held,
            cluster: inputs.cluster,
        };
        settings.values_from = Some(Arc::new(values_from::resolve(&sources, &input).await?));
    }
    Ok(ResolvedInputs {
        settings: Some(settings),
        repositories: access,
        cluster,
        flux,
    })
}

/// The synced repository, when its reference parses (else GitRepositories are fetched).
fn own_source(inputs: &HelmInputs<'_>) -> Option<OwnSource> {
    let (url, reference) = inputs.own_source?;
    let reference = crate::source::parse_reference(reference).ok()?;
    Some(OwnSource {
        url: url.to_owned(),
        reference,
        tree: inputs.tree.clone(),
    })
}

/// The objects `app` applied at its last sync, from its inventory (the head and every part);
/// unknown when it cannot be read (the releases then install, which applies their CRDs as
/// `install.crds` says). Read only for a render that holds a Flux HelmRelease.
pub async fn applied_objects(
    cluster: Option<&dyn CredentialSource>,
    agent_namespace: &str,
    app: &str,
) -> Option<AppliedObjects> {
    let client = cluster?.client()?;
    match crate::sync::inventory::load(&client, agent_namespace, app).await {
        Ok(inventory) => inventory.map(|i| AppliedObjects::from_inventory(&i)),
        Err(error) => {
            tracing::warn!(app, %error, "the inventory could not be read");
            None
        }
    }
}
