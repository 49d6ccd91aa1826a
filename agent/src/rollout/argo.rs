//! Health of Argo Rollouts objects (`argoproj.io/v1alpha1` `Rollout`, `AnalysisRun`,
//! `Experiment`), assessed as Argo CD's health checks for them do: a Rollout is Progressing
//! while its steps run, Suspended on a pause, Degraded when aborted, Healthy when complete,
//! with the controller's message.

use serde_json::Value;

/// The health of an Argo Rollouts object, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgoHealth {
    /// Complete.
    Healthy,
    /// Steps still running.
    Progressing(String),
    /// Paused (a canary step's pause, or a pause for promotion).
    Suspended(String),
    /// Failed or degraded (an aborted Rollout is here, with `aborted` set).
    Degraded {
        /// Why.
        message: String,
        /// Whether the Rollout was aborted (a failed canary).
        aborted: bool,
    },
    /// Neither good nor bad (an inconclusive analysis).
    Unknown(String),
}

impl ArgoHealth {
    /// `Healthy`, `Progressing`, `Suspended`, `Degraded`, `Unknown`.
    #[must_use]
    pub fn status(&self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing(_) => "Progressing",
            Self::Suspended(_) => "Suspended",
            Self::Degraded { .. } => "Degraded",
            Self::Unknown(_) => "Unknown",
        }
    }

    /// The message (empty when healthy).
    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::Healthy => "",
            Self::Progressing(m) | Self::Suspended(m) | Self::Unknown(m) => m,
            Self::Degraded { message, .. } => message,
        }
    }

    /// The engine's three-valued health: Suspended and Unknown are not healthy yet.
    #[must_use]
    pub fn to_health(&self) -> crate::sync::Health {
        use crate::sync::Health;
        match self {
            Self::Healthy => Health::Healthy,
            Self::Degraded { message, .. } => Health::Degraded(message.clone()),
            other => Health::Progressing(format!("{}: {}", other.status(), other.message())),
        }
    }
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    let v = object.pointer(pointer)?;
    // A Rollout's `observedGeneration` is a string.
    v.as_i64().or_else(|| v.as_str()?.parse().ok())
}

/// Whether `group`/`kind` is an Argo Rollouts kind assessed here.
#[must_use]
pub fn is_argo_kind(group: &str, kind: &str) -> bool {
    group == "argoproj.io" && matches!(kind, "Rollout" | "AnalysisRun" | "Experiment")
}

/// The health of an Argo Rollouts object of `kind`.
#[must_use]
pub fn assess(kind: &str, object: &Value) -> ArgoHealth {
    match kind {
        "Rollout" => rollout(object),
        _ => run(object),
    }
}

/// A `Rollout`.
#[must_use]
pub fn rollout(object: &Value) -> ArgoHealth {
    let message = text(object, "/status/message").to_owned();
    if object.pointer("/status/abort").and_then(Value::as_bool) == Some(true) {
        let shown = if message.is_empty() {
            "the Rollout was aborted".to_owned()
        } else {
            format!("the Rollout was aborted: {message}")
        };
        return ArgoHealth::Degraded {
            message: shown,
            aborted: true,
        };
    }
    let generation = int(object, "/metadata/generation");
    let observed = int(object, "/status/observedGeneration");
    if generation.is_some() && observed.is_some_and(|o| Some(o) != generation) {
        return ArgoHealth::Progressing(
            "waiting for the rollout spec update to be observed".into(),
        );
    }
    match text(object, "/status/phase") {
        "Healthy" => ArgoHealth::Healthy,
        "Paused" => ArgoHealth::Suspended(or(message, "the Rollout is paused")),
        "Degraded" => ArgoHealth::Degraded {
            message: or(message, "the Rollout is degraded"),
            aborted: false,
        },
        "Progressing" => ArgoHealth::Progressing(or(message, "the Rollout is progressing")),
        _ => legacy(object),
    }
}

fn or(message: String, fallback: &str) -> String {
    if message.is_empty() {
        fallback.to_owned()
    } else {
        message
    }
}

