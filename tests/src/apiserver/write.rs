//! The shared end of every write ("API Concepts": "Resource versions", "Dry-run",
//! "Finalizers"): server-owned metadata, status subresource rules, defaults, validation,
//! generation, managed fields, no-op detection, dry run, commit, and what follows a removal.

use serde_json::{Value, json};

use super::crd;
use super::defaults;
use super::kinds::ResourceType;
use super::managed::{Managed, tracked};
use super::meta;
use super::status::{ApiError, ApiResult};
use super::store::Store;
use super::validation;
use super::verbs::{as_version, ctx, key};

pub(crate) fn check_namespace(
    store: &Store,
    ty: &ResourceType,
    namespace: &str,
    name: &str,
    creating: bool,
) -> ApiResult<()> {
    if !ty.namespaced {
        return Ok(());
    }
    let Some(ns_ty) = store.registry.by_path("", "v1", "namespaces") else {
        return Ok(());
    };
    let ns = store
        .get(&key(&ns_ty, "", namespace))
        .ok_or_else(|| ApiError::namespace_not_found(namespace))?;
    if creating && meta::meta_str(ns, "deletionTimestamp").is_some() {
        return Err(ApiError::namespace_terminating(ty, name, namespace));
    }
    Ok(())
}

/// How a write records field ownership.
pub(crate) enum Ownership {
    /// A create/update/patch by this manager.
    Update(String),
    /// Server-side apply already computed the managers.
    Applied(Managed),
}

/// The spec-like part of an object: what bumps `metadata.generation`.
fn generation_view(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        for k in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(k);
        }
    }
    out
}

fn without_rv(obj: &Value) -> Value {
    let mut out = obj.clone();
    meta::remove_meta(&mut out, "resourceVersion");
    out
}

/// The shared end of every write: server-owned metadata, status subresource rules,
/// defaults, validation, generation, managed fields, no-op detection, dry run and commit.
pub(crate) fn write(
    store: &mut Store,
    ty: &ResourceType,
    old: Option<&Value>,
    mut obj: Value,
    ownership: Ownership,
    subresource: &str,
    dry_run: bool,
) -> ApiResult<Value> {
    let name = meta::name(&obj).to_owned();
    let namespace = meta::namespace(&obj).to_owned();
    check_namespace(store, ty, &namespace, &name, old.is_none())?;
    server_owned_metadata(old, &mut obj);
    meta::remove_meta(&mut obj, "selfLink");
    if ty.status_subresource {
        status_rules(old, &mut obj, subresource);
    }
    defaults::apply(&ty.kind, &ty.group, &mut obj, &mut store.alloc);
    if crd::is_crd(ty) {
        crd::validate(ty, &obj)?;
        if old.is_none() && !dry_run {
            if store.crd_delay_zero {
                crd::establish_status(&mut obj);
            } else {
                crd::pending_status(&mut obj);
                store.pending_crds.push(name.clone());
            }
        }
    }
    validation::validate_object(ty, &obj)?;
    if ty.generation {
        set_generation(old, &mut obj);
    }
    record_ownership(ty, old, &mut obj, ownership, subresource);
    if let Some(old) = old {
        if without_rv(old) == without_rv(&obj) {
            return Ok(as_version(ty, old));
        }
        if let Some(rv) = old.get("metadata").and_then(|m| m.get("resourceVersion")) {
            meta::set_meta(&mut obj, "resourceVersion", rv.clone());
        }
    }
    let is_namespace = ty.group.is_empty() && ty.plural == "namespaces";
    let finished = !is_namespace
        && old.is_some_and(|o| meta::meta_str(o, "deletionTimestamp").is_some())
        && meta::finalizers(&obj).is_empty();
    if dry_run {
        return Ok(obj);
    }
    let k = key(ty, &namespace, &name);
    if finished {
        let removed = store.remove(&k).unwrap_or(obj);
        after_removal(store, ty, &removed);
        return Ok(removed);
    }
    let stored = store.put(k, obj);
    if crd::is_crd(ty) {
        crd::sync_registry(store);
    }
    if is_namespace {
        finish_namespace(store, &name);
    }
    Ok(stored)
}

