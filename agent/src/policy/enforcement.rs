//! The policy configuration: which bundles, how strictly per app, parameters and limits.
//!
//! ```yaml
//! policy:
//!   defaultBundle: true            # the bundle shipped in the binary (policies/ in the repo)
//!   disabledPackages: [tether.image_tags]
//!   enforcement: enforce           # enforce | warn | off, for every app ...
//!   apps:
//!     legacy: {enforcement: warn}  # ... unless overridden per app
//!     monitoring: {parameters: {allowedNamespaces: [kube-system]}}
//!   directories:
//!     - repository: policies/custom     # read from the synced commit
//!     - mounted: /etc/tether/policies   # read from a mounted volume
//!   parameters: {allowedNamespaces: []}
//!   limits: {maxObjectsPerApp: 5000, maxObjectBytes: 1048576, evaluationTimeout: 2s}
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

/// How an app's policy results are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    /// `deny`/`violation` results block the app's sync.
    #[default]
    Enforce,
    /// `deny`/`violation` results are reported as warnings; nothing is blocked.
    Warn,
    /// Policies are not evaluated for the app.
    Off,
}

/// Per-app overrides.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppPolicyConfig {
    /// The app's enforcement (default: the global one).
    #[serde(default)]
    pub enforcement: Option<Enforcement>,
    /// Parameters merged over the global ones (top-level keys replace).
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// A directory of extra `.rego` files.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum PolicyDirectory {
    /// A directory of the synced repository, read through its snapshot.
    Repository(String),
    /// A directory on the agent's file system (a mounted ConfigMap or volume).
    Mounted(std::path::PathBuf),
}

/// Bounds on one evaluation.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyLimits {
    /// The most objects of one app that are evaluated; an app with more is refused.
    #[serde(default = "default_max_objects")]
    pub max_objects_per_app: usize,
    /// The largest object (as compact JSON) that is evaluated; a larger one is refused.
    #[serde(default = "default_max_object_bytes")]
    pub max_object_bytes: usize,
    /// How long the evaluation of one object may take (`2s`, `500ms`).
    #[serde(default = "default_timeout", with = "duration_text")]
    pub evaluation_timeout: Duration,
    /// The largest policy file that is loaded.
    #[serde(default = "default_max_policy_bytes")]
    pub max_policy_bytes: u64,
    /// The most policy files loaded from all directories together.
    #[serde(default = "default_max_policy_files")]
    pub max_policy_files: usize,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        Self {
            max_objects_per_app: default_max_objects(),
            max_object_bytes: default_max_object_bytes(),
            evaluation_timeout: default_timeout(),
            max_policy_bytes: default_max_policy_bytes(),
            max_policy_files: default_max_policy_files(),
        }
    }
}

fn default_max_objects() -> usize {
    5000
}
fn default_max_object_bytes() -> usize {
    1024 * 1024
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_max_policy_bytes() -> u64 {
    1024 * 1024
}
fn default_max_policy_files() -> usize {
    1000
}
fn default_true() -> bool {
    true
}

/// The policy section of the agent's configuration.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyConfig {
    /// Whether the default bundle is loaded (default: yes).
    #[serde(default = "default_true")]
    pub default_bundle: bool,
    /// Packages (`tether.image_tags`, `main`) whose rules are not evaluated.
    #[serde(default)]
    pub disabled_packages: Vec<String>,
    /// The enforcement of every app without an override.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Per-app overrides, by app name.
    #[serde(default)]
    pub apps: BTreeMap<String, AppPolicyConfig>,
    /// Extra policy directories.
    #[serde(default)]
    pub directories: Vec<PolicyDirectory>,
    /// Parameters, visible to policies as `data.tether.parameters`.
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
    /// Evaluation bounds.
    #[serde(default)]
    pub limits: PolicyLimits,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            default_bundle: true,
            disabled_packages: Vec::new(),
            enforcement: Enforcement::default(),
            apps: BTreeMap::new(),
            directories: Vec::new(),
            parameters: serde_json::Map::new(),
            limits: PolicyLimits::default(),
        }
    }
}

impl PolicyConfig {
    /// The enforcement of `app`.
    #[must_use]
    pub fn enforcement_for(&self, app: &str) -> Enforcement {
        self.apps
            .get(app)
            .and_then(|a| a.enforcement)
            .unwrap_or(self.enforcement)
    }

    /// The parameters of `app`: the global ones with the app's merged over them.
    #[must_use]
    pub fn parameters_for(&self, app: &str) -> serde_json::Map<String, serde_json::Value> {
        let mut merged = self.parameters.clone();
        if let Some(overrides) = self.apps.get(app) {
            for (key, value) in &overrides.parameters {
                merged.insert(key.clone(), value.clone());
            }
        }
        merged
    }
}

/// Durations written as `30s`, `5m`, `500ms`, `1h`.
pub(crate) mod duration_text {
    use std::time::Duration;

    /// Parses `500ms`, `30s`, `5m`, `1h`.
    pub(crate) fn parse(text: &str) -> Option<Duration> {
        let text = text.trim();
        let split = text.find(|c: char| !c.is_ascii_digit())?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().ok()?;
        match unit {
            "ms" => Some(Duration::from_millis(number)),
            "s" => Some(Duration::from_secs(number)),
            "m" => number.checked_mul(60).map(Duration::from_secs),
            "h" => number.checked_mul(3600).map(Duration::from_secs),
            _ => None,
        }
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Duration, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?}: expected e.g. 500ms, 2s, 1m"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_overrides_win_over_the_global_enforcement_and_parameters() {
        let config: PolicyConfig = serde_json::from_value(serde_json::json!({
            "enforcement": "enforce",
            "parameters": {"allowedNamespaces": ["a"], "other": 1},
            "apps": {"legacy": {"enforcement": "warn", "parameters": {"allowedNamespaces": ["b"]}}},
            "limits": {"evaluationTimeout": "500ms"}
        }))
        .unwrap();
        assert_eq!(config.enforcement_for("legacy"), Enforcement::Warn);
        assert_eq!(config.enforcement_for("shop"), Enforcement::Enforce);
        let params = config.parameters_for("legacy");
        assert_eq!(params["allowedNamespaces"], serde_json::json!(["b"]));
        assert_eq!(params["other"], serde_json::json!(1));
        assert_eq!(config.limits.evaluation_timeout, Duration::from_millis(500));
        assert!(config.default_bundle);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err = serde_json::from_value::<PolicyConfig>(serde_json::json!({"enforcment": "warn"}))
            .unwrap_err();
        assert!(err.to_string().contains("enforcment"), "{err}");
    }
}
