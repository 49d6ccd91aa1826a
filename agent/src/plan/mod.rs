//! `tether-agent plan`: what the next sync would do, per app, without changing anything.
//!
//! The plan runs the stages before apply exactly as the daemon does ([`crate::daemon::pipeline`]):
//! discover, render, decrypt and resolve secrets, evaluate policies. Then:
//!
//! - with a cluster, each object is read live and compared on the fields Tether applies:
//!   `create`, `update` (with a field diff), `unchanged`; objects of the app's inventory that
//!   left Git are `prune`, or `orphan` when protected;
//! - with `--offline`, no cluster and no secret store is contacted: every object is a
//!   `create` shown in full, ExternalSecrets are listed as unresolved with a note, and the
//!   repository is read from the working directory (`--repo`, by default the config file's
//!   directory).
//!
//! Secret values never appear: they are shown as `<redacted hmac:xxxxxxxx>`.

mod online;
mod output;

use crate::config::{Config, ConfigError};
use crate::daemon::pipeline::{self, AppDef, PipelineError, Prepared};
use crate::policy::{PolicyError, PolicySet};
use crate::secrets::{KeyRing, SecretsContext, StaticCredentials, Stores};
use crate::tree::{FsTree, Tree};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use output::{AppPlan, ObjectPlan, PlanAction};

