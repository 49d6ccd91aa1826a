//! Kustomize's Helm chart inflation (`helmCharts`, `helmGlobals`, and the older
//! `helmChartInflationGenerator`), rendered natively as `kubectl kustomize --enable-helm`
//! renders it with `helm template`: the chart's objects are generated resources, added
//! after `configMapGenerator`/`secretGenerator` and before the transformers, so the
//! kustomization's namespace, prefixes, labels and patches apply to them.
//!
//! - The chart: `chartHome/NAME` (`chartHome` default `charts/`, below the kustomization);
//!   with both `repo` and `version`, `chartHome/NAME-VERSION/NAME`, where
//!   `kustomize` pulls it. A chart present there is used without network access; a chart
//!   that is not is fetched from `repo` (HTTP(S) Helm repository or `oci://`, with the
//!   version resolved as Helm resolves it) into memory, never into the tree.
//! - The values: `valuesFile` (default the chart's `values.yaml`) combined with
//!   `valuesInline` as `valuesMerge` says (`override`, the default: inline wins; `merge`:
//!   the file wins; `replace`: inline only), then `additionalValuesFiles` in order.
//! - `releaseName` (default `release-name`, where kustomize asks helm to generate a name),
//!   `namespace`, `includeCRDs`, `skipTests`, `skipHooks`, `apiVersions`, `kubeVersion`.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::dir::Dir;
use super::kustomization::Kustomization;
use super::load::Accumulator;
use super::{KustomizeError, Resource};
use crate::render::helm::{self, ReleaseOptions};
use crate::render::helm_fetch::{ChartRequest, FetchLimits, Fetcher, Repository};
use crate::tree::RelPath;

/// One `helmCharts` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HelmChart {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    release_name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    values_file: String,
    #[serde(default)]
    values_inline: Option<Map<String, Value>>,
    #[serde(default)]
    values_merge: String,
    #[serde(default)]
    additional_values_files: Vec<String>,
    #[serde(default, rename = "includeCRDs")]
    include_crds: bool,
    #[serde(default)]
    skip_tests: bool,
    #[serde(default)]
    skip_hooks: bool,
    #[serde(default)]
    api_versions: Vec<String>,
    #[serde(default)]
    kube_version: String,
    #[serde(default)]
    name_template: String,
    #[serde(default)]
    devel: bool,
    #[serde(default)]
    debug: bool,
}

/// `helmGlobals`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HelmGlobals {
    #[serde(default)]
    chart_home: String,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "helm's configuration folder: nothing is read from it"
    )]
    config_home: String,
}

/// One `helmChartInflationGenerator` entry (kustomize's older form).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LegacyChart {
    chart_name: String,
    #[serde(default)]
    chart_version: String,
    #[serde(default, rename = "chartRepoUrl")]
    chart_repo_url: String,
    #[serde(default)]
    chart_home: String,
    #[serde(default)]
    release_name: String,
    #[serde(default)]
    release_namespace: String,
    #[serde(default)]
    values: String,
    #[serde(default)]
    values_local: Option<Map<String, Value>>,
    #[serde(default)]
    values_merge: String,
}

fn fail(here: &Dir<'_>, field: &str, reason: String) -> KustomizeError {
    KustomizeError::InvalidField {
        path: here.file.to_string(),
        field: field.to_owned(),
        reason,
    }
}

/// Generates the objects of every chart of `k` into `acc`.
pub(crate) fn generate(
    here: &Dir<'_>,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), KustomizeError> {
    let globals: HelmGlobals = match &k.helm_globals {
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| fail(here, "helmGlobals", e.to_string()))?,
        None => HelmGlobals::default(),
    };
    if !globals.chart_home.is_empty() {
        chart_home_dir(here, "helmGlobals", &globals.chart_home)?;
    }
    let mut charts = Vec::new();
    for (index, value) in k.helm_charts.iter().enumerate() {
        let field = format!("helmCharts[{index}]");
        let chart: HelmChart =
            serde_json::from_value(value.clone()).map_err(|e| fail(here, &field, e.to_string()))?;
        charts.push((field, chart, globals.chart_home.clone()));
    }
    for (index, value) in k.helm_chart_inflation_generator.iter().enumerate() {
        let field = format!("helmChartInflationGenerator[{index}]");
        let old: LegacyChart =
            serde_json::from_value(value.clone()).map_err(|e| fail(here, &field, e.to_string()))?;
        let chart = HelmChart {
            name: old.chart_name,
            version: old.chart_version,
            repo: old.chart_repo_url,
            release_name: old.release_name,
            namespace: old.release_namespace,
            values_file: old.values,
            values_inline: old.values_local,
            values_merge: old.values_merge,
            ..HelmChart::default()
        };
        charts.push((field, chart, old.chart_home));
    }
    for (field, chart, chart_home) in charts {
        for object in inflate(here, &field, &chart, &chart_home)? {
            acc.append(Resource::new(object, here.file.clone()), &here.file)?;
        }
    }
    Ok(())
}

