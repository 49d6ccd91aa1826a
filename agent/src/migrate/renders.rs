//! What an imported app renders: an app must render, and the Flux or Argo CD objects in its
//! output must be ones the agent reads itself.
//!
//! The agent reads these Flux objects from an app's manifests instead of applying them:
//! `HelmRelease` with its `HelmRepository` or `OCIRepository` (rendered as charts), the
//! image automation objects and the notification `Provider`/`Alert`. A `HelmRelease` finds
//! its source among the objects of its own app only, so a release whose source lives in
//! another Flux Kustomization is refused here, naming the field, rather than failing at sync.
//! Any other tool object (a nested Flux `Kustomization`, an Argo CD `Application`) is
//! refused: it has no meaning once Tether syncs the app.

use super::{MigrateError, Outcome, describe};
use crate::tree::{FsTree, RelPath, Tree};
use serde_json::Value;

/// Flux kinds the agent reads from an app's manifests.
const READ_BY_AGENT: [&str; 8] = [
    "HelmRelease",
    "HelmRepository",
    "OCIRepository",
    "ImageRepository",
    "ImagePolicy",
    "ImageUpdateAutomation",
    "Provider",
    "Alert",
];

/// Renders every imported app whose directory is in `dir` and refuses (an error naming it)
/// the apps that do not render or render tool objects the agent does not read.
pub(super) fn refuse_foreign_renders(dir: &std::path::Path, outcome: &mut Outcome) {
    let Ok(root) = dir.canonicalize() else {
        return;
    };
    let tree = Tree::new(FsTree::new(root.clone()));
    let mut kept = Vec::new();
    for app in std::mem::take(&mut outcome.imported.apps) {
        let path = &app.directories[0].path;
        let refuse = |problem: String| MigrateError::Unmappable {
            object: format!("app {}", app.name),
            file: path.clone(),
            field: "path".to_owned(),
            problem,
        };
        // A remote chart renders from its repository, not from the directory.
        let remote = app
            .helm
            .as_ref()
            .is_some_and(|h| h.get("repoURL").is_some());
        if remote || !root.join(path).is_dir() {
            kept.push(app);
            continue;
        }
        let rendered = RelPath::parse(path)
            .map_err(|e| e.to_string())
            .and_then(|rel| {
                crate::render::render(&tree, &rel, &crate::render::RenderOptions::default())
                    .map_err(|e| e.to_string())
            });
        let objects: Vec<Value> = match rendered {
            Ok(objects) => objects.into_iter().map(|o| o.value).collect(),
            Err(message) => {
                outcome
                    .errors
                    .push(refuse(format!("does not render: {message}")));
                continue;
            }
        };
        if let Some(object) = objects.iter().find(|o| is_foreign(o)) {
            outcome.errors.push(refuse(format!(
                "renders {}: tool objects inside an app are not supported",
                describe(object)
            )));
            continue;
        }
        let missing = missing_sources(&objects, path);
        if missing.is_empty() {
            kept.push(app);
        } else {
            outcome.errors.extend(missing);
        }
    }
    outcome.imported.apps = kept;
}

fn is_foreign(object: &Value) -> bool {
    let api = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if api.contains(".fluxcd.io/") {
        return !READ_BY_AGENT.contains(&kind);
    }
    api.starts_with("argoproj.io/")
}

/// The HelmReleases among `objects` whose chart source is not among them.
fn missing_sources(objects: &[Value], path: &str) -> Vec<MigrateError> {
    let mut errors = Vec::new();
    for release in objects.iter().filter(|o| {
        o["kind"] == "HelmRelease"
            && o["apiVersion"]
                .as_str()
                .is_some_and(|a| a.starts_with("helm.toolkit.fluxcd.io/"))
    }) {
        let namespace = release["metadata"]["namespace"].as_str().unwrap_or("");
        let (field, reference) = if release["spec"]["chartRef"].is_object() {
            ("spec.chartRef", &release["spec"]["chartRef"])
        } else {
            (
                "spec.chart.spec.sourceRef",
                &release["spec"]["chart"]["spec"]["sourceRef"],
            )
        };
        let kind = reference["kind"].as_str().unwrap_or_default();
        let name = reference["name"].as_str().unwrap_or_default();
        let wanted_ns = reference["namespace"].as_str().unwrap_or(namespace);
        let found = objects.iter().any(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == name
                && o["metadata"]["namespace"].as_str().unwrap_or(namespace) == wanted_ns
        });
        if !found {
            errors.push(MigrateError::Unmappable {
                object: describe(release),
                file: path.to_owned(),
                field: field.to_owned(),
                problem: format!(
                    "names {kind} {wanted_ns}/{name}, which is not among this app's objects: \
                     Tether reads a release's source from its own app (move the source into \
                     the app's directory)"
                ),
            });
        }
    }
    errors
}
