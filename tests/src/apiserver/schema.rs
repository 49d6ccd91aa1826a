//! The little schema knowledge merges need: which lists are associative (and by which keys),
//! which are sets, and which maps are atomic. Built-in kinds follow the `patchMergeKey`,
//! `listType`/`listMapKeys` and `mapType`/`structType` markers of the Kubernetes API types;
//! custom resources treat every list as atomic and every map as granular (the server-side
//! apply defaults for schemas without those markers).

use serde_json::Value;

/// How a list field merges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole (no merge key).
    Atomic,
    /// A set of scalars (`listType: set`, `patchStrategy: merge` on scalars).
    Set,
    /// An associative list: `keys` identify an item for server-side apply, `merge_key` is the
    /// strategic-merge-patch key, `defaults` fill key fields the object leaves out.
    Map {
        /// `x-kubernetes-list-map-keys`.
        keys: Vec<&'static str>,
        /// `x-kubernetes-patch-merge-key`.
        merge_key: &'static str,
        /// Key fields with a default value (`protocol: TCP`).
        defaults: Vec<(&'static str, &'static str)>,
    },
}

fn map(keys: &[&'static str], merge_key: &'static str) -> ListKind {
    ListKind::Map {
        keys: keys.to_vec(),
        merge_key,
        defaults: Vec::new(),
    }
}

fn with_protocol(keys: &[&'static str], merge_key: &'static str) -> ListKind {
    ListKind::Map {
        keys: keys.to_vec(),
        merge_key,
        defaults: vec![("protocol", "TCP")],
    }
}

/// The context of a field: the object's kind, whether it is built in, and the field names
/// from the root (list positions left out).
#[derive(Debug, Clone, Copy)]
pub struct FieldCtx<'a> {
    /// Kind of the object.
    pub kind: &'a str,
    /// Built-in kind (merge keys known) or custom resource.
    pub builtin: bool,
}

fn is_container_list(name: &str) -> bool {
    matches!(
        name,
        "containers" | "initContainers" | "ephemeralContainers"
    )
}

/// How the list at `names` merges.
pub fn list_kind(ctx: FieldCtx<'_>, names: &[&str]) -> ListKind {
    let Some((last, parents)) = names.split_last() else {
        return ListKind::Atomic;
    };
    let parent = parents.last().copied().unwrap_or("");
    if parents == ["metadata"] {
        return match *last {
            "finalizers" => ListKind::Set,
            "ownerReferences" => map(&["uid"], "uid"),
            _ => ListKind::Atomic,
        };
    }
    if !ctx.builtin {
        return ListKind::Atomic;
    }
    if parent == "status" && *last == "conditions" {
        return map(&["type"], "type");
    }
    match *last {
        l if is_container_list(l) => map(&["name"], "name"),
        "ports" if is_container_list(parent) => {
            with_protocol(&["containerPort", "protocol"], "containerPort")
        }
        "ports" if ctx.kind == "Service" && parents == ["spec"] => {
            with_protocol(&["port", "protocol"], "port")
        }
        "env" if is_container_list(parent) => map(&["name"], "name"),
        "volumeMounts" if is_container_list(parent) => map(&["mountPath"], "mountPath"),
        "volumeDevices" if is_container_list(parent) => map(&["devicePath"], "devicePath"),
        "resizePolicy" if is_container_list(parent) => map(&["resourceName"], "resourceName"),
        "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"
            if parent == "spec" =>
        {
            map(&["name"], "name")
        }
        "hostAliases" if parent == "spec" => map(&["ip"], "ip"),
        "topologySpreadConstraints" if parent == "spec" => {
            map(&["topologyKey", "whenUnsatisfiable"], "topologyKey")
        }
        "finalizers" if ctx.kind == "Namespace" && parents == ["spec"] => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// Whether the map at `names` is atomic (owned and replaced as a whole).
pub fn atomic_map(ctx: FieldCtx<'_>, names: &[&str]) -> bool {
    if !ctx.builtin {
        return false;
    }
    let Some(last) = names.last() else {
        return false;
    };
    match *last {
        // metav1.LabelSelector is `structType=atomic`.
        "selector" => ctx.kind != "Service",
        "namespaceSelector" | "podSelector" | "labelSelector" => true,
        "roleRef" => true,
        _ => false,
    }
}

/// The key of a list item, with key-field defaults filled in: `{"name":"x"}`.
pub fn item_key(
    item: &Value,
    keys: &[&str],
    defaults: &[(&str, &str)],
) -> Option<serde_json::Map<String, Value>> {
    let obj = item.as_object()?;
    let mut out = serde_json::Map::new();
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    for k in sorted {
        match obj.get(k) {
            Some(v) if !v.is_null() => {
                out.insert(k.to_owned(), v.clone());
            }
            _ => {
                if let Some((_, d)) = defaults.iter().find(|(name, _)| *name == k) {
                    out.insert(k.to_owned(), Value::String((*d).to_owned()));
                }
            }
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPLOY: FieldCtx<'static> = FieldCtx {
        kind: "Deployment",
        builtin: true,
    };

    #[test]
    fn containers_and_their_ports_are_associative() {
        let names = ["spec", "template", "spec", "containers"];
        assert!(matches!(
            list_kind(DEPLOY, &names),
            ListKind::Map {
                merge_key: "name",
                ..
            }
        ));
        let ports = ["spec", "template", "spec", "containers", "ports"];
        assert!(matches!(
            list_kind(DEPLOY, &ports),
            ListKind::Map {
                merge_key: "containerPort",
                ..
            }
        ));
        let args = ["spec", "template", "spec", "containers", "args"];
        assert_eq!(list_kind(DEPLOY, &args), ListKind::Atomic);
    }

    #[test]
    fn custom_resources_have_atomic_lists() {
        let ctx = FieldCtx {
            kind: "Widget",
            builtin: false,
        };
        assert_eq!(list_kind(ctx, &["spec", "containers"]), ListKind::Atomic);
        assert_eq!(list_kind(ctx, &["metadata", "finalizers"]), ListKind::Set);
    }

    #[test]
    fn item_keys_fill_the_default_protocol() {
        let key = item_key(
            &serde_json::json!({"containerPort": 80}),
            &["containerPort", "protocol"],
            &[("protocol", "TCP")],
        );
        assert_eq!(
            Value::Object(key.unwrap_or_default()),
            serde_json::json!({"containerPort": 80, "protocol": "TCP"})
        );
    }
}
