//! A read-only file tree addressed by normalized relative paths: the one view of a source
//! snapshot that rendering reads through.
//!
//! Everything a render reads must stay inside the snapshot root. This module is where that
//! rule lives: [`RelPath`] cannot name anything above the root, and [`Tree`] resolves
//! symlinks itself, component by component, refusing absolute targets and targets that climb
//! out of the root. Backends ([`RawTree`]) only answer for paths whose parents are real
//! directories, so they never follow a link on their own: [`FsTree`] reads a directory on
//! disk (`tether-agent render DIR`, tests); the Git source provides a backend over a commit's
//! tree in the object database.
//!
//! ```
//! use tether_agent::tree::{FsTree, RelPath, Tree};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("a.yaml"), "kind: ConfigMap\n").unwrap();
//! let tree = Tree::new(FsTree::new(dir.path()));
//! let bytes = tree.read(&RelPath::parse("a.yaml").unwrap()).unwrap();
//! assert_eq!(bytes, b"kind: ConfigMap\n");
//! assert!(RelPath::parse("../etc/passwd").is_err());
//! ```

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

mod fs;
pub use fs::FsTree;

/// How many symlinks one path resolution may follow (Linux uses 40 too).
const MAX_SYMLINK_HOPS: usize = 40;
/// Most directories a tree remembers as real (bounds the memory of the lookup cache).
const MAX_REMEMBERED_DIRS: usize = 65_536;

/// The default largest file a render may read: 8 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Errors from reading a tree. Each names the path as written, relative to the tree root.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The path is absolute; everything is addressed relative to the root.
    #[error("{path}: absolute paths are not allowed")]
    AbsolutePath {
        /// The offending path.
        path: String,
    },
    /// The path climbs above the root with `..`.
    #[error("{path}: path leaves the repository root")]
    EscapesRoot {
        /// The offending path.
        path: String,
    },
    /// A symlink on the way points outside the root (absolute, or climbing above it).
    #[error("{path}: symlink to {target:?} leaves the repository root")]
    SymlinkEscapesRoot {
        /// The symlink's path.
        path: String,
        /// Where it points.
        target: String,
    },
    /// Too many symlinks were followed (a loop).
    #[error("{path}: too many levels of symlinks")]
    SymlinkLoop {
        /// The path being resolved.
        path: String,
    },
    /// Nothing exists at the path.
    #[error("{path}: no such file or directory")]
    NotFound {
        /// The missing path.
        path: String,
    },
    /// A directory was expected.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path.
        path: String,
    },
    /// A file was expected.
    #[error("{path}: not a file")]
    NotAFile {
        /// The path.
        path: String,
    },
    /// The file is larger than the limit.
    #[error("{path}: file is {size} bytes, over the limit of {limit} bytes")]
    FileTooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The path is not valid UTF-8 or has an empty or NUL component.
    #[error("{path}: invalid path: {reason}")]
    InvalidPath {
        /// The path (lossily printed).
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The backend failed to read (I/O, object database).
    #[error("{path}: read failed: {message}")]
    ReadFailed {
        /// The path.
        path: String,
        /// The backend's description of the failure.
        message: String,
    },
}

/// A normalized path relative to a tree root: `/`-separated, no `.` or `..` components, no
/// leading or trailing slash. The empty path is the root itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RelPath(String);

impl RelPath {
    /// The root of the tree.
    #[must_use]
    pub fn root() -> Self {
        Self(String::new())
    }

    /// Parses a relative path, resolving `.` and `..` lexically. Absolute paths and paths
    /// that climb above the root are errors.
    pub fn parse(path: &str) -> Result<Self, TreeError> {
        Self::root().join(path)
    }

