//! Discovery ("Discovering the Kubernetes API"): `/version`, the legacy documents (`/api`,
//! `/apis`, `/apis/GROUP`, `/api/v1`, `/apis/GROUP/VERSION`) and aggregated discovery
//! (`APIGroupDiscoveryList`, `apidiscovery.k8s.io/v2` and `v2beta1`), chosen by `Accept`.

use serde_json::{Value, json};

use super::kinds::{Registry, ResourceType};

/// The Kubernetes version the emulation answers as.
pub const KUBERNETES_VERSION: (&str, &str) = ("1", "33");

/// `/version`.
pub fn version() -> Value {
    json!({
        "major": KUBERNETES_VERSION.0,
        "minor": KUBERNETES_VERSION.1,
        "emulationMajor": KUBERNETES_VERSION.0,
        "emulationMinor": KUBERNETES_VERSION.1,
        "gitVersion": format!("v{}.{}.0", KUBERNETES_VERSION.0, KUBERNETES_VERSION.1),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// Which aggregated discovery version an `Accept` header asks for, if any.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        if !params.contains(&"as=APIGroupDiscoveryList")
            || !params.contains(&"g=apidiscovery.k8s.io")
        {
            continue;
        }
        if params.contains(&"v=v2") {
            return Some("v2");
        }
        if params.contains(&"v=v2beta1") {
            return Some("v2beta1");
        }
    }
    None
}

/// The `Content-Type` of an aggregated discovery answer.
pub fn aggregated_content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

/// `/api` (legacy).
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

fn group_json(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": group, "versions": vs, "preferredVersion": preferred})
}

/// `/apis` (legacy).
pub fn group_list(registry: &Registry) -> Value {
    let groups: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/GROUP`.
pub fn group(registry: &Registry, name: &str) -> Option<Value> {
    let groups = registry.groups();
    let (g, vs) = groups.iter().find(|(g, _)| g == name && !g.is_empty())?;
    let mut out = group_json(g, vs);
    if let Some(m) = out.as_object_mut() {
        m.insert("kind".into(), json!("APIGroup"));
        m.insert("apiVersion".into(), json!("v1"));
    }
    Some(out)
}

fn types_in<'a>(
    registry: &'a Registry,
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a ResourceType> {
    registry
        .all()
        .iter()
        .map(AsRef::as_ref)
        .filter(move |t| t.group == group && t.version == version)
}

const STATUS_VERBS: [&str; 3] = ["get", "patch", "update"];

/// `/api/v1` or `/apis/GROUP/VERSION`: an `APIResourceList`.
pub fn resource_list(registry: &Registry, group: &str, version: &str) -> Option<Value> {
    if !registry.serves_group_version(group, version) {
        return None;
    }
    let mut resources = Vec::new();
    for t in types_in(registry, group, version) {
        let mut r = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs,
        });
        if let Some(m) = r.as_object_mut() {
            if !t.short_names.is_empty() {
                m.insert("shortNames".into(), json!(t.short_names));
            }
            if !t.categories.is_empty() {
                m.insert("categories".into(), json!(t.categories));
            }
        }
        resources.push(r);
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": STATUS_VERBS,
            }));
        }
    }
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

fn resource_discovery(t: &ResourceType) -> Value {
    let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
    let mut r = json!({
        "resource": t.plural,
        "responseKind": gvk,
        "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": t.singular,
        "verbs": t.verbs,
    });
    if let Some(m) = r.as_object_mut() {
        if !t.short_names.is_empty() {
            m.insert("shortNames".into(), json!(t.short_names));
        }
        if !t.categories.is_empty() {
            m.insert("categories".into(), json!(t.categories));
        }
        if t.status_subresource {
            m.insert(
                "subresources".into(),
                json!([{"subresource": "status", "responseKind": gvk, "verbs": STATUS_VERBS}]),
            );
        }
    }
    r
}

/// Aggregated discovery of the core group (`/api`) or of the named groups (`/apis`).
pub fn aggregated(registry: &Registry, core: bool, version: &str) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|(g, _)| g.is_empty() == core)
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> =
                        types_in(registry, g, v).map(resource_discovery).collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let metadata = if g.is_empty() {
                json!({"creationTimestamp": null})
            } else {
                json!({"name": g, "creationTimestamp": null})
            };
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_aggregated_version_from_accept() {
        let kube = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kube), Some("v2"));
        assert_eq!(
            aggregated_version(
                "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
            ),
            Some("v2beta1")
        );
        assert_eq!(aggregated_version("application/json, */*"), None);
    }

    #[test]
    fn aggregated_discovery_lists_deployments_with_status() {
        let doc = aggregated(&Registry::default(), false, "v2");
        let apps = doc["items"]
            .as_array()
            .and_then(|i| i.iter().find(|g| g["metadata"]["name"] == "apps"))
            .cloned();
        let apps = apps.expect("apps group is served");
        let deploy = &apps["versions"][0]["resources"][0];
        assert_eq!(deploy["resource"], "deployments");
        assert_eq!(deploy["subresources"][0]["subresource"], "status");
    }
}
