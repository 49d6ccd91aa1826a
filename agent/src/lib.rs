//! `tether_agent`: the Tether GitOps agent as a library.
//!
//! The modules follow the pipeline of a sync, so that the layout shows it:
//!
//! - [`source`]: fetch the Git repository and hand out immutable snapshots of one commit;
//!   discover the apps in a snapshot.
//! - [`render`]: turn a directory of a snapshot into an ordered list of objects (plain YAML and
//!   native Kustomize), with no exec and nothing read outside the snapshot.
//! - [`secrets`]: between render and apply, turn every secret-bearing manifest (SOPS,
//!   SealedSecret, ExternalSecret, inline `ref+vault://` / `ref+awssecrets://`) into a plain
//!   Secret held in zeroizing memory until the apply call; the agent's age keys.
//! - [`policy`]: Rego policies (conftest conventions) on every rendered object before apply.
//! - [`sync`]: make the cluster match the rendered objects: ordered server-side apply,
//!   pre-sync hooks, inventory, protected prune, drift self-heal and health.
//! - [`schema`]: Kubernetes schema validation of rendered objects (built-in kinds of
//!   Kubernetes 1.30–1.35, CRDs, schema directories), shared by `check` and the daemon.
//! - [`check`]: `tether-agent check`, the repository's CI gate (render, encryption, manifests,
//!   policies).
//!
//! - [`tree`]: the read-only file tree both of them share, which keeps every read inside the
//!   snapshot root.
//!
//! Running them:
//!
//! - [`config`]: the agent's configuration file.
//! - [`daemon`]: `tether-agent run`: sources, the per-app pipeline, leader election, status
//!   and Events, shutdown; [`daemon::pipeline`] holds the stages before apply.
//! - [`server`]: the HTTP endpoints (health, readiness, metrics, webhooks, the apps API).
//! - [`plan`]: `tether-agent plan`, what the next sync would do (also `--offline`).
//! - [`telemetry`]: logs (runtime level changes) and metrics.
//! - [`notify`]: tells people and systems of failed syncs, degraded health, reverted drift
//!   and held prunes (Slack, Teams, Alertmanager, commit statuses, e-mail, ...).
//! - [`output`]: a command's stdout; a closed pipe ends the command quietly.
//! - [`repo_root`]: the default root of a local render or check (the Git work tree).
//! - [`migrate`]: `tether-agent import`, Argo CD and Flux objects read as Tether apps.
//! - [`text`]: what an error quotes of its input, cut to a few hundred bytes.
//! - [`images`]: image automation: registry scans, tag policies, Git updates, promotion.
//!
//! The `tether-agent` binary is a thin layer over these modules.
#![deny(missing_docs)]

pub mod check;
pub mod config;
pub mod daemon;
pub mod images;
pub mod migrate;
pub mod notify;
pub mod output;
pub mod plan;
pub mod policy;
pub mod private_dir;
pub mod redact;
pub mod render;
pub mod render_cli;
pub mod repo_root;
pub mod rollout;
pub mod schema;
pub mod secrets;
pub mod semver;
pub mod server;
pub mod source;
pub mod sync;
pub mod telemetry;
pub mod text;
pub mod tree;
