//! A chart directory of a snapshot rendered as an app (`tether.yaml`'s `helm:` block, or
//! `tether-agent render DIR` on a chart): values files read through the tree, the release
//! rendered, and its CRDs, objects and (non-test) hooks returned as render objects.

use super::release::RenderedObject;
use super::{HelmError, ReleaseOptions, load_dir, read_values_file, render};
use crate::render::Object;
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
    /// Values files, paths relative to the chart directory (inside the snapshot), in order.
    pub value_files: Vec<String>,
    /// Inline values, after the files.
    pub values: Map<String, Value>,
    /// Values read at sync from ConfigMaps and Secrets, after the inline values, in order;
    /// `true` marks a Secret's (then no error quotes a value).
    pub values_from: Vec<(Map<String, Value>, bool)>,
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
            .field("values_from", &self.values_from.len())
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
    let chart = load_dir(tree, dir)?;
    let mut options = ReleaseOptions {
        include_crds: !settings.skip_crds,
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
    for (values, secret) in &settings.values_from {
        inline = super::merge_maps(inline, values.clone());
        options.secret_values |= secret;
    }
    options.values = inline;
    let release = render(&chart, &options)?;
    let source = |object: &RenderedObject| -> RelPath {
        // `chart/templates/x.yaml` → `DIR/templates/x.yaml`.
        let inner = object.template.split_once('/').map_or("", |(_, rest)| rest);
        dir.join(inner).unwrap_or_else(|_| dir.clone())
    };
    let mut objects = Vec::new();
    for object in release.crds.iter().chain(&release.objects) {
        objects.push(Object {
            value: object.value.clone(),
            source: source(object),
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
    Ok(objects)
}
