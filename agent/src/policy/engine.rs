//! The compiled policy set and its evaluation.
//!
//! All policy files are parsed and analysed once, in [`PolicySet::load`]; evaluating an app
//! clones the prepared engine (a reference count, the compiled policies are shared) and runs
//! one query per object that collects every decision rule at once.

use super::PolicyError;
use super::bundle::{self, PolicyFile, ReadLimits};
use super::enforcement::{Enforcement, PolicyConfig, PolicyDirectory, PolicyLimits};
use super::input::{self, AppMeta, AppObject, ObjectRef};
use super::report::{self, Finding, Report, Severity};
use crate::tree::Tree;
use regorus::Value as RegoValue;
use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU32;

/// The fields of `data.tether` that Tether fills in for each evaluation; no policy package
/// may be declared there.
pub const RESERVED_DATA: [&str; 4] = ["app", "object", "objects", "parameters"];

/// The binding the evaluation query collects results into.
const RESULTS: &str = "tether_results__";

/// A rule whose results are findings: `deny`, `violation`, `warn`, or one of them followed by
/// `_` and a suffix (conftest's conventions).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DecisionRule {
    /// `tether.host_access`.
    package: String,
    /// `deny`.
    name: String,
}

impl DecisionRule {
    fn severity(&self) -> Severity {
        if self.name.starts_with("warn") {
            Severity::Warn
        } else {
            Severity::Deny
        }
    }

    fn path(&self) -> String {
        format!("{}.{}", self.package, self.name)
    }
}

/// The policies, compiled once and shared by every evaluation. Cheap to share between
/// threads (`&self` evaluation).
pub struct PolicySet {
    engine: regorus::Engine,
    rules: Vec<DecisionRule>,
    query: String,
    config: PolicyConfig,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("rules", &self.rules())
            .finish_non_exhaustive()
    }
}

impl PolicySet {
    /// Loads the bundles `config` selects: the default one, then each directory in order.
    /// Repository directories are read from `repository` (an error when it is `None`).
    pub fn load(config: &PolicyConfig, repository: Option<&Tree>) -> Result<Self, PolicyError> {
        let mut files = if config.default_bundle {
            bundle::default_bundle()
        } else {
            Vec::new()
        };
        let limits = ReadLimits {
            max_file_bytes: config.limits.max_policy_bytes,
            max_files: config.limits.max_policy_files,
        };
        for directory in &config.directories {
            match directory {
                PolicyDirectory::Repository(dir) => {
                    let tree =
                        repository.ok_or_else(|| PolicyError::NoRepository { dir: dir.clone() })?;
                    bundle::read_repository_dir(tree, dir, limits, &mut files)?;
                }
                PolicyDirectory::Mounted(dir) => bundle::read_mounted_dir(dir, limits, &mut files)?,
            }
        }
        Self::from_files(files, config)
    }

