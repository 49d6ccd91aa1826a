//! The stages of one app's sync, in the order [`Run::stages`] calls them.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::{Value, json};
use tracing::Instrument;

use super::apply;
use super::changeset::ChangeSet;
use super::engine::{AppSpec, AppState, Engine, SyncError};
use super::health::{self, Health};
use super::helm_hooks;
use super::hooks;
use super::inventory::{self, Inventory};
use super::object::{MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_ANNOTATION, ObjectRef};
use super::plan::{self, Desired};
use super::prune::PruneError;
use super::secret::Manifest;

mod apply_stage;
mod hook_scope;
mod keep;
mod post_sync;
mod prune_collection;
mod prune_stage;

/// One sync in progress.
pub(super) struct Run<'a> {
    engine: &'a Engine,
    app: &'a AppSpec,
    revision: &'a str,
    changes: ChangeSet,
    health: Health,
    /// The app left Git: everything in its inventory goes, so the share guard does not apply.
    removing: bool,
    /// Objects whose apply failed: the server may have applied them all the same (a timeout,
    /// a lost answer), so a failed sync records them too, for a later prune to consider.
    attempted: Vec<ObjectRef>,
}

/// What the apply stage leaves: each applied (or unchanged) object with its live hash and
/// live object.
type Applied = BTreeMap<ObjectRef, (Desired, String, Value)>;

fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

impl<'a> Run<'a> {
    pub(super) fn new(engine: &'a Engine, app: &'a AppSpec, revision: &'a str) -> Self {
        Self {
            engine,
            app,
            revision,
            changes: ChangeSet::default(),
            health: Health::Healthy,
            removing: false,
            attempted: Vec::new(),
        }
    }

    /// Whether this process may write the app now (shard fencing), asked right before
    /// each write.
    pub(super) fn fence(&self) -> Result<(), SyncError> {
        Ok(self.engine.inner.fence.check(&self.app.name)?)
    }

    pub(super) fn finish(self) -> (ChangeSet, Health) {
        (self.changes, self.health)
    }

    /// The stages, top to bottom.
    pub(super) async fn stages(
        &mut self,
        state: &mut Option<AppState>,
        desired: Vec<Manifest>,
    ) -> Result<(), SyncError> {
        self.validate()?;
        let (prepared, previous) = self.prepare(state.as_ref(), desired).await?;
        let changed = previous.digest != prepared.digest;
        let release_changed = |name: &str, namespace: &str| {
            hook_scope::release_changed(&prepared.objects, &previous, name, namespace)
        };
        let pre_hooks = helm_hooks::due(&prepared.hooks, release_changed);
        let post_hooks = helm_hooks::due(&prepared.post_hooks, release_changed);
        if !pre_hooks.is_empty() && changed {
            self.pre_hooks(state, &prepared, &previous, &pre_hooks)
                .await?;
        }
        let last_applied = last_applied(state);
        let (applied, failure) = self
            .apply(&prepared.objects, &previous)
            .instrument(tracing::info_span!(
                "apply",
                objects = prepared.objects.len()
            ))
            .await?;
        let unsaved = state.as_ref().is_some_and(|s| s.unsaved);
        if let Some(failure) = failure {
            self.keep_partial(state, &previous, applied, unsaved).await;
            return Err(failure);
        }
        let (kept, prune_error) = self
            .prune(&prepared.objects, &previous, &last_applied)
            .instrument(tracing::info_span!("prune"))
            .await;
        let next = Inventory {
            revision: self.revision.to_owned(),
            digest: prepared.digest.clone(),
            entries: kept,
        };
        let live = self
            .keep_synced(state, &previous, next, applied, unsaved)
            .await?;
        let health = self
            .health(live)
            .instrument(tracing::info_span!("health"))
            .await;
        match prune_error {
            Some(err) => Err(err.into()),
            None if changed && health.is_ok() && !matches!(self.health, Health::Degraded(_)) => {
                self.post_sync(&post_hooks).await
            }
            None => health,
        }
    }

    /// The desired objects prepared (the app's Namespace among them when it creates it) and
    /// the inventory of the last sync. An empty render never replaces a non-empty inventory.
    async fn prepare(
        &self,
        state: Option<&AppState>,
        desired: Vec<Manifest>,
    ) -> Result<(plan::Prepared, Inventory), SyncError> {
        let inner = &self.engine.inner;
        let app = self.app;
        let mut prepared = plan::prepare(
            &inner.resolver,
            &app.name,
            &app.target_namespace,
            &app.ignore,
            desired,
        )
        .await?;
        let previous = match state {
            Some(s) => s.inventory.clone(),
            None => inventory::load(&inner.client, &inner.config.namespace, &app.name)
                .await?
                .unwrap_or_default(),
        };
        if prepared.objects.is_empty() && !previous.entries.is_empty() {
            return Err(PruneError::EmptyDesiredSet {
                app: app.name.clone(),
                total: previous.entries.len(),
            }
            .into());
        }
        if app.create_namespace
            && let Some(namespace) = self.ensure_namespace().await?
        {
            // The Namespace the app created is one of its objects: in its inventory, watched
            // for drift, and protected (orphaned, never deleted) when the app leaves.
            let extra = plan::prepare(
                &inner.resolver,
                &app.name,
                &app.target_namespace,
                &app.ignore,
                vec![Manifest::Plain(namespace)],
            )
            .await?;
            for ns in extra.objects {
                if !prepared.objects.iter().any(|d| d.reference == ns.reference) {
                    prepared.objects.insert(0, ns);
                }
            }
        }
        Ok((prepared, previous))
    }

