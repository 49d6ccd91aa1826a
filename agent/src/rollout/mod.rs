//! Progressive delivery: gates after apply, automatic rollback, Argo Rollouts health.
//!
//! ```text
//! sync (apply, prune) -> health gate -> analyses (Prometheus, web) -> verdict
//!                                                   | failed
//!                      re-render the last revision that passed <-+ -> apply -> hold (RolledBack)
//! ```
//!
//! - [`config`]: the `rollout:` block of an app generator.
//! - [`health`]: the health gate (all objects, or those named), with [`argo`] for Argo
//!   Rollouts kinds (an aborted Rollout fails the gate).
//! - [`analysis`]: metrics measured at an interval, decided by conditions in the small
//!   [`expr`] language, with Argo Rollouts' limits.
//! - [`history`]: an app's rollout status: the last gates, the hold after a rollback, and
//!   the bounded history of revisions and verdicts that picks the rollback target (stored in
//!   the app's status ConfigMap, so it survives a restart; only revision ids, never objects).
//! - [`revision`]: an earlier revision's files, from the source's cache or fetched by id.
//! - [`request`]: `tether-agent rollback APP [--to REV]` and `rollback clear APP`.
//! - [`window`]: sync windows (change freezes): allow and deny windows on cron schedules.
//! - [`wave`]: waves across apps: steps by labels, `maxUpdate`, a failure halts later steps.
//!
//! The daemon calls [`gates`] after each sync of a revision not judged yet, and re-renders and
//! applies the rollback target itself (the same pipeline as any revision: secrets resolved
//! again, the same prune protections).

pub mod analysis;
pub mod argo;
pub mod config;
pub mod expr;
pub mod health;
pub mod history;
pub mod request;
pub mod revision;
pub mod wave;
pub mod window;

pub use config::RolloutConfig;
pub use history::{Hold, Phase, RolloutStatus};

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Errors of the rollout stages.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// A measurement could not be taken (the provider failed or answered nonsense).
    #[error("{what}: {message}")]
    MeasureFailed {
        /// The provider (`prometheus http://...`).
        what: String,
        /// What went wrong.
        message: String,
    },
    /// A condition could not be evaluated on a result.
    #[error("condition {condition:?}: {source}")]
    ConditionFailed {
        /// The condition.
        condition: String,
        /// The cause.
        #[source]
        source: expr::ExprError,
    },
    /// The revision to roll back to cannot be read.
    #[error("revision {revision}: {message}")]
    RevisionUnavailable {
        /// The revision.
        revision: String,
        /// Why.
        message: String,
    },
    /// No revision passed its gates before: there is nothing to roll back to.
    #[error("no earlier revision passed its gates")]
    NoGoodRevision,
    /// The rollback target could not be rendered or applied.
    #[error("rollback to {revision} failed: {message}")]
    RollbackFailed {
        /// The target.
        revision: String,
        /// Why.
        message: String,
    },
}

impl RolloutError {
    /// A short, stable reason for status, Events and metrics.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MeasureFailed { .. } => "MeasureFailed",
            Self::ConditionFailed { .. } => "ConditionFailed",
            Self::RevisionUnavailable { .. } => "RevisionUnavailable",
            Self::NoGoodRevision => "NoGoodRevision",
            Self::RollbackFailed { .. } => "RollbackFailed",
        }
    }
}

/// A gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    /// Still running.
    Running,
    /// Passed.
    Passed,
    /// Failed.
    Failed,
}

/// How many measurements a gate result keeps.
const KEPT_MEASUREMENTS: usize = 10;

/// One measurement as status shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// Its phase.
    pub phase: analysis::Phase,
    /// The result (or the error), clipped.
    pub value: String,
}

/// The result of one gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    /// `health` or the metric's name.
    pub name: String,
    /// `health`, `prometheus`, `web`.
    pub kind: String,
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub message: String,
    /// The last measurements (metrics only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
}

impl GateResult {
    /// A running gate.
    #[must_use]
    pub fn new(name: &str, kind: &str) -> Self {
        Self {
            name: name.to_owned(),
            kind: kind.to_owned(),
            verdict: Verdict::Running,
            message: String::new(),
            measurements: Vec::new(),
        }
    }

    /// Records a measurement (the last few are kept).
    pub fn measure(&mut self, phase: analysis::Phase, value: &str) {
        if self.measurements.len() == KEPT_MEASUREMENTS {
            self.measurements.remove(0);
        }
        self.measurements.push(Measurement {
            phase,
            value: clip(value),
        });
    }

    /// Sets the verdict.
    pub fn finish(&mut self, verdict: Verdict, message: String) {
        self.verdict = verdict;
        self.message = clip(&message);
    }
}

fn clip(text: &str) -> String {
    crate::text::clip_message(text).into_owned()
}

/// What the gates need after a sync.
pub struct GateInput<'a> {
    /// The app's `rollout:` block.
    pub config: &'a RolloutConfig,
    /// Reads live objects.
    pub client: &'a kube::Client,
    /// Resolves kinds.
    pub resolver: &'a crate::sync::client::Resolver,
    /// Queries providers.
    pub http: &'a reqwest::Client,
    /// The objects the sync applied.
    pub objects: Vec<crate::sync::ObjectRef>,
    /// `{{app}}`, `{{namespace}}`, `{{revision}}`.
    pub vars: analysis::Vars,
    /// How often health is read.
    pub poll: Duration,
}

/// The outcome of the gates of one revision.
#[derive(Debug, Clone)]
pub struct GateReport {
    /// Passed when every gate passed.
    pub verdict: Verdict,
    /// Each gate run, in order; the first failure stops the rest.
    pub gates: Vec<GateResult>,
}

impl GateReport {
    /// The first failed gate's name and message.
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        self.gates
            .iter()
            .find(|g| g.verdict == Verdict::Failed)
            .map(|g| format!("{} gate {}: {}", g.kind, g.name, g.message))
    }
}

/// Runs the gates: health first, then each metric in order; stops at the first failure.
pub async fn gates(input: GateInput<'_>) -> GateReport {
    let selectors = input
        .config
        .health
        .objects
        .iter()
        .filter_map(|o| health::Selector::parse(o))
        .collect();
    let mut gates = vec![
        health::wait(health::HealthInput {
            client: input.client,
            resolver: input.resolver,
            objects: input.objects.clone(),
            selectors,
            timeout: input.config.health.timeout.0,
            poll: input.poll,
        })
        .await,
    ];
    for metric in &input.config.metrics {
        if gates.iter().any(|g| g.verdict == Verdict::Failed) {
            break;
        }
        gates.push(analysis::run(input.http, metric, &input.vars).await);
    }
    let verdict = if gates.iter().all(|g| g.verdict == Verdict::Passed) {
        Verdict::Passed
    } else {
        Verdict::Failed
    };
    tracing::info!(app = %input.vars.app, revision = %input.vars.revision, verdict = ?verdict, "gates decided");
    GateReport { verdict, gates }
}