    /// Joins `rel` onto this path (a directory), resolving `.` and `..` lexically. Absolute
    /// paths and paths that climb above the root are errors.
    pub fn join(&self, rel: &str) -> Result<Self, TreeError> {
        if rel.starts_with('/') || rel.starts_with('\\') {
            return Err(TreeError::AbsolutePath {
                path: rel.to_owned(),
            });
        }
        if rel.contains('\0') {
            return Err(TreeError::InvalidPath {
                path: rel.replace('\0', "\\0"),
                reason: "contains a NUL byte",
            });
        }
        let mut parts: Vec<&str> = self.components().collect();
        for part in rel.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Err(TreeError::EscapesRoot {
                            path: rel.to_owned(),
                        });
                    }
                }
                other => parts.push(other),
            }
        }
        Ok(Self(parts.join("/")))
    }

    /// The path as a string (empty for the root).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The parent directory, or `None` for the root.
    #[must_use]
    pub fn parent(&self) -> Option<Self> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.rfind('/') {
            Some(i) => Self(self.0[..i].to_owned()),
            None => Self::root(),
        })
    }

    /// The last component, or `None` for the root.
    #[must_use]
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// A child of this directory; `name` must be a single component.
    pub fn child(&self, name: &str) -> Result<Self, TreeError> {
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            return Err(TreeError::InvalidPath {
                path: format!("{}/{name}", self.0),
                reason: "not a single path component",
            });
        }
        Ok(if self.is_root() {
            Self(name.to_owned())
        } else {
            Self(format!("{}/{name}", self.0))
        })
    }

    /// Whether `self` is `other` or inside it.
    #[must_use]
    pub fn starts_with(&self, other: &RelPath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            f.write_str(".")
        } else {
            f.write_str(&self.0)
        }
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", self.0)
    }
}

/// What a backend finds at a path, without following a symlink there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawEntry {
    /// A regular file of this many bytes.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A directory.
    Dir,
    /// A symlink and its target as stored.
    Symlink {
        /// The link target, as written in the link.
        target: String,
    },
}

/// A storage backend of a [`Tree`]. It is only ever asked about paths whose parent
/// components are real directories, so it must not follow symlinks itself.
pub trait RawTree: Send + Sync {
    /// The entry at `path`, or `None` when nothing is there.
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError>;
    /// The contents of the regular file at `path`, refusing files over `limit` bytes.
    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError>;
    /// The names in the directory at `path`, in any order.
    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError>;
}

/// The kind of a resolved entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
}

/// One entry of a directory listing, with symlinks resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name within the directory.
    pub name: String,
    /// The path as listed (inside the listed directory).
    pub path: RelPath,
    /// The kind after resolving symlinks.
    pub kind: EntryKind,
}

/// A read-only tree that resolves symlinks safely and bounds file sizes. Cheap to clone.
#[derive(Clone)]
pub struct Tree {
    raw: Arc<dyn RawTree>,
    max_file_bytes: u64,
    /// Paths already seen to be real directories (not links): a render reads many files
    /// below the same directories, and each would otherwise look at every component again.
    real_dirs: Arc<Mutex<HashSet<RelPath>>>,
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tree")
            .field("max_file_bytes", &self.max_file_bytes)
            .finish_non_exhaustive()
    }
}

impl Tree {
    /// A tree over `raw` with the default file size limit.
    pub fn new(raw: impl RawTree + 'static) -> Self {
        Self {
            raw: Arc::new(raw),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            real_dirs: Arc::default(),
        }
    }

    /// Sets the largest file [`Tree::read`] accepts.
    #[must_use]
    pub fn with_max_file_bytes(mut self, limit: u64) -> Self {
        self.max_file_bytes = limit;
        self
    }

    /// The largest file [`Tree::read`] accepts.
    #[must_use]
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// The storage backend, to wrap (the daemon records what a render reads through it).
    #[must_use]
    pub fn raw(&self) -> Arc<dyn RawTree> {
        Arc::clone(&self.raw)
    }

    /// A tree over another backend with this tree's file size limit.
    #[must_use]
    pub fn with_raw(&self, raw: impl RawTree + 'static) -> Self {
        Self::new(raw).with_max_file_bytes(self.max_file_bytes)
    }

