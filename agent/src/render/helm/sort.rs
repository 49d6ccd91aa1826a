//! Rendered templates to manifests as Helm's `releaseutil` does: each file split on `---`
//! lines, blank documents dropped, hooks (`helm.sh/hook`) separated, then everything
//! stably sorted by kind in Helm 3's install order (unknown kinds last, alphabetically).

use super::clip;
use crate::render::yaml::{self, ParseOptions};
use serde_json::Value;
use std::collections::BTreeMap;

/// Helm 3's `InstallOrder`. Helm 4 adds the webhook configurations after `APIService`;
/// Tether follows Helm 3.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
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
];

/// When a hook runs (`helm.sh/hook`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// `pre-install`.
    PreInstall,
    /// `post-install`.
    PostInstall,
    /// `pre-delete`.
    PreDelete,
    /// `post-delete`.
    PostDelete,
    /// `pre-upgrade`.
    PreUpgrade,
    /// `post-upgrade`.
    PostUpgrade,
    /// `pre-rollback`.
    PreRollback,
    /// `post-rollback`.
    PostRollback,
    /// `test` (and its old name `test-success`).
    Test,
}

impl HookEvent {
    fn parse(name: &str) -> Option<HookEvent> {
        Some(match name {
            "pre-install" => Self::PreInstall,
            "post-install" => Self::PostInstall,
            "pre-delete" => Self::PreDelete,
            "post-delete" => Self::PostDelete,
            "pre-upgrade" => Self::PreUpgrade,
            "post-upgrade" => Self::PostUpgrade,
            "pre-rollback" => Self::PreRollback,
            "post-rollback" => Self::PostRollback,
            "test" | "test-success" => Self::Test,
            _ => return None,
        })
    }
}

/// A hook object of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// `metadata.name`.
    pub name: String,
    /// `kind`.
    pub kind: String,
    /// The template it came from.
    pub template: String,
    /// When it runs.
    pub events: Vec<HookEvent>,
    /// `helm.sh/hook-weight` (0 when absent or not a number).
    pub weight: i64,
    /// `helm.sh/hook-delete-policy` values, lower-cased.
    pub delete_policies: Vec<String>,
    /// The object.
    pub object: Value,
}

impl Hook {
    /// Whether this is a `test` hook.
    #[must_use]
    pub fn is_test(&self) -> bool {
        self.events.contains(&HookEvent::Test)
    }
}

/// A rendered object and the template it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Manifest {
    pub template: String,
    pub kind: String,
    pub value: Value,
}

/// Splits on Helm's separator (`(?:^|\s*\n)---\s*`), trimming each document.
pub(crate) fn split_manifests(text: &str) -> Vec<&str> {
    let text = text.trim();
    let mut docs = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 3 <= bytes.len() {
        let at_line_start = i == 0 || bytes[i - 1] == b'\n';
        if at_line_start && &bytes[i..i + 3] == b"---" {
            docs.push(&text[start..i]);
            let mut j = i + 3;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            start = j;
            i = j;
            continue;
        }
        i += 1;
    }
    docs.push(&text[start..]);
    docs.into_iter()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect()
}

/// Sorts rendered templates (`name → text`) into hooks and manifests in Helm's order.
/// `Err((template, reason))` when a document is not YAML or not a map.
/// Each text is freed once its documents are parsed.
pub(crate) fn sort_manifests(
    files: BTreeMap<String, String>,
    limits: &ParseOptions,
) -> Result<(Vec<Hook>, Vec<Manifest>), (String, String)> {
    let mut hooks = Vec::new();
    let mut generic = Vec::new();
    for (path, content) in files {
        let path = &path;
        let base = path.rsplit('/').next().unwrap_or(path);
        if base.starts_with('_') || content.trim().is_empty() {
            continue;
        }
        for doc in split_manifests(&content) {
            // `helm template` prints each document followed by a newline: a block scalar
            // ending the document keeps its final line break. Where the text has that
            // line break after the document, the document is parsed in place.
            let parsed = match with_line_break(&content, doc) {
                Some(text) => yaml::parse_values(text, limits),
                None => yaml::parse_values(&format!("{doc}\n"), limits),
            }
            .map_err(|e| (path.clone(), clip(&e.to_string())))?;
            let value = match parsed.into_iter().next() {
                None | Some(Value::Null) => continue,
                Some(value @ Value::Object(_)) => value,
                Some(_) => return Err((path.clone(), "a document is not a map".into())),
            };
            let kind = value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let annotations = value.pointer("/metadata/annotations");
            let hook_types = annotations
                .and_then(|a| a.get("helm.sh/hook"))
                .and_then(Value::as_str);
            let Some(hook_types) = hook_types else {
                generic.push(Manifest {
                    template: path.clone(),
                    kind,
                    value,
                });
                continue;
            };
            let events: Option<Vec<HookEvent>> = hook_types
                .split(',')
                .map(|t| HookEvent::parse(&t.trim().to_lowercase()))
                .collect();
            let Some(events) = events else {
                tracing::debug!(template = path, hook = hook_types, "skipping unknown hook");
                continue;
            };
            let annotation = |key: &str| {
                annotations
                    .and_then(|a| a.get(key))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let weight = annotation("helm.sh/hook-weight")
                .and_then(|w| w.trim().parse::<i64>().ok())
                .filter(|w| i32::try_from(*w).is_ok())
                .unwrap_or(0);
            let delete_policies = annotation("helm.sh/hook-delete-policy")
                .map(|p| p.split(',').map(|s| s.trim().to_lowercase()).collect())
                .unwrap_or_default();
            hooks.push(Hook {
                name: value
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                kind,
                template: path.clone(),
                events,
                weight,
                delete_policies,
                object: value,
            });
        }
    }
    hooks.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    generic.sort_by(|a, b| kind_order(&a.kind, &b.kind));
    Ok((hooks, generic))
}

/// `doc` (a slice of `text`) with the line break that follows it in `text`, if one does.
fn with_line_break<'a>(text: &'a str, doc: &str) -> Option<&'a str> {
    let start = (doc.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
    let end = start.checked_add(doc.len())?;
    (text.as_bytes().get(end) == Some(&b'\n')).then(|| text.get(start..=end))?
}