    /// Compiles `files` (in order) under `config`'s enforcement, parameters and limits;
    /// `config.default_bundle` and `config.directories` are not consulted.
    pub fn from_files(files: Vec<PolicyFile>, config: &PolicyConfig) -> Result<Self, PolicyError> {
        let mut engine = regorus::Engine::new();
        let mut seen = HashSet::new();
        let mut rules = BTreeSet::new();
        let disabled = |package: &str| {
            config.disabled_packages.iter().any(|d| {
                package == d
                    || package
                        .strip_prefix(d.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        };
        for file in files {
            if !seen.insert(file.path.clone()) {
                return Err(PolicyError::DuplicateFile { file: file.path });
            }
            let package = engine
                .add_policy(file.path.clone(), file.text.clone())
                .map_err(|err| compile_error(Some(&file.path), &err))?;
            let package = package.strip_prefix("data.").unwrap_or(&package).to_owned();
            check_package(&file.path, &package)?;
            if disabled(&package) {
                continue;
            }
            for name in rule_candidates(&file.text) {
                let declared = engine
                    .has_declared_rule_rooted_at(&file.path, &name)
                    .map_err(|err| compile_error(Some(&file.path), &err))?;
                if declared {
                    rules.insert(DecisionRule {
                        package: package.clone(),
                        name,
                    });
                }
            }
        }
        let check_interval = NonZeroU32::new(64).unwrap_or(NonZeroU32::MIN);
        engine.set_execution_timer_config(regorus::utils::limits::ExecutionTimerConfig {
            limit: config.limits.evaluation_timeout,
            check_interval,
        });
        let rules: Vec<DecisionRule> = rules.into_iter().collect();
        let query = build_query(&rules);
        // Analysis (unsafe variables, recursion) happens on the first evaluation and unknown
        // functions are found when a rule is evaluated: evaluate every decision rule once on an
        // empty object now, so that a broken policy fails the load, not an app.
        let empty = serde_json::json!({
            "object": {},
            "tether": {"app": {}, "object": {}, "objects": [], "parameters": {}}
        });
        engine.set_input(RegoValue::from(empty));
        let warm_up = if rules.is_empty() {
            "true".to_owned()
        } else {
            query.clone()
        };
        if let Err(err) = engine.eval_query(warm_up, false)
            && !err
                .chain()
                .any(|cause| cause.downcast_ref::<regorus::LimitError>().is_some())
        {
            return Err(compile_error(None, &err));
        }
        Ok(Self {
            engine,
            rules,
            query,
            config: config.clone(),
        })
    }

    /// The decision rules found, as data paths (`tether.host_access.deny`).
    #[must_use]
    pub fn rules(&self) -> Vec<String> {
        self.rules.iter().map(DecisionRule::path).collect()
    }

    /// The configuration the set was loaded with.
    #[must_use]
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Evaluates every object of one app under the app's enforcement. Errors (limits, a
    /// policy that fails at run time) name the app and object; a denial is not an error here
    /// but a finding: see [`Report::check`].
    pub fn evaluate(
        &self,
        app: &AppMeta,
        objects: &[AppObject<'_>],
    ) -> Result<Report, PolicyError> {
        let enforcement = self.config.enforcement_for(&app.name);
        let mut report = Report {
            app: app.name.clone(),
            enforcement,
            objects: 0,
            findings: Vec::new(),
        };
        if enforcement == Enforcement::Off || self.rules.is_empty() {
            return Ok(report);
        }
        let limits: &PolicyLimits = &self.config.limits;
        if objects.len() > limits.max_objects_per_app {
            return Err(PolicyError::TooManyObjects {
                app: app.name.clone(),
                count: objects.len(),
                limit: limits.max_objects_per_app,
            });
        }
        let documents = redacted_documents(app, objects, limits)?;
        let shared = Shared {
            all: RegoValue::from(documents.clone()),
            app: RegoValue::from(serde_json::to_value(app).unwrap_or_default()),
            parameters: RegoValue::from(serde_json::Value::Object(
                self.config.parameters_for(&app.name),
            )),
        };
        let mut engine = self.engine.clone();
        for (object, document) in objects.iter().zip(documents) {
            engine.set_input(shared.input(object, document));
            let per_rule = self.eval_one(&mut engine, app, object)?;
            self.add_findings(&mut report, object, per_rule);
            report.objects += 1;
        }
        Ok(report)
    }

    /// Each rule's messages for one object, as findings of `out` (a deny is a warning
    /// under `warn` enforcement).
    fn add_findings(
        &self,
        out: &mut Report,
        object: &AppObject<'_>,
        per_rule: Vec<serde_json::Value>,
    ) {
        let enforcement = out.enforcement;
        let reference = ObjectRef::of(object.object);
        for (rule, outcome) in self.rules.iter().zip(per_rule) {
            // `[v | v := rule]`: empty when the rule is undefined, else its one value.
            for value in outcome.as_array().into_iter().flatten() {
                let items = match value {
                    serde_json::Value::Array(items) => items.clone(),
                    other => vec![other.clone()],
                };
                for message in items.iter().filter_map(report::message_of) {
                    let (severity, downgraded) = match (rule.severity(), enforcement) {
                        (Severity::Deny, Enforcement::Warn) => (Severity::Warn, true),
                        (severity, _) => (severity, false),
                    };
                    out.findings.push(Finding {
                        severity,
                        downgraded,
                        rule: rule.path(),
                        object: reference.clone(),
                        file: object.file.map(str::to_owned),
                        message,
                    });
                }
            }
        }
    }

    /// Evaluates the query on the engine's input (one object): each rule's outcome, in order.
    fn eval_one(
        &self,
        engine: &mut regorus::Engine,
        app: &AppMeta,
        object: &AppObject<'_>,
    ) -> Result<Vec<serde_json::Value>, PolicyError> {
        let results = engine
            .eval_query(self.query.clone(), false)
            .map_err(|err| {
                let object = ObjectRef::of(object.object).to_string();
                match err
                    .chain()
                    .find_map(|cause| cause.downcast_ref::<regorus::LimitError>())
                {
                    Some(_) => PolicyError::TimedOut {
                        app: app.name.clone(),
                        object,
                        limit: self.config.limits.evaluation_timeout,
                    },
                    None => PolicyError::EvaluationFailed {
                        app: app.name.clone(),
                        object,
                        message: flatten(&err),
                    },
                }
            })?;
        let values = results
            .result
            .first()
            .and_then(|r| {
                r.bindings
                    .as_object()
                    .ok()
                    .and_then(|b| b.get(&RegoValue::from(RESULTS)).cloned())
            })
            .and_then(|v| serde_json::to_value(&v).ok())
            .unwrap_or_default();
        Ok(values.as_array().cloned().unwrap_or_default())
    }
}

/// The parts of every object's input that are the same for the whole app.
struct Shared {
    all: RegoValue,
    app: RegoValue,
    parameters: RegoValue,
}

impl Shared {
    /// `input` for one object: `{object, tether: {app, object, objects, parameters}}`.
    fn input(&self, object: &AppObject<'_>, document: RegoValue) -> RegoValue {
        let mut tether = RegoValue::new_object();
        let mut wrapper = RegoValue::new_object();
        if let (Ok(t), Ok(w)) = (tether.as_object_mut(), wrapper.as_object_mut()) {
            t.insert(RegoValue::from("app"), self.app.clone());
            t.insert(
                RegoValue::from("object"),
                RegoValue::from(input::object_meta(object)),
            );
            t.insert(RegoValue::from("objects"), self.all.clone());
            t.insert(RegoValue::from("parameters"), self.parameters.clone());
            w.insert(RegoValue::from("object"), document);
            w.insert(RegoValue::from("tether"), tether);
        }
        wrapper
    }
}

/// The app's objects with their secret values redacted, each within the size limit.
fn redacted_documents(
    app: &AppMeta,
    objects: &[AppObject<'_>],
    limits: &PolicyLimits,
) -> Result<Vec<RegoValue>, PolicyError> {
    let mut documents = Vec::with_capacity(objects.len());
    for object in objects {
        let redacted = input::redact(object.object);
        let size = serde_json::to_vec(&redacted).map_or(usize::MAX, |bytes| bytes.len());
        if size > limits.max_object_bytes {
            return Err(PolicyError::ObjectTooLarge {
                app: app.name.clone(),
                object: ObjectRef::of(object.object).to_string(),
                size,
                limit: limits.max_object_bytes,
            });
        }
        documents.push(RegoValue::from(redacted));
    }
    Ok(documents)
}

/// The one query of an evaluation: every decision rule's value in a list (a comprehension, so
/// that an undefined rule is an empty list rather than an undefined query), with `input`
/// replaced by the object and `data.tether.*` by Tether's metadata.
fn build_query(rules: &[DecisionRule]) -> String {
    let parts: Vec<String> = rules
        .iter()
        .map(|r| format!("[v | v := data.{}]", r.path()))
        .collect();
    let mut query = format!(
        "{RESULTS} := [{}] with input as input.object",
        parts.join(", ")
    );
    for field in RESERVED_DATA {
        query.push_str(&format!(
            " with data.tether.{field} as input.tether.{field}"
        ));
    }
    query
}

/// Names that may be decision rules: `deny`, `violation`, `warn`, with or without a `_suffix`,
/// at the start of a line. The engine confirms each one.
fn rule_candidates(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start();
        for prefix in ["deny", "violation", "warn"] {
            if let Some(rest) = line.strip_prefix(prefix) {
                let suffix: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if suffix.is_empty() || suffix.starts_with('_') {
                    names.insert(format!("{prefix}{suffix}"));
                }
            }
        }
    }
    names
}

fn check_package(file: &str, package: &str) -> Result<(), PolicyError> {
    let valid = package
        .split('.')
        .all(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'));
    if !valid {
        return Err(PolicyError::UnsupportedPackage {
            file: file.to_owned(),
            package: package.to_owned(),
        });
    }
    let mut components = package.split('.');
    if components.next() == Some("tether")
        && let Some(second) = components.next()
        && RESERVED_DATA.contains(&second)
    {
        return Err(PolicyError::ReservedPackage {
            file: file.to_owned(),
            package: package.to_owned(),
        });
    }
    Ok(())
}

/// An engine error as one line.
fn flatten(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A load or analysis error, with the file, line and column the engine points at.
fn compile_error(file: Option<&str>, err: &anyhow::Error) -> PolicyError {
    let text = format!("{err:#}");
    let location = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("--> "))
        .and_then(|loc| {
            let mut parts = loc.rsplitn(3, ':');
            let column = parts.next()?.parse::<u32>().ok()?;
            let line = parts.next()?.parse::<u32>().ok()?;
            Some((parts.next()?.to_owned(), line, column))
        });
    let message = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("error: "))
        .collect::<Vec<_>>()
        .join("; ");
    let message = if message.is_empty() {
        flatten(err)
    } else {
        message
    };
    match location {
        Some((file, line, column)) => PolicyError::CompileFailed {
            file,
            line,
            column,
            message,
        },
        None => PolicyError::CompileFailed {
            file: file.unwrap_or("policy bundle").to_owned(),
            line: 0,
            column: 0,
            message,
        },
    }
}
