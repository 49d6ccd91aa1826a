//! Helm's hook annotations, read as the sync engine's hooks, so that a chart's hooks run as
//! they run under `helm install`/`helm upgrade`:
//!
//! - `helm.sh/hook`: `pre-install`/`pre-upgrade` run as pre-sync hooks, `post-install`/
//!   `post-upgrade` as post-sync hooks. `test`/`test-success`/`test-failure` hooks and hooks
//!   only for delete or rollback are not applied at all (a sync never installs them).
//! - `helm.sh/hook-weight`: hooks of a phase run by weight (an integer, default 0), then by
//!   name.
//! - `helm.sh/hook-delete-policy`: `before-hook-creation` (the default: an earlier hook
//!   object is deleted before the new one is created), `hook-succeeded`, `hook-failed`.
//!
//! Unlike Tether's and Argo CD's pre-sync hooks, a Helm hook may be any kind: Jobs and Pods
//! are waited for, other kinds are applied and done.

use serde_json::Value;

use super::object::{ObjectRef, annotation};

/// Helm's hook annotation.
pub const HOOK: &str = "helm.sh/hook";
/// Helm's hook weight annotation.
pub const HOOK_WEIGHT: &str = "helm.sh/hook-weight";
/// Helm's hook delete policy annotation.
pub const HOOK_DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// What a sync does with an object carrying `helm.sh/hook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelmHook {
    /// Runs before the sync applies anything (`pre-install`, `pre-upgrade`).
    PreSync,
    /// Runs after the sync applied everything and it is healthy (`post-install`,
    /// `post-upgrade`).
    PostSync,
    /// Not applied: a test hook, or a hook of delete or rollback only. Carries the hook list.
    Skipped(String),
}

/// Which deletions a hook asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletePolicy {
    /// Delete the previous hook object before creating the new one.
    pub before_creation: bool,
    /// Delete the hook object once it succeeded.
    pub on_success: bool,
    /// Delete the hook object when it failed.
    pub on_failure: bool,
}

/// Why a Helm hook annotation cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HelmHookError {
    /// An annotation holds a value Helm does not accept.
    #[error("{object}: annotation {annotation} is {value:?}: {problem}")]
    BadAnnotation {
        /// The object.
        object: String,
        /// The annotation.
        annotation: &'static str,
        /// Its value (at most 100 bytes).
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
}

fn clip(text: &str) -> String {
    text.chars().take(100).collect()
}

/// The phase of an object annotated `helm.sh/hook`, or `None` when it is not a Helm hook.
pub fn phase(object: &Value) -> Option<HelmHook> {
    let hooks = annotation(object, HOOK)?;
    let names: Vec<&str> = hooks.split(',').map(str::trim).collect();
    if names.iter().any(|h| h.starts_with("test")) {
        return Some(HelmHook::Skipped(clip(hooks)));
    }
    if names
        .iter()
        .any(|h| matches!(*h, "pre-install" | "pre-upgrade"))
    {
        return Some(HelmHook::PreSync);
    }
    if names
        .iter()
        .any(|h| matches!(*h, "post-install" | "post-upgrade"))
    {
        return Some(HelmHook::PostSync);
    }
    Some(HelmHook::Skipped(clip(hooks)))
}

/// The hook's weight (`helm.sh/hook-weight`, default 0).
pub fn weight(reference: &ObjectRef, object: &Value) -> Result<i64, HelmHookError> {
    match annotation(object, HOOK_WEIGHT) {
        None => Ok(0),
        Some(text) if text.trim().is_empty() => Ok(0),
        Some(text) => text
            .trim()
            .parse()
            .map_err(|_| HelmHookError::BadAnnotation {
                object: reference.to_string(),
                annotation: HOOK_WEIGHT,
                value: clip(text),
                problem: "not an integer",
            }),
    }
}

/// The hook's delete policy; `before-hook-creation` when none is given, as in Helm.
pub fn delete_policy(reference: &ObjectRef, object: &Value) -> Result<DeletePolicy, HelmHookError> {
    let Some(text) = annotation(object, HOOK_DELETE_POLICY).filter(|t| !t.trim().is_empty()) else {
        return Ok(DeletePolicy {
            before_creation: true,
            on_success: false,
            on_failure: false,
        });
    };
    let mut policy = DeletePolicy {
        before_creation: false,
        on_success: false,
        on_failure: false,
    };
    for name in text.split(',').map(str::trim) {
        match name {
            "before-hook-creation" => policy.before_creation = true,
            "hook-succeeded" => policy.on_success = true,
            "hook-failed" => policy.on_failure = true,
            _ => {
                return Err(HelmHookError::BadAnnotation {
                    object: reference.to_string(),
                    annotation: HOOK_DELETE_POLICY,
                    value: clip(text),
                    problem: "expected before-hook-creation, hook-succeeded or hook-failed",
                });
            }
        }
    }
    Ok(policy)
}

