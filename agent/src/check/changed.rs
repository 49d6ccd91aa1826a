//! `--changed-since REF`: which apps a pull request changes, and how. Each app is rendered
//! from the working tree and from REF (read from Git, not checked out); the apps whose
//! rendered objects differ, or that are new, are the ones checked, and the difference is
//! printed per app as a diff of the rendered YAML, object by object, Secret values redacted.
//! When the configuration file itself changed, every app is checked.

use super::CheckError;
use super::config::CheckSettings;
use super::report::AppDiff;
use super::run::{self, FoundApp};
use crate::policy::ObjectRef;
use crate::render::Object;
use crate::source::snapshot::GitTree;
use crate::tree::{FsTree, RelPath, Tree};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The apps that changed and their diffs.
#[derive(Debug, Default)]
pub struct Changes {
    /// Per changed app, its rendered diff.
    pub diffs: Vec<AppDiff>,
    changed: BTreeSet<String>,
}

impl Changes {
    /// The names of the apps to check.
    #[must_use]
    pub fn apps(&self) -> BTreeSet<String> {
        self.changed.clone()
    }
}

fn failed(reference: &str, message: impl std::fmt::Display) -> CheckError {
    CheckError::ChangedSinceFailed {
        reference: reference.to_owned(),
        message: message.to_string(),
    }
}

/// The tree of `root` (a directory of a Git working tree) as it is at `reference`, or `None`
/// when the directory did not exist there.
fn tree_at(root: &Path, reference: &str) -> Result<Option<Tree>, CheckError> {
    let repo = gix::discover(root).map_err(|e| failed(reference, e))?;
    let workdir = repo
        .workdir()
        .ok_or_else(|| failed(reference, "the repository has no working tree"))?
        .canonicalize()
        .map_err(|e| failed(reference, e))?;
    let relative = root
        .strip_prefix(&workdir)
        .map_err(|_| {
            failed(
                reference,
                "the checked directory is not inside the repository",
            )
        })?
        .to_string_lossy()
        .replace('\\', "/");
    // A full commit id, HEAD, or a reference name (`main`, `origin/main`, `refs/tags/v1`).
    let commit = if let Ok(id) = gix::ObjectId::from_hex(reference.as_bytes()) {
        repo.find_commit(id).map_err(|e| failed(reference, e))?
    } else if reference == "HEAD" {
        repo.head_commit().map_err(|e| failed(reference, e))?
    } else {
        repo.find_reference(reference)
            .map_err(|e| failed(reference, e))?
            .peel_to_commit()
            .map_err(|e| failed(reference, e))?
    };
    let tree = commit.tree().map_err(|e| failed(reference, e))?;
    let tree_id = if relative.is_empty() {
        tree.id
    } else {
        match tree
            .lookup_entry_by_path(&relative)
            .map_err(|e| failed(reference, e))?
        {
            Some(entry) if entry.mode().is_tree() => entry.object_id(),
            _ => return Ok(None),
        }
    };
    drop(tree);
    drop(commit);
    Ok(Some(GitTree::new(repo.into_sync(), tree_id).into_tree()))
}

fn render_or_empty(tree: &Tree, app: &FoundApp) -> Vec<Object> {
    run::render_app(tree, &app.meta).unwrap_or_default()
}

/// Finds what changed since `reference` under every root `check` would read.
pub fn changes_since(
    settings: &CheckSettings,
    paths: &[PathBuf],
    cwd: &Path,
    reference: &str,
) -> Result<Changes, CheckError> {
    let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_owned());
    let mut changes = Changes::default();
    for (root, dir, shown) in run::roots(settings, paths, &cwd)? {
        let base = tree_at(&root, reference)?;
        let apps = run::find_apps(settings, &root, &dir, &shown)?;
        let config_changed = config_changed(settings, &root, base.as_ref());
        let current = Tree::new(FsTree::new(&root));
        for app in &apps {
            let after = render_or_empty(&current, app);
            let before = base
                .as_ref()
                .map(|b| render_or_empty(b, app))
                .unwrap_or_default();
            let diff = diff_objects(&before, &after, reference);
            let rendered_fails = run::render_app(&current, &app.meta).is_err();
            if !diff.is_empty() || config_changed || rendered_fails {
                changes.changed.insert(app.meta.name.clone());
            }
            if !diff.is_empty() {
                changes.diffs.push(AppDiff {
                    app: app.meta.name.clone(),
                    diff,
                });
            }
        }
    }
    Ok(changes)
}

