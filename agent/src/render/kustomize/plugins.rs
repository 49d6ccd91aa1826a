//! `transformers:` and `generators:` entries that configure kustomize's builtin plugins
//! (`apiVersion: builtin`): they run no program, so they are built like the kustomization
//! fields they stand for, with their own field specs. Entries are inline YAML or files.
//! Anything else (exec plugins, container or exec KRM functions, other apiVersions) is
//! refused, since Tether runs no program of the repository. The Helm generator renders
//! natively ([`super::helm_charts`]).
//!
//! Transformers run after the kustomization's own transformers, generators after its own
//! generators, in the order listed, as kustomize runs them.

use super::fieldspec::FieldSpec;
use super::kustomization::{
    FieldSpecArgs, GeneratorArgs, Image, Kustomization, Patch, ReplacementField, Replica, Selector,
};
use super::load::{Accumulator, Dir};
use super::{
    KustomizeError, generators, images, labels, names, namespace, patch, replacements, replicas,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The configuration of one builtin plugin: its kind and what it says.
struct PluginConfig {
    kind: String,
    value: Value,
    origin: String,
}

/// Fields every builtin plugin configuration may carry besides its own.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Common {
    #[serde(default)]
    field_specs: Vec<FieldSpecArgs>,
}

/// Reads the plugin configurations of `field` (`transformers` or `generators`).
fn configs(
    here: &Dir<'_>,
    field: &str,
    entries: &[String],
) -> Result<Vec<PluginConfig>, KustomizeError> {
    let mut out = Vec::new();
    for entry in entries {
        let inline = crate::render::yaml::parse_mappings(entry, &here.limits)
            .ok()
            .filter(|docs| !docs.is_empty() && docs.iter().all(|d| d.get("kind").is_some()));
        let (docs, origin) = match inline {
            Some(docs) => (docs, format!("inline {field} entry")),
            None => {
                let (path, text) = here.read_text(field, entry)?;
                let docs =
                    crate::render::yaml::parse_mappings(&text, &here.limits).map_err(|err| {
                        KustomizeError::ParseFailed {
                            path: path.to_string(),
                            message: err.to_string(),
                        }
                    })?;
                (docs, path.to_string())
            }
        };
        for value in docs {
            let api_version = value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let annotations = value.pointer("/metadata/annotations");
            let is_function = annotations.is_some_and(|a| {
                a.get("config.kubernetes.io/function").is_some()
                    || a.get("config.k8s.io/function").is_some()
            });
            if api_version != "builtin" || is_function {
                return Err(KustomizeError::Unsupported {
                    path: here.file.to_string(),
                    field: field.to_owned(),
                    reason: format!(
                        "{origin}: {kind} ({api_version}) is an exec or container (KRM function) plugin; \
                         Tether runs no program from the repository (only `apiVersion: builtin` plugins are built)"
                    ),
                });
            }
            out.push(PluginConfig {
                kind,
                value,
                origin: origin.clone(),
            });
        }
    }
    Ok(out)
}

fn read<T: for<'de> Deserialize<'de>>(
    here: &Dir<'_>,
    field: &str,
    config: &PluginConfig,
) -> Result<T, KustomizeError> {
    let mut value = config.value.clone();
    if let Value::Object(map) = &mut value {
        map.remove("apiVersion");
        map.remove("kind");
        map.remove("metadata");
    }
    serde_json::from_value(value).map_err(|err| KustomizeError::InvalidField {
        path: here.file.to_string(),
        field: field.to_owned(),
        reason: format!("{}: {}: {err}", config.origin, config.kind),
    })
}

