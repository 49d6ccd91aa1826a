//! Rollbacks by hand ([`crate::rollout::request`]): the status ConfigMaps are watched for
//! pending requests; a request asks for a round of its app's source, and the round acts
//! on it (a rollback and a hold, or the end of the hold) and removes it.

use super::Ctx;
use super::rollout::{Round, apply_revision, status_of};
use crate::daemon::pipeline::AppDef;
use crate::daemon::status;
use crate::notify::Kind;
use crate::rollout::request::{self, REQUEST_KEY, Request};
use crate::rollout::{Hold, Phase};
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::watch;

/// Pending requests by app, with the ConfigMap version each was read at.
#[derive(Default)]
pub(super) struct Requests {
    pending: Mutex<BTreeMap<String, (Request, String)>>,
    /// The ConfigMap version of each app's last request taken (not taken twice).
    taken: Mutex<BTreeMap<String, String>>,
}

impl Requests {
    /// Takes the pending request of `app`.
    pub(super) fn take(&self, app: &str) -> Option<Request> {
        let (request, version) = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(app)?;
        self.taken
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(app.to_owned(), version);
        Some(request)
    }

    fn offer(&self, app: &str, request: Request, version: String) -> bool {
        let taken = self.taken.lock().unwrap_or_else(PoisonError::into_inner);
        if taken.get(app) == Some(&version) {
            return false;
        }
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(app.to_owned(), (request, version));
        true
    }
}

/// Watches the status ConfigMaps: a new request triggers its app's source, and the apps
/// they record are kept for the rounds ([`super::known`]).
pub(super) async fn watch(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.config.namespace);
    let config = watcher::Config::default().labels(status::STATUS_LABEL);
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            event = stream.next() => event,
        };
        let cm = match event {
            Some(Ok(watcher::Event::Apply(cm))) => {
                ctx.known.apply(&cm);
                cm
            }
            Some(Ok(watcher::Event::InitApply(cm))) => {
                ctx.known.init_apply(&cm);
                cm
            }
            Some(Ok(watcher::Event::Init)) => {
                ctx.known.init();
                continue;
            }
            Some(Ok(watcher::Event::InitDone)) => {
                ctx.known.init_done();
                continue;
            }
            Some(Ok(watcher::Event::Delete(cm))) => {
                ctx.known.delete(&cm);
                continue;
            }
            Some(Err(err)) => {
                tracing::debug!(error = %err, "watching rollback requests failed; retrying");
                continue;
            }
            None => return,
        };
        offer(&ctx, cm);
    }
}

/// Offers the request a status ConfigMap holds, if any, and asks for a round of its app.
fn offer(ctx: &Ctx, cm: ConfigMap) {
    let version = cm.metadata.resource_version.clone().unwrap_or_default();
    let data = cm.data.unwrap_or_default();
    let (Some(app), Some(text)) = (data.get("app"), data.get(REQUEST_KEY)) else {
        return;
    };
    let Ok(request) = serde_json::from_str::<Request>(text) else {
        tracing::warn!(app = %app, "an unreadable rollback request is ignored");
        return;
    };
    if !ctx.rollout_requests.offer(app, request, version) {
        return;
    }
    tracing::info!(app = %app, "a rollback request: asking for a round");
    let source = ctx.state.app(app).map(|s| s.source);
    if let Some(trigger) = source.as_ref().and_then(|s| ctx.triggers.get(s)) {
        trigger.trigger();
    }
}

/// Acts on `request` for `app`, whose source is at `revision`; returns true when the app is
/// done for this round (rolled back and held).
pub(super) async fn handle(
    ctx: &Ctx,
    app: &AppDef,
    revision: &str,
    request: Request,
    round: &Round<'_>,
    window: &crate::rollout::window::Verdict,
) -> bool {
    let name = &app.spec.name;
    if let Err(err) = request::remove(&ctx.client, &ctx.config.namespace, name).await {
        tracing::warn!(app = %name, error = %err, "removing the rollback request failed");
    }
    let rollout = status_of(ctx, name).await;
    match request {
        Request::Rollback { .. } if !window.manual => {
            let why = window.waiting.clone().unwrap_or_default();
            let note =
                format!("a rollback by hand is refused: {why}, and it does not allow manual syncs");
            ctx.events
                .publish(name, true, "RollbackRefused", note)
                .await;
            false
        }
        Request::Clear => {
            tracing::info!(app = %name, "the hold is cleared by hand");
            let mut rollout = rollout;
            rollout.clear_hold();
            ctx.state.update_app(name, |s| s.rollout = Some(rollout));
            let note = "the hold was cleared by hand".to_owned();
            ctx.events.publish(name, false, "HoldCleared", note).await;
            false
        }
        Request::Rollback { to } => by_hand(ctx, app, revision, to, rollout, round).await,
    }
}

/// A rollback by hand to `to`, else to the last revision that passed other than the one
/// running; the app is held there while Git stays at `revision`.
async fn by_hand(
    ctx: &Ctx,
    app: &AppDef,
    revision: &str,
    to: Option<String>,
    mut rollout: crate::rollout::RolloutStatus,
    round: &Round<'_>,
) -> bool {
    let name = &app.spec.name;
    let live = ctx.state.app(name).map(|s| s.revision).unwrap_or_default();
    let Some(target) = to.or_else(|| rollout.last_passed(&live).map(str::to_owned)) else {
        let note = "a rollback by hand: no revision passed its gates to go back to".to_owned();
        ctx.events.publish(name, true, "RollbackFailed", note).await;
        return false;
    };
    let outcome = apply_revision(ctx, app, &target, round).await;
    let mut hold = Hold {
        failed_revision: revision.to_owned(),
        restored_revision: None,
        reason: "rolled back by hand".into(),
        manual: true,
        unrestorable: Vec::new(),
    };
    let (phase, sync, reason, kind) = match outcome {
        Ok(not_applied) => {
            hold.restored_revision = Some(target.clone());
            hold.unrestorable = not_applied;
            (Phase::RolledBack, "RolledBack", "Manual", Kind::RolledBack)
        }
        Err(err) => {
            hold.reason = format!("rolled back by hand; {}: {err}", err.reason());
            (
                Phase::RollbackFailed,
                "Failed",
                "RollbackFailed",
                Kind::RollbackFailed,
            )
        }
    };
    let note = match &hold.restored_revision {
        Some(to) => format!("rolled back by hand to {to}, held until Git moves"),
        None => hold.reason.clone(),
    };
    rollout.phase = phase;
    rollout.hold = Some(hold);
    ctx.state.update_app(name, |s| {
        s.rollout = Some(rollout);
        s.sync = sync.into();
        s.reason = reason.into();
    });
    let warning = phase == Phase::RollbackFailed;
    let event = if warning {
        "RollbackFailed"
    } else {
        "RolledBack"
    };
    ctx.events.publish(name, warning, event, note.clone()).await;
    let observed = crate::notify::observe::rollout_event(kind, revision, event, &note);
    super::notify::notify(ctx, name, revision, None, observed).await;
    if let Some(s) = ctx.state.app(name) {
        super::record::write_status(ctx, &s).await;
    }
    true
}
