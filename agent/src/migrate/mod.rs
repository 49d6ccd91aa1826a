//! Reading an Argo CD or Flux repository as it is: the `Application`, `GitRepository` and
//! `Kustomization` objects found in a directory become Tether sources and app generators.
//!
//! Typed input: [`Found`], every object read (not applied) from the repository's YAML files.
//! Typed output: [`Imported`], the `tether.yaml` (`sources` and `apps`) the daemon's
//! discovery already understands, printed by `tether-agent import --from argocd|flux DIR`.
//! A field that has no Tether equivalent is a [`MigrateError`] naming the object and the
//! field; it is never ignored, and one object's error never stops the others.

mod appset;
mod appset_files;
pub mod argocd;
mod argocd_helm;
mod argocd_source;
mod argocd_sources;
pub mod envsubst;
pub mod flux;
pub mod health;
pub mod live;
pub mod overlay;
pub mod postbuild;
mod renders;
mod scan;
pub mod substitute_from;
pub mod transform;

pub use scan::{Found, scan, scan_tree};

use crate::sync::IgnoreRule;
use serde::Serialize;

/// Errors of reading a repository's Argo CD or Flux objects.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A file of the directory could not be read or parsed.
    #[error("{file}: {message}")]
    ReadFailed {
        /// The file, relative to the directory.
        file: String,
        /// What went wrong.
        message: String,
    },
    /// A field has no Tether equivalent or holds a value that cannot be mapped.
    #[error("{object} ({file}): {field}: {problem}")]
    Unmappable {
        /// `Kind namespace/name`.
        object: String,
        /// The file it was read from.
        file: String,
        /// The field (`spec.postBuild.substitute`).
        field: String,
        /// Why it cannot be mapped.
        problem: String,
    },
}

/// Which tool's objects to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum From {
    /// Argo CD `Application` objects.
    Argocd,
    /// Flux `GitRepository` and `Kustomization` objects.
    Flux,
}

/// The `tether.yaml` equivalent of what was found.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Imported {
    /// The Git sources.
    pub sources: Vec<ImportedSource>,
    /// One app generator per imported app, in dependency order.
    pub apps: Vec<ImportedApp>,
}

/// A `sources[]` entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImportedSource {
    /// The source's name.
    pub name: String,
    /// The remote URL.
    pub url: String,
    /// `main`, `tag:NAME`, `semver:RANGE`, `commit:ID`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The polling interval (`1m`).
    pub interval: String,
    /// Credential files: the Flux secret's keys, mounted as files.
    #[serde(skip_serializing_if = "Credentials::is_empty")]
    pub credentials: Credentials,
    /// Files left out of the snapshot, gitignore patterns on top of Flux's defaults (a Flux
    /// `GitRepository`'s `spec.ignore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
}

/// A source's credential files.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// HTTP user name file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// HTTP password file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// SSH private key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_private_key: Option<String>,
    /// SSH known_hosts file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh_known_hosts: Option<String>,
}

impl Credentials {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The files of a Secret `name` mounted at `/etc/tether/sources/NAME`, for a URL.
    fn mounted(secret: &str, url: &str) -> Self {
        let dir = format!("/etc/tether/sources/{secret}");
        if url.starts_with("ssh://") || url.contains('@') && !url.starts_with("http") {
            Self {
                ssh_private_key: Some(format!("{dir}/identity")),
                ssh_known_hosts: Some(format!("{dir}/known_hosts")),
                ..Self::default()
            }
        } else {
            Self {
                username: Some(format!("{dir}/username")),
                password: Some(format!("{dir}/password")),
                ..Self::default()
            }
        }
    }
}

/// An `apps[]` entry: one directory, one app.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImportedApp {
    /// The source's name (empty: the repository that holds the Application, a chart app).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The app's directory.
    pub directories: Vec<ImportedDirectory>,
    /// The app's name (literal).
    pub name: String,
    /// The target namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Create the target namespace when missing.
    pub create_namespace: bool,
    /// Delete objects that left Git.
    pub prune: bool,
    /// Revert drift at once.
    pub self_heal: bool,
    /// Fields left out of drift detection.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<IgnoreRule>,
    /// Kustomize transforms over the app's render (patches, images, name prefix, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<overlay::Overlay>,
    /// The app's directory is a Helm chart rendered with these settings (the `helm:` block).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub helm: Option<serde_json::Value>,
    /// Variables substituted in the render (Flux's `postBuild`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_build: Option<postbuild::PostBuild>,
    /// Apps that must be synced and healthy before this one syncs (Flux's `dependsOn`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Neither synced nor pruned (Flux's `suspend: true`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Which objects gate the app's health, and for how long (Flux's `wait`, `healthChecks`,
    /// `timeout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<health::HealthConfig>,
}

/// A `directories[]` entry.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImportedDirectory {
    /// The directory (or glob), relative to the repository root.
    pub path: String,
    /// Whether the entry excludes the directories it matches.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub exclude: bool,
}

