//! The plan against a cluster: each desired object read live and compared on the fields
//! Tether applies; the inventory's leftovers as prune or orphan.

use super::output::{AppPlan, ObjectPlan, PlanAction};
use crate::config::Config;
use crate::daemon::pipeline::{AppDef, Prepared};
use crate::sync::client::Resolver;
use crate::sync::object::ObjectRef;
use crate::sync::{apply, changeset, compare, inventory, prune};
use serde_json::Value;
use std::collections::BTreeSet;

/// Plans one app against the cluster.
pub async fn plan(
    client: &kube::Client,
    config: &Config,
    app: &AppDef,
    prepared: &Prepared,
) -> AppPlan {
    let mut planner = Planner {
        client,
        app,
        resolver: Resolver::new(client.clone()),
        plan: AppPlan::from_prepared(app, prepared),
        desired_refs: BTreeSet::new(),
    };
    // Plaintext leaves the zeroizing types only for the comparison; every shown value is
    // sanitized by `changeset::diff`.
    let objects = prepared.apply_objects();
    for (index, object) in objects.iter().enumerate() {
        planner.object(index, object).await;
    }
    drop(objects);
    match inventory::load(client, &config.namespace, &app.spec.name).await {
        Ok(Some(inv)) => {
            let leftovers: Vec<ObjectRef> = (inv.entries.into_keys())
                .filter(|r| !planner.desired_refs.contains(r))
                .collect();
            for reference in &leftovers {
                planner.leftover(reference).await;
            }
        }
        Ok(None) => {}
        Err(e) => planner.error(format!("{}: {e}", e.reason())),
    }
    planner.plan
}

/// One app's plan being built.
struct Planner<'a> {
    client: &'a kube::Client,
    app: &'a AppDef,
    resolver: Resolver,
    plan: AppPlan,
    /// The desired objects seen so far (what is not among them is a leftover).
    desired_refs: BTreeSet<ObjectRef>,
}

impl Planner<'_> {
    /// Keeps the first error.
    fn error(&mut self, message: String) {
        self.plan.error.get_or_insert(message);
    }

    /// Plans one desired object: create, update (with its diff) or unchanged.
    async fn object(&mut self, index: usize, object: &Value) {
        let reference = match ObjectRef::from_object(index, object) {
            Ok(r) => r,
            Err(e) => return self.error(format!("{}: {e}", e.reason())),
        };
        let Ok(resolved) = self.resolver.resolve(&reference.gvk()).await else {
            // A kind the cluster does not know yet (its CRD is in the same sync).
            let manifest = changeset::sanitize(&reference, object);
            self.plan
                .objects
                .push(ObjectPlan::create(reference.to_string(), manifest));
            return;
        };
        let spec = &self.app.spec;
        let reference = if resolved.scope.namespaced && reference.namespace.is_empty() {
            let ns = if spec.target_namespace.is_empty() {
                "default"
            } else {
                &spec.target_namespace
            };
            reference.with_namespace(ns)
        } else {
            reference
        };
        self.desired_refs.insert(reference.clone());
        let api = apply::api_for(self.client, &resolved, &reference.namespace);
        let live = match apply::get(&api, &reference).await {
            Ok(live) => live,
            Err(e) => return self.error(format!("{}: {e}", e.reason())),
        };
        let Some(live) = live else {
            let manifest = changeset::sanitize(&reference, object);
            self.plan
                .objects
                .push(ObjectPlan::create(reference.to_string(), manifest));
            return;
        };
        let shape = compare::shape(&reference, object, &spec.ignore);
        let managers = compare::yielding_managers(&reference, &spec.ignore);
        let projected = compare::project_yielding(&live, &shape, &managers);
        let diff = changeset::diff(&reference, &projected, &shape);
        let action = if diff.is_empty() {
            PlanAction::Unchanged
        } else {
            PlanAction::Update
        };
        let diff = diff.iter().map(|c| {
            let before = c.before.as_deref().unwrap_or("<none>");
            let after = c.after.as_deref().unwrap_or("<none>");
            format!("{}: {before} -> {after}", c.path)
        });
        self.plan.objects.push(ObjectPlan {
            object: reference.to_string(),
            action,
            reason: None,
            diff: diff.collect(),
            manifest: None,
        });
    }

    /// Plans an object of the inventory that left Git: prune, or orphan with the reason
    /// it is kept. One that is gone from the cluster is left out.
    async fn leftover(&mut self, reference: &ObjectRef) {
        let live = match self.resolver.resolve(&reference.gvk()).await {
            Ok(resolved) => {
                let api = apply::api_for(self.client, &resolved, &reference.namespace);
                apply::get(&api, reference).await.ok().flatten()
            }
            Err(_) => None,
        };
        let Some(live) = live else { return };
        let spec = &self.app.spec;
        let keep = if spec.prune {
            prune::keep_reason(&spec.name, reference, &live, None)
        } else {
            Some("prune is disabled for the app".into())
        };
        self.plan.objects.push(ObjectPlan {
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
