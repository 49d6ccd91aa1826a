//! Prune: delete what left Git, never what someone cares about.
//!
//! The candidates are the objects of the previous inventory that are not in the new desired
//! set. Each one is read live and kept (reported as orphaned) when:
//! - it was not created by Tether (no `app.kubernetes.io/managed-by: tether` label) or another
//!   app owns it (`tether.dev/owner` differs);
//! - it, live or as last applied, says `tether.dev/prune: disabled`,
//!   `argocd.argoproj.io/sync-options` containing `Prune=false`,
//!   `kustomize.toolkit.fluxcd.io/prune: disabled` or `helm.sh/resource-policy: keep`;
//! - it is a Namespace, PersistentVolumeClaim, PersistentVolume, StatefulSet or
//!   CustomResourceDefinition, unless it says `tether.dev/prune: enabled`.
//!
//! Guards: an empty desired set never prunes, and a sync that would delete more than a share
//! of the app's objects (`maxPrunePercent`, default 50) deletes nothing ([`PruneError::Blocked`]).
//! Deletes use propagation `Background` and a precondition on the uid read.

use serde_json::Value;

use super::object::{
    MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_ANNOTATION, ObjectRef, annotation, label,
};

/// Tether's prune annotation: `disabled` protects, `enabled` allows pruning a protected kind.
pub const PRUNE_ANNOTATION: &str = "tether.dev/prune";

/// Why prune did not go ahead.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// Too many objects would go: nothing was deleted.
    #[error(
        "prune of app {app} blocked: {would_delete} of {total} objects would be deleted, more than {max_percent}%"
    )]
    Blocked {
        /// The app.
        app: String,
        /// How many objects would be deleted.
        would_delete: usize,
        /// How many objects the app had.
        total: usize,
        /// The limit.
        max_percent: u8,
    },
    /// The desired set is empty while the app has objects: nothing was applied or deleted.
    #[error("app {app} rendered no objects while {total} are deployed: refusing to prune them all")]
    EmptyDesiredSet {
        /// The app.
        app: String,
        /// How many objects the app has.
        total: usize,
    },
    /// Some deletes failed (the objects stay in the inventory and are retried next sync).
    #[error("prune of app {app}: {failed} deletes failed; first: {first}")]
    DeleteFailed {
        /// The app.
        app: String,
        /// How many failed.
        failed: usize,
        /// The first failure.
        first: String,
    },
}

impl PruneError {
    /// The short, stable reason used in status, Events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Blocked { .. } | Self::EmptyDesiredSet { .. } => "PruneBlocked",
            Self::DeleteFailed { .. } => "PruneFailed",
        }
    }
}

/// Kinds that are never pruned unless the object says `tether.dev/prune: enabled`.
const PROTECTED_KINDS: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "PersistentVolumeClaim"),
    ("", "PersistentVolume"),
    ("apps", "StatefulSet"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
];

/// Why an annotation set protects an object, if it does.
fn annotation_protection(object: &Value) -> Option<String> {
    if annotation(object, PRUNE_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("disabled")) {
        return Some(format!("{PRUNE_ANNOTATION}: disabled"));
    }
    if annotation(object, "argocd.argoproj.io/sync-options")
        .is_some_and(|v| v.split(',').any(|o| o.trim() == "Prune=false"))
    {
        return Some("argocd.argoproj.io/sync-options: Prune=false".into());
    }
    if annotation(object, "kustomize.toolkit.fluxcd.io/prune")
        .is_some_and(|v| v.eq_ignore_ascii_case("disabled"))
    {
        return Some("kustomize.toolkit.fluxcd.io/prune: disabled".into());
    }
    if annotation(object, "helm.sh/resource-policy").is_some_and(|v| v.trim() == "keep") {
        return Some("helm.sh/resource-policy: keep".into());
    }
    None
}

/// Annotation on a live object that lets an app take it over although Tether did not create
/// it (Secrets) or another app owns it. It sits on the live object, so only someone who may
/// already write that object can hand it over.
pub const ADOPT_ANNOTATION: &str = "tether.dev/adopt";

/// Why `app` may not apply over `live`, or `None` when it may. An object owned by another app
/// is refused, and so is a Secret that Tether did not create: writing a decrypted Secret over
/// one made by someone else would let whoever can commit to the repository replace any
/// Secret the agent can write. Other objects made outside Tether are adopted, as a migration
/// from `kubectl apply` expects. [`ADOPT_ANNOTATION`] `"true"` on the live object allows both.
pub fn takeover_refusal(app: &str, reference: &ObjectRef, live: &Value) -> Option<String> {
    if annotation(live, ADOPT_ANNOTATION).is_some_and(|v| v.trim() == "true") {
        return None;
    }
    let ours = label(live, MANAGED_BY_LABEL) == Some(MANAGED_BY_VALUE);
    if let Some(owner) = annotation(live, OWNER_ANNOTATION)
        && ours
        && owner != app
    {
        return Some(format!(
            "{reference} is owned by app {owner}; annotate the live object {ADOPT_ANNOTATION}: \"true\" to move it to app {app}"
        ));
    }
    if reference.is_secret() && !ours {
        return Some(format!(
            "{reference} exists and was not created by Tether (no {MANAGED_BY_LABEL}={MANAGED_BY_VALUE} label); annotate it {ADOPT_ANNOTATION}: \"true\" to let app {app} replace it"
        ));
    }
    None
}

/// Whether `live` carries Tether's label and `app` as its owner.
pub fn is_owned_by(app: &str, live: &Value) -> bool {
    label(live, MANAGED_BY_LABEL) == Some(MANAGED_BY_VALUE)
        && annotation(live, OWNER_ANNOTATION) == Some(app)
}