/// Renders one chart; returns its objects in `helm template`'s order.
fn inflate(
    here: &Dir<'_>,
    field: &str,
    chart: &HelmChart,
    chart_home: &str,
) -> Result<Vec<Value>, KustomizeError> {
    if chart.name.is_empty() {
        return Err(fail(here, field, "chart name cannot be empty".into()));
    }
    if !chart.name_template.is_empty() {
        return Err(KustomizeError::Unsupported {
            path: here.file.to_string(),
            field: format!("{field}.nameTemplate"),
            reason: "release names from a template are not supported; set releaseName".into(),
        });
    }
    let _ = (chart.devel, chart.debug);
    let merge = match chart.values_merge.as_str() {
        "" | "override" => "override",
        "merge" => "merge",
        "replace" => "replace",
        other => {
            return Err(fail(
                here,
                field,
                format!("valuesMerge {other:?} must be one of [merge override replace]"),
            ));
        }
    };
    let (loaded, chart_dir) = load_chart(here, field, chart, chart_home)?;
    let value_files = values(here, field, chart, &chart_dir, merge)?;
    let mut options = ReleaseOptions {
        release_name: if chart.release_name.is_empty() {
            helm::DEFAULT_RELEASE_NAME.to_owned()
        } else {
            chart.release_name.clone()
        },
        namespace: if chart.namespace.is_empty() {
            "default".to_owned()
        } else {
            chart.namespace.clone()
        },
        value_files,
        include_crds: chart.include_crds,
        include_tests: !chart.skip_tests,
        kube_version: (!chart.kube_version.is_empty()).then(|| chart.kube_version.clone()),
        api_versions: chart.api_versions.clone(),
        app_seed: here.file.to_string(),
        ..ReleaseOptions::default()
    };
    // The cluster's capabilities; the kustomization's kubeVersion and apiVersions win.
    let cluster = here
        .helm_cluster
        .map(|c| c.for_release(&[options.namespace.as_str()]));
    if let Some(cluster) = &cluster {
        cluster.apply(&mut options, !chart.api_versions.is_empty());
    }
    let explain = |e: helm::HelmError| match &cluster {
        Some(c) => c.explain(e),
        None => e,
    };
    let release =
        helm::render(&loaded, &options).map_err(|e| fail(here, field, explain(e).to_string()))?;
    if let Some(cluster) = &cluster {
        let objects = release
            .crds
            .iter()
            .chain(&release.objects)
            .map(|o| &o.value)
            .chain(release.hooks.iter().map(|h| &h.object));
        cluster
            .refuse_exposure(objects)
            .map_err(|e| fail(here, field, e.to_string()))?;
    }
    let mut out: Vec<Value> = release.crds.into_iter().map(|o| o.value).collect();
    out.extend(release.objects.into_iter().map(|o| o.value));
    if !chart.skip_hooks {
        out.extend(release.hooks.into_iter().map(|h| h.object));
    }
    // A looked-up Secret's values stay held, as decrypted SOPS values are.
    if cluster.as_ref().is_some_and(|c| c.lookup.is_some())
        && let Some(hold) = here.decryptor
    {
        for object in &mut out {
            crate::render::flux_helm::hold_secret(object, hold);
        }
    }
    Ok(out)
}

