//! Test hooks on requests: injected faults (5xx, 429 with `Retry-After`, timeouts, latency),
//! deterministic when seeded, and request counters by verb and resource.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What to inject, per request. Rates are probabilities in `0.0..=1.0`, drawn in this order:
/// timeout, 5xx, 429.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    /// Share of requests answered `500 InternalError`.
    pub error_rate_5xx: f64,
    /// Share of requests answered `429 TooManyRequests` with `Retry-After`.
    pub rate_429: f64,
    /// The `Retry-After` seconds of a 429.
    pub retry_after_secs: u64,
    /// Share of requests held for [`FaultPlan::timeout_hold`] and then answered `504`.
    pub timeout_rate: f64,
    /// How long a "timed out" request is held (longer than the client's timeout).
    pub timeout_hold: Duration,
    /// Latency added to every request the plan applies to.
    pub added_latency: Duration,
    /// Only these verbs (`get`, `list`, `watch`, `create`, `update`, `patch`, `apply`,
    /// `delete`, `deletecollection`); `None` means every verb.
    pub only_verbs: Option<Vec<String>>,
    /// Seed of the random draws: the same seed and request order give the same faults.
    pub seed: u64,
}

impl Default for FaultPlan {
    fn default() -> Self {
        Self {
            error_rate_5xx: 0.0,
            rate_429: 0.0,
            retry_after_secs: 1,
            timeout_rate: 0.0,
            timeout_hold: Duration::from_secs(35),
            added_latency: Duration::ZERO,
            only_verbs: None,
            seed: 0,
        }
    }
}

/// The fault decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer 500.
    ServerError,
    /// Answer 429 with this `Retry-After`.
    TooManyRequests(u64),
    /// Hold for this long, then answer 504.
    Timeout(Duration),
}

#[derive(Debug, Default)]
struct FaultState {
    plan: Option<FaultPlan>,
    rng: Option<StdRng>,
    injected: u64,
    /// Resources (plurals) whose writes a validating admission webhook denies.
    denied: std::collections::BTreeSet<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fault plan of one server; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

impl Faults {
    /// Replaces the plan (and reseeds).
    pub fn set(&self, plan: FaultPlan) {
        let mut s = lock(&self.0);
        s.rng = Some(StdRng::seed_from_u64(plan.seed));
        s.plan = Some(plan);
    }

    /// Removes the plan: no more faults.
    pub fn clear(&self) {
        let mut s = lock(&self.0);
        s.plan = None;
        s.rng = None;
    }

    /// How many faults were injected since the server started.
    pub fn injected(&self) -> u64 {
        lock(&self.0).injected
    }

    /// Makes a validating admission webhook deny every write (create, update, patch, apply)
    /// of `plural`, quoting the request body in its message as careless webhooks do.
    pub fn deny_writes(&self, plural: &str) {
        lock(&self.0).denied.insert(plural.to_owned());
    }

    /// Whether a write of `verb` to `plural` is denied by [`Faults::deny_writes`].
    pub fn write_denied(&self, verb: &str, plural: &str) -> bool {
        matches!(verb, "create" | "update" | "patch" | "apply")
            && lock(&self.0).denied.contains(plural)
    }

    /// Decides the latency and the fault of one request of `verb`.
    pub fn decide(&self, verb: &str) -> (Duration, Option<Fault>) {
        let mut s = lock(&self.0);
        let Some(plan) = s.plan.clone() else {
            return (Duration::ZERO, None);
        };
        if plan
            .only_verbs
            .as_ref()
            .is_some_and(|v| !v.iter().any(|x| x == verb))
        {
            return (Duration::ZERO, None);
        }
        let rng = s
            .rng
            .get_or_insert_with(|| StdRng::seed_from_u64(plan.seed));
        let draw: f64 = rng.r#gen();
        let fault = if draw < plan.timeout_rate {
            Some(Fault::Timeout(plan.timeout_hold))
        } else if draw < plan.timeout_rate + plan.error_rate_5xx {
            Some(Fault::ServerError)
        } else if draw < plan.timeout_rate + plan.error_rate_5xx + plan.rate_429 {
            Some(Fault::TooManyRequests(plan.retry_after_secs))
        } else {
            None
        };
        if fault.is_some() {
            s.injected += 1;
        }
        (plan.added_latency, fault)
    }
}

/// Request counters by (verb, resource); the resource is the plural, with `/status` for the
/// status subresource (`deployments/status`). Every API request is counted when it arrives,
/// including those answered by an injected fault; discovery and OpenAPI requests are not.
/// A `dryRun` request changes nothing: it is counted under its verb with [`DRY_RUN`]
/// appended (`patch?dryRun`), never as a write.
#[derive(Debug, Clone, Default)]
pub struct Requests(Arc<Mutex<BTreeMap<(String, String), u64>>>);

/// What a dry-run request's verb is counted under: the verb with this suffix.
pub const DRY_RUN: &str = "?dryRun";

impl Requests {
    /// Counts one request.
    pub fn record(&self, verb: &str, resource: &str) {
        *lock(&self.0)
            .entry((verb.to_owned(), resource.to_owned()))
            .or_insert(0) += 1;
    }

