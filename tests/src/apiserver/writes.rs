//! A test hook: every write that changed the store (create, update, patch, apply, delete),
//! per object and per writer. A write that changes nothing (an apply of the same fields) and
//! a `dryRun` are not recorded. The writer is the bearer token of the request (each test
//! client can use its own), `anonymous` without one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// One recorded write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// The resource (plural, `/status` appended for the status subresource).
    pub resource: String,
    /// The namespace (empty for cluster scope).
    pub namespace: String,
    /// The name (empty for a collection delete).
    pub name: String,
    /// The verb.
    pub verb: String,
    /// The bearer token of the request, or `anonymous`.
    pub writer: String,
    /// When it was answered.
    pub at: Instant,
}

/// The write log of one server; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Writes(Arc<Mutex<Vec<Write>>>);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writes {
    /// Records one write.
    pub fn record(&self, write: Write) {
        lock(&self.0).push(write);
    }

    /// Every write so far, oldest first.
    pub fn all(&self) -> Vec<Write> {
        lock(&self.0).clone()
    }

    /// How many writes each object got: `(resource, namespace, name)` → count.
    pub fn per_object(&self) -> BTreeMap<(String, String, String), u64> {
        let mut out = BTreeMap::new();
        for w in lock(&self.0).iter() {
            *out.entry((w.resource.clone(), w.namespace.clone(), w.name.clone()))
                .or_insert(0) += 1;
        }
        out
    }

    /// How many writes there were so far (an index for [`Writes::since`]).
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// Whether there was no write yet.
    pub fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }

    /// The writes after the first `index`.
    pub fn since(&self, index: usize) -> Vec<Write> {
        lock(&self.0).iter().skip(index).cloned().collect()
    }
}

/// The writer of a request: its bearer token, or `anonymous`.
pub fn writer_of(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map_or_else(|| "anonymous".to_owned(), |t| t.trim().to_owned())
}
