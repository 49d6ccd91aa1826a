//! The check of one or more repository roots: discover the apps, render each, then check
//! every app's objects (encryption, manifests, schemas, policies). The CRDs of every app of a
//! root are schemas for the custom resources of all of them.

use super::config::CheckSettings;
use super::locate::Locator;
use super::report::{CheckReport, CheckedApp, Problem, Severity};
use super::{
    CheckError, POLICY_RULE, RENDER_RULE, encrypted, is_sealed_secret, secret_source, validate,
};
use crate::policy::{AppMeta, AppObject, ObjectRef, PolicySet};
use crate::render::{self, Object, RenderOptions};
use crate::schema::{self, Outcome, SchemaCatalog, SchemaOptions};
use crate::source::discovery;
use crate::tree::{FsTree, RelPath, Tree};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rule of an object that does not match its schema.
pub const SCHEMA_INVALID: &str = "schema.invalid";
/// The rule of an object whose kind has no schema.
pub const SCHEMA_MISSING: &str = "schema.missing";

/// How the check runs, beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Where schemas come from; `None` skips schema validation.
    pub schemas: Option<SchemaOptions>,
    /// A kind without a schema fails the check instead of warning.
    pub strict_schemas: bool,
    /// Check only these apps (`--changed-since`); `None` all.
    pub only: Option<BTreeSet<String>>,
}

/// One app to check: its metadata and its generator (if any).
#[derive(Debug, Clone)]
pub struct FoundApp {
    /// Name, namespace, path.
    pub meta: AppMeta,
    /// The generator's index.
    pub generator: Option<usize>,
}

/// The apps of one root: by the generators, or `dir` as one app.
pub fn find_apps(
    settings: &CheckSettings,
    root: &Path,
    dir: &Path,
    shown: &Path,
) -> Result<Vec<FoundApp>, CheckError> {
    if settings.generators.is_empty() {
        let relative = dir
            .strip_prefix(root)
            .unwrap_or(Path::new(""))
            .to_string_lossy()
            .into_owned();
        let name = dir
            .file_name()
            .map_or_else(|| "root".to_owned(), |n| n.to_string_lossy().into_owned());
        return Ok(vec![FoundApp {
            meta: AppMeta {
                name,
                namespace: None,
                path: relative,
                revision: String::new(),
            },
            generator: None,
        }]);
    }
    let tree = Tree::new(FsTree::new(root));
    let mut apps: Vec<FoundApp> = Vec::new();
    for (index, generator) in settings.generators.iter().enumerate() {
        let found = discovery::discover(&tree, &generator.discovery).map_err(|source| {
            CheckError::DiscoveryFailed {
                root: shown.display().to_string(),
                source,
            }
        })?;
        for app in found {
            if apps.iter().any(|a| a.meta.name == app.name) {
                continue;
            }
            apps.push(FoundApp {
                meta: AppMeta {
                    name: app.name,
                    namespace: app.namespace,
                    path: app.path.to_string(),
                    revision: String::new(),
                },
                generator: Some(index),
            });
        }
    }
    apps.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
    Ok(apps)
}

/// Renders one app of `tree`.
pub fn render_app(tree: &Tree, app: &AppMeta) -> Result<Vec<Object>, String> {
    let dir = RelPath::parse(&app.path).map_err(|e| e.to_string())?;
    render::render(tree, &dir, &RenderOptions::default()).map_err(|e| e.to_string())
}

/// Checks the apps of one root into `report`.
pub fn check_root(
    settings: &CheckSettings,
    options: &CheckOptions,
    root: &Path,
    apps: &[FoundApp],
    report: &mut CheckReport,
) -> Result<(), CheckError> {
    let tree = Tree::new(FsTree::new(root));
    let names: Vec<(String, usize)> = apps
        .iter()
        .filter_map(|a| a.generator.map(|g| (a.meta.name.clone(), g)))
        .collect();
    let policies = PolicySet::load(&settings.policy_for(&names), Some(&tree))?;
    // Every app is rendered, so that the CRDs of all of them are schemas for the custom
    // resources of the ones checked.
    let rendered: Vec<Result<Vec<Object>, String>> =
        apps.iter().map(|a| render_app(&tree, &a.meta)).collect();
    let catalog = match &options.schemas {
        Some(schema_options) => {
            let mut catalog =
                SchemaCatalog::new(schema_options).map_err(CheckError::SchemasFailed)?;
            catalog.add_crds(rendered.iter().flatten().flatten().map(|o| &o.value));
            Some(catalog)
        }
        None => None,
    };
    let mut locator = Locator::default();
    let selected = apps.iter().zip(rendered).filter(|(a, _)| {
        options
            .only
            .as_ref()
            .is_none_or(|only| only.contains(&a.meta.name))
    });
    for (app, objects) in selected {
        let start = report.problems.len();
        let object_names: Vec<String> = objects
            .iter()
            .flatten()
            .map(|o| ObjectRef::of(&o.value).to_string())
            .collect();
        let checked = match objects {
            Ok(objects) => {
                let context = AppCheck {
                    app: &app.meta,
                    policies: &policies,
                    recipients: &settings.recipients,
                    catalog: catalog.as_ref(),
                    strict_schemas: options.strict_schemas,
                };
                context.check(&objects, &mut report.problems)?;
                objects.len()
            }
            Err(message) => {
                report
                    .problems
                    .push(app_problem(&app.meta, RENDER_RULE, message));
                0
            }
        };
        for problem in &mut report.problems[start..] {
            if let (Some(file), Some(object)) = (&problem.file, &problem.object_ref) {
                problem.line = locator.line(root, file, object);
            }
        }
        report.apps.push(CheckedApp {
            name: app.meta.name.clone(),
            path: app.meta.path.clone(),
            namespace: app.meta.namespace.clone(),
            objects: checked,
            object_names,
        });
    }
    Ok(())
}