/// Helm's `lessByKind` as an ordering (used with a stable sort).
fn kind_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let rank = |kind: &str| INSTALL_ORDER.iter().position(|k| *k == kind);
    match (rank(a), rank(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_split_on_helms_separator() {
        let docs = split_manifests("\n---\na: 1\n---   \nb: 2\n--- # x\n\n---\nc: ---\n");
        assert_eq!(docs, ["a: 1", "b: 2", "# x", "c: ---"]);
    }

    #[test]
    fn manifests_sort_in_install_order_and_hooks_separate() {
        let mut files = BTreeMap::new();
        files.insert(
            "c/templates/a.yaml".to_owned(),
            "kind: Deployment\nmetadata: {name: d}\n---\nkind: Zeta\n---\nkind: Alpha\n---\n# only a comment\n".to_owned(),
        );
        files.insert(
            "c/templates/b.yaml".to_owned(),
            "kind: Service\n---\nkind: Job\nmetadata:\n  name: j\n  annotations:\n    helm.sh/hook: pre-install, post-upgrade\n    helm.sh/hook-weight: \"-5\"\n    helm.sh/hook-delete-policy: before-hook-creation,Hook-Succeeded\n---\nkind: Pod\nmetadata:\n  annotations: {helm.sh/hook: nonsense}\n".to_owned(),
        );
        files.insert("c/templates/_x.tpl".to_owned(), "kind: Secret\n".to_owned());
        let (hooks, generic) =
            sort_manifests(files, &ParseOptions::default()).unwrap_or_else(|e| panic!("{e:?}"));
        let kinds: Vec<&str> = generic.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["Service", "Deployment", "Alpha", "Zeta"]);
        assert_eq!(hooks.len(), 1);
        assert_eq!(
            hooks[0].events,
            [HookEvent::PreInstall, HookEvent::PostUpgrade]
        );
        assert_eq!(hooks[0].weight, -5);
        assert_eq!(
            hooks[0].delete_policies,
            ["before-hook-creation", "hook-succeeded"]
        );
    }

    #[test]
    fn a_block_scalar_ending_a_document_keeps_its_line_break_parsed_in_place_or_not() {
        let mut files = BTreeMap::new();
        files.insert(
            "c/templates/a.yaml".to_owned(),
            "kind: A\ndata:\n  x: |\n    one\n---\nkind: B\ndata:\n  x: |\n    two".to_owned(),
        );
        let (_, generic) =
            sort_manifests(files, &ParseOptions::default()).unwrap_or_else(|e| panic!("{e:?}"));
        let data: Vec<&Value> = generic.iter().map(|m| &m.value["data"]["x"]).collect();
        assert_eq!(data, ["one\n", "two\n"]);
        let text = "a: 1\n---\nb: 2";
        let docs = split_manifests(text);
        assert_eq!(with_line_break(text, docs[0]), Some("a: 1\n"));
        assert_eq!(with_line_break(text, docs[1]), None);
    }

    #[test]
    fn a_template_rendering_a_scalar_is_refused_with_its_name() {
        let mut files = BTreeMap::new();
        files.insert("c/templates/a.yaml".to_owned(), "just text".to_owned());
        let err = sort_manifests(files, &ParseOptions::default()).err();
        assert_eq!(err.map(|e| e.0).as_deref(), Some("c/templates/a.yaml"));
    }
}
