//! Argo CD Applications whose chart comes from a Helm repository (`source.chart` with a
//! `https://` repository or an OCI registry as `repoURL`) and Applications with several
//! `sources`, as an app's `helm:` block with a remote chart (`repoURL`, `chart`,
//! `targetRevision`).
//!
//! Of several `sources`, one renders (a chart or a Git directory); the others are `ref:`
//! sources whose files the chart's `valueFiles` name as `$ref/path`, as Argo CD reads them.
//! A referenced repository must be the one Tether reads; the app's directory is then the
//! deepest directory holding every values file, so that `$values/envs/prod/values.yaml`
//! becomes the values file `values.yaml` of directory `envs/prod`. A chart app without `ref:`
//! sources lives in the Application's directory of the repository that holds it (`source`
//! left empty: the source the agent reads).

use super::argocd::unmappable;
use super::{Found, MigrateError, Outcome};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What the Application renders: a directory of a Git source, or a remote chart.
pub(super) enum Rendered {
    /// A Git source's directory: the source as it is (the `spec.source` shape).
    Directory(Value),
    /// A remote chart: the app's directory, its source name (empty: the repository holding
    /// the Application) and the `helm:` block.
    Chart {
        /// The app's directory in that source.
        path: String,
        /// The source's name.
        source: String,
        /// The `helm:` block.
        helm: Value,
    },
}

/// The source the Application renders, with `ref:` sources resolved.
pub(super) fn rendered(object: &Found, outcome: &mut Outcome) -> Result<Rendered, MigrateError> {
    let spec = &object.value["spec"];
    let (sources, prefix): (Vec<Value>, &str) = match (&spec["source"], &spec["sources"]) {
        (Value::Null, Value::Array(list)) => (list.clone(), "spec.sources"),
        (single, Value::Null) => (vec![single.clone()], "spec.source"),
        _ => {
            return Err(unmappable(
                object,
                "spec.sources",
                "both source and sources are set",
            ));
        }
    };
    let field = |index: usize, f: &str| {
        if prefix == "spec.source" {
            format!("spec.source.{f}")
        } else {
            format!("{prefix}[{index}].{f}")
        }
    };
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    let mut content = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        match source["ref"].as_str() {
            Some(name) if source["path"].is_null() && source["chart"].is_null() => {
                let (_, source_name) =
                    super::argocd::source_of(object, source, &field(index, ""), outcome)?;
                refs.insert(name.to_owned(), source_name);
            }
            Some(_) => {
                return Err(unmappable(
                    object,
                    &field(index, "ref"),
                    "a ref source with a path or chart is not supported",
                ));
            }
            None => content.push((index, source)),
        }
    }
    let [(index, source)] = content.as_slice() else {
        return Err(unmappable(
            object,
            prefix,
            &format!(
                "{} sources render objects: Tether renders one chart or directory per app",
                content.len()
            ),
        ));
    };
    if source["chart"].is_null() {
        if !refs.is_empty() {
            return Err(unmappable(
                object,
                &field(*index, "helm.valueFiles"),
                "ref sources are read only with a chart from a Helm repository",
            ));
        }
        return Ok(Rendered::Directory((*source).clone()));
    }
    chart(object, source, &refs, &|f| field(*index, f))
}

/// A chart from a Helm repository or an OCI registry.
fn chart(
    object: &Found,
    source: &Value,
    refs: &BTreeMap<String, String>,
    field: &dyn Fn(&str) -> String,
) -> Result<Rendered, MigrateError> {
    for key in source.as_object().into_iter().flatten().map(|(k, _)| k) {
        if !["repoURL", "chart", "targetRevision", "helm"].contains(&key.as_str()) {
            return Err(unmappable(
                object,
                &field(key),
                "not supported with a chart",
            ));
        }
    }
    let text = |f: &str| source[f].as_str().filter(|s| !s.is_empty());
    let (Some(url), Some(chart)) = (text("repoURL"), text("chart")) else {
        return Err(unmappable(
            object,
            &field("repoURL"),
            "repoURL and chart are required",
        ));
    };
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        // Argo CD names OCI registries without a scheme (`registry-1.docker.io/bitnamicharts`).
        format!("oci://{url}")
    };
    let helm_field = field("helm");
    let mut helm = super::argocd_helm::helm_at(object, &source["helm"], &helm_field, true)?
        .unwrap_or_else(|| Value::Object(Map::new()));
    // `$ref/path` value files: paths from the root of the referenced repository.
    let mut sources: Vec<&String> = Vec::new();
    if let Some(files) = helm.get_mut("valueFiles").and_then(Value::as_array_mut) {
        for file in files.iter_mut() {
            let Some(text) = file.as_str() else { continue };
            let (name, rest) = text
                .strip_prefix('$')
                .and_then(|t| t.split_once('/'))
                .ok_or_else(|| {
                    unmappable(
                        object,
                        &format!("{helm_field}.valueFiles"),
                        &format!(
                            "{text:?}: files inside a remote chart are not supported; use $ref/path"
                        ),
                    )
                })?;
            let Some(source_name) = refs.get(name) else {
                return Err(unmappable(
                    object,
                    &format!("{helm_field}.valueFiles"),
                    &format!("{text:?}: no source has ref: {name}"),
                ));
            };
            let Some(path) = super::clean_path(rest) else {
                return Err(unmappable(
                    object,
                    &format!("{helm_field}.valueFiles"),
                    &format!("{text:?}: leaves the repository"),
                ));
            };
            sources.push(source_name);
            *file = Value::String(path);
        }
    }
    sources.dedup();
    if sources.len() > 1 {
        return Err(unmappable(
            object,
            &format!("{helm_field}.valueFiles"),
            "value files from more than one repository",
        ));
    }
    if let Some(map) = helm.as_object_mut() {
        map.insert("repoURL".into(), url.into());
        map.insert("chart".into(), chart.into());
        if let Some(revision) = text("targetRevision").filter(|r| *r != "*") {
            map.insert("targetRevision".into(), revision.into());
        }
    }
    let path = app_dir(object, &mut helm, &helm_field)?;
    Ok(Rendered::Chart {
        path,
        source: sources.first().map(|s| (*s).clone()).unwrap_or_default(),
        helm,
    })
}

/// The app's directory: the deepest directory holding every values file (their paths made
/// relative to it), or the Application's own directory when there are none.
fn app_dir(object: &Found, helm: &mut Value, helm_field: &str) -> Result<String, MigrateError> {
    let files: Vec<String> = helm["valueFiles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let parents: Vec<Vec<&str>> = files
        .iter()
        .map(|f| {
            let mut parts: Vec<&str> = f.split('/').collect();
            parts.pop();
            parts
        })
        .collect();
    let mut common: Vec<&str> = parents.first().cloned().unwrap_or_default();
    for parts in &parents {
        let same = common.iter().zip(parts).take_while(|(a, b)| a == b).count();
        common.truncate(same);
    }
    if files.is_empty() {
        common = object.file.split('/').collect();
        common.pop();
    }
    if common.is_empty() {
        return Err(unmappable(
            object,
            &format!("{helm_field}.valueFiles"),
            "the values files (or the Application) sit at the repository root: Tether needs \
             a directory holding them",
        ));
    }
    let dir = common.join("/");
    if let Some(list) = helm.get_mut("valueFiles").and_then(Value::as_array_mut) {
        *list = files
            .iter()
            .map(|f| Value::String(f[dir.len() + 1..].to_owned()))
            .collect();
    }
    Ok(dir)
}
