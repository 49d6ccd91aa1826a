//! The daemon: `tether-agent run --config FILE`.
//!
//! [`run`] takes its listener, its shutdown signal and its reload signal, so tests drive it
//! in-process. It serves the HTTP endpoints ([`crate::server`]) at once, then waits for the
//! leader lease ([`leader`]); as leader it starts a generation of work (`runner`): one loop
//! per Git source (fetch on the interval or a verified webhook, then per app the
//! [`pipeline`] and the sync engine, bounded by `limits.concurrency`), the drift watcher,
//! status ([`status`]: a ConfigMap per app and Events) and metrics.
//!
//! - **Reload**: on SIGHUP, or when the config file's content changes (a mounted ConfigMap
//!   swaps a symlink; the file is read every 2 s), the new file is loaded; if it is valid
//!   the current generation finishes its round in flight and a new one starts. An invalid
//!   file is logged and the running configuration kept. The listen addresses are read once.
//! - **Leadership lost**: work stops at once (another replica may already sync) and the
//!   replica waits to lead again.
//! - **Sharded** (`replicas` above 1, [`shard`]): every replica runs a generation at once
//!   and syncs only the apps that hash to it, fenced before every write; a change of the
//!   membership starts a round of every source. Leading adds the leader's duties (image
//!   automation, key renewal): the generation restarts when leadership changes.
//! - **SIGTERM/SIGINT**: the round in flight finishes (within `limits.shutdownGrace`), the
//!   lease is released, the server stops, the process exits 0.
//! - **SIGUSR1**: toggles the log level between the configured one and `debug`.
//! - **Keys**: with `keys.secretName`, the key Secret is checked every 6 h; when a key is
//!   renewed the sync loops restart with the new key ring.

mod generations;
pub mod history;
pub mod leader;
pub mod pipeline;
pub(crate) mod rest;
pub(crate) mod runner;
pub use generations::run;
pub mod shard;
pub mod state;
pub mod status;
pub mod status_server;
pub mod time;

use crate::config::{Config, ConfigError};
use crate::secrets::{KeyManager, KeyRing, SecretsContext, Stores};
use crate::telemetry::{self, LogControl, TelemetryError};
use state::Shared;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Logging could not be set up.
    #[error(transparent)]
    Logs(#[from] TelemetryError),
    /// The cluster client could not be built.
    #[error("cluster: {0}")]
    ClientFailed(#[from] crate::sync::client::ClientError),
    /// The listen address could not be bound.
    #[error("listen {addr}: {source}")]
    BindFailed {
        /// The address.
        addr: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed.
    #[error("http server: {0}")]
    ServeFailed(#[source] std::io::Error),
    /// Leader election could not start.
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
    /// The agent's keys could not be loaded.
    #[error("keys: {0}")]
    KeysFailed(#[from] crate::secrets::KeyError),
    /// A configured secret store is invalid.
    #[error("secretStores: {0}")]
    StoresFailed(#[source] Box<crate::secrets::SecretsError>),
    /// A source's settings could not be loaded (credentials, signers, webhook secret).
    #[error("source {source_name}: {message}")]
    SourceInvalid {
        /// The source.
        source_name: String,
        /// What is wrong.
        message: String,
    },
}

/// The arguments of `tether-agent run`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long)]
    pub config: PathBuf,
    /// A kubeconfig (default: `$KUBECONFIG`, else in-cluster).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// This replica's identity in leader election (default: `$POD_NAME`, else the host name).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
}

/// What [`run`] needs besides its listener and signals.
pub struct Daemon {
    /// The config file (re-read on reload).
    pub config_path: PathBuf,
    /// The configuration loaded at start.
    pub config: Config,
    /// The cluster client.
    pub client: kube::Client,
    /// This replica's identity.
    pub identity: String,
}

/// `tether-agent run`: loads the config, sets up logs, runs until SIGTERM.
pub fn main(args: &RunArgs) -> ExitCode {
    let config = match Config::load(&args.config) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("tether-agent: run: {err}");
            return ExitCode::from(2);
        }
    };
    let log = match telemetry::init_logs(&config.log) {
        Ok(l) => l,
        Err(err) => {
            eprintln!("tether-agent: run: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("tether-agent: run: cannot start the runtime: {err}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(process(args, config, log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the agent stopped");
            eprintln!("tether-agent: run: {err}");
            ExitCode::from(1)
        }
    }
}

fn identity(args: &RunArgs) -> String {
    args.identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("tether-{}", std::process::id()))
}

async fn process(args: &RunArgs, config: Config, log: LogControl) -> Result<(), DaemonError> {
    let client = crate::sync::connect(&crate::sync::ClientOptions {
        kubeconfig: args.kubeconfig.clone(),
        ..Default::default()
    })
    .await?;
    let bind = |addr: std::net::SocketAddr| async move {
        tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DaemonError::BindFailed {
                addr: addr.to_string(),
                source,
            })
    };
    let listener = crate::server::Listeners {
        public: bind(config.listen).await?,
        admin: bind(config.admin_listen).await?,
    };
    tracing::info!(listen = %config.listen, admin_listen = %config.admin_listen, "listening");
    let reload = Arc::new(Notify::new());
    let shutdown = signals(log.clone(), Arc::clone(&reload));
    let state = Arc::new(Shared::new(log));
    let daemon = Daemon {
        config_path: args.config.clone(),
        config,
        client,
        identity: identity(args),
    };
    run(daemon, listener, state, shutdown, reload).await
}

/// Completes on SIGTERM or SIGINT; SIGHUP notifies `reload`, SIGUSR1 toggles debug logs.
fn signals(log: LogControl, reload: Arc<Notify>) -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut usr1)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
            signal(SignalKind::user_defined1()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
                _ = hup.recv() => { tracing::info!("SIGHUP: reloading the configuration"); reload.notify_one(); }
                _ = usr1.recv() => {
                    if let Err(err) = log.toggle_debug() {
                        tracing::warn!(error = %err, "SIGUSR1: log level unchanged");
                    }
                }
            }
        }
        let _ = tx.send(());
    });
    async move {
        let _ = rx.await;
    }
}

