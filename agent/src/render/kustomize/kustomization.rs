//! The kustomization file model (`kustomize.config.k8s.io/v1beta1` Kustomization and
//! `v1alpha1` Component), read strictly: an unknown field is an error that names it, as
//! kustomize does, and features Tether does not run (plugins, exec, remote schemas) are
//! refused by name rather than silently skipped. Helm charts are rendered natively
//! ([`super::helm_charts`]).

use super::{KustomizeError, invalid_field};
use crate::tree::RelPath;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Fields kustomize accepts but Tether refuses, with the reason given to the user.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("openapi", "custom OpenAPI schemas are not supported"),
    ("validators", "validator plugins may run programs"),
    (
        "buildMetadata",
        "build metadata annotations are not supported",
    ),
];

/// A parsed kustomization.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Kustomization {
    #[serde(default)]
    pub(crate) api_version: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    #[allow(dead_code, reason = "read only to be checked or refused by name")]
    pub(crate) metadata: Option<Value>,
    #[serde(default)]
    pub(crate) name_prefix: String,
    #[serde(default)]
    pub(crate) name_suffix: String,
    #[serde(default)]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) labels: Vec<Label>,
    #[serde(default)]
    pub(crate) common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) patches_strategic_merge: Vec<String>,
    #[serde(default)]
    pub(crate) patches_json6902: Vec<Patch>,
    #[serde(default)]
    pub(crate) patches: Vec<Patch>,
    #[serde(default)]
    pub(crate) images: Vec<Image>,
    #[serde(default)]
    pub(crate) image_tags: Vec<Image>,
    #[serde(default)]
    pub(crate) replacements: Vec<ReplacementField>,
    #[serde(default)]
    pub(crate) replicas: Vec<Replica>,
    #[serde(default)]
    pub(crate) vars: Vec<Value>,
    #[serde(default)]
    pub(crate) sort_options: Option<SortOptions>,
    #[serde(default)]
    pub(crate) resources: Vec<String>,
    #[serde(default)]
    pub(crate) components: Vec<String>,
    #[serde(default)]
    pub(crate) crds: Vec<String>,
    #[serde(default)]
    pub(crate) bases: Vec<String>,
    #[serde(default)]
    pub(crate) config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub(crate) secret_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub(crate) generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    #[allow(dead_code, reason = "read only to be checked or refused by name")]
    pub(crate) openapi: Option<Value>,
    #[serde(default)]
    pub(crate) helm_globals: Option<Value>,
    #[serde(default)]
    pub(crate) helm_charts: Vec<Value>,
    #[serde(default)]
    pub(crate) helm_chart_inflation_generator: Vec<Value>,
    #[serde(default)]
    pub(crate) configurations: Vec<String>,
    #[serde(default)]
    pub(crate) generators: Vec<String>,
    #[serde(default)]
    pub(crate) transformers: Vec<String>,
    #[serde(default)]
    #[allow(dead_code, reason = "read only to be checked or refused by name")]
    pub(crate) validators: Vec<Value>,
    #[serde(default)]
    #[allow(dead_code, reason = "read only to be checked or refused by name")]
    pub(crate) build_metadata: Vec<Value>,
}

/// An entry of `labels`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Label {
    #[serde(default)]
    pub(crate) pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) include_selectors: bool,
    #[serde(default)]
    pub(crate) include_templates: bool,
    #[serde(default)]
    pub(crate) fields: Vec<FieldSpecArgs>,
}

/// A field spec as written in a kustomization or a `configurations` file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FieldSpecArgs {
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) create: bool,
}

impl FieldSpecArgs {
    /// The field spec.
    pub(crate) fn to_spec(&self) -> super::fieldspec::FieldSpec {
        super::fieldspec::FieldSpec::new(
            &self.group,
            &self.version,
            &self.kind,
            &self.path,
            self.create,
        )
    }
}

