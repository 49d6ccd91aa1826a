//! Which objects each self-healing app manages, and so which resources and namespaces the
//! drift watcher watches.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use kube::api::ApiResource;

use super::client::Resolved;
use super::managed::Managed;
use super::object::ObjectRef;

/// A resource and namespace watched (no namespace: cluster-wide or cluster-scoped).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct TargetKey {
    pub(super) api_version: String,
    pub(super) plural: String,
    pub(super) namespace: Option<String>,
}

/// Which objects each self-healing app manages, and so what to watch.
#[derive(Debug, Default)]
pub(super) struct WatchIndex {
    apps: HashMap<String, Vec<(ObjectRef, Arc<Resolved>)>>,
    owners: HashMap<ObjectRef, String>,
}

impl WatchIndex {
    /// Records the objects of `app`; true when they changed.
    pub(super) fn set_app<'a>(
        &mut self,
        app: &str,
        objects: impl Iterator<Item = (&'a ObjectRef, &'a Managed)>,
    ) -> bool {
        let list: Vec<(ObjectRef, Arc<Resolved>)> = objects
            .map(|(r, m)| (r.clone(), Arc::clone(&m.resolved)))
            .collect();
        let same = self
            .apps
            .get(app)
            .is_some_and(|old| old.iter().map(|o| &o.0).eq(list.iter().map(|o| &o.0)));
        if same {
            return false;
        }
        self.remove_app(app);
        for (r, _) in &list {
            self.owners.insert(r.clone(), app.to_owned());
        }
        self.apps.insert(app.to_owned(), list);
        true
    }

    /// Whether `app`'s objects are watched (self-heal on, not paused).
    pub(super) fn has_app(&self, app: &str) -> bool {
        self.apps.contains_key(app)
    }

    /// Forgets `app`; true when it was known.
    pub(super) fn remove_app(&mut self, app: &str) -> bool {
        let Some(old) = self.apps.remove(app) else {
            return false;
        };
        for (r, _) in old {
            if self.owners.get(&r).is_some_and(|a| a == app) {
                self.owners.remove(&r);
            }
        }
        true
    }

    pub(super) fn owner(&self, reference: &ObjectRef) -> Option<String> {
        self.owners.get(reference).cloned()
    }

    /// What to watch: per resource, one watch per namespace, or one cluster-wide watch when
    /// the resource is cluster-scoped or spans more than `max_namespaces` namespaces.
    pub(super) fn targets(&self, max_namespaces: usize) -> BTreeMap<TargetKey, ApiResource> {
        let mut by_resource: BTreeMap<
            (String, String),
            (ApiResource, bool, std::collections::BTreeSet<String>),
        > = BTreeMap::new();
        for (r, resolved) in self.apps.values().flatten() {
            let resource = &resolved.resource;
            by_resource
                .entry((resource.api_version.clone(), resource.plural.clone()))
                .or_insert_with(|| {
                    (
                        resource.clone(),
                        resolved.scope.namespaced,
                        Default::default(),
                    )
                })
                .2
                .insert(r.namespace.clone());
        }
        let mut out = BTreeMap::new();
        for ((api_version, plural), (resource, namespaced, namespaces)) in by_resource {
            if !namespaced || namespaces.len() > max_namespaces {
                out.insert(
                    TargetKey {
                        api_version,
                        plural,
                        namespace: None,
                    },
                    resource,
                );
                continue;
            }
            for ns in namespaces {
                out.insert(
                    TargetKey {
                        api_version: api_version.clone(),
                        plural: plural.clone(),
                        namespace: Some(ns),
                    },
                    resource.clone(),
                );
            }
        }
        out
    }
}
