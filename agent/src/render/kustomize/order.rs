//! The output order: kustomize's legacy order by default (Namespaces, then cluster
//! configuration and RBAC, ConfigMaps and Secrets, Services, workloads, ..., webhooks last;
//! then by group/version/kind, namespace and name), or `sortOptions` (`legacy` with custom
//! first and last kinds, or `fifo`: the order of the input).

use super::kustomization::SortOptions;
use super::{Gvk, KustomizeError, ResId, Resource, invalid_field};
use crate::tree::RelPath;
use std::cmp::Ordering;
use std::collections::HashMap;

const ORDER_FIRST: &[&str] = &[
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];

const ORDER_LAST: &[&str] = &[
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn gvk_sort_string(gvk: &Gvk) -> String {
    let or = |s: &str, empty: &str| {
        if s.is_empty() {
            empty.to_owned()
        } else {
            s.to_owned()
        }
    };
    format!(
        "{}_{}_{}",
        or(&gvk.group, "~G"),
        or(&gvk.version, "~V"),
        or(&gvk.kind, "~K")
    )
}

fn id_sort_string(id: &ResId) -> String {
    let ns = if id.namespace.is_empty() {
        "~X"
    } else {
        &id.namespace
    };
    let name = if id.name.is_empty() { "~N" } else { &id.name };
    format!("{}|{ns}|{name}", gvk_sort_string(&id.gvk))
}

/// Sorts the resources of a build as the top kustomization asks.
pub(crate) fn sort(
    resources: &mut Vec<Resource>,
    options: Option<&SortOptions>,
    file: &RelPath,
) -> Result<(), KustomizeError> {
    let (first, last): (Vec<String>, Vec<String>) = match options {
        None => (owned(ORDER_FIRST), owned(ORDER_LAST)),
        Some(opts) => match opts.order.as_str() {
            "fifo" => {
                if opts.legacy_sort_options.is_some() {
                    return Err(invalid_field(
                        file,
                        "sortOptions.legacySortOptions",
                        "is set but the selected sort order is 'fifo', not 'legacy'",
                    ));
                }
                return Ok(());
            }
            "legacy" => match &opts.legacy_sort_options {
                None => (owned(ORDER_FIRST), owned(ORDER_LAST)),
                Some(legacy) => (legacy.order_first.clone(), legacy.order_last.clone()),
            },
            _ => {
                return Err(invalid_field(
                    file,
                    "sortOptions.order",
                    "must be one of [fifo, legacy]",
                ));
            }
        },
    };
    let mut rank: HashMap<String, i64> = HashMap::new();
    let count = i64::try_from(first.len()).unwrap_or(i64::MAX);
    for (i, kind) in first.iter().enumerate() {
        rank.insert(kind.clone(), -count + i64::try_from(i).unwrap_or(0));
    }
    for (i, kind) in last.iter().enumerate() {
        rank.insert(kind.clone(), 1 + i64::try_from(i).unwrap_or(0));
    }
    let mut keyed: Vec<(ResId, Resource)> = resources.drain(..).map(|r| (r.cur_id(), r)).collect();
    keyed.sort_by(|(a, _), (b, _)| compare(a, b, &rank));
    resources.extend(keyed.into_iter().map(|(_, r)| r));
    Ok(())
}

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn compare(a: &ResId, b: &ResId, rank: &HashMap<String, i64>) -> Ordering {
    if a.gvk != b.gvk {
        let ra = rank.get(&a.gvk.kind).copied().unwrap_or(0);
        let rb = rank.get(&b.gvk.kind).copied().unwrap_or(0);
        if ra != rb {
            return ra.cmp(&rb);
        }
        let (sa, sb) = (gvk_sort_string(&a.gvk), gvk_sort_string(&b.gvk));
        if a.gvk.kind == "Namespace"
            && b.gvk.kind == "Namespace"
            && (a.gvk.group.is_empty() || b.gvk.group.is_empty())
        {
            return sb.cmp(&sa);
        }
        return sa.cmp(&sb);
    }
    id_sort_string(a).cmp(&id_sort_string(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(kind: &str, api: &str, name: &str) -> Resource {
        Resource::new(
            json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}}),
            RelPath::root(),
        )
    }

    #[test]
    fn legacy_order_puts_namespaces_first_and_webhooks_last() {
        let mut list = vec![
            res(
                "ValidatingWebhookConfiguration",
                "admissionregistration.k8s.io/v1",
                "w",
            ),
            res("Deployment", "apps/v1", "b"),
            res("Widget", "x.io/v1", "w"),
            res("Deployment", "apps/v1", "a"),
            res("Namespace", "v1", "ns"),
            res("ConfigMap", "v1", "c"),
        ];
        sort(&mut list, None, &RelPath::root()).expect("sort");
        let names: Vec<String> = list
            .iter()
            .map(|r| format!("{}/{}", r.kind(), r.name()))
            .collect();
        assert_eq!(
            names,
            [
                "Namespace/ns",
                "ConfigMap/c",
                "Deployment/a",
                "Deployment/b",
                "Widget/w",
                "ValidatingWebhookConfiguration/w"
            ]
        );
    }
}