/// An entry of `patches` or `patchesJson6902`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Patch {
    #[serde(default)]
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) patch: String,
    #[serde(default)]
    pub(crate) target: Option<Selector>,
    #[serde(default)]
    pub(crate) options: BTreeMap<String, bool>,
}

/// Selects objects by type, name, namespace (regular expressions) and label or annotation
/// selectors.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Selector {
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) label_selector: String,
    #[serde(default)]
    pub(crate) annotation_selector: String,
}

/// An entry of `images`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Image {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) new_name: String,
    #[serde(default)]
    pub(crate) new_tag: String,
    #[serde(default)]
    pub(crate) digest: String,
    #[serde(default)]
    pub(crate) tag_suffix: String,
}

/// An entry of `replicas`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Replica {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) count: i64,
}

/// `sortOptions`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct SortOptions {
    #[serde(default)]
    pub(crate) order: String,
    #[serde(default)]
    pub(crate) legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct LegacySortOptions {
    #[serde(default)]
    pub(crate) order_first: Vec<String>,
    #[serde(default)]
    pub(crate) order_last: Vec<String>,
}

/// An entry of `configMapGenerator` or `secretGenerator`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GeneratorArgs {
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) behavior: String,
    #[serde(default)]
    pub(crate) literals: Vec<String>,
    #[serde(default)]
    pub(crate) files: Vec<String>,
    #[serde(default)]
    pub(crate) envs: Vec<String>,
    #[serde(default)]
    pub(crate) env: String,
    #[serde(default)]
    pub(crate) options: Option<GeneratorOptions>,
    /// Secrets only: the Secret type (default `Opaque`).
    #[serde(default, rename = "type")]
    pub(crate) secret_type: String,
}

/// `generatorOptions`, or an entry's `options`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct GeneratorOptions {
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub(crate) disable_name_suffix_hash: bool,
    #[serde(default)]
    pub(crate) immutable: bool,
}

/// An entry of `replacements`: inline, or a file holding more.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReplacementField {
    #[serde(default)]
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) source: Option<ReplacementSource>,
    #[serde(default)]
    pub(crate) targets: Vec<ReplacementTarget>,
}

/// One replacement, as found inline or in a replacements file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Replacement {
    #[serde(default)]
    pub(crate) source: Option<ReplacementSource>,
    #[serde(default)]
    pub(crate) targets: Vec<ReplacementTarget>,
}

/// The source of a replacement.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReplacementSource {
    #[serde(default)]
    pub(crate) group: String,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default)]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) namespace: String,
    #[serde(default)]
    pub(crate) field_path: String,
    #[serde(default)]
    pub(crate) options: Option<FieldOptions>,
}

/// A target of a replacement.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct ReplacementTarget {
    #[serde(default)]
    pub(crate) select: Option<Selector>,
    #[serde(default)]
    pub(crate) reject: Vec<Selector>,
    #[serde(default)]
    pub(crate) field_paths: Vec<String>,
    #[serde(default)]
    pub(crate) options: Option<FieldOptions>,
}

/// Options of a replacement source or target.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct FieldOptions {
    #[serde(default)]
    pub(crate) delimiter: String,
    #[serde(default)]
    pub(crate) index: i64,
    /// Accepted and ignored, as kustomize v5.5.0 ignores it.
    #[serde(default)]
    #[allow(dead_code, reason = "kustomize v5.5.0 ignores it too")]
    pub(crate) encoding: String,
    #[serde(default)]
    pub(crate) create: bool,
}