    /// Counts one `dryRun` request (not a write).
    pub fn record_dry_run(&self, verb: &str, resource: &str) {
        self.record(&format!("{verb}{DRY_RUN}"), resource);
    }

    /// The `dryRun` requests, of any verb.
    pub fn dry_runs(&self) -> u64 {
        lock(&self.0)
            .iter()
            .filter(|((v, _), _)| v.ends_with(DRY_RUN))
            .map(|(_, n)| n)
            .sum()
    }

    /// The requests of one verb on one resource.
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        lock(&self.0)
            .get(&(verb.to_owned(), resource.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// The requests of one verb on any resource.
    pub fn count_verb(&self, verb: &str) -> u64 {
        lock(&self.0)
            .iter()
            .filter(|((v, _), _)| v == verb)
            .map(|(_, n)| n)
            .sum()
    }

    /// The writes: create, update, patch, apply, delete and deletecollection, without
    /// `dryRun` requests (which change nothing).
    pub fn writes(&self) -> u64 {
        [
            "create",
            "update",
            "patch",
            "apply",
            "delete",
            "deletecollection",
        ]
        .iter()
        .map(|v| self.count_verb(v))
        .sum()
    }

    /// Every counted request.
    pub fn total(&self) -> u64 {
        lock(&self.0).values().sum()
    }

    /// A copy of every counter.
    pub fn snapshot(&self) -> BTreeMap<(String, String), u64> {
        lock(&self.0).clone()
    }

    /// The counters as JSON, what `GET /tether-test/requests` answers (the emulation's own
    /// endpoint, for benchmarks in another process): `total`, `writes` (without dry runs),
    /// `dryRuns`, and `byVerb` (`{"get": {"configmaps": 3}}`, dry runs under `patch?dryRun`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut by_verb = serde_json::Map::new();
        for ((verb, resource), n) in self.snapshot() {
            let entry = by_verb
                .entry(verb)
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let Some(map) = entry.as_object_mut() {
                map.insert(resource, n.into());
            }
        }
        serde_json::json!({
            "total": self.total(),
            "writes": self.writes(),
            "dryRuns": self.dry_runs(),
            "byVerb": by_verb,
        })
    }

    /// Sets every counter back to zero.
    pub fn reset(&self) {
        lock(&self.0).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_plans_repeat_their_faults() {
        let plan = FaultPlan {
            error_rate_5xx: 0.3,
            rate_429: 0.2,
            seed: 7,
            ..FaultPlan::default()
        };
        let draws = |f: &Faults| (0..50).map(|_| f.decide("get").1).collect::<Vec<_>>();
        let a = Faults::default();
        a.set(plan.clone());
        let b = Faults::default();
        b.set(plan);
        let (da, db) = (draws(&a), draws(&b));
        assert_eq!(da, db);
        assert!(da.contains(&Some(Fault::ServerError)));
        assert!(
            da.iter()
                .any(|f| matches!(f, Some(Fault::TooManyRequests(1))))
        );
        assert!(da.iter().any(Option::is_none));
    }

    #[test]
    fn only_verbs_limits_the_plan() {
        let f = Faults::default();
        f.set(FaultPlan {
            error_rate_5xx: 1.0,
            only_verbs: Some(vec!["patch".into()]),
            ..FaultPlan::default()
        });
        assert_eq!(f.decide("get").1, None);
        assert_eq!(f.decide("patch").1, Some(Fault::ServerError));
    }

    #[test]
    fn the_counters_as_json_keep_dry_runs_out_of_the_writes() {
        let r = Requests::default();
        r.record("apply", "configmaps");
        r.record_dry_run("apply", "configmaps");
        r.record("get", "configmaps");
        let json = r.to_json();
        assert_eq!(json["total"], 3);
        assert_eq!(json["writes"], 1);
        assert_eq!(json["dryRuns"], 1);
        assert_eq!(json["byVerb"]["get"]["configmaps"], 1);
        assert_eq!(json["byVerb"]["apply?dryRun"]["configmaps"], 1);
    }
}
