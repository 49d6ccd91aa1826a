//! The cache of values read from stores: in memory only, zeroizing, per store with a TTL,
//! shared across apps.
//!
//! An entry is one remote document (a Vault KV secret, an AWS secret version), keyed by the
//! store's identity (server and credentials, so two stores with different permissions never
//! share an entry), the path and the version. Its lifetime is the TTL asked for by the reader
//! (the inline references' TTL) minus up to 10 % of jitter, so entries read together do not
//! all expire in the same instant. An ExternalSecret's entries are its own (keyed by the
//! object too) and live exactly its `refreshInterval` (`0`: until invalidated). An expired entry is
//! never served, even when the store is down: a stale value is not applied silently. Reads
//! are checked against the app's allow-list before the cache is consulted.

use rand::Rng as _;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// What kind of document a store returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocKind {
    /// A JSON object (the data of a Vault KV secret).
    JsonMap,
    /// Text (an AWS `SecretString`), maybe JSON.
    Text,
    /// Bytes (an AWS `SecretBinary`).
    Binary,
}

/// One remote document, in zeroizing memory. No `Debug`, `Clone` or `Serialize`.
pub(crate) struct RemoteDoc {
    pub(crate) bytes: Zeroizing<Vec<u8>>,
    pub(crate) kind: DocKind,
}

struct Entry {
    doc: Arc<RemoteDoc>,
    expires: Option<Instant>,
}

/// The shared cache. Cloning the handle shares the entries.
#[derive(Clone, Default)]
pub struct SecretCache {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
}

impl SecretCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry for `key` if it has not expired.
    pub(crate) fn get(&self, key: &str) -> Option<Arc<RemoteDoc>> {
        let mut entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some(entry) if entry.expires.is_none_or(|at| Instant::now() < at) => {
                Some(entry.doc.clone())
            }
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    /// Stores `doc` for `ttl` minus up to 10 % of jitter; `None` keeps it until it is
    /// invalidated (a `refreshInterval` of `0s`: read once).
    pub(crate) fn put(&self, key: String, doc: Arc<RemoteDoc>, ttl: Option<Duration>) {
        // A TTL too long for the clock (a refreshInterval of centuries) means: never expires.
        let expires = ttl.and_then(|ttl| {
            let jitter = ttl.mul_f64(rand::thread_rng().gen_range(0.0..0.1));
            Instant::now().checked_add(ttl.saturating_sub(jitter))
        });
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, Entry { doc, expires });
        }
    }

    /// Stores `doc` for exactly `ttl` (an ExternalSecret's own entry: its `refreshInterval`
    /// is honoured to the second, never shortened); `None` keeps it until it is invalidated.
    pub(crate) fn put_exact(&self, key: String, doc: Arc<RemoteDoc>, ttl: Option<Duration>) {
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, Entry { doc, expires });
        }
    }

    /// Drops every entry (their memory is wiped once no reader holds them).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }

    /// Drops expired entries; returns how many remain.
    pub fn purge_expired(&self) -> usize {
        let now = Instant::now();
        match self.entries.lock() {
            Ok(mut entries) => {
                entries.retain(|_, e| e.expires.is_none_or(|at| now < at));
                entries.len()
            }
            Err(_) => 0,
        }
    }

    /// How many entries are held (expired ones included until purged).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether the cache holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_ttl_beyond_the_clock_never_expires_instead_of_panicking() {
        let cache = SecretCache::default();
        cache.put("k".into(), doc("v"), Some(Duration::MAX));
        assert!(cache.get("k").is_some());
    }

    fn doc(text: &str) -> Arc<RemoteDoc> {
        Arc::new(RemoteDoc {
            bytes: Zeroizing::new(text.as_bytes().to_vec()),
            kind: DocKind::Text,
        })
    }

    #[test]
    fn an_entry_is_served_until_it_expires_and_never_after() {
        let cache = SecretCache::new();
        cache.put("a".into(), doc("one"), Some(Duration::from_secs(3600)));
        cache.put("b".into(), doc("two"), Some(Duration::ZERO));
        cache.put("c".into(), doc("three"), None);
        assert!(cache.get("a").is_some());
        assert!(cache.get("b").is_none(), "a zero TTL has expired at once");
        assert!(cache.get("c").is_some());
        assert_eq!(cache.purge_expired(), 2);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn an_exact_entry_lives_its_whole_ttl() {
        let cache = SecretCache::new();
        let before = Instant::now();
        cache.put_exact("a".into(), doc("one"), Some(Duration::from_secs(3600)));
        cache.put_exact("once".into(), doc("two"), None);
        let entries = cache.entries.lock().unwrap();
        let expires = entries["a"].expires.unwrap();
        assert!(
            expires >= before + Duration::from_secs(3600),
            "no jitter shortens it"
        );
        assert!(entries["once"].expires.is_none());
    }
}
