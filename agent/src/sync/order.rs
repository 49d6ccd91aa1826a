//! The apply order.
//!
//! Objects go in stages: CustomResourceDefinitions first (the sync waits until they are
//! Established), then Namespaces, then cluster-scoped RBAC, then every other object by sync
//! wave (`tether.dev/sync-wave`, also `argocd.argoproj.io/sync-wave`; integers, default 0),
//! and inside a stage by kind (ServiceAccount, Secret, ConfigMap, PVC, Service, workloads,
//! Ingress, ..., custom resources last), then by namespace and name.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use super::object::{ObjectRef, annotation};

/// Tether's sync-wave annotation.
pub const SYNC_WAVE: &str = "tether.dev/sync-wave";
/// Argo CD's sync-wave annotation, also honoured.
pub const ARGO_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// Why objects cannot be ordered.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// A sync-wave annotation is not an integer.
    #[error("{object}: annotation {annotation} is {value:?}, not an integer")]
    BadWave {
        /// The object.
        object: String,
        /// The annotation.
        annotation: &'static str,
        /// Its value.
        value: String,
    },
}

impl OrderError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        "InvalidObject"
    }
}

/// A stage of the apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StageKey {
    /// CustomResourceDefinitions.
    Crds,
    /// Namespaces.
    Namespaces,
    /// ClusterRoles and ClusterRoleBindings.
    ClusterRbac,
    /// Everything else, by sync wave.
    Wave(i64),
}

impl fmt::Display for StageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Crds => f.write_str("crds"),
            Self::Namespaces => f.write_str("namespaces"),
            Self::ClusterRbac => f.write_str("cluster-rbac"),
            Self::Wave(w) => write!(f, "wave {w}"),
        }
    }
}

/// The kinds in apply order inside a stage; other kinds (custom resources) come after them.
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

/// The position of a kind in [`KIND_ORDER`] (unknown kinds last).
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// The sync wave of an object (0 when unannotated).
pub fn wave(reference: &ObjectRef, object: &Value) -> Result<i64, OrderError> {
    for key in [SYNC_WAVE, ARGO_SYNC_WAVE] {
        if let Some(value) = annotation(object, key) {
            return value
                .trim()
                .parse::<i64>()
                .map_err(|_| OrderError::BadWave {
                    object: reference.to_string(),
                    annotation: key,
                    value: value.to_owned(),
                });
        }
    }
    Ok(0)
}

/// The stage of an object.
pub fn stage_of(reference: &ObjectRef, object: &Value) -> Result<StageKey, OrderError> {
    Ok(match (reference.kind.as_str(), reference.group.as_str()) {
        ("CustomResourceDefinition", "apiextensions.k8s.io") => StageKey::Crds,
        ("Namespace", "") => StageKey::Namespaces,
        ("ClusterRole" | "ClusterRoleBinding", "rbac.authorization.k8s.io") => {
            StageKey::ClusterRbac
        }
        _ => StageKey::Wave(wave(reference, object)?),
    })
}

/// Objects with their identity and something of the caller's.
pub type Staged<T> = Vec<(ObjectRef, Value, T)>;

/// Groups objects into stages, in apply order, each stage sorted by kind, namespace and name.
pub fn stages<T>(items: Staged<T>) -> Result<Vec<(StageKey, Staged<T>)>, OrderError> {
    let mut by_stage: BTreeMap<StageKey, Staged<T>> = BTreeMap::new();
    for (reference, object, extra) in items {
        let key = stage_of(&reference, &object)?;
        by_stage
            .entry(key)
            .or_default()
            .push((reference, object, extra));
    }
    Ok(by_stage
        .into_iter()
        .map(|(key, mut objects)| {
            objects.sort_by(|a, b| {
                (kind_rank(&a.0.kind), &a.0.kind, &a.0.namespace, &a.0.name).cmp(&(
                    kind_rank(&b.0.kind),
                    &b.0.kind,
                    &b.0.namespace,
                    &b.0.name,
                ))
            });
            (key, objects)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(
        api_version: &str,
        kind: &str,
        name: &str,
        wave: Option<&str>,
    ) -> (ObjectRef, Value, ()) {
        let mut object =
            json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
        if let Some(w) = wave {
            object["metadata"]["annotations"] = json!({ARGO_SYNC_WAVE: w});
        }
        (
            ObjectRef::from_object(0, &object).expect("valid"),
            object,
            (),
        )
    }

    #[test]
    fn crds_namespaces_and_cluster_rbac_come_before_waves_then_kinds() {
        let items = vec![
            item("apps/v1", "Deployment", "web", None),
            item("example.com/v1", "Widget", "w", None),
            item("v1", "ConfigMap", "late", Some("2")),
            item("v1", "Service", "web", None),
            item("rbac.authorization.k8s.io/v1", "ClusterRole", "r", None),
            item("v1", "Namespace", "shop", None),
            item(
                "apiextensions.k8s.io/v1",
                "CustomResourceDefinition",
                "widgets",
                None,
            ),
            item("v1", "ConfigMap", "early", Some("-1")),
            item("v1", "ServiceAccount", "web", None),
        ];
        let order: Vec<(String, Vec<String>)> = stages(items)
            .expect("ordered")
            .into_iter()
            .map(|(k, objects)| {
                (
                    k.to_string(),
                    objects.into_iter().map(|o| o.0.name).collect(),
                )
            })
            .collect();
        let expected: Vec<(String, Vec<String>)> = [
            ("crds", vec!["widgets"]),
            ("namespaces", vec!["shop"]),
            ("cluster-rbac", vec!["r"]),
            ("wave -1", vec!["early"]),
            ("wave 0", vec!["web", "web", "web", "w"]),
            ("wave 2", vec!["late"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn a_wave_that_is_not_an_integer_is_named() {
        let err = stages(vec![item("v1", "ConfigMap", "c", Some("soon"))]).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "ConfigMap c: annotation argocd.argoproj.io/sync-wave is \"soon\", not an integer"
        );
    }
}
