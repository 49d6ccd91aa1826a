//! Chart archives kept in memory by digest, with a bound on the bytes held: the oldest
//! archives go first when a new one does not fit. Archives are public chart packages; no
//! credential or value is ever kept here.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Archives by digest (`sha256:<hex>`), oldest first out.
#[derive(Debug)]
pub struct ArchiveCache {
    limit: u64,
    held: u64,
    archives: HashMap<String, Arc<Vec<u8>>>,
    order: VecDeque<String>,
    downloads: u64,
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
        }
    }

    /// The archive with `digest`, if held.
    pub fn get(&self, digest: &str) -> Option<Arc<Vec<u8>>> {
        self.archives.get(digest).cloned()
    }

    /// Keeps a downloaded archive (counted as a download); one larger than the whole
    /// cache is not kept.
    pub fn insert(&mut self, digest: &str, archive: Arc<Vec<u8>>) {
        self.downloads += 1;
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

    /// The bytes held.
    pub fn held_bytes(&self) -> u64 {
        self.held
    }

    /// How many archives were downloaded into this cache.
    pub fn downloads(&self) -> u64 {
        self.downloads
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
}
