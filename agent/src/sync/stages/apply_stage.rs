//! The apply stage of a sync: objects stage by stage (CRDs first, then waves), each one
//! written only when its applied hash or live projection moved, Secrets from a body built
//! at request time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use super::Run;
use crate::sync::adopt;
use crate::sync::apply;
use crate::sync::changeset::{self, Action};
use crate::sync::compare;
use crate::sync::engine::SyncError;
use crate::sync::health::{self, Health};
use crate::sync::inventory::Inventory;
use crate::sync::object::meta_str;
use crate::sync::order::{self, StageKey};
use crate::sync::plan::Desired;
use crate::sync::prune;

use super::Applied;
use crate::sync::object::ObjectRef;

/// What the apply stage knows of the live objects: those listed by label so far, those it
/// could not list (read one by one), and the inventory of the last sync.
struct Seen<'a> {
    live: &'a HashMap<ObjectRef, Value>,
    unknown: &'a HashSet<ObjectRef>,
    previous: &'a Inventory,
}

impl Run<'_> {
    /// Applies the objects stage by stage; an object whose applied hash and live projection
    /// match the inventory is not written. Returns the applied objects and, when a stage
    /// failed, the failure (later stages are skipped).
    pub(super) async fn apply(
        &mut self,
        objects: &[Desired],
        previous: &Inventory,
    ) -> Result<(Applied, Option<SyncError>), SyncError> {
        let inner = &self.engine.inner;
        let stages = order::stages(
            objects
                .iter()
                .map(|d| (d.reference.clone(), d.object.clone(), d))
                .collect(),
        )?;
        let mut applied = Applied::new();
        let mut listed = HashSet::new();
        let mut live = HashMap::new();
        let mut unknown = HashSet::new();
        let mut failure: Option<SyncError> = None;
        for (key, items) in stages {
            if failure.is_some() {
                for (r, _, _) in items {
                    self.changes
                        .push(r, Action::Skipped, Some("an earlier stage failed".into()));
                }
                continue;
            }
            tracing::debug!(stage = %key, objects = items.len(), "applying a stage");
            list_live(
                &inner.client,
                items.iter().map(|i| i.2),
                &mut listed,
                &mut live,
                &mut unknown,
            )
            .await;
            // The reasons of the objects of this stage that failed.
            let mut failures: Vec<String> = Vec::new();
            for (reference, _, desired) in items.iter().map(|(r, o, d)| (r, o, *d)) {
                let seen = Seen {
                    live: &live,
                    unknown: &unknown,
                    previous,
                };
                if let Some(reason) = self
                    .apply_one(reference, desired, &seen, &mut applied)
                    .await?
                {
                    failures.push(reason);
                }
            }
            if let Some(first) = failures.first() {
                failure = Some(SyncError::ApplyFailed {
                    stage: key.to_string(),
                    failed: failures.len(),
                    first: first.clone(),
                });
            } else if key == StageKey::Crds {
                self.wait_established(&items.iter().map(|i| i.2).collect::<Vec<_>>())
                    .await?;
            }
        }
        Ok((applied, failure))
    }

    /// Applies one object unless its applied hash and live projection match the inventory;
    /// the reason when it failed.
    async fn apply_one(
        &mut self,
        reference: &ObjectRef,
        desired: &Desired,
        seen: &Seen<'_>,
        applied: &mut Applied,
    ) -> Result<Option<String>, SyncError> {
        let inner = &self.engine.inner;
        let api = apply::api_for(&inner.client, &desired.resolved, &reference.namespace);
        let current = match read_current(&api, reference, seen).await {
            Ok(current) => current,
            Err(err) => {
                self.changes
                    .push(reference.clone(), Action::Failed, Some(err.clone()));
                return Ok(Some(err));
            }
        };
        if let Some(reason) = current
            .as_ref()
            .filter(|c| !adopt::from_same_helm_release(&desired.object, c))
            .and_then(|c| prune::takeover_refusal(&self.app.name, reference, c))
        {
            self.changes
                .push(reference.clone(), Action::Failed, Some(reason.clone()));
            return Ok(Some(reason));
        }
        // Fields owned by the managers of `managedFieldsManagers` rules are neither
        // compared nor applied (crate::sync::owned).
        let managers = compare::yielding_managers(reference, &self.app.ignore);
        if let (Some(prev), Some(current)) =
            (seen.previous.entries.get(reference), current.as_ref())
            && prev.applied == desired.applied
            && compare::live_hash_yielding(current, &desired.shape, &managers) == prev.live
        {
            self.changes
                .push(reference.clone(), Action::Unchanged, None);
            applied.insert(
                reference.clone(),
                (desired.clone(), prev.live.clone(), current.clone()),
            );
            return Ok(None);
        }
        self.fence()?;
        let result = match &desired.secret {
            Some(secret) => {
                apply::apply_secret(
                    &inner.client,
                    reference,
                    secret,
                    &desired.object,
                    &inner.config.field_manager,
                )
                .await
            }
            None => {
                let stripped = current
                    .as_ref()
                    .and_then(|c| compare::without_owned(&desired.object, c, &managers));
                apply::apply(
                    &api,
                    reference,
                    stripped.as_ref().unwrap_or(&desired.object),
                    &inner.config.field_manager,
                )
                .await
            }
        };
        match result {
            Ok(new_live) => {
                let action = action_of(current.as_ref(), &new_live, &inner.config.field_manager);
                self.record_write(reference, desired, current.as_ref(), action, &new_live);
                let hash = compare::live_hash_yielding(&new_live, &desired.shape, &managers);
                applied.insert(reference.clone(), (desired.clone(), hash, new_live));
                Ok(None)
            }
            Err(err) => {
                self.attempted.push(reference.clone());
                self.changes
                    .push(reference.clone(), Action::Failed, Some(err.to_string()));
                Ok(Some(err.to_string()))
            }
        }
    }

    /// Records a written object in the change set, with its field diff when it was
    /// configured.
    fn record_write(
        &mut self,
        reference: &ObjectRef,
        desired: &Desired,
        current: Option<&Value>,
        action: Action,
        new_live: &Value,
    ) {
        let diff = match (current, action) {
            (Some(c), Action::Configured) => changeset::diff(
                reference,
                &compare::project(c, &desired.shape),
                &compare::project(new_live, &desired.shape),
            ),
            _ => Vec::new(),
        };
        self.changes.push(reference.clone(), action, None);
        if let Some(last) = self.changes.changes.last_mut() {
            last.diff = diff;
        }
    }

    /// Waits until every applied CRD is Established, then forgets the groups they define so
    /// that discovery sees their kinds.
    pub(super) async fn wait_established(&self, crds: &[&Desired]) -> Result<(), SyncError> {
        let inner = &self.engine.inner;
        let deadline = tokio::time::Instant::now() + inner.config.crd_timeout;
        for crd in crds {
            let api = apply::api_for(&inner.client, &crd.resolved, "");
            loop {
                let live = apply::get(&api, &crd.reference).await.ok().flatten();
                if live
                    .as_ref()
                    .is_some_and(|l| health::assess(&crd.reference, l) == Health::Healthy)
                {
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(SyncError::CrdNotEstablished {
                        object: crd.reference.to_string(),
                        after: inner.config.crd_timeout,
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if let Some(group) = crd.object.pointer("/spec/group").and_then(Value::as_str) {
                inner.resolver.forget_group(group);
            }
        }
        Ok(())
    }
}

/// Whether every managedFields entry of `object` is `manager`'s (the object is new).
fn only_manager(object: &Value, manager: &str) -> bool {
    object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .is_none_or(|entries| {
            entries
                .iter()
                .all(|e| e.get("manager").and_then(Value::as_str) == Some(manager))
        })
}

/// What a write did: created (this manager alone owns the new object), configured, or
/// nothing (the resourceVersion did not move).
fn action_of(current: Option<&Value>, new_live: &Value, field_manager: &str) -> Action {
    match current {
        None if only_manager(new_live, field_manager) => Action::Created,
        None => Action::Configured,
        Some(c) if meta_str(c, "resourceVersion") == meta_str(new_live, "resourceVersion") => {
            Action::Unchanged
        }
        Some(_) => Action::Configured,
    }
}

/// The live object before a write: from the list, or read alone when its kind could not be
/// listed. A Secret missing from the list of Tether's objects may still exist, made by
/// someone else: it is read before being written over.
async fn read_current(
    api: &kube::Api<kube::core::DynamicObject>,
    reference: &ObjectRef,
    seen: &Seen<'_>,
) -> Result<Option<Value>, String> {
    if seen.unknown.contains(reference) {
        return Ok(apply::get(api, reference).await.ok().flatten());
    }
    let current = seen.live.get(reference).cloned();
    if current.is_none() && reference.is_secret() && !seen.previous.entries.contains_key(reference)
    {
        return apply::get(api, reference)
            .await
            .map_err(|err| err.to_string());
    }
    Ok(current)
}

/// Lists the live objects a stage needs, by resource and namespace, with Tether's label;
/// returns the objects by identity, and the identities whose listing failed.
async fn list_live<'a>(
    client: &kube::Client,
    items: impl Iterator<Item = &'a Desired>,
    listed: &mut std::collections::HashSet<(String, String)>,
    live: &mut HashMap<crate::sync::object::ObjectRef, Value>,
    unknown: &mut std::collections::HashSet<crate::sync::object::ObjectRef>,
) {
    let selector = format!(
        "{}={}",
        crate::sync::object::MANAGED_BY_LABEL,
        crate::sync::object::MANAGED_BY_VALUE
    );
    let mut wanted: BTreeMap<(String, String), (&Desired, Vec<&Desired>)> = BTreeMap::new();
    for d in items {
        let key = (
            format!(
                "{}/{}",
                d.resolved.resource.api_version, d.resolved.resource.plural
            ),
            d.reference.namespace.clone(),
        );
        if listed.contains(&key) {
            continue;
        }
        wanted
            .entry(key)
            .or_insert_with(|| (d, Vec::new()))
            .1
            .push(d);
    }
    let selector = &selector;
    let calls = wanted
        .into_iter()
        .map(|(key, (first, members))| async move {
            let api = apply::api_for(client, &first.resolved, &first.reference.namespace);
            let what = format!("{} in {:?}", key.0, key.1);
            let result = apply::list(&api, &what, selector).await;
            (key, members, result)
        });
    for (key, members, result) in futures::future::join_all(calls).await {
        match result {
            Ok(objects) => {
                listed.insert(key);
                let template = &members[0].reference;
                for object in objects {
                    let name = crate::sync::object::meta_str(&object, "name")
                        .unwrap_or("")
                        .to_owned();
                    let reference = crate::sync::object::ObjectRef {
                        name,
                        ..template.clone()
                    };
                    live.insert(reference, object);
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "listing live objects failed; reading them one by one");
                unknown.extend(members.into_iter().map(|d| d.reference.clone()));
            }
        }
    }
}
