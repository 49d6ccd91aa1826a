//! The `rollout:` block of an app generator in `tether.yaml`: the gates a revision must pass
//! after it is applied, and what happens when it does not.
//!
//! ```yaml
//! rollout:
//!   health: {timeout: 2m, objects: ["Deployment/web"]}   # default: every object, 5m
//!   metrics:                                                # Argo Rollouts' AnalysisTemplate names
//!     - name: error-rate
//!       interval: 10s
//!       count: 6
//!       failureLimit: 1
//!       successCondition: result[0] < 0.05
//!       provider:
//!         prometheus: {address: "http://prometheus:9090", query: "sum(rate(errors{app=\"{{app}}\"}[1m]))"}
//!     - name: ready-endpoint
//!       successCondition: result == "ok"
//!       provider:
//!         web: {url: "http://web.shop/ready", jsonPath: "{$.status}"}
//!   autoRollback: true
//! ```

use crate::config::Interval;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

use super::expr::Condition;

/// How many revisions and verdicts an app's history keeps by default.
pub const DEFAULT_HISTORY: usize = 10;

fn yes() -> bool {
    true
}

fn default_history() -> usize {
    DEFAULT_HISTORY
}

/// An app generator's `rollout:` block.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RolloutConfig {
    /// Wait for health after apply (default: every object, within 5m).
    #[serde(default)]
    pub health: HealthGate,
    /// Analyses run after the app is healthy.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Go back to the last revision that passed its gates when a gate fails.
    #[serde(default = "yes")]
    pub auto_rollback: bool,
    /// How many revisions (ids and verdicts only) the app's history keeps.
    #[serde(default = "default_history")]
    pub history_limit: usize,
}

/// The health gate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthGate {
    /// How long the objects may take to become healthy.
    #[serde(default = "default_health_timeout")]
    pub timeout: Interval,
    /// Only these objects (`Kind/name` or `Kind/namespace/name`); empty: every object.
    #[serde(default)]
    pub objects: Vec<String>,
}

fn default_health_timeout() -> Interval {
    Interval(Duration::from_secs(300))
}

impl Default for HealthGate {
    fn default() -> Self {
        Self {
            timeout: default_health_timeout(),
            objects: Vec::new(),
        }
    }
}

/// One analysis metric, named as in Argo Rollouts' `AnalysisTemplate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metric {
    /// The metric's name (status, Events).
    pub name: String,
    /// Between two measurements (default 0: back to back).
    #[serde(default)]
    pub interval: Option<Interval>,
    /// Before the first measurement.
    #[serde(default)]
    pub initial_delay: Option<Interval>,
    /// How many measurements (default 1).
    #[serde(default)]
    pub count: Option<u32>,
    /// A measurement succeeds when this holds (`result[0] >= 0.99`).
    #[serde(default)]
    pub success_condition: Option<String>,
    /// A measurement fails when this holds.
    #[serde(default)]
    pub failure_condition: Option<String>,
    /// How many failed measurements are tolerated (default 0).
    #[serde(default)]
    pub failure_limit: u32,
    /// How many inconclusive measurements are tolerated (default 0).
    #[serde(default)]
    pub inconclusive_limit: u32,
    /// How many errors in a row are tolerated (default 4, as in Argo Rollouts).
    #[serde(default = "default_error_limit")]
    pub consecutive_error_limit: u32,
    /// Where the measurement comes from.
    pub provider: Provider,
}

fn default_error_limit() -> u32 {
    4
}

/// A metric's provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Provider {
    /// A Prometheus instant query.
    #[serde(default)]
    pub prometheus: Option<PrometheusProvider>,
    /// An HTTP GET answering JSON.
    #[serde(default)]
    pub web: Option<WebProvider>,
}

/// A Prometheus query (`/api/v1/query`): a vector result is a list of numbers, a scalar a
/// number.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PrometheusProvider {
    /// The server (`http://prometheus.monitoring:9090`).
    pub address: String,
    /// The query; `{{app}}`, `{{namespace}}` and `{{revision}}` are replaced.
    pub query: String,
    /// How long one query may take (default 10s).
    #[serde(default)]
    pub timeout: Option<Interval>,
}

