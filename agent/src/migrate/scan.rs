//! Reading every Kubernetes object of a directory's YAML files (read, never applied).

use super::MigrateError;
use crate::render::yaml::{ParseOptions, parse_values};
use crate::tree::{EntryKind, FsTree, RelPath, Tree};
use serde_json::Value;
use std::path::Path;

/// The deepest directory walked.
const MAX_DEPTH: usize = 32;
/// The most files read.
const MAX_FILES: usize = 20_000;
/// The largest file read.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// One object found in the repository.
#[derive(Debug, Clone)]
pub struct Found {
    /// The file, relative to the directory read (`clusters/prod/apps.yaml`).
    pub file: String,
    /// The object.
    pub value: Value,
}

impl Found {
    /// The object's API group (`kustomize.toolkit.fluxcd.io`).
    #[must_use]
    pub fn group(&self) -> &str {
        let api = self.value["apiVersion"].as_str().unwrap_or_default();
        api.rsplit_once('/').map_or("", |(group, _)| group)
    }

    /// The object's kind.
    #[must_use]
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }

    /// The object's name.
    #[must_use]
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }

    /// The object's namespace (empty when unset).
    #[must_use]
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }
}

/// Every object of the `.yaml`/`.yml` files under `dir` (hidden entries skipped), sorted by
/// file, and every file that could not be read.
#[must_use]
pub fn scan(dir: &Path) -> (Vec<Found>, Vec<MigrateError>) {
    let tree = match dir.canonicalize() {
        Ok(root) => Tree::new(FsTree::new(root)),
        Err(err) => {
            let file = dir.display().to_string();
            let message = err.to_string();
            return (Vec::new(), vec![MigrateError::ReadFailed { file, message }]);
        }
    };
    scan_tree(&tree, &[RelPath::root()])
}

/// Every object of the `.yaml`/`.yml` files under the directories `dirs` of `tree` (a
/// snapshot; a file of `dirs` is read itself), named by their path in the tree.
#[must_use]
pub fn scan_tree(tree: &Tree, dirs: &[RelPath]) -> (Vec<Found>, Vec<MigrateError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for dir in dirs {
        if tree.is_file(dir).unwrap_or(false) {
            files.push(dir.clone());
        } else {
            walk(tree, dir, 0, &mut files, &mut errors);
        }
    }
    files.sort();
    files.dedup();
    let mut found = Vec::new();
    for rel in files {
        match read(tree, &rel) {
            Ok(values) => {
                found.extend(
                    values
                        .into_iter()
                        .filter(Value::is_object)
                        .map(|value| Found {
                            file: rel.to_string(),
                            value,
                        }),
                )
            }
            Err(message) => errors.push(MigrateError::ReadFailed {
                file: rel.to_string(),
                message,
            }),
        }
    }
    let patches = patch_files(&found);
    found.retain(|f| !patches.contains(&f.file));
    (found, errors)
}

/// The files kustomizations name as patches: partial objects, not objects to import.
fn patch_files(found: &[Found]) -> Vec<String> {
    let mut out = Vec::new();
    for kustomization in found.iter().filter(|f| {
        let name = f.file.rsplit('/').next().unwrap_or_default();
        name == "kustomization.yaml" || name == "kustomization.yml"
    }) {
        let dir = kustomization.file.rsplit_once('/').map_or("", |(d, _)| d);
        let v = &kustomization.value;
        let listed = v["patches"]
            .as_array()
            .into_iter()
            .chain(v["patchesJson6902"].as_array())
            .flatten()
            .filter_map(|p| p["path"].as_str())
            .chain(
                v["patchesStrategicMerge"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        for path in listed {
            let joined = if dir.is_empty() {
                path.to_owned()
            } else {
                format!("{dir}/{path}")
            };
            if let Some(clean) = super::clean_path(&joined) {
                out.push(clean);
            }
        }
    }
    out
}

fn read(tree: &Tree, path: &RelPath) -> Result<Vec<Value>, String> {
    let bytes = tree
        .clone()
        .with_max_file_bytes(MAX_FILE_BYTES)
        .read(path)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    parse_values(&text, &ParseOptions::default()).map_err(|e| e.to_string())
}

fn walk(
    tree: &Tree,
    dir: &RelPath,
    depth: usize,
    files: &mut Vec<RelPath>,
    errors: &mut Vec<MigrateError>,
) {
    if depth > MAX_DEPTH {
        errors.push(MigrateError::ReadFailed {
            file: dir.to_string(),
            message: format!("nested deeper than {MAX_DEPTH} directories"),
        });
        return;
    }
    let entries = match tree.list(dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.push(MigrateError::ReadFailed {
                file: dir.to_string(),
                message: err.to_string(),
            });
            return;
        }
    };
    for entry in entries {
        if entry.name.starts_with('.') {
            continue;
        }
        match entry.kind {
            EntryKind::Dir => walk(tree, &entry.path, depth + 1, files, errors),
            EntryKind::File if entry.name.ends_with(".yaml") || entry.name.ends_with(".yml") => {
                if files.len() >= MAX_FILES {
                    errors.push(MigrateError::ReadFailed {
                        file: entry.path.to_string(),
                        message: format!("more than {MAX_FILES} YAML files"),
                    });
                    return;
                }
                files.push(entry.path);
            }
            EntryKind::File => {}
        }
    }
}
