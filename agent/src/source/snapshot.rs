//! Snapshots: one commit's tree, read straight from the object database (no worktree),
//! through the one [`Tree`] type the rest of the pipeline uses.
//!
//! [`GitTree`] is the [`RawTree`] backend: it reports directories, files (with their size from
//! the object header, before any content is read), and symlinks as [`RawEntry::Symlink`] so
//! that [`Tree`] resolves them itself and refuses any that leave the root. Submodules
//! (gitlinks) are refused with an error that names them.

use crate::tree::{RawEntry, RawTree, RelPath, Tree, TreeError};
use gix::objs::tree::EntryKind as GitKind;
use std::fmt;

/// An immutable view of one commit of the source.
#[derive(Clone)]
pub struct Snapshot {
    /// The commit id (hexadecimal).
    pub revision: String,
    /// Where it came from: `refs/heads/main`, `refs/tags/v1.2.3`, or the commit id when pinned.
    pub ref_name: String,
    /// The commit's files.
    pub tree: Tree,
    /// The signer (principal) when the source requires signed commits.
    pub signer: Option<String>,
    /// Whether the history behind it is shallow.
    pub shallow: bool,
    /// The commit's subject, author and time (empty when they cannot be read).
    pub commit: CommitInfo,
}

/// What people read about a commit: its subject line, author and time. Never file content.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// The first line of the message (at most 200 characters).
    pub subject: String,
    /// The author's name.
    pub author: String,
    /// The author time, seconds since the Unix epoch.
    pub time: i64,
}

impl CommitInfo {
    /// Reads `commit` in `repo`; an unreadable commit gives empty fields.
    #[must_use]
    pub fn read(repo: &gix::Repository, commit: gix::ObjectId) -> Self {
        let Ok(commit) = repo.find_commit(commit) else {
            return Self::default();
        };
        let subject = commit
            .message()
            .map(|m| m.summary().to_string())
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let (author, time) = match commit.author() {
            Ok(sig) => (
                sig.name.to_string(),
                sig.time().map(|t| t.seconds).unwrap_or(0),
            ),
            Err(_) => (String::new(), 0),
        };
        Self {
            subject,
            author,
            time,
        }
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("revision", &self.revision)
            .field("ref_name", &self.ref_name)
            .field("signer", &self.signer)
            .field("shallow", &self.shallow)
            .finish_non_exhaustive()
    }
}

/// A [`RawTree`] over a commit's tree in a Git object database.
///
/// It holds a [`gix::ThreadSafeRepository`] and takes a thread-local handle per call, so it is
/// `Send + Sync` as [`Tree`] needs.
#[derive(Clone)]
pub struct GitTree {
    repo: gix::ThreadSafeRepository,
    tree: gix::ObjectId,
}

impl GitTree {
    /// A view of the tree object `tree` in `repo`.
    #[must_use]
    pub fn new(repo: gix::ThreadSafeRepository, tree: gix::ObjectId) -> Self {
        Self { repo, tree }
    }

    /// A [`Tree`] over this backend.
    #[must_use]
    pub fn into_tree(self) -> Tree {
        Tree::new(self)
    }

    fn failed(path: &RelPath, message: impl fmt::Display) -> TreeError {
        TreeError::ReadFailed {
            path: path.to_string(),
            message: message.to_string(),
        }
    }

    /// The entry's kind and object id at `path` (not the root).
    fn lookup(
        &self,
        repo: &gix::Repository,
        path: &RelPath,
    ) -> Result<Option<(GitKind, gix::ObjectId)>, TreeError> {
        let tree = repo
            .find_tree(self.tree)
            .map_err(|err| Self::failed(path, err))?;
        let entry = tree
            .lookup_entry_by_path(path.as_str())
            .map_err(|err| Self::failed(path, err))?;
        Ok(entry.map(|entry| (entry.mode().kind(), entry.object_id())))
    }

    fn submodule(path: &RelPath) -> TreeError {
        Self::failed(
            path,
            "is a submodule (gitlink); submodules are not supported in a source",
        )
    }
}

impl RawTree for GitTree {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        if path.is_root() {
            return Ok(Some(RawEntry::Dir));
        }
        let repo = self.repo.to_thread_local();
        let Some((kind, id)) = self.lookup(&repo, path)? else {
            return Ok(None);
        };
        match kind {
            GitKind::Tree => Ok(Some(RawEntry::Dir)),
            GitKind::Blob | GitKind::BlobExecutable => {
                let header = repo
                    .find_header(id)
                    .map_err(|err| Self::failed(path, err))?;
                Ok(Some(RawEntry::File {
                    size: header.size(),
                }))
            }
            GitKind::Link => {
                let blob = repo.find_blob(id).map_err(|err| Self::failed(path, err))?;
                let target =
                    std::str::from_utf8(&blob.data).map_err(|_| TreeError::InvalidPath {
                        path: path.to_string(),
                        reason: "symlink target is not valid UTF-8",
                    })?;
                Ok(Some(RawEntry::Symlink {
                    target: target.to_owned(),
                }))
            }
            GitKind::Commit => Err(Self::submodule(path)),
        }
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        let repo = self.repo.to_thread_local();
        let (kind, id) = self
            .lookup(&repo, path)?
            .ok_or_else(|| TreeError::NotFound {
                path: path.to_string(),
            })?;
        match kind {
            GitKind::Blob | GitKind::BlobExecutable => {}
            GitKind::Commit => return Err(Self::submodule(path)),
            GitKind::Tree | GitKind::Link => {
                return Err(TreeError::NotAFile {
                    path: path.to_string(),
                });
            }
        }
        // Check the size from the header before inflating anything.
        let size = repo
            .find_header(id)
            .map_err(|err| Self::failed(path, err))?
            .size();
        if size > limit {
            return Err(TreeError::FileTooLarge {
                path: path.to_string(),
                size,
                limit,
            });
        }
        let mut blob = repo.find_blob(id).map_err(|err| Self::failed(path, err))?;
        Ok(blob.take_data())
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        let repo = self.repo.to_thread_local();
        let tree_id = if path.is_root() {
            self.tree
        } else {
            match self.lookup(&repo, path)? {
                Some((GitKind::Tree, id)) => id,
                Some(_) => {
                    return Err(TreeError::NotADirectory {
                        path: path.to_string(),
                    });
                }
                None => {
                    return Err(TreeError::NotFound {
                        path: path.to_string(),
                    });
                }
            }
        };
        let tree = repo
            .find_tree(tree_id)
            .map_err(|err| Self::failed(path, err))?;
        let mut names = Vec::new();
        for entry in tree.iter() {
            let entry = entry.map_err(|err| Self::failed(path, err))?;
            let name = entry.filename();
            let name = std::str::from_utf8(name).map_err(|_| TreeError::InvalidPath {
                path: format!("{path}/{}", String::from_utf8_lossy(name)),
                reason: "file name is not valid UTF-8",
            })?;
            names.push(name.to_owned());
        }
        Ok(names)
    }
}
