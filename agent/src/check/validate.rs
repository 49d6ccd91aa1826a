//! Manifest sanity: what the API server would refuse, found before the pull request merges.
//!
//! - `apiVersion`, `kind` and `metadata.name` are present and strings;
//! - names are valid: DNS subdomains for most kinds, DNS labels for Namespaces and the
//!   `metadata.namespace` field, path segments for RBAC kinds;
//! - an object is defined once per app (same group, kind, namespace and name);
//! - built-in kinds have no unknown top-level fields (a typo such as `spce:` would be dropped
//!   by the API server, and the object applied without its spec).

use super::report::{Problem, Severity};
use crate::policy::ObjectRef;
use serde_json::Value;
use std::collections::HashMap;

/// The rule names of the problems this module reports.
pub mod rules {
    /// A required field is missing.
    pub const REQUIRED_FIELD: &str = "manifest.required-field";
    /// A name is not valid for its kind.
    pub const INVALID_NAME: &str = "manifest.invalid-name";
    /// An object is defined twice in one app.
    pub const DUPLICATE: &str = "manifest.duplicate";
    /// A built-in kind has an unknown top-level field.
    pub const UNKNOWN_FIELD: &str = "manifest.unknown-field";
}

/// The top-level fields of built-in kinds, beside `apiVersion`, `kind` and `metadata`.
fn known_fields(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    const SPEC: &[&str] = &["spec", "status"];
    let fields: &[&str] = match (group, kind) {
        ("", "ConfigMap") => &["data", "binaryData", "immutable"],
        ("", "Secret") => &["data", "stringData", "type", "immutable"],
        ("", "ServiceAccount") => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        ("", "Endpoints") => &["subsets"],
        (
            "",
            "Pod"
            | "Service"
            | "Namespace"
            | "PersistentVolumeClaim"
            | "PersistentVolume"
            | "ReplicationController"
            | "LimitRange"
            | "ResourceQuota",
        ) => SPEC,
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => SPEC,
        ("batch", "Job" | "CronJob") => SPEC,
        ("networking.k8s.io", "Ingress" | "NetworkPolicy" | "IngressClass") => SPEC,
        ("policy", "PodDisruptionBudget") => SPEC,
        ("autoscaling", "HorizontalPodAutoscaler") => SPEC,
        ("apiextensions.k8s.io", "CustomResourceDefinition") => SPEC,
        ("rbac.authorization.k8s.io", "Role") => &["rules"],
        ("rbac.authorization.k8s.io", "ClusterRole") => &["rules", "aggregationRule"],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => {
            &["subjects", "roleRef"]
        }
        ("storage.k8s.io", "StorageClass") => &[
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "mountOptions",
            "allowVolumeExpansion",
            "volumeBindingMode",
            "allowedTopologies",
        ],
        ("scheduling.k8s.io", "PriorityClass") => {
            &["value", "globalDefault", "description", "preemptionPolicy"]
        }
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
        ) => &["webhooks"],
        _ => return None,
    };
    Some(fields)
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
#[must_use]
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Whether `name` is a DNS-1123 label: at most 63 lowercase alphanumerics or `-`, starting and
/// ending with an alphanumeric.
#[must_use]
pub fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Whether `name` is a DNS-1123 subdomain: at most 253 characters, labels joined by `.`.
#[must_use]
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name
            .split('.')
            .all(|label| !label.is_empty() && is_dns_label_loose(label))
}

