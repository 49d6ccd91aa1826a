//! The cache a source is fetched into: a bare repository that survives restarts, opened,
//! checked once per process (every ref leads to readable commits, trees and blobs) and
//! re-cloned when it is unsound, with the lock files of an interrupted run removed.

use super::fetch::{Depth, FetchError, FetchRequest, describe};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The caches this process has checked: a sound cache stays sound, because packs and refs are
/// written whole, so a poll does not walk every tree again.
static VERIFIED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Checks the cache unless this process already found it sound.
fn verify_once(dir: &Path, repo: &gix::Repository) -> Result<(), String> {
    let seen = |set: &Option<HashSet<PathBuf>>| set.as_ref().is_some_and(|s| s.contains(dir));
    if seen(&VERIFIED.lock().unwrap_or_else(PoisonError::into_inner)) {
        return Ok(());
    }
    cache_is_sound(repo)?;
    VERIFIED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashSet::new)
        .insert(dir.to_owned());
    Ok(())
}

/// A cache about to be re-created is checked again the next time it is opened.
fn forget_verified(dir: &Path) {
    if let Some(set) = VERIFIED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        set.remove(dir);
    }
}

fn open_options() -> gix::open::Options {
    // Isolated: no system, global or environment configuration (GIT_SSH_COMMAND, credential
    // helpers, url rewrites) can change what the agent fetches or how.
    gix::open::Options::isolated().strict_config(false)
}

/// Opens the cache, or creates it; a cache that does not open or whose refs do not lead to
/// readable commits and trees is removed and created anew.
pub(super) fn open_cache(req: &FetchRequest<'_>) -> Result<(gix::Repository, bool), FetchError> {
    let dir = req.cache_dir;
    let cache_failed = |step: &'static str, message: String| FetchError::CacheFailed {
        path: dir.to_owned(),
        step,
        message,
    };
    let exists = dir.join("HEAD").exists() || dir.join("objects").exists();
    if exists {
        clear_stale_locks(dir);
        match gix::open_opts(dir, open_options()) {
            Ok(repo) => {
                let depth_mismatch = req.depth == Depth::Full && repo.is_shallow().unwrap_or(false);
                match verify_once(dir, &repo) {
                    Ok(()) if !depth_mismatch => return Ok((repo, false)),
                    Ok(()) => {
                        tracing::info!(cache = %dir.display(), "full history requested: re-cloning the shallow cache");
                    }
                    Err(why) => {
                        tracing::warn!(cache = %dir.display(), reason = %why, "cache is unsound: re-cloning");
                    }
                }
            }
            Err(err) => {
                tracing::warn!(cache = %dir.display(), reason = %describe(&err), "cache does not open: re-cloning");
            }
        }
    }
    forget_verified(dir);
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|err| cache_failed("remove", err.to_string()))?;
    }
    crate::private_dir::create(dir).map_err(|err| cache_failed("create", err.to_string()))?;
    gix::init_bare(dir).map_err(|err| cache_failed("init", describe(&err)))?;
    let repo =
        gix::open_opts(dir, open_options()).map_err(|err| cache_failed("open", describe(&err)))?;
    Ok((repo, true))
}

/// When this process started (first asked): lock files older than that were left by an
/// earlier run.
fn process_start() -> std::time::SystemTime {
    static START: std::sync::OnceLock<std::time::SystemTime> = std::sync::OnceLock::new();
    *START.get_or_init(std::time::SystemTime::now)
}

/// Removes the `*.lock` files (`shallow.lock`, `packed-refs.lock`, `refs/**.lock`, ...) that a
/// run killed in the middle of a fetch left in the cache: git would refuse every later fetch
/// with "could not be locked". A cache belongs to one agent process and its fetches of one
/// source run one at a time, so a lock older than this process is stale; a newer one is left
/// alone.
fn clear_stale_locks(dir: &Path) {
    let started = process_start();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                // Locks live at the top and under refs/; objects/ holds none worth a walk.
                if folder == dir && entry.file_name() == "refs"
                    || folder.starts_with(dir.join("refs"))
                {
                    pending.push(path);
                }
                continue;
            }
            let is_lock = path.extension().is_some_and(|e| e == "lock");
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified < started);
            if is_lock && stale {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::warn!(lock = %path.display(), "removed a lock file left by an interrupted fetch")
                    }
                    Err(err) => {
                        tracing::warn!(lock = %path.display(), error = %err, "cannot remove a stale lock file")
                    }
                }
            }
        }
    }
}

/// Checks that every ref leads to a readable commit whose trees are readable and whose
/// blobs exist.
fn cache_is_sound(repo: &gix::Repository) -> Result<(), String> {
    let platform = repo.references().map_err(|err| describe(&err))?;
    let refs = platform.all().map_err(|err| describe(&err))?;
    for reference in refs {
        let mut reference = reference.map_err(|err| err.to_string())?;
        let name = reference.name().as_bstr().to_string();
        let commit = reference
            .peel_to_commit()
            .map_err(|err| format!("{name}: {}", describe(&err)))?;
        let tree = commit
            .tree()
            .map_err(|err| format!("{name}: {}", describe(&err)))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(|err| format!("{name}: tree: {}", describe(&err)))?;
        for entry in recorder.records {
            if entry.mode.is_blob() || entry.mode.is_link() {
                repo.find_header(entry.oid)
                    .map_err(|err| format!("{name}: {}: {}", entry.filepath, describe(&err)))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{clear_stale_locks, process_start};
    use std::time::{Duration, SystemTime};

    #[test]
    fn locks_left_by_an_earlier_run_are_removed_and_fresh_ones_kept() {
        let started = process_start();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("refs/heads")).expect("mkdir");
        std::fs::create_dir_all(root.join("objects/pack")).expect("mkdir");
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let write = |path: &str, modified: SystemTime| {
            let file = std::fs::File::create(root.join(path)).expect("create");
            file.set_modified(modified).expect("set mtime");
        };
        write("shallow.lock", old);
        write("refs/heads/main.lock", old);
        write("objects/pack/tmp.lock", old);
        write("packed-refs.lock", started + Duration::from_secs(3600));
        write("HEAD", old);
        clear_stale_locks(root);
        assert!(!root.join("shallow.lock").exists());
        assert!(!root.join("refs/heads/main.lock").exists());
        assert!(
            root.join("objects/pack/tmp.lock").exists(),
            "objects/ is not walked"
        );
        assert!(
            root.join("packed-refs.lock").exists(),
            "a lock of this run is kept"
        );
        assert!(root.join("HEAD").exists(), "only lock files are removed");
    }
}