struct AppCheck<'a> {
    app: &'a AppMeta,
    policies: &'a PolicySet,
    recipients: &'a [String],
    catalog: Option<&'a SchemaCatalog>,
    strict_schemas: bool,
}

impl AppCheck<'_> {
    fn check(&self, objects: &[Object], problems: &mut Vec<Problem>) -> Result<(), CheckError> {
        let name = &self.app.name;
        let files: Vec<String> = objects.iter().map(|o| o.source.to_string()).collect();
        for (object, file) in objects.iter().zip(&files) {
            validate::check_object(name, Some(file), &object.value, problems);
            if render::is_sops_object(&object.value) {
                encrypted::check_sops(name, Some(file), &object.value, self.recipients, problems);
            } else if is_sealed_secret(&object.value) {
                encrypted::check_sealed(name, Some(file), &object.value, self.recipients, problems);
            }
        }
        validate::check_duplicates(
            name,
            objects
                .iter()
                .zip(&files)
                .map(|(o, f)| (Some(f.as_str()), &o.value)),
            problems,
        );
        if let Some(catalog) = self.catalog {
            // The schemas refuse every unknown field, at any depth; the top-level list of
            // the manifest checks is for runs without schemas.
            problems.retain(|p| p.app != *name || p.rule != validate::rules::UNKNOWN_FIELD);
            let pairs = objects
                .iter()
                .zip(&files)
                .map(|(o, f)| (&o.value, Some(f.as_str())));
            let findings =
                schema::app::validate_objects(catalog, pairs).map_err(CheckError::SchemasFailed)?;
            for finding in findings {
                self.schema_problems(&finding, objects, problems);
            }
        }
        let inputs: Vec<AppObject<'_>> = objects
            .iter()
            .zip(&files)
            .map(|(o, f)| {
                AppObject::new(&o.value, Some(f)).with_secret_source(secret_source(&o.value))
            })
            .collect();
        match self.policies.evaluate(self.app, &inputs) {
            Ok(result) => problems.extend(result.findings.into_iter().map(|finding| {
                Problem::new(
                    finding.severity,
                    name,
                    finding.file,
                    &finding.rule,
                    finding.message,
                )
                .with_object(finding.object)
            })),
            Err(err) => problems.push(app_problem(self.app, POLICY_RULE, err.to_string())),
        }
        Ok(())
    }

    fn schema_problems(
        &self,
        finding: &schema::app::ObjectFinding,
        objects: &[Object],
        problems: &mut Vec<Problem>,
    ) {
        let reference = objects
            .iter()
            .find(|o| {
                Some(o.source.to_string()) == finding.file
                    && ObjectRef::of(&o.value).to_string() == finding.object
            })
            .map(|o| ObjectRef::of(&o.value));
        let problem = |severity, rule: &str, message: String| {
            let mut problem = Problem::new(
                severity,
                &self.app.name,
                finding.file.clone(),
                rule,
                message,
            );
            if let Some(reference) = &reference {
                problem = problem.with_object(reference.clone());
            }
            problem
        };
        match &finding.outcome {
            Outcome::Invalid(errors) => problems.extend(
                errors
                    .iter()
                    .map(|e| problem(Severity::Deny, SCHEMA_INVALID, e.to_string())),
            ),
            Outcome::MissingSchema(gvk) => {
                let severity = if self.strict_schemas {
                    Severity::Deny
                } else {
                    Severity::Warn
                };
                problems.push(problem(
                    severity,
                    SCHEMA_MISSING,
                    format!("no schema for {gvk}: add its CRD to the repository or pass --schema-location"),
                ));
            }
            Outcome::Valid | Outcome::NotAnObject => {}
        }
    }
}

/// A problem about a whole app (render or policy failure).
pub fn app_problem(app: &AppMeta, rule: &str, message: String) -> Problem {
    let file = if app.path.is_empty() {
        ".".to_owned()
    } else {
        app.path.clone()
    };
    Problem::new(Severity::Deny, &app.name, Some(file), rule, message)
}

/// The roots to check and the directory each PATH names: with generators each PATH is a
/// repository root (default: the config file's directory, else `.`); without, each PATH is one
/// app, read inside `cwd` when it lies there (so Kustomize bases in `../` resolve).
pub fn roots(
    settings: &CheckSettings,
    paths: &[PathBuf],
    cwd: &Path,
) -> Result<Vec<(PathBuf, PathBuf, PathBuf)>, CheckError> {
    if paths.is_empty() && settings.agent_format && settings.generators.is_empty() {
        // The configuration's directory is no app: it holds tether.yaml, not manifests.
        return Ok(Vec::new());
    }
    let default = [settings
        .root()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let mut out = Vec::new();
    for path in paths {
        let absolute = canonical_dir(&cwd.join(path), path)?;
        // With app generators each path is a repository root; without, one app read inside
        // the current directory when it lies there (where CI runs, and where repository
        // policies are found), else inside the Git work tree that contains it, so that its
        // Kustomize bases in `../` resolve as `kubectl kustomize` resolves them.
        let root = if !settings.generators.is_empty() {
            absolute.clone()
        } else if absolute.starts_with(cwd) {
            cwd.to_owned()
        } else {
            crate::repo_root::repository_root(&absolute, cwd)
        };
        out.push((root, absolute, path.clone()));
    }
    Ok(out)
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
