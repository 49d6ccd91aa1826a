//! Sync: make the cluster match an app's desired objects, and keep it so.
//!
//! The mechanism follows the stages of a sync, one module each, and the policy that calls
//! them lives in [`engine`] (see [`engine::Engine::sync`]):
//!
//! - [`client`]: the Kubernetes client (kubeconfig or in-cluster; `exec` refused) and
//!   discovery of kinds; [`kubeconfig`]: a `KUBECONFIG` list merged as kubectl merges it.
//! - [`object`]: object identity and preparation for apply (label, owner, server fields).
//! - [`plan`]: the desired set, resolved, prepared and hashed.
//! - [`order`]: the apply order (CRDs, Namespaces, cluster RBAC, sync waves, kinds).
//! - [`adopt`]: objects a Helm release installed, taken over.
//! - [`hooks`]: pre-sync and post-sync hooks; [`helm_hooks`]: Helm's hook annotations.
//! - [`apply`]: server-side apply, get, list, delete, with retries.
//! - [`compare`]: what counts as drift (fields Tether sets, minus ignore rules).
//! - [`inventory`]: what each app applied, stored in a ConfigMap.
//! - [`prune`]: protections and guards of deletion.
//! - [`drift`]: watches and self-heal with backoff.
//! - [`fence`]: the check made right before every write of an app (shard fencing).
//! - [`health`]: kstatus-like readiness.
//! - [`changeset`]: the result of a sync, with Secret values redacted.
//!
//! ```no_run
//! # async fn example(client: kube::Client, objects: Vec<serde_json::Value>) {
//! use tether_agent::sync::{AppSpec, Engine, EngineConfig};
//!
//! let engine = Engine::new(client, EngineConfig { namespace: "tether-system".into(), ..EngineConfig::default() });
//! let result = engine.sync(&AppSpec::new("shop", "shop"), "3f2a9c1", objects).await;
//! println!("{}: {}\n{}", result.app, result.reason(), result.changes);
//! # }
//! ```

pub mod adopt;
pub mod apply;
pub mod changeset;
pub mod client;
pub mod compare;
pub mod drift;
pub mod engine;
pub mod fence;
pub mod health;
pub mod helm_hooks;
pub mod hooks;
pub mod inventory;
pub mod kubeconfig;
mod managed;
pub mod object;
pub mod order;
pub mod owned;
pub mod plan;
pub mod prune;
pub mod secret;
mod stages;
mod watch_index;

pub use changeset::{Action, Change, ChangeSet};
pub use client::{ClientOptions, connect};
pub use compare::{IgnoreRule, Target};
pub use drift::Correction;
pub use engine::{AppSpec, Engine, EngineConfig, HealthGate, SyncError, SyncResult};
pub use health::Health;
pub use hooks::HookSettings;
pub use object::ObjectRef;
pub use secret::{Manifest, SecretManifest};
