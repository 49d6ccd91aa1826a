//! The apply stage of a sync: objects stage by stage (CRDs first, then waves), each one
//! written only when its applied hash or live projection moved, Secrets from a body built
//! at request time.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use super::Run;
use crate::sync::adopt;
use crate::sync::apply;
use crate::sync::changeset::{self, Action};
use crate::sync::compare;
use crate::sync::engine::{SyncError, list_live};
use crate::sync::health::{self, Health};
use crate::sync::inventory::Inventory;
use crate::sync::object::meta_str;
use crate::sync::order::{self, StageKey};
use crate::sync::plan::Desired;
use crate::sync::prune;

use super::Applied;

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
                let api = apply::api_for(&inner.client, &desired.resolved, &reference.namespace);
                let mut current = if unknown.contains(reference) {
                    apply::get(&api, reference).await.ok().flatten()
                } else {
                    live.get(reference).cloned()
                };
                // A Secret missing from the list of Tether's objects may still exist, made by
                // someone else: read it before writing over it.
                if current.is_none()
                    && reference.is_secret()
                    && !unknown.contains(reference)
                    && !previous.entries.contains_key(reference)
                {
                    match apply::get(&api, reference).await {
                        Ok(found) => current = found,
                        Err(err) => {
                            failures.push(err.to_string());
                            self.changes.push(
                                reference.clone(),
                                Action::Failed,
                                Some(err.to_string()),
                            );
                            continue;
                        }
                    }
                }
                if let Some(reason) = current
                    .as_ref()
                    .filter(|c| !adopt::from_same_helm_release(&desired.object, c))
                    .and_then(|c| prune::takeover_refusal(&self.app.name, reference, c))
                {
                    failures.push(reason.clone());
                    self.changes
                        .push(reference.clone(), Action::Failed, Some(reason));
                    continue;
                }
                // Fields owned by the managers of `managedFieldsManagers` rules are neither
                // compared nor applied (crate::sync::owned).
                let managers = compare::yielding_managers(reference, &self.app.ignore);
                if let (Some(prev), Some(current)) =
                    (previous.entries.get(reference), current.as_ref())
                    && prev.applied == desired.applied
                    && compare::live_hash_yielding(current, &desired.shape, &managers) == prev.live
                {
                    self.changes
                        .push(reference.clone(), Action::Unchanged, None);
                    applied.insert(
                        reference.clone(),
                        (desired.clone(), prev.live.clone(), current.clone()),
                    );
                    continue;
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
                        let action = match &current {
                            None if only_manager(&new_live, &inner.config.field_manager) => {
                                Action::Created
                            }
                            None => Action::Configured,
                            Some(c)
                                if meta_str(c, "resourceVersion")
                                    == meta_str(&new_live, "resourceVersion") =>
                            {
                                Action::Unchanged
                            }
                            Some(_) => Action::Configured,
                        };
                        let diff = match (&current, action) {
                            (Some(c), Action::Configured) => changeset::diff(
                                reference,
                                &compare::project(c, &desired.shape),
                                &compare::project(&new_live, &desired.shape),
                            ),
                            _ => Vec::new(),
                        };
                        self.changes.push(reference.clone(), action, None);
                        if let Some(last) = self.changes.changes.last_mut() {
                            last.diff = diff;
                        }
                        let hash =
                            compare::live_hash_yielding(&new_live, &desired.shape, &managers);
                        applied.insert(reference.clone(), (desired.clone(), hash, new_live));
                    }
                    Err(err) => {
                        failures.push(err.to_string());
                        self.attempted.push(reference.clone());
                        self.changes
                            .push(reference.clone(), Action::Failed, Some(err.to_string()));
                    }
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