    /// Runs the pre-install/upgrade hooks of a changed release. A hook that failed for these
    /// same inputs fails the sync again without running; a new failure is remembered.
    async fn pre_hooks(
        &self,
        state: &mut Option<AppState>,
        prepared: &plan::Prepared,
        previous: &Inventory,
        hooks_due: &[(ObjectRef, Value)],
    ) -> Result<(), SyncError> {
        if let Some((_, message)) = state
            .as_ref()
            .and_then(|s| s.failed_hooks.as_ref())
            .filter(|(digest, _)| *digest == prepared.digest)
        {
            return Err(SyncError::HookFailedBefore {
                message: message.clone(),
            });
        }
        self.fence()?;
        let inner = &self.engine.inner;
        let ran = hooks::run(
            &inner.client,
            &inner.resolver,
            hooks_due,
            &inner.config.hooks,
            &inner.config.field_manager,
        )
        .instrument(tracing::info_span!("hooks", count = hooks_due.len()))
        .await;
        let Err(err) = ran else {
            return Ok(());
        };
        let failed = Some((prepared.digest.clone(), err.to_string()));
        match state.as_mut() {
            Some(s) => s.failed_hooks = failed,
            None => {
                *state = Some(AppState {
                    spec: self.app.clone(),
                    inventory: previous.clone(),
                    unsaved: false,
                    objects: BTreeMap::new(),
                    failed_hooks: failed,
                });
            }
        }
        Err(err.into())
    }

    /// Removes an app that left Git: prunes every object of its inventory under the same
    /// protections as any prune (protected and foreign objects are orphaned, not deleted),
    /// then deletes the inventory. Objects whose delete failed stay in the inventory, which is
    /// kept, so the next attempt finds them.
    pub(super) async fn remove(&mut self, state: &mut Option<AppState>) -> Result<(), SyncError> {
        self.validate()?;
        self.removing = true;
        let inner = &self.engine.inner;
        let previous = match state.as_ref() {
            Some(s) => s.inventory.clone(),
            None => inventory::load(&inner.client, &inner.config.namespace, &self.app.name)
                .await?
                .unwrap_or_default(),
        };
        let last_applied = last_applied(state);
        let (kept, prune_error) = self
            .prune(&[], &previous, &last_applied)
            .instrument(tracing::info_span!("prune", removing = true))
            .await;
        if let Some(err) = prune_error {
            let next = Inventory {
                revision: self.revision.to_owned(),
                digest: previous.digest.clone(),
                entries: kept,
            };
            let stored = self.store(&previous, &next, false).await;
            *state = Some(AppState {
                spec: self.app.clone(),
                inventory: next,
                unsaved: stored.is_err(),
                objects: BTreeMap::new(),
                failed_hooks: None,
            });
            stored?;
            return Err(err.into());
        }
        self.fence()?;
        inventory::delete(&inner.client, &inner.config.namespace, &self.app.name).await?;
        *state = None;
        Ok(())
    }

    fn validate(&self) -> Result<(), SyncError> {
        if !valid_app_name(&self.app.name) {
            return Err(SyncError::InvalidApp {
                app: self.app.name.clone(),
                field: "name",
                problem: "must be a DNS label (lowercase letters, digits and '-')".into(),
            });
        }
        if self.app.max_prune_percent.is_some_and(|p| p > 100) {
            return Err(SyncError::InvalidApp {
                app: self.app.name.clone(),
                field: "maxPrunePercent",
                problem: "must be between 0 and 100".into(),
            });
        }
        Ok(())
    }

