//! The controller's promotion round: each promotion's gate is checked on its interval; a gate
//! that opened runs the promotion, whose result goes to status, metrics and Events.

use super::{Controller, Memory};
use tokio::time::Instant;

impl Controller {
    /// Checks each promotion's gate; promotes what opened.
    pub(super) async fn promote(&self, memory: &mut Memory) {
        use crate::images::promote::auto;
        let promotions = &self.config.images.promotions;
        memory
            .promotions
            .retain(|k, _| promotions.iter().any(|p| p.name == *k));
        let Some(view) = &self.apps_view else {
            return;
        };
        let apps = view();
        for p in promotions {
            let gate = memory.promotions.entry(p.name.clone()).or_default();
            if gate.next().is_some_and(|n| n > Instant::now()) {
                continue;
            }
            let Some(revision) = gate.observe(p, &apps, Instant::now()) else {
                continue;
            };
            let result = match auto::write_target(&self.config, p) {
                Ok(target) => {
                    gate.status.push_branch.clone_from(&target.push_branch);
                    let (p, revision) = (p.clone(), revision.clone());
                    tokio::task::spawn_blocking(move || auto::run(&target, &p, &revision))
                        .await
                        .unwrap_or_else(|e| {
                            Err(crate::images::promote::PromoteError::Usage(format!(
                                "the promotion task failed: {e}"
                            )))
                        })
                }
                Err(e) => Err(e),
            };
            gate.record(&revision, &result);
            let subject_name = crate::sync::inventory::config_map_name(&gate.status.from_app);
            let subject = (self.config.namespace.as_str(), subject_name.as_str());
            match &result {
                Ok(Some(auto::Promoted { pushed, .. })) => {
                    tracing::info!(promotion = %p.name, revision = %revision, commit = %pushed.commit, "promotion pushed");
                    let note = crate::images::automation::pushed_note(
                        &pushed.commit,
                        &gate.status.push_branch,
                        &pushed.changes,
                    );
                    let note = format!("promoted {} at {revision} to {}: {note}", p.from, p.to);
                    self.observers
                        .promoted(&p.name, subject, Ok(Some(&note)))
                        .await;
                    if p.direct {
                        (self.on_push)(&p.source);
                    }
                }
                Ok(None) => self.observers.promoted(&p.name, subject, Ok(None)).await,
                Err(err) => {
                    tracing::warn!(promotion = %p.name, revision = %revision, error = %err, "promotion failed");
                    let message = err.to_string();
                    self.observers
                        .promoted(&p.name, subject, Err(&message))
                        .await;
                }
            }
        }
    }
}