/// The chart: under `chartHome` when it is there (kustomize's layout), else fetched from
/// `repo` into memory. Returns it with its directory (where its `values.yaml` is).
fn load_chart(
    here: &Dir<'_>,
    field: &str,
    chart: &HelmChart,
    chart_home: &str,
) -> Result<(helm::Chart, RelPath), KustomizeError> {
    let home = if chart_home.is_empty() {
        "charts"
    } else {
        chart_home
    };
    let mut home_dir = chart_home_dir(here, field, home)?;
    if !chart.version.is_empty() && !chart.repo.is_empty() {
        home_dir = child(
            here,
            field,
            &home_dir,
            &format!("{}-{}", chart.name, chart.version),
        )?;
    }
    let chart_dir = child(here, field, &home_dir, &chart.name)?;
    let helm_error = |e: helm::HelmError| fail(here, field, e.to_string());
    let loaded = if here.tree.is_dir(&chart_dir).unwrap_or(false) {
        helm::load_dir(here.tree, &chart_dir).map_err(helm_error)?
    } else if chart.repo.is_empty() {
        return Err(fail(
            here,
            field,
            format!("no repo specified for pull, no chart found at '{chart_dir}'"),
        ));
    } else {
        let repository = here.helm_repositories.map_or_else(
            || Repository::new(&chart.repo),
            |a| a.repository(&chart.repo),
        );
        let fetcher = Fetcher::new(vec![repository], FetchLimits::default())
            .with_cache(crate::render::flux_helm::shared_cache());
        let fetched = fetcher
            .fetch(&ChartRequest {
                repository: chart.repo.clone(),
                name: chart.name.clone(),
                version: chart.version.clone(),
                digest: None,
            })
            .map_err(|e| fail(here, field, e.to_string()))?;
        helm::load_archive(
            &format!("{}-{}.tgz", fetched.name, fetched.version),
            &fetched.archive,
        )
        .map_err(helm_error)?
    };
    Ok((loaded, chart_dir))
}

/// `chartHome` below the kustomization, which must contain it (kustomize's load
/// restriction: values files are read from it).
fn chart_home_dir(here: &Dir<'_>, field: &str, home: &str) -> Result<RelPath, KustomizeError> {
    let dir = here.join(field, home)?;
    if !dir.starts_with(&here.dir) {
        return Err(KustomizeError::PathRefused {
            path: here.file.to_string(),
            field: field.to_owned(),
            target: home.to_owned(),
            root: here.dir.to_string(),
            reason: "chartHome must be in or below the kustomization's directory".to_owned(),
        });
    }
    Ok(dir)
}

fn child(
    here: &Dir<'_>,
    field: &str,
    dir: &RelPath,
    name: &str,
) -> Result<RelPath, KustomizeError> {
    dir.child(name)
        .map_err(|source| KustomizeError::ReadFailed {
            path: format!("{} ({field})", here.file),
            source,
        })
}

/// A values file given to helm: its path (for errors) and its values.
type ValuesFile = (String, Map<String, Value>);

/// The values files helm is given: the values file (with the inline values as `valuesMerge`
/// says), then the additional files.
fn values(
    here: &Dir<'_>,
    field: &str,
    chart: &HelmChart,
    chart_dir: &RelPath,
    merge: &str,
) -> Result<Vec<ValuesFile>, KustomizeError> {
    let read = |path: &RelPath| {
        helm::read_values_file(here.tree, path).map_err(|e| fail(here, field, e.to_string()))
    };
    let file = if chart.values_file.is_empty() {
        child(here, field, chart_dir, "values.yaml")?
    } else {
        let (path, _) = here.read(&format!("{field}.valuesFile"), &chart.values_file)?;
        path
    };
    let mut files = Vec::new();
    let inline = chart.values_inline.clone().filter(|m| !m.is_empty());
    let base = match (&inline, merge) {
        (Some(inline), "replace") => inline.clone(),
        (Some(inline), "merge") => {
            let mut out = inline.clone();
            merge_into(
                &mut out,
                read_or_empty(here, &file, chart.values_file.is_empty(), read)?,
            );
            out
        }
        (Some(inline), _) => {
            let mut out = read_or_empty(here, &file, chart.values_file.is_empty(), read)?;
            merge_into(&mut out, inline.clone());
            out
        }
        (None, _) => read_or_empty(here, &file, chart.values_file.is_empty(), read)?,
    };
    files.push((file.to_string(), base));
    for extra in &chart.additional_values_files {
        let (path, _) = here.read(&format!("{field}.additionalValuesFiles"), extra)?;
        files.push((path.to_string(), read(&path)?));
    }
    Ok(files)
}

/// The chart's own `values.yaml` may be missing (a chart without defaults).
fn read_or_empty(
    here: &Dir<'_>,
    file: &RelPath,
    chart_default: bool,
    read: impl Fn(&RelPath) -> Result<Map<String, Value>, KustomizeError>,
) -> Result<Map<String, Value>, KustomizeError> {
    if chart_default && !here.tree.is_file(file).unwrap_or(false) {
        return Ok(Map::new());
    }
    read(file)
}

/// Merges `src` into `dst`: maps key by key, anything else in `src` replaces.
fn merge_into(dst: &mut Map<String, Value>, src: Map<String, Value>) {
    for (key, value) in src {
        match (dst.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(inner)) => merge_into(existing, inner),
            (_, value) => {
                dst.insert(key, value);
            }
        }
    }
}
