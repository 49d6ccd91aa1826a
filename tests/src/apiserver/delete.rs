//! DELETE and deletecollection ("API Concepts": "Finalizers"; "Namespaces": deletion):
//! removal at once, or a `deletionTimestamp` while finalizers remain, and namespaces taking
//! their content along.

use std::sync::Arc;

use serde_json::{Value, json};

use super::kinds::ResourceType;
use super::meta;
use super::selectors::Selectors;
use super::status::{ApiError, ApiResult};
use super::store::Store;
use super::verbs::{as_version, key};
use super::write::{after_removal, finish_namespace};

/// Options of a delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// DELETE one object: removed at once, or marked with `deletionTimestamp` while finalizers
/// remain. Deleting a namespace deletes what is in it.
pub fn delete(
    store: &mut Store,
    ty: &ResourceType,
    namespace: &str,
    name: &str,
    opts: &DeleteOptions,
) -> ApiResult<Value> {
    let k = key(ty, namespace, name);
    let old = store
        .get(&k)
        .cloned()
        .ok_or_else(|| ApiError::not_found(ty, name))?;
    if opts
        .uid
        .as_deref()
        .is_some_and(|u| Some(u) != meta::meta_str(&old, "uid"))
        || opts
            .resource_version
            .as_deref()
            .is_some_and(|rv| Some(rv) != meta::meta_str(&old, "resourceVersion"))
    {
        return Err(ApiError::conflict(ty, name));
    }
    let is_namespace = ty.group.is_empty() && ty.plural == "namespaces";
    let held = !meta::finalizers(&old).is_empty() || is_namespace;
    if held {
        let mut marked = old.clone();
        if meta::meta_str(&old, "deletionTimestamp").is_none() {
            meta::set_meta(&mut marked, "deletionTimestamp", json!(meta::now_rfc3339()));
            meta::set_meta(&mut marked, "deletionGracePeriodSeconds", json!(0));
            if is_namespace && let Some(m) = marked.as_object_mut() {
                m.insert("status".into(), json!({"phase": "Terminating"}));
            }
        }
        if opts.dry_run {
            return Ok(as_version(ty, &marked));
        }
        let stored = if marked == old {
            old
        } else {
            store.put(k, marked)
        };
        if is_namespace {
            delete_namespace_contents(store, name);
            finish_namespace(store, name);
        }
        return Ok(as_version(ty, &stored));
    }
    if opts.dry_run {
        return Ok(as_version(ty, &old));
    }
    let removed = store.remove(&k).unwrap_or(old);
    after_removal(store, ty, &removed);
    Ok(as_version(ty, &removed))
}

fn delete_namespace_contents(store: &mut Store, namespace: &str) {
    for k in store.keys_in_namespace(namespace) {
        let Some(obj) = store.get(&k).cloned() else {
            continue;
        };
        let Some(ty) = store
            .registry
            .all()
            .iter()
            .find(|t| t.storage_key() == k.0)
            .cloned()
        else {
            store.remove(&k);
            continue;
        };
        let _ = delete(
            store,
            &ty,
            namespace,
            meta::name(&obj),
            &DeleteOptions::default(),
        );
    }
}

/// DELETE a collection: every object matching the selectors.
pub fn delete_collection(
    store: &mut Store,
    ty: &Arc<ResourceType>,
    namespace: Option<&str>,
    selectors: &Selectors,
    opts: &DeleteOptions,
) -> ApiResult<Value> {
    let targets: Vec<(String, String)> = store
        .list(&ty.storage_key(), namespace)
        .into_iter()
        .filter(|o| selectors.matches(o))
        .map(|o| (meta::namespace(o).to_owned(), meta::name(o).to_owned()))
        .collect();
    let mut items = Vec::new();
    for (ns, name) in targets {
        items.push(delete(store, ty, &ns, &name, opts)?);
    }
    Ok(json!({
        "kind": format!("{}List", ty.kind),
        "apiVersion": ty.api_version(),
        "metadata": {"resourceVersion": store.current_rv().to_string()},
        "items": items,
    }))
}
