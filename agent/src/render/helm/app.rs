//! A chart directory of a snapshot rendered as an app (`tether.yaml`'s `helm:` block, or
//! `tether-agent render DIR` on a chart): values files read through the tree, the release
//! rendered, and its CRDs, objects and (non-test) hooks returned as render objects.

use std::sync::Arc;

use super::crds::CrdFile;
use super::release::RenderedObject;
use super::values_from::ResolvedValues;
use super::{HelmError, ReleaseOptions, read_values_file, render};
use crate::render::helm_fetch::{ChartRequest, FetchLimits, Fetcher, RepositoryAccess};
use crate::render::{Decryptor, Object};
use crate::tree::{RelPath, Tree};
use serde_json::{Map, Value};

/// The file that makes a directory a chart.
pub const CHART_FILE: &str = "Chart.yaml";

/// How an app's chart is rendered (named like Argo CD's `spec.source.helm`).
#[derive(Clone, Default)]
pub struct ChartSettings {
    /// `.Release.Name` (default: the app's name, else `release-name`).
    pub release_name: Option<String>,
    /// `.Release.Namespace` (default: the app's namespace, else `default`).
    pub namespace: Option<String>,
    /// A remote chart (its repository, name and version) rendered instead of a chart in the
    /// app's directory; values files are then relative to the app's directory.
    pub remote: Option<ChartRequest>,
    /// Access to the remote chart's repository (credentials, CA bundle, plain HTTP).
    pub repositories: Option<Arc<RepositoryAccess>>,
    /// Answers `lookup` from the cluster (the app opted in); `None` answers empty.
    pub lookup: Option<Arc<super::lookup::ClusterLookup>>,
    /// Values files, paths relative to the chart directory (inside the snapshot), in order.
    pub value_files: Vec<String>,
    /// Inline values, after the files.
    pub values: Map<String, Value>,
    /// Values read at sync from ConfigMaps and Secrets ([`super::values_from`]), merged over
    /// the inline values.
    pub values_from: Option<Arc<ResolvedValues>>,
    /// Let values read from Secrets into objects that are not Secrets (else the render is
    /// refused, [`super::exposure`]).
    pub allow_secret_values_outside_secrets: bool,
    /// Holds the values of Secrets rendered from secret values (stand-ins in their place).
    pub hold: Option<Arc<dyn Decryptor>>,
    /// `--set` expressions, last.
    pub set: Vec<String>,
    /// Leave the chart's `crds/` out.
    pub skip_crds: bool,
    /// `.Capabilities.KubeVersion`.
    pub kube_version: Option<String>,
    /// Extra `.Capabilities.APIVersions`.
    pub api_versions: Vec<String>,
    /// Seeds the random functions (the app's name).
    pub app: String,
}

impl std::fmt::Debug for ChartSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartSettings")
            .field("release_name", &self.release_name)
            .field("namespace", &self.namespace)
            .field("value_files", &self.value_files)
            .field("values_from", &self.values_from.is_some())
            .field("skip_crds", &self.skip_crds)
            .finish_non_exhaustive()
    }
}

/// Whether `dir` holds a chart.
pub fn is_chart_dir(tree: &Tree, dir: &RelPath) -> bool {
    dir.join(CHART_FILE)
        .ok()
        .is_some_and(|p| tree.is_file(&p).unwrap_or(false))
}

/// Renders the chart in `dir` into objects: CRDs first, then the objects in Helm's install
/// order, then the hooks (annotated `helm.sh/hook`, for the sync engine to run as hooks).
pub fn render_app(
    tree: &Tree,
    dir: &RelPath,
    settings: &ChartSettings,
) -> Result<Vec<Object>, HelmError> {
    render_chart(tree, dir, settings, false).map(|output| output.objects)
}

/// What a chart renders to when it is printed: its `crds/` files as text, then the
/// objects.
#[derive(Debug)]
pub struct PrintedChart {
    /// The `crds/` files (unless `skip_crds`), to print as they are, first.
    pub crd_files: Vec<CrdFile>,
    /// The objects in Helm's install order, then the hooks, as [`render_app`] gives them
    /// (without the CRDs).
    pub objects: Vec<Object>,
}

/// Renders the chart in `dir` as `helm template --include-crds` prints it: the `crds/` files
/// as text (checked to be YAML mappings, not parsed into objects, so that a chart's large
/// CRDs cost little time and memory), then the objects as [`render_app`] gives them.
pub fn render_printed(
    tree: &Tree,
    dir: &RelPath,
    settings: &ChartSettings,
) -> Result<PrintedChart, HelmError> {
    render_chart(tree, dir, settings, true)
}

