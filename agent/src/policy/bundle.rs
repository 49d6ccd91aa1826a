//! Where policies come from: the default bundle compiled into the binary (the repository's
//! `policies/` directory), directories of the synced repository (read through
//! [`Tree`], so they stay inside the snapshot) and directories on the agent's file system.
//!
//! Only `*.rego` files are loaded; `*_test.rego` files (policy unit tests) and directories
//! named `fixtures` are skipped. Directories are walked in name order, so the load order and
//! every message are stable.

use super::PolicyError;
use crate::tree::{EntryKind, RelPath, Tree};
use std::path::Path;

/// How deep a policy directory is walked.
const MAX_DEPTH: usize = 16;

/// One policy file: a name for messages and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// The file as messages name it: `<default>/host_access/policy.rego`, a repository path,
    /// or a file system path.
    pub path: String,
    /// The Rego source.
    pub text: String,
}

/// The prefix of the default bundle's file names in messages.
pub const DEFAULT_BUNDLE_PREFIX: &str = "<default>";

/// The default bundle's files, relative to `policies/`.
const DEFAULT_BUNDLE: [(&str, &str); 8] = [
    (
        "lib/workloads.rego",
        include_str!("../../../policies/lib/workloads.rego"),
    ),
    (
        "plaintext_secrets/policy.rego",
        include_str!("../../../policies/plaintext_secrets/policy.rego"),
    ),
    (
        "secret_references/policy.rego",
        include_str!("../../../policies/secret_references/policy.rego"),
    ),
    (
        "resources/policy.rego",
        include_str!("../../../policies/resources/policy.rego"),
    ),
    (
        "image_tags/policy.rego",
        include_str!("../../../policies/image_tags/policy.rego"),
    ),
    (
        "host_access/policy.rego",
        include_str!("../../../policies/host_access/policy.rego"),
    ),
    (
        "namespaces/policy.rego",
        include_str!("../../../policies/namespaces/policy.rego"),
    ),
    (
        "prune_annotation/policy.rego",
        include_str!("../../../policies/prune_annotation/policy.rego"),
    ),
];

/// The default bundle, as shipped in the binary.
#[must_use]
pub fn default_bundle() -> Vec<PolicyFile> {
    DEFAULT_BUNDLE
        .iter()
        .map(|(path, text)| PolicyFile {
            path: format!("{DEFAULT_BUNDLE_PREFIX}/{path}"),
            text: (*text).to_owned(),
        })
        .collect()
}

/// Bounds on reading policy directories.
#[derive(Debug, Clone, Copy)]
pub struct ReadLimits {
    /// The largest file.
    pub max_file_bytes: u64,
    /// The most files in all.
    pub max_files: usize,
}

fn wanted(name: &str) -> bool {
    name.ends_with(".rego") && !name.ends_with("_test.rego")
}

fn count_file(files: &[PolicyFile], limits: ReadLimits, dir: &str) -> Result<(), PolicyError> {
    if files.len() >= limits.max_files {
        return Err(PolicyError::TooManyFiles {
            dir: dir.to_owned(),
            limit: limits.max_files,
        });
    }
    Ok(())
}

/// Reads the `.rego` files under `dir` of a repository snapshot, appending them to `files`.
pub fn read_repository_dir(
    tree: &Tree,
    dir: &str,
    limits: ReadLimits,
    files: &mut Vec<PolicyFile>,
) -> Result<(), PolicyError> {
    let root = RelPath::parse(dir).map_err(|source| PolicyError::RepositoryReadFailed {
        path: dir.to_owned(),
        source,
    })?;
    let tree = tree.clone().with_max_file_bytes(limits.max_file_bytes);
    walk_tree(&tree, &root, dir, 0, limits, files)
}

