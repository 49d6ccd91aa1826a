//! The daemon's discovery of apps from Argo CD and Flux objects in a snapshot, with no
//! `tether import` step: each `import:` entry of the configuration names a source, the tool
//! and the directories to read (`clusters/production`), and every round reads them again.
//!
//! ```yaml
//! import:
//!   - source: config
//!     from: flux                   # or argocd
//!     paths: [clusters/production]
//!     urls: [ssh://git@github.com/acme/fleet]   # other URLs that mean this source
//! ```
//!
//! Typed input: an [`ImportSpec`], the source's [`SourceSpec`] and the snapshot's [`Tree`];
//! output: [`Discovered`], app generators exactly as `tether-agent import` prints them (the
//! same [`super::map`]) and the errors naming each object and field that could not be mapped.
//! The directories an Application or Kustomization points to are rendered and the
//! Applications, Kustomizations and GitRepositories they hold followed (app of apps,
//! `flux bootstrap`'s `clusters/<name>` pointing at further Kustomizations); such a holder is
//! not an app itself.

use super::{Found, From, MigrateError, Outcome};
use crate::config::{AppGenerator, Config, SourceSpec};
use crate::render::RenderOptions;
use crate::tree::{RelPath, Tree};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;

/// The most directories followed from one entry.
const MAX_FOLLOWED: usize = 256;

/// One `import:` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportSpec {
    /// The source read (the only source when omitted).
    #[serde(default)]
    pub source: Option<String>,
    /// Whose objects: `argocd` or `flux`.
    pub from: From,
    /// The directories to read (default: the whole snapshot).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Remote URLs (Argo CD `repoURL`, Flux `GitRepository` `url`) that mean this source,
    /// besides the source's own `url`.
    #[serde(default)]
    pub urls: Vec<String>,
}

/// What one entry found in a snapshot.
#[derive(Debug, Default)]
pub struct Discovered {
    /// The app generators, as `tether-agent import` prints them.
    pub apps: Vec<AppGenerator>,
    /// What could not be mapped.
    pub errors: Vec<MigrateError>,
}

/// The configuration with the apps imported from `tree` (a snapshot of `source`) added to
/// its generators; `None` when no `import:` entry reads that source. Errors are logged: an
/// object that cannot be mapped is not an app, and never stops the others.
#[must_use]
pub fn effective(config: &Config, source: &str, tree: &Tree) -> Option<Config> {
    effective_with_errors(config, source, tree).0
}

/// The configuration the apps of `source` in `tree` are discovered and prepared with: the
/// configured one, with the apps its `import:` entries read from `tree` added. What
/// discovers or prepares an app outside a sync round (`tether-agent plan`, a rollback, the
/// web UI's inspector) uses it, so that an imported app is found there as in the round.
#[must_use]
pub fn with_imported<'a>(
    config: &'a Config,
    source: &str,
    tree: &Tree,
) -> std::borrow::Cow<'a, Config> {
    match effective(config, source, tree) {
        Some(config) => std::borrow::Cow::Owned(config),
        None => std::borrow::Cow::Borrowed(config),
    }
}

/// [`effective`], with the errors that name an app (an Application or Kustomization that
/// could not be mapped): `(app, message)`, for that app's status.
#[must_use]
pub fn effective_with_errors(
    config: &Config,
    source: &str,
    tree: &Tree,
) -> (Option<Config>, Vec<(String, String)>) {
    let (out, errors) = effective_reporting(config, source, tree);
    (out, errors.named)
}

/// The errors of reading a source's `import:` entries, for status and Events.
#[derive(Debug, Default)]
pub struct ImportErrors {
    /// `(app, message)`: errors about an Application, ApplicationSet or Kustomization, shown
    /// as that app's status.
    pub named: Vec<(String, String)>,
    /// Errors that name no app (a `paths` entry that is invalid, missing or holds no object
    /// of the tool, a file that does not parse), shown on the source's import status.
    pub unnamed: Vec<String>,
}

/// [`effective`], with every error: those naming an app and the others.
#[must_use]
pub fn effective_reporting(
    config: &Config,
    source: &str,
    tree: &Tree,
) -> (Option<Config>, ImportErrors) {
    let mut errors = ImportErrors::default();
    let out = effective_inner(config, source, tree, &mut errors);
    (out, errors)
}

/// The app an import error is about: the name of the Application, ApplicationSet or
/// Kustomization (or the mapped app) when it is a DNS label.
#[must_use]
pub fn app_of(error: &MigrateError) -> Option<String> {
    let MigrateError::Unmappable { object, .. } = error else {
        return None;
    };
    let (kind, rest) = object.split_once(' ')?;
    if !matches!(
        kind,
        "Application" | "ApplicationSet" | "Kustomization" | "app"
    ) {
        return None;
    }
    let name = rest.rsplit('/').next()?;
    crate::config::is_dns_label(name).then(|| name.to_owned())
}

