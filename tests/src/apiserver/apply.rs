//! Server-side apply ("Server-Side Apply": "Merge strategy", "Conflicts", "Field
//! management"): merging an applied configuration into the live object, conflict detection
//! against other managers, shared ownership of equal values, and removal of the fields a
//! manager stopped applying.

use serde_json::{Map, Value};

use super::fields::{FieldSet, compare, display_path, remove_path, to_field_set};
use super::kinds::ResourceType;
use super::managed::{Managed, Operation, tracked};
use super::schema::{FieldCtx, ListKind, atomic_map, item_key, list_kind};
use super::status::{ApiError, Cause};

/// The result of merging an applied configuration: the new object and its managers.
#[derive(Debug)]
pub struct Applied {
    /// The object to store (before defaulting).
    pub object: Value,
    /// The new managed fields.
    pub managed: Managed,
}

/// One apply request.
#[derive(Debug)]
pub struct ApplyRequest<'a> {
    /// The resource type.
    pub ty: &'a ResourceType,
    /// The applied configuration (kind, apiVersion, namespace and name checked).
    pub applied: &'a Value,
    /// `fieldManager`.
    pub manager: &'a str,
    /// `force`.
    pub force: bool,
    /// `status` for the status subresource, or empty.
    pub subresource: &'a str,
}

/// Merges `req.applied` into `live` (or a new object), enforcing ownership.
pub fn apply(req: &ApplyRequest<'_>, live: Option<&Value>) -> Result<Applied, ApiError> {
    let ty = req.ty;
    let ctx = FieldCtx {
        kind: &ty.kind,
        builtin: ty.builtin,
    };
    let applied = tracked(ty, req.applied, req.subresource);
    let applied_set = to_field_set(ctx, &applied);
    let mut managed = live.map(Managed::read).unwrap_or_default();

    let mut object = match live {
        Some(l) => l.clone(),
        None => {
            let mut fresh = Map::new();
            for k in ["apiVersion", "kind"] {
                if let Some(v) = req.applied.get(k) {
                    fresh.insert(k.to_owned(), v.clone());
                }
            }
            let mut m = Map::new();
            for k in ["name", "namespace"] {
                if let Some(v) = req.applied.get("metadata").and_then(|m| m.get(k)) {
                    m.insert(k.to_owned(), v.clone());
                }
            }
            fresh.insert("metadata".into(), Value::Object(m));
            Value::Object(fresh)
        }
    };
    let mut names = Vec::new();
    merge(ctx, &mut object, &applied, &mut names);

    // Fields this manager applied before and no longer does are removed, unless another
    // manager owns them too.
    let previous = managed.set_of(req.manager, Operation::Apply, req.subresource);
    let mut others = FieldSet::default();
    for e in &managed.0 {
        if !(e.manager == req.manager
            && e.operation == Operation::Apply
            && e.subresource == req.subresource)
        {
            others = others.union(&e.fields);
        }
    }
    let dropped = previous.difference(&applied_set).difference(&others);
    for path in dropped.paths() {
        // A map or list item that holds fields of another manager stays.
        if !others.has_below(&path) {
            remove_path(ctx, &mut object, &path);
        }
    }

    if let Some(live) = live {
        let before = tracked(ty, live, req.subresource);
        let after = tracked(ty, &object, req.subresource);
        let (changed, _) = compare(ctx, &before, &after);
        let mut conflicts: Vec<Cause> = Vec::new();
        let mut taken = FieldSet::default();
        for e in &managed.0 {
            if e.manager == req.manager {
                continue;
            }
            let clash = e.fields.intersection(&changed).intersection(&applied_set);
            for path in clash.paths() {
                let with = match e.operation {
                    Operation::Apply => format!("conflict with \"{}\"", e.manager),
                    Operation::Update => {
                        format!("conflict with \"{}\" using {}", e.manager, e.api_version)
                    }
                };
                conflicts.push(Cause {
                    reason: "FieldManagerConflict".to_owned(),
                    message: with,
                    field: display_path(&path),
                });
            }
            taken = taken.union(&clash);
        }
        if !conflicts.is_empty() {
            if !req.force {
                return Err(conflict_error(ty, req.applied, conflicts));
            }
            managed.take_from_others(
                Some((req.manager, Operation::Apply, req.subresource)),
                &taken,
            );
        }
    }

    managed.set(
        req.manager,
        Operation::Apply,
        &ty.api_version(),
        req.subresource,
        applied_set,
    );
    Ok(Applied { object, managed })
}

fn conflict_error(ty: &ResourceType, applied: &Value, conflicts: Vec<Cause>) -> ApiError {
    let n = conflicts.len();
    let listed: Vec<String> = conflicts
        .iter()
        .map(|c| format!("{}: {}", c.message, c.field))
        .collect();
    let message = if n == 1 {
        format!("Apply failed with 1 conflict: {}", listed.join(""))
    } else {
        format!("Apply failed with {n} conflicts: {}", listed.join("\n"))
    };
    let mut e = ApiError::new(409, "Conflict", message);
    e.details.name = Some(super::meta::name(applied).to_owned());
    if !ty.group.is_empty() {
        e.details.group = Some(ty.group.clone());
    }
    e.details.kind = Some(ty.kind.clone());
    e.details.causes = conflicts;
    e
}