/// Why a leftover object of `app` must stay, or `None` when it may be deleted. `live` is the
/// object as read now; `last_applied` what Tether applied last, when known.
pub fn keep_reason(
    app: &str,
    reference: &ObjectRef,
    live: &Value,
    last_applied: Option<&Value>,
) -> Option<String> {
    if label(live, MANAGED_BY_LABEL) != Some(MANAGED_BY_VALUE) {
        return Some(format!(
            "not created by Tether (no {MANAGED_BY_LABEL}={MANAGED_BY_VALUE} label)"
        ));
    }
    match annotation(live, OWNER_ANNOTATION) {
        Some(owner) if owner == app => {}
        Some(owner) => return Some(format!("owned by app {owner}")),
        None => return Some(format!("no {OWNER_ANNOTATION} annotation")),
    }
    for object in std::iter::once(live).chain(last_applied) {
        if let Some(reason) = annotation_protection(object) {
            return Some(format!("protected by {reason}"));
        }
    }
    let enabled = std::iter::once(live).chain(last_applied).any(|o| {
        annotation(o, PRUNE_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("enabled"))
    });
    if !enabled
        && PROTECTED_KINDS
            .iter()
            .any(|(g, k)| reference.group == *g && reference.kind == *k)
    {
        return Some(format!(
            "{} is protected by default (set {PRUNE_ANNOTATION}: enabled to prune it)",
            reference.kind
        ));
    }
    None
}

/// Checks the mass-deletion guard: `would_delete` of `total` objects with `max_percent`.
pub fn guard(
    app: &str,
    would_delete: usize,
    total: usize,
    max_percent: u8,
) -> Result<(), PruneError> {
    if would_delete > 0 && would_delete * 100 > usize::from(max_percent) * total {
        return Err(PruneError::Blocked {
            app: app.to_owned(),
            would_delete,
            total,
            max_percent,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn live(kind: &str, api_version: &str, annotations: Value) -> (ObjectRef, Value) {
        let mut a = annotations;
        if a.get(OWNER_ANNOTATION).is_none() {
            a[OWNER_ANNOTATION] = json!("shop");
        }
        let object = json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "x", "labels": {MANAGED_BY_LABEL: "tether"}, "annotations": a}});
        (ObjectRef::from_object(0, &object).expect("valid"), object)
    }

    #[test]
    fn takeover_is_refused_for_another_apps_objects_and_foreign_secrets_unless_adopted() {
        let (r, o) = live("ConfigMap", "v1", json!({}));
        assert_eq!(takeover_refusal("shop", &r, &o), None);
        let reason = takeover_refusal("billing", &r, &o).expect("another app's object");
        assert!(reason.contains("owned by app shop"), "{reason}");
        let (r, o) = live("ConfigMap", "v1", json!({ADOPT_ANNOTATION: "true"}));
        assert_eq!(takeover_refusal("billing", &r, &o), None);

        let foreign = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}});
        let r = ObjectRef::from_object(0, &foreign).expect("valid");
        let reason = takeover_refusal("shop", &r, &foreign).expect("a foreign Secret");
        assert!(reason.contains("not created by Tether"), "{reason}");
        let adopted = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "annotations": {ADOPT_ANNOTATION: "true"}}});
        assert_eq!(takeover_refusal("shop", &r, &adopted), None);
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "db"}});
        let r = ObjectRef::from_object(0, &config).expect("valid");
        assert_eq!(
            takeover_refusal("shop", &r, &config),
            None,
            "adopted silently"
        );
    }

    #[test]
    fn each_protection_annotation_keeps_the_object() {
        for (key, value) in [
            ("tether.dev/prune", "disabled"),
            (
                "argocd.argoproj.io/sync-options",
                "ServerSideApply=true,Prune=false",
            ),
            ("kustomize.toolkit.fluxcd.io/prune", "disabled"),
            ("helm.sh/resource-policy", "keep"),
        ] {
            let (r, o) = live("ConfigMap", "v1", json!({key: value}));
            let reason = keep_reason("shop", &r, &o, None).expect("kept");
            assert!(reason.contains(key), "{reason}");
        }
        let (r, o) = live("ConfigMap", "v1", json!({}));
        assert_eq!(keep_reason("shop", &r, &o, None), None);
    }

    #[test]
    fn protected_kinds_need_an_explicit_opt_in() {
        for (kind, api_version) in [
            ("Namespace", "v1"),
            ("PersistentVolumeClaim", "v1"),
            ("PersistentVolume", "v1"),
            ("StatefulSet", "apps/v1"),
            ("CustomResourceDefinition", "apiextensions.k8s.io/v1"),
        ] {
            let (r, o) = live(kind, api_version, json!({}));
            assert!(keep_reason("shop", &r, &o, None).is_some(), "{kind}");
            let (r, o) = live(kind, api_version, json!({PRUNE_ANNOTATION: "enabled"}));
            assert_eq!(keep_reason("shop", &r, &o, None), None, "{kind}");
        }
    }

    #[test]
    fn the_last_applied_object_protects_too_and_owners_are_checked() {
        let (r, o) = live("ConfigMap", "v1", json!({}));
        let applied = json!({"metadata": {"annotations": {PRUNE_ANNOTATION: "disabled"}}});
        assert!(keep_reason("shop", &r, &o, Some(&applied)).is_some());
        assert_eq!(
            keep_reason("other", &r, &o, None).as_deref(),
            Some("owned by app shop")
        );
    }

    #[test]
    fn the_guard_counts_shares() {
        guard("a", 2, 4, 50).expect("half is allowed");
        let err = guard("a", 3, 4, 50).expect_err("three quarters is not");
        assert_eq!(err.reason(), "PruneBlocked");
        guard("a", 0, 0, 0).expect("nothing to delete");
    }
}