/// Rollouts written by controllers before `status.phase` existed: pause conditions, then
/// replica counts.
fn legacy(object: &Value) -> ArgoHealth {
    let paused = object
        .pointer("/status/pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
        || object.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
    if paused {
        return ArgoHealth::Suspended("the Rollout is paused".into());
    }
    if object.get("status").is_none() {
        return ArgoHealth::Progressing("waiting for the Rollout's status".into());
    }
    let want = int(object, "/spec/replicas").unwrap_or(1);
    let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
    let available = int(object, "/status/availableReplicas").unwrap_or(0);
    if updated < want {
        ArgoHealth::Progressing(
            "waiting for roll out to finish: more replicas need to be updated".into(),
        )
    } else if available < updated {
        ArgoHealth::Progressing(
            "waiting for roll out to finish: updated replicas are still becoming available".into(),
        )
    } else {
        ArgoHealth::Healthy
    }
}

/// An `AnalysisRun` or `Experiment`: by phase.
#[must_use]
pub fn run(object: &Value) -> ArgoHealth {
    let message = text(object, "/status/message").to_owned();
    match text(object, "/status/phase") {
        "Successful" => ArgoHealth::Healthy,
        "Failed" | "Error" => ArgoHealth::Degraded {
            message: or(message, &format!("phase {}", text(object, "/status/phase"))),
            aborted: false,
        },
        "Inconclusive" => ArgoHealth::Unknown(or(message, "the analysis is inconclusive")),
        "" | "Pending" => ArgoHealth::Progressing(or(message, "pending")),
        phase => ArgoHealth::Progressing(or(message, &format!("phase {phase}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rollout_goes_through_its_phases_with_messages() {
        let mut r = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": "1", "phase": "Healthy"}});
        assert_eq!(
            rollout(&r).status(),
            "Progressing",
            "the new spec is not observed yet"
        );
        r["status"]["observedGeneration"] = json!("2");
        r["status"]["phase"] = json!("Progressing");
        r["status"]["message"] = json!("more replicas need to be updated");
        assert_eq!(
            rollout(&r),
            ArgoHealth::Progressing("more replicas need to be updated".into())
        );
        r["status"]["phase"] = json!("Paused");
        r["status"]["message"] = json!("CanaryPauseStep");
        assert_eq!(rollout(&r), ArgoHealth::Suspended("CanaryPauseStep".into()));
        r["status"]["phase"] = json!("Healthy");
        assert_eq!(rollout(&r), ArgoHealth::Healthy);
        r["status"]["abort"] = json!(true);
        r["status"]["phase"] = json!("Degraded");
        r["status"]["message"] = json!("RolloutAborted: metric error-rate failed");
        let aborted = rollout(&r);
        assert!(matches!(
            aborted,
            ArgoHealth::Degraded { aborted: true, .. }
        ));
        assert!(aborted.message().contains("metric error-rate failed"));
        assert_eq!(aborted.to_health().status(), "Degraded");
    }

    #[test]
    fn legacy_rollouts_and_runs_are_assessed() {
        let paused = json!({"status": {"pauseConditions": [{"reason": "CanaryPauseStep"}]}});
        assert_eq!(rollout(&paused).status(), "Suspended");
        let rolling = json!({"spec": {"replicas": 3}, "status": {"updatedReplicas": 1}});
        assert_eq!(rollout(&rolling).status(), "Progressing");
        assert_eq!(
            run(&json!({"status": {"phase": "Successful"}})),
            ArgoHealth::Healthy
        );
        assert_eq!(
            run(&json!({"status": {"phase": "Error"}})).status(),
            "Degraded"
        );
        assert_eq!(
            run(&json!({"status": {"phase": "Inconclusive"}})).status(),
            "Unknown"
        );
        assert_eq!(run(&json!({})).status(), "Progressing");
        assert_eq!(
            run(&json!({"status": {"phase": "Running"}}))
                .to_health()
                .status(),
            "Progressing"
        );
        assert!(is_argo_kind("argoproj.io", "Experiment"));
        assert!(!is_argo_kind("apps", "Rollout"));
    }
}
