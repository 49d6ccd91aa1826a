//! Sharding of apps across replicas, with Kubernetes as the only store.
//!
//! With `replicas` above 1, every replica holds a Lease of its own (`tether-member-<identity>`,
//! label `tether.dev/shard-member`, renewed every third of `leaderElection.leaseDuration`);
//! the live Leases are the membership; each app goes to one member by rendezvous hashing of
//! its name ([`rendezvous`]), so a member joining or leaving moves only its share. A replica
//! syncs an app only while its Lease is valid and the app hashes to it, and the sync engine
//! asks the same question right before every write ([`Member`] is its
//! [`crate::sync::fence::WriteFence`]); the rules that make two replicas never write one
//! app, even when one stalls, are in [`membership`]. The leader Lease
//! ([`super::leader`]) stays for the duties of one replica (image automation, key renewal).
//!
//! ```no_run
//! # async fn example(client: kube::Client) -> Result<(), tether_agent::daemon::shard::ShardError> {
//! use tether_agent::daemon::shard::{Member, membership::Timing};
//! use std::time::Duration;
//!
//! let (member, stop) = Member::start(client, "tether-system", "tether-0", Timing::of(Duration::from_secs(15)));
//! if member.check("shop").is_ok() { /* sync shop */ }
//! stop.stop().await; // deletes the Lease: the others take its apps at once
//! # Ok(()) }
//! ```

pub mod lease;
pub mod membership;
pub mod rendezvous;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use membership::{Membership, Timing};

/// Errors of shard membership (each is logged and retried at the next renewal).
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The own Lease could not be read, created or renewed.
    #[error("member lease {namespace}/{name}: {step}: {source}")]
    LeaseFailed {
        /// `read`, `create` or `renew`.
        step: &'static str,
        /// The namespace.
        namespace: String,
        /// The Lease.
        name: String,
        /// The cause.
        #[source]
        source: Box<kube::Error>,
    },
    /// The member Leases could not be listed.
    #[error("list the member leases in {namespace}: {source}")]
    ListFailed {
        /// The namespace.
        namespace: String,
        /// The cause.
        #[source]
        source: Box<kube::Error>,
    },
    /// The Lease body could not be built (a bug).
    #[error("member lease {name}: {message}")]
    EncodeFailed {
        /// The Lease.
        name: String,
        /// What went wrong.
        message: String,
    },
}

struct Shared {
    namespace: String,
    api: Api<Lease>,
    state: Mutex<Membership>,
    /// Bumped when the live members or this replica's right to write change.
    changes: watch::Sender<u64>,
    shape: Mutex<(Vec<String>, bool)>,
}

/// This replica as a member; cheap to clone.
#[derive(Clone)]
pub struct Member(Arc<Shared>);

/// Stops the membership loop of [`Member::start`].
pub struct Stop {
    tx: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Stop {
    /// Stops renewing and deletes the own Lease.
    pub async fn stop(self) {
        let _ = self.tx.send(());
        if let Err(err) = self.task.await {
            tracing::warn!(error = %err, "the membership task failed");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Member {
    /// Starts holding the Lease of `identity` in `namespace` and following the membership.
    #[must_use]
    pub fn start(
        client: kube::Client,
        namespace: &str,
        identity: &str,
        timing: Timing,
    ) -> (Self, Stop) {
        let member = Self(Arc::new(Shared {
            namespace: namespace.to_owned(),
            api: Api::namespaced(client.clone(), namespace),
            state: Mutex::new(Membership::new(identity, timing)),
            changes: watch::channel(0).0,
            shape: Mutex::default(),
        }));
        let own = lease::OwnLease::new(client, namespace, identity, timing.duration);
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(member.clone().run(own, rx));
        (member, Stop { tx, task })
    }

    async fn run(self, mut own: lease::OwnLease, mut stop: oneshot::Receiver<()>) {
        let every = lock(&self.0.state).timing().renew_every;
        let mut next_renewal = Instant::now();
        loop {
            if Instant::now() >= next_renewal {
                let sent = Instant::now();
                next_renewal = sent + every;
                match own.renew().await {
                    Ok(()) => lock(&self.0.state).renewed(sent, Instant::now()),
                    Err(err) => tracing::warn!(error = %err, "renewing the member lease failed"),
                }
            }
            self.refresh().await;
            // Wake at the next renewal, or sooner when a Lease expires or the warm-up ends,
            // so that ownership moves as soon as it may.
            let now = Instant::now();
            let soon = lock(&self.0.state)
                .next_change(now)
                .map(|at| at + std::time::Duration::from_millis(20));
            let wake = soon.map_or(next_renewal, |at| at.min(next_renewal));
            tokio::select! {
                _ = &mut stop => break,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
        lock(&self.0.state).lost();
        own.release().await;
    }

    /// Reads the member Leases again (done at every renewal, and by each round before it
    /// decides which apps are this replica's).
    pub async fn refresh(&self) {
        let sent = Instant::now();
        match lease::list(&self.0.api, &self.0.namespace).await {
            Ok(leases) => lock(&self.0.state).listed(sent, Instant::now(), leases),
            Err(err) => tracing::warn!(error = %err, "listing the member leases failed"),
        }
        let shape = lock(&self.0.state).shape(Instant::now());
        let mut last = lock(&self.0.shape);
        if *last != shape {
            tracing::info!(members = ?shape.0, writing = shape.1, "shard membership changed");
            *last = shape;
            self.0.changes.send_modify(|n| *n += 1);
        }
    }

    /// A receiver that sees every change of the membership or of this replica's right to
    /// write.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.changes.subscribe()
    }

    /// This replica's identity.
    #[must_use]
    pub fn identity(&self) -> String {
        lock(&self.0.state).identity().to_owned()
    }

    /// The replica `app` hashes to now (empty when no member is live).
    #[must_use]
    pub fn owner(&self, app: &str) -> String {
        lock(&self.0.state)
            .owner(app, Instant::now())
            .unwrap_or_default()
    }

    /// Whether this replica may write `app` now; otherwise why not.
    pub fn check(&self, app: &str) -> Result<(), String> {
        lock(&self.0.state).check(app, Instant::now())
    }

    /// The fence the sync engine asks before every write.
    #[must_use]
    pub fn fence(&self) -> crate::sync::fence::Fence {
        crate::sync::fence::Fence::new(Arc::new(self.clone()))
    }
}

impl crate::sync::fence::WriteFence for Member {
    fn check(&self, app: &str) -> Result<(), String> {
        Member::check(self, app)
    }
}
