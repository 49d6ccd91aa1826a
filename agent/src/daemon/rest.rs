//! Work at rest: an app whose inputs did not change since its last successful sync, and whose
//! objects the drift watcher keeps as applied, is not rendered, planned or listed again.
//!
//! An app's inputs are what its render read from the snapshot (every entry looked up, file
//! read and directory listed, each with a hash of what it found, recorded through a wrapper of
//! the tree's backend, so Kustomize bases outside the app's directory count too), the files the
//! round's policies read, and the app's settings. At the same revision the inputs are the same
//! by construction; at a new revision the recorded reads are done again on the new tree and
//! compared, so a commit to one app renders and syncs that app only.
//!
//! Apps whose result depends on more than the tree are always synced: Secrets resolved from
//! an external store (their values may change), renders that may fetch a chart (Helm settings,
//! a Flux `HelmRelease`, Kustomize `helmCharts`), apps without self-heal (a resync is what
//! reverts their drift), and an app whose Secret drifted (it is marked and synced again).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::tree::{RawEntry, RawTree, RelPath, Tree, TreeError};

/// What a render did with the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Entry,
    Read,
    List,
}

/// A SHA-256 digest of inputs.
pub(crate) type Fingerprint = [u8; 32];

fn hash(parts: &[&[u8]]) -> Fingerprint {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

fn error_print(err: &TreeError) -> Fingerprint {
    hash(&[b"error", err.to_string().as_bytes()])
}

fn entry_print(found: &Result<Option<RawEntry>, TreeError>) -> Fingerprint {
    match found {
        Ok(None) => hash(&[b"none"]),
        Ok(Some(RawEntry::Dir)) => hash(&[b"dir"]),
        Ok(Some(RawEntry::File { size })) => hash(&[b"file", &size.to_le_bytes()]),
        Ok(Some(RawEntry::Symlink { target })) => hash(&[b"link", target.as_bytes()]),
        Err(e) => error_print(e),
    }
}

fn list_print(found: &Result<Vec<String>, TreeError>) -> Fingerprint {
    match found {
        Ok(names) => {
            let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
            names.sort_unstable();
            hash(&[b"list", names.join("\0").as_bytes()])
        }
        Err(e) => error_print(e),
    }
}

/// Markers in a file that mean its render may fetch something that is not in the tree.
const REMOTE_MARKERS: [&[u8]; 2] = [b"HelmRelease", b"helmCharts"];

/// The reads of one render (or one policy load).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    seen: BTreeMap<(Op, RelPath), Fingerprint>,
    /// A file read names something a render may fetch from outside the tree.
    remote: bool,
}

impl Reads {
    /// One digest of every read and what it found.
    pub(crate) fn digest(&self) -> Fingerprint {
        let mut h = Sha256::new();
        for ((op, path), print) in &self.seen {
            h.update([*op as u8]);
            h.update(path.as_str().as_bytes());
            h.update([0]);
            h.update(print);
        }
        h.finalize().into()
    }

    /// Whether every recorded read finds the same on `raw`.
    fn same_on(&self, raw: &dyn RawTree, limit: u64) -> bool {
        self.seen.iter().all(|((op, path), print)| {
            let now = match op {
                Op::Entry => entry_print(&raw.entry(path)),
                Op::Read => match raw.read_file(path, limit) {
                    Ok(bytes) => hash(&[b"bytes", &bytes]),
                    Err(e) => error_print(&e),
                },
                Op::List => list_print(&raw.list_dir(path)),
            };
            now == *print
        })
    }
}

/// A backend that records every read of the backend it wraps.
struct Recorder {
    inner: Arc<dyn RawTree>,
    reads: Arc<Mutex<Reads>>,
}

impl Recorder {
    fn note(&self, op: Op, path: &RelPath, print: Fingerprint) {
        self.reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .insert((op, path.clone()), print);
    }
}

impl RawTree for Recorder {
    fn entry(&self, path: &RelPath) -> Result<Option<RawEntry>, TreeError> {
        let found = self.inner.entry(path);
        self.note(Op::Entry, path, entry_print(&found));
        found
    }

    fn read_file(&self, path: &RelPath, limit: u64) -> Result<Vec<u8>, TreeError> {
        let found = self.inner.read_file(path, limit);
        let print = match &found {
            Ok(bytes) => {
                if REMOTE_MARKERS
                    .iter()
                    .any(|m| bytes.windows(m.len()).any(|w| w == *m))
                {
                    self.reads
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remote = true;
                }
                hash(&[b"bytes", bytes])
            }
            Err(e) => error_print(e),
        };
        self.note(Op::Read, path, print);
        found
    }

    fn list_dir(&self, path: &RelPath) -> Result<Vec<String>, TreeError> {
        let found = self.inner.list_dir(path);
        self.note(Op::List, path, list_print(&found));
        found
    }
}

/// The reads recorded through a [`record`]ing tree.
#[derive(Clone)]
pub(crate) struct Recording(Arc<Mutex<Reads>>);

