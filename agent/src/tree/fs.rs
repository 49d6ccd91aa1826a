//! [`FsTree`]: a [`RawTree`] over a directory on disk (the CLI's working copy and tests).

use super::{RawEntry, RawTree, RelPath, TreeError};
use std::path::PathBuf;

/// A [`RawTree`] over a directory on disk.
#[derive(Debug, Clone)]
pub struct FsTree {
    root: PathBuf,
}

impl FsTree {
    /// A tree rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path_of(&self, path: &RelPath) -> PathBuf {
        let mut full = self.root.clone();
        for part in path.components() {
            full.push(part);
        }
        full
    }

    fn io_error(path: &RelPath, err: &std::io::Error) -> TreeError {
        TreeError::ReadFailed {
            path: path.to_string(),
            message: err.to_string(),
        }
    }
}

impl RawTree for FsTree {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        let full = self.path_of(path);
        let meta = match std::fs::symlink_metadata(&full) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(Self::io_error(path, &err)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = std::fs::read_link(&full).map_err(|err| Self::io_error(path, &err))?;
            let target = target.to_str().ok_or_else(|| TreeError::InvalidPath {
                path: path.to_string(),
                reason: "symlink target is not valid UTF-8",
            })?;
            Ok(Some(RawEntry::Symlink {
                target: target.to_owned(),
            }))
        } else if kind.is_dir() {
            Ok(Some(RawEntry::Dir))
        } else if kind.is_file() {
            Ok(Some(RawEntry::File { size: meta.len() }))
        } else {
            // Sockets, fifos, devices: nothing a render should read.
            Err(TreeError::NotAFile {
                path: path.to_string(),
            })
        }
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        use std::io::Read;
        let full = self.path_of(path);
        let file = std::fs::File::open(&full).map_err(|err| Self::io_error(path, &err))?;
        let size = file
            .metadata()
            .map_err(|err| Self::io_error(path, &err))?
            .len();
        if size > limit {
            return Err(TreeError::FileTooLarge {
                path: path.to_string(),
                size,
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // Read one byte past the limit so a file that grew meanwhile is still caught.
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| Self::io_error(path, &err))?;
        let read = bytes.len() as u64;
        if read > limit {
            return Err(TreeError::FileTooLarge {
                path: path.to_string(),
                size: read,
                limit,
            });
        }
        Ok(bytes)
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        let full = self.path_of(path);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&full).map_err(|err| Self::io_error(path, &err))? {
            let entry = entry.map_err(|err| Self::io_error(path, &err))?;
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| TreeError::InvalidPath {
                path: format!("{path}/{}", name.to_string_lossy()),
                reason: "file name is not valid UTF-8",
            })?;
            names.push(name.to_owned());
        }
        Ok(names)
    }
}
