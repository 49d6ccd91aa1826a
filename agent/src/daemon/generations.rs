//! The daemon's outer loop: a generation of sync loops runs while this replica may work
//! (leading, or a member of the shard), and is restarted when the configuration is reloaded,
//! the agent's key is renewed, leadership changes; it ends on shutdown.

use super::leader::{self, Leadership};
use super::state::Shared;
use super::{Daemon, DaemonError, runner, secrets_context, shard, watch_file};
use crate::config::Config;
use crate::secrets::KeyManager;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;

/// How often the managed key Secret is checked for renewal.
const KEY_CHECK_INTERVAL: Duration = Duration::from_secs(6 * 3600);

/// What ends a generation.
enum Next {
    /// Start a new generation (new configuration, key, or leadership).
    Restart,
    /// Stop the daemon with this result.
    Stop(Result<(), DaemonError>),
}

/// What the generations of one daemon share.
struct Generations {
    config_path: PathBuf,
    config: Config,
    client: kube::Client,
    identity: String,
    state: Arc<Shared>,
    reload: Arc<Notify>,
    /// In a Pod (POD_NAME from the downward API), the leader labels itself for webhooks.
    pod: Option<String>,
    leadership: Leadership,
    /// This replica's shard membership, when sharded.
    member: Option<shard::Member>,
    membership: Option<tokio::sync::watch::Receiver<u64>>,
}

/// Runs the daemon on `listener` (public and admin) until `shutdown` completes. See the
/// module docs.
pub async fn run(
    daemon: Daemon,
    listener: crate::server::Listeners,
    state: Arc<Shared>,
    shutdown: impl Future<Output = ()> + Send,
    reload: Arc<Notify>,
) -> Result<(), DaemonError> {
    let Daemon {
        config_path,
        config,
        client,
        identity,
    } = daemon;
    state.set_cluster(client.clone(), &config.namespace);
    state.set_ui_config(config.ui.clone());
    let (server_stop, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::server::run(
        listener,
        Arc::clone(&state),
        async move {
            let _ = server_stop_rx.await;
        },
    ));
    let watcher = tokio::spawn(watch_file(config_path.clone(), Arc::clone(&reload)));
    let leadership = if config.leader_election.enabled {
        Leadership::start(
            client.clone(),
            &config.namespace,
            &config.leader_election,
            &identity,
        )
        .await?
    } else {
        Leadership::always()
    };
    // Sharded replicas all work; the leader Lease keeps the duties of one replica.
    let sharding = (config.replicas > 1).then(|| {
        let timing = shard::membership::Timing::of(config.leader_election.lease_duration.0);
        shard::Member::start(client.clone(), &config.namespace, &identity, timing)
    });
    let member = sharding.as_ref().map(|(m, _)| m.clone());
    state.set_sharded(member.is_some());
    let mut generations = Generations {
        config_path,
        config,
        client,
        identity,
        state,
        reload,
        pod: std::env::var("POD_NAME").ok().filter(|p| !p.is_empty()),
        leadership,
        membership: member.as_ref().map(shard::Member::subscribe),
        member,
    };
    let mut shutdown = std::pin::pin!(shutdown);
    let result = loop {
        match generations.one(shutdown.as_mut()).await {
            Next::Restart => {}
            Next::Stop(result) => break result,
        }
    };
    watcher.abort();
    generations.step_down().await;
    if let Some((_, stop)) = sharding {
        stop.stop().await;
    }
    generations.leadership.release().await;
    let _ = server_stop.send(());
    match server.await {
        Ok(Err(err)) => return Err(DaemonError::ServeFailed(err)),
        Err(err) => tracing::warn!(error = %err, "the server task failed"),
        Ok(Ok(())) => {}
    }
    tracing::info!("stopped");
    result
}