impl Recording {
    /// What was read so far.
    pub(crate) fn reads(&self) -> Reads {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A tree that reads `tree` and records what is read.
pub(crate) fn record(tree: &Tree) -> (Tree, Recording) {
    let reads = Arc::new(Mutex::new(Reads::default()));
    let recorder = Recorder {
        inner: tree.raw(),
        reads: Arc::clone(&reads),
    };
    (tree.with_raw(recorder), Recording(reads))
}

/// What one app's last successful sync was made of.
#[derive(Debug)]
struct Synced {
    revision: String,
    /// The app's settings and the round's policy reads.
    context: Fingerprint,
    reads: Reads,
}

/// The inputs of the apps synced at rest; one per configuration generation.
#[derive(Debug, Default)]
pub(crate) struct Rest {
    synced: Mutex<HashMap<String, Synced>>,
    /// Apps that must be synced at their next round (a drifted Secret).
    dirty: Mutex<HashSet<String>>,
}

/// The context part of an app's inputs: its settings and what the round's policies read.
pub(crate) fn context(
    spec: &crate::sync::AppSpec,
    generator: usize,
    policies: &Reads,
) -> Fingerprint {
    let settings = serde_json::to_vec(spec).unwrap_or_default();
    hash(&[&settings, &generator.to_le_bytes(), &policies.digest()])
}

impl Rest {
    /// Whether `app`'s inputs at `revision` on `tree` are those of its last successful sync.
    /// Consumes a mark left by [`Rest::mark_dirty`] (then: false).
    pub(crate) fn unchanged(
        &self,
        app: &str,
        revision: &str,
        tree: &Tree,
        context: &Fingerprint,
    ) -> bool {
        if self
            .dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(app)
        {
            return false;
        }
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(last) = synced.get_mut(app) else {
            return false;
        };
        if last.context != *context {
            return false;
        }
        if last.revision == revision {
            return true;
        }
        // Another revision: the same reads must find the same things.
        if last
            .reads
            .same_on(tree.raw().as_ref(), tree.max_file_bytes())
        {
            last.revision = revision.to_owned();
            return true;
        }
        false
    }

    /// Records a successful sync of `app`, or forgets it when its result depends on more
    /// than the tree (`restable` false) or the sync failed.
    pub(crate) fn remember(
        &self,
        app: &str,
        revision: &str,
        context: Fingerprint,
        reads: Option<Reads>,
    ) {
        let mut synced = self.synced.lock().unwrap_or_else(PoisonError::into_inner);
        match reads.filter(|r| !r.remote) {
            Some(reads) => {
                synced.insert(
                    app.to_owned(),
                    Synced {
                        revision: revision.to_owned(),
                        context,
                        reads,
                    },
                );
            }
            None => {
                synced.remove(app);
            }
        }
    }

    /// Makes the next round sync `app` (a drifted Secret must be rendered and resolved).
    pub(crate) fn mark_dirty(&self, app: &str) {
        self.dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(app.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::FsTree;

    fn tree_of(dir: &std::path::Path) -> Tree {
        Tree::new(FsTree::new(dir))
    }

    fn render_reads(tree: &Tree, path: &str) -> Reads {
        let (recording_tree, recording) = record(tree);
        let path = RelPath::parse(path).expect("path");
        for entry in recording_tree.list(&path).expect("list") {
            let _ = recording_tree.read(&entry.path);
        }
        recording.reads()
    }

    #[test]
    fn an_app_is_unchanged_at_a_new_revision_only_when_what_it_read_is_the_same() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("apps/a")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("apps/b")).expect("mkdir");
        std::fs::write(dir.path().join("apps/a/cm.yaml"), "a: 1\n").expect("write");
        std::fs::write(dir.path().join("apps/b/cm.yaml"), "b: 1\n").expect("write");
        let tree = tree_of(dir.path());
        let rest = Rest::default();
        let context = [7; 32];
        rest.remember("a", "r1", context, Some(render_reads(&tree, "apps/a")));
        assert!(rest.unchanged("a", "r1", &tree, &context));
        // Another app's file changes: a's reads find the same.
        std::fs::write(dir.path().join("apps/b/cm.yaml"), "b: 2\n").expect("write");
        assert!(rest.unchanged("a", "r2", &tree, &context));
        // Its own file changes: not unchanged.
        std::fs::write(dir.path().join("apps/a/cm.yaml"), "a: 2\n").expect("write");
        assert!(!rest.unchanged("a", "r3", &tree, &context));
        // A new file in its directory: not unchanged either.
        rest.remember("a", "r3", context, Some(render_reads(&tree, "apps/a")));
        std::fs::write(dir.path().join("apps/a/more.yaml"), "c: 1\n").expect("write");
        assert!(!rest.unchanged("a", "r4", &tree, &context));
        // Other settings or policies: not unchanged.
        rest.remember("a", "r4", context, Some(render_reads(&tree, "apps/a")));
        assert!(!rest.unchanged("a", "r4", &tree, &[8; 32]));
    }

    #[test]
    fn a_marked_app_a_failed_sync_and_a_render_that_may_fetch_charts_are_synced_again() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join("apps/a")).expect("mkdir");
        std::fs::write(dir.path().join("apps/a/hr.yaml"), "kind: HelmRelease\n").expect("write");
        let tree = tree_of(dir.path());
        let rest = Rest::default();
        let context = [1; 32];
        rest.remember("a", "r1", context, Some(render_reads(&tree, "apps/a")));
        assert!(!rest.unchanged("a", "r1", &tree, &context), "a HelmRelease");
        std::fs::write(dir.path().join("apps/a/hr.yaml"), "kind: ConfigMap\n").expect("write");
        rest.remember("a", "r1", context, Some(render_reads(&tree, "apps/a")));
        assert!(rest.unchanged("a", "r1", &tree, &context));
        rest.mark_dirty("a");
        assert!(!rest.unchanged("a", "r1", &tree, &context), "marked");
        assert!(
            rest.unchanged("a", "r1", &tree, &context),
            "the mark is used once"
        );
        rest.remember("a", "r1", context, None);
        assert!(!rest.unchanged("a", "r1", &tree, &context), "failed");
    }
}