/// The hooks due in a sync whose content changed: a hook of a Helm release (it carries
/// `meta.helm.sh/release-name`/`-namespace`) only when `release_changed` says that release's
/// objects changed, as Helm and Flux upgrade (and run hooks for) one release at a time;
/// any other hook always.
pub fn due(
    hooks: &[(ObjectRef, Value)],
    release_changed: impl Fn(&str, &str) -> bool,
) -> Vec<(ObjectRef, Value)> {
    hooks
        .iter()
        .filter(|(_, object)| match release_of(object) {
            Some((name, namespace)) => release_changed(name, namespace),
            None => true,
        })
        .cloned()
        .collect()
}

/// The Helm release an object was rendered from (its `meta.helm.sh/release-name` and
/// `meta.helm.sh/release-namespace`).
pub fn release_of(object: &Value) -> Option<(&str, &str)> {
    Some((
        annotation(object, super::adopt::RELEASE_NAME).filter(|n| !n.is_empty())?,
        annotation(object, super::adopt::RELEASE_NAMESPACE).filter(|n| !n.is_empty())?,
    ))
}

/// Sorts hooks as Helm runs them: by weight, then by name (stable otherwise). Hooks without
/// a Helm weight count as weight 0.
pub fn sort(hooks: &mut [(ObjectRef, Value)]) -> Result<(), HelmHookError> {
    let mut keyed = Vec::with_capacity(hooks.len());
    for (reference, object) in hooks.iter() {
        keyed.push(weight(reference, object)?);
    }
    let mut order: Vec<usize> = (0..hooks.len()).collect();
    order.sort_by(|a, b| {
        keyed[*a]
            .cmp(&keyed[*b])
            .then_with(|| hooks[*a].0.name.cmp(&hooks[*b].0.name))
    });
    let sorted: Vec<(ObjectRef, Value)> = order.iter().map(|i| hooks[*i].clone()).collect();
    for (slot, hook) in hooks.iter_mut().zip(sorted) {
        *slot = hook;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(name: &str, annotations: Value) -> (ObjectRef, Value) {
        let object = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations}});
        (
            ObjectRef::from_object(0, &object).expect("a reference"),
            object,
        )
    }

    #[test]
    fn helm_hooks_map_to_sync_phases() {
        let of = |v: &str| phase(&hook("h", json!({HOOK: v})).1);
        assert_eq!(of("pre-install,pre-upgrade"), Some(HelmHook::PreSync));
        assert_eq!(of("pre-upgrade"), Some(HelmHook::PreSync));
        assert_eq!(of("post-install"), Some(HelmHook::PostSync));
        assert_eq!(of("test"), Some(HelmHook::Skipped("test".into())));
        assert_eq!(
            of("test-success"),
            Some(HelmHook::Skipped("test-success".into()))
        );
        assert_eq!(
            of("pre-delete"),
            Some(HelmHook::Skipped("pre-delete".into()))
        );
        assert_eq!(phase(&hook("h", json!({})).1), None);
    }

    #[test]
    fn hooks_run_by_weight_then_name() {
        let mut hooks = vec![
            hook("b", json!({HOOK: "pre-install", HOOK_WEIGHT: "5"})),
            hook("z", json!({HOOK: "pre-install", HOOK_WEIGHT: "-5"})),
            hook("c", json!({HOOK: "pre-install"})),
            hook("a", json!({HOOK: "pre-install", HOOK_WEIGHT: "5"})),
        ];
        sort(&mut hooks).expect("sorted");
        let names: Vec<&str> = hooks.iter().map(|h| h.0.name.as_str()).collect();
        assert_eq!(names, ["z", "c", "a", "b"]);
        let mut bad = vec![hook(
            "x",
            json!({HOOK: "pre-install", HOOK_WEIGHT: "heavy"}),
        )];
        let err = sort(&mut bad).expect_err("not an integer");
        assert!(err.to_string().contains("helm.sh/hook-weight"), "{err}");
    }

    #[test]
    fn only_the_hooks_of_changed_releases_are_due() {
        let of = |name: &str, release: Option<&str>| {
            let mut annotations = json!({HOOK: "pre-upgrade"});
            if let Some(release) = release {
                annotations["meta.helm.sh/release-name"] = json!(release);
                annotations["meta.helm.sh/release-namespace"] = json!("shop");
            }
            hook(name, annotations)
        };
        let hooks = vec![of("a", Some("web")), of("b", Some("api")), of("c", None)];
        let due = due(&hooks, |name, namespace| {
            name == "web" && namespace == "shop"
        });
        let names: Vec<&str> = due.iter().map(|h| h.0.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
    }

    #[test]
    fn the_delete_policy_defaults_to_before_hook_creation() {
        let (r, o) = hook("h", json!({HOOK: "pre-install"}));
        assert_eq!(
            delete_policy(&r, &o).expect("policy"),
            DeletePolicy {
                before_creation: true,
                on_success: false,
                on_failure: false
            }
        );
        let (r, o) = hook(
            "h",
            json!({HOOK_DELETE_POLICY: "hook-succeeded, hook-failed"}),
        );
        assert_eq!(
            delete_policy(&r, &o).expect("policy"),
            DeletePolicy {
                before_creation: false,
                on_success: true,
                on_failure: true
            }
        );
        let (r, o) = hook("h", json!({HOOK_DELETE_POLICY: "never"}));
        assert!(delete_policy(&r, &o).is_err());
    }
}