fn render_chart(
    tree: &Tree,
    dir: &RelPath,
    settings: &ChartSettings,
    crds_as_text: bool,
) -> Result<PrintedChart, HelmError> {
    let chart = match &settings.remote {
        Some(request) => fetch_remote(request, settings.repositories.as_deref())?,
        None => crate::render::helm_fetch::local::load_dir_with_local_dependencies(tree, dir)?,
    };
    let options = release_options(tree, dir, settings, crds_as_text)?;
    let release = render(&chart, &options).map_err(|e| match &settings.lookup {
        Some(lookup) => lookup
            .take_refusal()
            .map_or(e, |reason| HelmError::LookupRefused { reason }),
        None => e,
    })?;
    refuse_exposure(settings, &options, &chart.values, &release)?;
    let source = |object: &RenderedObject| -> RelPath {
        // `chart/templates/x.yaml` → `DIR/templates/x.yaml`.
        let inner = object.template.split_once('/').map_or("", |(_, rest)| rest);
        dir.join(inner).unwrap_or_else(|_| dir.clone())
    };
    let crd_files = release.crd_files;
    let mut objects = Vec::new();
    for object in release.crds.into_iter().chain(release.objects) {
        objects.push(Object {
            source: source(&object),
            value: object.value,
        });
    }
    for hook in release.hooks {
        let rendered = RenderedObject {
            template: hook.template,
            value: hook.object,
        };
        objects.push(Object {
            source: source(&rendered),
            value: rendered.value,
        });
    }
    if options.secret_values
        && let Some(hold) = settings.hold.as_deref()
    {
        for object in &mut objects {
            crate::render::flux_helm::hold_secret(&mut object.value, hold);
        }
    }
    Ok(PrintedChart { crd_files, objects })
}

/// The release options of an app's chart: its settings, with its values files read
/// through the tree.
fn release_options(
    tree: &Tree,
    dir: &RelPath,
    settings: &ChartSettings,
    crds_as_text: bool,
) -> Result<ReleaseOptions, HelmError> {
    let mut options = ReleaseOptions {
        include_crds: !settings.skip_crds,
        crds_as_text,
        kube_version: settings.kube_version.clone(),
        api_versions: settings.api_versions.clone(),
        app_seed: settings.app.clone(),
        set: settings.set.clone(),
        ..ReleaseOptions::default()
    };
    if let Some(name) = &settings.release_name {
        options.release_name.clone_from(name);
    }
    if let Some(namespace) = &settings.namespace {
        options.namespace.clone_from(namespace);
    }
    for file in &settings.value_files {
        let path = dir.join(file).map_err(|source| HelmError::ReadFailed {
            chart: dir.to_string(),
            source,
        })?;
        options
            .value_files
            .push((path.to_string(), read_values_file(tree, &path)?));
    }
    let mut inline = settings.values.clone();
    if let Some(from) = &settings.values_from {
        inline = super::merge_maps(inline, from.values.clone());
        options.secret_values |= from.secret;
    }
    options.values = inline;
    if let Some(lookup) = &settings.lookup {
        let lookup: Arc<dyn super::template::Lookup> = lookup.clone();
        options.lookup = Some(lookup);
        // A Secret looked up may reach an error message: none quotes a value.
        options.secret_values = true;
    }
    Ok(options)
}

/// Fetches the remote chart through the configured access, with the process-wide cache.
fn fetch_remote(
    request: &ChartRequest,
    access: Option<&RepositoryAccess>,
) -> Result<super::Chart, HelmError> {
    let repository = access.map_or_else(
        || crate::render::helm_fetch::Repository::new(&request.repository),
        |a| a.repository(&request.repository),
    );
    let fetched = Fetcher::new(vec![repository], FetchLimits::default())
        .with_cache(crate::render::flux_helm::shared_cache())
        .fetch(request)
        .map_err(|source| HelmError::RepositoryFailed { source })?;
    super::load_archive(
        &format!("{}-{}.tgz", fetched.name, fetched.version),
        &fetched.archive,
    )
}

/// Whether the settings render a remote chart (the app's directory holds no chart).
#[must_use]
pub fn is_remote(settings: &ChartSettings) -> bool {
    settings.remote.is_some()
}

