//! Live data for the app view, read from the cluster with the agent's client: each object's
//! health ([`crate::sync::health::assess`]), its children by owner reference (Deployment →
//! ReplicaSet → Pod, StatefulSet/DaemonSet/Job → Pod, CronJob → Job → Pod), whether each
//! Secret exists (its metadata only: values are never read here), and recent Events (core and `events.k8s.io`) about the app's
//! inventory and objects. Bounded: at most [`MAX_OBJECTS`] objects are read, lists are
//! limited, and every failure becomes the view's `liveError` instead of a failed page.

use super::app::{AppView, ChildView, EventView};
use crate::sync::ObjectRef;
use crate::sync::client::Resolver;
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The most objects of one app read live.
pub const MAX_OBJECTS: usize = 200;
/// The most Events shown.
pub const MAX_EVENTS: usize = 30;
const LIST_LIMIT: u32 = 500;

/// Errors of reading live data.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// A list failed.
    #[error("list {what} in {namespace}: {source}")]
    ListFailed {
        /// What was listed.
        what: &'static str,
        /// The namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &kube::api::GroupVersionKind::gvk(group, version, kind),
        plural,
    )
}

async fn list(
    client: &kube::Client,
    ar: &ApiResource,
    namespace: &str,
    what: &'static str,
) -> Result<Vec<Value>, LiveError> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, ar);
    let list = api
        .list(&ListParams::default().limit(LIST_LIMIT))
        .await
        .map_err(|source| LiveError::ListFailed {
            what,
            namespace: namespace.to_owned(),
            source,
        })?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect())
}

