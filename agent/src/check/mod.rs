//! `tether-agent check`: the configuration repository's one pre-merge gate. It finds what the
//! agent or the API server would refuse, before the pull request merges:
//!
//! 1. read the agent's own `tether.yaml` ([`config`]; found at the repository root without
//!    `--config`, and never read as a manifest), discover the apps as the agent does, and
//!    render each one ([`crate::render`]);
//! 2. check every encrypted value without a private key ([`encrypted`]);
//! 3. validate the manifests: required fields, names, duplicates ([`validate`]), and every
//!    object against the OpenAPI schema of its kind for the target Kubernetes version, as
//!    `kubeconform -strict` does ([`crate::schema`]; CRDs of the repository, `--schema-location`);
//! 4. run the policies ([`crate::policy`]) with the app's enforcement.
//!
//! The report ([`report`], [`formats`]) lists file, line, object, rule and message, as text,
//! JSON, JUnit XML, SARIF 2.1.0 or GitHub workflow commands. With `--changed-since REF` only
//! the apps whose rendered objects differ from REF's are checked, and each one's rendered diff
//! is printed ([`changed`]). Exit codes: 0 when nothing fails (warnings allowed), 1 when
//! something does, 2 for a usage or internal error.

pub mod changed;
pub mod config;
pub mod encrypted;
pub mod formats;
pub mod locate;
pub mod report;
pub mod run;
pub mod validate;

pub use report::{AppDiff, CheckReport, CheckedApp, Problem, Severity, Summary};
pub use run::CheckOptions;

use crate::policy::{self, PolicyConfig, PolicyError, SecretSource};
use crate::render;
use crate::schema::{SchemaError, SchemaOptions};
use crate::source::discovery::{DiscoveryConfig, DiscoveryError};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The rule name of render failures.
pub const RENDER_RULE: &str = "render";
/// The rule name of policy evaluation failures (limits, run-time errors).
pub const POLICY_RULE: &str = "policy";

/// Errors that stop a check (exit code 2). Problems of the checked content are not errors but
/// report entries.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The config file could not be read.
    #[error("config {path}: {source}")]
    ConfigReadFailed {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid.
    #[error("config {path}: {message}")]
    ConfigInvalid {
        /// The file.
        path: String,
        /// What is wrong (the parser names the field).
        message: String,
    },
    /// The agent's configuration file is not valid (the message names the field).
    #[error(transparent)]
    AgentConfigInvalid(crate::config::ConfigError),
    /// A configured recipient is not an age recipient.
    #[error("config: recipients[{index}]: {message}")]
    InvalidRecipient {
        /// Its index.
        index: usize,
        /// What is wrong.
        message: String,
    },
    /// A PATH argument is not a readable directory.
    #[error("{path}: {message}")]
    PathFailed {
        /// The path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// App discovery failed.
    #[error("{root}: app discovery: {source}")]
    DiscoveryFailed {
        /// The repository root.
        root: String,
        /// The cause.
        #[source]
        source: DiscoveryError,
    },
    /// The policies could not be loaded.
    #[error(transparent)]
    PolicyLoadFailed(#[from] PolicyError),
    /// The schemas could not be set up (unsupported version, unreadable schema location).
    #[error(transparent)]
    SchemasFailed(SchemaError),
    /// The base of `--changed-since` could not be read.
    #[error("--changed-since {reference}: {message}")]
    ChangedSinceFailed {
        /// The Git ref.
        reference: String,
        /// What failed.
        message: String,
    },
}

/// The older, check-only configuration (deprecated: `check` reads the agent's `tether.yaml`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CheckConfig {
    /// How apps are found in a repository; without it, each PATH is one app.
    #[serde(default)]
    pub apps: Option<DiscoveryConfig>,
    /// The recipients (`age1…`) encrypted values must be sealed to (empty: not checked).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The policies.
    #[serde(default)]
    pub policy: PolicyConfig,
}

impl CheckConfig {
    /// Parses a YAML config; `path` names it in errors.
    pub fn from_yaml(text: &str, path: &str) -> Result<Self, CheckError> {
        let config: Self =
            serde_saphyr::from_str(text).map_err(|err| CheckError::ConfigInvalid {
                path: path.to_owned(),
                message: err.to_string(),
            })?;
        for (index, recipient) in config.recipients.iter().enumerate() {
            tether_seal::keys::Recipient::parse(recipient, "recipients").map_err(|err| {
                CheckError::InvalidRecipient {
                    index,
                    message: err.to_string(),
                }
            })?;
        }
        Ok(config)
    }

    /// Reads and parses a YAML config file.
    pub fn read(path: &Path) -> Result<Self, CheckError> {
        let name = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|source| CheckError::ConfigReadFailed {
                path: name.clone(),
                source,
            })?;
        Self::from_yaml(&text, &name)
    }
}