/// Merges an applied value into a live one: maps field by field, associative lists item by
/// item (live order, new items appended), sets as unions, everything else replaced. A `null`
/// in the applied value removes the field.
fn merge(ctx: FieldCtx<'_>, live: &mut Value, applied: &Value, names: &mut Vec<String>) {
    match applied {
        Value::Object(am)
            if !atomic_map(ctx, &names.iter().map(String::as_str).collect::<Vec<_>>()) =>
        {
            if !live.is_object() {
                *live = Value::Object(Map::new());
            }
            let Some(lm) = live.as_object_mut() else {
                return;
            };
            for (k, av) in am {
                if av.is_null() {
                    lm.remove(k);
                    continue;
                }
                names.push(k.clone());
                let slot = lm.entry(k.clone()).or_insert(Value::Null);
                merge(ctx, slot, av, names);
                names.pop();
            }
        }
        Value::Array(items) => {
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            match list_kind(ctx, &refs) {
                ListKind::Atomic => *live = applied.clone(),
                ListKind::Set => {
                    let mut out = live.as_array().cloned().unwrap_or_default();
                    for i in items {
                        if !out.contains(i) {
                            out.push(i.clone());
                        }
                    }
                    *live = Value::Array(out);
                }
                ListKind::Map { keys, defaults, .. } => {
                    let mut out = live.as_array().cloned().unwrap_or_default();
                    for item in items {
                        let key = item_key(item, &keys, &defaults);
                        let pos = key.as_ref().and_then(|k| {
                            out.iter()
                                .position(|o| item_key(o, &keys, &defaults).as_ref() == Some(k))
                        });
                        match pos {
                            Some(p) => {
                                if let Some(slot) = out.get_mut(p) {
                                    merge(ctx, slot, item, names);
                                }
                            }
                            None => out.push(item.clone()),
                        }
                    }
                    *live = Value::Array(out);
                }
            }
        }
        other => *live = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::kinds::Registry;
    use serde_json::json;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}, "data": data})
    }

    fn run(
        ty: &ResourceType,
        live: Option<&Value>,
        applied: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, ApiError> {
        let req = ApplyRequest {
            ty,
            applied,
            manager,
            force,
            subresource: "",
        };
        apply(&req, live).map(|a| {
            let mut o = a.object;
            a.managed.write(&mut o);
            o
        })
    }

    #[test]
    fn a_second_manager_conflicts_then_forces() {
        let ty = Registry::default().resolve("ConfigMap").expect("built in");
        let live = run(&ty, None, &cm(json!({"k": "a"})), "one", false).expect("create");
        let err =
            run(&ty, Some(&live), &cm(json!({"k": "b"})), "two", false).expect_err("conflict");
        assert_eq!(err.code, 409);
        assert_eq!(err.details.causes[0].field, ".data.k");
        assert_eq!(err.details.causes[0].message, "conflict with \"one\"");
        let forced = run(&ty, Some(&live), &cm(json!({"k": "b"})), "two", true).expect("forced");
        assert_eq!(forced["data"]["k"], "b");
        let managers = Managed::read(&forced);
        assert!(managers.set_of("one", Operation::Apply, "").is_empty());
    }

    #[test]
    fn a_dropped_list_item_stays_while_another_manager_owns_fields_in_it() {
        let ty = Registry::default().resolve("Deployment").expect("built in");
        let dep = |containers: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
                "spec": {"template": {"spec": {"containers": containers}}}})
        };
        let two = dep(json!([{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]));
        let live = run(&ty, None, &two, "one", false).expect("create");
        let b_env = dep(json!([{"name": "b", "env": [{"name": "E", "value": "1"}]}]));
        let live =
            run(&ty, Some(&live), &b_env, "two", false).expect("second manager adds env to b");
        let only_a = run(
            &ty,
            Some(&live),
            &dep(json!([{"name": "a", "image": "x"}])),
            "one",
            false,
        )
        .expect("drop b");
        let names: Vec<&str> = only_a["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        let b = &only_a["spec"]["template"]["spec"]["containers"][1];
        assert!(
            b.get("image").is_none(),
            "the field only the first manager owned is gone: {b}"
        );
        assert_eq!(b["env"][0]["value"], "1");
    }

    #[test]
    fn equal_values_are_shared_and_dropped_fields_removed() {
        let ty = Registry::default().resolve("ConfigMap").expect("built in");
        let live = run(&ty, None, &cm(json!({"k": "a", "x": "1"})), "one", false).expect("create");
        let shared = run(&ty, Some(&live), &cm(json!({"k": "a"})), "two", false).expect("shared");
        let m = Managed::read(&shared);
        assert!(!m.set_of("one", Operation::Apply, "").is_empty());
        assert!(!m.set_of("two", Operation::Apply, "").is_empty());
        // "one" stops applying both keys: x goes away, k stays because "two" owns it.
        let after = run(&ty, Some(&shared), &cm(json!({})), "one", false).expect("re-apply");
        assert_eq!(after["data"], json!({"k": "a"}));
    }
}
