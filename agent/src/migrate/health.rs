//! Which applied objects gate an app's health, and for how long: an app's `health:` block,
//! what Flux's `spec.wait`, `spec.healthChecks` and `spec.timeout` become.
//!
//! ```yaml
//! health:
//!   timeout: 2m          # instead of limits.healthTimeout
//!   objects:             # only these objects are assessed (absent: every applied object)
//!     - {group: apps, kind: Deployment, namespace: shop, name: web}
//! ```
//!
//! Flux's meaning, kept: `wait: true` assesses every applied object (and `healthChecks` are
//! then not read); `healthChecks` alone assess only the objects named; neither assesses none
//! (the app is healthy once applied); `timeout` bounds the wait.

use crate::sync::{HealthGate, Target};
use serde::{Deserialize, Serialize};

/// An app's `health:` block.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HealthConfig {
    /// How long applied objects may take to become healthy (`30s`, `5m`); default
    /// `limits.healthTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The only objects whose health is assessed; absent: every applied object; empty: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<Vec<Target>>,
}

/// Errors of a `health:` block.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// `timeout` is not a duration.
    #[error("health.timeout: {0:?} is not a duration (500ms, 30s, 5m, 1h)")]
    InvalidTimeout(String),
}

impl HealthConfig {
    /// The engine's view of the block.
    pub fn gate(&self) -> Result<HealthGate, HealthError> {
        let timeout = match &self.timeout {
            None => None,
            Some(text) => Some(
                crate::config::parse_duration(text)
                    .ok_or_else(|| HealthError::InvalidTimeout(crate::text::clip(text).into()))?,
            ),
        };
        Ok(HealthGate {
            timeout,
            only: self.objects.clone(),
        })
    }
}

/// Flux's `wait`, `healthChecks` and `timeout` of a Kustomization's spec as a `health:`
/// block; `Err((field, problem))` names what cannot be read.
pub fn from_flux(
    spec: &serde_json::Map<String, serde_json::Value>,
) -> Result<HealthConfig, (String, String)> {
    let timeout = match spec.get("timeout") {
        None => None,
        Some(serde_json::Value::String(text)) => {
            if crate::config::parse_duration(text).is_none() {
                return Err(("spec.timeout".into(), "not a duration".into()));
            }
            Some(text.clone())
        }
        Some(_) => return Err(("spec.timeout".into(), "not a string".into())),
    };
    let wait = match spec.get("wait") {
        None => false,
        Some(serde_json::Value::Bool(wait)) => *wait,
        Some(_) => return Err(("spec.wait".into(), "not a boolean".into())),
    };
    if wait {
        return Ok(HealthConfig {
            timeout,
            objects: None,
        });
    }
    let mut objects = Vec::new();
    let checks = spec.get("healthChecks").cloned().unwrap_or_default();
    if !checks.is_null() && !checks.is_array() {
        return Err(("spec.healthChecks".into(), "not a list".into()));
    }
    for (index, check) in checks.as_array().into_iter().flatten().enumerate() {
        let field = |f: &str| format!("spec.healthChecks[{index}].{f}");
        let Some(fields) = check.as_object() else {
            return Err((
                format!("spec.healthChecks[{index}]"),
                "not a mapping".into(),
            ));
        };
        if let Some(other) = fields
            .keys()
            .find(|k| !["apiVersion", "kind", "name", "namespace"].contains(&k.as_str()))
        {
            return Err((field(other), "unknown field".into()));
        }
        let text = |f: &str| -> Result<Option<String>, (String, String)> {
            match fields.get(f) {
                None => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err((field(f), "not a string".into())),
            }
        };
        let (Some(kind), Some(name)) = (text("kind")?, text("name")?) else {
            return Err((field("kind"), "kind and name are required".into()));
        };
        let (group, version) = match text("apiVersion")? {
            Some(api) => match api.rsplit_once('/') {
                Some((g, v)) => (Some(g.to_owned()), Some(v.to_owned())),
                None => (Some(String::new()), Some(api)),
            },
            None => (None, None),
        };
        objects.push(Target {
            group,
            version,
            kind: Some(kind),
            namespace: text("namespace")?,
            name: Some(name),
        });
    }
    Ok(HealthConfig {
        timeout,
        objects: Some(objects),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn wait_assesses_every_object_and_ignores_health_checks() {
        let health = from_flux(&spec(json!({"wait": true, "timeout": "3m",
            "healthChecks": [{"kind": "Deployment", "name": "web"}]})))
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(health.objects, None);
        let gate = health.gate().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(gate.timeout, Some(std::time::Duration::from_secs(180)));
        assert_eq!(gate.only, None);
    }

    #[test]
    fn health_checks_name_the_only_objects_assessed() {
        let health = from_flux(&spec(json!({"healthChecks": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop"},
            {"apiVersion": "v1", "kind": "Service", "name": "web"}]})))
        .unwrap_or_else(|e| panic!("{e:?}"));
        let only = health.objects.unwrap_or_default();
        assert_eq!(only.len(), 2);
        assert_eq!(only[0].group.as_deref(), Some("apps"));
        assert_eq!(only[0].namespace.as_deref(), Some("shop"));
        assert_eq!(only[1].group.as_deref(), Some(""));
        assert_eq!(only[1].version.as_deref(), Some("v1"));
    }

    #[test]
    fn neither_wait_nor_health_checks_assesses_nothing() {
        let health = from_flux(&spec(json!({"path": "./x"}))).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(health.objects, Some(Vec::new()));
        assert_eq!(health.timeout, None);
    }

    #[test]
    fn bad_health_fields_are_named() {
        for (value, field) in [
            (json!({"timeout": "soon"}), "spec.timeout"),
            (json!({"wait": "yes"}), "spec.wait"),
            (
                json!({"healthChecks": [{"kind": "Deployment"}]}),
                "spec.healthChecks[0].kind",
            ),
            (
                json!({"healthChecks": [{"kind": "D", "name": "w", "cel": "x"}]}),
                "spec.healthChecks[0].cel",
            ),
        ] {
            let err = from_flux(&spec(value)).err().unwrap_or_default();
            assert_eq!(err.0, field);
        }
        let bad = HealthConfig {
            timeout: Some("x".into()),
            objects: None,
        };
        assert!(bad.gate().is_err());
    }
}
