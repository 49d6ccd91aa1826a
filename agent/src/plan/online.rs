//! The plan against a cluster: each desired object read live and compared on the fields
//! Tether applies; the inventory's leftovers as prune or orphan.

use super::output::{AppPlan, ObjectPlan, PlanAction};
use crate::config::Config;
use crate::daemon::pipeline::{AppDef, Prepared};
use crate::sync::client::Resolver;
use crate::sync::object::ObjectRef;
use crate::sync::{apply, changeset, compare, inventory, prune};
use std::collections::BTreeSet;

/// Plans one app against the cluster.
pub async fn plan(
    client: &kube::Client,
    config: &Config,
    app: &AppDef,
    prepared: &Prepared,
) -> AppPlan {
    let mut plan = AppPlan::from_prepared(app, prepared);
    let resolver = Resolver::new(client.clone());
    let mut desired_refs = BTreeSet::new();
    // Plaintext leaves the zeroizing types only for the comparison; every shown value is
    // sanitized by `changeset::diff`.
    let objects = prepared.apply_objects();
    for (index, object) in objects.iter().enumerate() {
        let reference = match ObjectRef::from_object(index, object) {
            Ok(r) => r,
            Err(e) => {
                plan.error
                    .get_or_insert_with(|| format!("{}: {e}", e.reason()));
                continue;
            }
        };
        let resolved = match resolver.resolve(&reference.gvk()).await {
            Ok(r) => r,
            Err(_) => {
                // A kind the cluster does not know yet (its CRD is in the same sync).
                plan.objects.push(ObjectPlan::create(
                    reference.to_string(),
                    changeset::sanitize(&reference, object),
                ));
                continue;
            }
        };
        let reference = if resolved.scope.namespaced && reference.namespace.is_empty() {
            let ns = if app.spec.target_namespace.is_empty() {
                "default"
            } else {
                &app.spec.target_namespace
            };
            reference.with_namespace(ns)
        } else {
            reference
        };
        desired_refs.insert(reference.clone());
        let api = apply::api_for(client, &resolved, &reference.namespace);
        match apply::get(&api, &reference).await {
            Ok(None) => plan.objects.push(ObjectPlan::create(
                reference.to_string(),
                changeset::sanitize(&reference, object),
            )),
            Ok(Some(live)) => {
                let shape = compare::shape(&reference, object, &app.spec.ignore);
                let managers = compare::yielding_managers(&reference, &app.spec.ignore);
                let projected = compare::project_yielding(&live, &shape, &managers);
                let diff = changeset::diff(&reference, &projected, &shape);
                let action = if diff.is_empty() {
                    PlanAction::Unchanged
                } else {
                    PlanAction::Update
                };
                plan.objects.push(ObjectPlan {
                    object: reference.to_string(),
                    action,
                    reason: None,
                    diff: diff
                        .iter()
                        .map(|c| {
                            format!(
                                "{}: {} -> {}",
                                c.path,
                                c.before.as_deref().unwrap_or("<none>"),
                                c.after.as_deref().unwrap_or("<none>")
                            )
                        })
                        .collect(),
                    manifest: None,
                });
            }
            Err(e) => {
                plan.error
                    .get_or_insert_with(|| format!("{}: {e}", e.reason()));
            }
        }
    }
    drop(objects);
    match inventory::load(client, &config.namespace, &app.spec.name).await {
        Ok(Some(inv)) => {
            for reference in inv.entries.keys().filter(|r| !desired_refs.contains(*r)) {
                let live = match resolver.resolve(&reference.gvk()).await {
                    Ok(resolved) => {
                        let api = apply::api_for(client, &resolved, &reference.namespace);
                        apply::get(&api, reference).await.ok().flatten()
                    }
                    Err(_) => None,
                };
                let Some(live) = live else { continue };
                let keep = if app.spec.prune {
                    prune::keep_reason(&app.spec.name, reference, &live, None)
                } else {
                    Some("prune is disabled for the app".into())
                };
                plan.objects.push(ObjectPlan {
                    object: reference.to_string(),
                    action: if keep.is_some() {
                        PlanAction::Orphan
                    } else {
                        PlanAction::Prune
                    },
                    reason: keep,
                    diff: Vec::new(),
                    manifest: None,
                });
            }
        }
        Ok(None) => {}
        Err(e) => {
            plan.error
                .get_or_insert_with(|| format!("{}: {e}", e.reason()));
        }
    }
    plan
}
