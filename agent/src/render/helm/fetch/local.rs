//! `file://` dependencies of a chart read from a Git tree (`Chart.yaml`
//! `dependencies[].repository: file://../common`), resolved as `helm dependency build` and
//! Flux's source-controller resolve them: relative to the chart's directory, inside the same
//! repository only.
//!
//! A dependency already present under `charts/` (a directory or an archive of the same name)
//! is used as it is; a missing one is loaded from the directory its `file://` URL names,
//! with its own `file://` dependencies in turn. A path that is absolute or climbs above the
//! repository's root (`file://../../../etc`), or a symlink that leads out of it, is refused
//! with an error naming the chart's `Chart.yaml` and the dependency, as Helm's and Argo CD's
//! path-traversal fixes refuse them. The dependency's `version` must match the chart found
//! there (a constraint, as Helm checks it).

use crate::render::helm::{Chart, HelmError, load_dir};
use crate::tree::{RelPath, Tree};

use super::semver::{Constraint, Version};

/// The URL scheme of a dependency in the same repository.
pub const LOCAL_SCHEME: &str = "file://";

/// The deepest chain of `file://` dependencies followed (as Helm's subchart nesting bound).
const MAX_DEPTH: usize = 16;

/// Loads the chart in `dir` of `tree` ([`load_dir`]) and adds the `file://` dependencies its
/// `Chart.yaml` declares and `charts/` lacks, read from the same tree.
pub fn load_dir_with_local_dependencies(tree: &Tree, dir: &RelPath) -> Result<Chart, HelmError> {
    let mut chain = Vec::new();
    load(tree, dir, &mut chain)
}

fn load(tree: &Tree, dir: &RelPath, chain: &mut Vec<RelPath>) -> Result<Chart, HelmError> {
    let mut chart = load_dir(tree, dir)?;
    if chain.len() >= MAX_DEPTH {
        return Err(HelmError::LimitExceeded {
            chart: dir.to_string(),
            what: "the chain of file:// dependencies",
            limit: MAX_DEPTH,
        });
    }
    chain.push(dir.clone());
    let declared = chart.metadata.dependencies.clone();
    for (index, dep) in declared.iter().enumerate() {
        let Some(path) = dep.repository.trim().strip_prefix(LOCAL_SCHEME) else {
            continue;
        };
        let present = chart.dependencies.iter().any(|c| c.name() == dep.name);
        if present {
            continue;
        }
        let refused = |reason: String| HelmError::DependencyFailed {
            chart: dir.to_string(),
            dependency: dep.name.clone(),
            reason: format!(
                "Chart.yaml dependencies[{index}].repository {:?}: {reason}",
                crate::render::helm::clip(&dep.repository)
            ),
        };
        let target = resolve(tree, dir, path).map_err(&refused)?;
        if chain.contains(&target) {
            return Err(refused(format!(
                "{target} is already being loaded (a cycle of file:// dependencies)"
            )));
        }
        let sub = load(tree, &target, chain).map_err(|e| match e {
            e @ (HelmError::DependencyFailed { .. } | HelmError::LimitExceeded { .. }) => e,
            other => refused(crate::render::helm::clip(&other.to_string())),
        })?;
        let wanted = dep.version.trim();
        if !wanted.is_empty() && !version_matches(wanted, &sub.metadata.version) {
            return Err(refused(format!(
                "the chart in {target} has version {:?}, which does not match {wanted:?}",
                sub.metadata.version
            )));
        }
        tracing::debug!(chart = %dir, dependency = %dep.name, from = %target,
            "a file:// dependency from the same repository");
        chart.dependencies.push(sub);
    }
    chain.pop();
    Ok(chart)
}

/// The directory a `file://` path names, relative to `dir`, inside the tree.
fn resolve(tree: &Tree, dir: &RelPath, path: &str) -> Result<RelPath, String> {
    if path.is_empty() {
        return Err("names no directory".into());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.contains(':') {
        return Err("an absolute path is refused: a file:// dependency must be a directory of the same repository, relative to the chart".into());
    }
    let target = dir.join(path).map_err(|_| {
        "leaves the repository (a file:// dependency must be a directory of the same repository)"
            .to_owned()
    })?;
    let kind = tree.resolve(&target).map_err(|e| {
        format!(
            "{} (a file:// dependency must be a directory of the same repository)",
            crate::render::helm::clip(&e.to_string())
        )
    })?;
    match kind {
        Some((real, crate::tree::EntryKind::Dir)) => Ok(real),
        Some(_) => Err(format!("{target} is not a directory")),
        None => Err(format!("{target} does not exist in the repository")),
    }
}

fn version_matches(constraint: &str, version: &str) -> bool {
    if constraint == version.trim() {
        return true;
    }
    match (
        Constraint::parse(constraint),
        Version::parse(version.trim()),
    ) {
        (Ok(c), Ok(v)) => c.matches(&v),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::FsTree;

    fn write(root: &std::path::Path, path: &str, text: &str) {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
    }

    fn tree(root: &std::path::Path) -> Tree {
        Tree::new(FsTree::new(root))
    }

    fn app(repository: &str, version: &str) -> String {
        format!(
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: common\n  version: {version:?}\n  repository: {repository:?}\n"
        )
    }

    #[test]
    fn a_file_dependency_is_read_from_the_same_tree_and_charts_dir_wins() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(
            dir.path(),
            "charts/app/Chart.yaml",
            &app("file://../common", "^2"),
        );
        write(
            dir.path(),
            "charts/common/Chart.yaml",
            "apiVersion: v2\nname: common\nversion: 2.1.0\ntype: library\n",
        );
        let tree = tree(dir.path());
        let rel = RelPath::parse("charts/app").unwrap_or_else(|e| panic!("{e}"));
        let chart = load_dir_with_local_dependencies(&tree, &rel).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chart.dependencies.len(), 1);
        assert_eq!(chart.dependencies[0].metadata.version, "2.1.0");

        // A version that does not match is refused, naming Chart.yaml and the dependency.
        write(
            dir.path(),
            "charts/app/Chart.yaml",
            &app("file://../common", "^3"),
        );
        let err = load_dir_with_local_dependencies(&tree, &rel)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("Chart.yaml dependencies[0]") && err.contains("common"),
            "{err}"
        );

        // What charts/ holds is used as it is.
        write(
            dir.path(),
            "charts/app/charts/common/Chart.yaml",
            "apiVersion: v2\nname: common\nversion: 3.0.0\n",
        );
        let chart = load_dir_with_local_dependencies(&tree, &rel).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chart.dependencies.len(), 1);
        assert_eq!(chart.dependencies[0].metadata.version, "3.0.0");
    }

    #[test]
    fn file_dependencies_outside_the_repository_or_in_a_cycle_are_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let tree = tree(dir.path());
        let rel = RelPath::parse("charts/app").unwrap_or_else(|e| panic!("{e}"));
        for repository in ["file://../../../etc", "file:///etc", "file://"] {
            write(dir.path(), "charts/app/Chart.yaml", &app(repository, ""));
            let err = load_dir_with_local_dependencies(&tree, &rel)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("charts/app")
                    && err.contains("Chart.yaml dependencies[0].repository")
                    && err.contains("dependency common"),
                "{repository}: {err}"
            );
        }
        write(
            dir.path(),
            "charts/app/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: app\n  repository: file://.\n",
        );
        write(dir.path(), "charts/app/charts/.keep", "");
        let err = load_dir_with_local_dependencies(&tree, &rel)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        // A chart depending on its own directory is a cycle.
        assert!(err.contains("cycle"), "{err}");
    }
}
