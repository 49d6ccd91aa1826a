//! `tether-agent check`: the configuration repository's CI gate. It finds what the agent
//! would refuse, before the pull request merges:
//!
//! 1. discover the apps (the `apps` discovery rules of the config; without them each PATH is
//!    one app) and render each one ([`crate::render`]);
//! 2. check every encrypted value without a private key ([`encrypted`]);
//! 3. validate the manifests: required fields, names, duplicates, unknown top-level fields of
//!    built-in kinds ([`validate`]);
//! 4. run the policies ([`crate::policy`]) with the app's enforcement.
//!
//! The report ([`report`]) lists file, object, rule and message, as text or JSON. Exit codes:
//! 0 when nothing fails (warnings allowed), 1 when something does, 2 for a usage or internal
//! error (unreadable config, a policy that does not compile, a path that does not exist).
//!
//! The config file (YAML):
//! ```yaml
//! apps:                          # app discovery, as the agent does it
//!   directories: [{path: "apps/*/overlays/production"}]
//!   name: "{{path[1]}}"
//!   namespace: "{{path[1]}}"
//! recipients: [age1...]          # the clusters' public keys (optional)
//! policy: {enforcement: enforce} # the agent's policy section
//! ```

pub mod encrypted;
pub mod report;
pub mod validate;

pub use report::{CheckReport, CheckedApp, Problem, Severity, Summary};

use crate::policy::{self, AppMeta, AppObject, PolicyConfig, PolicyError, PolicySet, SecretSource};
use crate::render::{self, RenderOptions};
use crate::source::discovery::{self, DiscoveryConfig, DiscoveryError};
use crate::tree::{FsTree, RelPath, Tree};
use serde_json::Value;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
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
}

/// The configuration of a check.
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

/// Checks `paths` (default: the current directory) under `config`. With discovery rules,
/// each path is a repository root; without, each path is one app, read inside `cwd` when it
/// lies there (so that Kustomize bases in `../` resolve) or else inside itself.
pub fn run(config: &CheckConfig, paths: &[PathBuf], cwd: &Path) -> Result<CheckReport, CheckError> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut report = CheckReport::default();
    let mut policy_sets: HashMap<PathBuf, PolicySet> = HashMap::new();
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_owned());
    for path in paths {
        let absolute = canonical_dir(&cwd.join(path), path)?;
        let (root, apps) = match &config.apps {
            Some(rules) => {
                let tree = Tree::new(FsTree::new(&absolute));
                let found = discovery::discover(&tree, rules).map_err(|source| {
                    CheckError::DiscoveryFailed {
                        root: path.display().to_string(),
                        source,
                    }
                })?;
                let apps = found
                    .into_iter()
                    .map(|app| AppMeta {
                        name: app.name,
                        namespace: app.namespace,
                        path: app.path.to_string(),
                        revision: String::new(),
                    })
                    .collect();
                (absolute, apps)
            }
            None => {
                let root = crate::repo_root::repository_root(&absolute, &cwd);
                let relative = absolute
                    .strip_prefix(&root)
                    .unwrap_or(Path::new(""))
                    .to_string_lossy()
                    .into_owned();
                let name = absolute
                    .file_name()
                    .map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned());
                (
                    root,
                    vec![AppMeta {
                        name,
                        namespace: None,
                        path: relative,
                        revision: String::new(),
                    }],
                )
            }
        };
        let tree = Tree::new(FsTree::new(&root));
        let policies = match policy_sets.entry(root) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(PolicySet::load(&config.policy, Some(&tree))?),
        };
        for app in apps {
            check_app(&tree, &app, policies, &config.recipients, &mut report);
        }
    }
    Ok(report)
}

fn canonical_dir(absolute: &Path, shown: &Path) -> Result<PathBuf, CheckError> {
    let failed = |message: &str| CheckError::PathFailed {
        path: shown.display().to_string(),
        message: message.to_owned(),
    };
    let canonical = absolute
        .canonicalize()
        .map_err(|_| failed("no such directory"))?;
    if !canonical.is_dir() {
        return Err(failed("not a directory"));
    }
    Ok(canonical)
}