fn field_specs(config: &PluginConfig) -> Vec<FieldSpec> {
    serde_json::from_value::<Common>(Value::Object(
        config
            .value
            .get("fieldSpecs")
            .map(|v| {
                let mut m = serde_json::Map::new();
                m.insert("fieldSpecs".to_owned(), v.clone());
                m
            })
            .unwrap_or_default(),
    ))
    .map(|c| c.field_specs.iter().map(FieldSpecArgs::to_spec).collect())
    .unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Pairs {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code, reason = "read through field_specs")]
    field_specs: Vec<FieldSpecArgs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Affixes {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    #[allow(dead_code, reason = "read through field_specs")]
    field_specs: Vec<FieldSpecArgs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchConfig {
    #[serde(default)]
    path: String,
    #[serde(default)]
    patch: String,
    #[serde(default)]
    json_op: String,
    #[serde(default)]
    target: Option<Selector>,
    #[serde(default)]
    options: BTreeMap<String, bool>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageConfig {
    image_tag: Image,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaConfig {
    replica: Replica,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplacementConfig {
    #[serde(default)]
    replacements: Vec<ReplacementField>,
}

/// Runs the builtin transformer plugins of `transformers:`.
pub(crate) fn transform(
    here: &Dir<'_>,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), KustomizeError> {
    const FIELD: &str = "transformers";
    for config in configs(here, FIELD, &k.transformers)? {
        let specs = field_specs(&config);
        let file = &here.file;
        match config.kind.as_str() {
            "LabelTransformer" => {
                let pairs: Pairs = read(here, FIELD, &config)?;
                labels::apply_pairs(&pairs.labels, &specs, &mut acc.resources, file, FIELD)?;
            }
            "AnnotationsTransformer" => {
                let pairs: Pairs = read(here, FIELD, &config)?;
                labels::apply_pairs(&pairs.annotations, &specs, &mut acc.resources, file, FIELD)?;
            }
            "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
                let affixes: Affixes = read(here, FIELD, &config)?;
                if !affixes.prefix.is_empty() {
                    names::apply_prefix(&affixes.prefix, &specs, &mut acc.resources, file)?;
                }
                if !affixes.suffix.is_empty() {
                    names::apply_suffix(&affixes.suffix, &specs, &mut acc.resources, file)?;
                }
            }
            "NamespaceTransformer" => {
                let ns = config
                    .value
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !ns.is_empty() {
                    namespace::apply(ns, &specs, &mut acc.resources, file)?;
                }
            }
            "ImageTagTransformer" => {
                let image: ImageConfig = read(here, FIELD, &config)?;
                images::apply(&image.image_tag, &specs, &mut acc.resources, file)?;
            }
            "ReplicaCountTransformer" => {
                let replica: ReplicaConfig = read(here, FIELD, &config)?;
                replicas::apply(&replica.replica, &specs, &mut acc.resources, file)?;
            }
            "PatchTransformer" | "PatchJson6902Transformer" => {
                let p: PatchConfig = read(here, FIELD, &config)?;
                let legacy = config.kind == "PatchJson6902Transformer";
                let entry = Patch {
                    path: p.path,
                    patch: if legacy { p.json_op } else { p.patch },
                    target: p.target,
                    options: p.options,
                };
                let field = if legacy { "patchesJson6902" } else { FIELD };
                patch::apply_patches(
                    here,
                    field,
                    std::slice::from_ref(&entry),
                    &mut acc.resources,
                )?;
            }
            "PatchStrategicMergeTransformer" => {
                let p: PatchConfig = read(here, FIELD, &config)?;
                let mut entries = p.paths;
                if !p.patches.trim().is_empty() {
                    entries.push(p.patches);
                }
                patch::apply_strategic_merge_list(here, &entries, &mut acc.resources)?;
            }
            "ReplacementTransformer" => {
                let r: ReplacementConfig = read(here, FIELD, &config)?;
                replacements::apply(here, &r.replacements, &mut acc.resources)?;
            }
            "HashTransformer" => {
                // The generated objects get their hash suffix here rather than at the end.
                generators::add_hash_suffixes(&mut acc.resources, file)?;
                for res in acc.resources.iter_mut() {
                    res.needs_hash = false;
                }
            }
            other => return Err(not_builtin(here, FIELD, &config.origin, other)),
        }
    }
    Ok(())
}

/// Runs the builtin generator plugins of `generators:`.
pub(crate) fn generate(
    here: &Dir<'_>,
    k: &Kustomization,
    acc: &mut Accumulator,
) -> Result<(), KustomizeError> {
    const FIELD: &str = "generators";
    for config in configs(here, FIELD, &k.generators)? {
        let args: GeneratorArgs = match config.kind.as_str() {
            "ConfigMapGenerator" | "SecretGenerator" => {
                // The generated object's name and namespace are the plugin's own.
                let mut named = PluginConfig {
                    kind: config.kind.clone(),
                    value: config.value.clone(),
                    origin: config.origin.clone(),
                };
                if let Value::Object(map) = &mut named.value {
                    for key in ["name", "namespace"] {
                        if let Some(v) = config.value.pointer(&format!("/metadata/{key}")) {
                            map.insert(key.to_owned(), v.clone());
                        }
                    }
                }
                read(here, FIELD, &named)?
            }
            "HelmChartInflationGenerator" => {
                // The chart's fields, with helmGlobals' chartHome and configHome inline.
                let mut chart = match &config.value {
                    Value::Object(map) => map.clone(),
                    _ => serde_json::Map::new(),
                };
                for key in ["apiVersion", "kind", "metadata"] {
                    chart.remove(key);
                }
                let mut globals = serde_json::Map::new();
                for key in ["chartHome", "configHome"] {
                    if let Some(v) = chart.remove(key) {
                        globals.insert(key.to_owned(), v);
                    }
                }
                let one = Kustomization {
                    helm_charts: vec![Value::Object(chart)],
                    helm_globals: Some(Value::Object(globals)),
                    ..Kustomization::default()
                };
                super::helm_charts::generate(here, &one, acc)?;
                continue;
            }
            other => return Err(not_builtin(here, FIELD, &config.origin, other)),
        };
        let mut one = Kustomization::default();
        if config.kind == "SecretGenerator" {
            one.secret_generator.push(args);
        } else {
            one.config_map_generator.push(args);
        }
        generators::run(here, &one, acc)?;
    }
    Ok(())
}

fn not_builtin(here: &Dir<'_>, field: &str, origin: &str, kind: &str) -> KustomizeError {
    KustomizeError::Unsupported {
        path: here.file.to_string(),
        field: field.to_owned(),
        reason: format!("{origin}: {kind:?} is not a builtin {field} plugin"),
    }
}