/// Where a Secret's values come from, as far as the repository tells.
pub(crate) fn secret_source(object: &Value) -> SecretSource {
    if render::is_sops_object(object) {
        return SecretSource::Sops;
    }
    if policy::input::is_secret(object) {
        let values: Vec<&Value> = ["data", "stringData"]
            .iter()
            .filter_map(|f| object.get(*f).and_then(Value::as_object))
            .flat_map(|m| m.values())
            .collect();
        let reference = |v: &&Value| {
            v.as_str().is_some_and(|s| {
                s.starts_with("ref+vault://") || s.starts_with("ref+awssecrets://")
            })
        };
        if !values.is_empty() && values.iter().all(reference) {
            return SecretSource::External;
        }
    }
    SecretSource::None
}

pub(crate) fn is_sealed_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some(tether_seal::sealed::KIND)
        && object
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("tether.dev/"))
}

/// Checks `paths` under `settings`: every root's apps, into one report.
pub fn run(
    settings: &config::CheckSettings,
    options: &CheckOptions,
    paths: &[PathBuf],
    cwd: &Path,
) -> Result<CheckReport, CheckError> {
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_owned());
    let mut report = CheckReport::default();
    for (root, dir, shown) in run::roots(settings, paths, &cwd)? {
        let apps = run::find_apps(settings, &root, &dir, &shown)?;
        run::check_root(settings, options, &root, &apps, &mut report)?;
    }
    Ok(report)
}

/// The arguments of `tether-agent check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The agent's configuration file (`tether.yaml`: sources, apps, keys, policy); by default
    /// `tether.yaml` at the repository root when it is there. The older check-only format
    /// (`apps`, `recipients`, `policy`) still works, with a deprecation warning.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Check only the apps of this source of the configuration.
    #[arg(long)]
    pub source: Option<String>,
    /// The report format.
    #[arg(long, default_value = "text", value_parser = formats::FORMATS)]
    pub format: String,
    /// The Kubernetes version whose schemas objects are validated against (1.30 to 1.35;
    /// default: the newest).
    #[arg(long)]
    pub kubernetes_version: Option<String>,
    /// A directory of custom resource schemas in the CRDs-catalog layout
    /// (`{group}/{kind}_{version}.json`); may be repeated.
    #[arg(long = "schema-location")]
    pub schema_locations: Vec<PathBuf>,
    /// Fail on objects whose kind has no schema (default: a warning).
    #[arg(long)]
    pub strict_schemas: bool,
    /// Do not validate objects against schemas.
    #[arg(long, conflicts_with_all = ["strict_schemas", "kubernetes_version", "schema_locations"])]
    pub skip_schemas: bool,
    /// Check only the apps whose rendered objects differ from this Git ref's, and print each
    /// one's rendered diff against it (Secret values redacted).
    #[arg(long, value_name = "REF")]
    pub changed_since: Option<String>,
    /// Repository roots (with app generators) or app directories (without); default: the
    /// config file's directory, else `.`.
    pub paths: Vec<PathBuf>,
}

/// Runs the command: writes the report to `out` and errors and warnings to `err`, and
/// returns the exit code (0 clean, 1 problems, 2 usage or internal error).
pub fn command(args: &CheckArgs, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> u8 {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    match outcome(args, &cwd, err) {
        Ok(report) => {
            let text = formats::render(&report, &args.format);
            if let Err(e) = out.write_all(text.as_bytes()) {
                return if crate::output::closed_pipe(&e) {
                    crate::output::EXIT_CLOSED_PIPE
                } else {
                    2
                };
            }
            u8::from(report.failed())
        }
        Err(error) => {
            let _ = writeln!(err, "tether-agent: check: {error}");
            2
        }
    }
}

fn outcome(
    args: &CheckArgs,
    cwd: &Path,
    err: &mut dyn std::io::Write,
) -> Result<CheckReport, CheckError> {
    let search_root = args
        .paths
        .first()
        .map_or_else(|| cwd.to_owned(), |p| cwd.join(p));
    let settings = config::find(args.config.as_deref(), &search_root, args.source.as_deref())?;
    if settings.agent_format && settings.generators.is_empty() && args.paths.is_empty() {
        let path = settings
            .path
            .as_deref()
            .unwrap_or(Path::new(config::DEFAULT_CONFIG));
        let _ = writeln!(
            err,
            "tether-agent: check: warning: {}: no app generators (apps[]): nothing to check; pass app directories as PATH",
            path.display()
        );
    }
    for warning in &settings.warnings {
        let _ = writeln!(err, "tether-agent: check: warning: {warning}");
    }
    let mut options = CheckOptions {
        schemas: (!args.skip_schemas).then(|| SchemaOptions {
            kubernetes_version: args.kubernetes_version.clone(),
            schema_locations: args.schema_locations.clone(),
        }),
        strict_schemas: args.strict_schemas,
        only: None,
    };
    let Some(reference) = &args.changed_since else {
        return run(&settings, &options, &args.paths, cwd);
    };
    let changes = changed::changes_since(&settings, &args.paths, cwd, reference)?;
    options.only = Some(changes.apps());
    let mut report = run(&settings, &options, &args.paths, cwd)?;
    report.diffs = changes.diffs;
    Ok(report)
}