/// Refuses the release when a value read from a Secret (by `valuesFrom` or `lookup`) is in
/// an object that is not a Secret, unless the app allows it. Strings also in the non-secret
/// values do not count.
fn refuse_exposure(
    settings: &ChartSettings,
    options: &ReleaseOptions,
    defaults: &Map<String, Value>,
    release: &super::Release,
) -> Result<(), HelmError> {
    let mut leaves = super::exposure::SecretLeaves::new();
    if let Some(from) = settings.values_from.as_deref().filter(|f| f.secret) {
        leaves.extend_from(&from.leaves);
    }
    if let Some(lookup) = &settings.lookup {
        leaves.extend(lookup.take_leaves());
    }
    if settings.allow_secret_values_outside_secrets || leaves.is_empty() {
        return Ok(());
    }
    leaves.forget_public(&settings.values);
    leaves.forget_public(defaults);
    for (_, values) in &options.value_files {
        leaves.forget_public(values);
    }
    let objects = release
        .crds
        .iter()
        .chain(&release.objects)
        .map(|o| &o.value)
        .chain(release.hooks.iter().map(|h| &h.object));
    match super::exposure::find(objects, &leaves) {
        None => Ok(()),
        Some(found) => Err(HelmError::SecretValueExposed {
            target: found.object,
            field: found.field,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{RenderError, RenderOptions};
    use crate::tree::FsTree;

    fn write(dir: &std::path::Path, name: &str, text: &str) {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn an_app_chart_renders_with_its_value_files_and_sources() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        write(
            d,
            "apps/web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n",
        );
        write(d, "apps/web/values.yaml", "replicas: 1\nname: a\n");
        write(
            d,
            "apps/web/templates/cm.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: {{ .Release.Name }}-{{ .Values.name }}, namespace: {{ .Release.Namespace }}}\ndata: {replicas: {{ .Values.replicas | quote }}}\n",
        );
        write(d, "env/prod.yaml", "replicas: 3\nname: b\n");
        let tree = crate::tree::Tree::new(FsTree::new(d));
        let settings = ChartSettings {
            release_name: Some("shop".into()),
            namespace: Some("prod".into()),
            value_files: vec!["../../env/prod.yaml".into()],
            set: vec!["name=c".into()],
            ..ChartSettings::default()
        };
        let options = RenderOptions {
            helm: Some(settings),
            ..RenderOptions::default()
        };
        let dir = RelPath::parse("apps/web").unwrap_or_else(|e| panic!("{e}"));
        let objects =
            crate::render::render(&tree, &dir, &options).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0].value["metadata"]["name"], "shop-c");
        assert_eq!(objects[0].value["metadata"]["namespace"], "prod");
        assert_eq!(objects[0].value["data"]["replicas"], "3");
        assert_eq!(objects[0].source.as_str(), "apps/web/templates/cm.yaml");
        // Without settings the chart renders with Helm's defaults.
        let objects = crate::render::render(&tree, &dir, &RenderOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(objects[0].value["metadata"]["name"], "release-name-a");
        // A values file outside the snapshot is refused, naming the chart.
        let outside = RenderOptions {
            helm: Some(ChartSettings {
                value_files: vec!["../../../etc/passwd".into()],
                ..ChartSettings::default()
            }),
            ..RenderOptions::default()
        };
        let err = crate::render::render(&tree, &dir, &outside).err();
        assert!(
            matches!(err, Some(RenderError::ChartFailed { .. })),
            "{err:?}"
        );
        assert_eq!(err.map(|e| e.reason()), Some("ChartFailed"));
    }

    fn resolved(values: serde_json::Value) -> Arc<ResolvedValues> {
        let mut leaves = crate::render::helm::exposure::SecretLeaves::new();
        leaves.add_value(&values);
        Arc::new(ResolvedValues {
            values: values.as_object().cloned().unwrap_or_default(),
            secret: true,
            leaves,
        })
    }

    #[test]
    fn a_secret_value_in_a_config_map_refuses_the_app_unless_it_opts_out() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let d = dir.path();
        write(
            d,
            "web/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n",
        );
        write(d, "web/values.yaml", "image: nginx:1.27\n");
        write(
            d,
            "web/templates/cm.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata: {name: cfg}\ndata: {image: {{ .Values.image }}, url: 'postgres://app:{{ .Values.password }}@db'}\n",
        );
        let tree = crate::tree::Tree::new(FsTree::new(d));
        let dir = RelPath::parse("web").unwrap_or_else(|e| panic!("{e}"));
        let mut settings = ChartSettings {
            values_from: Some(resolved(
                serde_json::json!({"password": "hunter2-pass", "image": "nginx:1.27"}),
            )),
            ..ChartSettings::default()
        };
        let err = render_app(&tree, &dir, &settings)
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.starts_with("ConfigMap cfg: field data.url carries a value read from a Secret"),
            "{err}"
        );
        assert!(!err.contains("hunter2-pass"), "{err}");
        settings.allow_secret_values_outside_secrets = true;
        let objects = render_app(&tree, &dir, &settings).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            objects[0].value["data"]["url"],
            "postgres://app:hunter2-pass@db"
        );
    }
}
