//! The transformer configuration: which fields of which kinds each transformer writes (name
//! prefixes and suffixes, namespaces, labels, annotations, images, replicas, `$(VAR)`
//! references) and which fields name which other objects.
//!
//! Every kustomization starts from kustomize's built-in field specs, adds those of its
//! `configurations` files and of its `crds`, and takes in those of the kustomizations it
//! builds on. Merging follows kustomize: a field spec that an existing one already covers
//! (same path, a type the existing one selects) is not added again, and the two must agree
//! on `create`; name references to the same type pool their referring fields.

use super::fieldspec::FieldSpec;
use super::kustomization::FieldSpecArgs;
use super::load::Dir;
use super::names::NameBackRef;
use super::{Gvk, KustomizeError, invalid_field, labels, names, vars};
use serde::Deserialize;

/// Where transformers write, as extended by `configurations` and `crds`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TransformerConfig {
    pub(crate) name_prefix: Vec<FieldSpec>,
    pub(crate) name_suffix: Vec<FieldSpec>,
    pub(crate) namespace: Vec<FieldSpec>,
    pub(crate) common_labels: Vec<FieldSpec>,
    pub(crate) template_labels: Vec<FieldSpec>,
    pub(crate) common_annotations: Vec<FieldSpec>,
    pub(crate) name_reference: Vec<NameBackRef>,
    pub(crate) var_reference: Vec<FieldSpec>,
    pub(crate) images: Vec<FieldSpec>,
    pub(crate) replicas: Vec<FieldSpec>,
    /// Whether anything beyond the built-in field specs is in here: a configuration that
    /// only holds the built-ins adds nothing to another one, which itself starts from them.
    pub(crate) custom: bool,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        let name = || vec![FieldSpec::new("", "", "", "metadata/name", false)];
        Self {
            name_prefix: name(),
            name_suffix: name(),
            namespace: vec![
                FieldSpec::new("", "", "Namespace", "metadata/name", true),
                FieldSpec::new(
                    "apiregistration.k8s.io",
                    "",
                    "APIService",
                    "spec/service/namespace",
                    true,
                ),
                FieldSpec::new(
                    "apiextensions.k8s.io",
                    "",
                    "CustomResourceDefinition",
                    "spec/conversion/webhook/clientConfig/service/namespace",
                    false,
                ),
            ],
            common_labels: labels::common_label_specs(),
            template_labels: labels::template_label_specs(),
            common_annotations: labels::common_annotation_specs(),
            name_reference: names::default_name_references(),
            var_reference: vars::default_var_references(),
            images: [
                "spec/containers[]/image",
                "spec/initContainers[]/image",
                "spec/template/spec/containers[]/image",
                "spec/template/spec/initContainers[]/image",
            ]
            .iter()
            .map(|p| FieldSpec::new("", "", "", p, true))
            .collect(),
            replicas: [
                "Deployment",
                "ReplicationController",
                "ReplicaSet",
                "StatefulSet",
            ]
            .iter()
            .map(|kind| FieldSpec::new("", "", kind, "spec/replicas", true))
            .collect(),
            custom: false,
        }
    }
}

impl TransformerConfig {
    /// A configuration with no field specs at all (what a `configurations` file or `crds`
    /// adds to the defaults).
    pub(crate) fn empty() -> Self {
        Self {
            name_prefix: Vec::new(),
            name_suffix: Vec::new(),
            namespace: Vec::new(),
            common_labels: Vec::new(),
            template_labels: Vec::new(),
            common_annotations: Vec::new(),
            name_reference: Vec::new(),
            var_reference: Vec::new(),
            images: Vec::new(),
            replicas: Vec::new(),
            custom: true,
        }
    }

    /// Merges `other` in, as kustomize merges configurations. A conflict (the same field
    /// spec with a different `create`) is reported as its path.
    pub(crate) fn merge(&mut self, other: &TransformerConfig) -> Result<(), String> {
        // Most kustomizations keep the built-in configuration, which every configuration
        // starts from: nothing to add.
        if !other.custom || self == other {
            return Ok(());
        }
        self.custom = true;
        merge_specs(&mut self.name_prefix, &other.name_prefix)?;
        merge_specs(&mut self.name_suffix, &other.name_suffix)?;
        merge_specs(&mut self.namespace, &other.namespace)?;
        merge_specs(&mut self.common_labels, &other.common_labels)?;
        merge_specs(&mut self.template_labels, &other.template_labels)?;
        merge_specs(&mut self.common_annotations, &other.common_annotations)?;
        merge_specs(&mut self.var_reference, &other.var_reference)?;
        merge_specs(&mut self.images, &other.images)?;
        merge_specs(&mut self.replicas, &other.replicas)?;
        for rule in &other.name_reference {
            let covered = self.name_reference.iter().any(|r| {
                r.referral == rule.referral
                    && r.referrer.path == rule.referrer.path
                    && rule.referrer.gvk.is_selected_by(&r.referrer.gvk)
            });
            if !covered {
                self.name_reference.push(rule.clone());
            }
        }
        Ok(())
    }
}

