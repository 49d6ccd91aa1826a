//! Install or upgrade: which of a HelmRelease's CRD policies applies, and what it keeps.
//!
//! A release is *installed* the first time its objects are applied, and *upgraded* after:
//! Tether tells them apart by the app's inventory (the objects applied at its last
//! successful sync, [`crate::sync::inventory`]), read before the render
//! ([`AppliedObjects`]). When none of the release's objects (CRDs aside) is in it, the
//! release installs and `install.crds` applies (default `Create`); otherwise it upgrades and
//! `upgrade.crds` applies (default `Skip`), as Flux defaults them:
//!
//! - `Skip`: the chart's `crds/` are left out (CRDs applied before stay, protected from
//!   prune like every CRD, and are reported as orphaned).
//! - `Create`: CRDs the app has not applied before are created; those it applied before
//!   are left as they are (out of the apply).
//! - `CreateReplace`: every CRD is applied (created or updated).

use std::collections::BTreeSet;

use serde_json::Value;

use super::model::HelmRelease;
use super::{group_kind, name_of, namespace_of};

/// The objects an app applied at its last successful sync: `(group, kind, namespace, name)`.
#[derive(Debug, Clone, Default)]
pub struct AppliedObjects {
    refs: BTreeSet<(String, String, String, String)>,
}

impl AppliedObjects {
    /// From the app's inventory (the objects its last sync applied).
    pub fn from_inventory(inventory: &crate::sync::inventory::Inventory) -> Self {
        Self {
            refs: inventory
                .entries
                .keys()
                .map(|r| {
                    (
                        r.group.clone(),
                        r.kind.clone(),
                        r.namespace.clone(),
                        r.name.clone(),
                    )
                })
                .collect(),
        }
    }

    /// Whether `object` (in `namespace` when it names none) was applied; a cluster-scoped
    /// object matches whatever namespace the render gave it.
    #[must_use]
    pub fn contains(&self, object: &Value, namespace: &str) -> bool {
        let (group, kind) = group_kind(object);
        let name = name_of(object);
        let namespace = namespace_of(object, namespace);
        self.refs.iter().any(|(g, k, n, m)| {
            g == group && k == kind && m == name && (n.is_empty() || n == namespace)
        })
    }
}

/// Refuses a CRD policy that is not `Skip`, `Create` or `CreateReplace`.
pub fn validate(release: &HelmRelease, id: &str) -> Result<(), super::FluxHelmError> {
    for (field, action) in [
        ("spec.install.crds", &release.spec.install),
        ("spec.upgrade.crds", &release.spec.upgrade),
    ] {
        let policy = action.as_ref().map_or("", |a| a.crds.as_str());
        if !matches!(policy, "" | "Skip" | "Create" | "CreateReplace") {
            return Err(super::FluxHelmError::InvalidField {
                object: id.to_owned(),
                field: field.into(),
                problem: format!("{policy:?} is not Skip, Create or CreateReplace"),
            });
        }
    }
    Ok(())
}

/// The CRD policy of the phase the release is in, and whether it upgrades.
pub fn crd_policy(
    release: &HelmRelease,
    objects: &[Value],
    namespace: &str,
    applied: Option<&AppliedObjects>,
) -> (String, bool) {
    let upgrade =
        applied.is_some_and(|a| objects.iter().any(|object| a.contains(object, namespace)));
    let (action, default) = if upgrade {
        (&release.spec.upgrade, "Skip")
    } else {
        (&release.spec.install, "Create")
    };
    let policy = action
        .as_ref()
        .map(|a| a.crds.clone())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| default.to_owned());
    (policy, upgrade)
}

/// The CRDs to apply under `policy`.
pub fn select_crds(
    crds: Vec<Value>,
    policy: &str,
    upgrade: bool,
    applied: Option<&AppliedObjects>,
) -> Vec<Value> {
    match policy {
        "Skip" => Vec::new(),
        "Create" if upgrade => crds
            .into_iter()
            .filter(|crd| !applied.is_some_and(|a| a.contains(crd, "")))
            .collect(),
        _ => crds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn release(install: &str, upgrade: &str) -> HelmRelease {
        serde_json::from_value(json!({"metadata": {"name": "web"},
            "spec": {"install": {"crds": install}, "upgrade": {"crds": upgrade}}}))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn applied() -> AppliedObjects {
        let text = "tether-inventory v1\nrevision abc\ndigest 0\napps/v1/Deployment/shop/web 1 2\napiextensions.k8s.io/v1/CustomResourceDefinition//old.example.com 1 2\n";
        let inventory = crate::sync::inventory::Inventory::decode(text, "tether-inventory-shop")
            .unwrap_or_else(|e| panic!("{e}"));
        AppliedObjects::from_inventory(&inventory)
    }

    fn crd(name: &str) -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name}})
    }

    #[test]
    fn a_release_whose_objects_were_applied_upgrades_with_upgrade_crds() {
        let objects =
            [json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}})];
        let applied = applied();
        let release = release("CreateReplace", "");
        assert_eq!(
            crd_policy(&release, &objects, "shop", Some(&applied)),
            ("Skip".to_owned(), true)
        );
        assert_eq!(
            crd_policy(&release, &objects, "other", Some(&applied)),
            ("CreateReplace".to_owned(), false),
            "another namespace's release installs"
        );
        assert_eq!(
            crd_policy(&release, &objects, "shop", None),
            ("CreateReplace".to_owned(), false)
        );
        let defaults = release_defaults();
        assert_eq!(crd_policy(&defaults, &objects, "x", None).0, "Create");
    }

    fn release_defaults() -> HelmRelease {
        serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": {}}))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn create_on_upgrade_creates_new_crds_only() {
        let applied = applied();
        let crds = vec![crd("old.example.com"), crd("new.example.com")];
        let kept = select_crds(crds.clone(), "Create", true, Some(&applied));
        assert_eq!(kept, vec![crd("new.example.com")]);
        assert_eq!(
            select_crds(crds.clone(), "Create", false, Some(&applied)).len(),
            2
        );
        assert_eq!(
            select_crds(crds.clone(), "CreateReplace", true, Some(&applied)).len(),
            2
        );
        assert!(select_crds(crds, "Skip", false, None).is_empty());
    }
}