fn effective_inner(
    config: &Config,
    source: &str,
    tree: &Tree,
    reported: &mut ImportErrors,
) -> Option<Config> {
    let entries: Vec<&ImportSpec> = config
        .import
        .iter()
        .filter(|spec| {
            let named = spec
                .source
                .as_deref()
                .or_else(|| config.sources.first().map(|s| s.name.as_str()));
            named == Some(source)
        })
        .collect();
    let spec = config.sources.iter().find(|s| s.name == source)?;
    if entries.is_empty() {
        return None;
    }
    let mut out = config.clone();
    for entry in entries {
        let found = discover(entry, spec, tree);
        for error in &found.errors {
            let text = error.to_string();
            tracing::warn!(source, error = %crate::text::clip_message(&text), "an imported object is not an app");
            let message = crate::text::clip_message(&text).into_owned();
            match app_of(error) {
                Some(app) => reported.named.push((app, message)),
                None => reported.unnamed.push(message),
            }
        }
        out.apps.extend(found.apps);
    }
    Some(out)
}

/// Reads the objects of `spec` in `tree` and maps them.
#[must_use]
pub fn discover(spec: &ImportSpec, source: &SourceSpec, tree: &Tree) -> Discovered {
    let mut errors = Vec::new();
    let mut dirs = Vec::new();
    let entry = |index: usize, path: &str, problem: &str| MigrateError::Unmappable {
        object: format!("import of source {} (from {:?})", source.name, spec.from),
        file: crate::text::clip_message(path).into_owned(),
        field: format!("paths[{index}]"),
        problem: problem.to_owned(),
    };
    for (index, path) in spec.paths.iter().enumerate() {
        match super::clean_path(path).map(|p| RelPath::parse(&p)) {
            Some(Ok(dir)) => match tree.kind(&dir) {
                Ok(Some(_)) => dirs.push((index, dir)),
                Ok(None) => errors.push(entry(index, path, "not found in the repository")),
                Err(err) => errors.push(entry(index, path, &err.to_string())),
            },
            _ => errors.push(entry(index, path, "not a directory inside the repository")),
        }
    }
    if spec.paths.is_empty() {
        dirs.push((0, RelPath::root()));
    }
    let (indexes, dirs): (Vec<usize>, Vec<RelPath>) = dirs.into_iter().unzip();
    let (mut found, scan_errors) = super::scan_tree(tree, &dirs);
    errors.extend(scan_errors);
    if !spec.paths.is_empty() {
        for (index, dir) in indexes.iter().zip(&dirs) {
            if !found.iter().any(|f| holds(dir, f, spec.from)) {
                let problem = match spec.from {
                    From::Flux => "holds no Flux Kustomization or GitRepository",
                    From::Argocd => "holds no Argo CD Application or ApplicationSet",
                };
                errors.push(entry(*index, dir.as_str(), problem));
            }
        }
    }
    let holders = follow(tree, &dirs, &mut found);
    let mut outcome = super::map(spec.from, &found, errors, Some(tree));
    outcome.imported.apps.retain(|app| {
        !app.directories
            .iter()
            .any(|d| !d.exclude && holders.contains(&d.path))
    });
    super::refuse_bad_names(&mut outcome);
    to_generators(outcome, spec, source)
}

/// Whether `found` was read under `dir` and is an object of the tool `from`.
fn holds(dir: &RelPath, found: &Found, from: From) -> bool {
    let under = dir.is_root()
        || found.file == dir.as_str()
        || found.file.starts_with(&format!("{}/", dir.as_str()));
    let group = found.group();
    let tool = match from {
        From::Flux => group.ends_with(".toolkit.fluxcd.io"),
        From::Argocd => group == "argoproj.io",
    };
    under && tool
}

/// The directory an Application or Flux Kustomization points to.
fn target_path(found: &Found) -> Option<String> {
    let value = &found.value;
    let path = match (found.group(), found.kind()) {
        ("argoproj.io", "Application") => value["spec"]["source"]["path"].as_str(),
        ("kustomize.toolkit.fluxcd.io", "Kustomization") => value["spec"]["path"].as_str(),
        _ => None,
    }?;
    super::clean_path(path)
}