    /// Creates the target namespace when it is missing (a read, and a write only then).
    /// Returns it when it is the app's (created now, or before, with its owner annotation),
    /// so that it joins the app's objects; a Namespace made by someone else is left alone.
    async fn ensure_namespace(&self) -> Result<Option<Value>, SyncError> {
        let name = &self.app.target_namespace;
        let inner = &self.engine.inner;
        let fail = |source| SyncError::NamespaceFailed {
            namespace: name.clone(),
            source,
        };
        let api = Api::<Namespace>::all(inner.client.clone());
        let reference = ObjectRef {
            group: String::new(),
            version: "v1".into(),
            kind: "Namespace".into(),
            namespace: String::new(),
            name: name.clone(),
        };
        let call_error = |err: kube::Error| apply::ApplyError::Unreachable {
            verb: "apply",
            object: reference.to_string(),
            message: err.to_string(),
        };
        let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY_VALUE}, "annotations": {OWNER_ANNOTATION: self.app.name}}});
        let owned = |ns: &Namespace| {
            let owner = ns
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(OWNER_ANNOTATION));
            owner == Some(&self.app.name)
        };
        if let Some(found) = api.get_opt(name).await.map_err(|e| fail(call_error(e)))? {
            return Ok(owned(&found).then_some(body));
        }
        // Created, not applied: when apps sharing a namespace sync at once, the first to
        // create it owns it and the others find it theirs to use, not to own.
        let namespace: Namespace = serde_json::from_value(body.clone()).map_err(|e| {
            fail(apply::ApplyError::Unreachable {
                verb: "create",
                object: reference.to_string(),
                message: e.to_string(),
            })
        })?;
        let params = kube::api::PostParams {
            field_manager: Some(inner.config.field_manager.clone()),
            ..Default::default()
        };
        self.fence()?;
        match api.create(&params, &namespace).await {
            Ok(created) => Ok(owned(&created).then_some(body)),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let found = api.get_opt(name).await.map_err(|e| fail(call_error(e)))?;
                Ok(found.filter(|ns| owned(ns)).map(|_| body))
            }
            Err(e) => Err(fail(call_error(e))),
        }
    }

    /// Writes the inventory when it changed, or when the last write failed (`unsaved`).
    async fn store(
        &self,
        previous: &Inventory,
        next: &Inventory,
        unsaved: bool,
    ) -> Result<(), SyncError> {
        if previous == next && !unsaved {
            return Ok(());
        }
        let inner = &self.engine.inner;
        self.fence()?;
        let writer = inventory::parts::Writer {
            client: &inner.client,
            namespace: &inner.config.namespace,
            app: &self.app.name,
            field_manager: &inner.config.field_manager,
            fence: &inner.fence,
        };
        inventory::parts::store(&writer, next, Some(previous)).await?;
        Ok(())
    }

    /// Assesses the health of the applied objects, waiting up to the health timeout.
    async fn health(&mut self, objects: Vec<(Desired, Value)>) -> Result<(), SyncError> {
        let inner = &self.engine.inner;
        let gate = self.app.health.clone().unwrap_or_default();
        let timeout = gate.timeout.unwrap_or(inner.config.health_timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pending: Vec<(Desired, Health)> = Vec::new();
        let mut overall = Health::Healthy;
        for (desired, live) in objects {
            if !gate.assesses(&desired.reference) {
                continue;
            }
            match health::assess(&desired.reference, &live) {
                Health::Healthy => {}
                other => pending.push((desired, other)),
            }
        }
        loop {
            overall = pending.iter().fold(overall, |acc, (d, h)| {
                acc.worst(match h {
                    Health::Healthy => Health::Healthy,
                    Health::Progressing(r) => Health::Progressing(format!("{}: {r}", d.reference)),
                    Health::Degraded(r) => Health::Degraded(format!("{}: {r}", d.reference)),
                })
            });
            let degraded = matches!(overall, Health::Degraded(_));
            if pending.is_empty() || degraded || timeout.is_zero() {
                self.health = overall;
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                let (d, h) = &pending[0];
                self.health =
                    Health::Degraded(format!("HealthTimeout: {}: {}", d.reference, h.reason()));
                return Err(SyncError::HealthTimeout {
                    object: d.reference.to_string(),
                    reason: h.reason().to_owned(),
                    after: timeout,
                });
            }
            tokio::time::sleep(inner.config.health_poll).await;
            overall = Health::Healthy;
            let mut still = Vec::new();
            for (desired, _) in pending {
                let api = apply::api_for(
                    &inner.client,
                    &desired.resolved,
                    &desired.reference.namespace,
                );
                let health = match apply::get(&api, &desired.reference).await {
                    Ok(Some(live)) => health::assess(&desired.reference, &live),
                    Ok(None) => Health::Degraded("deleted".into()),
                    Err(err) => Health::Progressing(format!("not read: {err}")),
                };
                if health != Health::Healthy {
                    still.push((desired, health));
                }
            }
            pending = still;
        }
    }
}

/// What the last sync applied, by object (the stand-ins of Secrets): the prune stage reads
/// the protections of objects that left Git from it.
fn last_applied(state: &Option<AppState>) -> HashMap<ObjectRef, Value> {
    state
        .as_ref()
        .map(|s| {
            s.objects
                .iter()
                .map(|(r, m)| (r.clone(), m.object.value()))
                .collect()
        })
        .unwrap_or_default()
}