/// Notifies `reload` whenever the content of `path` changes (checked every 2 s; follows a
/// swapped symlink).
async fn watch_file(path: PathBuf, reload: Arc<Notify>) {
    let mut last = tokio::fs::read(&path).await.ok();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let Some(now) = tokio::fs::read(&path).await.ok() else {
            continue;
        };
        if last.as_ref() == Some(&now) {
            continue;
        }
        // Act only on content that stays the same a moment (not a write in progress); a file
        // still changing is looked at again on the next tick.
        tokio::time::sleep(Duration::from_millis(300)).await;
        if tokio::fs::read(&path).await.ok().as_ref() != Some(&now) {
            continue;
        }
        tracing::info!(path = %path.display(), "the configuration file changed");
        last = Some(now);
        reload.notify_one();
    }
}

/// Loads the agent's keys (files, and the managed key Secret when configured) and its
/// stores; publishes the newest recipient in `state`.
async fn secrets_context(
    config: &Config,
    client: &kube::Client,
    state: &Shared,
) -> Result<SecretsContext, DaemonError> {
    if let Err(err) =
        crate::secrets::redaction_key::load_or_create(client, &config.namespace, true).await
    {
        // Redaction still works with a key of this process; marks just cannot be compared
        // with other replicas' until the Secret can be read.
        tracing::warn!(error = %err, "the installation's redaction key is not available; using a key of this process");
    }
    let mut ring = match &config.keys.secret_name {
        Some(name) => {
            KeyManager::new(client.clone(), &config.namespace)
                .with_secret_name(name)
                .with_renew_period(config.keys.renew_period.0)
                .ensure(SystemTime::now())
                .await?
                .ring
        }
        None => KeyRing::new(),
    };
    for file in &config.keys.files {
        ring.add_file(file)?;
    }
    ring.set_remote(&config.keys)?;
    if let Some(bitnami) = &config.keys.bitnami {
        let keys = crate::secrets::bitnami::BitnamiKeys::load(bitnami, client)
            .await
            .map_err(crate::secrets::KeyError::from)?;
        state.set_bitnami_cert(keys.cert_pem());
        ring.set_bitnami(keys);
    }
    state.set_recipient(ring.newest_recipient().map(ToString::to_string));
    let mut stores = Stores::new(Arc::new(crate::secrets::KubeCredentials::new(
        client.clone(),
    )))
    .with_inline_ttl(config.inline_refresh.0);
    for store in &config.secret_stores {
        stores
            .add_cluster_store(store, &config.namespace)
            .map_err(|e| DaemonError::StoresFailed(Box::new(e)))?;
    }
    for store in &config.inline_stores {
        stores
            .set_inline_store(store, &config.namespace)
            .map_err(|e| DaemonError::StoresFailed(Box::new(e)))?;
    }
    Ok(SecretsContext {
        keys: Arc::new(ring),
        stores: Arc::new(stores),
    })
}
