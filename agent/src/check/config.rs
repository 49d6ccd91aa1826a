//! What `check` reads its settings from: the agent's own `tether.yaml` (sources, app
//! generators with their discovery and templates, keys, policy, limits), or the older
//! check-only format (`apps` as one discovery rule, `recipients`, `policy`), which still works
//! for one release with a deprecation warning.
//!
//! Without `--config`, `tether.yaml` at the repository root is read when it is there; it is
//! the agent's configuration, never a manifest.

use super::CheckError;
use crate::config::{Config, ConfigError};
use crate::policy::{Enforcement, PolicyConfig};
use crate::source::discovery::DiscoveryConfig;
use std::path::{Path, PathBuf};

/// The file name looked for at the repository root.
pub const DEFAULT_CONFIG: &str = "tether.yaml";

/// One app generator: how apps are found, and its policy enforcement.
#[derive(Debug, Clone)]
pub struct Generator {
    /// The discovery rules and templates.
    pub discovery: DiscoveryConfig,
    /// The generator's enforcement (an explicit `policy.apps` entry wins).
    pub enforcement: Option<Enforcement>,
}

/// The settings of a check, from either format.
#[derive(Debug, Clone, Default)]
pub struct CheckSettings {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    /// Whether it is the agent's format (its apps are the generators' only).
    pub agent_format: bool,
    /// The app generators; none: each PATH is one app.
    pub generators: Vec<Generator>,
    /// The recipients encrypted values must be sealed to (empty: not checked).
    pub recipients: Vec<String>,
    /// The policies.
    pub policy: PolicyConfig,
    /// Notes for the user (deprecations, keys not readable here).
    pub warnings: Vec<String>,
}

impl CheckSettings {
    /// The directory the configuration's apps are found under: the config file's directory
    /// (as `plan --offline` reads it).
    #[must_use]
    pub fn root(&self) -> Option<&Path> {
        self.path.as_deref().and_then(Path::parent).map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
    }

    /// The policy settings with each discovered app's generator enforcement.
    #[must_use]
    pub fn policy_for(&self, apps: &[(String, usize)]) -> PolicyConfig {
        let mut policy = self.policy.clone();
        for (name, generator) in apps {
            if let Some(enforcement) = self.generators.get(*generator).and_then(|g| g.enforcement) {
                policy
                    .apps
                    .entry(name.clone())
                    .or_default()
                    .enforcement
                    .get_or_insert(enforcement);
            }
        }
        policy
    }
}

/// Reads a config file in either format; `source` keeps only the generators of that source.
pub fn read(path: &Path, source: Option<&str>) -> Result<CheckSettings, CheckError> {
    let name = path.display().to_string();
    let agent = match Config::load(path) {
        Ok(config) => return from_agent(&config, path, source),
        Err(err @ ConfigError::ReadFailed { .. }) => {
            return Err(CheckError::AgentConfigInvalid(err));
        }
        Err(err) => err,
    };
    // The older check-only format.
    let text = std::fs::read_to_string(path).map_err(|source| CheckError::ConfigReadFailed {
        path: name.clone(),
        source,
    })?;
    match super::CheckConfig::from_yaml(&text, &name) {
        Ok(legacy) => Ok(CheckSettings {
            path: Some(path.to_owned()),
            agent_format: false,
            generators: legacy
                .apps
                .into_iter()
                .map(|discovery| Generator {
                    discovery,
                    enforcement: None,
                })
                .collect(),
            recipients: legacy.recipients,
            policy: legacy.policy,
            warnings: vec![format!(
                "{name}: the check-only config format is deprecated and will be removed in the next release; \
                 point --config at the agent's tether.yaml instead"
            )],
        }),
        // The older format, with a bad value: its own error.
        Err(err @ CheckError::InvalidRecipient { .. }) => Err(err),
        // Neither: the agent's format is the one to fix.
        Err(_) => Err(CheckError::AgentConfigInvalid(agent)),
    }
}

fn from_agent(
    config: &Config,
    path: &Path,
    source: Option<&str>,
) -> Result<CheckSettings, CheckError> {
    if let Some(wanted) = source
        && !config.sources.iter().any(|s| s.name == wanted)
    {
        return Err(CheckError::ConfigInvalid {
            path: path.display().to_string(),
            message: format!("--source {wanted}: no such source in sources[]"),
        });
    }
    let generators = config
        .apps
        .iter()
        .filter(|g| source.is_none() || config.source_of(g).map(|s| s.name.as_str()) == source)
        .map(|g| Generator {
            discovery: Config::discovery(g),
            enforcement: g.policy,
        })
        .collect();
    let mut warnings = Vec::new();
    let mut recipients = Vec::new();
    for file in &config.keys.files {
        let mut ring = crate::secrets::keys::KeyRing::new();
        match ring.add_file(file) {
            Ok(()) => recipients.extend(ring.recipients().iter().map(ToString::to_string)),
            Err(_) => warnings.push(format!(
                "keys.files: {} is not readable here; the recipients of encrypted values are not checked against it",
                file.display()
            )),
        }
    }
    Ok(CheckSettings {
        path: Some(path.to_owned()),
        agent_format: true,
        generators,
        recipients,
        policy: config.policy.clone(),
        warnings,
    })
}

/// The config to use: `--config`, else `tether.yaml` in `root` when it is there.
pub fn find(
    explicit: Option<&Path>,
    root: &Path,
    source: Option<&str>,
) -> Result<CheckSettings, CheckError> {
    match explicit {
        Some(path) => read(path, source),
        None => {
            let candidate = root.join(DEFAULT_CONFIG);
            if candidate.is_file() {
                read(&candidate, source)
            } else {
                Ok(CheckSettings::default())
            }
        }
    }
}
