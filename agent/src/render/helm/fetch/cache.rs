//! Chart archives kept in memory by digest, with a bound on the bytes held: the oldest
//! archives go first when a new one does not fit. With a directory ([`ArchiveCache::set_dir`])
//! they are also kept on disk, as `<hex>.tgz`, under a bound of their own (the least
//! recently written go first), so a restarted agent does not fetch them again; a file read
//! back must hash to its name, else it is deleted and the archive fetched again. Archives
//! are public chart packages; no credential or value is ever kept here.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Archives by digest (`sha256:<hex>`), oldest first out.
#[derive(Debug)]
pub struct ArchiveCache {
    limit: u64,
    held: u64,
    archives: HashMap<String, Arc<Vec<u8>>>,
    order: VecDeque<String>,
    downloads: u64,
    disk: Option<(PathBuf, u64)>,
}

/// The file name of `digest` (`sha256:` and 64 lowercase hex digits only).
fn file_name(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| format!("{hex}.tgz"))
}

pub(super) fn lock(cache: &Mutex<ArchiveCache>) -> MutexGuard<'_, ArchiveCache> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ArchiveCache {
    /// An empty cache holding at most `limit` bytes.
    #[must_use]
    pub fn new(limit: u64) -> Self {
        Self {
            limit,
            held: 0,
            archives: HashMap::new(),
            order: VecDeque::new(),
            downloads: 0,
            disk: None,
        }
    }

    /// Keeps archives in `dir` too (created if missing, readable by this user only), at most
    /// `limit` bytes of them.
    pub fn set_dir(&mut self, dir: &Path, limit: u64) -> std::io::Result<()> {
        crate::private_dir::create(dir)?;
        self.disk = Some((dir.to_owned(), limit));
        Ok(())
    }

    /// The archive with `digest`, if held in memory or on disk (where it must hash to
    /// `digest`: a corrupt file is deleted and the archive is not held).
    pub fn get(&mut self, digest: &str) -> Option<Arc<Vec<u8>>> {
        if let Some(archive) = self.archives.get(digest) {
            return Some(Arc::clone(archive));
        }
        let (dir, _) = self.disk.as_ref()?;
        let path = dir.join(file_name(digest)?);
        let bytes = std::fs::read(&path).ok()?;
        if super::sha256_digest(&bytes) != digest {
            tracing::warn!(path = %path.display(), "a cached chart archive does not match its digest; it is fetched again");
            let _ignored = std::fs::remove_file(&path);
            return None;
        }
        let archive = Arc::new(bytes);
        self.keep(digest, Arc::clone(&archive));
        Some(archive)
    }

    /// Keeps a downloaded archive (counted as a download); one larger than the whole
    /// cache is not kept.
    pub fn insert(&mut self, digest: &str, archive: Arc<Vec<u8>>) {
        self.downloads += 1;
        self.write_file(digest, &archive);
        self.keep(digest, archive);
    }

    fn keep(&mut self, digest: &str, archive: Arc<Vec<u8>>) {
        let size = archive.len() as u64;
        if size > self.limit || self.archives.contains_key(digest) {
            return;
        }
        while self.held + size > self.limit {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(gone) = self.archives.remove(&oldest) {
                self.held -= gone.len() as u64;
            }
        }
        self.held += size;
        self.archives.insert(digest.to_owned(), archive);
        self.order.push_back(digest.to_owned());
    }

    /// Writes the archive to the disk cache (a temporary file renamed into place), then
    /// deletes the least recently written files beyond the bound. Failures only log.
    fn write_file(&self, digest: &str, archive: &[u8]) {
        let (Some((dir, limit)), Some(name)) = (self.disk.as_ref(), file_name(digest)) else {
            return;
        };
        if archive.len() as u64 > *limit {
            return;
        }
        let path = dir.join(&name);
        let temporary = dir.join(format!(".{name}.{}", std::process::id()));
        let written =
            std::fs::write(&temporary, archive).and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(e) = written {
            tracing::warn!(dir = %dir.display(), error = %e, "a chart archive could not be cached on disk");
            let _ignored = std::fs::remove_file(&temporary);
            return;
        }
        trim_dir(dir, *limit);
    }

    /// The bytes held.
    pub fn held_bytes(&self) -> u64 {
        self.held
    }

    /// How many archives were downloaded into this cache.
    pub fn downloads(&self) -> u64 {
        self.downloads
    }
}

/// Deletes the least recently written `.tgz` files of `dir` until they fit in `limit`.
fn trim_dir(dir: &Path, limit: u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tgz"))
        .filter_map(|e| {
            let meta = e.metadata().ok()?;
            Some((meta.modified().ok()?, meta.len(), e.path()))
        })
        .collect();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    files.sort();
    for (_, size, path) in files {
        if total <= limit {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_archives_leave_when_the_bound_is_reached() {
        let mut cache = ArchiveCache::new(10);
        cache.insert("sha256:a", Arc::new(vec![0; 4]));
        cache.insert("sha256:b", Arc::new(vec![0; 4]));
        cache.insert("sha256:c", Arc::new(vec![0; 4]));
        assert!(cache.get("sha256:a").is_none());
        assert!(cache.get("sha256:b").is_some());
        assert!(cache.get("sha256:c").is_some());
        assert_eq!(cache.held_bytes(), 8);
        cache.insert("sha256:huge", Arc::new(vec![0; 11]));
        assert!(cache.get("sha256:huge").is_none());
        assert_eq!(cache.downloads(), 4);
    }

    #[test]
    fn archives_on_disk_survive_a_restart_and_a_corrupt_file_is_dropped() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let archive = b"a chart archive".to_vec();
        let digest = super::super::sha256_digest(&archive);
        let mut cache = ArchiveCache::new(1 << 20);
        cache
            .set_dir(dir.path(), 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"));
        cache.insert(&digest, Arc::new(archive.clone()));
        let mut restarted = ArchiveCache::new(1 << 20);
        restarted
            .set_dir(dir.path(), 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(restarted.get(&digest).as_deref(), Some(&archive));
        assert_eq!(restarted.downloads(), 0);
        let file = dir.path().join(file_name(&digest).unwrap_or_default());
        std::fs::write(&file, b"tampered").unwrap_or_else(|e| panic!("{e}"));
        let mut again = ArchiveCache::new(1 << 20);
        again
            .set_dir(dir.path(), 1 << 20)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(again.get(&digest).is_none());
        assert!(!file.exists(), "the corrupt file is deleted");
    }

    #[test]
    fn the_disk_cache_is_bounded_and_odd_digests_never_touch_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut cache = ArchiveCache::new(1 << 20);
        cache
            .set_dir(dir.path(), 10)
            .unwrap_or_else(|e| panic!("{e}"));
        for text in [&b"first-6"[..], b"second7"] {
            cache.insert(&super::super::sha256_digest(text), Arc::new(text.to_vec()));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            vec![file_name(&super::super::sha256_digest(b"second7")).unwrap_or_default()]
        );
        cache.insert("sha256:../../etc/x", Arc::new(vec![1]));
        assert_eq!(file_name("sha256:../../etc/x"), None);
        assert_eq!(
            std::fs::read_dir(dir.path())
                .map(Iterator::count)
                .unwrap_or(0),
            1
        );
    }
}