    /// Resolves every symlink in `path`, returning the real path inside the tree and what is
    /// there, or `None` when nothing is.
    pub fn resolve(&self, path: &RelPath) -> Result<Option<(RelPath, EntryKind)>, TreeError> {
        let mut hops = 0;
        // `pending` holds the components still to walk; `done` the resolved prefix.
        let mut pending: Vec<String> = path.components().rev().map(str::to_owned).collect();
        let mut done = RelPath::root();
        let mut kind = EntryKind::Dir;
        while let Some(name) = pending.pop() {
            if kind != EntryKind::Dir {
                return Err(TreeError::NotADirectory {
                    path: done.to_string(),
                });
            }
            let candidate = done.child(&name)?;
            if self.is_known_dir(&candidate) {
                done = candidate;
                kind = EntryKind::Dir;
                continue;
            }
            match self.raw.entry(&candidate)? {
                None => return Ok(None),
                Some(RawEntry::Dir) => {
                    self.remember_dir(&candidate);
                    done = candidate;
                    kind = EntryKind::Dir;
                }
                Some(RawEntry::File { .. }) => {
                    done = candidate;
                    kind = EntryKind::File;
                }
                Some(RawEntry::Symlink { target }) => {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(TreeError::SymlinkLoop {
                            path: path.to_string(),
                        });
                    }
                    let escapes = || TreeError::SymlinkEscapesRoot {
                        path: candidate.to_string(),
                        target: target.clone(),
                    };
                    if target.starts_with('/') || target.starts_with('\\') {
                        return Err(escapes());
                    }
                    // Resolve the target relative to the link's directory; walk it again
                    // from the root, since it may itself pass through links.
                    let joined = done.join(&target).map_err(|_| escapes())?;
                    for part in joined.components().rev() {
                        pending.push(part.to_owned());
                    }
                    done = RelPath::root();
                    kind = EntryKind::Dir;
                }
            }
        }
        Ok(Some((done, kind)))
    }

    fn is_known_dir(&self, path: &RelPath) -> bool {
        self.real_dirs.lock().is_ok_and(|dirs| dirs.contains(path))
    }

    fn remember_dir(&self, path: &RelPath) {
        if let Ok(mut dirs) = self.real_dirs.lock()
            && dirs.len() < MAX_REMEMBERED_DIRS
        {
            dirs.insert(path.clone());
        }
    }

    /// What is at `path` after resolving symlinks, or `None`.
    pub fn kind(&self, path: &RelPath) -> Result<Option<EntryKind>, TreeError> {
        Ok(self.resolve(path)?.map(|(_, kind)| kind))
    }

    /// Whether a regular file is at `path`.
    pub fn is_file(&self, path: &RelPath) -> Result<bool, TreeError> {
        Ok(self.kind(path)? == Some(EntryKind::File))
    }

    /// Whether a directory is at `path`.
    pub fn is_dir(&self, path: &RelPath) -> Result<bool, TreeError> {
        Ok(self.kind(path)? == Some(EntryKind::Dir))
    }

    /// Reads the file at `path`, within the size limit.
    pub fn read(&self, path: &RelPath) -> Result<Vec<u8>, TreeError> {
        match self.resolve(path)? {
            None => Err(TreeError::NotFound {
                path: path.to_string(),
            }),
            Some((_, EntryKind::Dir)) => Err(TreeError::NotAFile {
                path: path.to_string(),
            }),
            Some((real, EntryKind::File)) => {
                self.raw
                    .read_file(&real, self.max_file_bytes)
                    .map_err(|err| match err {
                        // Name the path as the caller wrote it, not the link target.
                        TreeError::FileTooLarge { size, limit, .. } => TreeError::FileTooLarge {
                            path: path.to_string(),
                            size,
                            limit,
                        },
                        other => other,
                    })
            }
        }
    }

    /// Reads the file at `path` as UTF-8 text.
    pub fn read_to_string(&self, path: &RelPath) -> Result<String, TreeError> {
        String::from_utf8(self.read(path)?).map_err(|_| TreeError::InvalidPath {
            path: path.to_string(),
            reason: "file is not valid UTF-8",
        })
    }

    /// Lists the directory at `path`, sorted by name, with symlinked entries resolved. A
    /// symlink that leaves the root is an error, not a silently skipped entry.
    pub fn list(&self, path: &RelPath) -> Result<Vec<DirEntry>, TreeError> {
        let real = match self.resolve(path)? {
            None => {
                return Err(TreeError::NotFound {
                    path: path.to_string(),
                });
            }
            Some((_, EntryKind::File)) => {
                return Err(TreeError::NotADirectory {
                    path: path.to_string(),
                });
            }
            Some((real, EntryKind::Dir)) => real,
        };
        let mut names = self.raw.list_dir(&real)?;
        names.sort();
        let mut entries = Vec::with_capacity(names.len());
        for name in names {
            let listed = path.child(&name)?;
            // A dangling link inside the tree resolves to nothing: there is nothing to read.
            if let Some((_, kind)) = self.resolve(&listed)? {
                entries.push(DirEntry {
                    name,
                    path: listed,
                    kind,
                });
            }
        }
        Ok(entries)
    }
}

/// Returns `path` relative to `root` when it lies inside it, for turning a command-line path
/// into a [`RelPath`].
pub fn relative_to(root: &Path, path: &Path) -> Option<PathBuf> {
    path.strip_prefix(root).ok().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests;
