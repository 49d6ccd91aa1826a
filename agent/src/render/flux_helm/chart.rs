//! The chart a HelmRelease renders (fetched, or loaded from a Git tree) and the objects
//! of an app that are rendered instead of applied.

use std::sync::Arc;

use serde_json::Value;

use super::source::Origin;
use super::{Context, FluxHelmError, group_kind, model, name_of, namespace_of};
use crate::render::helm_fetch::Fetcher;

/// Which objects are rendered instead of applied: the Flux Helm objects, and the
/// GitRepositories and Buckets that a HelmRelease or HelmChart takes its chart from, and
/// the GitRepositories those include.
pub(super) fn consumed(objects: &[&Value], default_ns: &str) -> Vec<bool> {
    let mut git: Vec<(String, String, String)> = Vec::new();
    for object in objects.iter().filter(|o| model::is_flux_helm_object(o)) {
        let ns = namespace_of(object, default_ns);
        for pointer in [
            "/spec/chart/spec/sourceRef",
            "/spec/sourceRef",
            "/spec/chartRef",
        ] {
            let Some(reference) = object.pointer(pointer) else {
                continue;
            };
            let kind = reference.get("kind").and_then(Value::as_str).unwrap_or("");
            if kind == "GitRepository" || kind == "Bucket" {
                let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
                let wanted = reference
                    .get("namespace")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or(ns);
                git.push((kind.to_owned(), wanted.to_owned(), name.to_owned()));
            }
        }
    }
    // The GitRepositories they include (`spec.include`), transitively.
    let mut next = 0;
    while next < git.len() && git.len() < 1000 {
        let (kind, ns, name) = git[next].clone();
        next += 1;
        let Some(object) = objects.iter().find(|o| {
            group_kind(o) == (model::SOURCE_GROUP, kind.as_str())
                && namespace_of(o, default_ns) == ns
                && name_of(o) == name
        }) else {
            continue;
        };
        let includes = object.pointer("/spec/include").and_then(Value::as_array);
        for include in includes.into_iter().flatten() {
            let name = include
                .pointer("/repository/name")
                .and_then(Value::as_str)
                .unwrap_or("");
            let entry = ("GitRepository".to_owned(), ns.clone(), name.to_owned());
            if !git.contains(&entry) {
                git.push(entry);
            }
        }
    }
    objects
        .iter()
        .map(|o| {
            model::is_flux_helm_object(o)
                || git.iter().any(|(kind, ns, name)| {
                    group_kind(o) == (model::SOURCE_GROUP, kind.as_str())
                        && ns == namespace_of(o, default_ns)
                        && name == name_of(o)
                })
        })
        .collect()
}

/// The chart of `origin`: fetched (through the archive cache) and unpacked under the
/// archive bounds, or loaded from a Git tree with its `valuesFiles` as its values.
pub(super) fn load_chart(
    origin: Origin,
    id: &str,
    ctx: &Context<'_>,
) -> Result<crate::render::helm::Chart, FluxHelmError> {
    let failed = |reason: String| FluxHelmError::RenderFailed {
        object: id.to_owned(),
        reason,
    };
    match origin {
        Origin::Remote {
            repository,
            request,
        } => {
            let fetcher = Fetcher::new(vec![repository], ctx.limits.clone())
                .with_cache(Arc::clone(&ctx.cache));
            let chart = fetcher
                .fetch(&request)
                .map_err(|source| FluxHelmError::FetchFailed {
                    object: id.to_owned(),
                    source,
                })?;
            tracing::debug!(chart = %chart.name, version = %chart.version, digest = %chart.digest,
                "the chart archive");
            crate::render::helm::load_archive(
                &format!("{}-{}.tgz", chart.name, chart.version),
                &chart.archive,
            )
            .map_err(|e| failed(e.to_string()))
        }
        Origin::Git {
            tree,
            dir,
            values_files,
            snapshot,
        } => {
            tracing::debug!(dir = %dir, snapshot, "the chart of a GitRepository");
            let mut chart =
                crate::render::helm_fetch::local::load_dir_with_local_dependencies(&tree, &dir)
                    .map_err(|e| failed(e.to_string()))?;
            if !values_files.is_empty() {
                let mut merged = serde_json::Map::new();
                for file in &values_files {
                    let values = crate::render::helm::read_values_file(&tree, file)
                        .map_err(|e| failed(e.to_string()))?;
                    merged = crate::render::helm::merge_maps(merged, values);
                }
                chart.values = merged;
            }
            Ok(chart)
        }
    }
}
