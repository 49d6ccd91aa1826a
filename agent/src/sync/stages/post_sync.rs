//! The post-sync hooks stage: after everything was applied, pruned and found healthy, the
//! post-sync hooks (`tether.dev/hook: post-sync`, Argo CD's `PostSync`, Helm's
//! `post-install`/`post-upgrade`) run in order, when the content changed.

use serde_json::Value;
use tracing::Instrument;

use super::Run;
use crate::sync::engine::SyncError;
use crate::sync::hooks;
use crate::sync::object::ObjectRef;

impl Run<'_> {
    /// Runs the post-sync hooks; a failure fails the sync (what was applied stays).
    pub(super) async fn post_sync(&self, hooks: &[(ObjectRef, Value)]) -> Result<(), SyncError> {
        if hooks.is_empty() {
            return Ok(());
        }
        let inner = &self.engine.inner;
        self.fence()?;
        hooks::run(
            &inner.client,
            &inner.resolver,
            hooks,
            &inner.config.hooks,
            &inner.config.field_manager,
        )
        .instrument(tracing::info_span!("post_sync_hooks", count = hooks.len()))
        .await?;
        Ok(())
    }
}
