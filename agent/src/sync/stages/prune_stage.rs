//! The prune stage: what left Git is read (to check its protections and owner) and deleted,
//! with at most [`PRUNE_CONCURRENCY`] requests in flight, so that a large prune is not one
//! round trip per object after another. The guards are those of [`crate::sync::prune`]:
//! protections are checked on every object before anything is deleted, the mass-deletion
//! guard before the first delete, and the fence right before each delete.
//!
//! Many candidates of one resource in one namespace are read with one list of Tether's
//! objects there ([`super::prune_collection`]) instead of one read each; when every object
//! that list returned is to be deleted, they go with one `deletecollection` at the list's
//! resourceVersion, so that nothing listed later (another app's new object) can go with them.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt as _;
use serde_json::Value;

use super::Run;
use super::prune_collection::{self, CollectionDeleted, Listed};
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
        let (deletes, lists) = self
            .prune_checks(candidates, previous, last_applied, &mut kept)
            .await;
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
            for d in deletes {
                self.changes
                    .push(d.reference.clone(), Action::Skipped, Some(err.to_string()));
                kept.insert(d.reference.clone(), d.entry.clone());
            }
            return (kept, Some(err));
        }
        let error = self.prune_deletes(deletes, &lists, &mut kept).await;
        (kept, error)
    }

    /// Reads every candidate (by lists where they are many, concurrently one by one
    /// otherwise) and keeps the protected ones and those that cannot be checked; returns
    /// what may be deleted, with the UID it was read with, and the lists read.
    async fn prune_checks<'r>(
        &mut self,
        candidates: Vec<(&'r ObjectRef, &'r Entry)>,
        previous: &Inventory,
        last_applied: &HashMap<ObjectRef, Value>,
        kept: &mut BTreeMap<ObjectRef, Entry>,
    ) -> (Vec<Deletable<'r>>, Vec<Listed>) {
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
        let (index, mut lists) = prune_collection::list_groups(&reads, previous).await;
        let mut read = Vec::with_capacity(reads.len());
        // Futures made in a loop, not by a closure over borrowed items: the closure form is
        // not `Send` for every lifetime, which a spawned sync needs.
        let mut calls = Vec::new();
        for (reference, entry, api) in reads {
            let listed = index.get(api.resource_url()).copied();
            if let Some(live) =
                listed.and_then(|i| lists.get_mut(i)?.by_name.remove(&reference.name))
            {
                read.push((reference, entry, api, Ok(Some(live)), listed));
                continue;
            }
            calls.push(async move {
                let live = apply::get(&api, reference).await;
                (reference, entry, api, live, None)
            });
        }
        read.extend(
            futures::stream::iter(calls)
                .buffered(PRUNE_CONCURRENCY)
                .collect::<Vec<_>>()
                .await,
        );
        let mut deletes = Vec::new();
        for (reference, entry, api, live, listed) in read {
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
            deletes.push(Deletable {
                reference,
                entry,
                api,
                uid,
                listed,
            });
        }
        (deletes, lists)
    }

    /// Deletes the lists whose every object is to be deleted with one request each, then
    /// the rest one by one; the objects whose delete failed or was fenced stay in the
    /// inventory.
    async fn prune_deletes(
        &mut self,
        deletes: Vec<Deletable<'_>>,
        lists: &[Listed],
        kept: &mut BTreeMap<ObjectRef, Entry>,
    ) -> Option<PruneError> {
        let mut per_list: HashMap<usize, usize> = HashMap::new();
        for i in deletes.iter().filter_map(|d| d.listed) {
            *per_list.entry(i).or_default() += 1;
        }
        // A list whose every object is to be deleted.
        let whole = |i: &usize| {
            lists
                .get(*i)
                .is_some_and(|l| per_list.get(i) == Some(&l.total))
        };
        let (together, mut single): (Vec<_>, Vec<_>) = deletes
            .into_iter()
            .partition(|d| d.listed.as_ref().is_some_and(whole));
        let mut failed = Vec::new();
        let mut by_list: BTreeMap<usize, Vec<Deletable<'_>>> = BTreeMap::new();
        for d in together {
            if let Some(i) = d.listed {
                by_list.entry(i).or_default().push(d);
            }
        }
        for (i, members) in by_list {
            let Some(listed) = lists.get(i) else {
                single.extend(members);
                continue;
            };
            if let Err(err) = self.engine.inner.fence.check(&self.app.name) {
                for d in members {
                    self.changes
                        .push(d.reference.clone(), Action::Skipped, Some(err.to_string()));
                    kept.insert(d.reference.clone(), d.entry.clone());
                    failed.push(err.to_string());
                }
                continue;
            }
            let rest = match prune_collection::delete_listed(&self.engine.inner.client, listed)
                .await
            {
                CollectionDeleted::Deleted(names) => {
                    let names: Option<BTreeSet<String>> = names.map(|n| n.into_iter().collect());
                    let (gone, rest): (Vec<_>, Vec<_>) = members.into_iter().partition(|d| {
                        names.as_ref().is_none_or(|n| n.contains(&d.reference.name))
                    });
                    for d in gone {
                        self.changes.push(d.reference.clone(), Action::Pruned, None);
                    }
                    rest
                }
                CollectionDeleted::Failed(err) => {
                    tracing::debug!(error = %err, "a collection delete failed; deleting one by one");
                    members
                }
            };
            single.extend(rest);
        }
        failed.extend(self.delete_each(single, kept).await);
        (!failed.is_empty()).then(|| PruneError::DeleteFailed {
            app: self.app.name.clone(),
            failed: failed.len(),
            first: failed.swap_remove(0),
        })
    }

    /// Deletes one by one (concurrently, the fence checked right before each delete);
    /// returns the failures.
    async fn delete_each(
        &mut self,
        deletes: Vec<Deletable<'_>>,
        kept: &mut BTreeMap<ObjectRef, Entry>,
    ) -> Vec<String> {
        let fence = &self.engine.inner.fence;
        let app = &self.app.name;
        let mut calls = Vec::with_capacity(deletes.len());
        for d in deletes {
            calls.push(async move {
                let result = match fence.check(app) {
                    Ok(()) => apply::delete(&d.api, d.reference, &d.uid)
                        .await
                        .map_err(|err| (Action::Failed, err.to_string())),
                    Err(err) => Err((Action::Skipped, err.to_string())),
                };
                (d.reference, d.entry, result)
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
        failed
    }
}

/// An object that may be deleted: what it is, its inventory entry, the API of its resource
/// and namespace, the UID it was read with, and the list it was read from, if any.
struct Deletable<'r> {
    reference: &'r ObjectRef,
    entry: &'r Entry,
    api: kube::Api<kube::api::DynamicObject>,
    uid: String,
    listed: Option<usize>,
}