/// Where a Secret's values come from, as far as the repository tells.
fn secret_source(object: &Value) -> SecretSource {
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

fn is_sealed_secret(object: &Value) -> bool {
    object.get("kind").and_then(Value::as_str) == Some(tether_seal::sealed::KIND)
        && object
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("tether.dev/"))
}

fn check_app(
    tree: &Tree,
    app: &AppMeta,
    policies: &PolicySet,
    recipients: &[String],
    report: &mut CheckReport,
) {
    let mut checked = CheckedApp {
        name: app.name.clone(),
        path: app.path.clone(),
        namespace: app.namespace.clone(),
        objects: 0,
    };
    let problems = &mut report.problems;
    let dir = match RelPath::parse(&app.path) {
        Ok(dir) => dir,
        Err(err) => {
            problems.push(app_problem(app, RENDER_RULE, err.to_string()));
            report.apps.push(checked);
            return;
        }
    };
    let objects = match render::render(tree, &dir, &RenderOptions::default()) {
        Ok(objects) => objects,
        Err(err) => {
            problems.push(app_problem(app, RENDER_RULE, err.to_string()));
            report.apps.push(checked);
            return;
        }
    };
    checked.objects = objects.len();
    let files: Vec<String> = objects.iter().map(|o| o.source.to_string()).collect();
    for (object, file) in objects.iter().zip(&files) {
        validate::check_object(&app.name, Some(file), &object.value, problems);
        if render::is_sops_object(&object.value) {
            encrypted::check_sops(&app.name, Some(file), &object.value, recipients, problems);
        } else if is_sealed_secret(&object.value) {
            encrypted::check_sealed(&app.name, Some(file), &object.value, recipients, problems);
        }
    }
    validate::check_duplicates(
        &app.name,
        objects
            .iter()
            .zip(&files)
            .map(|(o, f)| (Some(f.as_str()), &o.value)),
        problems,
    );
    let inputs: Vec<AppObject<'_>> = objects
        .iter()
        .zip(&files)
        .map(|(o, f)| AppObject::new(&o.value, Some(f)).with_secret_source(secret_source(&o.value)))
        .collect();
    match policies.evaluate(app, &inputs) {
        Ok(result) => problems.extend(result.findings.into_iter().map(|finding| Problem {
            severity: finding.severity,
            app: app.name.clone(),
            file: finding.file,
            object: Some(finding.object.to_string()),
            rule: finding.rule,
            message: finding.message,
        })),
        Err(err) => problems.push(app_problem(app, POLICY_RULE, err.to_string())),
    }
    report.apps.push(checked);
}

fn app_problem(app: &AppMeta, rule: &str, message: String) -> Problem {
    Problem {
        severity: Severity::Deny,
        app: app.name.clone(),
        file: Some(if app.path.is_empty() {
            ".".to_owned()
        } else {
            app.path.clone()
        }),
        object: None,
        rule: rule.to_owned(),
        message,
    }
}

/// The arguments of `tether-agent check`.
#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// The config file (YAML: `apps` discovery rules, `recipients`, `policy`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The report format.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
    /// Repository roots (with discovery rules) or app directories (without); default `.`.
    pub paths: Vec<PathBuf>,
}

/// Runs the command: writes the report to `out` and errors to `err`, and returns the exit
/// code (0 clean, 1 problems, 2 usage or internal error).
pub fn command(args: &CheckArgs, out: &mut dyn std::io::Write, err: &mut dyn std::io::Write) -> u8 {
    let config = match &args.config {
        Some(path) => CheckConfig::read(path),
        None => Ok(CheckConfig::default()),
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let outcome = config.and_then(|config| run(&config, &args.paths, &cwd));
    match outcome {
        Ok(report) => {
            let text = if args.format == "json" {
                report.to_json() + "\n"
            } else {
                report.to_text()
            };
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