impl Kustomization {
    /// Reads a kustomization from its parsed YAML, refusing unknown and unsupported fields.
    pub(crate) fn from_value(value: Value, path: &RelPath) -> Result<Self, KustomizeError> {
        let map = match value {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => {
                return Err(KustomizeError::ParseFailed {
                    path: path.to_string(),
                    message: "a kustomization must be a mapping".to_owned(),
                });
            }
        };
        // Fields that are present but empty are as good as absent (kustomize reads `null`
        // as an empty list).
        let map: Map<String, Value> = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
        for (field, reason) in UNSUPPORTED {
            if let Some(value) = map.get(*field) {
                let empty = match value {
                    Value::Array(items) => items.is_empty(),
                    Value::Object(entries) => entries.is_empty(),
                    _ => false,
                };
                if !empty {
                    return Err(KustomizeError::Unsupported {
                        path: path.to_string(),
                        field: (*field).to_owned(),
                        reason: (*reason).to_owned(),
                    });
                }
            }
        }
        let kustomization: Kustomization = match serde_json::from_value(Value::Object(map.clone()))
        {
            Ok(k) => k,
            Err(err) => {
                // Find the field at fault so the message names it.
                for (key, value) in &map {
                    let mut one = Map::new();
                    one.insert(key.clone(), value.clone());
                    if let Err(field_err) =
                        serde_json::from_value::<Kustomization>(Value::Object(one))
                    {
                        return Err(invalid_field(path, key, field_err.to_string()));
                    }
                }
                return Err(KustomizeError::ParseFailed {
                    path: path.to_string(),
                    message: format!("invalid kustomization: {err}"),
                });
            }
        };
        kustomization.check_kind(path)?;
        Ok(kustomization)
    }

    fn check_kind(&self, path: &RelPath) -> Result<(), KustomizeError> {
        let (kind_ok, required) = match self.kind.as_str() {
            "" | "Kustomization" => (true, "kustomize.config.k8s.io/v1beta1"),
            "Component" => (true, "kustomize.config.k8s.io/v1alpha1"),
            _ => (false, ""),
        };
        if !kind_ok {
            return Err(invalid_field(
                path,
                "kind",
                "kind should be Kustomization or Component",
            ));
        }
        if !self.api_version.is_empty() && self.api_version != required {
            return Err(invalid_field(
                path,
                "apiVersion",
                format!(
                    "apiVersion for {} should be {required}",
                    self.kind_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// Whether this is a Component.
    pub(crate) fn is_component(&self) -> bool {
        self.kind == "Component"
    }

    fn kind_or_default(&self) -> &str {
        if self.kind.is_empty() {
            "Kustomization"
        } else {
            &self.kind
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn path() -> RelPath {
        RelPath::parse("app/kustomization.yaml").expect("path")
    }

    #[test]
    fn fail_unknown_field_is_named() {
        let err =
            Kustomization::from_value(json!({"resources": ["a.yaml"], "resourcez": []}), &path())
                .expect_err("unknown");
        let text = err.to_string();
        assert!(text.contains("resourcez"), "{text}");
        assert!(text.contains("app/kustomization.yaml"), "{text}");
    }

    #[test]
    fn fail_unknown_nested_field_names_the_top_field() {
        let err = Kustomization::from_value(
            json!({"images": [{"name": "nginx", "newTags": "1"}]}),
            &path(),
        )
        .expect_err("unknown");
        assert!(
            matches!(&err, KustomizeError::InvalidField { field, .. } if field == "images"),
            "{err}"
        );
        assert!(err.to_string().contains("newTags"), "{err}");
    }

    #[test]
    fn fail_custom_openapi_schemas_are_refused_by_name() {
        let err = Kustomization::from_value(json!({"openapi": {"path": "x.json"}}), &path())
            .expect_err("openapi");
        assert!(
            matches!(&err, KustomizeError::Unsupported { field: f, .. } if f == "openapi"),
            "{err}"
        );
    }

    #[test]
    fn helm_charts_are_read_not_refused() {
        let k = Kustomization::from_value(
            json!({"helmCharts": [{"name": "x"}], "helmGlobals": {"chartHome": "vendor"}}),
            &path(),
        )
        .expect("valid");
        assert_eq!(k.helm_charts.len(), 1);
        assert!(k.helm_globals.is_some());
    }

    #[test]
    fn null_fields_read_as_empty() {
        let k = Kustomization::from_value(json!({"resources": null, "namespace": "x"}), &path())
            .expect("valid");
        assert!(k.resources.is_empty());
        assert_eq!(k.namespace, "x");
    }
}
