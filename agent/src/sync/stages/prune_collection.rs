//! Prune at scale: the candidates of one resource in one namespace read with one list of
//! Tether's objects there instead of one read each, and deleted with one `deletecollection`
//! when that list holds nothing but them.
//!
//! The collection delete is exact: it carries Tether's label selector and the list's
//! resourceVersion with `resourceVersionMatch=Exact`, so the server deletes the objects that
//! list returned (each of them checked like any prune candidate: this app's, unprotected,
//! not desired) and nothing created or labelled since, such as a new object of another app in
//! the same namespace. What the server does not report deleted is deleted one by one after.

use std::collections::HashMap;

use kube::Api;
use kube::api::DynamicObject;
use serde_json::Value;

use super::prune_stage::PRUNE_CONCURRENCY;
use crate::sync::apply;
use crate::sync::inventory::{Entry, Inventory};
use crate::sync::object::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, ObjectRef, meta_str};

/// Candidates of one resource in one namespace from which one list replaces their reads.
const LIST_AT_LEAST: usize = PRUNE_CONCURRENCY;

/// A list reads every object of the app there, a read one object: a list is worth it when
/// the candidates are at least this share (1/N) of the app's objects of that resource and
/// namespace.
const LIST_SHARE: usize = 10;

/// One list of Tether's objects of one resource in one namespace.
pub(super) struct Listed {
    /// The live objects by name, taken out as the candidates are checked.
    pub(super) by_name: HashMap<String, Value>,
    /// How many objects the list returned.
    pub(super) total: usize,
    /// The list's resourceVersion.
    pub(super) resource_version: String,
    /// Its resource and namespace.
    pub(super) api: Api<DynamicObject>,
    /// `kind namespace`, for messages.
    pub(super) what: String,
}

/// The label selector of Tether's objects.
pub(super) fn selector() -> String {
    format!("{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
}

/// Lists the resources and namespaces whose candidates are worth a list; returns the lists
/// and, by resource URL (which holds the namespace), the index of each. A list that fails
/// leaves its candidates to be read one by one.
pub(super) async fn list_groups(
    reads: &[(&ObjectRef, &Entry, Api<DynamicObject>)],
    previous: &Inventory,
) -> (HashMap<String, usize>, Vec<Listed>) {
    let mut app_objects: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for r in previous.entries.keys() {
        *app_objects
            .entry((r.group.as_str(), r.kind.as_str(), r.namespace.as_str()))
            .or_default() += 1;
    }
    let mut groups: HashMap<&str, (usize, &ObjectRef, &Api<DynamicObject>)> = HashMap::new();
    for (reference, _, api) in reads {
        groups
            .entry(api.resource_url())
            .or_insert((0, reference, api))
            .0 += 1;
    }
    let selector = selector();
    let calls = groups
        .into_iter()
        .filter(|(_, (n, r, _))| {
            let all = app_objects
                .get(&(r.group.as_str(), r.kind.as_str(), r.namespace.as_str()))
                .copied()
                .unwrap_or(0);
            *n >= LIST_AT_LEAST && *n * LIST_SHARE >= all
        })
        .map(|(url, (_, r, api))| {
            let selector = &selector;
            async move {
                let what = format!("{} in {:?}", r.kind, r.namespace);
                let listing = apply::list_with_version(api, &what, selector).await;
                (url.to_owned(), api.clone(), what, listing)
            }
        });
    let mut index = HashMap::new();
    let mut lists = Vec::new();
    for (url, api, what, listing) in futures::future::join_all(calls).await {
        let listing = match listing {
            Ok(l) => l,
            Err(err) => {
                tracing::debug!(error = %err, "listing prune candidates failed; reading them one by one");
                continue;
            }
        };
        let total = listing.objects.len();
        let by_name = listing
            .objects
            .into_iter()
            .filter_map(|o| Some((meta_str(&o, "name")?.to_owned(), o)))
            .collect();
        index.insert(url, lists.len());
        lists.push(Listed {
            by_name,
            total,
            resource_version: listing.resource_version,
            api,
            what,
        });
    }
    (index, lists)
}

/// What one collection delete did: the names it deleted, or why it did not run.
pub(super) enum CollectionDeleted {
    /// The server reports these deleted (`None`: all, it answered with a bare Status).
    Deleted(Option<Vec<String>>),
    /// It failed (the objects are deleted one by one instead).
    Failed(String),
}

/// Deletes the objects of one list with one request.
pub(super) async fn delete_listed(client: &kube::Client, listed: &Listed) -> CollectionDeleted {
    match apply::delete_collection_at(
        client,
        &listed.api,
        &listed.what,
        &selector(),
        &listed.resource_version,
    )
    .await
    {
        Ok(names) => CollectionDeleted::Deleted(names),
        Err(err) => CollectionDeleted::Failed(err.to_string()),
    }
}
