//! The prune stage: what left Git is read (to check its protections and owner) and deleted,
//! with at most [`PRUNE_CONCURRENCY`] requests in flight, so that a large prune is not one
//! round trip per object after another. The guards are those of [`crate::sync::prune`]:
//! protections are checked on every object before anything is deleted, the mass-deletion
//! guard before the first delete, and the fence right before each delete.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt as _;
use serde_json::Value;

use super::Run;
use crate::sync::apply::{self, Deleted};
use crate::sync::changeset::Action;
use crate::sync::client::ClientError;
use crate::sync::inventory::{self, Entry, Inventory};
use crate::sync::object::{ObjectRef, meta_str};
use crate::sync::plan::Desired;
use crate::sync::prune::{self, PruneError};

/// How many reads or deletes of a prune are in flight at once.
pub(super) const PRUNE_CONCURRENCY: usize = 16;

impl Run<'_> {
    /// Deletes what left Git, except protected objects and objects that are not this app's.
    /// Returns the inventory entries to keep (objects that could not be checked or deleted,
    /// or a blocked prune) and the prune failure, if any.
    pub(super) async fn prune(
        &mut self,
        objects: &[Desired],
        previous: &Inventory,
        last_applied: &HashMap<ObjectRef, Value>,
    ) -> (BTreeMap<ObjectRef, Entry>, Option<PruneError>) {
        let desired: BTreeSet<&ObjectRef> = objects.iter().map(|d| &d.reference).collect();
        let candidates: Vec<(&ObjectRef, &Entry)> = previous
            .entries
            .iter()
            .filter(|(r, _)| !desired.contains(r))
            .collect();
        let mut kept = BTreeMap::new();
        if candidates.is_empty() {
            return (kept, None);
        }
        tracing::debug!(candidates = candidates.len(), "pruning");
        if !self.app.prune {
            for (r, _) in candidates {
                self.changes.push(
                    r.clone(),
                    Action::Orphaned,
                    Some("prune is disabled for the app".into()),
                );
            }
            return (kept, None);
        }
        let deletes = self.prune_checks(candidates, last_applied, &mut kept).await;
        let max = self
            .app
            .max_prune_percent
            .unwrap_or(self.engine.inner.config.max_prune_percent);
        let guarded = if self.removing {
            Ok(())
        } else {
            prune::guard(&self.app.name, deletes.len(), previous.entries.len(), max)
        };
        if let Err(err) = guarded {
            for (reference, entry, _, _) in deletes {
                self.changes
                    .push(reference.clone(), Action::Skipped, Some(err.to_string()));
                kept.insert(reference.clone(), entry.clone());
            }
            return (kept, Some(err));
        }
        let error = self.prune_deletes(deletes, &mut kept).await;
        (kept, error)
    }

    /// Reads every candidate (concurrently) and keeps the protected ones and those that
    /// cannot be checked; returns what may be deleted, with the UID it was read with.
    async fn prune_checks<'r>(
        &mut self,
        candidates: Vec<(&'r ObjectRef, &'r Entry)>,
        last_applied: &HashMap<ObjectRef, Value>,
        kept: &mut BTreeMap<ObjectRef, Entry>,
    ) -> Vec<(
        &'r ObjectRef,
        &'r Entry,
        kube::Api<kube::api::DynamicObject>,
        String,
    )> {
        let inner = &self.engine.inner;
        let mut reads = Vec::new();
        for (reference, entry) in candidates {
            match inner.resolver.resolve(&reference.gvk()).await {
                Ok(resolved) => {
                    let api = apply::api_for(&inner.client, &resolved, &reference.namespace);
                    reads.push((reference, entry, api));
                }
                Err(ClientError::UnknownKind { .. }) => {}
                Err(err) => {
                    self.changes.push(
                        reference.clone(),
                        Action::Failed,
                        Some(format!("not checked: {err}")),
                    );
                    kept.insert(reference.clone(), entry.clone());
                }
            }
        }
        // Futures made in a loop, not by a closure over borrowed items: the closure form is
        // not `Send` for every lifetime, which a spawned sync needs.
        let mut calls = Vec::with_capacity(reads.len());
        for (reference, entry, api) in reads {
            calls.push(async move {
                let live = apply::get(&api, reference).await;
                (reference, entry, api, live)
            });
        }
        let read = futures::stream::iter(calls)
            .buffered(PRUNE_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut deletes = Vec::new();
        for (reference, entry, api, live) in read {
            let live = match live {
                Ok(Some(live)) => live,
                Ok(None) => continue,
                Err(err) => {
                    self.changes.push(
                        reference.clone(),
                        Action::Failed,
                        Some(format!("not checked: {err}")),
                    );
                    kept.insert(reference.clone(), entry.clone());
                    continue;
                }
            };
            if let Some(reason) = prune::keep_reason(
                &self.app.name,
                reference,
                &live,
                last_applied.get(reference),
            ) {
                if prune::is_owned_by(&self.app.name, &live) {
                    kept.insert(reference.clone(), inventory::Entry::orphaned());
                }
                self.changes
                    .push(reference.clone(), Action::Orphaned, Some(reason));
                continue;
            }
            let uid = meta_str(&live, "uid").unwrap_or("").to_owned();
            deletes.push((reference, entry, api, uid));
        }
        deletes
    }

    /// Deletes (concurrently, the fence checked right before each delete); the objects whose
    /// delete failed or was fenced stay in the inventory.
    async fn prune_deletes(
        &mut self,
        deletes: Vec<(
            &ObjectRef,
            &Entry,
            kube::Api<kube::api::DynamicObject>,
            String,
        )>,
        kept: &mut BTreeMap<ObjectRef, Entry>,
    ) -> Option<PruneError> {
        let fence = &self.engine.inner.fence;
        let app = &self.app.name;
        let mut calls = Vec::with_capacity(deletes.len());
        for (reference, entry, api, uid) in deletes {
            calls.push(async move {
                let result = match fence.check(app) {
                    Ok(()) => apply::delete(&api, reference, &uid)
                        .await
                        .map_err(|err| (Action::Failed, err.to_string())),
                    Err(err) => Err((Action::Skipped, err.to_string())),
                };
                (reference, entry, result)
            });
        }
        let done = futures::stream::iter(calls)
            .buffered(PRUNE_CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        let mut failed = Vec::new();
        for (reference, entry, result) in done {
            match result {
                Ok(Deleted::Deleted | Deleted::AlreadyGone) => {
                    self.changes.push(reference.clone(), Action::Pruned, None);
                }
                Ok(Deleted::Replaced) => self.changes.push(
                    reference.clone(),
                    Action::Orphaned,
                    Some("replaced by another object since it was read (uid changed)".into()),
                ),
                Err((action, message)) => {
                    self.changes
                        .push(reference.clone(), action, Some(message.clone()));
                    kept.insert(reference.clone(), entry.clone());
                    failed.push(message);
                }
            }
        }
        (!failed.is_empty()).then(|| PruneError::DeleteFailed {
            app: self.app.name.clone(),
            failed: failed.len(),
            first: failed.swap_remove(0),
        })
    }
}