fn uid(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

fn str_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Children of every owner uid among Jobs, ReplicaSets and Pods of one namespace.
struct Owned {
    children: HashMap<String, Vec<(ObjectRef, Value)>>,
}

impl Owned {
    async fn read(client: &kube::Client, namespace: &str) -> Result<Self, LiveError> {
        let kinds = [
            ("apps", "v1", "ReplicaSet", "replicasets"),
            ("batch", "v1", "Job", "jobs"),
            ("", "v1", "Pod", "pods"),
        ];
        let mut children: HashMap<String, Vec<(ObjectRef, Value)>> = HashMap::new();
        for (group, version, kind, plural) in kinds {
            let ar = resource(group, version, kind, plural);
            for object in list(client, &ar, namespace, plural).await? {
                let reference = ObjectRef {
                    group: group.to_owned(),
                    version: version.to_owned(),
                    kind: kind.to_owned(),
                    namespace: namespace.to_owned(),
                    name: str_at(&object, "/metadata/name").to_owned(),
                };
                let owners: Vec<String> = object
                    .pointer("/metadata/ownerReferences")
                    .and_then(Value::as_array)
                    .map(|list| {
                        list.iter()
                            .filter_map(|o| o.get("uid").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                for owner in owners {
                    children
                        .entry(owner)
                        .or_default()
                        .push((reference.clone(), object.clone()));
                }
            }
        }
        Ok(Self { children })
    }

    fn tree(&self, owner: &str, depth: u8, out: &mut Vec<ChildView>) {
        if depth > 3 || out.len() >= 100 {
            return;
        }
        for (reference, object) in self.children.get(owner).into_iter().flatten() {
            let health = crate::sync::health::assess(reference, object);
            out.push(ChildView {
                depth,
                kind: reference.kind.clone(),
                name: reference.name.clone(),
                health: health.status().to_owned(),
                reason: health.reason().to_owned(),
            });
            if let Some(uid) = uid(object) {
                self.tree(uid, depth + 1, out);
            }
        }
    }
}

/// Adds live health, children, Secret keys and Events to `view`.
pub async fn fill(
    view: &mut AppView,
    client: &kube::Client,
    resolver: &Resolver,
    agent_namespace: &str,
) -> Result<(), LiveError> {
    let mut owned: BTreeMap<String, Owned> = BTreeMap::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    names.insert(crate::sync::inventory::config_map_name(&view.app.name));
    for object in view.objects.iter_mut().take(MAX_OBJECTS) {
        names.insert(object.name.clone());
        let reference = ObjectRef {
            group: object.group.clone(),
            version: object.version.clone(),
            kind: object.kind.clone(),
            namespace: object.namespace.clone(),
            name: object.name.clone(),
        };
        let Ok(resolved) = resolver.resolve(&reference.gvk()).await else {
            object.health_reason = "the kind is not served".into();
            continue;
        };
        if reference.is_secret() {
            // Only a Secret's metadata is read: its values never enter the UI.
            object.health = match secret_exists(client, &object.namespace, &object.name).await {
                Ok(true) => "Healthy".into(),
                Ok(false) => {
                    object.sync = "Missing".into();
                    "Missing".into()
                }
                Err(err) => {
                    object.health_reason = crate::text::clip_message(&err.to_string()).into_owned();
                    "Unknown".into()
                }
            };
            continue;
        }
        let api: Api<DynamicObject> = if resolved.scope.namespaced {
            Api::namespaced_with(client.clone(), &object.namespace, &resolved.resource)
        } else {
            Api::all_with(client.clone(), &resolved.resource)
        };
        let live = match api.get_opt(&object.name).await {
            Ok(Some(live)) => serde_json::to_value(live).unwrap_or(Value::Null),
            Ok(None) => {
                object.sync = "Missing".into();
                object.health = "Missing".into();
                continue;
            }
            Err(err) => {
                object.health_reason = crate::text::clip_message(&err.to_string()).into_owned();
                continue;
            }
        };
        let health = crate::sync::health::assess(&reference, &live);
        object.health = health.status().to_owned();
        object.health_reason = health.reason().to_owned();
        let Some(uid) = uid(&live) else { continue };
        if !matches!(
            object.kind.as_str(),
            "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" | "ReplicaSet"
        ) || object.namespace.is_empty()
        {
            continue;
        }
        if !owned.contains_key(&object.namespace) {
            let read = Owned::read(client, &object.namespace).await?;
            owned.insert(object.namespace.clone(), read);
        }
        if let Some(owned) = owned.get(&object.namespace) {
            owned.tree(uid, 1, &mut object.children);
        }
    }
    for children in view.objects.iter().flat_map(|o| &o.children) {
        names.insert(children.name.clone());
    }
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    namespaces.insert(agent_namespace.to_owned());
    if !view.app.namespace.is_empty() {
        namespaces.insert(view.app.namespace.clone());
    }
    view.events = events(client, &namespaces, &names).await?;
    Ok(())
}

async fn secret_exists(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<bool, kube::Error> {
    let api: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), namespace);
    api.get_metadata_opt(name).await.map(|m| m.is_some())
}

fn event_view(object: &Value) -> EventView {
    let time = [
        "/eventTime",
        "/lastTimestamp",
        "/series/lastObservedTime",
        "/deprecatedLastTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .map(|p| str_at(object, p))
    .find(|t| !t.is_empty())
    .unwrap_or("")
    .to_owned();
    let regarding = if object.get("regarding").is_some() {
        "/regarding"
    } else {
        "/involvedObject"
    };
    let note = [str_at(object, "/note"), str_at(object, "/message")]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or("");
    EventView {
        time,
        r#type: str_at(object, "/type").to_owned(),
        reason: str_at(object, "/reason").to_owned(),
        object: format!(
            "{}/{}",
            str_at(object, &format!("{regarding}/kind")),
            str_at(object, &format!("{regarding}/name"))
        ),
        note: super::model::one_line(note, 400),
    }
}

async fn events(
    client: &kube::Client,
    namespaces: &BTreeSet<String>,
    names: &BTreeSet<String>,
) -> Result<Vec<EventView>, LiveError> {
    let kinds = [
        resource("", "v1", "Event", "events"),
        resource("events.k8s.io", "v1", "Event", "events"),
    ];
    let mut out: Vec<EventView> = Vec::new();
    for namespace in namespaces {
        for ar in &kinds {
            for object in list(client, ar, namespace, "events").await? {
                let name = object
                    .pointer("/regarding/name")
                    .or_else(|| object.pointer("/involvedObject/name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if names.contains(name) {
                    let view = event_view(&object);
                    if !out.contains(&view) {
                        out.push(view);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| b.time.cmp(&a.time));
    out.truncate(MAX_EVENTS);
    Ok(out)
}