/// Errors that stop a plan (exit code 2). Problems of one app are part of the plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The repository directory could not be opened.
    #[error("repository {path}: {message}")]
    RepositoryFailed {
        /// The directory.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A key file could not be read.
    #[error("keys.files: {0}")]
    KeysFailed(#[from] crate::secrets::KeyError),
    /// A configured secret store is invalid.
    #[error("secretStores: {0}")]
    StoresFailed(#[source] Box<crate::secrets::SecretsError>),
    /// The policies do not load.
    #[error(transparent)]
    PolicyFailed(#[from] PolicyError),
    /// Discovering apps failed.
    #[error(transparent)]
    DiscoveryFailed(#[from] PipelineError),
    /// A source could not be fetched.
    #[error("source {source_name}: {message}")]
    FetchFailed {
        /// The source.
        source_name: String,
        /// What failed (redacted).
        message: String,
    },
    /// The cluster could not be reached.
    #[error("cluster: {0}")]
    ClusterFailed(#[from] crate::sync::client::ClientError),
    /// Writing the plan failed.
    #[error("write: {0}")]
    WriteFailed(#[from] std::io::Error),
    /// The schemas to validate against cannot be set up.
    #[error("schemas: {0}")]
    SchemasFailed(#[from] crate::schema::SchemaError),
}

/// The arguments of `tether-agent plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The agent's configuration file.
    #[arg(long)]
    pub config: PathBuf,
    /// Contact no cluster and no secret store: show render, decryption (redacted) and policy
    /// results, every object as a create.
    #[arg(long)]
    pub offline: bool,
    /// Plan from this working directory instead of fetching the sources (default with
    /// `--offline`: the config file's directory).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// A kubeconfig (default: `$KUBECONFIG`, else in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Only this app.
    #[arg(long)]
    pub app: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command; returns the exit code: 0 when every app plans cleanly, 1 when an app
/// fails or is denied by policy, 2 when the plan cannot be made at all.
pub async fn command(args: &PlanArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match plan(args).await {
        Ok(plans) => {
            let failed = plans.iter().any(AppPlan::failed);
            let written = if args.json {
                serde_json::to_string_pretty(&plans)
                    .map_err(std::io::Error::other)
                    .and_then(|text| writeln!(out, "{text}"))
            } else {
                plans.iter().try_for_each(|p| output::write_text(p, out))
            };
            if let Err(e) = written {
                if crate::output::closed_pipe(&e) {
                    return crate::output::EXIT_CLOSED_PIPE;
                }
                let _ = writeln!(err, "tether-agent: plan: {e}");
                return 2;
            }
            u8::from(failed)
        }
        Err(e) => {
            let _ = writeln!(err, "tether-agent: plan: {e}");
            2
        }
    }
}

/// Builds the plan of every app.
pub async fn plan(args: &PlanArgs) -> Result<Vec<AppPlan>, PlanError> {
    let config = Config::load(&args.config)?;
    let client = connect(args, &config).await?;
    let ctx = secrets_context(&config, client.as_ref())?;
    let trees = trees(args, &config).await?;
    let schemas = crate::schema::SchemaCatalog::new(&crate::schema::SchemaOptions::default())?;
    let mut plans = Vec::new();
    for (source, tree, revision) in &trees {
        // Apps imported from the Argo CD and Flux objects of the tree, as the daemon reads them.
        let (imported, import_errors) =
            crate::migrate::live::effective_with_errors(&config, source, tree);
        let config = imported.as_ref().unwrap_or(&config);
        let mut apps = pipeline::discover_apps(config, source, tree)?;
        if let Some(only) = &args.app {
            apps.retain(|a| &a.spec.name == only);
        }
        for (app, message) in import_errors {
            let wanted = args.app.as_ref().is_none_or(|only| *only == app);
            if wanted && !apps.iter().any(|a| a.spec.name == app) {
                let mut plan = AppPlan::import_failed(&app, &message);
                plan.revision.clone_from(revision);
                plans.push(plan);
            }
        }
        let policies = PolicySet::load(&pipeline::policy_config(config, &apps), Some(tree))?;
        for app in &apps {
            let prepared = pipeline::prepare(
                tree,
                config,
                app,
                revision,
                &ctx,
                &policies,
                &schemas,
                args.offline,
            )
            .await;
            let mut plan = match (prepared, &client) {
                (Err(e), _) => AppPlan::failed_with(app, &e),
                (Ok(p), None) => offline_plan(app, &p),
                (Ok(p), Some(client)) => online::plan(client, config, app, &p).await,
            };
            plan.revision.clone_from(revision);
            plans.push(plan);
        }
    }
    plans.sort_by(|a, b| a.app.cmp(&b.app));
    Ok(plans)
}

/// The cluster client, unless `--offline`; with it, the installation's redaction key, so
/// that marks compare with the agent's.
async fn connect(args: &PlanArgs, config: &Config) -> Result<Option<kube::Client>, PlanError> {
    if args.offline {
        return Ok(None);
    }
    let client = crate::sync::connect(&crate::sync::ClientOptions {
        kubeconfig: args.kubeconfig.clone(),
        ..Default::default()
    })
    .await?;
    // Read, never created.
    if let Err(err) =
        crate::secrets::redaction_key::load_or_create(&client, &config.namespace, false).await
    {
        tracing::warn!(error = %err, "the installation's redaction key could not be read; marks are this run's");
    }
    Ok(Some(client))
}

/// The keys and secret stores of the configuration. Offline, the stores are parsed (so a
/// bad one is reported) but never contacted: ExternalSecrets are set aside before the
/// secrets stage.
fn secrets_context(
    config: &Config,
    client: Option<&kube::Client>,
) -> Result<SecretsContext, PlanError> {
    let mut keys = KeyRing::new();
    for file in &config.keys.files {
        keys.add_file(file)?;
    }
    keys.set_remote(&config.keys)?;
    let mut stores = match client {
        Some(client) => Stores::new(Arc::new(crate::secrets::KubeCredentials::new(
            client.clone(),
        ))),
        None => Stores::new(Arc::new(StaticCredentials::new())),
    };
    for store in &config.secret_stores {
        stores
            .add_cluster_store(store, &config.namespace)
            .map_err(|e| PlanError::StoresFailed(Box::new(e)))?;
    }
    if client.is_some() {
        for store in &config.inline_stores {
            stores
                .set_inline_store(store, &config.namespace)
                .map_err(|e| PlanError::StoresFailed(Box::new(e)))?;
        }
    }
    Ok(SecretsContext {
        keys: Arc::new(keys),
        stores: Arc::new(stores),
    })
}

/// The trees to plan from, per source, with their revisions: the working directory
/// (`--offline`, or `--repo`), else a fresh fetch of each source into a temporary cache.
async fn trees(args: &PlanArgs, config: &Config) -> Result<Vec<(String, Tree, String)>, PlanError> {
    if args.offline || args.repo.is_some() {
        let repo = match &args.repo {
            Some(r) => r.clone(),
            None => args
                .config
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        };
        let root = repo
            .canonicalize()
            .map_err(|e| PlanError::RepositoryFailed {
                path: repo.display().to_string(),
                message: e.to_string(),
            })?;
        let tree = Tree::new(FsTree::new(root));
        return Ok(config
            .sources
            .iter()
            .map(|s| (s.name.clone(), tree.clone(), "working-tree".to_owned()))
            .collect());
    }
    let cache = tempfile::tempdir().map_err(PlanError::WriteFailed)?;
    let mut out = Vec::new();
    for spec in &config.sources {
        let mut source_config =
            crate::daemon::runner::source_config(config, spec).map_err(|e| {
                PlanError::FetchFailed {
                    source_name: spec.name.clone(),
                    message: e.to_string(),
                }
            })?;
        source_config.cache_dir = cache.path().join(&spec.name);
        let snapshot = crate::source::fetch_snapshot(Arc::new(source_config))
            .await
            .map_err(|e| PlanError::FetchFailed {
                source_name: spec.name.clone(),
                message: e.to_string(),
            })?;
        out.push((spec.name.clone(), snapshot.tree, snapshot.revision));
    }
    Ok(out)
}

fn offline_plan(app: &AppDef, prepared: &Prepared) -> AppPlan {
    let mut plan = AppPlan::from_prepared(app, prepared);
    for desired in &prepared.resolution.desired {
        plan.objects
            .push(ObjectPlan::create(desired.object_ref(), desired.redacted()));
    }
    plan
}
