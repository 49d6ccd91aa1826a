//! Health of applied objects, kstatus-like.
//!
//! Deployments, StatefulSets and DaemonSets are healthy once the controller observed the
//! latest generation and every replica is updated and available; Jobs when Complete (Failed
//! is Degraded); PVCs when Bound; CRDs when Established; anything with `status.conditions`
//! follows its `Ready` condition (`Stalled=True` is Degraded); everything else is healthy once
//! applied. The app's health is the worst of its objects'.

use serde::Serialize;
use serde_json::Value;

use super::object::ObjectRef;

/// The health of one object or an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "reason")]
pub enum Health {
    /// Ready.
    Healthy,
    /// Not ready yet, with why.
    Progressing(String),
    /// Failed, with why.
    Degraded(String),
}

impl Health {
    /// `Healthy`, `Progressing` or `Degraded`.
    pub fn status(&self) -> &'static str {
        match self {
            Self::Healthy => "Healthy",
            Self::Progressing(_) => "Progressing",
            Self::Degraded(_) => "Degraded",
        }
    }

    /// The reason (empty when healthy).
    pub fn reason(&self) -> &str {
        match self {
            Self::Healthy => "",
            Self::Progressing(r) | Self::Degraded(r) => r,
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Self::Healthy => 0,
            Self::Progressing(_) => 1,
            Self::Degraded(_) => 2,
        }
    }

    /// The worse of two healths (the first one on a tie).
    #[must_use]
    pub fn worst(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<(&'a str, &'a Value)> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .map(|c| (c.get("status").and_then(Value::as_str).unwrap_or(""), c))
}

fn message(c: &Value) -> String {
    let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
    let (reason, message) = (field("reason"), field("message"));
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_owned(),
        _ => message.to_owned(),
    }
}

