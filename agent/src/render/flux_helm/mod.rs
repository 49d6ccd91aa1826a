//! Flux `HelmRelease`s found in an app's rendered manifests, rendered instead of applied.
//!
//! A Flux user's repository syncs unchanged: each `HelmRelease` (helm.toolkit.fluxcd.io/v2,
//! v2beta2) is replaced by the objects of its chart, and the `HelmRelease`,
//! `HelmRepository` and `OCIRepository` objects themselves are not applied.
//!
//! - The chart: `spec.chart.spec` (chart, version range, a `HelmRepository` of `type:
//!   default` or `oci`, or a `GitRepository` with `chart: ./path` and `valuesFiles`), or
//!   `spec.chartRef` to an `OCIRepository` (tag, semver, digest) or a `HelmChart` (the same
//!   fields as `chart.spec`). Only the repositories these objects name are contacted
//!   ([`crate::render::helm_fetch`], [`git`]); their `secretRef` (username/password) and
//!   `certSecretRef` (`ca.crt`) Secrets are read from the app's manifests, SOPS-encrypted or
//!   not, Tether's `helmRepositories` being the fallback; `insecure: true` allows plain
//!   HTTP to an OCI registry. A GitRepository that is the synced repository is read from
//!   the snapshot ([`git`]); the GitRepositories HelmReleases use are not applied.
//! - `.Capabilities` from the cluster's discovery and, when the app opts in
//!   (`helm.lookup: true`), `lookup` in the namespaces the release writes
//!   ([`crate::render::helm::cluster`]).
//! - The values ([`values`]): `valuesFrom` ConfigMaps and Secrets in order (`valuesKey`,
//!   `targetPath`, `optional`), then `spec.values`.
//! - The release: `releaseName` (default `[targetNamespace-]name`, shortened as Flux does),
//!   `.Release.Namespace` and the namespace of objects without one: `targetNamespace`, else
//!   the HelmRelease's namespace. `install.crds: Skip` leaves the chart's `crds/` out.
//! - `postRenderers[].kustomize` (patches, images) run on the rendered objects.
//! - Every object gets Helm's release annotations (`meta.helm.sh/release-name`,
//!   `meta.helm.sh/release-namespace`), as `helm install` sets them, so that objects the
//!   release installed before (with Helm or Flux) are adopted ([`crate::sync::adopt`]).
//!   Hooks keep `helm.sh/hook` and run as the sync's hooks ([`crate::sync::helm_hooks`]).
//!
//! Values from Secrets are secret: no error quotes them, and the values of Secrets the
//! chart renders from them are held by the render's decryption ([`Decryptor::hold`]), so
//! the rendered objects carry stand-ins, as decrypted SOPS Secrets do.

pub mod bucket;
mod chart;
mod error;
mod finish;
pub mod git;
pub mod model;
pub mod phase;
mod post_render;
mod source;
pub mod values;

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value};

use crate::render::Decryptor;
use crate::render::helm::cluster::{HelmCluster, ReleaseCluster};
use crate::render::helm_fetch::{ArchiveCache, FetchLimits, RepositoryAccess};
use chart::{consumed, load_chart};
use finish::{finish, post_render_all, refuse_exposure};
use model::HelmRelease;

pub use error::FluxHelmError;
pub use finish::SECRET_VALUES_ANNOTATION;
pub(crate) use finish::hold_secret;
pub use values::{HeldValues, NothingHeld};

/// What a chart is rendered with.
pub struct ReleaseRequest {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// The values (possibly from Secrets).
    pub values: Map<String, Value>,
    /// Whether some values came from a Secret (then no error may quote a value).
    pub secret_values: bool,
    /// Render the chart's `crds/`.
    pub include_crds: bool,
    /// Seeds the chart's random functions (the app).
    pub app_seed: String,
    /// `.Capabilities` from the cluster and `lookup` (`None`: `helm template`'s offline
    /// defaults and an empty `lookup`).
    pub cluster: Option<ReleaseCluster>,
}

impl std::fmt::Debug for ReleaseRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseRequest")
            .field("release_name", &self.release_name)
            .field("namespace", &self.namespace)
            .field("include_crds", &self.include_crds)
            .finish_non_exhaustive()
    }
}

/// A rendered release: CRDs, objects and hooks, in Helm's order.
#[derive(Debug, Default)]
pub struct RenderedRelease {
    /// The chart's `crds/` objects.
    pub crds: Vec<Value>,
    /// The templates' objects.
    pub objects: Vec<Value>,
    /// The hooks (`helm.sh/hook`).
    pub hooks: Vec<Value>,
}

/// Renders a loaded chart (the native Helm renderer, [`crate::render::helm`]).
pub trait ChartRenderer: Send + Sync {
    /// Renders `chart` for `request`. The error is a reason that quotes no value when
    /// `request.secret_values` is set.
    fn render(
        &self,
        chart: &crate::render::helm::Chart,
        request: &ReleaseRequest,
    ) -> Result<RenderedRelease, String>;
}