fn merge_specs(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) -> Result<(), String> {
    for spec in from {
        match into
            .iter()
            .find(|s| s.path == spec.path && spec.gvk.is_selected_by(&s.gvk))
        {
            Some(existing) if existing.create != spec.create => {
                return Err(format!("conflicting field specs for {:?}", spec.path));
            }
            Some(_) => {}
            None => into.push(spec.clone()),
        }
    }
    Ok(())
}

/// A `configurations` file (unknown fields are ignored, as kustomize ignores them).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    name_prefix: Vec<FieldSpecArgs>,
    #[serde(default)]
    name_suffix: Vec<FieldSpecArgs>,
    #[serde(default)]
    namespace: Vec<FieldSpecArgs>,
    #[serde(default)]
    common_labels: Vec<FieldSpecArgs>,
    #[serde(default)]
    template_labels: Vec<FieldSpecArgs>,
    #[serde(default)]
    common_annotations: Vec<FieldSpecArgs>,
    #[serde(default)]
    name_reference: Vec<NameReferenceArgs>,
    #[serde(default)]
    var_reference: Vec<FieldSpecArgs>,
    #[serde(default)]
    images: Vec<FieldSpecArgs>,
    #[serde(default)]
    replicas: Vec<FieldSpecArgs>,
}

/// A `nameReference` entry: the referred type and the fields that refer to it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NameReferenceArgs {
    #[serde(default)]
    group: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    field_specs: Vec<FieldSpecArgs>,
}

fn specs(args: &[FieldSpecArgs]) -> Vec<FieldSpec> {
    args.iter().map(FieldSpecArgs::to_spec).collect()
}

impl ConfigFile {
    fn into_config(self) -> TransformerConfig {
        let mut name_reference = Vec::new();
        for entry in &self.name_reference {
            let referral = Gvk {
                group: entry.group.clone(),
                version: entry.version.clone(),
                kind: entry.kind.clone(),
            };
            for spec in &entry.field_specs {
                name_reference.push(NameBackRef {
                    referral: referral.clone(),
                    referrer: spec.to_spec(),
                });
            }
        }
        TransformerConfig {
            name_prefix: specs(&self.name_prefix),
            name_suffix: specs(&self.name_suffix),
            namespace: specs(&self.namespace),
            common_labels: specs(&self.common_labels),
            template_labels: specs(&self.template_labels),
            common_annotations: specs(&self.common_annotations),
            name_reference,
            var_reference: specs(&self.var_reference),
            images: specs(&self.images),
            replicas: specs(&self.replicas),
            custom: true,
        }
    }
}

/// Reads the `configurations` files of a kustomization into one configuration (to merge
/// onto the defaults).
pub(crate) fn load(
    here: &Dir<'_>,
    entries: &[String],
) -> Result<TransformerConfig, KustomizeError> {
    const FIELD: &str = "configurations";
    let mut config = TransformerConfig::empty();
    for entry in entries {
        let (path, text) = here.read_text(FIELD, entry)?;
        let value = crate::render::yaml::parse_one(&text, &here.limits).map_err(|err| {
            KustomizeError::ParseFailed {
                path: path.to_string(),
                message: err.to_string(),
            }
        })?;
        let value = if value.is_null() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            value
        };
        let file: ConfigFile =
            serde_json::from_value(value).map_err(|err| KustomizeError::ParseFailed {
                path: path.to_string(),
                message: format!("invalid transformer configuration: {err}"),
            })?;
        config
            .merge(&file.into_config())
            .map_err(|reason| invalid_field(&here.file, FIELD, format!("{path}: {reason}")))?;
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_skips_covered_specs_and_refuses_conflicts() {
        let mut config = TransformerConfig::default();
        let before = config.common_labels.len();
        let covered = TransformerConfig {
            common_labels: vec![FieldSpec::new("", "", "Thing", "metadata/labels", true)],
            ..TransformerConfig::empty()
        };
        config.merge(&covered).expect("merge");
        assert_eq!(config.common_labels.len(), before);
        let new = TransformerConfig {
            common_labels: vec![FieldSpec::new("x.io", "v1", "Thing", "spec/selector", true)],
            ..TransformerConfig::empty()
        };
        config.merge(&new).expect("merge");
        assert_eq!(config.common_labels.len(), before + 1);
        let conflict = TransformerConfig {
            common_labels: vec![FieldSpec::new("", "", "Thing", "metadata/labels", false)],
            ..TransformerConfig::empty()
        };
        assert!(config.merge(&conflict).is_err());
    }
}
