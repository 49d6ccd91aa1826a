//! `commonLabels` (into metadata, pod templates and selectors), `labels` (metadata only, or
//! with `includeTemplates` / `includeSelectors`) and `commonAnnotations`, with the field
//! specs kustomize uses for the built-in workload types.

use super::config::TransformerConfig;
use super::fieldspec::{self, CreateKind, FieldSpec};
use super::kustomization::Kustomization;
use super::{KustomizeError, Resource, transform_error};
use crate::tree::RelPath;
use std::collections::BTreeMap;

fn fs(group: &str, version: &str, kind: &str, path: &str, create: bool) -> FieldSpec {
    FieldSpec::new(group, version, kind, path, create)
}

/// `metadata/labels` and the pod-template (and claim-template) labels of workloads.
pub(crate) fn template_label_specs() -> Vec<FieldSpec> {
    vec![
        fs("", "", "", "metadata/labels", true),
        fs(
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/labels",
            true,
        ),
        fs("", "", "Deployment", "spec/template/metadata/labels", true),
        fs("", "", "ReplicaSet", "spec/template/metadata/labels", true),
        fs("", "", "DaemonSet", "spec/template/metadata/labels", true),
        fs(
            "apps",
            "",
            "StatefulSet",
            "spec/template/metadata/labels",
            true,
        ),
        fs(
            "apps",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ),
        fs("batch", "", "Job", "spec/template/metadata/labels", true),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/labels",
            true,
        ),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/labels",
            true,
        ),
    ]
}

/// Where `commonLabels` go: templates plus selectors.
pub(crate) fn common_label_specs() -> Vec<FieldSpec> {
    let affinity = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    let mut specs = vec![
        fs("", "v1", "Service", "spec/selector", true),
        fs("", "v1", "ReplicationController", "spec/selector", true),
        fs("", "", "Deployment", "spec/selector/matchLabels", true),
    ];
    specs.extend(
        affinity
            .iter()
            .map(|p| fs("apps", "", "Deployment", p, false)),
    );
    specs.push(fs("", "", "ReplicaSet", "spec/selector/matchLabels", true));
    specs.push(fs("", "", "DaemonSet", "spec/selector/matchLabels", true));
    specs.push(fs(
        "apps",
        "",
        "StatefulSet",
        "spec/selector/matchLabels",
        true,
    ));
    specs.extend(
        affinity
            .iter()
            .map(|p| fs("apps", "", "StatefulSet", p, false)),
    );
    specs.extend([
        fs("batch", "", "Job", "spec/selector/matchLabels", false),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ),
        fs(
            "policy",
            "",
            "PodDisruptionBudget",
            "spec/selector/matchLabels",
            false,
        ),
        fs(
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/podSelector/matchLabels",
            false,
        ),
        fs(
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ),
        fs(
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/egress/to/podSelector/matchLabels",
            false,
        ),
    ]);
    specs.extend(template_label_specs());
    specs
}

/// Where `commonAnnotations` go.
pub(crate) fn common_annotation_specs() -> Vec<FieldSpec> {
    vec![
        fs("", "", "", "metadata/annotations", true),
        fs(
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "Deployment",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "ReplicaSet",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "DaemonSet",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "",
            "",
            "StatefulSet",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "batch",
            "",
            "Job",
            "spec/template/metadata/annotations",
            true,
        ),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/annotations",
            true,
        ),
        fs(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/annotations",
            true,
        ),
    ]
}

pub(crate) fn apply_pairs(
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
    field: &str,
) -> Result<(), KustomizeError> {
    if pairs.is_empty() {
        return Ok(());
    }
    for res in resources.iter_mut() {
        let gvk = res.gvk();
        for (key, value) in pairs {
            for spec in specs {
                fieldspec::apply(
                    &mut res.obj,
                    &gvk,
                    spec,
                    CreateKind::Mapping,
                    &mut fieldspec::set_entry(key, value),
                )
                .map_err(|reason| {
                    transform_error(file, field, format!("{}: {reason}", res.cur_id()))
                })?;
            }
        }
    }
    Ok(())
}

/// Applies `labels` then `commonLabels`.
pub(crate) fn apply_labels(
    k: &Kustomization,
    config: &TransformerConfig,
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    for label in &k.labels {
        let mut specs: Vec<FieldSpec> = label
            .fields
            .iter()
            .map(|f| fs(&f.group, &f.version, &f.kind, &f.path, f.create))
            .collect();
        if label.include_selectors {
            specs.extend(config.common_labels.iter().cloned());
        } else {
            if label.include_templates {
                specs.extend(config.template_labels.iter().cloned());
            }
            specs.push(fs("", "", "", "metadata/labels", true));
        }
        apply_pairs(&label.pairs, &specs, resources, file, "labels")?;
    }
    apply_pairs(
        &k.common_labels,
        &config.common_labels,
        resources,
        file,
        "commonLabels",
    )
}

/// Applies `commonAnnotations`.
pub(crate) fn apply_annotations(
    annotations: &BTreeMap<String, String>,
    specs: &[FieldSpec],
    resources: &mut [Resource],
    file: &RelPath,
) -> Result<(), KustomizeError> {
    apply_pairs(annotations, specs, resources, file, "commonAnnotations")
}
