//! The default root of a local render or check: like `kubectl kustomize`, a directory may
//! refer to `../base`, so the root everything read must stay inside is the Git work tree that
//! contains the directory, not the directory itself.

use std::path::{Path, PathBuf};

/// The root for `dir` (absolute, canonical): the nearest ancestor of `dir` (itself included)
/// that holds `.git` (a folder, or a file in a linked work tree); when there is none, `cwd`
/// if it contains `dir`, else `dir` itself.
#[must_use]
pub fn repository_root(dir: &Path, cwd: &Path) -> PathBuf {
    if let Some(root) = dir.ancestors().find(|a| a.join(".git").exists()) {
        return root.to_owned();
    }
    if dir.starts_with(cwd) {
        cwd.to_owned()
    } else {
        dir.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_git_work_tree_then_the_current_directory_then_the_directory() {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let repo = tmp.path().join("repo");
        let overlay = repo.join("overlays/production");
        std::fs::create_dir_all(&overlay).expect("mkdir");
        assert_eq!(repository_root(&overlay, &repo), repo);
        assert_eq!(repository_root(&overlay, Path::new("/elsewhere")), overlay);
        std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
        assert_eq!(repository_root(&overlay, Path::new("/elsewhere")), repo);
        assert_eq!(repository_root(&overlay, &overlay), repo);
        // A linked work tree has a `.git` file.
        let linked = tmp.path().join("linked");
        std::fs::create_dir_all(linked.join("app")).expect("mkdir");
        std::fs::write(linked.join(".git"), "gitdir: /somewhere\n").expect("write");
        assert_eq!(repository_root(&linked.join("app"), tmp.path()), linked);
    }
}
