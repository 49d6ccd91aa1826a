//! Sharding in a round: which apps this replica syncs. With apps sharded across replicas,
//! each app is synced only by the replica it hashes to, and only while that replica may
//! write it ([`crate::daemon::shard::Member::check`]); the engine asks again before every
//! write. Without sharding every app is this replica's.

use super::Ctx;
use crate::daemon::pipeline::AppDef as App;

/// Reads the membership again before a round decides (a no-op without sharding).
pub(super) async fn refresh(ctx: &Ctx) {
    if let Some(member) = &ctx.shard {
        member.refresh().await;
    }
}

/// The apps of `apps` that this replica syncs now. Every app's status names its owner; an
/// app of another replica counts as done for this replica's readiness.
pub(super) fn owned(ctx: &Ctx, apps: Vec<App>) -> Vec<App> {
    let Some(member) = &ctx.shard else {
        return apps;
    };
    apps.into_iter()
        .filter(|app| {
            let name = &app.spec.name;
            let owner = member.owner(name);
            let mine = member.check(name);
            ctx.state.update_app(name, |s| {
                s.owner.clone_from(&owner);
                if mine.is_err() {
                    s.first_sync_done = true;
                }
            });
            if let Err(why) = &mine {
                tracing::debug!(app = %name, owner = %owner, reason = %why, "synced by another replica");
                ctx.notifier.release(name);
            }
            mine.is_ok()
        })
        .collect()
}

/// Whether this replica may write `app` now (always, without sharding).
pub(super) fn may_write(ctx: &Ctx, app: &str) -> bool {
    ctx.shard.as_ref().is_none_or(|m| m.check(app).is_ok())
}