/// The metadata only the server sets (uid, creation and deletion times, generation): kept
/// from the stored object, or new for a create.
fn server_owned_metadata(old: Option<&Value>, obj: &mut Value) {
    let server_owned = [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ];
    match old {
        Some(old) => {
            for f in server_owned {
                match old.get("metadata").and_then(|m| m.get(f)) {
                    Some(v) => meta::set_meta(obj, f, v.clone()),
                    None => {
                        meta::remove_meta(obj, f);
                    }
                }
            }
        }
        None => {
            for f in server_owned {
                meta::remove_meta(obj, f);
            }
            meta::set_meta(obj, "uid", json!(meta::new_uid()));
            meta::set_meta(obj, "creationTimestamp", json!(meta::now_rfc3339()));
        }
    }
}

/// The status subresource: a write to it changes only the status (and managed fields), a
/// write to the object never changes the status.
fn status_rules(old: Option<&Value>, obj: &mut Value, subresource: &str) {
    let old_status = old.and_then(|o| o.get("status")).cloned();
    if subresource == "status" {
        let new_status = obj.get("status").cloned();
        let mut base = old.cloned().unwrap_or_else(|| obj.clone());
        if let Some(m) = base.as_object_mut() {
            match new_status {
                Some(s) => m.insert("status".into(), s),
                None => m.remove("status"),
            };
        }
        if let Some(mf) = obj
            .get("metadata")
            .and_then(|m| m.get("managedFields"))
            .cloned()
        {
            meta::set_meta(&mut base, "managedFields", mf);
        }
        *obj = base;
    } else if let Some(m) = obj.as_object_mut() {
        match old_status {
            Some(s) => m.insert("status".into(), s),
            None => m.remove("status"),
        };
    }
}

/// `metadata.generation`: 1 at create, one more when the spec view changed.
fn set_generation(old: Option<&Value>, obj: &mut Value) {
    let generation = match old {
        None => 1,
        Some(o) => {
            let g = o
                .get("metadata")
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if generation_view(o) == generation_view(obj) {
                g
            } else {
                g + 1
            }
        }
    };
    meta::set_meta(obj, "generation", json!(generation));
}

/// The managed fields after the write: an update records the manager's fields, an apply
/// writes what the apply computed.
fn record_ownership(
    ty: &ResourceType,
    old: Option<&Value>,
    obj: &mut Value,
    ownership: Ownership,
    subresource: &str,
) {
    match ownership {
        Ownership::Update(manager) => {
            let mut managed = match old {
                Some(o) => Managed::read(o),
                None => Managed::default(),
            };
            if obj
                .get("metadata")
                .and_then(|m| m.get("managedFields"))
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                managed = Managed::default();
            }
            let before = old
                .map(|o| tracked(ty, o, subresource))
                .unwrap_or_else(|| json!({}));
            let after = tracked(ty, obj, subresource);
            managed.record_update(
                ctx(ty),
                &before,
                &after,
                &manager,
                &ty.api_version(),
                subresource,
            );
            managed.write(obj);
        }
        Ownership::Applied(managed) => managed.write(obj),
    }
}

/// Effects of an object leaving the store: a CRD takes its objects along, a namespace being
/// terminated goes once it is empty.
pub(crate) fn after_removal(store: &mut Store, ty: &ResourceType, removed: &Value) {
    if crd::is_crd(ty) {
        crd::remove_objects(store, removed);
        crd::sync_registry(store);
    }
    let ns = meta::namespace(removed).to_owned();
    if ty.namespaced && !ns.is_empty() {
        finish_namespace(store, &ns);
    }
}

/// Removes a terminating namespace once nothing is left in it.
pub(crate) fn finish_namespace(store: &mut Store, namespace: &str) {
    let Some(ns_ty) = store.registry.by_path("", "v1", "namespaces") else {
        return;
    };
    let k = key(&ns_ty, "", namespace);
    let terminating = store
        .get(&k)
        .is_some_and(|ns| meta::meta_str(ns, "deletionTimestamp").is_some());
    if terminating
        && store.keys_in_namespace(namespace).is_empty()
        && store
            .get(&k)
            .is_some_and(|ns| meta::finalizers(ns).is_empty())
    {
        store.remove(&k);
    }
}