impl Generations {
    /// One generation: waits until this replica may work, starts the sync loops, and runs
    /// them until something ends them.
    async fn one<S: Future<Output = ()>>(&mut self, mut shutdown: Pin<&mut S>) -> Next {
        if self.member.is_none() {
            tracing::info!(identity = %self.identity, "waiting for leadership");
            tokio::select! {
                () = shutdown.as_mut() => return Next::Stop(Ok(())),
                () = self.leadership.acquired() => {}
            }
        }
        let leading = self.leadership.is_leader();
        tracing::info!(identity = %self.identity, leading, sharded = self.member.is_some(), "starting the sync loops");
        let secrets = match secrets_context(&self.config, &self.client, &self.state).await {
            Ok(s) => s,
            Err(err) => return Next::Stop(Err(err)),
        };
        let generation = match runner::Generation::start(
            self.config.clone(),
            self.client.clone(),
            Arc::clone(&self.state),
            secrets,
            &self.identity,
            self.member.clone(),
        )
        .await
        {
            Ok(g) => g,
            Err(err) => return Next::Stop(Err(err)),
        };
        // After the generation declared its sources: readiness then waits for first syncs.
        self.state.set_leader(leading);
        if let Some(pod) = self.pod.as_ref().filter(|_| leading) {
            leader::label_pod(&self.client, &self.config.namespace, pod, true).await;
        }
        self.serve(generation, leading, shutdown).await
    }

    /// Runs a started generation until shutdown, a renewed key, a change of leadership or a
    /// reloaded configuration; a change of shard membership starts a round of every source.
    async fn serve<S: Future<Output = ()>>(
        &mut self,
        generation: runner::Generation,
        leading: bool,
        mut shutdown: Pin<&mut S>,
    ) -> Next {
        let grace = self.config.limits.shutdown_grace.0;
        let mut next_key_check = tokio::time::Instant::now() + KEY_CHECK_INTERVAL;
        let renews = leading && self.config.keys.secret_name.is_some();
        let sharded = self.member.is_some();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next_key_check), if renews => {
                    next_key_check = tokio::time::Instant::now() + KEY_CHECK_INTERVAL;
                    if keys_renewed(&self.config, &self.client).await {
                        tracing::info!("a new agent key: restarting the sync loops with it");
                        generation.stop(grace).await;
                        return Next::Restart;
                    }
                }
                () = shutdown.as_mut() => {
                    generation.stop(grace).await;
                    return Next::Stop(Ok(()));
                }
                () = self.leadership.changed_from(leading), if leading || sharded => {
                    self.leadership_changed(generation, leading).await;
                    return Next::Restart;
                }
                () = shard_changed(&mut self.membership) => {
                    for source in &self.config.sources {
                        self.state.request_round(&source.name, "membership");
                    }
                }
                () = self.reload.notified() => match Config::load(&self.config_path) {
                    Ok(new) => {
                        tracing::info!("configuration reloaded");
                        generation.stop(grace).await;
                        self.state.set_ui_config(new.ui.clone());
                        self.config = new;
                        return Next::Restart;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, reason = err.reason(), "the new configuration is invalid; keeping the running one");
                    }
                },
            }
        }
    }

    /// Stops the generation whose leadership changed (it restarts with or without the
    /// leader's duties).
    async fn leadership_changed(&self, generation: runner::Generation, leading: bool) {
        let grace = self.config.limits.shutdown_grace.0;
        if !leading {
            tracing::info!("leading: restarting the sync loops with the leader's duties");
            generation.stop(grace).await;
            return;
        }
        tracing::warn!("leadership lost: stopping the sync loops");
        self.state.set_leader(false);
        // Sharded, the apps' writes are fenced by the member Lease: only the leader's duties
        // stop, so the round in flight may finish.
        if self.member.is_some() {
            generation.stop(grace).await;
        } else {
            generation.abort().await;
        }
        if let Some(pod) = &self.pod {
            leader::label_pod(&self.client, &self.config.namespace, pod, false).await;
        }
    }

    /// At shutdown: the Pod's leader label removed, leadership given up in the state.
    async fn step_down(&self) {
        if self.state.is_leader()
            && let Some(pod) = &self.pod
        {
            leader::label_pod(&self.client, &self.config.namespace, pod, false).await;
        }
        self.state.set_leader(false);
    }
}

/// Renews the managed key when due; true when a key was added.
async fn keys_renewed(config: &Config, client: &kube::Client) -> bool {
    let Some(name) = &config.keys.secret_name else {
        return false;
    };
    let manager = KeyManager::new(client.clone(), &config.namespace)
        .with_secret_name(name)
        .with_renew_period(config.keys.renew_period.0);
    match manager.ensure(SystemTime::now()).await {
        Ok(status) => status.renewed || status.generated,
        Err(err) => {
            tracing::warn!(error = %err, "checking the agent keys failed");
            false
        }
    }
}

/// Completes when the shard membership changed (never without sharding).
async fn shard_changed(membership: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    match membership {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}