/// The native renderer: the chart rendered as `helm template` renders it (test hooks left
/// out), with the cluster's capabilities and lookup when the request has them.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeRenderer;

impl ChartRenderer for NativeRenderer {
    fn render(
        &self,
        loaded: &crate::render::helm::Chart,
        request: &ReleaseRequest,
    ) -> Result<RenderedRelease, String> {
        let mut options = crate::render::helm::ReleaseOptions {
            release_name: request.release_name.clone(),
            namespace: request.namespace.clone(),
            values: request.values.clone(),
            secret_values: request.secret_values,
            include_crds: request.include_crds,
            app_seed: request.app_seed.clone(),
            ..crate::render::helm::ReleaseOptions::default()
        };
        if let Some(cluster) = &request.cluster {
            cluster.apply(&mut options, false);
        }
        let release = crate::render::helm::render(loaded, &options).map_err(|e| {
            match &request.cluster {
                Some(cluster) => cluster.explain(e),
                None => e,
            }
            .to_string()
        })?;
        Ok(RenderedRelease {
            crds: release.crds.into_iter().map(|o| o.value).collect(),
            objects: release.objects.into_iter().map(|o| o.value).collect(),
            hooks: release
                .hooks
                .into_iter()
                .filter(|h| !h.is_test())
                .map(|h| h.object)
                .collect(),
        })
    }
}

/// What expanding HelmReleases needs.
pub struct Context<'a> {
    /// The app (seeds the random functions).
    pub app: &'a str,
    /// The namespace of objects that name none (the app's target namespace).
    pub namespace: &'a str,
    /// The chart renderer.
    pub renderer: &'a dyn ChartRenderer,
    /// The values of decrypted Secrets, behind their stand-ins.
    pub held: &'a dyn HeldValues,
    /// Holds the values of Secrets rendered from secret values (stand-ins in their place).
    pub hold: Option<&'a dyn Decryptor>,
    /// Bounds of fetching.
    pub limits: FetchLimits,
    /// The archive cache shared across renders.
    pub cache: Arc<Mutex<ArchiveCache>>,
    /// The objects the app applied at its last sync (install or upgrade, [`phase`]); `None`
    /// when unknown (every release installs).
    pub applied: Option<&'a phase::AppliedObjects>,
    /// Where charts of GitRepositories are read (`None`: refused).
    pub git: Option<&'a git::GitSources>,
    /// The cluster (`.Capabilities`, opt-in `lookup`); `None`: offline defaults.
    pub cluster: Option<&'a HelmCluster>,
    /// Tether's `helmRepositories`, for sources without a `secretRef`/`certSecretRef`.
    pub repositories: Option<&'a RepositoryAccess>,
}

/// What the daemon gives the HelmReleases of an app besides its manifests.
#[derive(Debug, Default)]
pub struct ReleaseEnv {
    /// Where charts of GitRepositories are read.
    pub git: Option<git::GitSources>,
    /// The cluster.
    pub cluster: Option<HelmCluster>,
    /// `helmRepositories`.
    pub repositories: Option<Arc<RepositoryAccess>>,
}

/// The process-wide archive cache (public chart archives only; 256 MiB).
pub fn shared_cache() -> Arc<Mutex<ArchiveCache>> {
    static CACHE: OnceLock<Arc<Mutex<ArchiveCache>>> = OnceLock::new();
    Arc::clone(CACHE.get_or_init(|| {
        Arc::new(Mutex::new(ArchiveCache::new(
            FetchLimits::default().cache_bytes,
        )))
    }))
}

/// The most bytes of archives the shared cache keeps on disk.
pub const DISK_CACHE_BYTES: u64 = 1 << 30;

/// Keeps the shared cache's archives in `dir` too (once; later calls change nothing), so a
/// restarted agent reuses them.
pub fn use_cache_dir(dir: &std::path::Path) {
    static SET: OnceLock<()> = OnceLock::new();
    SET.get_or_init(|| {
        let cache = shared_cache();
        let mut cache = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = cache.set_dir(dir, DISK_CACHE_BYTES) {
            tracing::warn!(dir = %dir.display(), error = %e, "chart archives are cached in memory only");
        }
    });
}

fn group_kind(object: &Value) -> (&str, &str) {
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map_or("", |(g, _)| g);
    (
        group,
        object.get("kind").and_then(Value::as_str).unwrap_or(""),
    )
}