fn walk_tree(
    tree: &Tree,
    path: &RelPath,
    top: &str,
    depth: usize,
    limits: ReadLimits,
    files: &mut Vec<PolicyFile>,
) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::TooDeep {
            dir: path.to_string(),
            limit: MAX_DEPTH,
        });
    }
    let read_failed = |source| PolicyError::RepositoryReadFailed {
        path: path.to_string(),
        source,
    };
    let mut entries = tree.list(path).map_err(read_failed)?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for entry in entries {
        match entry.kind {
            EntryKind::Dir if entry.name != "fixtures" => {
                walk_tree(tree, &entry.path, top, depth + 1, limits, files)?
            }
            EntryKind::File if wanted(&entry.name) => {
                count_file(files, limits, top)?;
                let text = tree.read_to_string(&entry.path).map_err(|source| {
                    PolicyError::RepositoryReadFailed {
                        path: entry.path.to_string(),
                        source,
                    }
                })?;
                files.push(PolicyFile {
                    path: entry.path.to_string(),
                    text,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// Reads the `.rego` files under `dir` on the file system, appending them to `files`.
/// Symlinks are followed (mounted ConfigMaps are made of them).
pub fn read_mounted_dir(
    dir: &Path,
    limits: ReadLimits,
    files: &mut Vec<PolicyFile>,
) -> Result<(), PolicyError> {
    walk_fs(dir, &dir.display().to_string(), 0, limits, files)
}

fn walk_fs(
    dir: &Path,
    top: &str,
    depth: usize,
    limits: ReadLimits,
    files: &mut Vec<PolicyFile>,
) -> Result<(), PolicyError> {
    if depth > MAX_DEPTH {
        return Err(PolicyError::TooDeep {
            dir: dir.display().to_string(),
            limit: MAX_DEPTH,
        });
    }
    let io_failed = |path: &Path| {
        let path = path.display().to_string();
        move |source| PolicyError::MountedReadFailed { path, source }
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_failed(dir))? {
        let entry = entry.map_err(io_failed(dir))?;
        entries.push(entry.path());
    }
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // `..data`-style entries of mounted ConfigMaps are the same files again.
        if name.starts_with('.') {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(io_failed(&path))?;
        if meta.is_dir() {
            if name != "fixtures" {
                walk_fs(&path, top, depth + 1, limits, files)?;
            }
        } else if meta.is_file() && wanted(&name) {
            count_file(files, limits, top)?;
            if meta.len() > limits.max_file_bytes {
                return Err(PolicyError::FileTooLarge {
                    path: path.display().to_string(),
                    size: meta.len(),
                    limit: limits.max_file_bytes,
                });
            }
            let text = std::fs::read_to_string(&path).map_err(io_failed(&path))?;
            files.push(PolicyFile {
                path: path.display().to_string(),
                text,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::FsTree;

    const LIMITS: ReadLimits = ReadLimits {
        max_file_bytes: 1024,
        max_files: 10,
    };

    #[test]
    fn the_default_bundle_is_every_policy_of_the_policies_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let mut on_disk = Vec::new();
        read_mounted_dir(
            &dir,
            ReadLimits {
                max_file_bytes: 1 << 20,
                max_files: 100,
            },
            &mut on_disk,
        )
        .unwrap();
        let on_disk: Vec<String> = on_disk
            .iter()
            .map(|f| {
                f.path
                    .trim_start_matches(&dir.display().to_string())
                    .trim_start_matches('/')
                    .to_owned()
            })
            .collect();
        let mut embedded: Vec<String> = DEFAULT_BUNDLE
            .iter()
            .map(|(p, _)| (*p).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn repository_directories_skip_tests_fixtures_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("policies/sub/fixtures")).unwrap();
        std::fs::write(dir.path().join("policies/a.rego"), "package a\n").unwrap();
        std::fs::write(dir.path().join("policies/a_test.rego"), "package a\n").unwrap();
        std::fs::write(dir.path().join("policies/README.md"), "x").unwrap();
        std::fs::write(dir.path().join("policies/sub/b.rego"), "package b\n").unwrap();
        std::fs::write(
            dir.path().join("policies/sub/fixtures/c.rego"),
            "package c\n",
        )
        .unwrap();
        let tree = Tree::new(FsTree::new(dir.path()));
        let mut files = Vec::new();
        read_repository_dir(&tree, "policies", LIMITS, &mut files).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["policies/a.rego", "policies/sub/b.rego"]);
    }

    #[test]
    fn too_many_files_is_an_error_naming_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3 {
            std::fs::write(dir.path().join(format!("p{i}.rego")), "package p\n").unwrap();
        }
        let mut files = Vec::new();
        let err = read_mounted_dir(
            dir.path(),
            ReadLimits {
                max_file_bytes: 1024,
                max_files: 2,
            },
            &mut files,
        )
        .unwrap_err();
        assert!(
            matches!(err, PolicyError::TooManyFiles { limit: 2, .. }),
            "{err}"
        );
    }
}