fn is_tool_object(value: &Value) -> bool {
    let api = value["apiVersion"].as_str().unwrap_or_default();
    let kind = value["kind"].as_str().unwrap_or_default();
    matches!(
        (api.rsplit_once('/').map_or("", |(g, _)| g), kind),
        ("argoproj.io", "Application" | "ApplicationSet")
            | ("kustomize.toolkit.fluxcd.io", "Kustomization")
            | ("source.toolkit.fluxcd.io", "GitRepository")
    )
}

/// Renders the directories the found objects point to (outside `dirs`, already read) and adds
/// the tool objects they hold; returns the directories that hold tool objects.
fn follow(tree: &Tree, dirs: &[RelPath], found: &mut Vec<Found>) -> BTreeSet<String> {
    let mut holders = BTreeSet::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut next = 0;
    while next < found.len() && seen.len() < MAX_FOLLOWED {
        // The bootstrap Kustomization is never followed: `paths` say what to read.
        let bootstrap =
            found[next].name() == "flux-system" && found[next].namespace() == "flux-system";
        let Some(path) = target_path(&found[next]).filter(|_| !bootstrap) else {
            next += 1;
            continue;
        };
        next += 1;
        if !seen.insert(path.clone()) {
            continue;
        }
        let Ok(dir) = RelPath::parse(&path) else {
            continue;
        };
        let inside = dirs.iter().any(|d| dir.starts_with(d));
        // A directory that does not render is an app whose sync reports why.
        let Ok(objects) = crate::render::render(tree, &dir, &RenderOptions::default()) else {
            continue;
        };
        let (tools, others): (Vec<Found>, Vec<Found>) = objects
            .into_iter()
            .map(|o| Found {
                file: o.source.to_string(),
                value: o.value,
            })
            .partition(|f| is_tool_object(&f.value));
        // ConfigMaps and Secrets a Kustomization's `postBuild.substituteFrom` may read from Git.
        if !inside {
            found.extend(others.into_iter().filter(|f| {
                f.value["apiVersion"] == "v1" && matches!(f.kind(), "ConfigMap" | "Secret")
            }));
        }
        if tools.is_empty() {
            continue;
        }
        holders.insert(path);
        if !inside {
            for tool in tools {
                let duplicate = found.iter().any(|f| {
                    f.kind() == tool.kind()
                        && f.name() == tool.name()
                        && f.namespace() == tool.namespace()
                });
                if !duplicate {
                    found.push(tool);
                }
            }
        }
    }
    holders
}

/// The mapped apps of this source as app generators; apps of other repositories are errors.
fn to_generators(outcome: Outcome, spec: &ImportSpec, source: &SourceSpec) -> Discovered {
    let mut errors = outcome.errors;
    let ours: Vec<&str> = outcome
        .imported
        .sources
        .iter()
        .filter(|s| {
            same_repository(&s.url, &source.url)
                || spec.urls.iter().any(|u| same_repository(u, &s.url))
        })
        .map(|s| s.name.as_str())
        .collect();
    let mut apps = Vec::new();
    for app in outcome.imported.apps {
        if !app.source.is_empty() && !ours.contains(&app.source.as_str()) {
            let url = outcome
                .imported
                .sources
                .iter()
                .find(|s| s.name == app.source)
                .map_or("", |s| s.url.as_str());
            errors.push(MigrateError::Unmappable {
                object: format!("app {}", app.name),
                file: app
                    .directories
                    .first()
                    .map(|d| d.path.clone())
                    .unwrap_or_default(),
                field: "source".to_owned(),
                problem: format!(
                    "{url:?} is not source {} (list it in import[].urls)",
                    source.name
                ),
            });
            continue;
        }
        let mut value = match serde_json::to_value(&app) {
            Ok(value) => value,
            Err(err) => {
                errors.push(generator_error(&app.name, &err.to_string()));
                continue;
            }
        };
        value["source"] = Value::String(source.name.clone());
        match serde_json::from_value::<AppGenerator>(value) {
            Ok(generator) => apps.push(generator),
            Err(err) => errors.push(generator_error(&app.name, &err.to_string())),
        }
    }
    Discovered { apps, errors }
}

fn generator_error(app: &str, message: &str) -> MigrateError {
    MigrateError::Unmappable {
        object: format!("app {app}"),
        file: String::new(),
        field: "apps".to_owned(),
        problem: crate::text::clip_message(message).into_owned(),
    }
}

/// Whether two remote URLs name the same repository (`.git` and a trailing `/` aside).
fn same_repository(a: &str, b: &str) -> bool {
    let norm = |u: &str| {
        u.trim_end_matches('/')
            .trim_end_matches(".git")
            .to_ascii_lowercase()
    };
    norm(a) == norm(b)
}

#[cfg(test)]
#[path = "live_tests.rs"]
mod tests;