/// Whether the config file (when it lies under `root`) differs from its version in `base`.
fn config_changed(settings: &CheckSettings, root: &Path, base: Option<&Tree>) -> bool {
    let Some(path) = settings.path.as_deref().and_then(|p| p.canonicalize().ok()) else {
        return false;
    };
    let Some(relative) = path
        .strip_prefix(root)
        .ok()
        .and_then(|r| RelPath::parse(&r.to_string_lossy()).ok())
    else {
        return false;
    };
    let now = std::fs::read(&path).ok();
    let before = base.and_then(|b| b.read(&relative).ok());
    now != before
}

/// An object as shown in diffs: YAML, Secret values redacted.
fn shown(object: &Value) -> String {
    let mut object = object.clone();
    if object.get("kind").and_then(Value::as_str) == Some("Secret") {
        crate::secrets::redact::redact_secret_json(&mut object);
    }
    crate::render::yaml::emit_documents([&object]).unwrap_or_else(|e| format!("# {e}\n"))
}

/// The diff of two renders of one app, object by object (empty when equal).
#[must_use]
pub fn diff_objects(before: &[Object], after: &[Object], reference: &str) -> String {
    let key = |o: &Object| {
        let r = ObjectRef::of(&o.value);
        let group = crate::check::validate::group_of(&r.api_version).to_owned();
        (group, r)
    };
    let mut keys: Vec<(String, ObjectRef)> = Vec::new();
    for object in after.iter().chain(before) {
        let k = key(object);
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut out = String::new();
    for k in keys {
        let old = before
            .iter()
            .find(|o| key(o) == k)
            .map(|o| shown(&o.value))
            .unwrap_or_default();
        let new = after
            .iter()
            .find(|o| key(o) == k)
            .map(|o| shown(&o.value))
            .unwrap_or_default();
        if old == new {
            continue;
        }
        out.push_str(&format!(
            "--- {} ({reference})\n+++ {} (this change)\n",
            k.1, k.1
        ));
        out.push_str(&line_diff(&old, &new));
    }
    out
}

/// The lines that differ, with up to 3 lines of context (a longest-common-subsequence diff;
/// large objects are shown as removed and added whole).
#[must_use]
pub fn line_diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = if a.len().saturating_mul(b.len()) > 4_000_000 {
        a.iter()
            .map(|l| ('-', *l))
            .chain(b.iter().map(|l| ('+', *l)))
            .collect()
    } else {
        lcs_ops(&a, &b)
    };
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| *c != ' ')
        .map(|(i, _)| i)
        .collect();
    let near = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= 3);
    let mut out = String::new();
    let mut skipped = false;
    for (i, (c, line)) in ops.iter().enumerate() {
        if *c == ' ' && !near(i) {
            if !skipped {
                out.push_str("@@\n");
                skipped = true;
            }
            continue;
        }
        skipped = false;
        out.push(*c);
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn lcs_ops<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(char, &'a str)> {
    let (n, m) = (a.len(), b.len());
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if a[i] == b[j] {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || table[at(i + 1, j)] >= table[at(i, j + 1)]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_diffs_show_changes_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\n";
        let new = "a\nb\nc\nd\ne\nF\ng\nh\ni\n";
        assert_eq!(line_diff(old, new), "@@\n c\n d\n e\n-f\n+F\n g\n h\n i\n");
        assert_eq!(line_diff("", "x\n"), "+x\n");
    }
}