/// The health of one live object.
pub fn assess(reference: &ObjectRef, object: &Value) -> Health {
    let generation = int(object, "/metadata/generation");
    let observed = int(object, "/status/observedGeneration");
    let stale = || generation.is_some_and(|g| observed.is_none_or(|o| o < g));
    match (reference.group.as_str(), reference.kind.as_str()) {
        ("apps", "Deployment") => {
            if let Some(("True", c)) = condition(object, "ReplicaFailure") {
                return Health::Degraded(format!("replica failure: {}", message(c)));
            }
            if let Some((_, c)) = condition(object, "Progressing")
                && c.get("reason").and_then(Value::as_str) == Some("ProgressDeadlineExceeded")
            {
                return Health::Degraded(format!("progress deadline exceeded: {}", message(c)));
            }
            if stale() {
                return Health::Progressing("the new generation is not observed yet".into());
            }
            let want = int(object, "/spec/replicas").unwrap_or(1);
            let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
            let available = int(object, "/status/availableReplicas").unwrap_or(0);
            let total = int(object, "/status/replicas").unwrap_or(0);
            if updated < want {
                Health::Progressing(format!("{updated}/{want} replicas updated"))
            } else if total > updated {
                Health::Progressing(format!(
                    "{} old replicas pending termination",
                    total - updated
                ))
            } else if available < want {
                Health::Progressing(format!("{available}/{want} replicas available"))
            } else {
                Health::Healthy
            }
        }
        ("apps", "StatefulSet") => {
            if stale() {
                return Health::Progressing("the new generation is not observed yet".into());
            }
            let want = int(object, "/spec/replicas").unwrap_or(1);
            let ready = int(object, "/status/readyReplicas").unwrap_or(0);
            let updated = int(object, "/status/updatedReplicas").unwrap_or(0);
            let current = object.pointer("/status/currentRevision");
            let update = object.pointer("/status/updateRevision");
            if updated < want {
                Health::Progressing(format!("{updated}/{want} replicas updated"))
            } else if ready < want {
                Health::Progressing(format!("{ready}/{want} replicas ready"))
            } else if update.is_some() && current != update {
                Health::Progressing("the rolling update is not finished".into())
            } else {
                Health::Healthy
            }
        }
        ("apps", "DaemonSet") => {
            if stale() {
                return Health::Progressing("the new generation is not observed yet".into());
            }
            let want = int(object, "/status/desiredNumberScheduled").unwrap_or(0);
            let updated = int(object, "/status/updatedNumberScheduled").unwrap_or(0);
            let available = int(object, "/status/numberAvailable").unwrap_or(0);
            if updated < want {
                Health::Progressing(format!("{updated}/{want} pods updated"))
            } else if available < want {
                Health::Progressing(format!("{available}/{want} pods available"))
            } else {
                Health::Healthy
            }
        }
        ("batch", "Job") => job(object),
        (group, kind) if crate::rollout::argo::is_argo_kind(group, kind) => {
            crate::rollout::argo::assess(kind, object).to_health()
        }
        ("", "PersistentVolumeClaim") => {
            match object.pointer("/status/phase").and_then(Value::as_str) {
                Some("Bound") => Health::Healthy,
                Some("Lost") => Health::Degraded("the claim lost its volume".into()),
                other => Health::Progressing(format!("phase {}", other.unwrap_or("Pending"))),
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            match condition(object, "Established") {
                Some(("True", _)) => Health::Healthy,
                _ => Health::Progressing("not Established yet".into()),
            }
        }
        _ => generic(object),
    }
}

/// The health of a Job: Complete, Failed, or still running.
pub fn job(object: &Value) -> Health {
    if let Some(("True", c)) = condition(object, "Failed") {
        return Health::Degraded(format!("the Job failed: {}", message(c)));
    }
    match condition(object, "Complete") {
        Some(("True", _)) => Health::Healthy,
        _ => Health::Progressing("the Job has not completed".into()),
    }
}

fn generic(object: &Value) -> Health {
    if let Some(("True", c)) = condition(object, "Stalled") {
        return Health::Degraded(format!("stalled: {}", message(c)));
    }
    match condition(object, "Ready") {
        Some(("False", c)) => Health::Progressing(format!("not Ready: {}", message(c))),
        Some(("True", _)) | None => Health::Healthy,
        Some((_, c)) => Health::Progressing(format!("Ready is unknown: {}", message(c))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(api_version: &str, kind: &str) -> ObjectRef {
        ObjectRef::from_object(
            0,
            &json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}),
        )
        .expect("valid")
    }

    #[test]
    fn a_deployment_is_healthy_once_rolled_out_and_available() {
        let d = r("apps/v1", "Deployment");
        let mut live = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(assess(&d, &live).status(), "Progressing");
        live["status"]["observedGeneration"] = json!(2);
        assert_eq!(assess(&d, &live), Health::Healthy);
        live["status"]["availableReplicas"] = json!(1);
        assert_eq!(
            assess(&d, &live),
            Health::Progressing("1/2 replicas available".into())
        );
        live["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert_eq!(assess(&d, &live).status(), "Degraded");
    }

    #[test]
    fn jobs_pvcs_and_conditions() {
        let failed = json!({"status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert_eq!(
            assess(&r("batch/v1", "Job"), &failed),
            Health::Degraded("the Job failed: BackoffLimitExceeded".into())
        );
        assert_eq!(
            assess(
                &r("v1", "PersistentVolumeClaim"),
                &json!({"status": {"phase": "Bound"}})
            ),
            Health::Healthy
        );
        assert_eq!(
            assess(&r("v1", "PersistentVolumeClaim"), &json!({})).status(),
            "Progressing"
        );
        let not_ready = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "message": "waiting"}]}});
        assert_eq!(
            assess(&r("example.com/v1", "Widget"), &not_ready),
            Health::Progressing("not Ready: waiting".into())
        );
        assert_eq!(assess(&r("v1", "ConfigMap"), &json!({})), Health::Healthy);
        assert_eq!(
            Health::Healthy.worst(Health::Degraded("x".into())).status(),
            "Degraded"
        );
    }
}
