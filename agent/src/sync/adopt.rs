//! Adoption of objects a Helm release installed before Tether: when the live object carries
//! Helm's release annotations (`meta.helm.sh/release-name`, `meta.helm.sh/release-namespace`)
//! and label (`app.kubernetes.io/managed-by: Helm`), and the desired object comes from the
//! same release (the release's render sets the same annotations, as `helm install` does),
//! Tether takes it over with a forced server-side apply (Helm's field manager loses its
//! fields to Tether's) instead of refusing it or recreating it.

use serde_json::Value;

use super::object::{annotation, label};

/// Helm's release name annotation.
pub const RELEASE_NAME: &str = "meta.helm.sh/release-name";
/// Helm's release namespace annotation.
pub const RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";
/// The label Helm sets on what it installs.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Whether `live` was installed by the Helm release `desired` is rendered from.
pub fn from_same_helm_release(desired: &Value, live: &Value) -> bool {
    let release = |o| {
        (
            annotation(o, RELEASE_NAME).filter(|n| !n.is_empty()),
            annotation(o, RELEASE_NAMESPACE).filter(|n| !n.is_empty()),
        )
    };
    let (name, namespace) = release(desired);
    name.is_some()
        && namespace.is_some()
        && release(live) == (name, namespace)
        && label(live, MANAGED_BY) == Some("Helm")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(release: &str, namespace: &str, managed_by: &str) -> Value {
        json!({"metadata": {
            "annotations": {RELEASE_NAME: release, RELEASE_NAMESPACE: namespace},
            "labels": {MANAGED_BY: managed_by}}})
    }

    #[test]
    fn only_objects_of_the_same_release_installed_by_helm_are_adopted() {
        let desired = object("web", "shop", "tether");
        assert!(from_same_helm_release(
            &desired,
            &object("web", "shop", "Helm")
        ));
        assert!(!from_same_helm_release(
            &desired,
            &object("api", "shop", "Helm")
        ));
        assert!(!from_same_helm_release(
            &desired,
            &object("web", "other", "Helm")
        ));
        assert!(!from_same_helm_release(
            &desired,
            &object("web", "shop", "someone")
        ));
        assert!(!from_same_helm_release(
            &json!({}),
            &object("web", "shop", "Helm")
        ));
    }
}