fn namespace_of<'a>(object: &'a Value, default: &'a str) -> &'a str {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(default)
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// [`expand`] over rendered objects: the objects of a release keep the file of the first
/// HelmRelease as their source. Fetches with the process-wide cache and the native renderer.
pub fn expand_rendered(
    objects: Vec<crate::render::Object>,
    app: &str,
    namespace: &str,
    held: &dyn HeldValues,
    hold: Option<&dyn Decryptor>,
    applied: Option<&phase::AppliedObjects>,
    env: &ReleaseEnv,
) -> Result<Vec<crate::render::Object>, FluxHelmError> {
    let Some(source) = objects
        .iter()
        .find(|o| model::is_flux_helm_object(&o.value))
        .map(|o| o.source.clone())
    else {
        return Ok(objects);
    };
    let renderer = NativeRenderer;
    let ctx = Context {
        app,
        namespace,
        renderer: &renderer,
        held,
        hold,
        limits: FetchLimits::default(),
        cache: shared_cache(),
        applied,
        git: env.git.as_ref(),
        cluster: env.cluster.as_ref(),
        repositories: env.repositories.as_deref(),
    };
    // `expand` keeps the other objects first, in order, and appends the releases' objects.
    let values: Vec<&Value> = objects.iter().map(|o| &o.value).collect();
    let mask = consumed(&values, namespace);
    let kept: Vec<crate::tree::RelPath> = objects
        .iter()
        .zip(&mask)
        .filter(|(_, c)| !**c)
        .map(|(o, _)| o.source.clone())
        .collect();
    let expanded = expand(objects.into_iter().map(|o| o.value).collect(), &ctx)?;
    let sources = kept.into_iter().chain(std::iter::repeat(source));
    Ok(expanded
        .into_iter()
        .zip(sources)
        .map(|(value, source)| crate::render::Object { value, source })
        .collect())
}

/// Replaces every HelmRelease of `objects` by its chart's objects; the Flux objects are
/// dropped. The other objects come first, in their order, then each release's objects.
pub fn expand(objects: Vec<Value>, ctx: &Context<'_>) -> Result<Vec<Value>, FluxHelmError> {
    if !objects.iter().any(model::is_flux_helm_object) {
        return Ok(objects);
    }
    let mask = consumed(&objects.iter().collect::<Vec<_>>(), ctx.namespace);
    let (flux, out): (Vec<_>, Vec<_>) = objects.into_iter().zip(mask).partition(|(_, c)| *c);
    let flux: Vec<Value> = flux.into_iter().map(|(o, _)| o).collect();
    let mut out: Vec<Value> = out.into_iter().map(|(o, _)| o).collect();
    for object in flux
        .iter()
        .filter(|o| group_kind(o) == (model::HELM_GROUP, "HelmRelease"))
    {
        let namespace = namespace_of(object, ctx.namespace).to_owned();
        let id = format!("HelmRelease {namespace}/{}", name_of(object));
        let release: HelmRelease =
            serde_json::from_value(object.clone()).map_err(|e| FluxHelmError::InvalidObject {
                object: id.clone(),
                problem: e.to_string().chars().take(300).collect(),
            })?;
        let span = tracing::info_span!("helm_release", release = %id);
        let _entered = span.enter();
        let rendered = render_release(&release, &namespace, &id, &flux, &out, ctx)?;
        out.extend(rendered);
    }
    Ok(out)
}

fn render_release(
    release: &HelmRelease,
    namespace: &str,
    id: &str,
    flux: &[Value],
    objects: &[Value],
    ctx: &Context<'_>,
) -> Result<Vec<Value>, FluxHelmError> {
    phase::validate(release, id)?;
    if release.spec.suspend {
        return Err(FluxHelmError::Suspended {
            object: id.to_owned(),
        });
    }
    let origin = source::chart_source(release, namespace, id, flux, objects, ctx)?;
    let chart = load_chart(origin, id, ctx)?;
    let composed = values::compose(release, namespace, objects, ctx.held)?;
    let (values, secret_values) = (composed.values, composed.secret);
    let release_namespace = if release.spec.target_namespace.is_empty() {
        namespace.to_owned()
    } else {
        release.spec.target_namespace.clone()
    };
    let request = ReleaseRequest {
        release_name: model::release_name(release),
        namespace: release_namespace.clone(),
        values,
        secret_values,
        // Which CRDs are applied is decided once the release's objects are known.
        include_crds: true,
        app_seed: ctx.app.to_owned(),
        cluster: ctx.cluster.map(|c| c.for_release(&[&release_namespace])),
    };
    tracing::info!(chart = %chart.name(), version = %chart.metadata.version,
        release_name = %request.release_name, "rendering the HelmRelease's chart");
    let rendered =
        ctx.renderer
            .render(&chart, &request)
            .map_err(|reason| FluxHelmError::RenderFailed {
                object: id.to_owned(),
                reason,
            })?;
    let (policy, upgrade) =
        phase::crd_policy(release, &rendered.objects, &release_namespace, ctx.applied);
    tracing::debug!(crds = %policy, upgrade, "the release's CRD policy");
    let mut all = phase::select_crds(rendered.crds, &policy, upgrade, ctx.applied);
    all.extend(rendered.objects);
    all.extend(rendered.hooks);
    let looked_up = request.cluster.as_ref().is_some_and(|c| c.lookup.is_some());
    let mut all = post_render_all(release, id, all, secret_values || looked_up)?;
    let mut leaves = composed.leaves;
    if let Some(cluster) = &request.cluster {
        leaves.extend(cluster.take_leaves());
    }
    refuse_exposure(release, id, &all, &leaves)?;
    for object in &mut all {
        finish(object, &request.release_name, &release_namespace);
        if (secret_values || looked_up)
            && let Some(hold) = ctx.hold
        {
            hold_secret(object, hold);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests;