/// An HTTP GET that must answer 2xx; `result` is the JSON value at `jsonPath`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WebProvider {
    /// The URL; `{{app}}`, `{{namespace}}` and `{{revision}}` are replaced.
    pub url: String,
    /// `{$.data.ok}` or `$.data.ok` (default: the whole body).
    #[serde(default)]
    pub json_path: Option<String>,
    /// Request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How long the request may take (default 10s).
    #[serde(default)]
    pub timeout: Option<Interval>,
}

/// The largest `count` of one metric.
pub const MAX_COUNT: u32 = 1000;

impl RolloutConfig {
    /// Checks the block once at load: returns the field (relative to `rollout`) and the
    /// problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.history_limit == 0 || self.history_limit > 100 {
            return Err(("historyLimit".into(), "must be 1 to 100".into()));
        }
        if self.health.timeout.0 < Duration::from_secs(1) {
            return Err(("health.timeout".into(), "must be at least 1s".into()));
        }
        for (i, o) in self.health.objects.iter().enumerate() {
            if super::health::Selector::parse(o).is_none() {
                return Err((
                    format!("health.objects[{i}]"),
                    format!("{o:?}: expected Kind/name or Kind/namespace/name"),
                ));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let field = |f: &str| format!("metrics[{i}].{f}");
            if m.name.is_empty() || !names.insert(m.name.as_str()) {
                return Err((field("name"), "must be set and unique".into()));
            }
            for (name, text) in [
                ("successCondition", &m.success_condition),
                ("failureCondition", &m.failure_condition),
            ] {
                if let Some(text) = text {
                    Condition::parse(text).map_err(|e| (field(name), e.to_string()))?;
                }
            }
            if m.count.is_some_and(|c| c == 0 || c > MAX_COUNT) {
                return Err((field("count"), format!("must be 1 to {MAX_COUNT}")));
            }
            if m.count.unwrap_or(1) > 1 && m.interval.is_none() {
                return Err((field("interval"), "required when count is above 1".into()));
            }
            match (&m.provider.prometheus, &m.provider.web) {
                (Some(p), None) => {
                    check_url(&p.address).map_err(|e| (field("provider.prometheus.address"), e))?
                }
                (None, Some(w)) => check_url(&w.url).map_err(|e| (field("provider.web.url"), e))?,
                _ => {
                    return Err((field("provider"), "exactly one of prometheus or web".into()));
                }
            }
        }
        Ok(())
    }
}

fn check_url(text: &str) -> Result<(), String> {
    let shown: String = text.chars().take(100).collect();
    if text.starts_with("http://") || text.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("{shown:?} is not an http(s) URL"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> RolloutConfig {
        serde_saphyr::from_str(text).expect("parses")
    }

    #[test]
    fn a_full_block_parses_with_argo_rollouts_names_and_validates() {
        let c = load(
            "health: {timeout: 1m, objects: [Deployment/web]}
metrics:
  - name: errors
    interval: 5s
    count: 3
    failureLimit: 1
    inconclusiveLimit: 1
    successCondition: result[0] < 0.05
    failureCondition: result[0] >= 0.2
    provider: {prometheus: {address: 'http://127.0.0.1:9090', query: 'sum(x)'}}
  - name: ready
    successCondition: result == 'ok'
    provider: {web: {url: 'http://127.0.0.1:1/ready', jsonPath: '{$.status}'}}
",
        );
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.metrics[0].failure_limit, 1);
        assert_eq!(c.metrics[1].consecutive_error_limit, 4);
        assert!(c.auto_rollback);
    }

    #[test]
    fn bad_blocks_name_the_field() {
        let bad = |text: &str| load(text).validate().expect_err("invalid").0;
        assert_eq!(
            bad(
                "metrics: [{name: a, successCondition: 'result >', provider: {web: {url: 'http://x'}}}]"
            ),
            "metrics[0].successCondition"
        );
        assert_eq!(
            bad("metrics: [{name: a, provider: {}}]"),
            "metrics[0].provider"
        );
        assert_eq!(
            bad("metrics: [{name: a, count: 3, provider: {web: {url: 'http://x'}}}]"),
            "metrics[0].interval"
        );
        assert_eq!(
            bad("metrics: [{name: a, provider: {prometheus: {address: 'file:///etc', query: q}}}]"),
            "metrics[0].provider.prometheus.address"
        );
        assert_eq!(bad("health: {objects: [web]}"), "health.objects[0]");
        assert!(serde_saphyr::from_str::<RolloutConfig>("metrics: [{name: a, limit: 1}]").is_err());
    }
}
