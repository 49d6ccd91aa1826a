//! The web UI's view of an app on demand ([`Inspect`]): the app rendered again through the
//! round's own stages (discover, render, decrypt, validate, policy) at the newest revision its
//! source fetched, compared with the live objects ([`crate::server::ui::desired`]). Store
//! values are not read for it (the stages run as the offline plan does for ExternalSecrets
//! and inline references). A refresh fetches the source first (under the source's lock, so
//! never beside a round's fetch) and applies nothing.
//!
//! Suspensions set from the web UI are read back from the apps' status when a generation
//! starts ([`restore_suspended`]).
//!
//! Kept in memory: the newest snapshot of each source (the handle the source keeps anyway)
//! and a resolver of kinds; nothing rendered.

use super::Ctx;
use crate::daemon::pipeline;
use crate::policy::PolicySet;
use crate::server::ui::desired::{self, CompareError, Comparison, Inspect};
use crate::source::Source;
use crate::source::snapshot::Snapshot;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

/// The inspector of one generation.
pub(crate) struct Inspector {
    ctx: Weak<Ctx>,
    latest: Mutex<BTreeMap<String, Snapshot>>,
    sources: Mutex<BTreeMap<String, Arc<tokio::sync::Mutex<Source>>>>,
    resolver: Mutex<Option<Arc<crate::sync::client::Resolver>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Inspector {
    /// An inspector over the generation `ctx` (weak: it never keeps a stopped one alive).
    pub(super) fn new(ctx: Weak<Ctx>) -> Self {
        Self {
            ctx,
            latest: Mutex::default(),
            sources: Mutex::default(),
            resolver: Mutex::default(),
        }
    }

    /// Registers a source's handle (refreshes fetch through it).
    pub(super) fn register(&self, source: &str, handle: Arc<tokio::sync::Mutex<Source>>) {
        lock(&self.sources).insert(source.to_owned(), handle);
    }

    /// Remembers the newest snapshot a round or a refresh fetched.
    pub(super) fn remember(&self, source: &str, snapshot: &Snapshot) {
        lock(&self.latest).insert(source.to_owned(), snapshot.clone());
    }

    fn ctx(&self) -> Result<Arc<Ctx>, CompareError> {
        self.ctx.upgrade().ok_or(CompareError::NotRunning)
    }

    fn source_of(ctx: &Ctx, app: &str) -> Result<String, CompareError> {
        ctx.state
            .app(app)
            .map(|s| s.source)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| CompareError::UnknownApp(app.to_owned()))
    }

    async fn compare_latest(&self, app: &str) -> Result<Comparison, CompareError> {
        let ctx = self.ctx()?;
        let source = Self::source_of(&ctx, app)?;
        let snapshot = lock(&self.latest)
            .get(&source)
            .cloned()
            .ok_or(CompareError::NotFetched(source))?;
        let comparison = self.compare_at(&ctx, app, &snapshot).await?;
        ctx.state.update_app(app, |s| {
            s.compared = Some(comparison.summary(s.last_sync.as_deref()));
        });
        Ok(comparison)
    }

    async fn compare_at(
        &self,
        ctx: &Ctx,
        name: &str,
        snapshot: &Snapshot,
    ) -> Result<Comparison, CompareError> {
        let failed = |reason: &'static str, message: String| CompareError::PrepareFailed {
            reason,
            message: crate::text::clip_message(&message).into_owned(),
        };
        let source = Self::source_of(ctx, name)?;
        // An app imported from Argo CD or Flux objects is found among the snapshot's.
        let config = crate::migrate::live::with_imported(&ctx.config, &source, &snapshot.tree);
        let app = pipeline::discover_apps(&config, &source, &snapshot.tree)
            .map_err(|e| failed(e.reason(), e.to_string()))?
            .into_iter()
            .find(|a| a.spec.name == name)
            .ok_or_else(|| CompareError::UnknownApp(name.to_owned()))?;
        let policies = PolicySet::load(
            &pipeline::policy_config(&config, std::slice::from_ref(&app)),
            Some(&snapshot.tree),
        )
        .map_err(|e| failed(e.reason(), e.to_string()))?;
        let schemas = super::schemas::catalog(&ctx.client)
            .await
            .map_err(|e| failed("Invalid", e.to_string()))?;
        let revision = snapshot.revision.as_str();
        let prepared = pipeline::prepare(
            &snapshot.tree,
            &config,
            &app,
            revision,
            &ctx.secrets,
            &policies,
            &schemas,
            true,
        )
        .await
        .map_err(|e| failed(e.reason(), e.to_string()))?;
        drop((policies, schemas));
        let resolver = Arc::clone(lock(&self.resolver).get_or_insert_with(|| {
            Arc::new(crate::sync::client::Resolver::new(ctx.client.clone()))
        }));
        let target = desired::Target {
            client: &ctx.client,
            resolver: &resolver,
            namespace: &app.spec.target_namespace,
            ignore: &app.spec.ignore,
        };
        // Plaintext of decrypted Secrets leaves its zeroizing type only inside this call.
        let mut comparison =
            desired::compare_objects(&target, revision, prepared.apply_objects()).await;
        comparison.unresolved = prepared
            .unresolved
            .iter()
            .map(|u| format!("{} ({})", u.object, u.store))
            .collect();
        Ok(comparison)
    }

    async fn refresh_app(&self, app: &str) -> Result<Comparison, CompareError> {
        let ctx = self.ctx()?;
        let source_name = Self::source_of(&ctx, app)?;
        let handle = lock(&self.sources)
            .get(&source_name)
            .cloned()
            .ok_or_else(|| CompareError::NotFetched(source_name.clone()))?;
        drop(ctx);
        let fetched = handle.lock().await.sync().await;
        let snapshot = fetched.map_err(|e| CompareError::FetchFailed {
            source_name: source_name.clone(),
            message: crate::text::clip_message(&e.to_string()).into_owned(),
        })?;
        tracing::info!(app, source = %source_name, revision = %snapshot.revision, "refreshed from Git");
        self.remember(&source_name, &snapshot);
        self.compare_latest(app).await
    }
}

impl Inspect for Inspector {
    fn compare<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Comparison, CompareError>> {
        Box::pin(self.compare_latest(app))
    }

    fn refresh<'a>(&'a self, app: &'a str) -> BoxFuture<'a, Result<Comparison, CompareError>> {
        Box::pin(self.refresh_app(app))
    }
}

/// Suspensions set from the web UI survive a restart: they are kept in the apps' status
/// ConfigMaps and read back when a generation starts.
pub(super) async fn restore_suspended(ctx: &Ctx) {
    match crate::daemon::status::read_suspended(&ctx.client, &ctx.config.namespace).await {
        Ok(apps) => {
            for app in apps {
                tracing::info!(app = %app, "suspended (kept in its status)");
                ctx.state.set_suspended(&app, true);
            }
        }
        Err(err) => tracing::warn!(error = %err, "reading suspended apps failed"),
    }
}
