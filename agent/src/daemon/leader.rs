//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager): only the holder
//! syncs; a standby takes over within the lease duration after the holder stops renewing;
//! on shutdown the holder releases the lease so a standby takes over at once.

use crate::config::LeaderElectionConfig;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be created or read.
    #[error("lease {namespace}/{name}: {source}")]
    LeaseFailed {
        /// The namespace.
        namespace: String,
        /// The Lease.
        name: String,
        /// The cause.
        #[source]
        source: LeaseManagerError,
    },
}

/// A running election: whether this replica leads, and the task that renews the lease.
pub struct Leadership {
    state: watch::Receiver<bool>,
    task: Option<JoinHandle<Result<LeaseManager, LeaseManagerError>>>,
}

impl Leadership {
    /// Starts the election for `identity` (unique per replica: the pod name).
    pub async fn start(
        client: kube::Client,
        namespace: &str,
        config: &LeaderElectionConfig,
        identity: &str,
    ) -> Result<Self, LeaderError> {
        let manager = LeaseManagerBuilder::new(client, &config.lease_name)
            .with_namespace(namespace)
            .with_identity(identity)
            .with_duration(config.lease_duration.0.as_secs().max(2))
            .with_grace(config.renew_grace.0.as_secs().max(1))
            .with_field_manager(format!("tether-leader-{identity}"))
            .build()
            .await
            .map_err(|source| LeaderError::LeaseFailed {
                namespace: namespace.to_owned(),
                name: config.lease_name.clone(),
                source,
            })?;
        let (state, task) = manager.watch().await;
        Ok(Self {
            state,
            task: Some(task),
        })
    }

    /// Leadership without election: always the leader.
    #[must_use]
    pub fn always() -> Self {
        let (tx, state) = watch::channel(true);
        // The sender is dropped: the value stays `true` and `changed()` ends at once.
        drop(tx);
        Self { state, task: None }
    }

    /// Whether this replica leads now.
    #[must_use]
    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    /// Waits until this replica leads.
    pub async fn acquired(&mut self) {
        if self.task.is_none() {
            return;
        }
        if self.state.wait_for(|leader| *leader).await.is_err() {
            // The election task ended: wait forever rather than lead without a lease.
            std::future::pending::<()>().await;
        }
    }

    /// Waits until this replica stops leading, or the election ends (never, without
    /// election).
    pub async fn lost(&mut self) {
        if self.task.is_none() {
            std::future::pending::<()>().await;
        }
        // An error means the election task ended: leading without renewal is not safe.
        let _ = self.state.wait_for(|leader| !*leader).await;
    }

    /// Waits until leadership differs from `leading`: lost when leading, acquired when not.
    pub async fn changed_from(&mut self, leading: bool) {
        if leading {
            self.lost().await;
        } else {
            self.acquired().await;
        }
    }

    /// Releases the lease (when held) and stops the election.
    pub async fn release(self) {
        let Self { state, task } = self;
        drop(state);
        if let Some(task) = task {
            match task.await {
                Ok(Ok(_)) => tracing::info!("lease released"),
                Ok(Err(err)) => tracing::warn!(error = %err, "releasing the lease failed"),
                Err(err) => tracing::warn!(error = %err, "the election task failed"),
            }
        }
    }
}

/// The label the leader puts on its own Pod, so that a Service (`tether-webhook` in
/// `deploy/`) sends webhooks to the replica that syncs.
pub const LEADER_LABEL: &str = "tether.dev/leader";

/// Sets (or removes) [`LEADER_LABEL`] on this replica's Pod. Failures are logged: the label
/// only routes webhooks, and the leader polls anyway.
pub async fn label_pod(client: &kube::Client, namespace: &str, pod: &str, leader: bool) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams};
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let value = if leader {
        serde_json::Value::String("true".into())
    } else {
        serde_json::Value::Null
    };
    let patch = serde_json::json!({"metadata": {"labels": {LEADER_LABEL: value}}});
    if let Err(err) = api
        .patch(pod, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(pod = %pod, leader, error = %err, "labelling this Pod failed");
    }
}
