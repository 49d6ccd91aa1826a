//! A tree with other trees mounted at paths inside it: a Flux `GitRepository`'s
//! `spec.include` (another source's files, from `fromPath`, copied in at `toPath`).
//!
//! Paths below a mount point are read from the mounted tree; the directories leading to a
//! mount point exist even when the base tree lacks them. A mount point that the base tree
//! already holds is refused by [`Overlay::mount`], as Flux refuses to copy onto a
//! non-empty directory.

use crate::tree::{RawEntry, RawTree, RelPath, Tree, TreeError};

struct Mount {
    at: RelPath,
    tree: Tree,
    from: RelPath,
}

/// A base tree with mounted trees.
pub struct Overlay {
    base: Tree,
    mounts: Vec<Mount>,
}

impl Overlay {
    /// An overlay of `base` with nothing mounted yet.
    #[must_use]
    pub fn new(base: Tree) -> Self {
        Self {
            base,
            mounts: Vec::new(),
        }
    }

    /// Mounts the directory `from` of `tree` at `at`. Refused (with the reason) when `at` is
    /// the root, exists in the base tree or in an earlier mount, or `from` is not a
    /// directory of `tree`.
    pub fn mount(&mut self, at: RelPath, tree: Tree, from: RelPath) -> Result<(), String> {
        if at.is_root() {
            return Err("the repository's root cannot be replaced".into());
        }
        if self
            .mounts
            .iter()
            .any(|m| at.starts_with(&m.at) || m.at.starts_with(&at))
        {
            return Err(format!("{at} overlaps another include"));
        }
        if self.base.kind(&at).map_err(|e| e.to_string())?.is_some() {
            return Err(format!("{at} already exists in the repository"));
        }
        if !tree.is_dir(&from).map_err(|e| e.to_string())? {
            return Err(format!(
                "{from} is not a directory of the included repository"
            ));
        }
        self.mounts.push(Mount { at, tree, from });
        Ok(())
    }

    /// The overlay as a tree (the base's file size bound).
    #[must_use]
    pub fn into_tree(self) -> Tree {
        let base = self.base.clone();
        base.with_raw(self)
    }

    /// The mount holding `path` and the path inside its tree.
    fn inside(&self, path: &RelPath) -> Option<(&Mount, RelPath)> {
        let mount = self.mounts.iter().find(|m| path.starts_with(&m.at))?;
        let rest: Vec<&str> = path
            .components()
            .skip(mount.at.components().count())
            .collect();
        let inner = if rest.is_empty() {
            mount.from.clone()
        } else {
            mount.from.join(&rest.join("/")).ok()?
        };
        Some((mount, inner))
    }

    /// Whether `path` leads to a mount point (a directory the overlay adds).
    fn leads_to_mount(&self, path: &RelPath) -> bool {
        self.mounts
            .iter()
            .any(|m| m.at.starts_with(path) && &m.at != path)
    }
}

impl RawTree for Overlay {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        if let Some((mount, inner)) = self.inside(path) {
            return mount.tree.raw().entry(&inner);
        }
        match self.base.raw().entry(path)? {
            Some(entry) => Ok(Some(entry)),
            None if self.leads_to_mount(path) => Ok(Some(RawEntry::Dir)),
            None => Ok(None),
        }
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        match self.inside(path) {
            Some((mount, inner)) => mount.tree.raw().read_file(&inner, limit),
            None => self.base.raw().read_file(path, limit),
        }
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        if let Some((mount, inner)) = self.inside(path) {
            return mount.tree.raw().list_dir(&inner);
        }
        let mut names = match self.base.raw().entry(path)? {
            Some(RawEntry::Dir) => self.base.raw().list_dir(path)?,
            _ => Vec::new(),
        };
        for mount in &self.mounts {
            if mount.at.parent().as_ref() == Some(path) {
                names.extend(mount.at.file_name().map(str::to_owned));
            } else if mount.at.starts_with(path) && &mount.at != path {
                let depth = path.components().count();
                if let Some(name) = mount.at.components().nth(depth) {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}