/// What an import produced: the config of everything mapped, and every error.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The mapped sources and apps.
    pub imported: Imported,
    /// The objects (or fields) that could not be mapped.
    pub errors: Vec<MigrateError>,
    /// Chart sources Tether does not read (Flux `HelmChart`, Argo CD charts from Helm
    /// repositories) refused.
    pub charts_refused: usize,
    /// Apps that are suspended (`suspend: true`: neither synced nor pruned).
    pub suspended: Vec<String>,
    /// Fields accepted with a different meaning in Tether, for the reviewer.
    pub notes: Vec<String>,
}

impl Outcome {
    /// The `tether.yaml` text: the notes, charts and suspended apps as comments, then the
    /// sources and apps.
    pub fn to_yaml(&self) -> Result<String, String> {
        let mut out = String::from("# Imported by tether-agent import: review before use.\n");
        for note in &self.notes {
            out.push_str(&format!("# note: {}\n", crate::text::clip_message(note)));
        }
        for app in &self.suspended {
            out.push_str(&format!("# suspended (suspend: true): {app}\n"));
        }
        if self.charts_refused > 0 {
            out.push_str(&format!(
                "# chart sources refused (not supported): {}\n",
                self.charts_refused
            ));
        }
        out.push_str(&serde_saphyr::to_string(&self.imported).map_err(|e| e.to_string())?);
        Ok(out)
    }
}

/// Reads `dir` and maps the objects of `from`.
#[must_use]
pub fn import(from: From, dir: &std::path::Path) -> Outcome {
    let (found, errors) = scan(dir);
    let tree = dir
        .canonicalize()
        .ok()
        .map(|root| crate::tree::Tree::new(crate::tree::FsTree::new(root)));
    let mut outcome = map(from, &found, errors, tree.as_ref());
    renders::refuse_foreign_renders(dir, &mut outcome);
    refuse_bad_names(&mut outcome);
    outcome
}

/// The one mapping of found objects to sources and apps, shared by `import` and the
/// daemon's discovery ([`live`]); `errors` are the scan's, `tree` the repository (read by
/// ApplicationSet git files generators).
#[must_use]
pub fn map(
    from: From,
    found: &[Found],
    errors: Vec<MigrateError>,
    tree: Option<&crate::tree::Tree>,
) -> Outcome {
    let mut outcome = match from {
        From::Flux => flux::map(found),
        From::Argocd => argocd::map(found, tree),
    };
    let mut all = errors;
    all.append(&mut outcome.errors);
    outcome.errors = all;
    outcome
}

/// Tether names apps and sources with DNS labels: an imported name that is not one is an
/// error (a templated app name is checked when the agent discovers the app).
pub(crate) fn refuse_bad_names(outcome: &mut Outcome) {
    use crate::config::is_dns_label;
    let problem = "not a DNS label (lower-case letters, digits and '-', at most 63)";
    let apps = std::mem::take(&mut outcome.imported.apps);
    for app in apps {
        if app.name.contains("{{") || is_dns_label(&app.name) {
            outcome.imported.apps.push(app);
        } else {
            outcome.errors.push(MigrateError::Unmappable {
                object: format!("app {}", app.name),
                file: app.directories[0].path.clone(),
                field: "metadata.name".to_owned(),
                problem: problem.to_owned(),
            });
        }
    }
    for source in &outcome.imported.sources {
        if !is_dns_label(&source.name) {
            outcome.errors.push(MigrateError::Unmappable {
                object: format!("source {}", source.name),
                file: source.url.clone(),
                field: "metadata.name".to_owned(),
                problem: problem.to_owned(),
            });
        }
    }
}

/// `tether-agent import`: prints the config on `out`, every error on `err`; exit 0 when
/// everything was mapped, 1 when something was not, 2 when DIR is not a directory.
pub fn command(
    from: From,
    dir: &std::path::Path,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> u8 {
    if !dir.is_dir() {
        let _ = writeln!(
            err,
            "tether-agent: import: {}: not a directory",
            dir.display()
        );
        return 2;
    }
    let outcome = import(from, dir);
    for error in &outcome.errors {
        let text = error.to_string();
        let _ = writeln!(
            err,
            "tether-agent: import: {}",
            crate::text::clip_message(&text)
        );
    }
    match outcome.to_yaml() {
        Ok(text) => {
            if out.write_all(text.as_bytes()).is_err() {
                return 2;
            }
        }
        Err(message) => {
            let _ = writeln!(
                err,
                "tether-agent: import: cannot write the config: {message}"
            );
            return 2;
        }
    }
    u8::from(!outcome.errors.is_empty())
}

/// `Kind namespace/name` of an object, for errors.
pub(crate) fn describe(value: &serde_json::Value) -> String {
    let meta = &value["metadata"];
    let name = meta["name"].as_str().unwrap_or("<unnamed>");
    let kind = value["kind"].as_str().unwrap_or("<no kind>");
    match meta["namespace"].as_str() {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Normalises a repository path (`./apps/x/` → `apps/x`); `None` when it leaves the root.
fn clean_path(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => parts.push(p),
        }
    }
    Some(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

#[cfg(test)]
mod tests;
