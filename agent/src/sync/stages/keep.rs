//! What a sync keeps after its apply: the inventory written to the cluster and the app's state
//! in memory, for a sync that stopped at a failed apply and for one that went through.

use serde_json::Value;

use super::super::engine::{AppState, Managed, SyncError};
use super::super::inventory::{Entry, Inventory};
use super::super::plan::Desired;
use super::{Applied, Run};

impl Run<'_> {
    /// After a failed apply: what was applied, and what may have been, stays in the
    /// inventory, so it can be pruned later. An attempted object gets `-` for its hashes,
    /// which match nothing, so the next sync applies it.
    pub(super) async fn keep_partial(
        &self,
        state: &mut Option<AppState>,
        previous: &Inventory,
        applied: Applied,
        unsaved: bool,
    ) {
        let mut partial = previous.clone();
        for r in &self.attempted {
            partial.entries.entry(r.clone()).or_insert_with(|| Entry {
                applied: "-".to_owned(),
                live: "-".to_owned(),
            });
        }
        for (r, (desired, live, _)) in &applied {
            partial.entries.insert(
                r.clone(),
                Entry {
                    applied: desired.applied.clone(),
                    live: live.clone(),
                },
            );
        }
        let stored = self.store(previous, &partial, unsaved).await;
        if let Err(err) = &stored {
            tracing::warn!(error = %err, "could not record the partially applied objects");
        }
        let mut objects = state.take().map(|s| s.objects).unwrap_or_default();
        for (r, (desired, live, object)) in applied {
            objects.insert(
                r,
                Managed::keep(desired, live, &object, &self.engine.inner.kinds),
            );
        }
        *state = Some(AppState {
            spec: self.app.clone(),
            inventory: partial,
            unsaved: stored.is_err(),
            objects,
            failed_hooks: None,
        });
    }

    /// After the apply and prune: the next inventory (the objects kept by the prune plus
    /// those applied) written and the state replaced. The state is kept even when the
    /// inventory cannot be written, so that the objects just applied are still known (and
    /// prunable) at the next sync, which writes it again. Returns the applied objects as the
    /// cluster returned them, for the health stage.
    pub(super) async fn keep_synced(
        &self,
        state: &mut Option<AppState>,
        previous: &Inventory,
        mut next: Inventory,
        applied: Applied,
        unsaved: bool,
    ) -> Result<Vec<(Desired, Value)>, SyncError> {
        for (r, (desired, live, _)) in &applied {
            next.entries.insert(
                r.clone(),
                Entry {
                    applied: desired.applied.clone(),
                    live: live.clone(),
                },
            );
        }
        let stored = self.store(previous, &next, unsaved).await;
        let live: Vec<(Desired, Value)> = applied
            .values()
            .map(|(d, _, l)| (d.clone(), l.clone()))
            .collect();
        *state = Some(AppState {
            spec: self.app.clone(),
            inventory: next,
            unsaved: stored.is_err(),
            objects: applied
                .into_iter()
                .map(|(r, (desired, live, object))| {
                    let kept = Managed::keep(desired, live, &object, &self.engine.inner.kinds);
                    (r, kept)
                })
                .collect(),
            failed_hooks: None,
        });
        stored.map(|()| live)
    }
}