/// A subdomain's label: like a DNS label, without the 63-character bound per label.
fn is_dns_label_loose(label: &str) -> bool {
    label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Checks one object on its own; `file` is where it came from.
pub fn check_object(app: &str, file: Option<&str>, object: &Value, problems: &mut Vec<Problem>) {
    let reference = ObjectRef::of(object);
    let mut problem = |rule: &str, message: String| {
        problems.push(
            Problem::new(Severity::Deny, app, file.map(str::to_owned), rule, message)
                .with_object(reference.clone()),
        );
    };
    for field in ["apiVersion", "kind"] {
        match object.get(field) {
            Some(Value::String(text)) if !text.is_empty() => {}
            _ => problem(
                rules::REQUIRED_FIELD,
                format!("{field} is missing or not a string"),
            ),
        }
    }
    let metadata = object.get("metadata");
    let name = metadata.and_then(|m| m.get("name"));
    match name {
        Some(Value::String(text)) if !text.is_empty() => {
            if let Some(reason) =
                invalid_name(&reference.kind, group_of(&reference.api_version), text)
            {
                problem(
                    rules::INVALID_NAME,
                    format!("metadata.name {:?} {reason}", crate::text::clip(text)),
                );
            }
        }
        _ => problem(
            rules::REQUIRED_FIELD,
            "metadata.name is missing or not a string".to_owned(),
        ),
    }
    if let Some(namespace) = metadata.and_then(|m| m.get("namespace")) {
        match namespace.as_str() {
            Some(ns) if is_dns_label(ns) => {}
            _ => problem(
                rules::INVALID_NAME,
                format!(
                    "metadata.namespace {namespace} is not a DNS label (lowercase alphanumerics and '-', at most 63)"
                ),
            ),
        }
    }
    if let (Some(fields), Some(map)) = (
        known_fields(group_of(&reference.api_version), &reference.kind),
        object.as_object(),
    ) {
        for key in map.keys() {
            let known = matches!(key.as_str(), "apiVersion" | "kind" | "metadata" | "sops")
                || fields.contains(&key.as_str());
            if !known {
                problem(
                    rules::UNKNOWN_FIELD,
                    format!(
                        "unknown top-level field {:?} for {} (expected one of: {})",
                        crate::text::clip(key),
                        crate::text::clip(&reference.kind),
                        fields.join(", ")
                    ),
                );
            }
        }
    }
}

fn invalid_name(kind: &str, group: &str, name: &str) -> Option<&'static str> {
    if group == "rbac.authorization.k8s.io" {
        // Path segment names: `system:controller:x` is valid.
        return (name == "." || name == ".." || name.contains('/') || name.contains('%'))
            .then_some("is not a valid path segment name");
    }
    if group.is_empty() && matches!(kind, "Namespace" | "Service") {
        return (!is_dns_label(name))
            .then_some("is not a DNS label (lowercase alphanumerics and '-', at most 63)");
    }
    (!is_dns_subdomain(name))
        .then_some("is not a DNS subdomain (lowercase alphanumerics, '-' and '.', at most 253)")
}

/// Reports objects defined more than once in one app, naming both places.
pub fn check_duplicates<'a>(
    app: &str,
    objects: impl IntoIterator<Item = (Option<&'a str>, &'a Value)>,
    problems: &mut Vec<Problem>,
) {
    let mut seen: HashMap<(String, String, Option<String>, String), Option<&str>> = HashMap::new();
    for (file, object) in objects {
        let reference = ObjectRef::of(object);
        if reference.kind.is_empty() || reference.name.is_empty() {
            continue;
        }
        let key = (
            group_of(&reference.api_version).to_owned(),
            reference.kind.clone(),
            reference.namespace.clone(),
            reference.name.clone(),
        );
        match seen.get(&key) {
            Some(first) => problems.push(
                Problem::new(
                    Severity::Deny,
                    app,
                    file.map(str::to_owned),
                    rules::DUPLICATE,
                    format!(
                        "defined twice in the app (first in {})",
                        first.unwrap_or("<unknown file>")
                    ),
                )
                .with_object(reference),
            ),
            None => {
                seen.insert(key, file);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn problems_of(object: Value) -> Vec<String> {
        let mut problems = Vec::new();
        check_object("shop", Some("a.yaml"), &object, &mut problems);
        problems
            .into_iter()
            .map(|p| format!("{}: {}", p.rule, p.message))
            .collect()
    }

    #[test]
    fn a_valid_deployment_has_no_problems() {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web.v2", "namespace": "shop"}, "spec": {}});
        assert!(problems_of(deployment).is_empty());
    }

    #[test]
    fn missing_fields_bad_names_and_unknown_fields_are_each_reported() {
        let object = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "Web_1", "namespace": "Shop"}, "spce": {}});
        assert_eq!(
            problems_of(object),
            [
                "manifest.invalid-name: metadata.name \"Web_1\" is not a DNS label (lowercase alphanumerics and '-', at most 63)",
                "manifest.invalid-name: metadata.namespace \"Shop\" is not a DNS label (lowercase alphanumerics and '-', at most 63)",
                "manifest.unknown-field: unknown top-level field \"spce\" for Service (expected one of: spec, status)",
            ]
        );
        assert_eq!(
            problems_of(json!({"metadata": {}})),
            [
                "manifest.required-field: apiVersion is missing or not a string",
                "manifest.required-field: kind is missing or not a string",
                "manifest.required-field: metadata.name is missing or not a string",
            ]
        );
    }

    #[test]
    fn rbac_names_may_hold_colons_and_custom_kinds_any_field() {
        assert!(problems_of(json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:shop:reader"}, "rules": []})).is_empty());
        assert!(problems_of(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "size": 3})).is_empty());
    }

    #[test]
    fn duplicates_name_both_files() {
        let a = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "shop"}});
        let b = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "c", "namespace": "shop"}});
        let mut problems = Vec::new();
        check_duplicates(
            "shop",
            [
                (Some("a.yaml"), &a),
                (Some("b.yaml"), &b),
                (Some("c.yaml"), &a),
            ],
            &mut problems,
        );
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].file.as_deref(), Some("c.yaml"));
        assert_eq!(
            problems[0].message,
            "defined twice in the app (first in a.yaml)"
        );
    }
}
