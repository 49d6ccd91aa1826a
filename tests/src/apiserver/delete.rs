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

/// DELETE a collection: every object matching the selectors, now or, with `exact`
/// (`resourceVersion` and `resourceVersionMatch=Exact`), among the objects as they were at
/// that resourceVersion; `410 Gone` when the history no longer reaches it. Objects already
/// gone are skipped, as the real server ignores their `NotFound`.
pub fn delete_collection(
    store: &mut Store,
    ty: &Arc<ResourceType>,
    namespace: Option<&str>,
    selectors: &Selectors,
    opts: &DeleteOptions,
    exact: Option<u64>,
) -> ApiResult<Value> {
    let targets: Vec<(String, String)> = match exact {
        None => store
            .list(&ty.storage_key(), namespace)
            .into_iter()
            .filter(|o| selectors.matches(o))
            .map(|o| (meta::namespace(o).to_owned(), meta::name(o).to_owned()))
            .collect(),
        Some(rv) => store
            .list_at(&ty.storage_key(), namespace, rv)
            .map_err(|oldest| ApiError::gone(rv, oldest))?
            .into_iter()
            .filter(|(_, then)| selectors.matches(then))
            .map(|((_, ns, name), _)| (ns, name))
            .collect(),
    };
    let mut items = Vec::new();
    for (ns, name) in targets {
        match delete(store, ty, &ns, &name, opts) {
            Ok(item) => items.push(item),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json!({
        "kind": format!("{}List", ty.kind),
        "apiVersion": ty.api_version(),
        "metadata": {"resourceVersion": store.current_rv().to_string()},
        "items": items,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::selectors::LabelSelector;
    use crate::apiserver::verbs::{WriteOptions, create};

    fn labelled(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "n", "labels": {"l": "x"}}})
    }

    #[test]
    fn a_collection_delete_at_an_exact_version_deletes_what_matched_then_and_nothing_newer() {
        let mut store = Store::new(100);
        let opts = WriteOptions {
            manager: "test".into(),
            ..WriteOptions::default()
        };
        let ns_ty = store.registry.resolve("Namespace").expect("built in");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}});
        create(&mut store, &ns_ty, "", ns, &opts).expect("namespace");
        let cm = store.registry.resolve("ConfigMap").expect("built in");
        for name in ["a", "b"] {
            create(&mut store, &cm, "n", labelled(name), &opts).expect("create");
        }
        let listed_at = store.current_rv();
        create(&mut store, &cm, "n", labelled("newer"), &opts).expect("create");
        // b loses the label after the list: it matched at that version, so it goes.
        let mut b = store.get(&key(&cm, "n", "b")).cloned().expect("b");
        b["metadata"]["labels"] = json!({});
        store.put(key(&cm, "n", "b"), b);
        let selectors = Selectors {
            labels: LabelSelector::parse("l=x").expect("selector"),
            ..Selectors::default()
        };
        let deleted = delete_collection(
            &mut store,
            &cm,
            Some("n"),
            &selectors,
            &DeleteOptions::default(),
            Some(listed_at),
        )
        .expect("deleted");
        let names: Vec<&str> = deleted["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(meta::name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert!(store.get(&key(&cm, "n", "newer")).is_some());

        store.compact();
        let err = delete_collection(
            &mut store,
            &cm,
            Some("n"),
            &selectors,
            &DeleteOptions::default(),
            Some(listed_at),
        )
        .expect_err("the version is compacted");
        assert_eq!(err.code, 410);
        assert!(store.get(&key(&cm, "n", "newer")).is_some());
    }
}
